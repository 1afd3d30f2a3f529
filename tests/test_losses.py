"""Loss values against hand-computed cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from reidlab.errors import ConfigError
from reidlab.losses import (BatchHardTripletLoss, CrossEntropyLabelSmooth, JointLoss, PoseConstrainedTripletLoss,
                            accuracy, pairwise_distance)
from reidlab.models.base import LossTerm


def test_label_smoothing_matches_eq1_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([0, 2])
    eps, n = 0.1, 3
    z = math.exp(2) + 2
    p_row0 = [math.exp(2) / z, 1 / z, 1 / z]
    q_true, q_other = 1 - (n - 1) / n * eps, eps / n
    row0 = -(q_true * math.log(p_row0[0]) + 2 * q_other * math.log(p_row0[1]))
    row1 = math.log(3)  # uniform prediction: -sum q log(1/3) = log 3 because sum q = 1
    loss = CrossEntropyLabelSmooth(3, eps)(logits, targets)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_label_smoothing_zero_is_plain_cross_entropy():
    torch.manual_seed(1)
    logits, targets = torch.randn(5, 7), torch.tensor([0, 6, 3, 3, 1])
    assert CrossEntropyLabelSmooth(7, 0.0)(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets).item(), rel=1e-6)
    with pytest.raises(ConfigError, match="num_classes=8"):
        CrossEntropyLabelSmooth(8)(logits, targets)


# four points: a0=(0,0), a1=(1,0) identity 0; b0=(3,0), b1=(0,2) identity 1
FOUR = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
FOUR_IDS = torch.tensor([0, 0, 1, 1])


def test_pairwise_distance_is_non_squared_euclidean():
    d = pairwise_distance(FOUR)
    assert d[0, 3].item() == pytest.approx(2.0, abs=1e-5)
    assert d[2, 3].item() == pytest.approx(math.sqrt(13), abs=1e-5)
    assert pairwise_distance(FOUR, metric="sqeuclidean")[2, 3].item() == pytest.approx(13.0, abs=1e-4)
    c = pairwise_distance(FOUR[1:], metric="cosine")
    assert c[0, 2].item() == pytest.approx(1.0, abs=1e-6)  # (1,0) vs (0,2): orthogonal


def test_batch_hard_triplet_four_points():
    # anchors a0,a1: hardest positive 1, hardest negative 2 -> max(0, 0.3 + 1 - 2) = 0
    # anchors b0,b1: hardest positive sqrt(13), hardest negative 2 -> 0.3 + sqrt(13) - 2
    expected = (2 * 0 + 2 * (0.3 + math.sqrt(13) - 2)) / 4
    loss = BatchHardTripletLoss(margin=0.3)(FOUR, FOUR_IDS)
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_batch_hard_triplet_soft_margin():
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected = (2 * sp(1 - 2) + 2 * sp(math.sqrt(13) - 2)) / 4
    loss = BatchHardTripletLoss(soft_margin=True)(FOUR, FOUR_IDS)
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_triplet_without_positives_is_zero_and_gradients_finite():
    x = torch.zeros(4, 3, requires_grad=True)  # identical points: sqrt at 0 must not give NaN
    loss = BatchHardTripletLoss()(x, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == pytest.approx(0.3, abs=1e-4)
    assert torch.isfinite(x.grad).all()
    lonely = BatchHardTripletLoss()(torch.randn(3, 2), torch.tensor([0, 1, 2]))
    assert lonely.item() == 0.0


# pose case: segments [global 1-d, one body part 1-d]; image 1's part fell back (invisible)
POSE = torch.tensor([[0.0, 0.0], [1.0, 10.0], [0.0, 1.0], [2.0, 0.0]])
POSE_IDS = torch.tensor([0, 0, 1, 1])
POSE_VIS = torch.tensor([[1.0], [0.0], [1.0], [1.0]])


def test_pose_constrained_distances_ignore_parts_missing_in_either_image():
    d = PoseConstrainedTripletLoss().distances(POSE, [1, 1], POSE_VIS)
    expected = torch.tensor([[0, 1, 1, 2], [1, 0, 1, 1], [1, 1, 0, math.sqrt(5)], [2, 1, math.sqrt(5), 0]])
    assert torch.allclose(d, expected, atol=1e-5)


def test_pose_constrained_triplet_hard_and_all():
    s5 = math.sqrt(5)
    hard = PoseConstrainedTripletLoss(0.3, "hard")(POSE, POSE_IDS, [1, 1], POSE_VIS)
    # a0: 0.3+1-1, a1: 0.3+1-1, a2 and a3: 0.3+sqrt5-1
    assert hard.item() == pytest.approx((0.3 + 0.3 + 2 * (s5 - 0.7)) / 4, abs=1e-5)
    every = PoseConstrainedTripletLoss(0.3, "all")(POSE, POSE_IDS, [1, 1], POSE_VIS)
    # (a,p,n): (0,1,2)=.3 (0,1,3)=0 (1,0,2)=.3 (1,0,3)=.3 (2,3,0)=(2,3,1)=s5-.7 (3,2,0)=s5-1.7 (3,2,1)=s5-.7
    assert every.item() == pytest.approx((0.9 + 3 * (s5 - 0.7) + (s5 - 1.7)) / 8, abs=1e-5)
    # without the pose constraint the invisible part counts: a different value (plain triplet on concat)
    plain = PoseConstrainedTripletLoss(0.3, "hard")(POSE, POSE_IDS)
    assert plain.item() == pytest.approx(BatchHardTripletLoss(0.3)(POSE, POSE_IDS).item(), abs=1e-6)
    assert abs(plain.item() - hard.item()) > 0.5


def test_accuracy():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.75)


def _fake_output():
    torch.manual_seed(0)
    return {"logits": {"a": torch.randn(4, 3), "b": torch.randn(4, 3)},
            "embeddings": {"a": FOUR.clone()}, "aux": {}}


def test_joint_loss_weights_groups_and_terms():
    terms = [LossTerm("ce", "a", 0.5), LossTerm("ce", "b", 0.5), LossTerm("triplet", "a", 1.0, "metric")]
    out, y = _fake_output(), FOUR_IDS
    ce = CrossEntropyLabelSmooth(3, 0.1)
    ce_a, ce_b = ce(out["logits"]["a"], y).item(), ce(out["logits"]["b"], y).item()
    tri = BatchHardTripletLoss(0.3)(FOUR, y).item()
    total, parts = JointLoss(terms, 3, id_weight=1.0, metric_weight=0.5)(out, y)
    assert total.item() == pytest.approx(0.5 * ce_a + 0.5 * ce_b + 0.5 * tri, rel=1e-5)
    assert parts["ce/a"] == pytest.approx(ce_a, rel=1e-5) and parts["triplet/a"] == pytest.approx(tri, rel=1e-5)
    assert parts["metric"] == pytest.approx(0.5 * tri, rel=1e-5)
    assert parts["total"] == pytest.approx(total.item(), rel=1e-6)
    # softmax only (LGEU): metric group weight 0 -> the triplet is not even computed
    total0, parts0 = JointLoss(terms, 3, metric_weight=0.0, label_smoothing=0.0)(out, y)
    assert "triplet/a" not in parts0
    plain = 0.5 * (F.cross_entropy(out["logits"]["a"], y) + F.cross_entropy(out["logits"]["b"], y))
    assert total0.item() == pytest.approx(plain.item(), rel=1e-5)
    # a per-output override
    total2, _ = JointLoss(terms, 3, term_weights={"b": 0.0})(out, y)
    assert total2.item() == pytest.approx(0.5 * ce_a + tri, rel=1e-5)


def test_joint_loss_errors_name_the_problem():
    out = _fake_output()
    with pytest.raises(ConfigError, match="'missing'"):
        JointLoss([LossTerm("ce", "missing")], 3)(out, FOUR_IDS)
    with pytest.raises(ConfigError, match="model.train"):
        JointLoss([LossTerm("ce", "a")], 3)(torch.randn(4, 8), FOUR_IDS)
    with pytest.raises(ConfigError, match="unknown output"):
        JointLoss([LossTerm("ce", "a")], 3, term_weights={"zzz": 1.0})


def test_joint_loss_pose_triplet_reads_segments_and_visibility():
    out = {"logits": {}, "embeddings": {"joint": POSE},
           "aux": {"pose_segments": torch.tensor([1, 1]), "part_visible": POSE_VIS}}
    total, parts = JointLoss([LossTerm("pose_triplet", "joint", 1.0, "metric")], 2)(out, POSE_IDS)
    expected = PoseConstrainedTripletLoss(0.3)(POSE, POSE_IDS, [1, 1], POSE_VIS).item()
    assert total.item() == pytest.approx(expected, abs=1e-6)


def test_losses_run_in_float32_under_bf16_inputs():
    torch.manual_seed(0)
    emb = torch.randn(8, 64) * 10 + 100  # large offset: bf16 |x|^2 - 2xy cancellation would be badly off
    ids = torch.arange(4).repeat_interleave(2)
    ref = BatchHardTripletLoss()(emb.bfloat16().float(), ids)
    low = BatchHardTripletLoss()(emb.bfloat16(), ids)
    assert low.dtype == torch.float32 and low.item() == pytest.approx(ref.item(), rel=1e-4)
    logits = torch.randn(8, 5)
    ce = CrossEntropyLabelSmooth(5)(logits.bfloat16(), ids)
    assert ce.dtype == torch.float32
    assert ce.item() == pytest.approx(CrossEntropyLabelSmooth(5)(logits.bfloat16().float(), ids).item(), rel=1e-6)
