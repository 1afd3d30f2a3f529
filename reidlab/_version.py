"""The package version (a base-layer module, so every layer can record it without importing
the package facade ``reidlab/__init__.py``).

One source: ``version`` in ``pyproject.toml``, read here from the installed distribution's
metadata (``importlib.metadata``). A source tree used without installing it (no metadata)
reports ``0+unknown``.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__: str = metadata.version("reidlab")
except metadata.PackageNotFoundError:  # pragma: no cover - a checkout on sys.path, not installed
    __version__ = "0+unknown"
