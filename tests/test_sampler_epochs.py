"""PKSampler's default "images" epoch (the field's RandomIdentitySampler definition): the
batch count against the formula, on a Market-1501-sized label list; P x K structure;
resume mid-epoch; two DDP ranks partitioning the epoch."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reidlab.data import PKSampler
from reidlab.data.sampler import pk_batches_per_epoch, pk_chunks
from reidlab.errors import ConfigError


def market_like_counts(ids: int = 751, images: int = 12936, lo: int = 2, hi: int = 72, seed: int = 0) -> np.ndarray:
    """A plausible Market-1501 train distribution: 751 identity image counts in [2, 72]
    (log-normal around 15) summing exactly to 12,936."""
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(np.log(15.0), 0.55, ids)
    n = np.clip(np.round(raw * images / raw.sum()), lo, hi).astype(int)
    while n.sum() != images:
        i = rng.integers(ids)
        step = 1 if n.sum() < images else -1
        if lo <= n[i] + step <= hi:
            n[i] += step
    return n


def labels(counts) -> list[int]:
    """Interleaved label list (items of one identity are not contiguous)."""
    rng = np.random.default_rng(1)
    return [int(x) for x in rng.permutation(np.repeat(np.arange(len(counts)), counts))]


MARKET = market_like_counts()
MARKET_PIDS = labels(MARKET)


def test_market_sized_epoch_has_the_formula_number_of_batches():
    assert len(MARKET) == 751 and MARKET.sum() == 12936 and MARKET.min() >= 2 and (MARKET < 4).any()
    chunks = sum(max(n // 4, 1) for n in MARKET)        # the formula, written out
    expected = chunks // 16
    s = PKSampler(MARKET_PIDS, p=16, k=4, seed=0)
    assert s.epoch_def == "images"
    assert len(s) == expected == pk_batches_per_epoch(MARKET, 16, 4)
    assert 175 <= len(s) <= 12936 // 64 == 202                  # "about 200" (remainders cost a few)
    assert len(PKSampler(MARKET_PIDS, p=16, k=4, epoch_def="identities")) == 751 // 16 == 46
    for epoch in (0, 7):
        assert len(s.epoch_batches(epoch)) == expected             # exact in every epoch


def test_images_epoch_structure_and_coverage():
    s = PKSampler(MARKET_PIDS, p=16, k=4, seed=3)
    batches = s.epoch_batches(0)
    members: dict[int, set] = {}
    for i, pid in enumerate(MARKET_PIDS):
        members.setdefault(pid, set()).add(i)
    used = Counter()
    appearances = Counter()
    for batch in batches:
        assert len(batch) == 64
        ids = [MARKET_PIDS[i] for i in batch]
        groups = [ids[j:j + 4] for j in range(0, 64, 4)]
        assert all(len(set(g)) == 1 for g in groups)               # K consecutive images of one identity
        assert len({g[0] for g in groups}) == 16                   # P distinct identities
        for g in groups:
            appearances[g[0]] += 1
        used.update(batch)
    for pid, n in enumerate(MARKET):
        assert appearances[pid] <= max(n // 4, 1)                  # at most its chunks
        if n >= 4:                                                 # within an epoch, no image twice
            assert all(used[i] <= 1 for i in members[pid])
    # the epoch covers the images once: all but the remainders and the left-out chunks
    assert sum(used.values()) == 64 * len(batches)
    assert len(used) >= 0.85 * MARKET.sum()
    # a small identity (n < K): all its images plus repeats
    small = [pid for pid, n in enumerate(MARKET) if n < 4]
    seen_small = [pid for pid in small if appearances[pid]]
    assert seen_small
    for batch in batches:
        for j in range(0, 64, 4):
            g = batch[j:j + 4]
            if MARKET_PIDS[g[0]] in small:
                assert set(g) == members[MARKET_PIDS[g[0]]]


def test_identity_with_too_many_chunks_caps_the_epoch():
    # one identity with 40 images (10 chunks at K=4) and five with 4 (1 chunk each): C = 15.
    # P=2: floor(15/2) = 7 batches would need 14 slots but the big identity fills at most one
    # per batch: b + 5 >= 2b -> 5 batches. P=3: b + 5 >= 3b -> 2 batches.
    counts = [40, 4, 4, 4, 4, 4]
    assert list(pk_chunks(counts, 4)) == [10, 1, 1, 1, 1, 1]
    assert pk_batches_per_epoch(counts, 2, 4) == 5
    assert pk_batches_per_epoch(counts, 3, 4) == 2
    pids = labels(counts)
    for p in (2, 3):
        s = PKSampler(pids, p=p, k=4, seed=0)
        for batch in s.epoch_batches(0):
            ids = [pids[i] for i in batch[::4]]
            assert len(set(ids)) == p
        assert len(s.epoch_batches(0)) == len(s)


def test_resume_mid_epoch_yields_the_same_remaining_batches():
    ref = PKSampler(MARKET_PIDS, p=16, k=4, seed=2)
    ref.set_epoch(5)
    full = list(ref)
    s = PKSampler(MARKET_PIDS, p=16, k=4, seed=2)
    s.set_epoch(5)
    it = iter(s)
    head = [next(it) for _ in range(37)]
    state = s.state_dict()
    assert state["position"] == 37 and state["epoch_def"] == "images"
    resumed = PKSampler(MARKET_PIDS, p=16, k=4, seed=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(5)
    rest = list(resumed)
    assert head + rest == full and len(rest) == len(full) - 37
    with pytest.raises(ConfigError, match="saved epoch_def='images' but this sampler has epoch_def='identities'"):
        PKSampler(MARKET_PIDS, p=16, k=4, seed=2, epoch_def="identities").load_state_dict(state)


def test_two_ddp_ranks_partition_the_epoch():
    glob = PKSampler(MARKET_PIDS, p=16, k=4, seed=4)
    ranks = [PKSampler(MARKET_PIDS, p=16, k=4, seed=4, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(glob) and ranks[0].batch_size == 32
    g_batches = glob.epoch_batches(1)
    r_batches = [r.epoch_batches(1) for r in ranks]
    for step, gb in enumerate(g_batches):
        a, b = r_batches[0][step], r_batches[1][step]
        assert a + b == gb                                           # the shares make up the global batch
        assert {MARKET_PIDS[i] for i in a}.isdisjoint({MARKET_PIDS[i] for i in b})  # whole identities
        assert len(a) == len(b) == 32
    # over the epoch: the ranks' items together are exactly the global epoch's items
    assert Counter(i for bs in r_batches for b in bs for i in b) == Counter(i for b in g_batches for i in b)


def test_bad_epoch_definition():
    with pytest.raises(ConfigError, match="epoch_def='epochs' is invalid"):
        PKSampler(MARKET_PIDS, p=16, k=4, epoch_def="epochs")
    with pytest.raises(ConfigError, match="epoch_def='x' is invalid"):
        pk_batches_per_epoch([4, 4], 1, 4, "x")
