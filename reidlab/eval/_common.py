"""Small helpers shared by the evaluation kernels: input conversion and checks."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from reidlab._checks import check_choice  # noqa: F401  (re-exported: one definition, in reidlab._checks)
from reidlab.errors import ConfigError

ArrayLike = Any  # torch.Tensor | np.ndarray | sequence


def as_tensor(x: ArrayLike, name: str, device: Optional[torch.device] = None,
              dtype: Optional[torch.dtype] = None, ndim: Optional[int] = None) -> torch.Tensor:
    """Return ``x`` as a torch tensor (numpy arrays are wrapped without a copy when possible).

    Raises ConfigError with a one-line message if ``x`` has the wrong number of dimensions.
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise ConfigError(_non_numeric(name, x))
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ConfigError(_non_numeric(name, arr))
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if ndim is not None and t.dim() != ndim:
        raise ConfigError(
            f"{name}: expected a {ndim}-d array, got shape {tuple(t.shape)}; pass "
            + ("a [n, dim] feature/distance matrix" if ndim == 2 else "a 1-d vector with one entry per image"))
    if device is not None and t.device != device:
        t = t.to(device)
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    return t


def as_labels(x: ArrayLike, name: str, n: int, device: torch.device) -> torch.Tensor:
    """Integer label vector (pid, camid) of length ``n`` as int64 on ``device``."""
    t = as_tensor(x, name, ndim=1)
    if t.numel() != n:
        raise ConfigError(f"{name}: expected {n} entries (one per row/column of the distance matrix), got {t.numel()}")
    if t.is_floating_point() or t.dtype == torch.bool:
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise ConfigError(f"{name}: expected integer labels, got non-integer values; pass integer ids")
    return t.to(device=device, dtype=torch.int64)


def float_features(x: ArrayLike, name: str, device: Optional[torch.device] = None,
                   check_finite: bool = True) -> torch.Tensor:
    """A [n, d] floating-point feature matrix (half precision is up-cast to float32).

    Raises ConfigError (one line, naming ``name`` and the number of bad rows) if any entry is
    NaN or infinite, unless ``check_finite=False``.
    """
    t = as_tensor(x, name, device=device, ndim=2)
    if not t.is_floating_point():
        t = t.float()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if check_finite:
        check_finite_rows(t, name)
    return t


def check_finite_rows(t: torch.Tensor, name: str) -> None:
    """One-line ConfigError if rows of the [n, d] float tensor ``t`` hold NaN or inf."""
    if t.numel() == 0 or bool(torch.isfinite(t.sum())):  # a finite sum implies finite entries
        return
    bad = ~torch.isfinite(t).all(1) if t.dim() == 2 else ~torch.isfinite(t)
    rows = torch.nonzero(bad).flatten()
    if rows.numel() == 0:
        return
    raise ConfigError(f"{name}: {rows.numel()} of {t.shape[0]} rows contain NaN or inf values (first: row "
                      f"{int(rows[0])}); re-extract the features (e.g. without fp16 autocast) or drop those images")


def _non_numeric(name: str, arr: np.ndarray) -> str:
    sample = arr.reshape(-1)[:1].tolist()
    what = f"dtype {arr.dtype}" + (f", e.g. {sample[0]!r}" if sample else "")
    return (f"{name}: expected numbers (integer ids / float values), got {what}; convert string ids to "
            "integers first (e.g. with pandas.factorize) and keep ids within 64-bit integers")

