"""Feature extraction with flip test-time augmentation.

``extract_features(model, records, size=(256, 128), flip="concat")`` decodes the images once
(:class:`reidlab.data.images.ImageCache`), normalises batches on the model's device and returns
the eval-mode test features ``[N, D]`` (``[N, 2D]`` with ``flip="concat"``) as float32 on the
CPU, in the order of ``records``.

Flip TTA: the feature of the horizontally mirrored image is computed too and either
concatenated after the plain one (``"concat"``, PFN) or averaged with it (``"mean"``). For
pose-guided models the landmarks are mirrored with the image (``x -> W - x`` and left/right
swapped, :data:`reidlab.data.records.FLIP_PERMUTATION`).
"""

from __future__ import annotations

import contextlib
import os
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from reidlab.device import resolve_device  # also re-exported (defined once, in reidlab.device)
from reidlab.errors import ConfigError, DatasetError

__all__ = ["extract_features", "records_keypoints", "flip_keypoints", "autocast_context", "resolve_device"]


def amp_dtype(amp: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """Autocast dtype for a preset's ``amp`` value on ``device`` (``None`` = fp32).

    ``"auto"``: bf16 on CPU and on bf16-capable GPUs, else fp16.
    """
    if amp is None:
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type == "cpu":
            raise ConfigError("amp='fp16' is only supported on CUDA; use amp='bf16' or amp=None on the CPU")
        return torch.float16
    if amp == "auto":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    raise ConfigError(f"amp={amp!r} is invalid; expected 'auto', 'bf16', 'fp16' or None")


def autocast_context(device: torch.device, dtype: Optional[torch.dtype]):
    """``torch.autocast`` for ``device`` with ``dtype``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:  # reads the header only
        return img.height, img.width


#: A visible landmark must lie inside its image extended by this fraction of the image's width
#: (x) and height (y) on every side; farther out it is a wrong coordinate system or garbage.
KEYPOINT_MARGIN = 0.5


def records_keypoints(records: Sequence, size: tuple[int, int]) -> tuple[Tensor, int]:
    """Landmarks of ``records`` rescaled to images resized to ``size``.

    Args:
        records: ``ImageRecord`` s; ``keypoints`` in pixels of the stored file (``(18, 3)``) or ``None``.
        size: ``(H, W)`` the images are resized to (the cache / network input size).

    Returns:
        ``(kp, n_with)``: float32 ``[N, 18, 3]`` ``(x, y, visibility)`` in pixels of the
        resized image (records without landmarks get all-invisible zeros) and the number of
        records that had landmarks.

    Raises:
        DatasetError: visible landmarks outside the image extended by :data:`KEYPOINT_MARGIN`
            of its size on each side (``-0.5 W <= x <= 1.5 W``, same for ``y``); one line
            with the count and the first files.
    """
    h, w = size
    out = np.zeros((len(records), 18, 3), dtype=np.float32)
    n_with = 0
    sizes: dict[str, tuple[int, int]] = {}
    bad: list[str] = []
    for i, rec in enumerate(records):
        kp = getattr(rec, "keypoints", None)
        if kp is None:
            continue
        n_with += 1
        kp = np.asarray(kp, dtype=np.float32)
        if rec.path not in sizes:
            sizes[rec.path] = _image_size(rec.path)
        h0, w0 = sizes[rec.path]
        vis = kp[:, 2] > 0
        x, y = kp[vis, 0], kp[vis, 1]
        m = KEYPOINT_MARGIN
        if not (np.all((x >= -m * w0) & (x <= (1 + m) * w0)) and np.all((y >= -m * h0) & (y <= (1 + m) * h0))):
            bad.append(f"{rec.path} (x {x.min():.4g}..{x.max():.4g}, y {y.min():.4g}..{y.max():.4g} "
                       f"in a {w0}x{h0} image)")
            continue
        out[i, :, 0] = kp[:, 0] * (w / w0)
        out[i, :, 1] = kp[:, 1] * (h / h0)
        out[i, :, 2] = kp[:, 2]
    if bad:
        raise DatasetError(f"{len(bad)} image(s) have visible keypoints outside the image (allowed: within "
                           f"{KEYPOINT_MARGIN:g} x its width/height of the border): {', '.join(bad[:3])}"
                           f"{' and more' if len(bad) > 3 else ''}; keypoints are stored-image pixels: fix the "
                           "keypoint file (or mark those points invisible)")
    return torch.from_numpy(out), n_with


def flip_keypoints(kp: Tensor, width: int) -> Tensor:
    """Landmarks of the horizontally mirrored image (``x -> width - x``, left/right swapped;
    invisible points stay zero). Same as :func:`reidlab.data.augment.hflip_keypoints`."""
    from reidlab.data.augment import hflip_keypoints

    return hflip_keypoints(kp, width)


def _normalise(u8: Tensor, size: tuple[int, int]) -> Tensor:
    from reidlab.data import augment as _aug  # lazy: data pipeline module

    return _aug.eval_transform(u8, size)


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    records_or_cache,
    size: Optional[tuple[int, int]] = None,
    batch_size: int = 128,
    flip: Optional[str] = None,
    device: Union[str, torch.device, None] = None,
    progress: bool = False,
    amp: Optional[str] = None,
    keypoints: Optional[Tensor] = None,
    channels_last: bool = False,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
) -> Tensor:
    """Eval-mode test features of a list of records (or an already decoded image cache).

    Args:
        model: a reidlab model (eval mode returns ``[B, D]``); its training mode is restored.
        records_or_cache: ``ImageRecord`` s, or an :class:`~reidlab.data.images.ImageCache`.
        size: ``(H, W)`` network input size; default: the cache's size (required for records).
        batch_size: images per forward pass.
        flip: ``"concat"`` -> ``[N, 2D]`` (plain then mirrored), ``"mean"`` -> ``[N, D]``
            average of both, ``None`` -> ``[N, D]``.
        device: where the model runs (default: the model's parameters' device).
        progress: show a tqdm bar.
        amp: autocast dtype name (``"bf16"``, ``"fp16"``, ``"auto"``) or ``None`` for fp32.
        keypoints: ``[N, 18, 3]`` landmarks in pixels of the ``size`` images; default: taken
            from the records (pose-guided models only).
        channels_last: feed channels-last batches.
        cache_dir: memory-mapped image cache folder when decoding records.

    Returns:
        float32 CPU tensor ``[N, D]`` or ``[N, 2D]``.
    """
    if flip not in ("concat", "mean", None):
        raise ConfigError(f"flip={flip!r} is invalid; expected 'concat', 'mean' or None")
    if device is None:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
    device = resolve_device(device)
    from reidlab.data.images import ImageCache

    if isinstance(records_or_cache, ImageCache):
        cache = records_or_cache
        records = None
        size = tuple(size or cache.size)
    else:
        records = list(records_or_cache)
        if size is None:
            raise ConfigError("extract_features: pass size=(H, W) when giving records")
        size = (int(size[0]), int(size[1]))
        cache = ImageCache(records, size=size, cache_dir=cache_dir)
    needs_kp = bool(getattr(model, "needs_keypoints", False))
    if needs_kp and keypoints is None:
        if records is None:
            raise ConfigError(f"{type(model).__name__} needs keypoints: pass keypoints=[N, 18, 3] with an ImageCache")
        keypoints, n_with = records_keypoints(records, size)
        if n_with == 0 and len(records):
            raise ConfigError(f"{type(model).__name__} needs body landmarks but none of the {len(records)} records "
                              "has keypoints; load the dataset with its keypoints.json (see data/README.md)")
    dtype = amp_dtype(amp, device)
    was_training = model.training
    model.eval()
    n = len(cache)
    feats: list[Tensor] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="features", unit="img", leave=False)
    try:
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            x = _normalise(cache[idx].to(device, non_blocking=True), size)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            kp = keypoints[idx].to(device) if needs_kp else None
            with autocast_context(device, dtype):
                f = model(x, keypoints=kp)
                if flip is not None:
                    kp_f = flip_keypoints(kp, size[1]) if needs_kp else None
                    f_f = model(x.flip(-1), keypoints=kp_f)
            f = f.float()
            if flip == "concat":
                f = torch.cat([f, f_f.float()], dim=1)
            elif flip == "mean":
                f = 0.5 * (f + f_f.float())
            feats.append(f.cpu())
            if bar is not None:
                bar.update(len(idx))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    if not feats:
        return torch.zeros(0, 0)
    return torch.cat(feats)
