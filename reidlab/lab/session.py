"""A notebook's session: its dataset (generated on first use), its runs (trained once, then
reused) and its evaluation (through the one evaluator, :mod:`reidlab.eval`).

Notebooks start with::

    cfg, ds = lab.setup("02_pfn", profile=profile, seed=seed, ...)
    run = lab.ensure_run(cfg, "pfn")            # reidlab.engine.train once, then load_run
    ev = lab.evaluation(cfg, run)               # reidlab.eval.Evaluation (features cached)

Messages (generation, training, reuse) go to the ``reidlab`` logger; :func:`setup` shows
its INFO messages in the notebook.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from reidlab.errors import CheckpointError, ConfigError, DatasetError
from reidlab.fileio import atomic_write_text
from reidlab.lab.config import NotebookConfig, PathLike, configure, resolve_path, short_path

__all__ = ["setup", "show_messages", "ensure_dataset", "synth_complete", "ensure_run", "run_folder", "RUN_STAMP",
           "evaluation", "best_gallery", "most_changed_query"]

log = logging.getLogger("reidlab")

#: The stamp file written into a run folder after training: the request it fulfils.
RUN_STAMP = "report-run.json"

_DATASETS: dict[tuple[str, str], Any] = {}


def show_messages(level: int = logging.INFO) -> None:
    """Show the ``reidlab`` logger's messages of ``level`` and above on stdout (once; a
    notebook displays stdout under the cell)."""
    if not any(getattr(h, "_reidlab_notebook", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._reidlab_notebook = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(level)


def setup(notebook: str, profile: Optional[str] = None, seed: int = 0, **kwargs: Any):
    """What every notebook calls first: resolve its parameters, seed, load the dataset.

    Same arguments as :func:`reidlab.lab.config.configure`. Also shows the library's
    messages in the notebook (:func:`show_messages`) and silences tqdm's warning about
    missing ipywidgets (its text bar is fine).

    Returns:
        ``(cfg, ds)``: the :class:`NotebookConfig` and the dataset (:func:`ensure_dataset`).
    """
    import warnings

    from tqdm import TqdmWarning

    warnings.filterwarnings("ignore", category=TqdmWarning)
    show_messages()
    cfg = configure(notebook, profile=profile, seed=seed, **kwargs)
    return cfg, ensure_dataset(cfg)


# --------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------

def synth_complete(root: PathLike) -> bool:
    """True when ``root`` holds a finished synthetic dataset (its ``.complete`` marker)."""
    return (Path(root) / ".complete").is_file()


def _lock(path: Path):
    """An exclusive inter-process lock on ``path`` (``filelock``: POSIX and Windows)."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def ensure_dataset(cfg: NotebookConfig):
    """The notebook's dataset, read with :func:`reidlab.data.load_dataset`.

    For ``synthreid`` the set is generated first when ``<data_root>/.complete`` is missing
    (``reidlab synth --out <data_root>`` plus the profile's ``synth_args``, e.g. ``--small``
    in smoke), under a file lock so two processes never generate it at once. Real datasets
    must exist: a missing folder raises :class:`DatasetError` saying where to put it.
    Loaded datasets are cached per process.
    """
    from reidlab.data import load_dataset

    root = Path(cfg.data_root)
    key = (cfg.reader, str(root))
    if key in _DATASETS:
        return _DATASETS[key]
    if cfg.dataset == "synthreid" and not synth_complete(root):
        with _lock(root.parent / f".{root.name}.lock"):
            if not synth_complete(root):
                from reidlab.data.cli import synth_main

                argv = ["--out", str(root), *cfg.prof.synth_args]
                log.info("generating the synthetic dataset: reidlab synth %s",
                         " ".join([*cfg.prof.synth_args, "--out", short_path(root)]))
                rc = synth_main(argv)
                if rc not in (0, None) or not synth_complete(root):
                    raise DatasetError(f"{root}: synthetic dataset generation failed (exit {rc}); "
                                       f"run `reidlab synth --out {short_path(root)}` to see why")
    elif not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found; expected the {cfg.dataset} layout there "
                           f"(see data/README.md), or pass -p data_root /path/to/{cfg.dataset}")
    ds = load_dataset(cfg.reader, root)
    _DATASETS[key] = ds
    return ds


# --------------------------------------------------------------------------------------
# Runs: train once, reuse
# --------------------------------------------------------------------------------------

def run_folder(cfg: NotebookConfig, name: str, seed: Optional[int] = None) -> Path:
    """``runs/<profile>/<name>-seed<seed>`` (``name`` = the scaled preset or a variant tag)."""
    return Path(cfg.runs_dir) / f"{name}-seed{cfg.seed if seed is None else int(seed)}"


def _reusable(folder: Path, want: dict, device: str):
    """The run in ``folder`` when its stamp matches ``want`` and it loads; else None."""
    from reidlab.engine import load_run

    stamp = folder / RUN_STAMP
    if not stamp.is_file():
        return None
    try:
        have = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if have != want:
        return None
    try:
        return load_run(folder, device=device)
    except (CheckpointError, RuntimeError, KeyError, ValueError) as err:
        # unreadable, or written by an older version of the model code: train again
        msg = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        log.warning("cannot reuse %s (%s); training again", short_path(folder), msg)
        return None


def ensure_run(cfg: NotebookConfig, model_preset: str, run_dir: PathLike = "", *, seed: Optional[int] = None,
               max_iters: Optional[int] = None, overrides: Optional[Mapping[str, Any]] = None,
               name: Optional[str] = None, progress: bool = True):
    """A trained run of ``model_preset`` at the profile's scale: trained once, then reused.

    Args:
        cfg: the notebook's configuration.
        model_preset: preset name without scale (``"pfn"``, ``"jlpose-0.5-1"``) or with one.
        run_dir: an existing run folder to load instead (no training).
        seed: training seed (default ``cfg.seed``).
        max_iters: iterations (default :meth:`NotebookConfig.iters_for`; ``None`` = the
            preset's epochs, or ``cfg.epochs`` when given).
        overrides: preset field overrides (``{"model_options.branches": "global"}``), on top
            of the profile's ``train_overrides``.
        name: run folder stem (default: the scaled preset name).
        progress: show the training progress bar.

    The folder ``runs/<profile>/<name>-seed<seed>`` is reused when its stamp file
    (:data:`RUN_STAMP`, written after training) matches the request (preset, overrides,
    iterations, epochs, seed, dataset); otherwise it is trained again with
    :func:`reidlab.engine.train` (a stale or partial folder of the same name is replaced).
    Training runs under a file lock, one at a time.

    Returns:
        :class:`reidlab.engine.runs.Run` (model in eval mode on ``cfg.device``).
    """
    from reidlab.engine import load_run, train

    if run_dir:
        return load_run(resolve_path(run_dir), device=cfg.device)
    preset = cfg.preset_name(model_preset)
    seed = cfg.seed if seed is None else int(seed)
    iters = max_iters if max_iters is not None else cfg.iters_for(model_preset.split("-")[0])
    overrides = {**cfg.prof.train_overrides, **dict(overrides or {})}
    want = {"preset": preset, "overrides": overrides, "max_iters": iters, "epochs": cfg.epochs,
            "seed": seed, "data": short_path(cfg.data_root), "dataset": cfg.reader}
    want = json.loads(json.dumps(want))  # as the stamp stores it (tuples -> lists)
    folder = run_folder(cfg, name or preset, seed)
    with _lock(Path(cfg.runs_dir) / ".train.lock"):
        run = _reusable(folder, want, cfg.device)
        if run is not None:
            return run
        if folder.exists():
            if Path(cfg.runs_dir).resolve() not in folder.resolve().parents:  # never delete outside runs/
                raise ConfigError(f"{folder}: refusing to replace a folder outside {cfg.runs_dir}")
            shutil.rmtree(folder)
        t0 = time.monotonic()
        log.info("training %s (seed %d, %s) -> %s", preset, seed,
                 f"{iters} iterations" if iters else "full schedule", short_path(folder))
        train(preset, data=str(cfg.data_root), out=str(folder), seed=seed, epochs=cfg.epochs, max_iters=iters,
              device=cfg.device, progress=progress, dataset=cfg.reader, evaluate=False,
              cache_dir=str(Path(cfg.runs_dir).parent / ".image-cache"), **overrides)
        atomic_write_text(folder / "report-train-time.txt", f"{time.monotonic() - t0:.1f}\n")
        atomic_write_text(folder / RUN_STAMP, json.dumps(want, indent=1))  # last: marks the run complete
    return load_run(folder, device=cfg.device)


# --------------------------------------------------------------------------------------
# Evaluation access
# --------------------------------------------------------------------------------------

def evaluation(cfg: NotebookConfig, run, **kwargs: Any):
    """The :class:`reidlab.eval.Evaluation` of ``run`` on the notebook's dataset.

    :func:`reidlab.engine.runs.run_evaluation` with the notebook's dataset
    (:func:`ensure_dataset`), device and the profile's extraction batch size; features come
    from the run's feature cache (keyed by content: checkpoint, records, extraction
    settings), so 06-09 do not extract again. The spatial-temporal model is fitted on the
    training split when the dataset has frames. ``kwargs`` go to ``run_evaluation`` (e.g.
    ``multi_query=True``, ``st_options={"sigma": 20}``).
    """
    from reidlab.engine.runs import run_evaluation

    kwargs.setdefault("data", ensure_dataset(cfg))
    kwargs.setdefault("device", cfg.device)
    kwargs.setdefault("batch_size", cfg.prof.eval_batch)
    return run_evaluation(run, **kwargs)


def best_gallery(ev, q_index: int, setting: str = "single-query", correct: bool = True) -> int:
    """Gallery index of the best-ranked *correct* (or, with ``correct=False``, wrong
    identity) image for query ``q_index`` of the :class:`reidlab.eval.Evaluation` ``ev``
    in ``setting``, junk excluded (:meth:`Evaluation.ranking`). ConfigError when there is none."""
    ranked = ev.ranking(setting, q_index, top_k=len(ev.labels()[2]))
    hits = ranked[ranked["correct"] == bool(correct)]
    if hits.empty:
        raise ConfigError(f"query {q_index} has no {'correct' if correct else 'wrong'} gallery candidate")
    return int(hits["gallery_index"].iloc[0])


def most_changed_query(ev, settings) -> int:
    """The query whose average precision differs most between ``settings`` of the
    :class:`reidlab.eval.Evaluation` ``ev`` (queries skipped in any setting excluded; ties:
    lowest index). Good for "the same query, three ways"."""
    import numpy as np

    aps = np.stack([ev.query_frame(s)["ap"].to_numpy(dtype=np.float64) for s in settings])
    valid = ~np.isnan(aps).any(axis=0)
    spread = np.where(valid, np.nan_to_num(aps.max(axis=0) - aps.min(axis=0)), -1.0)
    return int(np.argmax(spread))
