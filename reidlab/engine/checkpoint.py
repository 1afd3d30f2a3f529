"""Atomic checkpoint files and RNG state capture.

A checkpoint is a plain dict of tensors and JSON-like values (no pickled classes), so it loads
with ``torch.load(..., weights_only=True)``. Files are written atomically: the data goes to a
temporary file in the destination folder, is flushed and ``fsync``-ed, then ``os.replace``-d
over the old file (and the folder entry is ``fsync``-ed). A crash at any point leaves either
the old or the new file, never a torn one. The trainer also keeps the checkpoint it replaces
(``last.prev.pt``, :func:`previous_path`), the fallback when ``last.pt`` cannot be read.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from reidlab.errors import CheckpointError
from reidlab.fileio import atomic_open, atomic_write_text  # noqa: F401  (atomic_write_text: re-exported)

PathLike = Union[str, os.PathLike]

#: ``format`` field of every checkpoint dict written by the trainer.
CHECKPOINT_FORMAT = "reidlab-checkpoint-v1"


def previous_path(path: PathLike) -> Path:
    """Where :func:`atomic_save` keeps the replaced version of ``path``: ``last.pt`` ->
    ``last.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def atomic_save(obj: Any, path: PathLike, keep_previous: bool = False) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (see :mod:`reidlab.fileio`).

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    With ``keep_previous`` the file being replaced is kept as :func:`previous_path`
    (``last.prev.pt``): if ``last.pt`` is ever unreadable, the run resumes from that one.
    """
    with atomic_open(path, "wb", backup=previous_path(path) if keep_previous else None) as fh:
        torch.save(obj, fh)
    return Path(path)


def atomic_copy(src: PathLike, dst: PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically (e.g. ``last.pt`` -> ``best.pt``)."""
    with atomic_open(dst, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 22)
    return Path(dst)


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> dict:
    """Load a checkpoint dict with ``weights_only=True``.

    Raises:
        CheckpointError: missing, truncated/corrupt or not a reidlab checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; train first (reidlab train ... --out {path.parent})")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for torn/corrupt files
        lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()] or [type(err).__name__]
        first = next((ln for ln in lines if "error:" in ln.lower()), lines[0])
        raise CheckpointError(f"{path}: cannot read checkpoint ({first}); keep the file (it may be the only "
                              "copy of the work) and resume from another checkpoint of the run (last.prev.pt, "
                              "best.pt: --resume PATH) or train into a new --out") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a reidlab checkpoint (expected format {CHECKPOINT_FORMAT!r}); "
                              "point to a run folder written by reidlab train")
    return ckpt


# ------------------------------------------------------------------ RNG states
def capture_rng_state(generator: Optional[torch.Generator] = None) -> dict:
    """RNG states as tensors / plain values (``weights_only``-loadable).

    Keys: ``torch`` (CPU ByteTensor), ``cuda`` (list of ByteTensors or ``None``), ``numpy``
    (legacy global ``RandomState`` as a dict with an int64 key tensor), ``python``
    (``random.getstate()`` as nested lists) and ``generator`` (the given generator's state).
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "generator": generator.get_state() if generator is not None else None,
    }


def restore_rng_state(state: dict, generator: Optional[torch.Generator] = None) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    nps = state["numpy"]
    np.random.set_state((nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"],
                         nps["has_gauss"], nps["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"].cpu())
