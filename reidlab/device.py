"""The one place that turns a user's device request into a :class:`torch.device`.

Accepted: ``None``, ``""`` or ``"auto"`` (CUDA when available, else the CPU; with
``auto_mps=True`` Apple's MPS comes before the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
``"mps"`` and :class:`torch.device` objects of those kinds. Anything else -- an unknown name
(``"tpu"``), a malformed string, CUDA (or MPS) on a machine without it, a GPU index that does
not exist -- is a one-line :class:`~reidlab.errors.ConfigError` naming the value and the
choices. Nothing is allocated on the device.
"""

from __future__ import annotations

from typing import Union

import torch

from reidlab.errors import ConfigError

__all__ = ["resolve_device", "DEVICE_CHOICES"]

#: What :func:`resolve_device` accepts, as shown in its error messages.
DEVICE_CHOICES = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: Union[str, torch.device, None] = None, *, auto_mps: bool = False) -> torch.device:
    """A usable :class:`torch.device` for ``device`` (see the module docstring).

    Args:
        device: the request (``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``
            or a :class:`torch.device`).
        auto_mps: let ``"auto"`` pick Apple's MPS when there is no CUDA (inference; the
            trainer keeps ``"auto"`` to CUDA or the CPU).

    Raises:
        ConfigError: unknown or malformed device, or a device this machine does not have.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "auto")):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if auto_mps and _mps_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip())
        except (RuntimeError, ValueError):
            raise ConfigError(f"device {device!r} is not valid; expected {DEVICE_CHOICES}") from None
    else:
        raise ConfigError(f"device {device!r} is not valid; expected {DEVICE_CHOICES}")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {str(device)!r} is not supported; expected {DEVICE_CHOICES}")
    if dev.type == "mps" and not _mps_available():
        raise ConfigError(f"device {str(device)!r} requested but Apple MPS is not available on this machine; "
                          "use 'cpu' (or 'auto')")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r} requested but CUDA is not available on this machine; "
                              "use 'cpu' (or 'auto')")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                              f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); pick one of them or 'auto'")
    elif dev.type == "cpu" and dev.index not in (None, 0):
        raise ConfigError(f"device {str(device)!r} is not valid; expected {DEVICE_CHOICES}")
    return dev
