"""Execute the numbered notebooks with papermill and convert them to HTML."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from reidlab.errors import ConfigError
from reidlab.fileio import atomic_write_text
from reidlab.lab.config import PathLike, project_root, short_path

__all__ = ["NOTEBOOKS", "notebook_path", "execute_notebooks", "export_html"]

log = logging.getLogger("reidlab")

#: The notebooks, in the order a report executes them.
NOTEBOOKS: tuple[str, ...] = (
    "01_data_exploration",
    "02_pfn",
    "03_mgwp",
    "04_lgeu",
    "05_jlpose",
    "06_ablations",
    "07_activation_maps",
    "08_retrieval_gallery",
    "09_spatial_temporal",
)


def notebook_path(name: str, nb_dir: Path) -> Path:
    """``<nb_dir>/<name>.ipynb``, or the first ``<name>*.ipynb`` (``"02"`` -> ``02_pfn.ipynb``)."""
    for cand in [nb_dir / f"{name}.ipynb", *sorted(nb_dir.glob(f"{name}*.ipynb"))]:
        if cand.is_file():
            return cand
    raise ConfigError(f"notebook {name!r} not found in {nb_dir}; expected one of {', '.join(NOTEBOOKS)}")


class _stderr_to:
    """Redirect file descriptor 2 (inherited by the kernel subprocesses) to ``path``
    (appending) for the duration of a ``with`` block."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._fh = open(self.path, "a", encoding="utf-8")
        os.dup2(self._fh.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._fh.close()
        return False


def _error_line(err: BaseException) -> str:
    """``Type: last line of the message`` (papermill puts the cell's error last)."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[-1] if text else ''}"


def execute_notebooks(profile: str, out_dir: PathLike, notebooks: Sequence[str] = NOTEBOOKS,
                      parameters: Optional[Mapping[str, Any]] = None, html_export: bool = True,
                      log: Optional[Callable[[str], None]] = None,
                      nb_dir: Optional[PathLike] = None) -> list[dict[str, Any]]:
    """Execute ``notebooks`` in order with papermill (kernel ``python3`` = this Python),
    write each executed notebook and its HTML into ``out_dir``, and return the
    per-notebook status list for :func:`reidlab.report.index.build_index`.

    Every notebook gets ``profile``, ``output_dir`` (= ``<out_dir>/results``) and the given
    ``parameters`` (e.g. ``dataset``, ``data_root``, ``device``, ``seed``). A failing
    notebook is recorded (its partly executed copy is kept) and the next one runs. The
    kernels' stderr goes to ``<out_dir>/report.log``.

    Args:
        log: called with one progress line per notebook (default: the ``reidlab``
            logger at INFO level).

    Returns:
        One dict per notebook: ``notebook``, ``ok``, ``seconds`` and, on failure, ``error``.
    """
    import papermill as pm

    emit = log or _log_info
    nb_dir = Path(nb_dir) if nb_dir is not None else project_root() / "notebooks"
    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    # paths inside the project are passed relative (the notebooks resolve them from the root)
    params = {"profile": profile, "output_dir": short_path(out / "results"), **dict(parameters or {})}
    status = []
    t_all = time.monotonic()
    for i, name in enumerate(notebooks, 1):
        src = notebook_path(name, nb_dir)
        dst = out / src.name
        t0 = time.monotonic()
        rec: dict[str, Any] = {"notebook": src.stem, "ok": True, "seconds": 0.0}
        try:
            with _stderr_to(out / "report.log"):  # the kernels' own warnings go to the log, not the terminal
                pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name="python3", cwd=str(nb_dir),
                                    progress_bar=False, log_output=False)
        except Exception as err:  # papermill raises PapermillExecutionError with the cell's error
            rec.update(ok=False, error=_error_line(err))
        rec["seconds"] = time.monotonic() - t0
        if html_export and dst.exists():
            try:
                export_html(dst)
            except Exception as err:  # HTML is a convenience; the ipynb is the record
                rec.setdefault("error", f"HTML export failed: {err}")
        state = "ok" if rec["ok"] else f"FAILED ({rec.get('error', '')})"
        emit(f"[{i}/{len(notebooks)}] {src.stem:<22} {state} in {rec['seconds']:.0f} s "
             f"(total {(time.monotonic() - t_all) / 60:.1f} min)")
        status.append(rec)
    return status


def _log_info(msg: str) -> None:
    log.info(msg)


def export_html(ipynb: PathLike) -> Path:
    """Convert an executed notebook to HTML next to it (nbconvert, the lab template)."""
    import nbformat
    from nbconvert import HTMLExporter

    ipynb = Path(ipynb)
    nb = nbformat.read(str(ipynb), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    return atomic_write_text(ipynb.with_suffix(".html"), body)
