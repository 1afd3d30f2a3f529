"""Shuffled fixed-size batches for softmax-only recipes (LGEU, PCB): the counterpart of
:class:`reidlab.data.sampler.PKSampler` with the same interface (``set_epoch``,
``epoch_batches``, ``state_dict``/``load_state_dict``, distributed share)."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from reidlab.errors import ConfigError


class RandomBatchSampler:
    """Epoch ``e``: a permutation of ``0..n-1`` from ``numpy.random.default_rng([seed, e])``, cut
    into global batches of ``batch_size`` (the incomplete last batch is dropped). Rank ``r`` of
    ``world_size`` takes the ``r``-th ``batch_size / world_size`` slice of every global batch.

    Raises:
        ConfigError: ``batch_size`` not divisible by ``world_size``, or larger than ``n``.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1 or batch_size % world_size:
            raise ConfigError(f"RandomBatchSampler: batch_size={batch_size} must be >= 1 and divisible by "
                              f"world_size={world_size}")
        if n < batch_size:
            raise ConfigError(f"RandomBatchSampler: only {n} training images for batch_size={batch_size}; lower batch_size")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        return self.n // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.epoch, self.position = int(epoch), 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch`` (pure function of the arguments)."""
        perm = np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)
        per = self.batch_size // self.world_size
        lo = self.rank * per
        return [perm[b * self.batch_size + lo: b * self.batch_size + lo + per].tolist() for b in range(len(self))]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        while self.position < len(batches):
            self.position += 1
            yield batches[self.position - 1]
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "n": self.n,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        for key, mine in (("seed", self.seed), ("n", self.n), ("batch_size", self.batch_size)):
            if key in state and int(state[key]) != mine:
                raise ConfigError(f"RandomBatchSampler.load_state_dict: saved {key}={state[key]} but this sampler has "
                                  f"{key}={mine}; resume with the same dataset and settings")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
