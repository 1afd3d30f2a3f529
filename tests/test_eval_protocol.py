"""The one evaluation path (reidlab.eval.protocol): settings, distances, tables, rankings."""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import pytest
import torch

from reidlab.errors import ConfigError
from reidlab.eval import (QE_DEFAULTS, RERANK_DEFAULTS, SETTINGS, Evaluation, Evaluator, STModel,
                          average_query_expansion, evaluate, joint_score, k_reciprocal_rerank, multi_query_features,
                          pairwise_distance, parse_setting, rank_metrics, valid_gallery_mask)


@dataclass(frozen=True)
class Rec:
    path: str
    pid: int
    camid: int
    frame: Optional[int]


def make_set(seed=0, nid=20, ncam=3, noise=1.0, dim=16, frames=True):
    """Identities walking past cameras in order (camera c at ~ t0 + 400 c): features = identity mean
    + noise. Returns (qf, gf, query, gallery, mqf, mq, train) with Market-style splits."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(nid * 2, dim, generator=g)
    recs, feats = [], []
    for pid in range(1, nid * 2 + 1):
        t0 = int(torch.randint(0, 20000, (1,), generator=g))
        for c in range(ncam):
            for k in range(3):
                fr = t0 + 400 * c + 10 * k if frames else None
                recs.append(Rec(f"{pid}_{c}_{k}.jpg", pid, c, fr))
                feats.append(means[pid - 1] + noise * torch.randn(dim, generator=g))
    feats = torch.stack(feats)
    train_ids = set(range(nid + 1, 2 * nid + 1))
    train = [r for r in recs if r.pid in train_ids]
    test = [(i, r) for i, r in enumerate(recs) if r.pid not in train_ids]
    qi = [i for i, r in test if (r.pid + r.camid) % 2 == 0 and r.path.endswith("_0.jpg")]
    gi = [i for i, r in test if i not in qi]
    mi = [i for i, r in test if r.path.endswith(("_0.jpg", "_1.jpg"))]
    gallery = [recs[i] for i in gi]
    # distractors (identity 0) and junk (-1) images in the gallery
    extra = [Rec(f"x{k}.jpg", 0 if k % 2 else -1, k % ncam, (1000 * k if frames else None)) for k in range(6)]
    gfeat = torch.cat([feats[gi], torch.randn(len(extra), dim, generator=g)])
    return (feats[qi], gfeat, [recs[i] for i in qi], gallery + extra, feats[mi], [recs[i] for i in mi], train)


def labels(recs):
    return np.array([r.pid for r in recs]), np.array([r.camid for r in recs]), np.array([r.frame for r in recs])


def test_parse_setting_canonical_order_and_errors():
    assert parse_setting("single-query") == "single-query"
    assert parse_setting("rerank+st") == "st+rerank"
    assert parse_setting("Rerank + QE") == "qe+rerank"
    assert parse_setting("st+multi-query") == "multi-query+st"
    assert parse_setting("rerank+st+qe+multi-query") == "multi-query+qe+st+rerank"
    assert all(parse_setting(s) == s for s in SETTINGS)
    with pytest.raises(ConfigError, match=r"unknown token 'plain'.*'multi-query', 'qe', 'st', 'rerank'") as e:
        parse_setting("plain")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="single-query' stands alone"):
        parse_setting("single-query+rerank")
    with pytest.raises(ConfigError, match="repeats a token"):
        parse_setting("st+st")
    with pytest.raises(ConfigError, match="not a setting name"):
        parse_setting(3)


def test_defaults_are_the_papers():
    assert RERANK_DEFAULTS == {"k1": 20, "k2": 6, "lambda_value": 0.3}
    assert QE_DEFAULTS == {"top_k": 5, "alpha": 3.0}
    assert k_reciprocal_rerank.__defaults__[:3] == (20, 6, 0.3)
    assert average_query_expansion.__defaults__[:2] == (5, 3.0)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_table_equals_the_kernels(metric):
    qf, gf, q, g, mqf, mq, train = make_set()
    st = STModel.from_records(train, sigma=2)
    ev = Evaluation(qf, gf, q, g, multi_query_features=mqf, multi_query=mq, st_model=st, metric=metric)
    assert ev.available_settings() == list(SETTINGS)
    qp, qc, qfr = labels(q)
    gp, gc, gfr = labels(g)

    def metrics(d):
        return rank_metrics(d, qp, gp, qc, gc)

    d = pairwise_distance(qf, gf, metric=metric)
    expect = {"single-query": metrics(d)}
    expect["rerank"] = metrics(k_reciprocal_rerank(d, pairwise_distance(qf, qf, metric=metric),
                                                   pairwise_distance(gf, gf, metric=metric)))
    sim = 1 - pairwise_distance(qf, gf, metric="cosine")
    d_st = 2 - 2 * joint_score(sim, st.probability(qc, qfr, gc, gfr))
    expect["st"] = metrics(d_st)
    q2, g2 = average_query_expansion(qf, gf, metric=metric)
    expect["qe"] = metrics(pairwise_distance(q2, g2, metric=metric))
    mp, mc, _ = labels(mq)
    m = multi_query_features(qf, qp, qc, mqf, mp, mc)
    expect["multi-query"] = metrics(pairwise_distance(m, gf, metric=metric))
    df = ev.table()
    assert list(df.index) == list(SETTINGS) and df.index.name == "setting"
    assert list(df.columns) == ["rank1", "rank5", "rank10", "mAP", "mINP", "queries", "skipped"]
    for s, r in expect.items():
        row = df.loc[s]
        assert row["mAP"] == pytest.approx(r.mAP, abs=1e-6), s
        assert row["rank1"] == pytest.approx(r.rank(1), abs=1e-9), s
        assert row["mINP"] == pytest.approx(r.mINP, abs=1e-6), s
        assert row["queries"] == r.num_valid and row["skipped"] == r.num_skipped
    torch.testing.assert_close(ev.distance("st"), d_st.float())
    vals = df[["rank1", "rank5", "rank10", "mAP", "mINP"]].to_numpy()
    assert ((vals >= 0) & (vals <= 1)).all()
    assert df.loc["single-query", "rank1"] > 0.5  # the problem is learnable: the test means something
    # evaluate() is the table; a single name works too; cached results are the same objects
    pd.testing.assert_frame_equal(evaluate(qf, gf, q, g, ["single-query", "rerank+qe"], metric=metric),
                                  ev.table(["single-query", "qe+rerank"]))
    assert ev.result("st") is ev.result("st")


def test_st_rerank_uses_symmetric_joint_blocks_with_zero_self_distance():
    qf, gf, q, g, _, _, train = make_set(1)
    st = STModel.from_records(train, sigma=2)
    ev = Evaluation(qf, gf, q, g, st_model=st, metric="cosine", rerank_params={"k1": 6, "k2": 2})
    qp, qc, qfr = labels(q)
    gp, gc, gfr = labels(g)

    def block(fa, ca, fra, fb, cb, frb):
        s = 1 - pairwise_distance(fa, fb, metric="cosine")
        return 2 - 2 * joint_score(s, st.probability(ca, fra, cb, frb))

    qq = (block(qf, qc, qfr, qf, qc, qfr) + block(qf, qc, qfr, qf, qc, qfr).T) / 2
    gg = (block(gf, gc, gfr, gf, gc, gfr) + block(gf, gc, gfr, gf, gc, gfr).T) / 2
    qq.fill_diagonal_(0)  # an image is its own nearest neighbour
    gg.fill_diagonal_(0)
    ref = k_reciprocal_rerank(block(qf, qc, qfr, gf, gc, gfr), qq, gg, k1=6, k2=2)
    torch.testing.assert_close(ev.distance("st+rerank"), ref)


def test_availability_and_errors():
    qf, gf, q, g, _, _, train = make_set(2, frames=False)
    ev = Evaluation(qf, gf, q, g)
    assert ev.available_settings() == ["single-query", "rerank", "qe"]
    with pytest.raises(ConfigError, match="'multi-query' is not available: no multi-query split"):
        ev.table(["multi-query"])
    with pytest.raises(ConfigError, match="no spatial-temporal model"):
        ev.distance("st")
    assert list(ev.table(["single-query", "st"], skip_unavailable=True).index) == ["single-query"]
    with pytest.raises(ConfigError, match="no frame number"):
        STModel.from_records(train)
    with pytest.raises(ConfigError, match="query: 3 records but"):
        Evaluation(qf, gf, q[:3], g)
    with pytest.raises(ConfigError, match="rerank_params: unknown keys"):
        Evaluation(qf, gf, q, g, rerank_params={"k": 3})
    with pytest.raises(ConfigError, match="lambda_value=1.5"):
        Evaluation(qf, gf, q, g, rerank_params={"lambda_value": 1.5})
    bad = gf.clone()
    bad[[2, 5]] = float("nan")
    with pytest.raises(ConfigError, match="gallery features: 2 of .* rows contain NaN or inf"):
        Evaluation(qf, bad, q, g)


def test_ranking_and_query_frame_agree_with_metrics():
    qf, gf, q, g, _, _, train = make_set(3, noise=1.5)
    ev = Evaluation(qf, gf, q, g, st_model=STModel.from_records(train, sigma=2))
    for setting in ("single-query", "st+rerank"):
        qfr = ev.query_frame(setting)
        r = ev.result(setting)
        np.testing.assert_array_equal(qfr["ap"].to_numpy(), r.all_ap)
        assert (qfr["first_hit"].to_numpy() == r.first_hit).all() and list(qfr.columns) == [
            "pid", "camid", "ap", "inp", "first_hit", "valid", "path"]
        d = ev.distance(setting)
        for i in range(len(q)):
            top = ev.ranking(setting, i, top_k=5)
            assert list(top.index) == [1, 2, 3, 4, 5] and top.index.name == "rank"
            keep = valid_gallery_mask(q[i].pid, q[i].camid, np.array([x.pid for x in g]), np.array([x.camid for x in g]))
            cand = np.flatnonzero(keep)
            order = cand[np.argsort(d[i].numpy()[cand], kind="stable")][:5]
            assert top["gallery_index"].tolist() == order.tolist()
            assert top["correct"].tolist() == [g[j].pid == q[i].pid for j in order]
            assert top["path"].tolist() == [g[j].path for j in order]
            assert not ((top["pid"] == q[i].pid) & (top["camid"] == q[i].camid)).any()
            if qfr.loc[i, "valid"] and qfr.loc[i, "first_hit"] <= 5:  # first correct row = first-hit rank
                assert top["correct"].to_numpy().argmax() + 1 == qfr.loc[i, "first_hit"]
    with pytest.raises(ConfigError, match="q_index=999"):
        ev.ranking("single-query", 999)


def test_valid_gallery_mask_is_the_junk_rule():
    gp = np.array([5, 5, 5, 0, -1, 7])
    gc = np.array([0, 1, 0, 0, 1, 0])
    assert valid_gallery_mask(5, 0, gp, gc).tolist() == [False, True, False, True, False, True]
    assert valid_gallery_mask(0, 0, gp, gc).tolist() == [True, True, True, False, False, True]  # 0 is an identity too
    both = valid_gallery_mask(torch.tensor([5, 7]), torch.tensor([0, 0]), torch.from_numpy(gp), torch.from_numpy(gc))
    assert isinstance(both, torch.Tensor) and both.shape == (2, 6)
    assert both[1].tolist() == [True, True, True, True, False, False]
    # viz uses it: junk flags of a ranking are exactly the complement of the mask
    from reidlab.viz.retrieval import ranked_gallery

    recs = [Rec("x", int(p), int(c), None) for p, c in zip(gp, gc)]
    flags = dict(ranked_gallery(np.arange(6.0), Rec("q", 5, 0, None), recs))
    assert [flags[j] for j in range(6)] == [True, False, True, False, True, False]


def test_evaluator_is_a_thin_wrapper():
    qf, gf, q, g, _, _, train = make_set(4)
    st = STModel.from_records(train, sigma=2)
    ev = Evaluation(qf, gf, q, g, st_model=st, metric="cosine")
    qp, qc, qfr = labels(q)
    gp, gc, gfr = labels(g)
    for kwargs, setting in (({}, "single-query"), ({"rerank": True, "qe": True}, "qe+rerank"),
                            ({"st": st, "rerank": True}, "st+rerank")):
        e = Evaluator(metric="cosine", **kwargs)
        assert e.setting == setting
        e.process(gf[:10], gp[:10], gc[:10], is_query=False, frames=gfr[:10])
        e.process(qf, qp, qc, is_query=True, frames=qfr)
        e.process(gf[10:], gp[10:], gc[10:], is_query=False, frames=gfr[10:])
        assert e.evaluate().mAP == pytest.approx(ev.result(setting).mAP, abs=1e-7)
