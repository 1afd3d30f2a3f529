"""reidlab.viz: every figure renders to a non-trivial PNG; Grad-CAM behaves (maps depend on
the target, the model's state is restored, methods by name); galleries follow the junk rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reidlab.data.records import ImageRecord
from reidlab.errors import ConfigError
from reidlab import viz
from reidlab.viz import common


# --------------------------------------------------------------------------- helpers


def png_stats(fig) -> tuple[int, float, tuple[int, int]]:
    """(PNG bytes, pixel std, (h, w)) of a rendered figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    data = buf.getvalue()
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
    return len(data), float(arr.std()), arr.shape[:2]


def assert_nontrivial(fig, panels: int, min_bytes: int = 3000) -> None:
    size, std, _ = png_stats(fig)
    assert size > min_bytes, size
    assert std > 5.0, std
    assert len(fig.axes) == panels, [ax.get_title() for ax in fig.axes]


class StripeNet(nn.Module):
    """Stand-in for a reidlab part model (contract of reidlab.models.base): a global feature
    and 3 horizontal stripes, concatenated as the eval test feature; training mode returns
    named logits (with a BN + dropout in the global head); explain() runs without grad like
    the real models."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.reduce = nn.Linear(16, 8)
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.5)
        self.cls_g = nn.Linear(8, num_classes)
        self.cls_p = nn.Linear(8, num_classes)
        self.feature_dim = 32

    def cam_target_layers(self):
        return [self.backbone[-1]]

    def _parts(self, x):
        fm = self.backbone(x)
        g = self.reduce(fm.mean((2, 3)))
        return fm, g, [self.reduce(s.mean((2, 3))) for s in fm.chunk(3, dim=2)]

    def forward(self, x, keypoints=None):
        fm, g, stripes = self._parts(x)
        if self.training:
            return {"logits": {"global": self.cls_g(self.drop(self.bn(g))), "part1": self.cls_p(stripes[0])},
                    "embeddings": {"global": g}}
        return torch.cat([g] + stripes, 1)

    @torch.no_grad()
    def explain(self, x, keypoints=None):
        fm, g, stripes = self._parts(x)
        out = {"feature_map": fm, "part_features": torch.stack(stripes, 1)}
        b, c, h, w = fm.shape
        f = fm.flatten(2)
        out["nonlocal_affinity"] = torch.softmax(f.transpose(1, 2) @ f, dim=-1)  # [B, hw, hw]
        out["tsa_maps"] = torch.sigmoid(torch.stack([fm.mean(1), fm.amax(1) - 1.0], 1))  # [B, 2, h, w]
        out["part_weights"] = torch.sigmoid(torch.stack([fm[:, :, k * 4:(k + 1) * 4].mean((2, 3))
                                                         for k in range(4)], 1))  # LGEU-like [B, 4, C]
        return out


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = StripeNet()
    m.eval()
    return m


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return [torch.randn(3, 64, 32, generator=g) for _ in range(3)]


# --------------------------------------------------------------------------- Grad-CAM


def test_unknown_method_is_one_line_error_listing_methods(model, images):
    with pytest.raises(ConfigError) as e:
        viz.gradcam_similarity(model, images[0], images[1], method="gradcam+++")
    msg = str(e.value)
    assert "\n" not in msg and "gradcam+++" in msg
    for name in ("gradcam", "gradcam++", "scorecam", "eigencam"):
        assert name in msg


def test_similarity_cam_depends_on_the_gallery_image(model, images):
    q, g1, g2 = images
    a = viz.similarity_cams(model, q, g1)
    b = viz.similarity_cams(model, q, g2)
    again = viz.similarity_cams(model, q, g1)
    assert a.query_cam.shape == (64, 32) and a.query_cam.dtype == np.float32
    assert 0.0 <= a.query_cam.min() and a.query_cam.max() <= 1.0 + 1e-6
    assert np.abs(a.query_cam - b.query_cam).max() > 0.1  # other gallery -> other explanation
    np.testing.assert_allclose(a.query_cam, again.query_cam, atol=1e-6)  # deterministic
    with torch.no_grad():
        fq, fg = model(q[None])[0], model(g1[None])[0]
    assert a.similarity == pytest.approx(float(torch.cosine_similarity(fq, fg, dim=0)), abs=1e-5)


def test_model_mode_and_grads_are_restored(model, images):
    model.train()
    model.backbone[1].eval()  # a mixed state must come back exactly
    marker = torch.ones_like(model.cls_g.weight)
    model.cls_g.weight.grad = marker
    modes = {n: m.training for n, m in model.named_modules()}
    try:
        viz.similarity_cams(model, images[0], images[1])
        viz.identity_cam(model, images[0])
        viz.part_cams(model, images[0])
        assert {n: m.training for n, m in model.named_modules()} == modes
        assert model.cls_g.weight.grad is marker
        assert all(p.grad is None for n, p in model.named_parameters() if n != "cls_g.weight")
        assert model.bn.num_batches_tracked.item() == 0  # BN statistics untouched by the logit CAM
    finally:
        model.eval()
        model.cls_g.weight.grad = None


def test_grad_cam_works_under_no_grad(model, images):
    with torch.no_grad():
        r = viz.similarity_cams(model, images[0], images[1])
    assert r.query_cam.max() > 0


def test_method_selection_by_name(model, images):
    from reidlab.viz.gradcam import cam_class

    assert cam_class("GradCAM++").__name__ == "GradCAMPlusPlus"
    assert cam_class("eigencam").__name__ == "EigenCAM"
    target = [viz.SimilarityTarget(torch.ones(32))]
    maps = {m: viz.compute_cam(model, images[0], target, method=m)[0] for m in ("gradcam", "gradcam++", "eigencam")}
    assert np.abs(maps["gradcam"] - maps["eigencam"]).max() > 0.05
    assert np.abs(maps["gradcam"] - maps["gradcam++"]).max() > 1e-3


def test_identity_cam_uses_predicted_class_and_named_head(model, images):
    r = viz.identity_cam(model, images[0], head="global")
    model.train()
    for m in (model.bn, model.drop, *model.backbone):
        m.eval()
    with torch.no_grad():
        logits = model(images[0][None])["logits"]["global"][0]
    model.eval()
    assert r.target_class == int(logits.argmax()) == r.predicted
    assert r.logit == pytest.approx(float(logits[r.target_class]), abs=1e-5)
    other = viz.identity_cam(model, images[0], target_class=(r.predicted + 1) % 5, head="global")
    assert np.abs(other.cam - r.cam).max() > 0.05
    with pytest.raises(ConfigError, match="choose one of \\['global', 'part1'\\]"):
        viz.identity_cam(model, images[0], head="nope")
    with pytest.raises(ConfigError, match="target_class=7"):
        viz.identity_cam(model, images[0], target_class=7, head="global")


def test_constant_map_raises_clear_error(model, images):
    def flat(output):
        return output.sum() * 0.0

    with pytest.raises(viz.CamError, match="constant"):
        viz.compute_cam(model, images[0], [flat])


def test_part_maps_sit_in_their_stripes(model, images):
    r = viz.part_cams(model, images[0])
    assert r.cams.shape == (3, 64, 32) and r.labels == ["part 1", "part 2", "part 3"]
    # hand check of the scores: the norm of each stripe feature
    parts = model.explain(images[0][None])["part_features"][0]
    np.testing.assert_allclose(r.scores, parts.norm(dim=1).numpy(), rtol=1e-5)
    bands = np.array_split(np.arange(64), 3)
    for p in range(3):
        inside = r.cams[p][bands[p]].mean()
        outside = np.delete(r.cams[p], bands[p], axis=0).mean()
        assert inside > 2 * outside, (p, inside, outside)


def test_gradcam_figures_render(model, images):
    assert_nontrivial(viz.gradcam_similarity(model, images[0], images[1]), panels=4)
    assert_nontrivial(viz.gradcam_identity(model, images[0]), panels=2)
    assert_nontrivial(viz.gradcam_parts(model, images[0], images[1]), panels=4)


# --------------------------------------------------------------------------- retrieval


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """4 queries, 10 gallery images (solid colours + noise); pids/cams chosen for the junk rule."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)

    def rec(name, pid, cam):
        arr = (rng.random((32, 16, 3)) * 80 + rng.integers(0, 170, 3)).astype(np.uint8)
        path = root / f"{name}.png"
        Image.fromarray(arr).save(path)
        return ImageRecord(str(path), pid, cam, None, pid)

    q = [rec("q0", 1, 0), rec("q1", 2, 0), rec("q2", 3, 0), rec("q3", 6, 1)]  # q3: no match
    g = [rec("g0", 1, 0),   # junk for q0 (same id, same camera)
         rec("g1", 1, 1), rec("g2", 2, 1), rec("g3", 3, 0), rec("g4", 0, 2),
         rec("g5", -1, 2),  # junk for everyone
         rec("g6", 2, 2), rec("g7", 3, 2), rec("g8", 4, 0), rec("g9", 5, 1)]
    d = np.array([
        [0.1, 0.5, 0.2, 0.9, 0.3, 0.05, 0.8, 0.7, 0.6, 0.4],
        [0.9, 0.8, 0.1, 0.2, 0.3, 0.40, 0.5, 0.6, 0.7, 0.75],
        [0.5, 0.6, 0.7, 0.8, 0.1, 0.20, 0.3, 0.9, 0.4, 0.05],
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.40, 0.3, 0.2, 0.1, 0.05],
    ])
    return q, g, d


def test_ranked_gallery_marks_junk_and_is_stable(gallery):
    q, g, d = gallery
    ranking = viz.ranked_gallery(d[0], q[0], g)
    assert ranking[:3] == [(5, True), (0, True), (2, False)]
    tie = viz.ranked_gallery(np.zeros(10), q[1], g)
    assert [j for j, _ in tie] == list(range(10))


def test_plot_retrieval_hides_junk_and_colours_borders(gallery):
    q, g, d = gallery
    fig = viz.plot_retrieval(d, q, g, q_index=0, top_k=4)
    assert_nontrivial(fig, panels=5)
    titles = [ax.get_title() for ax in fig.axes[1:]]
    assert titles == ["#1", "#2", "#3", "#4"]
    # order without junk (g5, g0): g2 0.2, g4 0.3, g9 0.4, g1 0.5 (the match)
    assert [ax.get_xlabel().split("\n")[0] for ax in fig.axes[1:]] == ["d=0.2", "d=0.3", "d=0.4", "d=0.5"]
    colours = [ax.spines["top"].get_edgecolor() for ax in fig.axes[1:]]
    from matplotlib.colors import to_rgba

    assert colours == [to_rgba(common.MISMATCH_COLOR)] * 3 + [to_rgba(common.MATCH_COLOR)]
    grey = viz.plot_retrieval(d, q, g, q_index=0, top_k=4, junk="grey")
    assert [ax.get_title() for ax in grey.axes[1:]] == ["junk", "junk", "#1", "#2"]


def test_plot_retrieval_errors(gallery):
    q, g, d = gallery
    with pytest.raises(ConfigError, match=r"expected shape \[num_query, num_gallery\] = \[4, 10\]"):
        viz.plot_retrieval(d[:, :5], q, g, 0)
    with pytest.raises(ConfigError, match="q_index=9"):
        viz.plot_retrieval(d, q, g, 9)


def test_retrieval_comparison_rows_and_score_direction(gallery):
    q, g, d = gallery
    score = 1.0 - d
    score[0, 1] = 5.0  # the true match first when ranked by score (descending)
    fig = viz.plot_retrieval_comparison({"dist": d, "ST joint": score}, q, g, q_index=0, top_k=3,
                                        higher_is_better=("ST joint",))
    assert_nontrivial(fig, panels=2 * 4)
    row2 = fig.axes[4:]
    assert row2[0].get_title() == "ST joint\nAP=1.00"
    assert row2[1].get_xlabel().startswith("s=5")
    assert fig.axes[0].get_title() == "dist\nAP=0.25"  # match at rank 4 of the non-junk ranking


def test_worst_queries_sorted_by_ap(gallery):
    q, g, d = gallery
    fig = viz.plot_worst_queries(d, q, g, n=3, top_k=3)
    assert_nontrivial(fig, panels=3 * 5)
    # hand APs: q0 match g1 at rank 4 -> 0.25; q1 matches g2 (#1), g6 (#4) -> (1 + 2/4)/2 = 0.75;
    # q2 match g7 at rank 8 (g9 g4 g6 g8 g0 g1 g2 before it; g3 same camera = junk, g5 junk)
    # -> 1/8; q3 has no valid match and is skipped
    labels = [fig.axes[r * 5].get_title() for r in range(3)]
    assert labels == [f"q2  AP={1 / 8:.2f}", "q0  AP=0.25", "q1  AP=0.75"]
    assert fig.axes[4].get_title() == "first match\n#8"


# --------------------------------------------------------------------------- curves


def test_plot_cmc_values_and_legend():
    from reidlab.eval.metrics import RankResult

    cmc = np.linspace(0.5, 1.0, 30)
    rr = RankResult(cmc=cmc, mAP=0.4, mINP=0.1, num_valid=3, num_skipped=0,
                    all_ap=np.zeros(3), all_inp=np.zeros(3))
    fig = viz.plot_cmc({"a": rr, "b": np.full(10, 0.25)}, max_rank=20)
    assert_nontrivial(fig, panels=1)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 100 * cmc[:20])
    assert len(ax.lines[1].get_xdata()) == 10
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (R1 50.0, mAP 40.0)", "b (R1 25.0)"]
    with pytest.raises(ConfigError, match="fractions"):
        viz.plot_cmc({"pct": np.array([50.0, 80.0])})


def test_plot_training_curves_from_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "epoch,loss,lr,rank1,mAP\n1,3.0,0.1,,\n2,2.0,0.1,0.5,0.3\n3,1.5,0.01,,\n4,1.0,0.01,0.8,0.6\n")
    fig = viz.plot_training_curves(run)
    assert_nontrivial(fig, panels=3)
    loss_ax, lr_ax, r1_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [3.0, 2.0, 1.5, 1.0])
    assert lr_ax.get_yscale() == "log"
    np.testing.assert_allclose(r1_ax.lines[0].get_xdata(), [2, 4])        # evaluated epochs only
    np.testing.assert_allclose(r1_ax.lines[0].get_ydata(), [50.0, 80.0])  # fractions shown in %
    np.testing.assert_allclose(r1_ax.lines[1].get_ydata(), [30.0, 60.0])  # mAP dashed
    from types import SimpleNamespace

    two = viz.plot_training_curves({"a": run, "b": SimpleNamespace(path=run)})  # a folder and a Run-like
    assert len(two.axes[0].lines) == 2
    with pytest.raises(ConfigError, match="no column"):
        viz.plot_training_curves(run, metrics=("loss", "accuracy"))
    with pytest.raises(ConfigError, match="no metrics.csv"):
        viz.plot_training_curves(tmp_path / "missing")


# --------------------------------------------------------------------------- own attention


def test_tsa_maps_figure(model, images):
    fig = viz.plot_tsa_maps(model, images[0])
    assert_nontrivial(fig, panels=1 + 2 + 1)  # image, 2 branches, colour bar
    m = model.explain(images[0][None])["tsa_maps"][0, 1]
    assert fig.axes[2].get_title() == f"branch 2\n{float(m.min()):.2f}..{float(m.max()):.2f}"


def test_nonlocal_affinity_row_of_the_chosen_position(model, images):
    fig = viz.plot_nonlocal_affinity(model, images[0], position=(40, 20))
    assert_nontrivial(fig, panels=3)
    aff = model.explain(images[0][None])["nonlocal_affinity"][0]  # grid 16 x 8 for 64 x 32
    i, j = 40 * 16 // 64, 20 * 8 // 32
    shown = fig.axes[1].images[1].get_array()
    np.testing.assert_allclose(shown, aff[i * 8 + j].reshape(16, 8).numpy(), rtol=1e-6)
    assert fig.axes[1].get_title() == f"affinity (cell {i},{j} of 16x8)"
    with pytest.raises(ConfigError, match="outside the 64x32 image"):
        viz.plot_nonlocal_affinity(model, images[0], position=(70, 3))


def test_lgeu_weights_figure(model, images):
    fig = viz.plot_lgeu_weights(model, images[0])
    assert_nontrivial(fig, panels=4)  # image, matrix, colour bar, bars
    v = model.explain(images[0][None])["part_weights"][0].numpy()
    order = np.argsort(-v.mean(0), kind="stable")
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), v[:, order], rtol=1e-6)
    bars = [p.get_width() for p in fig.axes[2].patches]  # axes: image, matrix, bars, colour bar
    np.testing.assert_allclose(bars, v.mean(1), rtol=1e-6)


def test_stripe_contributions_are_additive():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    cos = viz.stripe_contributions(q, g)
    qf, gf = q.ravel(), g.ravel()
    assert cos.sum() == pytest.approx(qf @ gf / np.linalg.norm(qf) / np.linalg.norm(gf))
    assert cos[2] == pytest.approx(q[2] @ g[2] / np.linalg.norm(qf) / np.linalg.norm(gf))
    d = viz.stripe_contributions(q, g, "sqeuclidean")
    assert d.sum() == pytest.approx(((qf - gf) ** 2).sum())
    with pytest.raises(ConfigError, match="measure='l1'"):
        viz.stripe_contributions(q, g, "l1")


def test_stripe_contribution_figure(model, images):
    fig = viz.plot_stripe_contribution(model, images[0], images[1])
    assert_nontrivial(fig, panels=3)
    ex = [model.explain(x[None])["part_features"][0].numpy() for x in images[:2]]
    bars = [p.get_width() for p in fig.axes[2].patches]
    np.testing.assert_allclose(bars, viz.stripe_contributions(*ex), rtol=1e-5)
    with torch.no_grad():
        total = torch.cosine_similarity(model(images[0][None])[0, 8:], model(images[1][None])[0, 8:], dim=0)
    assert f"{float(total):.3f}" in fig.get_suptitle()  # stripes = test feature after the global 8 dims


def test_pose_boxes_figure(images):
    kp = np.zeros((18, 3))
    kp[:, 0] = np.linspace(4, 28, 18)
    kp[:, 1] = np.linspace(4, 60, 18)
    kp[:, 2] = 1
    kp[4, 2] = 0  # right wrist missing: limb (3, 4) not drawn
    boxes = np.array([[4, 2, 28, 14], [2, 14, 30, 36], [2, 36, 30, 62]], dtype=float)
    fig = viz.plot_pose_boxes(images[0], kp, boxes)
    assert_nontrivial(fig, panels=1)
    ax = fig.axes[0]
    assert len(ax.lines) == 16  # 17 limbs, one with a missing end
    assert len(ax.patches) == 3 and [t.get_text() for t in ax.texts] == ["head", "trunk", "lower limb"]
    with pytest.raises(ConfigError, match=r"expected \[18, 3\]"):
        viz.plot_pose_boxes(images[0], kp[:17])


# --------------------------------------------------------------------------- spatial-temporal


@pytest.fixture(scope="module")
def st_model():
    """Fitted on hand-made transits: 8 people c1 -> c2 after 420..490 frames (bin 4), 5 people
    c2 -> c3 after 1010..1050 frames (bin 10); nobody walks into c1 or from c1 to c3."""
    from reidlab.eval.st import STModel

    pids, cams, frames = [], [], []
    for k in range(8):
        pids += [k, k]
        cams += [0, 1]
        frames += [1000 * k, 1000 * k + 420 + 10 * k]
    for k in range(5):
        pids += [20 + k, 20 + k]
        cams += [1, 2]
        frames += [500 * k, 500 * k + 1010 + 10 * k]
    return STModel.fit(pids, cams, frames, bin_size=100, sigma=1.5)


def test_typical_transit_and_matrix(st_model):
    m = viz.typical_transit(st_model)
    assert m[0, 1] == 450.0 and m[1, 2] == 1050.0  # centre of the peak bin, frames, [from, to]
    assert np.isnan(m[1, 0]) and np.isnan(m[0, 2]) and np.isnan(m[1, 1])
    fig = viz.plot_st_matrix(st_model)
    assert_nontrivial(fig, panels=2)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["18", "42"]  # seconds at 25 fps
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["c1", "c2", "c3"]
    with pytest.raises(ConfigError, match="stat='median'"):
        viz.typical_transit(st_model, "median")


def test_st_histograms_panels(st_model):
    fig = viz.plot_st_histograms(st_model)
    assert_nontrivial(fig, panels=2 * 2)  # the 2 pairs with evidence, each with its density twin axis
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert sorted(titles) == ["c1 \u2192 c2  (n=8)", "c2 \u2192 c3  (n=5)"]
    ax = next(a for a in fig.axes if a.get_title().startswith("c1"))
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights[4] == 1.0 and heights.sum() == 1.0  # all 8 transits in bin 4
    assert ax.patches[0].get_width() == pytest.approx(100 / 25)  # one bin = 4 s
    twin = next(a for a in fig.axes if a is not ax and a.bbox.bounds == ax.bbox.bounds)
    line = twin.lines[0].get_ydata()
    np.testing.assert_allclose(line, st_model.table[1, 0].numpy())  # [later c2, earlier c1]
    assert line.sum() == pytest.approx(1.0) and int(np.argmax(line)) == 4
    two = viz.plot_st_histograms(st_model, pairs=[(0, 1), (2, 0)], unit="frames")
    assert len(two.axes) == 2 * 2 and "frames" in two.get_supxlabel()
    with pytest.raises(ConfigError, match="camera 5: not in the ST model"):
        viz.plot_st_histograms(st_model, pairs=[(0, 5)])
    with pytest.raises(ConfigError, match="not a fitted ST model"):
        viz.plot_st_histograms(object())


def test_st_joint_rank_lines():
    s = np.array([0.9, 0.8, 0.2, 0.5])
    p = np.array([0.0, 0.4, 0.3, 0.05])
    fig = viz.plot_st_joint(s, p, gallery_pids=[1, 2, 2, 3], query_pid=2, top_k=3)
    assert_nontrivial(fig, panels=3)
    # joint = 1/(1+e^-5s) * 1/(1+2e^-5p): g0 0.330, g1 0.773, g2 0.505, g3 0.361
    # visual ranks g0..g3: 1, 2, 4, 3; joint ranks: 4, 1, 2, 3
    lines = fig.axes[1].lines  # axes: scatter, rank lines, colour bar
    assert [list(ln.get_ydata()) for ln in lines] == [[2, 1], [4, 2], [3, 3], [1, 4]]
    from matplotlib.colors import to_hex

    assert [to_hex(ln.get_color()) for ln in lines] == ["#1a9850", "#1a9850", "#d62728", "#bbbbbb"]
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert labels == ["g1  p=0.4 \u2713", "g2  p=0.3 \u2713", "g3  p=0.05"]
    with pytest.raises(ConfigError, match="expected the same length"):
        viz.plot_st_joint(s, p[:3])


# --------------------------------------------------------------------------- the real models (tiny widths)


@pytest.fixture(scope="module")
def real():
    from reidlab.models import create_model

    torch.manual_seed(0)
    kw = dict(backbone="resnet18", backbone_width=0.125)
    models = {name: create_model(name, 10, **kw).eval() for name in ("pfn", "mgwp", "lgeu")}
    models["jlpose"] = create_model("jlpose", 10, backbone_width=0.125).eval()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(3, 128, 64, generator=g), torch.randn(3, 128, 64, generator=g)
    kp = np.zeros((18, 3), np.float32)
    kp[:, 0] = np.linspace(16, 48, 18)
    kp[:, 1] = np.linspace(8, 120, 18)
    kp[:, 2] = 1
    return models, x, y, kp


def test_pfn_identity_head_and_state_untouched(real):
    models, x, _, _ = real
    pfn = models["pfn"]
    before = {k: v.clone() for k, v in pfn.state_dict().items()}
    r = viz.identity_cam(pfn, x)
    assert r.head == "global5"  # global4 reads layer3, so it cannot be explained at layer4
    with pytest.raises(viz.CamError, match="no gradient of the target reaches the target layer.*layer4"):
        viz.identity_cam(pfn, x, head="global4")
    after = pfn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert not pfn.training and all(p.grad is None for p in pfn.parameters())


def test_pfn_part_maps(real):
    models, x, y, _ = real
    pfn = models["pfn"]
    r = viz.part_cams(pfn, x, y)
    assert r.labels == pfn.names == ["global4", "global5"] + [f"part{k}" for k in range(1, 7)]
    assert not r.cams[0].any()  # global4: no evidence at layer4 -> all-zero map, not an error
    ex = [pfn.explain(t[None])["part_features"][0] for t in (x, y)]
    np.testing.assert_allclose(r.scores, torch.cosine_similarity(ex[0], ex[1], dim=1).numpy(), rtol=1e-4)
    rows = np.arange(128)
    band = rows * 6 // 128
    lit = 0
    for k in range(6):
        cam = r.cams[2 + k]
        if cam.any():
            lit += 1
            assert cam[band == k].mean() > 3 * cam[band != k].mean(), k
    assert lit >= 3
    assert_nontrivial(viz.gradcam_parts(pfn, x, y), panels=9)


def test_jlpose_part_maps_stay_in_their_boxes(real):
    models, x, y, kp = real
    jl = models["jlpose"]
    r = viz.part_cams(jl, x, keypoints=kp)
    assert r.labels == ["head", "trunk", "lower limb"] and r.source == "segments"
    boxes = jl.explain(x[None], keypoints=torch.from_numpy(kp)[None])["part_boxes"][0].numpy()
    np.testing.assert_allclose(r.boxes, boxes)
    assert sum(bool(c.any()) for c in r.cams) >= 2
    for k in range(3):
        x1, y1, x2, y2 = boxes[k].astype(int)
        inside = np.zeros((128, 64), bool)
        inside[y1:y2, x1:x2] = True
        if r.cams[k].any():
            assert r.cams[k][inside].mean() > 2 * r.cams[k][~inside].mean(), k
    assert_nontrivial(viz.gradcam_similarity(jl, x, y, query_keypoints=kp, gallery_keypoints=kp), panels=4)


def test_mgwp_and_lgeu_attention_figures(real):
    models, x, y, _ = real
    assert_nontrivial(viz.plot_tsa_maps(models["mgwp"], x), panels=1 + 4 + 1)
    assert_nontrivial(viz.plot_nonlocal_affinity(models["mgwp"], x), panels=3)
    assert_nontrivial(viz.gradcam_parts(models["mgwp"], x), panels=7)
    assert_nontrivial(viz.plot_lgeu_weights(models["lgeu"], x), panels=4)
    r = viz.part_cams(models["lgeu"], x)
    assert r.source == "part_weights" and len(r.labels) == 4
    v = models["lgeu"].explain(x[None])["part_weights"][0]
    np.testing.assert_allclose(r.scores, v.mean(dim=1).numpy(), rtol=1e-5)


def test_tsa_maps_are_labelled_with_the_paper_branch_numbers():
    """An MGWP without branch 1 ("w/o branch 1" of the C-P2 ablation) labels its three maps
    2, 3, 4 -- the paper's numbers -- not 1, 2, 3."""
    from reidlab.models import create_model

    torch.manual_seed(0)
    m = create_model("mgwp", 10, backbone="resnet18", backbone_width=0.25, ms_branches=[2, 3, 4]).eval()
    x = torch.randn(3, 128, 64, generator=torch.Generator().manual_seed(2))
    fig = viz.plot_tsa_maps(m, x)
    assert_nontrivial(fig, panels=1 + 3 + 1)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[1:4]] == ["branch 2", "branch 3", "branch 4"]
