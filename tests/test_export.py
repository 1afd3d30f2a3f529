"""``reidlab export``: for EVERY registered model, the ONNX file run by ONNX Runtime and the
TorchScript file give PyTorch's test-time features (max |diff| <= 1e-4 in fp32) at two batch
sizes, flip TTA and the normalisation included; models that cannot be exported are listed in
``EXPECTED_FAILURES`` with the reason and must fail (strict xfail), never skipped silently."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from reidlab.cli import main
from reidlab.engine.checkpoint import CHECKPOINT_FORMAT, atomic_save
from reidlab.engine.export import TestTimeFeature, example_inputs, export_onnx, export_torchscript
from reidlab.errors import CheckpointError
from reidlab.models import list_models
from reidlab.presets import get_preset

# torch.jit (TorchScript) is deprecated in favour of torch.export but is what --torchscript writes
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

#: Models that cannot be exported, with the reason. Empty: every registered model exports
#: (jlpose with its landmarks as a second input; its RoI max pooling maps to ONNX MaxRoiPool).
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spin-waits make small CPU
    forward passes tens of times slower with two threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

#: Flip TTA of each model's export (all three protocols covered; the graph must include it).
FLIPS = {"baseline": None, "bot": "mean", "lgeu": "mean", "mgwp": "concat", "pcb": "concat", "pfn": "concat",
         "se": None, "jlpose": "concat"}


def make_checkpoint(path: Path, model: str, num_classes: int = 5, seed: int = 0, **overrides) -> Path:
    """A ``last.pt``-style checkpoint (weights + config) of a randomly initialised 1/8-width
    model from ``<model>-smoke`` (fp32), without training."""
    from reidlab.engine.features import _build_model

    fields = {"amp": None, "model_options": {"backbone_width": 0.125}, "test_flip": FLIPS.get(model)}
    fields.update(overrides)
    preset = get_preset(f"{model}-smoke", **fields)
    torch.manual_seed(seed)
    net = _build_model(preset, num_classes).eval()
    with torch.no_grad():   # non-trivial BN statistics so eval-mode BN is not an identity
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    atomic_save({"format": CHECKPOINT_FORMAT, "model": net.state_dict(),
                 "config": {"preset": preset.to_dict(), "num_classes": num_classes}}, path)
    return path


def _params(models):
    out = []
    for name in models:
        marks = ([pytest.mark.xfail(strict=True, raises=CheckpointError, reason=EXPECTED_FAILURES[name])]
                 if name in EXPECTED_FAILURES else [])
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def test_expected_failure_table_names_registered_models_with_reasons():
    assert set(EXPECTED_FAILURES) <= set(list_models())
    assert all(isinstance(r, str) and len(r) > 20 for r in EXPECTED_FAILURES.values())
    assert set(FLIPS) == set(list_models()), "every model needs an export test configuration"


def _pytorch_features(ckpt: Path, args: tuple) -> torch.Tensor:
    """The FeatureExtractor's features (extract_features, fp32) of the same uint8 pixels."""
    from reidlab import FeatureExtractor

    fx = FeatureExtractor(ckpt, device="cpu")
    kp = args[1].numpy() if len(args) > 1 else None
    return fx(args[0], keypoints=kp)


@pytest.mark.parametrize("name", _params(list_models()))
def test_onnx_runtime_matches_pytorch(name, tmp_path):
    ckpt = make_checkpoint(tmp_path / f"{name}.pt", name)
    res = export_onnx(ckpt, tmp_path / f"{name}.onnx", verify=False)
    proto = onnx.load(str(res["path"]))
    meta = {p.key: p.value for p in proto.metadata_props}
    preset = get_preset(f"{name}-smoke", test_flip=FLIPS[name])
    h, w = preset.input_size
    assert meta["reidlab.input_size"] == f"{h}x{w}" and meta["reidlab.flip"] == str(FLIPS[name])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(res["path"]), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == (["images", "keypoints"] if name == "jlpose" else ["images"])
    assert sess.get_inputs()[0].type == "tensor(uint8)"
    for batch in (1, 3):
        args = example_inputs((h, w), batch, keypoints=name == "jlpose", seed=10 + batch)
        got = sess.run(["features"], {n: a.numpy() for n, a in zip(names, args)})[0]
        ref = _pytorch_features(ckpt, args)
        assert got.shape == tuple(ref.shape) == (batch, res["feature_dim"]) == (batch, int(meta["reidlab.feature_dim"]))
        diff = float(np.abs(got - ref.numpy()).max())
        assert diff <= 1e-4, (name, batch, diff)
        assert float(ref.abs().max()) > 1e-3      # not a trivially zero feature


@pytest.mark.parametrize("name", _params(list_models()))
def test_torchscript_matches_pytorch(name, tmp_path):
    ckpt = make_checkpoint(tmp_path / f"{name}.pt", name)
    res = export_torchscript(ckpt, tmp_path / f"{name}.ts.pt", verify=False)
    loaded = torch.jit.load(str(res["path"]))
    h, w = get_preset(f"{name}-smoke").input_size
    for batch in (1, 3):
        args = example_inputs((h, w), batch, keypoints=name == "jlpose", seed=20 + batch)
        with torch.inference_mode():
            got = loaded(*args)
        ref = _pytorch_features(ckpt, args)
        assert tuple(got.shape) == tuple(ref.shape) == (batch, res["feature_dim"])
        assert float((got - ref).abs().max()) <= 1e-4, name


def test_flip_is_part_of_the_exported_feature(tmp_path):
    """concat = [f(x), f(mirror x)] and mean = their average, checked on the wrapper by hand."""
    ckpt = make_checkpoint(tmp_path / "bot.pt", "bot", test_flip="concat")
    from reidlab.engine.features import load_model

    model, preset, _ = load_model(ckpt)
    (x,) = example_inputs(preset.input_size, 2)
    from reidlab.data.augment import eval_transform

    with torch.inference_mode():
        plain = model(eval_transform(x, preset.input_size))
        mirror = model(eval_transform(x.flip(-1), preset.input_size))
        cat = TestTimeFeature(model, preset.input_size, "concat")(x)
        mean = TestTimeFeature(model, preset.input_size, "mean")(x)
        none = TestTimeFeature(model, preset.input_size, None)(x)
    assert torch.allclose(cat, torch.cat([plain, mirror], 1), atol=1e-6)
    assert torch.allclose(mean, (plain + mirror) / 2, atol=1e-6) and torch.allclose(none, plain)


def _fake_run(folder: Path, model: str) -> Path:
    """A run folder as `reidlab train` leaves it (config.json + last.pt), without training."""
    folder.mkdir(parents=True)
    ckpt = make_checkpoint(folder / "last.pt", model)
    state = torch.load(ckpt, weights_only=True)
    (folder / "config.json").write_text(json.dumps(state["config"]))
    return folder


def test_export_command(tmp_path, capsys):
    run = _fake_run(tmp_path / "run", "pfn")
    assert main(["export", "--run", str(run), "--onnx", str(tmp_path / "pfn.onnx"),
                 "--torchscript", str(tmp_path / "pfn.ts.pt")]) == 0
    out = capsys.readouterr().out
    assert "ONNX: " in out and "TorchScript: " in out and "max |diff| vs PyTorch" in out
    assert (tmp_path / "pfn.onnx").stat().st_size > 1000 and (tmp_path / "pfn.ts.pt").stat().st_size > 1000
    # a checkpoint file alone works too, and nothing is left behind but the file
    assert main(["export", "--run", str(run / "last.pt"), "--onnx", str(tmp_path / "b" / "pfn.onnx"),
                 "--no-verify"]) == 0
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["pfn.onnx"]
    assert "not verified" in capsys.readouterr().out


def _one_line(capsys, argv, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def test_export_errors_are_one_line(tmp_path, capsys, monkeypatch):
    run = _fake_run(tmp_path / "run", "bot")
    _one_line(capsys, ["export", "--run", str(run)], "nothing to export", "--onnx")
    _one_line(capsys, ["export", "--run", str(tmp_path / "nope"), "--onnx", str(tmp_path / "x.onnx")],
              "no such run folder or checkpoint file")
    monkeypatch.setitem(sys.modules, "onnx", None)
    _one_line(capsys, ["export", "--run", str(run), "--onnx", str(tmp_path / "x.onnx")],
              "onnx is not installed", "pip install")
    assert not (tmp_path / "x.onnx").exists()


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--run", "--onnx", "--torchscript", "--checkpoint", "--opset", "--no-verify", "uint8 [N, 3, H, W]"):
        assert opt in out
