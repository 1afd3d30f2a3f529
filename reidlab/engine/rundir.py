"""Run folders: where a run may be written, what ``--resume`` continues from, ``metrics.csv``.

Rules (the trainer applies them before anything is written):

* ``--out`` must be a folder path whose existing part is a writable folder (``afile/sub``
  is refused in one line).
* Without ``resume`` the folder must be absent or empty: a run is never overwritten.
* With ``resume=True`` the run continues from ``last.pt``; if that file cannot be read it
  continues from ``last.prev.pt`` (the checkpoint before it, kept by every save) with a
  warning. A folder holding run files (``best.pt``, ``metrics.csv``, checkpoints) but no
  readable ``last.pt`` / ``last.prev.pt`` is an error naming the choices; a new or empty
  folder (or one with only ``config.json``, from a run stopped before its first checkpoint)
  starts a fresh run with a warning on stderr. ``resume=PATH`` continues from that
  checkpoint (e.g. ``best.pt``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from pathlib import Path
from typing import Optional, Union

from reidlab.engine import checkpoint as ckpt_io
from reidlab.errors import CheckpointError, ConfigError

__all__ = ["RUN_FILES", "METRIC_COLUMNS", "check_out_folder", "check_fresh_folder", "find_resume_checkpoint",
           "write_metrics", "resume_command"]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: Files whose presence makes a folder a run worth protecting.
RUN_FILES = ("last.pt", "last.prev.pt", "best.pt", "metrics.csv")
#: Leading columns of metrics.csv (loss parts follow ``loss`` in the order JointLoss reports them).
METRIC_COLUMNS = ("epoch", "iters", "complete", "loss")
_TAIL_COLUMNS = ("lr", "img_s", "time_s", "cpu_s", "rank1", "mAP")


def resume_command(out: Path) -> str:
    """The command that continues the run in ``out``."""
    return f"reidlab train --out {out} --resume"


def check_out_folder(out: Path) -> None:
    """:class:`ConfigError` unless ``out`` is (or can be created as) a writable folder."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder; choose another --out")
    for parent in [out, *out.parents]:
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise ConfigError(f"--out {out}: {parent} is a file, so the run folder cannot be created there; "
                              "choose another --out")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {out}: {parent} is not writable; choose another --out or fix its permissions")
        return


def _listing(out: Path) -> list[str]:
    """Entries of ``out`` that matter (temporary files of interrupted writes are ignored)."""
    if not out.is_dir():
        return []
    return sorted(n for n in os.listdir(out) if not (n.startswith(".") and n.endswith(".tmp")))


def check_fresh_folder(out: Path) -> None:
    """A new run needs an absent or empty folder: :class:`ConfigError` otherwise."""
    entries = _listing(out)
    if entries:
        raise ConfigError(f"run folder {out} is not empty (holds {entries[0]}{' ...' if len(entries) > 1 else ''}); "
                          "pass --resume (resume=True) to continue it or choose another --out")


def _try_load(path: Path) -> tuple[Optional[dict], str]:
    try:
        return ckpt_io.load_checkpoint(path), ""
    except CheckpointError as err:
        return None, str(err)


def find_resume_checkpoint(out: Path, resume: Union[bool, PathLike]) -> Optional[tuple[Path, dict]]:
    """The checkpoint a resumed run continues from, or ``None`` to start fresh (see the module
    docstring for the rules).

    Raises:
        CheckpointError: ``resume=PATH`` unreadable, or a run folder without a readable
            ``last.pt`` / ``last.prev.pt`` (never advises deleting anything).
        ConfigError: ``out`` holds files of something that is not a run.
    """
    if not isinstance(resume, bool):
        path = Path(resume)
        state = ckpt_io.load_checkpoint(path)
        if path.resolve().parent != out.resolve():
            check_fresh_folder(out)   # a checkpoint from elsewhere starts a new folder
        return path, state
    last = out / "last.pt"
    prev = ckpt_io.previous_path(last)
    problems = []
    for path in (last, prev):
        if path.is_file():
            state, problem = _try_load(path)
            if state is not None:
                if path == prev:
                    logger.warning("%s cannot be read (%s); resuming from %s, the checkpoint before it",
                                   last, problems[0] if problems else "missing", prev)
                return path, state
            problems.append(problem)
    entries = _listing(out)
    if any(n in RUN_FILES for n in entries):
        alt = (f"resume from best.pt (--resume {out / 'best.pt'}) or another checkpoint, or "
               if (out / "best.pt").is_file() else "resume from another checkpoint (--resume PATH), or ")
        why = "last.pt and last.prev.pt cannot be read" if problems else "it holds no last.pt"
        raise CheckpointError(f"cannot resume the run in {out}: {why}; {alt}train into a new --out "
                              "(nothing in the folder was changed)")
    others = [n for n in entries if n != "config.json"]
    if others:
        raise ConfigError(f"cannot resume in {out}: it is not a run folder (holds {others[0]}); choose another --out")
    logger.warning("--resume: no checkpoint in %s (%s): starting a fresh run", out,
                   "run stopped before its first checkpoint" if entries else "new or empty folder")
    return None


def write_metrics(path: Path, rows: list[dict]) -> None:
    """Write ``metrics.csv`` atomically: :data:`METRIC_COLUMNS`, the loss parts in order of
    appearance, then lr / img_s / time_s / cpu_s / rank1 / mAP (NaN and None as empty cells)."""
    cols: list[str] = list(METRIC_COLUMNS)
    for row in rows:
        for k in row:
            if k not in cols and k not in _TAIL_COLUMNS:
                cols.append(k)
    cols += list(_TAIL_COLUMNS)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None or (isinstance(row.get(k), float) and math.isnan(row[k]))
                        else row.get(k)) for k in cols})
    ckpt_io.atomic_write_text(path, buf.getvalue())
