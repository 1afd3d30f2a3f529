"""``reidlab export``: a trained run's test-time feature as an ONNX or TorchScript file.

The exported graph is :class:`TestTimeFeature`: exactly what evaluation computes for a batch
of images (:func:`reidlab.engine.extract.extract_features` in fp32): the normalisation of
:func:`reidlab.data.augment.eval_transform`, the model in eval mode and the preset's flip
test-time augmentation (``concat``: the mirrored image's feature appended; ``mean``: averaged).

Inputs and outputs of the files (batch axis dynamic):

* ``images``: uint8 ``[N, 3, H, W]`` RGB at the preset's input size ``H x W`` (resize first,
  bilinear, as :class:`reidlab.FeatureExtractor` does); the normalisation is inside the graph.
* ``keypoints`` (pose-guided models only, e.g. ``jlpose``): float32 ``[N, 18, 3]``
  ``(x, y, visibility)`` OpenPose / COCO-18 landmarks in pixels of the ``H x W`` input (scale
  the stored ``keypoints.json`` values by ``W / w`` and ``H / h``); all zeros = no landmarks.
* ``features``: float32 ``[N, D]`` (``D`` doubled with flip concat).

The ONNX file carries its conventions as metadata (``reidlab.*`` keys: preset, model,
input size, flip, metric, feature width). Export uses PyTorch's TorchScript-based ONNX exporter
(``dynamo=False``, opset 17): it maps torchvision's ``roi_pool`` (jlpose's RoI max pooling)
to ONNX ``MaxRoiPool``, which the ``torch.export``-based exporter of this PyTorch version
cannot translate. Exports run on the CPU in fp32 (a preset's autocast is a speed setting).
"""

from __future__ import annotations

import argparse
import io
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from reidlab.errors import CheckpointError, ConfigError

__all__ = ["TestTimeFeature", "export_onnx", "export_torchscript", "export_main", "example_inputs"]

PathLike = Union[str, os.PathLike]
#: ONNX opset of the exported files.
ONNX_OPSET = 17


class TestTimeFeature(nn.Module):
    """A model's test-time feature as one module: uint8 images (+ landmarks) -> features.

    Args:
        model: a reidlab model (put in eval mode).
        input_size: ``(H, W)`` the images have (the preset's input size).
        flip: ``"concat"``, ``"mean"`` or ``None`` (the preset's ``test_flip``).

    ``forward(images, keypoints=None)``: ``images`` uint8 ``[N, 3, H, W]`` RGB; ``keypoints``
    float ``[N, 18, 3]`` in input pixels, for models with ``needs_keypoints``. Returns float32
    ``[N, D]``, equal to :func:`reidlab.engine.extract.extract_features` in fp32 on the same
    pixels.
    """

    __test__ = False  # not a pytest class despite the name

    def __init__(self, model: nn.Module, input_size: tuple[int, int], flip: Optional[str]) -> None:
        super().__init__()
        if flip not in ("concat", "mean", None):
            raise ConfigError(f"flip={flip!r} is invalid; expected 'concat', 'mean' or None")
        self.model = model
        self.eval()  # exporters restore the wrapper's mode afterwards: keep it (and the model) in eval
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.flip = flip
        self.needs_keypoints = bool(getattr(model, "needs_keypoints", False))

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None) -> Tensor:
        from reidlab.data.augment import eval_transform, hflip_keypoints

        x = eval_transform(images, self.input_size)
        if self.needs_keypoints:
            if keypoints is None:
                raise ConfigError("this model needs keypoints [N, 18, 3] (x, y, visibility) in input pixels")
            f = self.model(x, keypoints=keypoints).float()
        else:
            f = self.model(x).float()
        if self.flip is None:
            return f
        x_f = x.flip(-1)
        if self.needs_keypoints:
            f_f = self.model(x_f, keypoints=hflip_keypoints(keypoints, self.input_size[1])).float()
        else:
            f_f = self.model(x_f).float()
        if self.flip == "concat":
            return torch.cat([f, f_f], 1)
        return 0.5 * (f + f_f)


def example_inputs(input_size: tuple[int, int], batch: int = 2, keypoints: bool = False,
                   seed: int = 0) -> tuple[Tensor, ...]:
    """Random uint8 images ``[batch, 3, H, W]`` (and plausible standing-person landmarks with
    a few hidden, ``[batch, 18, 3]`` in input pixels) for tracing and checking an export."""
    g = torch.Generator().manual_seed(seed)
    h, w = input_size
    images = torch.randint(0, 256, (batch, 3, h, w), generator=g, dtype=torch.uint8)
    if not keypoints:
        return (images,)
    rel = torch.tensor([
        [.5, .12], [.5, .2], [.38, .21], [.33, .35], [.3, .48], [.62, .21], [.67, .35], [.7, .48],
        [.42, .5], [.42, .7], [.42, .9], [.58, .5], [.58, .7], [.58, .9], [.47, .1], [.53, .1],
        [.44, .11], [.56, .11]])
    jitter = (torch.rand(batch, 18, 2, generator=g) - 0.5) * 0.06
    xy = (rel + jitter) * torch.tensor([w, h], dtype=torch.float32)
    vis = (torch.rand(batch, 18, 1, generator=g) > 0.2).float()
    return images, torch.cat([xy * vis, vis], -1)


def _prepare(source: Any, checkpoint: str) -> tuple[TestTimeFeature, Any, dict]:
    from reidlab.engine.features import load_model

    model, preset, config = load_model(source, checkpoint, "cpu")
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return TestTimeFeature(model, preset.input_size, preset.test_flip), preset, config


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notices
    return ctx


def _names(wrapper: TestTimeFeature) -> list[str]:
    return ["images", "keypoints"] if wrapper.needs_keypoints else ["images"]


def export_onnx(source: Any, path: PathLike, checkpoint: str = "auto", verify: bool = True,
                opset: int = ONNX_OPSET) -> dict:
    """Export a run's test-time feature to an ONNX file (written atomically).

    Args:
        source: run folder, checkpoint file or :class:`reidlab.engine.Run`.
        path: output ``.onnx`` file.
        checkpoint: ``"best"``, ``"last"`` or ``"auto"`` for a run folder.
        verify: run the file with ONNX Runtime (if installed) at batch sizes 1 and 3 and
            compare with PyTorch; raises if they differ by more than ``1e-4`` (relative to the
            features' scale, at least 1e-4 absolute).
        opset: ONNX opset.

    Returns:
        ``{"path", "inputs", "feature_dim", "max_abs_diff"}`` (``max_abs_diff`` ``None`` when
        not verified).

    Raises:
        ConfigError: ``onnx`` not installed (``pip install 'reidlab[export]'``).
        CheckpointError: bad run/checkpoint, or the export failed / does not match PyTorch.
    """
    try:
        import onnx
    except ImportError:
        raise ConfigError("onnx is not installed: ONNX export needs it; pip install 'reidlab[export]' "
                          "(or pip install onnx onnxruntime)") from None
    from reidlab.fileio import atomic_open

    wrapper, preset, config = _prepare(source, checkpoint)
    args = example_inputs(wrapper.input_size, 2, wrapper.needs_keypoints)
    names = _names(wrapper)
    buf = io.BytesIO()
    ctx = _quiet()
    try:
        torch.onnx.export(wrapper, args, buf, dynamo=False, input_names=names, output_names=["features"],
                          dynamic_axes={n: {0: "batch"} for n in names + ["features"]}, opset_version=int(opset),
                          do_constant_folding=True)
    except Exception as err:  # exporter errors are many types; name the model and the cause
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"ONNX export of model {preset.model!r} failed ({first[:200]})") from None
    finally:
        ctx.__exit__(None, None, None)
    proto = onnx.load_from_string(buf.getvalue())
    h, w = wrapper.input_size
    meta = {
        "reidlab.preset": preset.name, "reidlab.model": preset.model,
        "reidlab.input_size": f"{h}x{w}", "reidlab.flip": str(preset.test_flip),
        "reidlab.metric": preset.metric, "reidlab.feature_dim": str(_feature_dim(wrapper)),
        "reidlab.inputs": ("images: uint8 [N, 3, H, W] RGB at the input size (normalised inside)"
                           + ("; keypoints: float32 [N, 18, 3] (x, y, visibility) in input pixels"
                              if wrapper.needs_keypoints else "")),
    }
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "reidlab"
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fh.write(proto.SerializeToString())
    diff = _verify_onnx(wrapper, path) if verify else None
    return {"path": path, "inputs": names, "feature_dim": _feature_dim(wrapper), "max_abs_diff": diff}


def _feature_dim(wrapper: TestTimeFeature) -> int:
    return int(wrapper.model.feature_dim) * (2 if wrapper.flip == "concat" else 1)


def _check_close(kind: str, path: Path, got: Tensor, ref: Tensor) -> float:
    diff = float((got - ref).abs().max())
    tol = 1e-4 * max(1.0, float(ref.abs().max()))
    if not diff <= tol:
        raise CheckpointError(f"{path}: the {kind} export differs from PyTorch by {diff:.3g} (> {tol:.3g}); "
                              "please report this model/preset")
    return diff


def _verify_onnx(wrapper: TestTimeFeature, path: Path) -> Optional[float]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (1, 3):
        args = example_inputs(wrapper.input_size, batch, wrapper.needs_keypoints, seed=batch)
        with torch.inference_mode():
            ref = wrapper(*args)
        got = sess.run(["features"], {n: a.numpy() for n, a in zip(_names(wrapper), args)})[0]
        worst = max(worst, _check_close("ONNX", path, torch.from_numpy(got), ref))
    return worst


def export_torchscript(source: Any, path: PathLike, checkpoint: str = "auto", verify: bool = True) -> dict:
    """Export a run's test-time feature as a traced TorchScript module (``torch.jit.load``-able,
    no reidlab needed to run it); same inputs and outputs as the ONNX file. ``verify`` reloads
    the file and compares it with the model at batch sizes 1 and 3. Returns
    ``{"path", "inputs", "feature_dim", "max_abs_diff"}``."""
    from reidlab.fileio import atomic_open

    wrapper, preset, config = _prepare(source, checkpoint)
    args = example_inputs(wrapper.input_size, 2, wrapper.needs_keypoints)
    ctx = _quiet()
    try:
        traced = torch.jit.trace(wrapper, args, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"TorchScript export of model {preset.model!r} failed ({first[:200]})") from None
    finally:
        ctx.__exit__(None, None, None)
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())
    diff = None
    if verify:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)   # torch.jit is deprecated in favour of torch.export
            loaded = torch.jit.load(str(path), map_location="cpu")
        diff = 0.0
        for batch in (1, 3):
            a = example_inputs(wrapper.input_size, batch, wrapper.needs_keypoints, seed=batch)
            with torch.inference_mode():
                diff = max(diff, _check_close("TorchScript", path, loaded(*a), wrapper(*a)))
    return {"path": path, "inputs": _names(wrapper), "feature_dim": _feature_dim(wrapper), "max_abs_diff": diff}


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="reidlab export",
        description="Export a trained run's test-time feature (normalisation, model, flip TTA) to ONNX and/or "
                    "TorchScript, with a dynamic batch axis. Input: uint8 [N, 3, H, W] RGB at the preset's input "
                    "size (+ keypoints [N, 18, 3] for pose-guided models); output: float32 [N, D] features.",
        epilog="examples:\n"
               "  reidlab export --run runs/pfn --onnx pfn.onnx\n"
               "  reidlab export --run runs/pfn/best.pt --onnx pfn.onnx --torchscript pfn.ts.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def export_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab export`` entry point; returns the process exit code."""
    p = _parser()
    p.add_argument("--run", required=True, help="run folder, or a checkpoint file (best.pt / last.pt) alone")
    p.add_argument("--onnx", default=None, help="write the ONNX file here")
    p.add_argument("--torchscript", default=None, help="write the TorchScript file here")
    p.add_argument("--checkpoint", default="auto", choices=("auto", "best", "last"),
                   help="weights of a run folder (default: best if present, else last)")
    p.add_argument("--opset", type=int, default=ONNX_OPSET, help=f"ONNX opset (default {ONNX_OPSET})")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch")
    args = p.parse_args(argv)
    if not args.onnx and not args.torchscript:
        raise ConfigError("nothing to export: pass --onnx FILE and/or --torchscript FILE (see reidlab export --help)")
    results = []
    if args.onnx:
        results.append(("ONNX", export_onnx(args.run, args.onnx, args.checkpoint, not args.no_verify, args.opset)))
    if args.torchscript:
        results.append(("TorchScript", export_torchscript(args.run, args.torchscript, args.checkpoint,
                                                          not args.no_verify)))
    for kind, r in results:
        check = ("not verified" if r["max_abs_diff"] is None
                 else f"max |diff| vs PyTorch {r['max_abs_diff']:.2e} at batch 1 and 3")
        print(f"{kind}: {r['path']}  inputs {', '.join(r['inputs'])} -> features [N, {r['feature_dim']}]  ({check})")
    return 0
