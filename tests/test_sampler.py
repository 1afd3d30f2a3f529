"""PKSampler: P x K structure, replacement, epochs, resume, distributed shares (the
"identities" epoch here; the default "images" epoch in test_sampler_epochs.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from reidlab.data import PKSampler
from reidlab.errors import ConfigError

# 10 identities: id i has i+1 images (ids 0..2 have fewer than K=4), item order interleaved
PIDS = [pid for n in range(10) for pid in range(10) if n <= pid]


def test_pk_structure_and_epoch_coverage():
    s = PKSampler(PIDS, p=3, k=4, seed=0, epoch_def="identities")
    assert len(s) == 10 // 3 == 3 and s.batch_size == 12
    batches = list(s)
    assert len(batches) == 3
    seen_ids = []
    for batch in batches:
        assert len(batch) == 12
        ids = [PIDS[i] for i in batch]
        groups = [ids[j:j + 4] for j in range(0, 12, 4)]
        assert all(len(set(g)) == 1 for g in groups)             # K consecutive images of one id
        assert len({g[0] for g in groups}) == 3                  # P distinct ids
        seen_ids += [g[0] for g in groups]
    assert len(seen_ids) == len(set(seen_ids)) == 9              # each id at most once per epoch
    assert s.epoch == 1 and s.position == 0                      # exhausting advances the epoch


def test_replacement_for_small_identities():
    s = PKSampler(PIDS, p=10, k=4, seed=1, epoch_def="identities")
    (batch,) = s.epoch_batches(0)
    by_id = {}
    for i in batch:
        by_id.setdefault(PIDS[i], []).append(i)
    members = {pid: [i for i, p in enumerate(PIDS) if p == pid] for pid in range(10)}
    for pid, idx in by_id.items():
        assert len(idx) == 4 and set(idx) <= set(members[pid])
        if len(members[pid]) < 4:
            assert set(idx) == set(members[pid])                 # all own images, then repeats
        else:
            assert len(set(idx)) == 4                            # without replacement
    assert Counter(by_id[0]) == Counter({members[0][0]: 4})


def test_deterministic_and_epoch_dependent():
    a = PKSampler(PIDS, p=2, k=2, seed=5)
    b = PKSampler(PIDS, p=2, k=2, seed=5)
    assert a.epoch_batches(0) == b.epoch_batches(0)
    assert a.epoch_batches(0) != a.epoch_batches(1)
    assert a.epoch_batches(0) != PKSampler(PIDS, p=2, k=2, seed=6).epoch_batches(0)
    a.set_epoch(3)
    assert list(a) == b.epoch_batches(3)


def test_resume_gives_identical_remaining_batches():
    ref = PKSampler(PIDS, p=2, k=3, seed=2)
    ref.set_epoch(4)
    full = list(ref)
    s = PKSampler(PIDS, p=2, k=3, seed=2)
    s.set_epoch(4)
    it = iter(s)
    head = [next(it), next(it)]
    state = s.state_dict()
    assert state["epoch"] == 4 and state["position"] == 2
    resumed = PKSampler(PIDS, p=2, k=3, seed=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)                                          # same epoch keeps the position
    rest = list(resumed)
    assert head + rest == full and len(rest) == len(full) - 2
    resumed.set_epoch(5)
    assert resumed.position == 0 and list(resumed) == ref.epoch_batches(5)
    with pytest.raises(ConfigError, match="saved k=3 but this sampler has k=4"):
        PKSampler(PIDS, p=2, k=4, seed=2).load_state_dict(state)


def test_distributed_ranks_disjoint_and_cover_global_batch():
    world = 2
    glob = PKSampler(PIDS, p=4, k=2, seed=3, epoch_def="identities")
    ranks = [PKSampler(PIDS, p=4, k=2, seed=3, rank=r, world_size=world, epoch_def="identities") for r in range(world)]
    assert all(len(r) == len(glob) == 2 for r in ranks) and ranks[0].batch_size == 4
    for step, gbatch in enumerate(glob.epoch_batches(0)):
        parts = [r.epoch_batches(0)[step] for r in ranks]
        assert set(parts[0]).isdisjoint(parts[1])
        assert {PIDS[i] for i in parts[0]}.isdisjoint({PIDS[i] for i in parts[1]})  # whole identities per rank
        assert parts[0] + parts[1] == gbatch                      # the shares make up the global batch


def test_bad_configuration():
    with pytest.raises(ConfigError, match="only 10 identities but p=11"):
        PKSampler(PIDS, p=11, k=2)
    with pytest.raises(ConfigError, match="not divisible by world_size=3"):
        PKSampler(PIDS, p=4, k=2, world_size=3)
    with pytest.raises(ConfigError, match="rank 2"):
        PKSampler(PIDS, p=4, k=2, rank=2, world_size=2)
