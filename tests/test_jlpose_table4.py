"""The joint-loss paper's Table IV as printed: six rows, six presets, each runs a training step.

Rows: baseline (global, softmax); Global+Local (softmax); Softmax+Triplet 1:0.5, 1:1, 0.5:1
on the baseline setting (global only); Whole Architecture (global + local, 0.5:1).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reidlab import paper_results
from reidlab.engine.trainer import build_model
from reidlab.errors import ConfigError
from reidlab.losses import BatchHardTripletLoss, JointLoss, PoseConstrainedTripletLoss
from reidlab.presets import JLPOSE_TABLE_IV, get_preset, list_presets
from tests.fixtures import keypoint_array

REPO = Path(__file__).resolve().parents[1]
ROWS = paper_results.TABLE_PRESETS["jlpose/table4"]


def test_rows_map_one_to_one_to_presets_and_paper_results():
    table = paper_results.paper_table("jlpose/table4")
    assert list(ROWS) == list(table.index)                      # every printed row, in order
    assert len(set(ROWS.values())) == 6 and set(ROWS.values()) == set(JLPOSE_TABLE_IV)
    for row, preset in ROWS.items():
        assert JLPOSE_TABLE_IV[preset][0] == row
        assert {f"{preset}-paper", f"{preset}-cpu-demo", f"{preset}-smoke"} <= set(list_presets())
        assert f"'{row}'" in get_preset(f"{preset}-paper").notes
    # the headline compared with jlpose-paper is its Whole Architecture row (86.10 / 67.97)
    assert ROWS["Whole Architecture"] == "jlpose"
    hl = paper_results.headline("jlpose")
    assert (hl.loc["single-query", "R1"], hl.loc["single-query", "mAP"]) == (86.10, 67.97)
    assert "Whole Architecture" in hl.loc["single-query", "source"]
    # the printed weight ratios (softmax : triplet) are the presets' group weights
    for row, preset in ROWS.items():
        w = table.loc[row, "weights"]
        p = get_preset(f"{preset}-paper")
        if w == "-":
            assert p.metric_weight == 0.0
        else:
            a, b = (float(x) for x in w.split(":"))
            assert (p.id_weight, p.metric_weight) == (a, b)


def _batch(h: int = 96, w: int = 48, ids: int = 2, k: int = 4):
    torch.manual_seed(0)
    x = torch.randn(ids * k, 3, h, w)
    y = torch.arange(ids).repeat_interleave(k)
    kp = torch.from_numpy(np.stack([keypoint_array(i, width=w, height=h) for i in range(ids * k)]))
    kp[1, :, 2] = 0.0                                            # one image without any landmark
    return x, y, kp


@pytest.mark.parametrize("row", list(ROWS))
def test_each_row_builds_and_runs_a_training_step(row):
    preset = get_preset(f"{ROWS[row]}-smoke", **{"model_options.backbone_width": 0.125})
    model = build_model(preset, num_classes=2).train()
    crit = JointLoss(model.loss_terms, num_classes=2, id_weight=preset.id_weight,
                     metric_weight=preset.metric_weight, label_smoothing=preset.label_smoothing,
                     margin=preset.margin)
    x, y, kp = _batch()
    out = model(x, keypoints=kp)
    loss, parts = crit(out, y, keypoints=kp)                    # the trainer passes keypoints too
    assert math.isfinite(loss.item()) and loss.item() > 0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads[:5])
    local = JLPOSE_TABLE_IV[ROWS[row]][1]
    assert model.feature_dim == (576 if local else 256)
    metric_keys = {k for k in parts if k.endswith("/joint") and not k.startswith("ce")}
    if preset.metric_weight == 0:
        assert metric_keys == set()
    else:
        assert metric_keys == {"pose_triplet/joint" if local else "triplet/joint"}
        assert parts["total"] == pytest.approx(parts["id"] + parts["metric"], rel=1e-5)


def test_global_only_triplet_is_batch_hard_on_the_global_feature():
    """Was: ConfigError "part_visible has shape (8, 3), expected (8, 0)". Now the global-only
    model declares a plain triplet term and the loss equals batch-hard on its 256-d feature."""
    preset = get_preset("jlpose-triplet-1-1-smoke", **{"model_options.backbone_width": 0.125})
    model = build_model(preset, num_classes=2).train()
    assert [t.kind for t in model.loss_terms] == ["ce", "triplet"]
    x, y, kp = _batch()
    out = model(x, keypoints=kp)
    assert "part_visible" not in out["aux"] and out["embeddings"]["joint"].shape == (8, 256)
    _, parts = JointLoss(model.loss_terms, 2, label_smoothing=0.0, margin=0.3)(out, y, keypoints=kp)
    expected = BatchHardTripletLoss(0.3)(out["embeddings"]["joint"], y).item()
    assert parts["triplet/joint"] == pytest.approx(expected, rel=1e-6)
    # the pose-constrained loss with no parts reduces to the same thing
    emb = out["embeddings"]["joint"]
    same = PoseConstrainedTripletLoss(0.3)(emb, y, [256], torch.zeros(8, 0)).item()
    assert same == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ConfigError, match="part_visible has shape"):
        PoseConstrainedTripletLoss(0.3)(emb, y, [256], torch.zeros(8, 3))


def test_whole_architecture_triplet_uses_the_models_part_visibility():
    preset = get_preset("jlpose-smoke", **{"model_options.backbone_width": 0.125})
    model = build_model(preset, num_classes=2).train()
    x, y, kp = _batch()
    out = model(x, keypoints=kp)
    vis = out["aux"]["part_visible"]
    assert vis.shape == (8, 3) and vis[1].sum() == 0 and vis[0].sum() == 3   # image 1 has no landmark
    _, parts = JointLoss(model.loss_terms, 2, label_smoothing=0.0)(out, y)   # no keypoints needed
    expected = PoseConstrainedTripletLoss(0.3)(out["embeddings"]["joint"], y, [256, 64, 128, 128], vis).item()
    assert parts["pose_triplet/joint"] == pytest.approx(expected, rel=1e-6)


def test_losses_import_no_model():
    src = (REPO / "reidlab" / "losses.py").read_text()
    assert "reidlab.models.jlpose" not in src
    code = ("import sys, reidlab.losses; "
            "print(sorted(m for m in sys.modules if m.startswith('reidlab.models.') and m.split('.')[2] "
            "not in ('base', 'backbones', 'stages', 'registry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_global_only_triplet_row_trains_through_the_trainer(tmp_path):
    """The path that used to raise: train() of a global-only jlpose preset with a triplet weight."""
    from reidlab.engine.trainer import train

    data = REPO / "data" / "synthreid-small"
    if not (data / "bounding_box_train").is_dir():
        pytest.skip("data/synthreid-small is not generated")
    run = train("jlpose-triplet-0.5-1-smoke", data=data, out=tmp_path / "r", max_iters=2, progress=False,
                evaluate=False, **{"model_options.backbone_width": 0.125, "p": 2, "input_size": [96, 48]})
    m = run.metrics
    assert len(m) >= 1 and np.isfinite(m["loss"].iloc[-1])
    assert "triplet/joint" in m.columns and "pose_triplet/joint" not in m.columns
