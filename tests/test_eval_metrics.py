"""rank_metrics / pairwise_distance / multi-query against straightforward references and hand cases."""

import numpy as np
import pytest
import torch

from reidlab.errors import ConfigError
from reidlab.eval import evaluate_features, multi_query_features, pairwise_distance, rank_metrics, valid_gallery_mask


def reference_metrics(D, qp, gp, qc, gc, max_rank=50, ap="standard"):
    """Plain per-query stable argsort evaluator (the definition)."""
    nq = D.shape[0]
    aps, inps, cmc, nv = np.full(nq, np.nan), np.full(nq, np.nan), np.zeros(max_rank), 0
    for i in range(nq):
        order = np.argsort(D[i], kind="stable")
        keep = valid_gallery_mask(qp[i], qc[i], gp[order], gc[order])   # the one junk rule
        good = ((gp[order] == qp[i]) & (gc[order] != qc[i]))[keep]
        if qp[i] == -1 or not good.any():
            continue
        nv += 1
        r = np.nonzero(good)[0] + 1
        k = np.arange(1, len(r) + 1)
        if ap == "standard":
            aps[i] = np.mean(k / r)
        else:
            prev = np.where(r > 1, (k - 1) / np.maximum(r - 1, 1), 1.0)
            aps[i] = np.mean((k / r + prev) / 2)
        inps[i] = len(r) / r[-1]
        if r[0] <= max_rank:
            cmc[r[0] - 1:] += 1
    return cmc / max(nv, 1), aps, inps, nv


def random_problem(seed, nq=120, ng=900, nid=40, structured=False):
    rng = np.random.default_rng(seed)
    qp = rng.integers(1, nid, nq)
    gp = rng.integers(-1, nid, ng)
    qc, gc = rng.integers(0, 5, nq), rng.integers(0, 5, ng)
    if structured:  # positives mostly close: exercises the "band" path
        means = rng.normal(size=(nid, 8))
        qf = means[qp] + 0.3 * rng.normal(size=(nq, 8))
        gf = means[np.maximum(gp, 0)] + 0.3 * rng.normal(size=(ng, 8))
        D = pairwise_distance(qf, gf, out_dtype=torch.float64).numpy()
    else:
        D = rng.random((nq, ng))
    return D, qp, gp, qc, gc


@pytest.mark.parametrize("structured", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ap", ["standard", "market"])
def test_equals_argsort_reference(structured, ap, dtype):
    D, qp, gp, qc, gc = random_problem(1 + structured, structured=structured)
    qp[3] = -1  # junk query: skipped
    D = torch.from_numpy(D).to(dtype).numpy().astype(np.float64)  # reference on the same (rounded) values
    res = rank_metrics(torch.from_numpy(D).to(dtype), qp, gp, qc, gc, max_rank=20, ap=ap, chunk_size=37)
    cmc, aps, inps, nv = reference_metrics(D, qp, gp, qc, gc, max_rank=20, ap=ap)
    assert res.num_valid == nv and res.num_skipped == len(qp) - nv and res.num_skipped >= 1
    np.testing.assert_allclose(res.cmc, cmc, atol=1e-6)
    np.testing.assert_allclose(res.all_ap, aps, atol=1e-6)  # nan where skipped, in both
    np.testing.assert_allclose(res.all_inp, inps, atol=1e-6)
    assert res.mAP == pytest.approx(np.nanmean(aps), abs=1e-6)
    assert res.mINP == pytest.approx(np.nanmean(inps), abs=1e-6)
    assert 0 < res.mAP < 1 and res.ap_kind == ap
    # non-contiguous inputs (Fortran-ordered numpy, transposed tensor) give the same result
    f_res = rank_metrics(np.asfortranarray(D), qp, gp, qc, gc, max_rank=20, ap=ap, chunk_size=37)
    t_res = rank_metrics(torch.from_numpy(np.ascontiguousarray(D.T)).t().to(dtype), qp, gp, qc, gc, max_rank=20, ap=ap)
    np.testing.assert_allclose(f_res.all_ap, aps, atol=1e-6)
    np.testing.assert_allclose(t_res.all_ap, res.all_ap, atol=0)


def test_ties_broken_by_gallery_index():
    D, qp, gp, qc, gc = random_problem(3)
    Dt = np.round(D * 8) / 8  # many exact ties between positives and negatives
    res64 = rank_metrics(Dt, qp, gp, qc, gc)
    _, aps64, _, _ = reference_metrics(Dt, qp, gp, qc, gc)
    np.testing.assert_allclose(res64.all_ap, aps64, atol=1e-9)
    res = rank_metrics(Dt.astype(np.float32), qp, gp, qc, gc)
    cmc, aps, inps, _ = reference_metrics(Dt.astype(np.float32), qp, gp, qc, gc)
    np.testing.assert_allclose(res.all_ap, aps, atol=1e-9)
    np.testing.assert_allclose(res.cmc, cmc, atol=1e-9)
    # constant distances: ranking = gallery order, never an optimistic "positives first"
    res0 = rank_metrics(np.zeros_like(D), qp, gp, qc, gc)
    _, aps0, _, _ = reference_metrics(np.zeros_like(D), qp, gp, qc, gc)
    np.testing.assert_allclose(res0.all_ap, aps0, atol=1e-9)
    assert res0.mAP < 0.2


def test_ap_test_vector_hits_1_2_4_7():
    # one query, 7 gallery items ordered by distance; hits at ranks 1, 2, 4, 7
    D = np.arange(7, dtype=np.float32)[None]
    gp = np.array([5, 5, 9, 5, 8, 7, 5])
    gc = np.ones(7, dtype=int)
    std = rank_metrics(D, [5], gp, [0], gc, max_rank=7)
    mkt = rank_metrics(D, [5], gp, [0], gc, max_rank=7, ap="market")
    assert std.mAP == pytest.approx(0.830357, abs=1e-6)
    assert mkt.mAP == pytest.approx(0.811012, abs=1e-6)
    assert std.mINP == pytest.approx(4 / 7)
    np.testing.assert_allclose(std.cmc, np.ones(7))


def test_junk_and_distractors_hand_case():
    # gallery: 0 same pid same cam (junk), 1 pid -1 (junk), 2 distractor pid 0, 3 positive, 4 other
    D = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    gp = np.array([1, -1, 0, 1, 2])
    gc = np.array([0, 1, 1, 1, 1])
    r = rank_metrics(D, [1], gp, [0], gc, max_rank=3)
    # after removing items 0 and 1, the positive is behind the distractor: rank 2
    assert r.first_hit[0] == 2 and r.mAP == pytest.approx(0.5) and r.mINP == pytest.approx(0.5)
    np.testing.assert_allclose(r.cmc, [0, 1, 1])
    # a query whose only same-id gallery item is in its own camera is skipped
    r2 = rank_metrics(np.vstack([D, D]), [1, 2], gp, [0, 1], gc, max_rank=3)  # pid 2 only in camera 1
    assert r2.num_valid == 1 and r2.num_skipped == 1 and np.isnan(r2.all_ap[1])
    d = r2.as_dict()
    assert d["rank1"] == 0.0 and d["mAP"] == pytest.approx(0.5) and d["num_skipped"] == 1
    assert "skipped" in str(r2)


def test_single_gallery_shot_cuhk03():
    D, qp, gp, qc, gc = random_problem(4, nq=30, ng=200, nid=10)
    gp = np.maximum(gp, 1)
    a = rank_metrics(D, qp, gp, qc, gc, max_rank=10, cmc_mode="single_gallery_shot", num_repeats=20, seed=1)
    b = rank_metrics(D, qp, gp, qc, gc, max_rank=10, cmc_mode="single_gallery_shot", num_repeats=20, seed=1)
    full = rank_metrics(D, qp, gp, qc, gc, max_rank=10)
    np.testing.assert_array_equal(a.cmc, b.cmc)  # seeded, deterministic
    assert a.mAP == full.mAP  # AP/INP on the full ranking
    # one image per identity among ~10 identities: rank-1 well above the all-gallery rank-1 on random data
    assert a.cmc[0] > full.cmc[0]
    assert np.all(np.diff(a.cmc) >= 0) and a.cmc[-1] == pytest.approx(1.0)  # 10 identities -> all within rank 10


def test_bad_input_messages():
    with pytest.raises(ConfigError, match="q_pids: expected 2 entries"):
        rank_metrics(np.zeros((2, 3)), [1], [1, 2, 3], [0, 0], [1, 1, 1])
    with pytest.raises(ConfigError, match="ap='x'"):
        rank_metrics(np.zeros((1, 3)), [1], [1, 2, 3], [0], [1, 1, 1], ap="x")


def test_pairwise_distance_and_cosine_equivalence():
    g = torch.Generator().manual_seed(0)
    q, x = torch.randn(17, 9, generator=g), torch.randn(23, 9, generator=g)
    d = pairwise_distance(q, x, chunk_size=5)
    ref = torch.cdist(q.double(), x.double()) ** 2
    assert d.dtype == torch.float32 and d.shape == (17, 23)
    torch.testing.assert_close(d.double(), ref, atol=1e-4, rtol=1e-5)
    dc = pairwise_distance(q.numpy(), x.numpy(), metric="cosine", out_dtype=torch.float64)
    refc = 1 - torch.nn.functional.normalize(q.double(), dim=1) @ torch.nn.functional.normalize(x.double(), dim=1).t()
    torch.testing.assert_close(dc, refc, atol=1e-12, rtol=0)
    # on unit vectors squared euclidean = 2 * cosine distance -> identical rankings and metrics
    qn, xn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(x, dim=1)
    torch.testing.assert_close(pairwise_distance(qn, xn, out_dtype=torch.float64), 2 * dc, atol=1e-6, rtol=0)
    qp, gp = torch.randint(0, 4, (17,), generator=g), torch.randint(0, 4, (23,), generator=g)
    qc, gc = torch.randint(0, 3, (17,), generator=g), torch.randint(0, 3, (23,), generator=g)
    a = rank_metrics(pairwise_distance(qn, xn, out_dtype=torch.float64), qp, gp, qc, gc)
    b = rank_metrics(dc, qp, gp, qc, gc)
    np.testing.assert_allclose(a.all_ap, b.all_ap)
    with pytest.raises(ConfigError, match="dim 9 but gallery features have dim 8"):
        pairwise_distance(q, x[:, :8])


def test_evaluate_features_matches_two_step():
    D, qp, gp, qc, gc = random_problem(5, structured=True)
    rng = np.random.default_rng(0)
    qf, gf = rng.normal(size=(120, 8)).astype(np.float32), rng.normal(size=(900, 8)).astype(np.float32)
    fused = evaluate_features(qf, gf, qp, gp, qc, gc, metric="cosine", chunk_size=50)
    two = rank_metrics(pairwise_distance(qf, gf, metric="cosine"), qp, gp, qc, gc)
    np.testing.assert_allclose(fused.all_ap, two.all_ap)
    np.testing.assert_allclose(fused.cmc, two.cmc)
    assert fused.num_skipped == two.num_skipped


def test_multi_query_features_market_convention():
    qf = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    q_pids, q_cams = [1, 2, 3], [0, 1, 0]
    mq = torch.tensor([[1.0, 0.0], [3.0, 2.0], [9.0, 9.0], [0.0, 3.0]])
    mq_pids, mq_cams = [1, 1, 1, 2], [0, 0, 1, 1]  # third: same id, other camera -> not used
    out = multi_query_features(qf, q_pids, q_cams, mq, mq_pids, mq_cams)
    torch.testing.assert_close(out, torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 5.0]]))  # no mq -> query kept
    out2 = multi_query_features(qf, q_pids, q_cams, mq, mq_pids, mq_cams, include_query=True)
    torch.testing.assert_close(out2[0], torch.tensor([5.0 / 3, 2.0 / 3]))


def test_nan_distance_is_an_error():
    D = np.zeros((3, 4), dtype=np.float32)
    D[1, 2] = np.nan
    with pytest.raises(ConfigError, match="NaN \\(query rows 0..2\\)"):
        rank_metrics(D, [1, 1, 1], [1, 1, 2, 2], [0, 0, 0], [1, 1, 1, 1])


def test_negative_distances_and_similarities():
    # e.g. rank by negative cosine similarity: values of both signs, including -0.0 and 0.0
    D, qp, gp, qc, gc = random_problem(6)
    D = (D - 0.5).astype(np.float32)
    D[0, :5] = -0.0
    D[0, 5:10] = 0.0
    res = rank_metrics(D, qp, gp, qc, gc)
    cmc, aps, inps, _ = reference_metrics(D, qp, gp, qc, gc)
    np.testing.assert_allclose(res.all_ap, aps, atol=1e-12)
    np.testing.assert_allclose(res.cmc, cmc, atol=1e-12)
