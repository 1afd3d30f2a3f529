"""Errors a user can act on.

Every error raised for bad input is one line that names the file or value, says what was
expected, and how to fix it. The CLI prints ``str(err)`` without a traceback for these.
"""

from __future__ import annotations


class ReIDLabError(Exception):
    """Base class for user-facing errors (printed as one line by the CLI)."""


class DatasetError(ReIDLabError, ValueError):
    """A dataset folder, file name, image or keypoint file does not match its layout."""


class ConfigError(ReIDLabError, ValueError):
    """An unknown preset/model/option, or an inconsistent configuration."""


class CheckpointError(ReIDLabError, RuntimeError):
    """A checkpoint or run folder is missing, corrupt or incompatible."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a long job, with one line saying what was kept and how to continue
    (e.g. where the last checkpoint is and the ``--resume`` command). A subclass of
    :class:`KeyboardInterrupt`, so ``except KeyboardInterrupt`` still catches it; the CLI
    prints the line and exits with status 130."""
