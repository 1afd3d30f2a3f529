"""A trained model as a function: images in, test features out.

::

    from reidlab import FeatureExtractor
    extractor = FeatureExtractor("runs/pfn")            # or "runs/pfn/best.pt" alone
    feats = extractor(["a.jpg", "b.jpg"])               # float32 [2, D] on the CPU
    feats = extractor([pil_image, uint8_hwc_array, chw_tensor])

The features are the ones evaluation uses: every input becomes the same 8-bit RGB pixels the
lab's image cache would hold (:func:`reidlab.data.images.load_rgb` for files,
:func:`reidlab.data.images.pil_to_rgb` for in-memory images: bilinear resize to the preset's
input size), then :func:`reidlab.engine.extract.extract_features` runs on them with the
preset's test-time protocol (normalisation, flip concat / mean, autocast, channels-last). So
``extractor(paths)`` equals ``extract_features(run.model, records, ...)`` on the same files.

Weights: a run folder (``best.pt``, else ``last.pt``) or a checkpoint file alone — every
reidlab checkpoint carries its configuration (preset and number of identities), so no run
folder is needed to rebuild the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from reidlab.data.images import ImageCache
from reidlab.errors import CheckpointError, ConfigError

__all__ = ["FeatureExtractor", "load_model", "resolve_device"]

PathLike = Union[str, os.PathLike]


def resolve_device(device: Union[str, torch.device, None] = "auto") -> torch.device:
    """``"auto"`` / ``None`` -> CUDA if available, else Apple MPS if available, else CPU."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def _build_model(preset, num_classes: int) -> nn.Module:
    try:  # the trainer's builder (it may live in engine/build.py)
        from reidlab.engine.build import build_model  # type: ignore[import-not-found]
    except ImportError:
        from reidlab.engine.trainer import build_model
    return build_model(preset, num_classes)


def load_model(source: Any, checkpoint: str = "auto",
               device: Union[str, torch.device] = "cpu") -> tuple[nn.Module, Any, dict]:
    """Rebuild a trained model from a run folder, a checkpoint file or a loaded run.

    Args:
        source: a run folder (see :func:`reidlab.engine.load_run`), a checkpoint file
            (``best.pt`` / ``last.pt``: its ``config`` holds the preset and the number of
            identities) or a :class:`reidlab.engine.Run`.
        checkpoint: for a folder: ``"best"``, ``"last"`` or ``"auto"`` (best if present).
        device: where to put the model.

    Returns:
        ``(model, preset, config)``: the model in eval mode, its
        :class:`~reidlab.presets.Preset` and the run configuration dict.

    Raises:
        CheckpointError: missing or corrupt folder / file, or a checkpoint without a config.
    """
    from reidlab.engine.runs import Run, load_run

    if isinstance(source, Run):
        return source.model.to(device).eval(), source.preset, source.config
    path = Path(source)
    if path.is_dir():
        run = load_run(path, checkpoint=checkpoint, device=device)
        return run.model.eval(), run.preset, run.config
    if not path.is_file():
        raise CheckpointError(f"{path}: no such run folder or checkpoint file; pass a folder written by "
                              "`reidlab train` or its best.pt / last.pt")
    from reidlab.engine.checkpoint import load_checkpoint
    from reidlab.presets import Preset

    state = load_checkpoint(path)
    config = state.get("config")
    if not isinstance(config, dict) or "preset" not in config or "num_classes" not in config:
        raise CheckpointError(f"{path}: the checkpoint has no config (preset, num_classes); use a best.pt / last.pt "
                              "written by `reidlab train`")
    preset = Preset.from_dict(config["preset"])
    model = _build_model(preset, int(config["num_classes"]))
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path}: the weights do not fit preset {preset.name!r} ({first[:160]}); "
                              "the file is corrupt or from another version") from None
    return model.to(device).eval(), preset, config


class _TensorCache(ImageCache):
    """Already decoded ``uint8 [N, 3, H, W]`` pixels in the image cache's interface, so
    :func:`~reidlab.engine.extract.extract_features` runs on them unchanged."""

    def __init__(self, images: Tensor) -> None:  # noqa: D401 - no decoding: the pixels are given
        self.paths = [""] * int(images.shape[0])
        self.size = (int(images.shape[-2]), int(images.shape[-1]))
        self.num_threads = 1
        self.cache_file = None
        self.from_disk_cache = False
        self.images = images


def _describe(item: Any) -> str:
    if isinstance(item, (np.ndarray, Tensor)):
        return f"{type(item).__name__} {item.dtype} {tuple(item.shape)}"
    return type(item).__name__


def _as_items(images: Any) -> list:
    """Split the call's argument into single images."""
    from PIL import Image

    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, Tensor):
        return list(images) if images.dim() == 4 else [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    if hasattr(images, "path") and hasattr(images, "pid"):   # one ImageRecord
        return [images]
    raise ConfigError(f"FeatureExtractor: cannot read images from {_describe(images)}; pass paths, PIL images, "
                      "uint8 HxWx3 arrays, [3, H, W] tensors, or a list of them")


def _to_uint8_hwc(item: Any) -> np.ndarray:
    """An in-memory image as uint8 ``[H, W, C]`` (``C`` 1, 3 or 4) or ``[H, W]``."""
    if isinstance(item, Tensor):
        t = item.detach().cpu()
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ConfigError(f"FeatureExtractor: a tensor image must be [3, H, W] (or [1, H, W]), got "
                              f"{_describe(item)}")
        arr = t.permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(item)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise ConfigError(f"FeatureExtractor: an array image must be H x W x 3 (or H x W, H x W x 1, "
                              f"H x W x 4), got {_describe(item)}")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise ConfigError(f"FeatureExtractor: a float image must hold RGB values in [0, 1], got "
                              f"{lo:.3g}..{hi:.3g} ({_describe(item)}); pass uint8 0-255 pixels or raw images, "
                              "not normalised network input")
        return np.clip(np.round(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    raise ConfigError(f"FeatureExtractor: unsupported pixel type {_describe(item)}; expected uint8 (0-255) or "
                      "float (0-1)")


class FeatureExtractor:
    """Test features of images with a trained run's preprocessing and test-time protocol.

    Args:
        run_dir_or_weights: a run folder, a checkpoint file (``best.pt`` / ``last.pt`` alone
            is enough) or a :class:`reidlab.engine.Run`.
        device: ``"auto"`` (CUDA, else MPS, else CPU), ``"cpu"``, ``"cuda:1"``...
        checkpoint: for a run folder: ``"best"``, ``"last"`` or ``"auto"``.
        batch_size: images per forward pass (default: the preset's ``eval_batch_size``).
        amp: ``"preset"`` (the run's autocast setting, as in evaluation; fp16 falls back to
            fp32 off CUDA), or an explicit ``"bf16"`` / ``"fp16"`` / ``"auto"`` / ``None`` (fp32).

    Call ``extractor(images, keypoints=None)`` with one image or a list of them:

    * file paths (str / ``os.PathLike``) — decoded as the lab decodes dataset images;
    * ``PIL.Image`` s (any mode: converted to RGB);
    * numpy arrays ``H x W x 3`` (also ``H x W``, ``x 1``, ``x 4``), uint8 0-255 or float 0-1;
      a 4-D array is a batch ``N x H x W x 3``;
    * torch tensors ``[3, H, W]`` uint8 0-255 or float 0-1 (``torchvision``'s ``to_tensor``
      convention, *not* normalised); a 4-D tensor is a batch;
    * :class:`~reidlab.data.records.ImageRecord` s (their keypoints are used).

    Each image is resized to the preset's ``input_size`` (bilinear). ``keypoints`` — only for
    pose-guided models (``needs_keypoints``) — is ``[N, 18, 3]`` ``(x, y, visibility)`` in
    pixels of each image as given (the ``keypoints.json`` convention); all zeros means no
    landmarks (the model then uses its pre-defined regions).

    Returns a float32 CPU tensor ``[N, feature_dim]`` (``feature_dim`` = the model's test
    feature, doubled with ``flip="concat"``). Runs in eval mode without gradients.

    A JPEG file at least twice the input size is downscaled while decoding (JPEG's DCT
    scaling, as in training and evaluation); the same image passed in memory is resized from
    full resolution, so its features can differ slightly.
    """

    def __init__(self, run_dir_or_weights: Any, device: Union[str, torch.device, None] = "auto",
                 checkpoint: str = "auto", batch_size: Optional[int] = None, amp: Optional[str] = "preset") -> None:
        self.device = resolve_device(device)
        self.model, self.preset, self.config = load_model(run_dir_or_weights, checkpoint, self.device)
        p = self.preset
        self.input_size: tuple[int, int] = (int(p.input_size[0]), int(p.input_size[1]))
        self.flip: Optional[str] = p.test_flip
        self.batch_size = int(batch_size or p.eval_batch_size)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid; expected a positive integer")
        if amp == "preset":
            amp = p.amp
            if amp == "fp16" and self.device.type != "cuda":
                amp = None
            if self.device.type not in ("cpu", "cuda"):
                amp = None
        self.amp: Optional[str] = amp
        self.channels_last = bool(p.channels_last)
        self.needs_keypoints = bool(getattr(self.model, "needs_keypoints", False))
        self.source = str(run_dir_or_weights) if isinstance(run_dir_or_weights, (str, os.PathLike)) else "run"

    @property
    def feature_dim(self) -> int:
        """Width of the returned features (the model's ``feature_dim``, x2 with flip concat)."""
        return int(self.model.feature_dim) * (2 if self.flip == "concat" else 1)

    def __repr__(self) -> str:
        return (f"FeatureExtractor({self.source!r}, preset={self.preset.name!r}, device={str(self.device)!r}, "
                f"input_size={self.input_size}, flip={self.flip!r}, amp={self.amp!r}, feature_dim={self.feature_dim})")

    # ------------------------------------------------------------------ decoding
    def _pixels(self, item: Any) -> tuple[Tensor, tuple[int, int]]:
        """One image -> (uint8 [3, H, W] at the input size, its original (h, w))."""
        from PIL import Image

        from reidlab.data.images import load_rgb, pil_to_rgb

        size = self.input_size
        if isinstance(item, (str, os.PathLike)):
            img = load_rgb(item, size)          # the image cache's decoder (one-line errors)
            orig = size
            if self.needs_keypoints:
                with Image.open(item) as head:   # header only
                    orig = (head.height, head.width)
        elif isinstance(item, Image.Image):
            orig = (item.height, item.width)
            img = pil_to_rgb(item, size)
        elif isinstance(item, (np.ndarray, Tensor)):
            arr = _to_uint8_hwc(item)
            orig = (arr.shape[0], arr.shape[1])
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[..., 0]
            img = pil_to_rgb(Image.fromarray(np.ascontiguousarray(arr)), size)
        else:
            raise ConfigError(f"FeatureExtractor: cannot read an image from {_describe(item)}; pass paths, PIL "
                              "images, uint8 HxWx3 arrays or [3, H, W] tensors")
        u8 = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
        return u8, orig

    # ------------------------------------------------------------------ call
    @torch.inference_mode()
    def __call__(self, images: Any, keypoints: Any = None) -> Tensor:
        from reidlab.engine.extract import extract_features

        items = _as_items(images)
        common = dict(size=self.input_size, batch_size=self.batch_size, flip=self.flip, device=self.device,
                      amp=self.amp, channels_last=self.channels_last)
        if not items:
            return torch.zeros(0, self.feature_dim)
        if all(hasattr(it, "path") and hasattr(it, "pid") for it in items):
            if keypoints is not None:
                raise ConfigError("FeatureExtractor: ImageRecords carry their own keypoints; do not pass keypoints=")
            return extract_features(self.model, items, **common)
        kp_all = None
        if self.needs_keypoints:
            if keypoints is None:
                raise ConfigError(f"model {self.preset.model!r} needs body landmarks: call extractor(images, "
                                  "keypoints=[N, 18, 3]) with (x, y, visibility) in pixels of each image (e.g. from "
                                  "keypoints.json; all zeros = no landmarks, pre-defined regions)")
            kp_all = torch.as_tensor(np.asarray(keypoints, dtype=np.float32))
            if kp_all.dim() == 2:
                kp_all = kp_all[None]
            if tuple(kp_all.shape) != (len(items), 18, 3):
                raise ConfigError(f"keypoints have shape {tuple(kp_all.shape)}; expected [{len(items)}, 18, 3] "
                                  "(one (x, y, visibility) row per landmark and image)")
        elif keypoints is not None:
            raise ConfigError(f"model {self.preset.model!r} does not use keypoints; drop keypoints=")
        out = []
        chunk = max(4 * self.batch_size, 256)
        h, w = self.input_size
        for start in range(0, len(items), chunk):
            decoded = [self._pixels(it) for it in items[start:start + chunk]]
            cache = _TensorCache(torch.stack([u8 for u8, _ in decoded]))
            kp = None
            if kp_all is not None:
                kp = kp_all[start:start + chunk].clone()
                scale = torch.tensor([[w / ow, h / oh] for _, (oh, ow) in decoded], dtype=torch.float32)
                kp[..., :2] *= scale[:, None, :]
            out.append(extract_features(self.model, cache, keypoints=kp, **common))
        return torch.cat(out)
