"""reidlab.viz.explore: the explorers' state logic (headless) and their widget layers.

The retrieval tests use a hand-made evaluation with 1-D features, so every ranking, first
hit and AP below is worked out by hand (squared euclidean distance, junk rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_hex
from PIL import Image

from reidlab.data.records import ImageRecord
from reidlab.errors import ConfigError
from reidlab.eval import Evaluation, STModel
from reidlab.viz import explore as E

# gallery: (pid, camid, x); g2 is junk for queries of id 1 in camera 0, g5 (id -1) for all
GALLERY = [(1, 1, 0.0), (2, 1, 1.0), (1, 0, 0.1), (3, 0, 2.0), (0, 2, 1.1), (-1, 1, 2.05)]
# queries: (pid, camid, x)
QUERIES = [(1, 0, 0.05), (2, 0, 1.08), (3, 1, 1.9), (1, 2, 1.0), (7, 0, 0.5)]
# by hand (squared distances, junk removed):
#  q0: g0 .0025 (id 1 ok) -> first hit 1, AP 1 (g2 is junk)
#  q1: g4 .0004 (id 0), g1 .0064 (id 2 ok) -> first hit 2, AP 1/2
#  q2: g3 .01 (id 3 ok) -> first hit 1, AP 1 (g5 junk)
#  q3: g1 0, g4 .01, g2 .81 (ok), g0 1.0 (ok) -> first hit 3, AP (1/3 + 2/4) / 2 = 5/12
#  q4: id 7 has no gallery image -> skipped (first hit 0, AP NaN)
FAILURES = [1, 3]
WORST_FIRST = [3, 1, 0, 2, 4]


def _write_images(folder, specs, prefix):
    recs = []
    for i, (pid, cam, x) in enumerate(specs):
        path = folder / f"{prefix}{i}.png"
        colour = (int(40 * i) % 255, int(200 * (x / 2.1)), 90 + 30 * cam)
        Image.new("RGB", (16, 32), colour).save(path)
        recs.append(ImageRecord(path=str(path), pid=pid, camid=cam, frame=None, orig_pid=pid))
    return recs


@pytest.fixture()
def ev(tmp_path):
    q = _write_images(tmp_path, QUERIES, "q")
    g = _write_images(tmp_path, GALLERY, "g")
    qf = torch.tensor([[x] for _, _, x in QUERIES])
    gf = torch.tensor([[x] for _, _, x in GALLERY])
    return Evaluation(qf, gf, q, g, metric="euclidean", rerank_params={"k1": 3, "k2": 1, "lambda_value": 0.3},
                      qe_params={"top_k": 2})


# --------------------------------------------------------------------------- retrieval: state


def test_only_failures_lists_exactly_the_queries_whose_first_hit_is_not_rank_1(ev):
    s = E.RetrievalState(ev, settings=["single-query"])
    assert s.query_frame()["first_hit"].tolist() == [1, 2, 1, 3, 0]
    assert s.queries() == [0, 1, 2, 3, 4]
    s.set_filters(only_failures=True)
    assert s.queries() == FAILURES == s.failures()
    assert s.query == 1
    s.next()
    assert s.query == 3
    s.next()  # stays on the last
    assert s.query == 3 and s.position == 1


def test_worst_ap_first_order_and_per_scoring_scores(ev):
    s = E.RetrievalState(ev, settings=["single-query", "rerank"])
    s.set_filters(order="worst-ap")
    assert s.queries() == WORST_FIRST
    s.set_query(3)
    sc = s.scores()
    assert list(sc.index) == ["single-query", "rerank"]
    assert sc.loc["single-query", "ap"] == pytest.approx(5 / 12)
    assert sc.loc["single-query", "first_hit"] == 3
    assert sc.loc["single-query", "label"] == "plain" and sc.loc["rerank", "label"] == "re-ranked"
    rr = ev.query_frame("rerank")
    assert sc.loc["rerank", "ap"] == pytest.approx(rr["ap"].iat[3])
    assert sc.loc["rerank", "first_hit"] == rr["first_hit"].iat[3]


def test_camera_and_identity_filters_keep_the_query_when_they_can(ev):
    s = E.RetrievalState(ev, settings=["single-query"])
    assert s.cameras() == [0, 1, 2] and s.identities() == [1, 2, 3, 7]
    s.set_filters(camera=0)
    assert s.queries() == [0, 1, 4]
    s.set_filters(camera=None, identity=1)
    assert s.queries() == [0, 3]
    s.set_query(3)
    s.set_filters(camera=2)  # query 3 is in camera 2: stays
    assert s.queries() == [3] and s.query == 3
    s.set_filters(camera=0)  # no query of id 1 in camera 0 but query 0 -> moves to it
    assert s.queries() == [0] and s.query == 0
    s.set_filters(identity=2, camera=1)
    assert s.queries() == [] and s.query is None
    assert "no query passes the filters (cam 2, id 2)" in s.title()
    with pytest.raises(ConfigError, match="no query passes the filters"):
        s.figure()
    with pytest.raises(ConfigError, match="no query from that camera"):
        s.set_filters(camera=5)
    with pytest.raises(ConfigError, match="no query of that identity"):
        s.set_filters(identity=42)
    s.set_filters(camera=None, identity=None)
    with pytest.raises(ConfigError, match="query 9 is not in the list"):
        s.set_query(9)


def test_switching_the_scoring_ranks_with_evaluation_ranking(ev):
    s = E.RetrievalState(ev, top_k=4)
    assert s.settings == ev.available_settings() == ["single-query", "rerank", "qe"]
    differs = 0
    for q in range(4):
        s.set_query(q)
        plain = s.ranking()
        assert plain["gallery_index"].tolist() == {0: [0, 1, 4, 3], 1: [4, 1, 3, 2], 2: [3, 4, 1, 2],
                                                   3: [1, 4, 2, 0]}[q]
        for setting in ("rerank", "qe"):
            s.set_setting(setting)
            assert s.query == q and s.setting == setting
            pd.testing.assert_frame_equal(s.ranking(), ev.ranking(setting, q, top_k=4))
            differs += not s.ranking()["gallery_index"].equals(plain["gallery_index"])
        s.set_setting("single-query")
    assert differs > 0  # the scorings do change some ranking
    with pytest.raises(ConfigError, match="not one of this explorer's scorings"):
        s.set_setting("st")


def test_unavailable_setting_is_refused_with_the_reason(ev):
    with pytest.raises(ConfigError, match="'st' is not available.*spatial-temporal"):
        E.RetrievalState(ev, settings=["single-query", "st"])


def test_gallery_figure_carries_the_query_identity_and_the_ranking(ev):
    s = E.RetrievalState(ev, settings=["single-query"], top_k=3)
    s.set_query(1)
    fig = s.figure()
    assert fig._suptitle.get_text() == "query 1 \u00b7 id 2 \u00b7 cam 1 \u2014 plain: AP 0.50, first correct at #2"
    axes = fig.axes
    assert len(axes) == 1 + 3
    assert axes[0].get_title() == "query" and axes[0].get_xlabel() == "id 2\ncam 1"
    assert [ax.get_title() for ax in axes[1:]] == ["#1", "#2", "#3"]
    assert [ax.get_xlabel().split("\n")[0] for ax in axes[1:]] == ["id 0", "id 2", "id 3"]
    assert axes[1].get_xlabel() == "id 0\nd=0.0004\ncam 3"
    colours = [to_hex(ax.spines["top"].get_edgecolor()) for ax in axes[1:]]
    assert colours == [E.MISMATCH_COLOR, E.MATCH_COLOR, E.MISMATCH_COLOR]
    # first correct match beyond the top-k: an extra panel with its rank
    s.set_top_k(2)
    s.set_query(3)
    fig = s.figure()
    assert len(fig.axes) == 1 + 2 + 1
    assert fig.axes[-1].get_title() == "first match\n#3" and fig.axes[-1].get_xlabel().startswith("id 1\nd=0.81")
    assert "id 1 \u00b7 cam 3" in fig._suptitle.get_text()
    s.select_rank(2)
    assert s.figure().axes[2].get_title() == "\u25b6 #2"
    with pytest.raises(ConfigError, match="choose one of the 2 shown ranks"):
        s.select_rank(3)


def test_position_and_rank_reset_on_query_change(ev):
    s = E.RetrievalState(ev, settings=["single-query"])
    s.select_rank(1)
    assert s.selected_gallery() == 0
    s.next()
    assert s.query == 1 and s.selected_rank is None
    s.previous()
    s.previous()
    assert s.query == 0 and s.position == 0
    with pytest.raises(ConfigError, match="the list has 5 queries"):
        s.set_position(5)
    with pytest.raises(ConfigError, match="top_k=0"):
        s.set_top_k(0)


# --------------------------------------------------------------------------- Grad-CAM of a pair (a real tiny model)


@pytest.fixture(scope="module")
def tiny():
    from reidlab.models import create_model

    torch.manual_seed(0)
    kw = dict(backbone="resnet18", backbone_width=0.125)
    models = {name: create_model(name, 10, **kw).eval() for name in ("pfn", "mgwp", "lgeu")}
    models["jlpose"] = create_model("jlpose", 10, backbone_width=0.125).eval()
    return models


def _inputs(record):
    from reidlab.data import decode_image, eval_transform

    return eval_transform(decode_image(record.path), (128, 64))


def test_explain_pair_with_a_part_model_is_computed_once(ev, tiny):
    with pytest.raises(ConfigError, match="pass inputs=callable"):
        E.RetrievalState(ev, model=tiny["pfn"])
    s = E.RetrievalState(ev, settings=["single-query"], model=tiny["pfn"], inputs=_inputs)
    with pytest.raises(ConfigError, match="choose a rank first"):
        s.explain()
    s.set_query(1)
    s.select_rank(2)
    assert s.selected_gallery() == 1
    figs = s.explain()
    assert len(figs) == 2  # similarity side by side + one map per part (PFN)
    assert [ax.get_title() for ax in figs[0].axes[:2]] == ["query 1 (id 2)", "#2 (id 2)"]
    assert len(figs[1].axes) == 1 + 8
    misses = s._explanations.misses
    assert s.explain() is figs and s._explanations.misses == misses  # cached
    s.select_rank(1)
    assert s.explain() is not figs and s._explanations.misses == misses + 1


def test_explain_without_parts_and_without_model(ev, tiny):
    class Plain(torch.nn.Module):  # a model without parts: only the similarity maps
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.ReLU())

        def cam_target_layers(self):
            return [self.body[0]]

        def forward(self, x, keypoints=None):
            return self.body(x).mean((2, 3))

        def explain(self, x, keypoints=None):
            return {"feature_map": self.body(x)}

    s = E.RetrievalState(ev, settings=["single-query"], model=Plain().eval(), inputs=_inputs)
    s.select_rank(1)
    assert len(s.explain()) == 1
    s = E.RetrievalState(ev, settings=["single-query"])
    s.select_rank(1)
    with pytest.raises(ConfigError, match="no model to explain with"):
        s.explain()


# --------------------------------------------------------------------------- retrieval: widget layer (headless)


def test_retrieval_widget_follows_its_state(ev):
    widgets = pytest.importorskip("ipywidgets")
    ex = E.explore_retrieval(ev, top_k=3)
    assert isinstance(ex, widgets.VBox) and isinstance(ex.state, E.RetrievalState)
    assert ex.camera.label == "all" and ex.rank.label == "\u2014" and ex.where.value == "1 / 5"
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("RetrievalExplorer: an interactive widget (open the notebook in JupyterLab")
    assert "query 0 \u00b7 id 1 \u00b7 cam 1" in ex.header.value
    first = ex.gallery.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    ex.next_button.click()
    assert ex.state.query == 1 and "query 1 \u00b7 id 2 \u00b7 cam 1" in ex.header.value
    assert ex.gallery.value != first
    assert ex.prev_button.disabled is False
    ex.only_failures.value = True
    assert ex.state.queries() == FAILURES and ex.slider.max == 1 and ex.state.query == 1
    assert ex.where.value == "1 / 2"
    ex.slider.value = 1
    assert ex.state.query == 3 and ex.next_button.disabled
    ex.scoring.value = "rerank"
    assert ex.state.setting == "rerank" and "re-ranked" in ex.header.value
    ex.only_failures.value = False
    ex.camera.value = 2
    assert ex.state.queries() == [3]
    ex.camera.value = E._NONE  # "all"
    assert ex.state.camera is None and len(ex.state.queries()) == 5
    ex.rank.value = 1
    assert ex.cams.children == () and "no model to explain with" in ex.status.value
    ex.top_k.value = 5
    assert len(ex.rank.options) == 1 + 5  # q3 has 5 valid gallery images (g5 is junk)


def test_retrieval_widget_starts_from_the_given_filters(ev):
    pytest.importorskip("ipywidgets")
    ex = E.explore_retrieval(ev, only_failures=True, order="worst-ap", setting="qe", settings=["single-query", "qe"])
    assert ex.only_failures.value is True and ex.order.value == "worst-ap" and ex.scoring.value == "qe"
    f = ev.query_frame("qe")
    failures = [q for q in range(len(QUERIES)) if f["first_hit"][q] > 1]
    assert failures and ex.state.queries() == sorted(failures, key=lambda q: (f["ap"][q], q))


def test_retrieval_widget_shows_the_pair_maps(ev, tiny):
    pytest.importorskip("ipywidgets")
    ex = E.explore_retrieval(ev, model=tiny["lgeu"], inputs=_inputs, settings=["single-query"], top_k=3, query=2)
    assert ex.state.query == 2
    assert "choose a rank" in ex.status.value
    ex.rank.value = 1
    assert len(ex.cams.children) == 2 and all(c.value[:4] == b"\x89PNG" for c in ex.cams.children)
    assert "Grad-CAM of query 2 and rank #1" in ex.status.value
    ex.next_button.click()  # a new query clears the choice
    assert ex.state.selected_rank is None and ex.rank.value == E._NONE and ex.cams.children == ()


# --------------------------------------------------------------------------- attention


def _records(tmp_path, n=3):
    g = torch.Generator().manual_seed(1)
    recs = []
    for i in range(n):
        arr = (torch.rand(64, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        path = tmp_path / f"a{i}.png"
        Image.fromarray(arr).save(path)
        kp = np.zeros((18, 3), np.float32)
        kp[:, 0] = np.linspace(4, 28, 18)
        kp[:, 1] = np.linspace(4, 60, 18)
        kp[:, 2] = 1
        recs.append(ImageRecord(path=str(path), pid=i, camid=i % 2, frame=None, orig_pid=i, keypoints=kp))
    return recs


def _inputs_kp(record):
    from reidlab.engine.extract import records_keypoints

    return _inputs(record), records_keypoints([record], (128, 64))[0][0]


def test_attention_targets_follow_each_models_own_attention(tmp_path, tiny):
    s = E.AttentionState(tiny, _records(tmp_path), inputs=_inputs_kp)
    assert list(s.models) == ["pfn", "mgwp", "lgeu", "jlpose"] and s.model_name == "pfn"
    offered = {}
    for name in s.models:
        s.set_model(name)
        offered[name] = s.targets()
    assert offered == {
        "pfn": ["identity", "similarity", "parts"],
        "mgwp": ["identity", "similarity", "parts", "tsa", "nonlocal"],
        "lgeu": ["identity", "similarity", "parts", "lgeu"],
        "jlpose": ["identity", "similarity", "parts", "pose"],
    }
    s.set_model("pfn")
    assert s.part_labels() == ["global4", "global5"] + [f"part{k}" for k in range(1, 7)]
    with pytest.raises(ConfigError, match="pfn does not offer it"):
        s.set_target("tsa")
    with pytest.raises(ConfigError, match="expected one of"):
        s.set_target("saliency")
    s.set_model("jlpose")
    assert s.part_labels() == ["head", "trunk", "lower limb"]


def test_attention_figures_per_target(tmp_path, tiny):
    s = E.AttentionState(tiny, _records(tmp_path), inputs=_inputs_kp)
    assert s.reference == 1
    panels = {("pfn", "identity"): 2, ("pfn", "similarity"): 4, ("pfn", "parts"): 9, ("mgwp", "tsa"): 6,
              ("mgwp", "nonlocal"): 3, ("lgeu", "lgeu"): 4, ("jlpose", "pose"): 1, ("jlpose", "parts"): 4}
    for (name, target), n in panels.items():
        s.set_model(name)
        s.set_target(target)
        fig = s.figure()
        assert len(fig.axes) == n, (name, target)
        assert s.figure() is fig  # cached
    s.set_model("pfn")
    s.set_target("identity")
    s.set_identity_class(3)
    assert "gradcam: id 3" in s.figure().axes[1].get_title()
    s.set_image(2)
    assert s.title() == "pfn: Grad-CAM: identity logit \u2014 image 2 \u00b7 id 2 \u00b7 cam 1"
    s.set_target("parts")
    s.set_part(3)
    fig = s.figure()
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("part2\ncos=")
    s.set_target("similarity")
    s.set_reference(None)
    with pytest.raises(ConfigError, match="needs a reference image"):
        s.figure()
    with pytest.raises(ConfigError, match="expected a record index in 0..2"):
        s.set_image(3)
    with pytest.raises(ConfigError, match="unknown Grad-CAM method"):
        s.set_method("magic")
    with pytest.raises(ConfigError, match="records is empty"):
        E.AttentionState(tiny["pfn"], [], inputs=_inputs)


def test_attention_widget(tmp_path, tiny):
    pytest.importorskip("ipywidgets")
    ex = E.explore_attention({"mgwp": tiny["mgwp"]}, _records(tmp_path), inputs=_inputs_kp, target="tsa")
    assert ex.model.layout.display == "none"  # one model: no picker
    assert [v for _, v in ex.target.options] == ["identity", "similarity", "parts", "tsa", "nonlocal"]
    assert "MGWP: tiny spatial attention" in ex.header.value and "image 0" in ex.header.value
    before = ex.figure.value
    ex.next_button.click()
    assert ex.state.index == 1 and "image 1 \u00b7 id 1" in ex.header.value and ex.figure.value != before
    ex.target.value = "parts"
    assert ex.part.layout.display == "" and len(ex.part.options) == 1 + 6
    ex.part.value = 0
    assert ex.state.part == 0 and ex.status.value == ""


# --------------------------------------------------------------------------- camera-time


@pytest.fixture()
def st_setup(tmp_path):
    # training walks: 6 identities 0 -> 1 taking 500 frames, 2 identities 1 -> 2 taking 2000 frames
    pids, cams, frames = [], [], []
    for i in range(6):
        pids += [i, i]
        cams += [0, 1]
        frames += [10_000 * i, 10_000 * i + 500]
    for i in range(6, 8):
        pids += [i, i]
        cams += [1, 2]
        frames += [10_000 * i, 10_000 * i + 2000]
    st = STModel.fit(pids, cams, frames, bin_size=100, sigma=1)

    def recs(specs, prefix):
        out = []
        for i, (pid, cam, frame) in enumerate(specs):
            path = tmp_path / f"{prefix}{i}.png"
            Image.new("RGB", (16, 32), (50 * i % 255, 80, 120)).save(path)
            out.append(ImageRecord(path=str(path), pid=pid, camid=cam, frame=frame, orig_pid=pid))
        return out

    q = recs([(5, 0, 1000)], "q")
    g = recs([(5, 1, 1500), (9, 1, 9000), (9, 2, 1000)], "g")
    qf = torch.tensor([[1.0, 0.0]])
    gf = torch.tensor([[0.5, 0.75 ** 0.5], [0.8, 0.6], [0.0, 1.0]])  # cosine 0.5, 0.8, 0.0
    return st, Evaluation(qf, gf, q, g, metric="cosine")


def test_st_pairs_and_the_moves_of_one_query(st_setup):
    st, ev = st_setup
    s = E.STState(st, ev, top_k=3)
    assert s.ev is not ev and s.ev.st_model is st  # a copy with this ST model
    assert s.pairs() == [(0, 1), (1, 2)]
    assert s.pair == (0, 1) and s.count() == 6 and s.count((1, 2)) == 2 and s.count((1, 0)) == 0
    fig = s.pair_figure()
    assert [ax.get_title() for ax in fig.axes[::2]] == ["c1 \u2192 c2  (n=6)"]
    s.set_pair(1, 2)
    assert fig is not s.pair_figure()
    with pytest.raises(ConfigError, match="not an ordered pair"):
        s.set_pair(0, 7)
    mv = s.moves()
    # joint = 1/(1+e^(-5s)) * 1/(1+2e^(-5p)): g0 (s .5, p > 0) beats g1 (s .8, p = 0: transit 8000 frames
    # was never seen) and g2 (s 0, no 0 -> 2 transits)
    assert mv["gallery_index"].tolist() == [0, 1, 2]
    assert mv["visual_rank"].tolist() == [2, 1, 3] and mv["moved"].tolist() == [1, -1, 0]
    assert mv["p_st"].iat[0] > 0 and mv["p_st"].iat[1] == 0 and mv["p_st"].iat[2] == 0
    np.testing.assert_allclose(mv["similarity"], [0.5, 0.8, 0.0], atol=1e-6)
    assert mv["correct"].tolist() == [True, False, False]
    assert mv["gallery_index"].tolist() == ev.with_st_model(st).ranking("st", 0, top_k=3)["gallery_index"].tolist()
    assert s.title().startswith("query 0 \u00b7 id 5 \u00b7 cam 1 \u2014 AP 0.50 \u2192 1.00 with ST")
    assert s.query_figure()._suptitle.get_text() == s.title()


def test_st_without_evaluation_and_widget(st_setup):
    st, ev = st_setup
    s = E.STState(st)
    assert s.query is None and s.title() == "no evaluation: camera pairs only"
    with pytest.raises(ConfigError, match="pass an evaluation"):
        s.moves()
    widgets = pytest.importorskip("ipywidgets")
    ex = E.explore_st(st, ev, top_k=3)
    assert isinstance(ex, widgets.VBox)
    assert "query 0 \u00b7 id 5" in ex.header.value and "g0" in ex.table.value and "+1" in ex.table.value
    before = ex.pair_figure.value
    ex.pair.value = (1, 2)
    assert ex.state.pair == (1, 2) and ex.pair_figure.value != before
    assert E.explore_st(st).state.ev is None
