"""Thin helpers around ``torch.distributed`` for ``torchrun`` launches.

The trainer calls :func:`setup` once: under ``torchrun`` (environment variables ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) it initialises the default
process group (gloo on CPU, NCCL on CUDA) and picks ``cuda:LOCAL_RANK`` when the device is
CUDA; otherwise everything degrades to a single process (rank 0 of 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Process placement: ``rank`` of ``world_size`` processes, ``local_rank`` on this host;
    ``owns_group`` is True when :func:`setup` created the process group (and must destroy it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and writes files)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Initialise the process group if launched by ``torchrun`` with ``WORLD_SIZE > 1``.

    Returns the placement and the device this process uses (``cuda:LOCAL_RANK`` for CUDA).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local, owns_group=owns), device


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.enabled:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``t`` over ranks in place and return it (no-op in a single process)."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_min(value: int, info: DistInfo, device: torch.device) -> int:
    """Minimum of an integer over ranks."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def broadcast_module(module: torch.nn.Module, info: DistInfo, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and buffers to every rank."""
    if not info.enabled:
        return
    tensors = ([] if buffers_only else list(module.parameters())) + list(module.buffers())
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def teardown(info: DistInfo) -> None:
    """Final barrier, then destroy the process group if :func:`setup` created it."""
    if info.enabled:
        dist.barrier()
        if info.owns_group:
            dist.destroy_process_group()
