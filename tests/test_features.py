"""``reidlab.FeatureExtractor``: features of paths, PIL images, arrays and tensors equal the
evaluation's (``extract_features`` with the run's test-time protocol) on the same files; a
checkpoint file alone is enough; pose-guided models take landmarks; bad input is one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidlab.data import load_dataset, stack_keypoints
from reidlab.engine import extract_features, load_run
from reidlab.engine.trainer import train
from reidlab.errors import CheckpointError, ConfigError, DatasetError
from test_engine import tiny_dataset

REPO = Path(__file__).resolve().parents[1]
TINY = {"model_options.backbone_width": 0.125, "amp": None}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spin-waits make small CPU
    forward passes tens of times slower with two threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def bot_run(data, tmp_path_factory):
    """One iteration of a 1/8-width BoT at 96x48 (the 128x64 images are resized), flip concat."""
    out = tmp_path_factory.mktemp("fx") / "bot"
    train("bot-smoke", data=data, out=out, max_iters=1, evaluate=False, progress=False,
          input_size=(96, 48), test_flip="concat", **TINY)
    return out


@pytest.fixture(scope="module")
def jl_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("fx") / "jl"
    train("jlpose-smoke", data=data, out=out, max_iters=1, evaluate=False, progress=False,
          input_size=(112, 56), test_flip="mean", **TINY)
    return out


def _reference(run, records):
    """What evaluation computes (``reidlab.engine.runs`` calls extract_features like this)."""
    p = run.preset
    return extract_features(run.model, records, size=p.input_size, batch_size=p.eval_batch_size, flip=p.test_flip,
                            amp=p.amp, channels_last=p.channels_last)


def test_every_input_kind_gives_the_evaluation_features(bot_run, data):
    from reidlab import FeatureExtractor

    run = load_run(bot_run)
    ds = load_dataset("auto", data)
    recs = ds.query[:6] + ds.gallery[:6]
    ref = _reference(run, recs)
    fx = FeatureExtractor(bot_run, device="auto")
    assert fx.device.type == "cpu" and fx.input_size == (96, 48) and fx.flip == "concat"
    assert fx.feature_dim == 2 * run.model.feature_dim == ref.shape[1]
    rgb = [np.asarray(Image.open(r.path).convert("RGB")) for r in recs]        # 128 x 64 x 3 uint8
    inputs = {
        "str paths": [r.path for r in recs],
        "Path objects": [Path(r.path) for r in recs],
        "PIL images": [Image.open(r.path) for r in recs],
        "uint8 HWC arrays": rgb,
        "uint8 NHWC array": np.stack(rgb),
        "float HWC arrays": [a / 255.0 for a in rgb],
        "uint8 CHW tensors": [torch.from_numpy(a.copy()).permute(2, 0, 1) for a in rgb],
        "float NCHW tensor": torch.from_numpy(np.stack(rgb).copy()).permute(0, 3, 1, 2).float() / 255,
        "records": recs,
    }
    for name, images in inputs.items():
        f = fx(images)
        assert f.dtype == torch.float32 and f.device.type == "cpu" and tuple(f.shape) == tuple(ref.shape), name
        assert float((f - ref).abs().max()) < 1e-6, name
    one = fx(recs[3].path)
    assert tuple(one.shape) == (1, ref.shape[1]) and float((one[0] - ref[3]).abs().max()) < 1e-6
    assert fx([]).shape == (0, ref.shape[1])


def test_checkpoint_file_alone_and_batching(bot_run, data, tmp_path):
    from reidlab import FeatureExtractor

    alone = tmp_path / "elsewhere" / "weights.pt"
    alone.parent.mkdir()
    shutil.copy(bot_run / "last.pt", alone)                 # no config.json, no metrics.csv next to it
    paths = [r.path for r in load_dataset("auto", data).gallery[:7]]
    a = FeatureExtractor(bot_run)(paths)
    b = FeatureExtractor(alone, batch_size=3)(paths)         # 3 batches instead of 1
    assert float((a - b).abs().max()) < 1e-5
    assert "preset='bot-smoke'" in repr(FeatureExtractor(alone))


def test_preset_autocast_is_followed(bot_run, data):
    from reidlab import FeatureExtractor

    fx = FeatureExtractor(bot_run, amp="bf16")
    paths = [r.path for r in load_dataset("auto", data).query[:4]]
    fp32 = FeatureExtractor(bot_run)(paths)
    bf16 = fx(paths)
    assert fx.amp == "bf16" and not torch.equal(fp32, bf16)
    assert float((fp32 - bf16).abs().max()) < 0.1 * float(fp32.abs().max())


def test_pose_guided_model_takes_landmarks(jl_run, data):
    from reidlab import FeatureExtractor

    run = load_run(jl_run)
    ds = load_dataset("auto", data)
    recs = [r for r in ds.query if r.keypoints is not None][:5]
    ref = _reference(run, recs)
    fx = FeatureExtractor(jl_run)
    assert fx.needs_keypoints and fx.flip == "mean" and fx.feature_dim == run.model.feature_dim
    kp = stack_keypoints(recs)                                # pixels of the 128 x 64 files
    assert float((fx([r.path for r in recs], keypoints=kp) - ref).abs().max()) < 1e-6
    assert float((fx([Image.open(r.path) for r in recs], keypoints=kp) - ref).abs().max()) < 1e-6
    assert float((fx(recs) - ref).abs().max()) < 1e-6
    # landmarks matter: without them (all zeros) the part boxes fall back to fixed regions
    assert float((fx([r.path for r in recs], keypoints=np.zeros_like(kp)) - ref).abs().max()) > 1e-4
    with pytest.raises(ConfigError, match="needs body landmarks"):
        fx([r.path for r in recs])
    with pytest.raises(ConfigError, match=r"expected \[5, 18, 3\]"):
        fx([r.path for r in recs], keypoints=kp[:4])


def test_bad_inputs_are_one_line_errors(bot_run, tmp_path):
    from reidlab import FeatureExtractor

    fx = FeatureExtractor(bot_run)
    cases = [
        (torch.randn(3, 32, 16), ConfigError, "float image must hold RGB values in \\[0, 1\\]"),
        (np.zeros((32, 16, 5), np.uint8), ConfigError, "H x W x 3"),
        (torch.zeros(2, 32, 16, dtype=torch.uint8), ConfigError, "\\[3, H, W\\]"),
        (np.zeros((32, 16, 3), np.int64), ConfigError, "unsupported pixel type"),
        ({"not": "an image"}, ConfigError, "cannot read images from dict"),
        (str(tmp_path / "missing.jpg"), DatasetError, "missing.jpg: image file not found"),
    ]
    for images, err, pattern in cases:
        with pytest.raises(err, match=pattern) as info:
            fx(images)
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="does not use keypoints"):
        fx(np.zeros((32, 16, 3), np.uint8), keypoints=np.zeros((1, 18, 3)))
    with pytest.raises(CheckpointError, match="no such run folder or checkpoint"):
        FeatureExtractor(tmp_path / "nothing")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.pt"):
        FeatureExtractor(tmp_path / "junk.pt")


def test_import_reidlab_stays_light():
    code = ("import sys, reidlab; assert 'torch' not in sys.modules, 'torch imported'; "
            "fx = reidlab.FeatureExtractor; assert 'torch' in sys.modules and fx.__name__ == 'FeatureExtractor'")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
