"""Logging: library code reports through ``logging.getLogger("reidlab")`` (module loggers
``reidlab.<module>`` propagate to it); command lines and notebooks decide what is shown.

Without any configuration Python prints warnings (and errors) to stderr and drops
information lines. :func:`log_to_console` shows the information lines too (training
progress, dataset generation), e.g. in a notebook::

    import reidlab.log; reidlab.log.log_to_console()
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Optional

__all__ = ["LOGGER_NAME", "log_to_console"]

#: Name of the package logger every reidlab module logger propagates to.
LOGGER_NAME = "reidlab"


def log_to_console(level: int = logging.INFO, stream: Optional[IO[str]] = None,
                   fmt: str = "%(message)s") -> logging.Handler:
    """Show reidlab's log records of ``level`` and above on ``stream`` (default: stderr).

    Idempotent: a second call replaces the handler installed by the first one (no
    duplicated lines). Returns the handler.
    """
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if getattr(h, "_reidlab_console", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler._reidlab_console = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
