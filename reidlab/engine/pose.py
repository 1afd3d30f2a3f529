"""``reidlab keypoints``: body landmarks for every image of a dataset from a pose model (ONNX).

A top-down pose model (the images are already person boxes) runs through ONNX Runtime (the
optional extra ``pose``: ``pip install 'reidlab[pose]'``) over every image of a dataset (any
layout :func:`reidlab.data.load_dataset` reads; all splits, Market's ``gt_bbox/`` included)
and writes ``keypoints.json`` in the layout the readers load (:mod:`reidlab.data.keypoints`):
18 OpenPose / COCO-18 landmarks per image in pixels of the stored file, ``v = 1`` for a
landmark whose confidence is at least the threshold and that lies inside the image. Two extra
keys, ignored by the readers, keep the raw confidences (``"scores"``) and the settings of the
run (``"source"``: the model file, and as ``"settings"`` its SHA-256, input size, fit,
normalisation and threshold).

Resumable and atomic: the file is rewritten atomically (temporary file + rename) every
``save_every`` images and at the end (also when the run is interrupted), and a rerun with the
same model and settings skips the images already in the file. A file written by something
else (the synthetic generator's ground truth, an OpenPose conversion) or with other settings
is never overwritten without ``--overwrite``.

The model's input and output conventions are read from the ONNX file (see
:class:`OnnxPoseModel`); the geometry and decoders are in :mod:`reidlab.data.pose`. No model
is downloaded: the user passes the ``.onnx`` file (e.g. an RTMPose or ViTPose export, see the
README).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from reidlab.data.pose import (
    DEFAULT_BOX_SCALE,
    DEFAULT_MEAN,
    DEFAULT_STD,
    DEFAULT_THRESHOLD,
    FITS,
    coco17_to_openpose18,
    decode_heatmaps,
    decode_simcc,
    normalize_batch,
    prepare_image,
    threshold_keypoints,
)
from reidlab.errors import CheckpointError, ConfigError, DatasetError

__all__ = ["OnnxPoseModel", "KeypointRun", "estimate_keypoints", "keypoints_main", "import_onnxruntime"]

PathLike = Union[str, os.PathLike]
log = logging.getLogger("reidlab")

#: Landmark formats a model can output (``"auto"``: from the number of channels, 17 or 18).
FORMATS: tuple[str, ...] = ("auto", "coco17", "openpose18")
#: Name of the tool in the ``"source"`` record of the written file.
SOURCE_TOOL = "reidlab keypoints"
_FORMAT_K = {"coco17": 17, "openpose18": 18}


def import_onnxruntime():
    """``import onnxruntime``, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("onnxruntime is not installed: the pose model runs with ONNX Runtime; install the "
                          "optional extra with pip install 'reidlab[pose]' (or pip install onnxruntime)") from None
    return onnxruntime


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _dim(v: Any) -> Optional[int]:
    """A static ONNX dimension as an int, ``None`` when symbolic/unknown."""
    return int(v) if isinstance(v, (int, np.integer)) and int(v) > 0 else None


def _fmt_shape(shape: Sequence) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"


class OnnxPoseModel:
    """A top-down pose model in an ONNX file, with its input and output conventions.

    Args:
        path: the ``.onnx`` file.
        fmt: landmark order of the output channels: ``"coco17"``, ``"openpose18"`` or
            ``"auto"`` (17 channels -> COCO-17, 18 -> OpenPose-18). With an explicit format a
            wider output keeps its first 17 / 18 channels (COCO-WholeBody and Halpe put the
            COCO-17 body first; OpenPose's COCO model appends a background map).
        input_size: ``(H, W)``; required only when the model's input shape leaves them open
            (must match when it fixes them).
        fit, box_scale, pad_value: how the image is placed in the input
            (:func:`reidlab.data.pose.fit_transform`).
        mean, std: normalisation on the 0-255 scale, in the order of the fed channels
            (default ImageNet RGB); ignored for a ``uint8`` input.
        channel_order: ``"rgb"`` (default) or ``"bgr"``.
        batch_size: images per run when the model's batch axis is dynamic (a fixed batch
            axis is used as it is; the last batch is zero-padded).
        threads: ONNX Runtime intra-op threads (default: its own choice).
        providers: ONNX Runtime execution providers (default: CPU).

    Conventions read from the file: one image input of rank 4 in NCHW (``[N, 3, H, W]``) or
    NHWC (``[N, H, W, 3]``) layout, float32 (normalised) or uint8 (raw pixels); outputs either
    heatmaps ``[N, K, h, w]`` (the first rank-4 output) or a SimCC pair ``[N, K, Wx]``,
    ``[N, K, Wy]`` (exactly two rank-3 outputs; the one whose name ends in ``x`` is x, else
    the first) with ``split_ratio = Wx / W = Wy / H``.

    Raises:
        ConfigError: onnxruntime missing, or options that do not fit the model.
        CheckpointError: the file is missing, not an ONNX model, or its inputs / outputs do
            not follow the conventions above (one line naming the file and the shapes).
    """

    def __init__(self, path: PathLike, fmt: str = "auto", input_size: Optional[tuple[int, int]] = None,
                 fit: str = "letterbox", box_scale: float = DEFAULT_BOX_SCALE,
                 mean: Sequence[float] = DEFAULT_MEAN, std: Sequence[float] = DEFAULT_STD,
                 channel_order: str = "rgb", pad_value: Sequence[int] = (0, 0, 0), batch_size: int = 16,
                 threads: Optional[int] = None, providers: Optional[Sequence[str]] = None) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        if fmt not in FORMATS:
            raise ConfigError(f"format {fmt!r} is invalid; expected one of {', '.join(FORMATS)}")
        if fit not in FITS:
            raise ConfigError(f"fit={fit!r} is invalid; expected one of {', '.join(FITS)}")
        if channel_order not in ("rgb", "bgr"):
            raise ConfigError(f"channel_order={channel_order!r} is invalid; expected 'rgb' or 'bgr'")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid; expected a positive integer")
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: pose model file not found; pass the .onnx file of a top-down "
                                  "pose model (e.g. an RTMPose or ViTPose export, see the README)")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts,
                                                providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CheckpointError(f"{self.path}: not a readable ONNX model ({first[:200]}); pass the .onnx file "
                                  "of a top-down pose model (e.g. an RTMPose or ViTPose export)") from None
        self.fmt, self.fit, self.box_scale = fmt, fit, float(box_scale)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(f"mean={self.mean} std={self.std}: expected three numbers each (0-255 scale), std > 0")
        self.channel_order = channel_order
        self.pad_value = tuple(int(v) for v in pad_value)
        self._read_input(input_size, int(batch_size))
        self._read_outputs()

    # ------------------------------------------------------------------ conventions
    def _bad(self, what: str) -> CheckpointError:
        ins = ", ".join(f"{i.name} {_fmt_shape(i.shape)} {i.type}" for i in self.session.get_inputs())
        outs = ", ".join(f"{o.name} {_fmt_shape(o.shape)}" for o in self.session.get_outputs())
        return CheckpointError(f"{self.path}: {what} (inputs: {ins}; outputs: {outs}); expected a top-down pose "
                               "model with one image input [N, 3, H, W] and heatmaps [N, K, h, w] or SimCC "
                               "outputs x [N, K, Wx], y [N, K, Wy]")

    def _read_input(self, input_size: Optional[tuple[int, int]], batch_size: int) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise self._bad(f"{len(inputs)} inputs, expected one image input")
        inp = inputs[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise self._bad(f"input {inp.name!r} has rank {len(shape)}, expected 4")
        dims = [_dim(d) for d in shape]
        if dims[1] == 3:
            self.layout, hw = "nchw", (dims[2], dims[3])
        elif dims[3] == 3:
            self.layout, hw = "nhwc", (dims[1], dims[2])
        else:
            raise self._bad(f"input {inp.name!r} has no 3-channel axis (NCHW or NHWC)")
        types = {"tensor(float)": "float32", "tensor(uint8)": "uint8"}
        if inp.type not in types:
            raise self._bad(f"input {inp.name!r} is {inp.type}, expected float32 or uint8")
        self.input_name, self.input_dtype = inp.name, types[inp.type]
        if input_size is not None:
            want = (int(input_size[0]), int(input_size[1]))
            if any(d is not None and d != v for d, v in zip(hw, want)):
                raise ConfigError(f"{self.path}: input size {want[0]}x{want[1]} given but the model's input is "
                                  f"{hw[0]}x{hw[1]} (HxW); drop --input-size")
            hw = want
        if hw[0] is None or hw[1] is None:
            raise ConfigError(f"{self.path}: the model's input height/width are not fixed ({_fmt_shape(shape)}); "
                              "pass the size it was trained at, e.g. --input-size 256x192")
        self.input_size: tuple[int, int] = (int(hw[0]), int(hw[1]))
        self.fixed_batch: Optional[int] = dims[0]
        self.batch_size = self.fixed_batch or batch_size

    def _read_outputs(self) -> None:
        outs = self.session.get_outputs()
        rank4 = [o for o in outs if len(o.shape) == 4]
        rank3 = [o for o in outs if len(o.shape) == 3]
        if len(rank3) == 2:
            x, y = rank3
            if y.name.lower().endswith("x") and not x.name.lower().endswith("x"):
                x, y = y, x
            self.kind, self.output_names = "simcc", [x.name, y.name]
            k_dims = (_dim(x.shape[1]), _dim(y.shape[1]))
        elif rank4:
            self.kind, self.output_names = "heatmap", [rank4[0].name]
            k_dims = (_dim(rank4[0].shape[1]),)
        else:
            raise self._bad("no heatmap output [N, K, h, w] and no SimCC pair [N, K, Wx], [N, K, Wy]")
        k = next((d for d in k_dims if d is not None), None)
        if k is not None:
            self._resolve_format(k)

    def _resolve_format(self, k: int) -> None:
        if self.fmt == "auto":
            if k not in (17, 18):
                raise self._bad(f"{k} landmark channels; with --format auto expected 17 (COCO) or 18 (OpenPose); "
                                "pass --format coco17 if its first 17 channels are the COCO body landmarks")
            self.resolved_fmt = "coco17" if k == 17 else "openpose18"
        else:
            need = _FORMAT_K[self.fmt]
            if k < need:
                raise self._bad(f"{k} landmark channels, but --format {self.fmt} needs at least {need}")
            self.resolved_fmt = self.fmt
        self.num_channels = k

    # ------------------------------------------------------------------ inference
    def describe(self) -> dict:
        """The settings that determine the output (stored in ``keypoints.json``'s
        ``"source"``; the model is identified by its content, not its path)."""
        return {
            "model_sha256": _sha256(self.path), "output": self.kind,
            "format": self.fmt, "input_size": list(self.input_size), "layout": self.layout,
            "input_dtype": self.input_dtype, "fit": self.fit, "box_scale": self.box_scale,
            "pad_value": list(self.pad_value), "mean": list(self.mean), "std": list(self.std),
            "channel_order": self.channel_order,
        }

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        n = batch.shape[0]
        if self.fixed_batch is not None and n < self.fixed_batch:
            pad = np.zeros((self.fixed_batch - n,) + batch.shape[1:], dtype=batch.dtype)
            batch = np.concatenate([batch, pad])
        try:
            outs = self.session.run(self.output_names, {self.input_name: batch})
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CheckpointError(f"{self.path}: inference failed ({first[:200]}); check --input-size and the "
                                  "model's input conventions (see the README)") from None
        return [np.asarray(o)[:n] for o in outs]

    def _decode(self, outs: list[np.ndarray], n: int) -> np.ndarray:
        ih, iw = self.input_size
        if self.kind == "heatmap":
            hm = outs[0]
            if hm.ndim != 4 or hm.shape[0] != n:
                raise self._bad(f"heatmap output has shape {tuple(hm.shape)} for a batch of {n}")
            if not hasattr(self, "resolved_fmt"):
                self._resolve_format(hm.shape[1])
            if hm.shape[1] != self.num_channels:
                raise self._bad(f"heatmap output has {hm.shape[1]} channels, the file declares {self.num_channels}")
            xy, score = decode_heatmaps(hm, self.input_size)
        else:
            sx, sy = outs
            if sx.ndim != 3 or sy.ndim != 3 or sx.shape[:2] != sy.shape[:2] or sx.shape[0] != n:
                raise self._bad(f"SimCC outputs have shapes {tuple(sx.shape)} and {tuple(sy.shape)} for a batch of {n}")
            if not hasattr(self, "resolved_fmt"):
                self._resolve_format(sx.shape[1])
            if sx.shape[1] != self.num_channels:
                raise self._bad(f"SimCC outputs have {sx.shape[1]} channels, the file declares {self.num_channels}")
            rx, ry = sx.shape[2] / iw, sy.shape[2] / ih
            if abs(rx - ry) > 1e-6 or rx <= 0:
                raise self._bad(f"SimCC x has {sx.shape[2]} bins for width {iw} (ratio {rx:g}) but y has "
                                f"{sy.shape[2]} for height {ih} (ratio {ry:g}); the ratios must match")
            xy, score = decode_simcc(sx, sy, rx)
        kp = np.concatenate([xy, score[..., None]], -1)
        if self.resolved_fmt == "coco17":
            return kp[:, :17]
        return kp[:, :18]

    def predict(self, images: Sequence) -> np.ndarray:
        """Scored landmarks of RGB PIL images.

        Returns:
            float32 ``[N, 18, 3]`` ``(x, y, score)`` in OpenPose-18 order, in continuous pixels
            of each image (COCO-17 outputs mapped by
            :func:`reidlab.data.pose.coco17_to_openpose18`). Thresholding is separate
            (:func:`reidlab.data.pose.threshold_keypoints`).
        """
        out = np.zeros((len(images), 18, 3), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            pixels, tfs = zip(*(prepare_image(im, self.input_size, self.fit, self.box_scale, self.pad_value)
                                for im in chunk))
            batch = normalize_batch(np.stack(pixels), self.mean, self.std, self.channel_order, self.layout,
                                    self.input_dtype)
            kp = self._decode(self._run(batch), len(chunk))
            for i, tf in enumerate(tfs):
                kp[i, :, :2] = tf.to_image(kp[i, :, :2])
            if self.resolved_fmt == "coco17":
                kp = coco17_to_openpose18(kp)
            out[start:start + len(chunk)] = kp
        return out


# --------------------------------------------------------------------------- whole dataset


@dataclass
class KeypointRun:
    """What :func:`estimate_keypoints` did.

    Attributes:
        path: the written ``keypoints.json``.
        total: images in the dataset (all splits, each file once).
        computed: images run through the model in this call.
        skipped: images already in the file (resumed).
        visible: fraction of visible landmarks per OpenPose-18 landmark over the dataset's
            images (length 18).
        seconds: wall time of the model runs.
    """

    path: Path
    total: int
    computed: int
    skipped: int
    visible: list[float]
    seconds: float


def _read_existing(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: exists but cannot be read as JSON ({err}); pass --overwrite to replace it") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: exists but is not a keypoints.json file; pass --overwrite to replace it")
    return data


def _write(path: Path, entries: dict, scores: dict, source: dict) -> None:
    from reidlab.data.keypoints import KEYPOINT_FORMAT
    from reidlab.fileio import atomic_open

    payload = {
        "format": KEYPOINT_FORMAT,
        "keypoints": {k: entries[k] for k in sorted(entries)},
        "scores": {k: scores[k] for k in sorted(scores)},
        "source": source,
    }
    with atomic_open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))


def estimate_keypoints(data: PathLike, model: Union[OnnxPoseModel, PathLike], out: Optional[PathLike] = None,
                       dataset: str = "auto", threshold: float = DEFAULT_THRESHOLD, save_every: int = 1000,
                       overwrite: bool = False, progress: bool = False, **dataset_options: Any) -> KeypointRun:
    """Run a pose model over every image of a dataset and write ``keypoints.json``.

    Args:
        data: dataset root (any layout of :func:`reidlab.data.load_dataset`).
        model: an :class:`OnnxPoseModel` or the path of an ``.onnx`` file (default options).
        out: output file (default ``<data>/keypoints.json``, where the readers look).
        dataset: layout name or ``"auto"``; ``dataset_options`` go to the reader
            (``version=`` for MSMT17, ``variant=`` for CUHK03-NP).
        threshold: minimum confidence of a visible landmark.
        save_every: rewrite the file (atomically) after this many new images.
        overwrite: replace an existing file written by something else or with other settings.
        progress: show a tqdm bar.

    Returns:
        A :class:`KeypointRun` summary. Keys of the file are image paths relative to the
        dataset root (``/`` separated); entries of images not in this dataset are kept.

    Raises:
        DatasetError: bad dataset folder or image, or an existing file that this call may not
            overwrite (one line with the fix).
    """
    from reidlab.data import load_dataset
    from reidlab.data.images import load_rgb

    if not float(threshold) >= 0.0:
        raise ConfigError(f"threshold={threshold!r} is invalid; expected a number >= 0")
    if int(save_every) < 1:
        raise ConfigError(f"save_every={save_every!r} is invalid; expected a positive integer")
    ds = load_dataset(dataset, data, keypoints=None, **dataset_options)
    if not isinstance(model, OnnxPoseModel):
        model = OnnxPoseModel(model)
    out_path = Path(out) if out is not None else Path(data) / "keypoints.json"
    root = Path(ds.root)
    records, seen = [], set()
    for recs in ds.splits().values():
        for r in recs:
            if r.path not in seen:
                seen.add(r.path)
                records.append(r)
    keys = [Path(r.path).relative_to(root).as_posix() for r in records]

    source = {"tool": SOURCE_TOOL, "model": str(model.path.resolve()),
              "settings": {**model.describe(), "threshold": float(threshold)}}
    entries: dict[str, list] = {}
    scores: dict[str, list] = {}
    existing = None if overwrite else _read_existing(out_path)
    if existing is not None:
        old = existing.get("source")
        if not isinstance(old, dict) or old.get("tool") != SOURCE_TOOL:
            raise DatasetError(f"{out_path}: exists and was not written by `reidlab keypoints` (e.g. ground truth or "
                               "an OpenPose conversion); pass --overwrite to replace it or --out to write elsewhere")
        if old.get("settings") != source["settings"]:
            diff = sorted(k for k in set(old.get("settings", {})) | set(source["settings"])
                          if old.get("settings", {}).get(k) != source["settings"].get(k))
            raise DatasetError(f"{out_path}: written with other settings (differing: {', '.join(diff)}); pass "
                               "--overwrite to recompute every image or --out to write elsewhere")
        entries = dict(existing.get("keypoints", {}))
        scores = dict(existing.get("scores", {}))
    todo = [(i, k) for i, k in enumerate(keys) if k not in entries]
    skipped = len(keys) - len(todo)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="keypoints", unit="img", leave=False)
    computed, since_save, seconds = 0, 0, 0.0
    source["complete"] = False
    try:
        step = model.batch_size
        for start in range(0, len(todo), step):
            part = todo[start:start + step]
            images = [load_rgb(records[i].path) for i, _ in part]
            t0 = time.perf_counter()
            kp = model.predict(images)
            seconds += time.perf_counter() - t0
            for (_i, key), img, k in zip(part, images, kp):
                stored = threshold_keypoints(k, (img.height, img.width), threshold)
                entries[key] = [round(float(v), 3) for v in stored.reshape(-1)]
                scores[key] = [round(float(v), 4) for v in k[:, 2]]
            computed += len(part)
            since_save += len(part)
            if bar is not None:
                bar.update(len(part))
            if since_save >= save_every:
                _write(out_path, entries, scores, source)
                since_save = 0
    except BaseException:
        if since_save:  # keep the finished part (also on Ctrl-C); a rerun resumes from it
            _write(out_path, entries, scores, source)
        raise
    finally:
        if bar is not None:
            bar.close()
    source["complete"] = True
    _write(out_path, entries, scores, source)
    vis = np.zeros(18)
    for k in keys:
        vis += np.asarray(entries[k], dtype=np.float32).reshape(18, 3)[:, 2] > 0
    visible = (vis / max(1, len(keys))).round(4).tolist()
    log.info("keypoints: %d computed, %d skipped, written to %s", computed, skipped, out_path)
    return KeypointRun(out_path, len(keys), computed, skipped, visible, seconds)


# --------------------------------------------------------------------------- command line


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HxW, e.g. 256x192") from None
    return h, w


def _triple(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three comma-separated numbers, e.g. 123.675,116.28,103.53")
    return vals  # type: ignore[return-value]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reidlab keypoints",
        description="Body landmarks for every image of a dataset from a top-down pose model (ONNX, run with "
                    "onnxruntime), written to <data>/keypoints.json (18 OpenPose/COCO-18 landmarks per image, "
                    "image pixels). Resumable: a rerun skips the images already done.",
        epilog="examples:\n"
               "  reidlab keypoints --data data/market1501 --model rtmpose-s-256x192.onnx\n"
               "  reidlab keypoints --data data/market1501 --model vitpose-b.onnx --format coco17 --threshold 0.2\n"
               "input conventions: see the README section on body landmarks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="dataset root folder")
    p.add_argument("--model", required=True, help="pose model .onnx file (top-down: RTMPose, ViTPose, HRNet ...)")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="landmark order of the model's output channels (default: from their number, 17 or 18)")
    p.add_argument("--out", default=None, help="output file (default: <data>/keypoints.json)")
    p.add_argument("--dataset", default="auto", help="dataset layout (default: auto-detect)")
    p.add_argument("--version", default=None, help="msmt17 only: V1, V2 or auto")
    p.add_argument("--variant", default=None, help="cuhk03np only: detected (default) or labeled")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"confidence of a visible landmark (default {DEFAULT_THRESHOLD})")
    p.add_argument("--input-size", type=_size, default=None,
                   help="HxW, only for models whose input size is not fixed in the file")
    p.add_argument("--fit", default="letterbox", choices=FITS,
                   help="keep the aspect ratio and pad (default) or stretch to the input")
    p.add_argument("--box-scale", type=float, default=DEFAULT_BOX_SCALE,
                   help=f"enlarge the person box by this factor before fitting (default {DEFAULT_BOX_SCALE}, mmpose)")
    p.add_argument("--mean", type=_triple, default=DEFAULT_MEAN, help="channel means, 0-255 scale (default ImageNet)")
    p.add_argument("--std", type=_triple, default=DEFAULT_STD, help="channel stds, 0-255 scale (default ImageNet)")
    p.add_argument("--bgr", action="store_true", help="feed BGR instead of RGB")
    p.add_argument("--pad-value", type=_triple, default=(0, 0, 0), help="fill colour of the padding (default black)")
    p.add_argument("--batch-size", type=int, default=16, help="images per model run (dynamic batch axis only)")
    p.add_argument("--save-every", type=int, default=1000, help="rewrite the file after this many images")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file instead of resuming")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def keypoints_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab keypoints`` entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    opts = {}
    if args.version is not None:
        opts["version"] = args.version
    if args.variant is not None:
        opts["variant"] = args.variant
    model = OnnxPoseModel(args.model, fmt=args.format, input_size=args.input_size, fit=args.fit,
                          box_scale=args.box_scale, mean=args.mean, std=args.std,
                          channel_order="bgr" if args.bgr else "rgb", pad_value=tuple(int(v) for v in args.pad_value),
                          batch_size=args.batch_size, threads=args.threads)
    res = estimate_keypoints(args.data, model, out=args.out, dataset=args.dataset, threshold=args.threshold,
                             save_every=args.save_every, overwrite=args.overwrite,
                             progress=not args.no_progress and sys.stderr.isatty(), **opts)
    from reidlab.data.records import KEYPOINT_NAMES

    print(f"{res.path}: {res.total} images ({res.computed} computed, {res.skipped} already done); "
          f"model output {model.kind}, {model.resolved_fmt if hasattr(model, 'resolved_fmt') else model.fmt}, "
          f"input {model.input_size[0]}x{model.input_size[1]}, threshold {args.threshold:g}")
    print("visible: " + ", ".join(f"{n} {100 * v:.0f}%" for n, v in zip(KEYPOINT_NAMES, res.visible)))
    return 0
