"""Atomic file writes: nothing a crash interrupts is ever left half-written.

Every file reidlab produces (checkpoints, ``metrics.csv``, ``config.json``, keypoint files,
results and reports) goes through :func:`atomic_open`: the data is written to a temporary
file in the destination folder, flushed and ``fsync``-ed, then ``os.replace``-d over the old
file, and the folder entry is ``fsync``-ed. A reader sees the old file or the new one.
Checkpoints also keep the version they replace (``backup=``, e.g. ``last.prev.pt``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, os.PathLike]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of written files (``0o666`` minus the process umask, like ``open()``; mkstemp uses 0o600).
_FILE_MODE = 0o666 & ~_umask()


def fsync_dir(folder: PathLike) -> None:
    """``fsync`` a folder so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def keep_copy(path: PathLike, backup: PathLike) -> None:
    """Make ``backup`` a copy of the current ``path`` (hard link when the file system allows,
    else a byte copy), atomically: ``backup`` is always either its old or its new version.
    No-op when ``path`` does not exist."""
    path, backup = Path(path), Path(backup)
    if not path.is_file():
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{backup.name}.", suffix=".tmp", dir=backup.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(path, tmp)
        except OSError:   # no hard links here (some network / FAT file systems): copy the bytes
            shutil.copyfile(path, tmp)
        os.replace(tmp, backup)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_open(path: PathLike, mode: str = "wb", encoding: str | None = None,
                backup: PathLike | None = None) -> Iterator[IO]:
    """Open ``path`` for writing atomically (``mode`` ``"wb"`` or ``"w"``).

    The file appears under its name only when the ``with`` block ends without an exception;
    on any exception the temporary file is removed and an existing ``path`` is untouched.
    With ``backup``, the file being replaced is first kept under that name
    (:func:`keep_copy`), so the previous version survives even a corrupted new one.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open mode {mode!r}: expected a write mode such as 'w' or 'wb'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with suppress(OSError):
        os.fchmod(fd, _FILE_MODE)
    try:
        if "b" not in mode and encoding is None:
            encoding = "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if backup is not None:
            keep_copy(path, backup)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)
