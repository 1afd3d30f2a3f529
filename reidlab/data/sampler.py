"""PK identity sampler: batches of P identities x K images, resumable and distributed.

Epoch ``e`` (seed ``s``): the identities are shuffled with ``numpy.random.default_rng([s, e])``
and cut into consecutive groups of ``P`` (the last incomplete group is dropped), so every
identity appears at most once per epoch and an epoch has ``num_ids // P`` batches. For each
identity of a group, ``K`` of its images are drawn without replacement; an identity with
``n < K`` images contributes all ``n`` plus ``K - n`` drawn again with replacement (so every
image is seen), in shuffled order. A batch lists the ``K`` images of its first identity, then
the ``K`` of the second, and so on.

Distributed: ``P`` is the **global** number of identities per step. Rank ``r`` of
``world_size`` takes identities ``[r * P / world_size, (r + 1) * P / world_size)`` of every
global batch (all ranks compute the same shuffle), i.e. a per-rank batch of
``(P / world_size) * K`` images with whole identities, so batch-hard triplet mining has its
positives on the same rank. ``P`` must be divisible by ``world_size``.

Resume: ``state_dict()`` = ``{"epoch", "position"}`` where ``position`` counts the batches
already handed out in that epoch. After ``load_state_dict`` the iterator continues with
exactly the remaining batches. Finishing an epoch's iteration advances ``epoch`` by one
(position 0); ``set_epoch(e)`` with a different epoch restarts at position 0, with the same
epoch it keeps the position (so ``load_state_dict`` followed by ``set_epoch`` of the saved
epoch resumes mid-epoch).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from reidlab.errors import ConfigError


class PKSampler:
    """Iterable of batches (lists of dataset indices) with P identities x K images.

    Args:
        pids: identity label of every dataset item (e.g. ``[r.pid for r in ds.train]``).
        p: identities per (global) batch.
        k: images per identity.
        seed: base seed; batches are a deterministic function of ``(pids, p, k, seed, epoch,
            rank, world_size)``.
        rank, world_size: distributed share (see module docstring).

    Raises:
        ConfigError: ``p``/``k`` < 1, fewer than ``p`` identities, or ``p`` not divisible by
            ``world_size``.
    """

    def __init__(self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if p < 1 or k < 1:
            raise ConfigError(f"PKSampler: p and k must be >= 1, got p={p}, k={k}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"PKSampler: rank {rank} is not in [0, world_size={world_size})")
        if p % world_size:
            raise ConfigError(f"PKSampler: p={p} identities per global batch is not divisible by world_size={world_size}; "
                              "choose p as a multiple of the number of processes")
        pids_arr = np.asarray(list(pids), dtype=np.int64)
        ids, inverse = np.unique(pids_arr, return_inverse=True)
        if len(ids) < p:
            raise ConfigError(f"PKSampler: only {len(ids)} identities but p={p} per batch; lower p")
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(ids)))[:-1]
        self._groups: list[np.ndarray] = np.split(order, bounds)
        self.identities = ids
        self.p, self.k, self.seed = int(p), int(k), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.position = 0

    @property
    def batch_size(self) -> int:
        """Images per batch on this rank: ``(p / world_size) * k``."""
        return self.p // self.world_size * self.k

    def __len__(self) -> int:
        """Batches per epoch (``num_ids // p``)."""
        return len(self._groups) // self.p

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle; a different epoch restarts at its first batch."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All of this rank's batches of ``epoch`` (does not change the sampler's state)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        perm = rng.permutation(len(self._groups))
        per_rank = self.p // self.world_size
        lo, hi = self.rank * per_rank, (self.rank + 1) * per_rank
        batches = []
        for b in range(len(self)):
            group = perm[b * self.p:(b + 1) * self.p]
            # draw for every identity of the global batch (keeps ranks' random streams aligned)
            chosen = [self._draw(self._groups[g], rng) for g in group]
            batches.append([int(i) for c in chosen[lo:hi] for i in c])
        return batches

    def _draw(self, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(members)
        if n >= self.k:
            return members[rng.choice(n, self.k, replace=False)]
        extra = members[rng.choice(n, self.k - n, replace=True)]
        return rng.permutation(np.concatenate([members, extra]))

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch
        self.epoch += 1
        self.position = 0

    def state_dict(self) -> dict:
        """``{"epoch", "position", "seed", "p", "k", "num_ids"}`` (plain ints)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "p": self.p, "k": self.k, "num_ids": len(self._groups)}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``epoch`` and ``position``; the configuration must match the saved one."""
        for key, mine in (("seed", self.seed), ("p", self.p), ("k", self.k), ("num_ids", len(self._groups))):
            if key in state and int(state[key]) != mine:
                raise ConfigError(f"PKSampler.load_state_dict: saved {key}={state[key]} but this sampler has {key}={mine}; "
                                  "resume with the same dataset and sampler settings")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    def __repr__(self) -> str:
        return (f"PKSampler(ids={len(self._groups)}, p={self.p}, k={self.k}, seed={self.seed}, "
                f"rank={self.rank}/{self.world_size}, epoch={self.epoch}, position={self.position})")
