"""The numbered notebooks are edited as notebooks: each ``notebooks/NN_*.ipynb`` is paired
with a jupytext percent-format ``NN_*.py`` (``jupytext.toml``), the pair holds the same
cells, and the committed ``.ipynb`` is clean (no outputs, no execution counts) with what
papermill and nbval need (a kernelspec and one ``parameters`` cell)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
FIX = ("run `.venv/bin/jupytext --sync notebooks/*.ipynb` (the newer file of each pair wins), "
       "then `.venv/bin/jupyter nbconvert --clear-output --inplace notebooks/NN_*.ipynb` if outputs were saved")


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """(type, source, tags) of every cell: what a pair must agree on."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_the_nine_notebooks_are_there_and_build_py_is_gone():
    from reidlab.report import NOTEBOOKS as REPORT_ORDER

    assert [p.stem for p in NOTEBOOKS] == list(REPORT_ORDER)
    assert not (NB_DIR / "_build.py").exists(), "notebooks/_build.py is retired: edit the notebooks (or their .py pairs)"
    assert (ROOT / "jupytext.toml").is_file()
    config = (ROOT / "jupytext.toml").read_text()
    assert 'formats = "ipynb,py:percent"' in config


def test_every_py_has_its_notebook():
    orphans = [p.name for p in NB_DIR.glob("[0-9][0-9]_*.py") if not p.with_suffix(".ipynb").is_file()]
    assert not orphans, f"{orphans}: a .py without its .ipynb; create it with `jupytext --sync notebooks/<name>.py`"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_is_in_sync(ipynb: Path):
    py = ipynb.with_suffix(".py")
    assert py.is_file(), f"{py.name} missing: every notebook is paired with a percent-format script; {FIX}"
    nb = nbformat.read(str(ipynb), as_version=4)
    text = jupytext.read(str(py), fmt="py:percent")
    a, b = _cells(nb), _cells(text)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, (f"{ipynb.name} and {py.name} differ at cell {i} ({x[0]} in the notebook, {y[0]} in the script; "
                        f"notebook starts {x[1][:60]!r}, script {y[1][:60]!r}); {FIX}")
    assert len(a) == len(b), f"{ipynb.name} has {len(a)} cells, {py.name} {len(b)}; {FIX}"
    assert text.metadata.get("kernelspec", {}).get("name") == nb.metadata["kernelspec"]["name"], \
        f"{py.name}: its header's kernelspec differs from the notebook's; {FIX}"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean_and_runnable_by_papermill(ipynb: Path):
    nb = nbformat.read(str(ipynb), as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{ipynb.name}: cells {dirty} carry outputs or execution counts; commit notebooks clean: {FIX}"
    ks = nb.metadata.get("kernelspec", {})
    assert ks.get("name") == "python3" and ks.get("language") == "python", \
        f"{ipynb.name}: kernelspec {ks!r}; papermill and nbval need name 'python3' and language 'python'"
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", ())]
    assert len(params) == 1, f"{ipynb.name}: {len(params)} cells tagged 'parameters'; papermill needs exactly one"
    src = nb.cells[params[0]].source
    for name in ("profile", "seed", "dataset", "data_root", "device", "output_dir"):
        assert f"\n{name} = " in f"\n{src}", f"{ipynb.name}: the parameters cell lost {name!r} (papermill users set it)"


def test_a_drifted_pair_is_detected(tmp_path):
    """The comparison above fails when one side of a pair is edited alone."""
    src = NOTEBOOKS[0]
    nb = nbformat.read(str(src), as_version=4)
    text = jupytext.read(str(src.with_suffix(".py")), fmt="py:percent")
    assert _cells(nb) == _cells(text)
    nb.cells[-1].source += "\nprint('edited in JupyterLab only')"
    assert _cells(nb) != _cells(text)
