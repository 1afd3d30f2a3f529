"""Spatial-temporal model against a straightforward loop reference; joint score; faiss; Evaluator."""

import json
import math

import numpy as np
import pytest
import torch

from reidlab.errors import ConfigError
from reidlab.eval import (Evaluator, STModel, joint_score, pairwise_distance, rank_metrics, st_rerank_distance,
                          topk_retrieval)


def reference_st(pids, cams, frames, bin_size, sigma, num_bins, qc, qfr, gc, gfr):
    """Loop reference: fit the histograms and look every pair up one by one."""
    labels = sorted(set(cams))
    ci = {c: i for i, c in enumerate(labels)}
    n = len(labels)
    mean = {}
    for p, c, f in zip(pids, cams, frames):
        s, k = mean.get((p, c), (0.0, 0))
        mean[(p, c)] = (s + f, k + 1)
    mean = {key: s / k for key, (s, k) in mean.items()}
    hist = np.zeros((n, n, num_bins))
    for p in set(pids):
        for a in range(n):
            for b in range(a + 1, n):
                if (p, labels[a]) in mean and (p, labels[b]) in mean:
                    ma, mb = mean[(p, labels[a])], mean[(p, labels[b])]
                    later, earlier = (a, b) if ma > mb else (b, a)
                    hist[later, earlier, int(abs(ma - mb) // bin_size)] += 1
    T = int(3 * sigma)
    table = np.zeros_like(hist)
    for a in range(n):
        for b in range(n):
            for i in range(num_bins):
                for t in range(max(0, i - T), min(num_bins, i + T + 1)):
                    table[a, b, i] += hist[a, b, t] * math.exp(-((i - t) ** 2) / (2 * sigma ** 2))
            if table[a, b].sum() > 0:
                table[a, b] /= table[a, b].sum()
    out = np.zeros((len(qc), len(gc)))
    for i in range(len(qc)):
        for j in range(len(gc)):
            if qc[i] not in ci or gc[j] not in ci:
                continue
            d = qfr[i] - gfr[j]
            first, second = (qc[i], gc[j]) if d > 0 else (gc[j], qc[i])
            k = int(abs(d) // bin_size)
            if k < num_bins:
                out[i, j] = table[ci[first], ci[second], k]
    return out, hist


@pytest.mark.parametrize("float_frames", [False, True])
def test_st_equals_loop_reference(float_frames):
    rng = np.random.default_rng(0)
    n, cam_labels = 400, [3, 7, 11, 20]  # arbitrary integer camera labels
    pids = rng.integers(0, 60, n)
    cams = rng.choice(cam_labels, n)
    frames = rng.integers(0, 5000, n)
    pids[:5] = -1  # ignored
    model = STModel.fit(pids, cams, frames, bin_size=100, sigma=2)
    nb = model.num_bins
    qc, gc = rng.choice(cam_labels + [99], 25), rng.choice(cam_labels, 40)  # 99: never seen
    qfr, gfr = rng.integers(0, 5000, 25), rng.integers(0, 5000, 40)
    qfr[0], gfr[0] = 1000, 1000  # equal frames: gallery camera first (the original's else branch)
    if float_frames:  # e.g. timestamps; exercises the float64 path
        frames, qfr, gfr = frames + 0.25, qfr + 0.5, gfr + 0.25
    p = model.probability(qc, qfr, gc, gfr, chunk_size=7, dtype=torch.float64)
    keep = pids >= 0
    ref, hist = reference_st(list(pids[keep]), list(cams[keep]), list(frames[keep]), 100, 2, nb, qc, qfr, gc, gfr)
    np.testing.assert_array_equal(model.hist.numpy(), hist)
    assert nb == np.nonzero(hist.sum((0, 1)))[0].max() + 1 + 6  # data range + the 3-sigma kernel tail
    np.testing.assert_allclose(p.numpy(), ref, rtol=1e-10, atol=1e-15)
    assert p.shape == (25, 40) and (p[qc == 99] == 0).all() and p.max() > 0
    # smoothed and renormalised per observed pair, zero for same camera
    sums = model.table.sum(-1)
    assert torch.allclose(sums[model.hist.sum(-1) > 0], torch.ones(1, dtype=torch.float64))
    assert (torch.diagonal(model.table).sum() == 0)


def test_st_later_camera_first_and_serialisation():
    # identity 1: camera 5 at frame 1000, camera 2 at frame 300 -> pair (5, 2), bin 7
    m = STModel.fit([1, 1, 1], [5, 2, 2], [1000, 250, 350], bin_size=100, sigma=0.3)
    i5, i2 = 1, 0
    assert m.hist[i5, i2, 7] == 1 and m.hist.sum() == 1
    # query in camera 5 later than gallery in camera 2 by 720 frames -> bin 7 of (5, 2)
    p = m.probability([5], [1720], [2, 2], [1000, 1800])
    assert p[0, 0] == pytest.approx(float(m.table[i5, i2, 7])) and p[0, 0] > 0.9
    assert p[0, 1] == 0  # gallery later (camera 2 after camera 5): pair (2, 5) has no data
    # frames far past the table (clamped path: reach > 2^20 bins) -> 0; near ones still exact
    m1 = STModel.fit([1, 1], [5, 2], [1000, 300], bin_size=1, sigma=0.3)
    p1 = m1.probability([5, 5], [1700, 3_000_000], [2, 2], [1000, 0])
    assert p1[0, 0] == pytest.approx(float(m1.table[1, 0, 700])) and p1[1, 0] == 0
    m2 = STModel.from_dict(json.loads(json.dumps(m.to_dict())))
    torch.testing.assert_close(m2.probability([5], [1720], [2], [1000]), p[:, :1])
    with pytest.raises(ConfigError, match="STModel.to_dict"):
        STModel.from_dict({"table": []})


def test_joint_score_formula():
    s = torch.tensor([[0.2, -0.5]])
    p = torch.tensor([[0.01, 0.3]])
    js = joint_score(s, p)
    expect = 1 / (1 + torch.exp(-5 * s)) * 1 / (1 + 2 * torch.exp(-5 * p))
    torch.testing.assert_close(js, expect)
    js2 = joint_score(s.numpy(), p.numpy(), lambda0=3, lambda1=0.5, gamma=2)
    np.testing.assert_allclose(js2, (1 / (1 + 3 * np.exp(-2 * s.numpy())) / (1 + 0.5 * np.exp(-2 * p.numpy()))), rtol=1e-6)
    torch.testing.assert_close(st_rerank_distance(js), 2 - 2 * js)
    # fused STModel.score == joint_score(sim, probability), incl. unknown cameras and far bins
    m = STModel.fit([1, 1, 2, 2], [0, 1, 0, 1], [100, 900, 3000, 3500], sigma=2)
    qc, qfr, gc, gfr = [0, 1, 7], [5000, 200, 10], [1, 0, 1, 0], [4000, 100, 900_000, 5]
    sim = torch.rand(3, 4)
    torch.testing.assert_close(m.score(sim, qc, qfr, gc, gfr, lambda1=3.0),
                               joint_score(sim, m.probability(qc, qfr, gc, gfr), lambda1=3.0))


def test_faiss_topk_matches_dense():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    q, x = torch.randn(20, 16, generator=g), torch.randn(300, 16, generator=g)
    for metric in ("euclidean", "cosine"):
        d, i = topk_retrieval(q, x, 5, metric=metric)
        ref = pairwise_distance(q, x, metric=metric, out_dtype=torch.float64)
        rv, ri = torch.topk(ref, 5, largest=False)
        assert torch.equal(i, ri)
        torch.testing.assert_close(d.double(), rv, atol=1e-4, rtol=1e-4)


def test_faiss_missing_message(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes "import faiss" fail
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        topk_retrieval(torch.zeros(2, 4), torch.zeros(5, 4), 2)


def test_evaluator_protocol():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(10, 8, generator=g)
    pids = torch.arange(10).repeat_interleave(6)
    cams = torch.arange(60) % 3
    feats = means[pids] + 0.3 * torch.randn(60, 8, generator=g)
    isq = (torch.arange(60) % 6) == 0
    ev = Evaluator(metric="cosine")
    for s in range(0, 60, 16):  # batches mixing query and gallery items
        ev.process(feats[s:s + 16], pids[s:s + 16], cams[s:s + 16], is_query=isq[s:s + 16])
    res = ev.evaluate()
    direct = rank_metrics(pairwise_distance(feats[isq], feats[~isq], metric="cosine"), pids[isq], pids[~isq],
                          cams[isq], cams[~isq])
    assert res.mAP == direct.mAP and res.mAP > 0.9
    ev_rr = Evaluator(metric="euclidean", rerank=True, qe=True)
    ev_rr.process(feats, pids, cams, is_query=isq)
    assert ev_rr.evaluate().mAP > 0.9
    # spatial-temporal: distance 2 - 2 * joint score of cosine similarity and p_st
    frames = torch.randint(0, 3000, (60,), generator=g)
    st = STModel.fit(pids, cams, frames, sigma=3)
    ev_st = Evaluator(metric="cosine", st=st)
    ev_st.process(feats, pids, cams, is_query=isq, frames=frames)
    sim = 1 - pairwise_distance(feats[isq], feats[~isq], metric="cosine")
    dist = 2 - 2 * joint_score(sim, st.probability(cams[isq], frames[isq], cams[~isq], frames[~isq]))
    torch.testing.assert_close(ev_st.distance(), dist)
    ev_st_rr = Evaluator(metric="cosine", st=st, rerank=True, rerank_params={"k1": 6, "k2": 2})
    ev_st_rr.process(feats, pids, cams, is_query=isq, frames=frames)
    d_rr = ev_st_rr.distance()
    assert d_rr.shape == dist.shape and not torch.allclose(d_rr, dist) and 0 < ev_st_rr.evaluate().mAP <= 1
    ev.reset()
    with pytest.raises(ConfigError, match="no query items"):
        ev.evaluate()


def st_world(seed=0, nid=60, ncam=6, per_visit=3, dim=32, common=3.0, ident=1.5):
    """Identities walk through 2-6 cameras in camera order, ~3000 frames apart, 3 images per visit;
    features = a shared component (cosine similarities close to 1, as an un-centred model gives)
    + identity + camera + noise. Returns query / gallery features and records and the train records."""
    from collections import namedtuple

    Rec = namedtuple("Rec", "path pid camid frame")
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    means, camvec = torch.randn(2 * nid, dim, generator=g), torch.randn(ncam, dim, generator=g)
    base = torch.randn(dim, generator=g)
    base = base / base.norm() * common * math.sqrt(dim)
    recs, feats = [], []
    for pid in range(1, 2 * nid + 1):
        t = int(rng.integers(0, 200000))
        for c in sorted(rng.permutation(ncam)[: rng.integers(2, ncam + 1)]):
            t += int(rng.normal(3000, 400))
            for k in range(per_visit):
                recs.append(Rec(f"{pid}_{c}_{k}", pid, int(c), t + int(rng.integers(0, 50))))
                feats.append(base + ident * means[pid - 1] + 0.5 * camvec[c] + torch.randn(dim, generator=g))
    feats = torch.stack(feats)
    test = [i for i, r in enumerate(recs) if r.pid <= nid]
    qi = [i for i in test if recs[i].path.endswith("_0")]
    gi = [i for i in test if not recs[i].path.endswith("_0")]
    return feats[qi], feats[gi], [recs[i] for i in qi], [recs[i] for i in gi], [r for r in recs if r.pid > nid]


@pytest.mark.parametrize("seed", [0, 1])
def test_st_rerank_does_not_collapse_below_st(seed):
    """The fresh-clone demo bug: ST + re-ranking far below ST. Same-camera pairs (an image with itself
    included) have p_st = 0, so without the self-pair rule an image was not its own nearest neighbour
    in the re-ranking input and the k-reciprocal sets collapsed."""
    from reidlab.eval import Evaluation, k_reciprocal_rerank

    qf, gf, q, g, train = st_world(seed)
    ev = Evaluation(qf, gf, q, g, st_model=STModel.from_records(train), metric="euclidean")
    t = ev.table(["single-query", "st", "st+rerank"])
    assert t.loc["st", "rank1"] > 0.8                                   # plain ST works on this data
    assert t.loc["st+rerank", "rank1"] >= t.loc["st", "rank1"] - 0.02
    assert t.loc["st+rerank", "mAP"] >= t.loc["st", "mAP"] - 0.02
    qg, qq, gg = ev.rerank_inputs("st+rerank")
    for block in (qq, gg):
        assert torch.equal(block, block.T)
        assert torch.equal(block.argmin(1), torch.arange(block.shape[0]))   # each image its own nearest
        assert (block.diagonal() == 0).all()
    # the unfixed input (raw 2 - 2 * joint score of an image with itself) is what collapsed
    qq_raw, gg_raw = qq.clone(), gg.clone()
    qq_raw.fill_diagonal_(0)
    for blk, _feats, recs in ((qq_raw, qf, q), (gg_raw, gf, g)):
        cam = [r.camid for r in recs]
        fr = [r.frame for r in recs]
        self_score = joint_score(torch.ones(len(recs)), ev.st_model.probability(cam, fr, cam, fr).diagonal())
        blk.diagonal().copy_(2 - 2 * self_score)
    assert (gg_raw.argmin(1) != torch.arange(len(g))).float().mean() > 0.5
    raw = rank_metrics(k_reciprocal_rerank(qg, qq_raw, gg_raw), [r.pid for r in q], [r.pid for r in g],
                       [r.camid for r in q], [r.camid for r in g])
    assert raw.rank(1) < t.loc["st", "rank1"] - 0.05


def test_st_sensitivity_refits_and_leaves_the_evaluation_alone():
    from reidlab.eval import Evaluation, st_sensitivity

    qf, gf, q, g, train = st_world(0, nid=30)
    model = STModel.from_records(train)
    ev = Evaluation(qf, gf, q, g, st_model=model)
    before = ev.result("st")
    df = st_sensitivity(ev, train, sigmas=(2, 50))
    assert list(df.index) == [2.0, 50.0] and list(df.columns) == ["rank1", "mAP"]
    for sigma in (2, 50):
        ref = Evaluation(qf, gf, q, g, st_model=STModel.from_records(train, sigma=sigma)).result("st")
        assert df.loc[float(sigma), "rank1"] == ref.rank(1) and df.loc[float(sigma), "mAP"] == ref.mAP
    assert ev.st_model is model and ev.result("st") is before
    assert df.loc[2.0, "mAP"] != df.loc[50.0, "mAP"]
