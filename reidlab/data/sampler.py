"""PK identity sampler: batches of P identities x K images, resumable and distributed.

A batch lists the ``K`` images of its first identity, then the ``K`` of the second, and so
on; the ``P`` identities of a batch are distinct. Two definitions of an **epoch** exist
(``epoch_def``):

``"images"`` (default) -- the field's definition: an epoch covers the training images once.
    This is the ``RandomIdentitySampler`` of bag-of-tricks (``reid-strong-baseline``,
    ``data/samplers/triplet_sampler.py``) and torchreid, on which PFN, MGWP and BoT build.
    Every identity ``i`` with ``n_i`` images is cut into
    ``c_i = max(floor(n_i / K), 1)`` chunks of ``K`` images (its images shuffled; the
    ``n_i mod K`` left over are not used this epoch; an identity with ``n_i < K`` gives one
    chunk: all ``n_i`` images plus ``K - n_i`` drawn again with replacement). With
    ``C = sum_i c_i`` chunks the epoch has

        ``B = floor(C / P)`` batches

    -- exactly, every epoch -- unless one identity alone has more than ``B`` chunks (it can
    appear at most once per batch): then ``B`` is the largest ``b`` with
    ``sum_i min(c_i, b) >= P * b`` (never the case on the public benchmarks). The reference
    counts ``len = sum_i K * max(floor(n_i / K), 1) = K * C`` samples, i.e. nominally
    ``ceil(C / P)`` batches of ``P * K`` (its loader keeps the last partial batch), but its
    loop stops as soon as fewer than ``P`` identities have chunks left, so the batches it
    really yields vary per epoch and are ``<= floor(C / P)``. Here the schedule is chosen so
    that every epoch has the reference's maximum, ``floor(C / P)``: ``C - P*B`` chunks drawn
    at random are left out, then batch by batch the identities that must appear in every
    remaining batch (as many chunks left as batches left) are taken, and the rest of the
    ``P`` are drawn uniformly from the identities that still have chunks (as the reference
    does). An identity appears in at most ``c_i`` batches per epoch (all its chunks but those
    left out), never twice in one batch.
    Market-1501 (751 ids, 12,936 images) at 16 x 4: about 184 batches (``12936 / 64 = 202``
    is the upper bound; the per-identity remainders cost the rest). On a synthetic
    Market-sized label list (``tests/test_sampler_epochs.py``) this gives 184, and the
    reference's stopping rule 182-183 per epoch.

``"identities"`` -- an epoch sees every identity once: the identities are shuffled and cut
    into consecutive groups of ``P`` (the last incomplete group is dropped), so an epoch has
    ``num_ids // P`` batches (Market-1501 at P=16: 46). Kept for old runs and short demos.

Epoch ``e`` (seed ``s``) draws everything from ``numpy.random.default_rng([s, e])``.
Identity with ``n < K`` images: all ``n`` plus ``K - n`` drawn again with replacement, in
shuffled order (so every image is seen; the reference draws all ``K`` with replacement).

Distributed: ``P`` is the **global** number of identities per step. Every rank computes the
same global schedule; rank ``r`` of ``world_size`` takes identities
``[r * P / world_size, (r + 1) * P / world_size)`` of every global batch, i.e. a per-rank batch
of ``(P / world_size) * K`` images with whole identities, so batch-hard triplet mining has its
positives on the same rank; the ranks' shares partition each global batch, and every rank has
the same number of batches. ``P`` must be divisible by ``world_size``.

Resume: ``state_dict()`` = ``{"epoch", "position", ...}`` where ``position`` counts the batches
already handed out in that epoch. After ``load_state_dict`` the iterator continues with
exactly the remaining batches (the schedule is a pure function of the seed and the epoch).
Finishing an epoch's iteration advances ``epoch`` by one (position 0); ``set_epoch(e)`` with a
different epoch restarts at position 0, with the same epoch it keeps the position (so
``load_state_dict`` followed by ``set_epoch`` of the saved epoch resumes mid-epoch).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from reidlab.errors import ConfigError

#: Epoch definitions of :class:`PKSampler` (see the module docstring).
EPOCH_DEFS: tuple[str, ...] = ("images", "identities")

__all__ = ["PKSampler", "EPOCH_DEFS", "pk_chunks", "pk_batches_per_epoch"]


def pk_chunks(counts: Sequence[int], k: int) -> np.ndarray:
    """Chunks of ``k`` images per identity under the ``"images"`` epoch:
    ``c_i = max(floor(n_i / k), 1)`` for identity image counts ``n_i >= 1``."""
    n = np.asarray(list(counts), dtype=np.int64)
    if n.size and n.min() < 1:
        raise ConfigError(f"pk_chunks: identity image counts must be >= 1, got min {int(n.min())}")
    return np.maximum(n // int(k), 1)


def _max_batches(chunks: np.ndarray, p: int) -> int:
    """Largest ``b <= sum(chunks) // p`` with ``sum(min(chunks, b)) >= p * b`` (an identity
    fills at most one slot per batch)."""
    b = int(chunks.sum()) // p
    while b > 0 and int(np.minimum(chunks, b).sum()) < p * b:
        b -= 1
    return b


def pk_batches_per_epoch(counts: Sequence[int], p: int, k: int, epoch_def: str = "images") -> int:
    """Global batches per epoch for identities with ``counts`` images each (exact).

    ``"images"``: ``floor(sum_i max(floor(n_i / k), 1) / p)`` (see the module docstring for
    the rare cap); ``"identities"``: ``len(counts) // p``.
    """
    if epoch_def not in EPOCH_DEFS:
        raise ConfigError(f"epoch_def={epoch_def!r} is invalid; expected one of {EPOCH_DEFS}")
    if p < 1 or k < 1:
        raise ConfigError(f"pk_batches_per_epoch: p and k must be >= 1, got p={p}, k={k}")
    if epoch_def == "identities":
        return len(list(counts)) // int(p)
    return _max_batches(pk_chunks(counts, k), int(p))


class PKSampler:
    """Iterable of batches (lists of dataset indices) with P identities x K images.

    Args:
        pids: identity label of every dataset item (e.g. ``[r.pid for r in ds.train]``).
        p: identities per (global) batch.
        k: images per identity.
        seed: base seed; batches are a deterministic function of ``(pids, p, k, seed, epoch,
            rank, world_size, epoch_def)``.
        rank, world_size: distributed share (see module docstring).
        epoch_def: ``"images"`` (default: an epoch covers the images once, as the field's
            ``RandomIdentitySampler``) or ``"identities"`` (each identity once per epoch).

    Raises:
        ConfigError: ``p``/``k`` < 1, fewer than ``p`` identities, ``p`` not divisible by
            ``world_size``, or an unknown ``epoch_def``.
    """

    def __init__(self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 epoch_def: str = "images") -> None:
        if p < 1 or k < 1:
            raise ConfigError(f"PKSampler: p and k must be >= 1, got p={p}, k={k}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"PKSampler: rank {rank} is not in [0, world_size={world_size})")
        if p % world_size:
            raise ConfigError(f"PKSampler: p={p} identities per global batch is not divisible by world_size={world_size}; "
                              "choose p as a multiple of the number of processes")
        if epoch_def not in EPOCH_DEFS:
            raise ConfigError(f"PKSampler: epoch_def={epoch_def!r} is invalid; expected 'images' (an epoch covers the "
                              "training images once) or 'identities' (each identity once)")
        pids_arr = np.asarray(list(pids), dtype=np.int64)
        ids, inverse = np.unique(pids_arr, return_inverse=True)
        if len(ids) < p:
            raise ConfigError(f"PKSampler: only {len(ids)} identities but p={p} per batch; lower p")
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(ids))
        self._groups: list[np.ndarray] = np.split(order, np.cumsum(counts)[:-1])
        self.identities = ids
        self.p, self.k, self.seed = int(p), int(k), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch_def = epoch_def
        self._chunks = pk_chunks(counts, self.k)
        self._len = pk_batches_per_epoch(counts, self.p, self.k, epoch_def)
        self.epoch = 0
        self.position = 0

    @property
    def batch_size(self) -> int:
        """Images per batch on this rank: ``(p / world_size) * k``."""
        return self.p // self.world_size * self.k

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank and in every epoch; module docstring)."""
        return self._len

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle; a different epoch restarts at its first batch."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All of this rank's batches of ``epoch`` (does not change the sampler's state)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        if self.epoch_def == "identities":
            schedule = self._identity_schedule(rng)
        else:
            schedule = self._image_schedule(rng)
        per_rank = self.p // self.world_size
        lo, hi = self.rank * per_rank, (self.rank + 1) * per_rank
        return [[int(i) for c in batch[lo:hi] for i in c] for batch in schedule]

    # ------------------------------------------------------------ schedules
    def _identity_schedule(self, rng: np.random.Generator) -> list[list[np.ndarray]]:
        perm = rng.permutation(len(self._groups))
        out = []
        for b in range(self._len):
            group = perm[b * self.p:(b + 1) * self.p]
            # draw for every identity of the global batch (keeps ranks' random streams aligned)
            out.append([self._draw(self._groups[g], rng) for g in group])
        return out

    def _draw(self, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(members)
        if n >= self.k:
            return members[rng.choice(n, self.k, replace=False)]
        extra = members[rng.choice(n, self.k - n, replace=True)]
        return rng.permutation(np.concatenate([members, extra]))

    def _image_schedule(self, rng: np.random.Generator) -> list[list[np.ndarray]]:
        k, p, n_batches = self.k, self.p, self._len
        # 1. every identity's chunks of K images (its images shuffled, the remainder unused)
        chunks: list[list[np.ndarray]] = []
        for members in self._groups:
            if len(members) >= k:
                shuffled = members[rng.permutation(len(members))]
                chunks.append([shuffled[j * k:(j + 1) * k] for j in range(len(members) // k)])
            else:
                chunks.append([self._draw(members, rng)])
        # 2. at most one chunk per batch and identity; leave C - P*B random chunks out
        left = np.minimum(self._chunks, n_batches)
        surplus = int(left.sum()) - p * n_batches
        if surplus > 0:
            owner = np.repeat(np.arange(len(left)), left)
            dropped = owner[rng.choice(len(owner), surplus, replace=False)]
            left = left - np.bincount(dropped, minlength=len(left))
        # 3. batch by batch: identities with as many chunks as batches left must come now,
        #    the rest of the P are drawn uniformly among those with chunks left
        taken = np.zeros(len(left), dtype=np.int64)
        out = []
        for b in range(n_batches):
            remaining = n_batches - b
            must = np.flatnonzero(left == remaining)
            free = np.flatnonzero((left > 0) & (left < remaining))
            pick = rng.choice(free, p - len(must), replace=False) if p > len(must) else free[:0]
            chosen = rng.permutation(np.concatenate([must, pick]))
            out.append([chunks[g][taken[g]] for g in chosen])
            taken[chosen] += 1
            left[chosen] -= 1
        return out

    # --------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch
        self.epoch += 1
        self.position = 0

    def state_dict(self) -> dict:
        """``{"epoch", "position", "seed", "p", "k", "num_ids", "epoch_def"}`` (plain values)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "p": self.p, "k": self.k, "num_ids": len(self._groups), "epoch_def": self.epoch_def}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``epoch`` and ``position``; the configuration must match the saved one
        (``epoch_def`` is checked when the state has it: states written before it existed
        come from ``"identities"`` runs, whose stored presets load with that definition)."""
        for key, mine in (("seed", self.seed), ("p", self.p), ("k", self.k), ("num_ids", len(self._groups))):
            if key in state and int(state[key]) != mine:
                raise ConfigError(f"PKSampler.load_state_dict: saved {key}={state[key]} but this sampler has {key}={mine}; "
                                  "resume with the same dataset and sampler settings")
        saved_def = state.get("epoch_def", self.epoch_def)
        if saved_def != self.epoch_def:
            raise ConfigError(f"PKSampler.load_state_dict: saved epoch_def={saved_def!r} but this sampler has "
                              f"epoch_def={self.epoch_def!r}; resume with the run's own preset (pk_epoch={saved_def!r})")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    def __repr__(self) -> str:
        return (f"PKSampler(ids={len(self._groups)}, p={self.p}, k={self.k}, seed={self.seed}, "
                f"rank={self.rank}/{self.world_size}, epoch={self.epoch}, position={self.position}, "
                f"epoch_def={self.epoch_def!r})")
