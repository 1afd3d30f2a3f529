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
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        t = torch.as_tensor(np.asarray(x))
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


def float_features(x: ArrayLike, name: str, device: Optional[torch.device] = None) -> torch.Tensor:
    """A [n, d] floating-point feature matrix (half precision is up-cast to float32)."""
    t = as_tensor(x, name, device=device, ndim=2)
    if not t.is_floating_point():
        t = t.float()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t
