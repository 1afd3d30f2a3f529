"""Body landmarks from a pose model: the COCO-17 -> OpenPose-18 mapping, input geometry,
heatmap / SimCC decoding, and ``reidlab keypoints`` end to end on a SynthReID copy.

The end-to-end tests paint the generator's ground-truth landmarks into the copy's images as
coloured blobs and run hand-made ONNX networks that find those blobs (``pose_nets.py``): the
landmarks written must land on the ground truth (through letterboxing, the 1.25 box
enlargement, decoding and the COCO -> OpenPose mapping) and unpainted landmarks must be
invisible.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidlab.cli import main
from reidlab.data import load_dataset
from reidlab.data.pose import (
    COCO17_NAMES,
    OPENPOSE18_FROM_COCO17,
    coco17_to_openpose18,
    decode_heatmaps,
    decode_simcc,
    fit_transform,
    normalize_batch,
    prepare_image,
    threshold_keypoints,
)
from reidlab.data.records import KEYPOINT_NAMES
from reidlab.errors import CheckpointError, ConfigError, DatasetError
from test_engine import tiny_dataset

import pose_nets  # tests/ is on sys.path; exporting its networks needs onnx (the dev extra)
from reidlab.engine.pose import OnnxPoseModel, estimate_keypoints
from test_cli import _one_line_error

NECK = KEYPOINT_NAMES.index("neck")
R_SHO, L_SHO = KEYPOINT_NAMES.index("r_shoulder"), KEYPOINT_NAMES.index("l_shoulder")


# ----------------------------------------------------------------------------- mapping


def test_openpose18_from_coco17_by_hand():
    # OpenPose order: nose, neck, r_sho, r_elb, r_wri, l_sho, l_elb, l_wri, r_hip, r_knee,
    # r_ank, l_hip, l_knee, l_ank, r_eye, l_eye, r_ear, l_ear; COCO: nose, l_eye, r_eye,
    # l_ear, r_ear, l_sho, r_sho, l_elb, r_elb, l_wri, r_wri, l_hip, r_hip, l_knee, r_knee, l_ank, r_ank
    assert OPENPOSE18_FROM_COCO17 == (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
    for op, coco in enumerate(OPENPOSE18_FROM_COCO17):
        if coco is not None:
            assert KEYPOINT_NAMES[op] == COCO17_NAMES[coco]


def test_coco17_to_openpose18_copies_and_builds_the_neck():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., 0] = np.arange(17) * 10.0
    kp[..., 1] = np.arange(17) + 100.0
    kp[..., 2] = 0.9
    kp[1, 6, 2] = 0.2                           # image 1: right shoulder weak
    out = coco17_to_openpose18(kp)
    assert out.shape == (2, 18, 3) and out.dtype == np.float32
    assert out[0, R_SHO].tolist() == pytest.approx([60.0, 106.0, 0.9])      # COCO 6 = r_shoulder
    assert out[0, KEYPOINT_NAMES.index("l_ear")].tolist() == pytest.approx([30.0, 103.0, 0.9])
    # neck = midpoint of COCO 5 (x 50, y 105) and 6 (x 60, y 106), score = min of the two
    assert out[0, NECK].tolist() == pytest.approx([55.0, 105.5, 0.9])
    assert out[1, NECK, 2] == pytest.approx(0.2)
    vis = threshold_keypoints(out, (200, 200), 0.3)
    assert vis[0, NECK, 2] == 1 and vis[1, NECK].tolist() == [0, 0, 0]    # one shoulder invisible -> no neck
    with pytest.raises(ConfigError, match="17, 3"):
        coco17_to_openpose18(np.zeros((18, 3)))


def test_threshold_keypoints_hides_weak_and_outside_points():
    kp = np.array([[10, 20, 0.5], [10, 20, 0.29], [-0.5, 20, 0.9], [64, 128, 0.9], [64.1, 5, 0.9]], np.float32)
    out = threshold_keypoints(kp, (128, 64), 0.3)
    assert out.tolist() == [[10, 20, 1], [0, 0, 0], [0, 0, 0], [64, 128, 1], [0, 0, 0]]


# ----------------------------------------------------------------------------- geometry


def test_fit_transform_by_hand():
    tf, size, corner = fit_transform((128, 64), (256, 192), "letterbox", 1.0)
    # box 128x64 widened to the 4:3 input -> 128x96, scale 2, image 256x128 centred: 32 px each side
    assert (tf.sx, tf.sy, tf.ox, tf.oy, size, corner) == (2.0, 2.0, 32.0, 0.0, (256, 128), (0, 32))
    tf, size, corner = fit_transform((128, 64), (256, 192), "letterbox", 1.25)
    # box 160x120 -> scale 1.6: image 204.8x102.4 -> 205x102 at (25.5 -> 26, 45)
    assert size == (205, 102) and corner == (26, 45)
    assert (tf.sx, tf.sy) == (102 / 64, 205 / 128)
    tf, size, corner = fit_transform((128, 64), (256, 192), "resize", 1.0)
    assert (tf.sx, tf.sy, tf.ox, tf.oy) == (3.0, 2.0, 0.0, 0.0)
    pts = np.array([[0.0, 0.0], [64.0, 128.0], [10.25, 77.5]])
    tf = fit_transform((128, 64), (256, 192), "letterbox", 1.25)[0]
    assert np.allclose(tf.to_image(tf.to_input(pts)), pts)
    assert np.allclose(tf.to_input(pts)[1], [45 + 102, 26 + 205])
    with pytest.raises(ConfigError, match="fit"):
        fit_transform((128, 64), (256, 192), "crop")


def test_prepare_image_places_pixels_and_pads():
    img = np.full((128, 64, 3), 200, np.uint8)
    img[10, 20] = (255, 0, 0)
    pixels, tf = prepare_image(Image.fromarray(img), (256, 192), "letterbox", 1.0, pad_value=(1, 2, 3))
    assert pixels.shape == (256, 192, 3) and pixels.dtype == np.uint8
    assert pixels[100, 10].tolist() == [1, 2, 3] and pixels[100, 180].tolist() == [1, 2, 3]
    assert pixels[100, 100].tolist() == [200, 200, 200]
    # pixel (x 20, y 10) has its centre at (20.5, 10.5) -> input (73, 21): the red 2x2 block
    cx, cy = tf.to_input(np.array([20.5, 10.5]))
    assert (cx, cy) == (73.0, 21.0)
    assert pixels[20, 72, 0] > 200 and pixels[20, 72, 1] < 100
    x = normalize_batch(pixels[None], mean=(1, 2, 3), std=(2, 2, 2))
    assert x.shape == (1, 3, 256, 192) and x.dtype == np.float32 and x[0, :, 100, 10].tolist() == [0, 0, 0]
    assert normalize_batch(pixels[None], channel_order="bgr", layout="nhwc", dtype="uint8")[0, 100, 10].tolist() == [3, 2, 1]


# ----------------------------------------------------------------------------- decoders


def test_decode_heatmaps_recovers_subpixel_gaussian_peaks():
    rng = np.random.default_rng(0)
    h, w = 64, 48
    yy, xx = np.mgrid[0:h, 0:w]
    centres = rng.uniform([2, 2], [w - 3, h - 3], size=(3, 5, 2))
    hm = np.exp(-((xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2) / 8.0)
    hm *= 0.8
    xy, score = decode_heatmaps(hm, (256, 192))
    # cell j is centred at input pixel (j + 0.5) * 4
    assert np.abs(xy - (centres + 0.5) * 4).max() < 1e-3
    assert score.shape == (3, 5) and np.all(score <= 0.8) and np.all(score > 0.8 * np.exp(-0.5 / 8))


def test_decode_heatmaps_plateau_border_and_flat_maps():
    hm = np.zeros((1, 3, 4, 6), np.float32)
    hm[0, 0, 2, 1] = hm[0, 0, 2, 2] = 0.5      # two equal cells: the peak lies between them
    hm[0, 1, 0, 5] = 0.7                       # corner: no refinement
    xy, score = decode_heatmaps(hm, (4, 6))    # stride 1
    assert xy[0, 0].tolist() == pytest.approx([2.0, 2.5])     # cell 1.5 -> (1.5 + 0.5)
    assert xy[0, 1].tolist() == pytest.approx([5.5, 0.5]) and score[0, 1] == pytest.approx(0.7)
    assert score[0, 2] == 0 and np.isfinite(xy).all()


def test_decode_simcc_by_hand():
    sx = np.zeros((1, 2, 384), np.float32)
    sy = np.zeros((1, 2, 512), np.float32)
    sx[0, 0, 101], sy[0, 0, 40] = 0.9, 0.6
    sx[0, 1, 0], sy[0, 1, 511] = 0.1, 0.8
    xy, score = decode_simcc(sx, sy, 2.0)
    assert xy[0].tolist() == [[50.75, 20.25], [0.25, 255.75]]
    assert score[0].tolist() == pytest.approx([0.6, 0.1])


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def painted(tmp_path_factory):
    """A SynthReID copy whose images carry the ground-truth landmarks as colour blobs (PNG
    data, so the colours survive; PIL reads it whatever the extension), without keypoints.json."""
    src = tiny_dataset(tmp_path_factory.getbasetemp())
    root = tmp_path_factory.mktemp("pose") / "synth"
    shutil.copytree(src, root)
    gt = json.loads((root / "keypoints.json").read_text())["keypoints"]
    (root / "keypoints.json").unlink()
    blobs: dict[str, dict[int, tuple[float, float]]] = {}
    for key, vals in gt.items():
        kp = np.asarray(vals, np.float32).reshape(18, 3)
        vis = [i for i in range(18) if kp[i, 2] > 0 and i != NECK]
        pts = {}
        for i in vis:
            if all(np.hypot(*(kp[i, :2] - kp[j, :2])) >= pose_nets.ISOLATION for j in vis if j != i):
                pts[i] = (float(kp[i, 0]), float(kp[i, 1]))
        path = root / key
        with Image.open(path) as im:
            w, h = im.size
        Image.fromarray(pose_nets.paint((h, w), {OPENPOSE18_FROM_COCO17[i]: p for i, p in pts.items()})).save(path, "PNG")
        blobs[key] = pts
    assert sum(len(p) for p in blobs.values()) > 1000
    return root, blobs


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("pose-models")
    pose_nets.export(pose_nets.ColourPoseNet("heatmap"), d / "heatmap.onnx")
    pose_nets.export(pose_nets.ColourPoseNet("simcc"), d / "simcc.onnx", dynamic_batch=False)   # fixed batch 2
    pose_nets.export(pose_nets.ColourPoseNet("heatmap"), d / "small.onnx", input_size=(128, 96))  # cheap, coarse
    return d


def _check_against_truth(path: Path, blobs: dict, max_err: float, mean_err: float) -> None:
    data = json.loads(path.read_text())
    assert data["format"] == "openpose-coco18" and data["source"]["tool"] == "reidlab keypoints"
    assert data["source"]["complete"] is True
    assert set(data["keypoints"]) == set(blobs)            # every split, gt_bbox included
    errs, necks = [], 0
    for key, pts in blobs.items():
        kp = np.asarray(data["keypoints"][key]).reshape(18, 3)
        assert len(data["scores"][key]) == 18
        for i in range(18):
            if i == NECK:
                continue
            if i in pts:
                assert kp[i, 2] == 1, (key, KEYPOINT_NAMES[i])
                errs.append(np.hypot(kp[i, 0] - pts[i][0], kp[i, 1] - pts[i][1]))
            else:
                assert kp[i].tolist() == [0, 0, 0], (key, KEYPOINT_NAMES[i], kp[i])
        if R_SHO in pts and L_SHO in pts:
            mid = (np.asarray(pts[R_SHO]) + np.asarray(pts[L_SHO])) / 2
            assert kp[NECK, 2] == 1 and np.hypot(*(kp[NECK, :2] - mid)) < max_err
            necks += 1
        else:
            assert kp[NECK].tolist() == [0, 0, 0]
    errs = np.asarray(errs)
    assert necks > 10
    assert errs.max() < max_err and errs.mean() < mean_err, (errs.max(), errs.mean())


def test_keypoints_command_heatmap_model_finds_the_ground_truth(painted, models, capsys):
    root, blobs = painted
    out = root / "keypoints.json"
    assert main(["keypoints", "--data", str(root), "--model", str(models / "heatmap.onnx"), "--no-progress", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(blobs)} images ({len(blobs)} computed, 0 already done)" in printed and "heatmap" in printed
    _check_against_truth(out, blobs, max_err=1.5, mean_err=0.3)
    # the readers load the file: every record of every split gets its landmarks
    ds = load_dataset("market1501", root)
    assert ds.keypoints_source == str(out)
    assert all(r.keypoints is not None for recs in ds.splits().values() for r in recs)
    # a second run (the same model file, moved) skips every image and leaves the landmarks as they were
    before = json.loads(out.read_text())
    moved = models / "moved" / "pose.onnx"
    moved.parent.mkdir(exist_ok=True)
    shutil.copy(models / "heatmap.onnx", moved)
    assert main(["keypoints", "--data", str(root), "--model", str(moved), "--no-progress", "--threads", "1"]) == 0
    assert f"(0 computed, {len(blobs)} already done)" in capsys.readouterr().out
    assert json.loads(out.read_text())["keypoints"] == before["keypoints"]


def test_simcc_model_with_fixed_batch(painted, models):
    root, blobs = painted
    model = OnnxPoseModel(models / "simcc.onnx", threads=1)
    assert model.kind == "simcc" and model.fixed_batch == 2 and model.batch_size == 2
    res = estimate_keypoints(root, model, out=root / "simcc.json")
    assert res.total == res.computed == len(blobs) and res.skipped == 0
    _check_against_truth(root / "simcc.json", blobs, max_err=1.0, mean_err=0.3)


def test_interrupted_run_keeps_its_part_and_resumes(painted, models, monkeypatch, tmp_path):
    root, blobs = painted
    out = tmp_path / "resume.json"
    model = OnnxPoseModel(models / "small.onnx", batch_size=8, threads=1)
    calls = {"n": 0}
    real = OnnxPoseModel.predict

    def flaky(self, images):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, images)

    monkeypatch.setattr(OnnxPoseModel, "predict", flaky)
    with pytest.raises(KeyboardInterrupt):
        estimate_keypoints(root, model, out=out, save_every=16)
    part = json.loads(out.read_text())
    assert len(part["keypoints"]) == 24 and part["source"]["complete"] is False      # 3 batches of 8 done
    monkeypatch.setattr(OnnxPoseModel, "predict", real)
    res = estimate_keypoints(root, model, out=out)
    assert (res.total, res.skipped, res.computed) == (len(blobs), 24, len(blobs) - 24)
    fresh = estimate_keypoints(root, model, out=tmp_path / "fresh.json")
    assert fresh.computed == len(blobs)
    a, b = json.loads(out.read_text()), json.loads((tmp_path / "fresh.json").read_text())
    assert a["keypoints"] == b["keypoints"] and a["scores"] == b["scores"] and a["source"]["complete"] is True


def test_input_conventions_nhwc_uint8_and_wider_outputs(painted, models, tmp_path):
    """An NHWC uint8 model that normalises inside the graph and outputs 37 channels (COCO-17
    first) gives the same landmarks as the plain NCHW float model with --format coco17."""
    import torch

    class Variant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = pose_nets.ColourPoseNet("heatmap")

        def forward(self, x):
            x = (x.permute(0, 3, 1, 2).float() - self.net.mean) / self.net.std
            h = self.net(x)
            return torch.cat([h, torch.zeros_like(h)[:, :10].repeat(1, 2, 1, 1)], 1)

    path = tmp_path / "variant.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Variant().eval(), (torch.zeros(1, 256, 192, 3, dtype=torch.uint8),), str(path),
                          dynamo=False, input_names=["img"], output_names=["hm"],
                          dynamic_axes={"img": {0: "n"}, "hm": {0: "n"}}, opset_version=17)
    root, blobs = painted
    keys = sorted(blobs)[:6]
    images = [Image.open(root / k).convert("RGB") for k in keys]
    base = OnnxPoseModel(models / "heatmap.onnx", threads=1).predict(images)
    with pytest.raises(CheckpointError, match="37 landmark channels.*--format coco17"):
        OnnxPoseModel(path)
    variant = OnnxPoseModel(path, fmt="coco17", threads=1)
    assert (variant.layout, variant.input_dtype, variant.input_size) == ("nhwc", "uint8", (256, 192))
    assert np.abs(variant.predict(images) - base).max() < 1e-4


# ----------------------------------------------------------------------------- errors


def test_bad_model_files_give_one_line_errors(painted, tmp_path, capsys):
    import torch

    root, _ = painted
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf" * 10)
    _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(junk)], str(junk), "not a readable ONNX model")
    _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(tmp_path / "missing.onnx")], "not found")

    class Flat(torch.nn.Module):   # outputs [N, 17]: neither heatmaps nor SimCC
        def forward(self, x):
            return x.mean((2, 3)).repeat(1, 6)[:, :17]

    flat = tmp_path / "flat.onnx"
    pose_nets.export(Flat(), flat, output_names=["scores"])
    err = _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(flat)], str(flat), "scores [")
    assert "expected a top-down pose model" in err


def test_wrong_output_shape_at_run_time_and_existing_files(painted, models, tmp_path, capsys):
    root, _ = painted
    # dynamic channel axis: the 5 channels are only seen at run time
    import torch

    class Five(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 4)[:, :1].repeat(1, 5, 1, 1)

    five = tmp_path / "five.onnx"
    pose_nets.export(Five(), five)
    _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(five), "--out", str(tmp_path / "k.json")],
              "5 landmark channels")
    (tmp_path / "other.json").write_text(json.dumps({"format": "openpose-coco18", "keypoints": {}}))
    _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(models / "heatmap.onnx"),
                       "--out", str(tmp_path / "other.json")], "was not written by `reidlab keypoints`", "--overwrite")
    model = OnnxPoseModel(models / "heatmap.onnx", threads=1)
    (tmp_path / "earlier.json").write_text(json.dumps({"format": "openpose-coco18", "keypoints": {}, "source": {
        "tool": "reidlab keypoints", "settings": {**model.describe(), "threshold": 0.3}}}))
    with pytest.raises(DatasetError, match="other settings \\(differing: threshold\\)"):
        estimate_keypoints(root, model, out=tmp_path / "earlier.json", threshold=0.5)


def test_missing_onnxruntime_is_a_one_line_error(painted, models, monkeypatch, capsys):
    root, _ = painted
    monkeypatch.setitem(sys.modules, "onnxruntime", None)      # `import onnxruntime` raises ImportError
    _one_line_error(capsys, ["keypoints", "--data", str(root), "--model", str(models / "heatmap.onnx")],
              "onnxruntime is not installed", "pip install")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["keypoints", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--data", "--model", "--format", "--threshold", "--input-size", "--fit", "--box-scale", "--mean",
                "--std", "--bgr", "--save-every", "--overwrite", "coco17", "openpose18"):
        assert opt in out
    assert main(["--help"]) == 0 and "keypoints" in capsys.readouterr().out
