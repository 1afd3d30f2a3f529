"""The package version (a base-layer module, so every layer can record it without importing
the package facade ``reidlab/__init__.py``)."""

__version__ = "0.1.0"
