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
