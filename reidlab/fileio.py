"""Atomic file writes: nothing a crash interrupts is ever left half-written.

Every file reidlab produces (checkpoints, ``metrics.csv``, ``config.json``, keypoint files,
results and reports) goes through :func:`atomic_open`: the data is written to a temporary
file in the destination folder, flushed and ``fsync``-ed, then ``os.replace``-d over the old
file, and the folder entry is ``fsync``-ed. A reader sees the old file or the new one.
"""

from __future__ import annotations

import os
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


@contextmanager
def atomic_open(path: PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open ``path`` for writing atomically (``mode`` ``"wb"`` or ``"w"``).

    The file appears under its name only when the ``with`` block ends without an exception;
    on any exception the temporary file is removed and an existing ``path`` is untouched.
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
