"""Ablation switches change the computation; small modules have their known sizes; shared
layers and the jlpose part boxes against hand-computed cases."""

import pytest
import torch

from reidlab.errors import ConfigError
from reidlab.models import create_model
from reidlab.models.jlpose import PREDEFINED_REGIONS, part_boxes_from_keypoints, part_visibility, roi_max_pool
from reidlab.models.layers import (LGEUnit, NonLocalBlock, PartExcitation, TinySpatialAttention,
                                   WeightDrivenPartFusion, part_avg_pool, part_max_pool)

TINY = {"backbone": "resnet18", "backbone_width": 0.125}
X = torch.randn(2, 3, 128, 64)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def eval_feat(model, x=X, kp=None):
    model.eval()
    with torch.no_grad():
        return model(x, kp)


def test_pfn_switches():
    both = create_model("pfn", 5, **TINY)
    glob = create_model("pfn", 5, branches="global", **TINY)
    local = create_model("pfn", 5, branches="local", **TINY)
    no4 = create_model("pfn", 5, stage4_global=False, **TINY)
    four = create_model("pfn", 5, num_stripes=4, **TINY)
    assert (both.feature_dim, glob.feature_dim, local.feature_dim, no4.feature_dim, four.feature_dim) == (
        8 * 512, 2 * 512, 6 * 512, 7 * 512, 6 * 512)
    assert len({n_params(m) for m in (both, glob, local, no4, four)}) == 5
    assert [t.output for t in glob.loss_terms if t.kind == "triplet"] == ["global4", "global5"]
    assert not [t for t in local.loss_terms if t.kind == "triplet"]
    # Eq. 1's 1/P average over the part features
    assert all(t.weight == pytest.approx(1 / 8) for t in both.loss_terms if t.kind == "ce")
    assert eval_feat(local).shape == (2, 3072) and eval_feat(no4).shape == (2, 3584)
    torch.manual_seed(0)
    a = create_model("pfn", 5, **TINY)
    torch.manual_seed(0)
    relu = create_model("pfn", 5, stem_relu=True, **TINY)
    assert not torch.allclose(eval_feat(a), eval_feat(relu))


@pytest.mark.parametrize("switch", ["non_local", "multi_scale", "tsa", "part_fusion"])
def test_mgwp_each_module_switch_changes_parameters(switch):
    on = create_model("mgwp", 5, **TINY)
    off = create_model("mgwp", 5, **{switch: False}, **TINY)
    assert n_params(off) < n_params(on)


def test_mgwp_tsa_relu_option_reaches_every_tsa():
    m = create_model("mgwp", 5, tsa_relu=True, **TINY)
    assert [t.relu_before_sigmoid for t in m.multi_scale.tsas] == [True] * 4
    assert not any(t.relu_before_sigmoid for t in create_model("mgwp", 5, **TINY).multi_scale.tsas)


def test_mgwp_terms_parts_and_test_feature():
    m = create_model("mgwp", 5, num_parts=4, **TINY)
    c3, c4 = 32, 64  # resnet18 at width 0.125: layer3 256/8, layer4 512/8
    assert m.feature_dim == c3 + c4
    names = {(t.kind, t.output) for t in m.loss_terms}
    assert {("triplet", n) for n in ("s3_avg", "s3_max", "s4_avg", "s4_max")} <= names
    assert {("ce", n) for n in ("stage3", "stage4", "multiscale", "part1", "part4")} <= names
    assert ("ce", "part5") not in names
    full = create_model("mgwp", 5, test_feature="all", num_parts=4, **TINY)
    assert full.feature_dim == c3 + c4 + 512 + 4 * 256
    assert eval_feat(full).shape == (2, full.feature_dim)
    ex = full.explain(X)
    assert ex["part_weights"].shape == (2, 4, 2)
    assert ex["tsa_maps"].shape == (2, 4, 8, 4) and ((ex["tsa_maps"] > 0) & (ex["tsa_maps"] < 1)).all()
    aff = ex["nonlocal_affinity"]
    assert aff.shape == (2, 16 * 8, 16 * 8)  # layer2 of a 128x64 input is 16x8
    assert torch.allclose(aff.sum(-1), torch.ones(2, 128), atol=1e-5)


def test_tsa_has_exactly_ten_conv_weights_and_relu_switch():
    tsa = TinySpatialAttention()
    conv_weights = sum(m.weight.numel() for m in tsa.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv_weights == 10
    assert all(m.bias is None for m in tsa.modules() if isinstance(m, torch.nn.Conv2d))
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 8)
    tsa.train()  # batch statistics: the pre-sigmoid map is centred, so some values go below 0
    plain = tsa.attention(x)
    assert plain.shape == (2, 1, 16, 8) and plain.min() < 0.5
    tsa.relu_before_sigmoid = True
    assert tsa.attention(x).min() >= 0.5  # the authors' ReLU limits the map to [0.5, 1)


def test_lgeu_branch_weights_and_switches():
    c = 2048
    assert sum(p.numel() for p in PartExcitation(c, 16).parameters()) == 2 * c * c // 16
    assert sum(p.numel() for p in LGEUnit(c, 4, 16).parameters()) == 4 * 2 * c * c // 16
    base = create_model("lgeu", 5, **TINY)
    k2 = create_model("lgeu", 5, num_parts=2, **TINY)
    r8 = create_model("lgeu", 5, reduction=8, **TINY)
    plain = create_model("baseline", 5, **TINY)
    se = create_model("se", 5, **TINY)
    c4 = 64
    branch = 2 * c4 * (c4 // 16)
    assert n_params(base) - n_params(plain) == 4 * branch
    assert n_params(k2) - n_params(plain) == 2 * branch
    assert n_params(se) - n_params(plain) == branch
    assert n_params(r8) - n_params(plain) == 4 * 2 * c4 * (c4 // 8)
    assert [t.kind for t in base.loss_terms] == ["ce"]


def test_se_equals_lgeu_with_one_part():
    torch.manual_seed(0)
    se = create_model("se", 5, **TINY)
    lg = create_model("lgeu", 5, num_parts=1, **TINY)
    lg.load_state_dict(se.state_dict())
    assert torch.allclose(eval_feat(se), eval_feat(lg), atol=1e-6)


def test_lgeu_unit_by_hand():
    unit = LGEUnit(2, parts=2, reduction=2)
    for br in unit.branches:  # W1 = [[1, 0]] (hidden 1), W2 = [[0], [0]] -> weights sigmoid(0) = 0.5
        torch.nn.init.ones_(br.fc1.weight)
        torch.nn.init.zeros_(br.fc2.weight)
    torch.nn.init.constant_(unit.branches[1].fc2.weight, 1.0)  # lower part: sigmoid(relu(l0 + l1))
    x = torch.zeros(1, 2, 4, 1)
    x[0, 0] = torch.tensor([1.0, 1.0, 2.0, 2.0])[:, None]
    x[0, 1] = torch.tensor([0.0, 0.0, 0.0, 0.0])[:, None]
    y, v = unit(x)
    w_low = torch.sigmoid(torch.tensor(2.0))
    assert torch.allclose(v[0, :, 0], torch.tensor([0.5, 0.5]))
    assert torch.allclose(v[0, :, 1], torch.stack([w_low, w_low]))
    # Y_0 = mean(1*.5, 1*.5, 2*w, 2*w) ; Y_1 = 0
    assert torch.allclose(y[0], torch.stack([(1.0 + 4 * w_low) / 4, torch.tensor(0.0)]), atol=1e-6)


def test_part_pooling_by_hand():
    x = torch.arange(12.0).view(1, 1, 6, 2)  # rows: [0,1] [2,3] ... [10,11]
    assert part_avg_pool(x, 3).flatten().tolist() == [1.5, 5.5, 9.5]
    assert part_max_pool(x, 3).flatten().tolist() == [3.0, 7.0, 11.0]
    # 5 rows into 2 parts: rows 0-2 and 3-4 (floor(i * K / H))
    y = torch.arange(5.0).view(1, 1, 5, 1)
    assert part_avg_pool(y, 2).flatten().tolist() == [1.0, 3.5]
    with pytest.raises(ConfigError, match="height 3 is smaller than the number of parts 4"):
        part_avg_pool(torch.zeros(1, 1, 3, 2), 4)


def test_weight_driven_fusion_remainders_and_formula():
    p = torch.tensor([[[1.0, 2.0, 4.0]]])  # C = 1, P = 3
    assert WeightDrivenPartFusion.remainders(p).flatten().tolist() == [2.0, 5.0, 2.0]
    fusion = WeightDrivenPartFusion(1, reduction=1)
    fused, w = fusion(p)
    t = torch.tensor([2.0, 5.0, 2.0])
    assert w.shape == (1, 3, 2) and ((w > 0) & (w < 1)).all()
    assert torch.allclose(fused.flatten(), w[0, :, 0] * p.flatten() + w[0, :, 1] * t)


def test_non_local_starts_as_identity():
    block = NonLocalBlock(8).eval()
    x = torch.randn(2, 8, 5, 3)
    assert torch.equal(block(x), x)
    block.record = True
    block(x)
    assert block.last_affinity.shape == (2, 15, 15)


def test_pcb_and_jlpose_switches():
    assert create_model("pcb", 5, num_stripes=4, **TINY).feature_dim == 4 * 256
    assert n_params(create_model("pcb", 5, num_stripes=4, **TINY)) < n_params(create_model("pcb", 5, **TINY))
    jl = dict(backbone_width=0.125)
    with_local = create_model("jlpose", 5, **jl)
    no_local = create_model("jlpose", 5, local_branches=False, **jl)
    assert (with_local.feature_dim, no_local.feature_dim) == (576, 256)
    assert n_params(no_local) < n_params(with_local)
    with pytest.raises(ConfigError, match="trained from scratch"):
        create_model("jlpose", 5, pretrained=True)
    with pytest.raises(ConfigError, match="too small"):
        eval_feat(no_local, torch.randn(1, 3, 32, 16))


def test_bot_neck_feature_switch():
    torch.manual_seed(0)
    after = create_model("bot", 5, **TINY)
    before = create_model("bot", 5, neck_feat="before", **TINY)
    before.load_state_dict(after.state_dict())
    fa, fb = eval_feat(after), eval_feat(before)
    bn = after.neck.bn
    assert torch.allclose(fa, (fb - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight, atol=1e-5)


# --------------------------------------------------------------------- jlpose boxes

H, W = 128, 64


def _kp(points):
    kp = torch.zeros(1, 18, 3)
    for i, (x, y) in points.items():
        kp[0, i] = torch.tensor([x, y, 1.0])
    return kp


def test_part_boxes_from_landmarks_by_hand():
    pts = {0: (32, 10), 14: (30, 8), 15: (34, 8), 1: (32, 22),      # nose, eyes, neck
           2: (22, 24), 5: (42, 24), 8: (26, 60), 11: (38, 60),      # shoulders, hips
           9: (26, 90), 12: (38, 90), 10: (26, 120), 13: (38, 120)}  # knees, ankles
    boxes = part_boxes_from_keypoints(_kp(pts), (H, W))
    m = 0.1 * W  # 6.4 px margin
    # head: x 30..34 -> width 4 + 2m = 16.8 >= 0.25 W = 16 ; y 8..10, bottom extended to neck 22
    assert torch.allclose(boxes[0, 0], torch.tensor([30 - m, 8 - m, 34 + m, 22.0]), atol=1e-4)
    # trunk: x 22..42, y 22..60
    assert torch.allclose(boxes[0, 1], torch.tensor([22 - m, 22 - m, 42 + m, 60 + m]), atol=1e-4)
    # lower limb: x 26..38 -> 12 + 2m = 24.8 ; y 60..120 (+m = 126.4 < 128)
    assert torch.allclose(boxes[0, 2], torch.tensor([26 - m, 60 - m, 38 + m, 120 + m]), atol=1e-4)
    assert part_visibility(_kp(pts), (H, W)).tolist() == [[1.0, 1.0, 1.0]]


def test_part_boxes_fall_back_to_predefined_regions():
    # only the nose is visible for the head (1 < 2 landmarks) and nothing below the hips
    pts = {0: (32, 10), 1: (32, 22), 2: (22, 24), 5: (42, 24)}
    boxes = part_boxes_from_keypoints(_kp(pts), (H, W))
    for k, name in [(0, "head"), (2, "lower_limb")]:
        fx1, fy1, fx2, fy2 = PREDEFINED_REGIONS[name]
        assert torch.allclose(boxes[0, k], torch.tensor([fx1 * W, fy1 * H, fx2 * W, fy2 * H]))
    assert part_visibility(_kp(pts), (H, W)).tolist() == [[0.0, 1.0, 0.0]]
    # no landmarks at all -> three predefined regions
    none = part_boxes_from_keypoints(torch.zeros(2, 18, 3), (H, W))
    assert torch.allclose(none[1, 1], torch.tensor([0.0, 0.15 * H, W, 0.6 * H]))
    # landmarks outside the image (after a crop) do not count
    out = _kp({0: (32, -5), 14: (30, -8), 15: (34, 10)})
    assert part_visibility(out, (H, W))[0, 0] == 0.0


def test_part_boxes_minimum_size_and_clipping():
    pts = {8: (10, 100), 11: (12, 100)}  # two hips only, near the left edge: tiny box
    box = part_boxes_from_keypoints(_kp(pts), (H, W))[0, 2]
    # x 10..12 +- 6.4 -> width 15.2 < 16: grows to 16 around centre 11 -> 3..19
    # y 100 +- 6.4 -> height 12.8 >= 0.1 H = 12.8
    assert torch.allclose(box, torch.tensor([3.0, 93.6, 19.0, 106.4]), atol=1e-4)
    corner = part_boxes_from_keypoints(_kp({9: (1, 127), 12: (2, 127)}), (H, W))[0, 2]
    assert corner[0] == 0.0 and corner[3] == H
    with pytest.raises(ConfigError, match=r"expected \[B, 18, 3\]"):
        part_boxes_from_keypoints(torch.zeros(1, 17, 3), (H, W))


def test_roi_max_pool_takes_the_max_inside_the_box():
    fmap = torch.zeros(1, 1, 8, 4)
    fmap[0, 0, 1, 1] = 5.0  # inside the box below
    fmap[0, 0, 6, 3] = 9.0  # outside
    # image 64x32 -> map 8x4 (scale 1/8): box (0, 0)-(16, 24) px covers map cols 0-2, rows 0-3
    pooled = roi_max_pool(fmap, torch.tensor([[0.0, 0.0, 16.0, 24.0]]), (64, 32), (1, 1))
    assert pooled.item() == 5.0


def test_roi_max_pool_accepts_bf16_maps_on_cpu():
    fmap = torch.randn(2, 3, 8, 4)
    boxes = torch.tensor([[0.0, 0.0, 16.0, 24.0], [8.0, 16.0, 32.0, 64.0]])
    ref = roi_max_pool(fmap.bfloat16().float(), boxes, (64, 32), (2, 2))
    low = roi_max_pool(fmap.bfloat16(), boxes, (64, 32), (2, 2))
    assert low.dtype == torch.bfloat16 and torch.equal(low.float(), ref)
