"""Argument checks shared by every layer (below ``data``: imports nothing but :mod:`reidlab.errors`).

One definition of "is this value one of the allowed choices", so every module words the
error the same way: ``<where>: <name>=<value> is not valid; expected one of <choices>``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, TypeVar

from reidlab.errors import ConfigError

__all__ = ["check_choice"]

T = TypeVar("T")


def _same_choice(value: Any, choice: Any) -> bool:
    """``value`` equals ``choice`` without ``True == 1`` / ``1.0 == 1`` confusions (strings of
    any ``str`` subclass, e.g. ``numpy.str_``, compare as strings)."""
    if isinstance(value, str) and isinstance(choice, str):
        return str(value) == str(choice)
    if type(value) is not type(choice):
        return False
    try:
        return bool(value == choice)
    except (TypeError, ValueError):   # e.g. an array compared with a scalar
        return False


def check_choice(value: T, name: str, choices: Sequence[Any], *, where: Optional[str] = None) -> T:
    """Return ``value`` if it is one of ``choices``, else raise a one-line :class:`ConfigError`.

    Args:
        value: the value to check.
        name: the argument / option name shown in the message (``"metric"``, ``"branches"``).
        choices: the allowed values (compared by type and value: ``True`` is not ``1``).
        where: optional prefix naming the owner, e.g. ``"model 'pfn'"``.

    Example: ``check_choice("cosin", "metric", ("euclidean", "cosine"))`` raises
    ``metric='cosin' is not valid; expected one of 'euclidean', 'cosine'``.
    """
    if not any(_same_choice(value, c) for c in choices):
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}{name}={value!r} is not valid; expected one of {', '.join(map(repr, choices))}")
    return value
