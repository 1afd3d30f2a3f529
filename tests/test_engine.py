"""Training engine: schedule, atomic checkpoints, learning, exact resume after SIGKILL,
feature extraction with flip TTA, run loading and evaluation, bad configurations.

Everything runs on a tiny synthetic set (16 train ids, 64x32 images) with a 1/8-width
ResNet18, so the whole file stays within a few tens of seconds on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine.build import WarmupMultiStep
from reidlab.engine.trainer import train
from reidlab.errors import CheckpointError, ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[1]

#: A tiny, fast recipe on top of bot-smoke (fp32 so CPU runs are bit-reproducible across processes).
TINY = {
    "input_size": (64, 32), "p": 4, "k": 4, "amp": None, "channels_last": False,
    "iters_per_epoch": 4, "epochs": 3, "eval_every": 0, "lr": 1e-3, "warmup_epochs": 0.0,
    "model_options.backbone_width": 0.125,
}


def tiny_dataset(base: Path) -> Path:
    """A 16+8-identity SynthReID set (with keypoints.json), generated once per session."""
    root = base / "engine-synth"
    if not (root / "bounding_box_train").is_dir():
        from reidlab.data.synthetic import SynthConfig, generate

        generate(root, SynthConfig.small(num_train_ids=16, num_test_ids=8, num_distractors=5, num_junk=5))
    return root


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.getbasetemp())


def _state_hash(sd: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(k.encode())
        h.update(sd[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------- schedule
def test_warmup_multistep_matches_hand_computed_rates():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 0.1}], lr=0.1)
    s = WarmupMultiStep(opt, milestones=(2, 4), gamma=0.1, warmup_epochs=1.0, warmup_factor=0.1)
    expect = {0.0: 0.01, 0.5: 0.1 * (0.1 + 0.9 * 0.5), 1.0: 0.1, 1.99: 0.1, 2.0: 0.01, 3.5: 0.01, 4.0: 0.001, 9.0: 0.001}
    for t, lr in expect.items():
        s.step(t)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-9), t
    s2 = WarmupMultiStep(opt)
    s2.load_state_dict(s.state_dict())
    assert s2.base_lrs == [0.1] and s2.t == 9.0


# ----------------------------------------------------------------------------- checkpoints
def test_atomic_save_crash_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt_io.atomic_save({"format": ckpt_io.CHECKPOINT_FORMAT, "w": torch.arange(5.0)}, path)
    real_save = torch.save

    def torn_save(obj, f, *a, **kw):  # writes half a file, then "crashes"
        import io

        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt_io.atomic_save({"format": ckpt_io.CHECKPOINT_FORMAT, "w": torch.zeros(1000)}, path)
    monkeypatch.setattr(torch, "save", real_save)

    def failing_replace(src, dst):
        raise OSError("power cut before rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="power cut"):
        ckpt_io.atomic_save({"format": ckpt_io.CHECKPOINT_FORMAT, "w": torch.ones(3)}, path)
    monkeypatch.undo()
    state = ckpt_io.load_checkpoint(path)
    assert torch.equal(state["w"], torch.arange(5.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp files left


def test_load_checkpoint_errors_are_one_line(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError) as err:
        ckpt_io.load_checkpoint(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="not found"):
        ckpt_io.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a reidlab checkpoint"):
        ckpt_io.load_checkpoint(tmp_path / "other.pt")


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    import random

    import numpy as np

    g = torch.Generator().manual_seed(7)
    state = ckpt_io.capture_rng_state(g)
    ckpt_io.atomic_save({"format": ckpt_io.CHECKPOINT_FORMAT, "rng": state}, tmp_path / "r.pt")
    a = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    ckpt_io.restore_rng_state(ckpt_io.load_checkpoint(tmp_path / "r.pt")["rng"], g)
    b = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=g))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2] and torch.equal(a[3], b[3])


# ----------------------------------------------------------------------------- training
def test_cpu_demo_preset_lowers_the_loss(data, tmp_path):
    # the demo's warm start as it is (the ImageNet MobileNetV2 at full width), on tiny data
    run = train("bot-cpu-demo", data=data, out=tmp_path / "run", progress=False,
                **dict(TINY, epochs=4, amp="bf16", channels_last=True, **{"model_options.backbone_width": 1.0}))
    m = run.metrics
    assert list(m["epoch"]) == [1, 2, 3, 4] and list(m["iters"]) == [4, 8, 12, 16]
    assert m["loss"].iloc[-1] < m["loss"].iloc[0] - 0.05, m["loss"].tolist()
    # the final epoch is evaluated; metrics.csv mirrors the returned frame; config.json is exact
    assert 0.0 <= m["rank1"].iloc[-1] <= 1.0 and m["mAP"].notna().iloc[-1]
    import pandas as pd

    on_disk = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert on_disk["loss"].tolist() == pytest.approx(m["loss"].tolist())
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["preset"]["name"] == "bot-cpu-demo" and cfg["preset"]["input_size"] == [64, 32]
    assert cfg["seed"] == 0 and cfg["num_classes"] == 16 and "torch" in cfg["versions"]
    assert (tmp_path / "run" / "best.pt").is_file()
    assert cfg["init"]["init"] == "imagenet" and cfg["preset"]["backbone"] == "mobilenet_v2"


_CHILD = """
import io, os, signal, sys, torch
torch.set_num_threads(1)
from reidlab.engine.trainer import train
real_save, calls = torch.save, [0]

def save(obj, f, *args, **kwargs):   # the KILL_AT-th checkpoint write dies half-way with SIGKILL
    calls[0] += 1
    if calls[0] == {kill_at}:
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 3])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
train("bot-smoke", data=sys.argv[1], out=sys.argv[2], progress=False, **{tiny!r})
"""


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(data, tmp_path, one_thread):
    """A child process is SIGKILLed in the middle of writing its 9th checkpoint (epoch 2,
    iteration 3 of 6: checkpoints are written after every iteration). The torn temporary
    file is ignored, the run resumes from iteration 8 and ends bit-identical to a run that
    was never interrupted."""
    kw = dict(TINY, p=2, iters_per_epoch=6, epochs=2, ckpt_every_iters=1)   # 8 batches/epoch, 6 used
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(kill_at=9, tiny=kw), str(data), str(out)],
                          env=env, cwd=REPO, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    killed = ckpt_io.load_checkpoint(out / "last.pt")
    assert (killed["epoch"], killed["iter_in_epoch"], killed["global_iter"]) == (1, 2, 8)
    assert any(p.name.endswith(".tmp") for p in out.iterdir())      # the torn write is still lying there
    assert not (out / "metrics.csv").read_text().count("\n2,")     # epoch 2 never finished

    resumed = train("bot-smoke", data=data, out=out, progress=False, resume=True, **kw)
    ref = train("bot-smoke", data=data, out=tmp_path / "ref", progress=False, **kw)
    assert _state_hash(resumed.model.state_dict()) == _state_hash(ref.model.state_dict())
    a = ckpt_io.load_checkpoint(tmp_path / "ref" / "last.pt")
    b = ckpt_io.load_checkpoint(out / "last.pt")
    assert a["global_iter"] == b["global_iter"] == 12
    for k in a["optimizer"]["state"]:
        assert torch.equal(a["optimizer"]["state"][k]["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    assert resumed.metrics["loss"].tolist() == ref.metrics["loss"].tolist()
    assert resumed.metrics["epoch"].tolist() == [1, 2]


def test_resume_of_a_finished_run_changes_nothing_and_extends(data, tmp_path, one_thread):
    kw = dict(TINY, epochs=1, iters_per_epoch=2)
    r1 = train("bot-smoke", data=data, out=tmp_path / "r", progress=False, **kw)
    h1 = _state_hash(r1.model.state_dict())
    r2 = train("bot-smoke", data=data, out=tmp_path / "r", progress=False, resume=True, **kw)
    assert _state_hash(r2.model.state_dict()) == h1
    r3 = train("bot-smoke", data=data, out=tmp_path / "r", progress=False, resume=True, epochs=2)
    assert list(r3.metrics["epoch"]) == [1, 2] and _state_hash(r3.model.state_dict()) != h1


def test_max_iters_stops_mid_epoch_and_resume_continues(data, tmp_path, one_thread):
    kw = dict(TINY, epochs=1, iters_per_epoch=4)
    full = train("bot-smoke", data=data, out=tmp_path / "full", progress=False, **kw)
    part = train("bot-smoke", data=data, out=tmp_path / "part", progress=False, max_iters=3, **kw)
    assert part.metrics["iters"].tolist() == [3] and not bool(part.metrics["complete"].iloc[0])
    done = train("bot-smoke", data=data, out=tmp_path / "part", progress=False, resume=True, **kw)
    assert _state_hash(done.model.state_dict()) == _state_hash(full.model.state_dict())


# ----------------------------------------------------------------------------- bad configs
def test_bad_configs_fail_with_one_clear_line(data, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'pfn-cpu-demo'") as e:
        train("pfn-cpu-dmeo", data=data, out=tmp_path / "a")
    assert "\n" not in str(e.value)
    with pytest.raises(DatasetError, match="reidlab synth") as e:
        train("bot-smoke", data=tmp_path / "nope", out=tmp_path / "b")
    assert str(tmp_path / "nope") in str(e.value)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="--resume"):
        train("bot-smoke", data=data, out=tmp_path / "c")
    with pytest.raises(ConfigError, match="unknown preset field 'lrr'; did you mean 'lr'"):
        train("bot-smoke", data=data, out=tmp_path / "d", lrr=0.1)
    with pytest.raises(ConfigError, match="fp16.*only supported on CUDA"):
        train("bot-smoke", data=data, out=tmp_path / "e", device="cpu", amp="fp16", **{"model_options.backbone_width": 0.125})
    assert not (tmp_path / "e").exists()


def test_pose_model_without_keypoints_file_names_the_expected_path(data, tmp_path):
    import shutil

    nokp = tmp_path / "nokp"
    shutil.copytree(data, nokp, ignore=shutil.ignore_patterns("keypoints.json", "keypoints"))
    with pytest.raises(ConfigError) as e:
        train("jlpose-smoke", data=nokp, out=tmp_path / "r", progress=False)
    assert str(nokp / "keypoints.json") in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()          # a failed start writes nothing (retry needs no --resume)


# ----------------------------------------------------------------------------- extraction
def test_extract_features_flip_tta_equals_manual_flip(data):
    from reidlab.data import ImageCache, eval_transform, load_dataset
    from reidlab.engine.extract import extract_features
    from reidlab.models import create_model

    ds = load_dataset("auto", data)
    recs = ds.query[:10]
    model = create_model("bot", num_classes=16, backbone="resnet18", backbone_width=0.125).eval()
    size = (64, 32)
    plain = extract_features(model, recs, size=size, batch_size=4)
    cat = extract_features(model, recs, size=size, batch_size=4, flip="concat")
    mean = extract_features(model, recs, size=size, batch_size=3, flip="mean")
    d = model.feature_dim
    assert plain.shape == (10, d) and cat.shape == (10, 2 * d) and mean.shape == (10, d)
    x = eval_transform(ImageCache(recs, size=size)[torch.arange(10)], size)
    with torch.no_grad():
        f, ff = model(x), model(x.flip(-1))
    torch.testing.assert_close(cat, torch.cat([f, ff], 1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mean, (f + ff) / 2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain, f, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(f, ff)      # the flip pass really sees other pixels
    assert not model.training


def test_flip_keypoints_mirrors_and_swaps_sides():
    from reidlab.engine.extract import flip_keypoints

    kp = torch.zeros(1, 18, 3)
    kp[0, 2] = torch.tensor([10.0, 5.0, 1.0])   # right shoulder at x=10
    kp[0, 0] = torch.tensor([16.0, 2.0, 1.0])   # nose
    out = flip_keypoints(kp, 32)
    assert out[0, 5].tolist() == [22.0, 5.0, 1.0]   # becomes the left shoulder at 32 - 10
    assert out[0, 0].tolist() == [16.0, 2.0, 1.0]
    assert out[0, 2].tolist() == [0.0, 0.0, 0.0]    # invisible left shoulder stays zero


# ----------------------------------------------------------------------------- runs
def test_load_run_and_evaluate_run_with_feature_cache(data, tmp_path, monkeypatch):
    from reidlab.engine import runs

    trained = train("bot-smoke", data=data, out=tmp_path / "run", progress=False, **dict(TINY, epochs=1))
    run = runs.load_run(tmp_path / "run")
    assert run.checkpoint == "best"
    assert _state_hash(run.model.state_dict()) == _state_hash(trained.model.state_dict())
    df = runs.evaluate_run(run, multi_query=True)
    assert list(df.index) == ["single-query", "multi-query"]
    assert list(df.columns) == ["rank1", "rank5", "rank10", "mAP", "mINP", "queries", "skipped"]
    assert df.loc["single-query", "rank1"] == pytest.approx(trained.metrics["rank1"].iloc[-1])
    metrics = df[list(runs.RESULT_COLUMNS)].values
    assert ((metrics >= 0) & (metrics <= 1)).all()
    assert len(list((tmp_path / "run" / "features").glob("*.pt"))) == 3   # query, gallery, multi_query

    def boom(*a, **k):
        raise AssertionError("features should come from the run's feature cache")

    monkeypatch.setattr("reidlab.engine.feature_cache.extract_features", boom)
    again = runs.evaluate_run(tmp_path / "run", multi_query=True)
    assert again.equals(df)


# ----------------------------------------------------------------------------- small pieces
def test_random_batch_sampler_partitions_each_global_batch_between_ranks():
    from reidlab.engine.sampling import RandomBatchSampler

    single = RandomBatchSampler(50, batch_size=8, seed=3)
    r0 = RandomBatchSampler(50, batch_size=8, seed=3, rank=0, world_size=2)
    r1 = RandomBatchSampler(50, batch_size=8, seed=3, rank=1, world_size=2)
    e = single.epoch_batches(0)
    assert len(e) == 6 and all(len(b) == 8 for b in e)
    flat = [i for b in e for i in b]
    assert len(set(flat)) == 48                               # no image twice in an epoch
    for g, a, b in zip(e, r0.epoch_batches(0), r1.epoch_batches(0)):
        assert a + b == g                                      # ranks split the global batch
    assert single.epoch_batches(1) != e and single.epoch_batches(0) == e
    with pytest.raises(ConfigError, match="divisible"):
        RandomBatchSampler(50, batch_size=7, world_size=2)


def test_records_keypoints_rescale_to_the_network_input(data):
    import numpy as np

    from reidlab.data import load_dataset
    from reidlab.engine.extract import records_keypoints

    ds = load_dataset("auto", data)
    recs = ds.train[:3]
    kp, n = records_keypoints(recs, (64, 32))                  # stored images are 128x64
    assert n == 3 and kp.shape == (3, 18, 3)
    src = np.stack([r.keypoints for r in recs])
    np.testing.assert_allclose(kp[..., :2].numpy(), src[..., :2] / 2, rtol=1e-6)
    np.testing.assert_array_equal(kp[..., 2].numpy(), src[..., 2])


# ----------------------------------------------------------------------------- shared helpers
def test_resolve_device_accepts_the_documented_forms_only():
    from reidlab.device import resolve_device

    auto = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto") == resolve_device("") == auto
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    for bad, needle in (("tpu", "device 'tpu' is not"), ("cuda:x", "device 'cuda:x' is not valid"),
                        ("cpu:3", "device 'cpu:3' is not valid"), (3, "device 3 is not valid")):
        with pytest.raises(ConfigError, match=needle) as e:
            resolve_device(bad)
        assert "'auto', 'cpu', 'cuda'" in str(e.value) and "\n" not in str(e.value)
    if not torch.cuda.is_available():
        for req in ("cuda", "cuda:1", torch.device("cuda", 0)):
            with pytest.raises(ConfigError, match="CUDA is not available"):
                resolve_device(req)


def test_check_choice_is_strict_about_types_and_names_the_owner():
    from reidlab._checks import check_choice

    assert check_choice("cosine", "metric", ("euclidean", "cosine")) == "cosine"
    assert check_choice(None, "flip", ("concat", None)) is None
    with pytest.raises(ConfigError, match=r"^model 'bot': last_stride=True is not valid; expected one of 1, 2$"):
        check_choice(True, "last_stride", (1, 2), where="model 'bot'")
    with pytest.raises(ConfigError, match=r"^metric='cosin' is not valid; expected one of 'euclidean', 'cosine'$"):
        check_choice("cosin", "metric", ("euclidean", "cosine"))
    import numpy as np

    assert check_choice(np.str_("cosine"), "metric", ("euclidean", "cosine")) == "cosine"


def test_training_logs_one_line_per_epoch_and_prints_nothing(data, tmp_path, caplog, capsys):
    import logging

    with caplog.at_level(logging.INFO, logger="reidlab"):
        train("bot-smoke", data=data, out=tmp_path / "r", progress=False, **dict(TINY, epochs=2, iters_per_epoch=1))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"] and "rank1" in lines[-1]
    assert capsys.readouterr().out == ""
