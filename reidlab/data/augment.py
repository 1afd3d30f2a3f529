"""Batched training augmentation on tensors, on whatever device the images are on.

:class:`BatchAugment` turns a ``uint8 [B, 3, h, w]`` batch (e.g. from
:class:`~reidlab.data.images.ImageCache`) into normalised ``float32 [B, 3, H, W]`` with the
re-ID recipe, in this order (the order of the usual torchvision pipeline
``Resize -> RandomHorizontalFlip -> Pad -> RandomCrop -> ToTensor -> Normalize -> RandomErasing``):

1. resize to ``size`` (bilinear, antialiased when shrinking, on uint8: :func:`resize_uint8`)
   if ``(h, w) != size``;
2. horizontal flip with probability ``flip_p``;
3. zero-pad by ``pad`` pixels on every side and crop a random ``H x W`` window
   (offsets uniform in ``[0, 2 * pad]``); steps 2 and 3 are one uint8 slice copy per image
   (a loop over the batch, never over pixels: on CPU this is ~30x faster than an
   index-tensor gather, see benchmarks/README.md);
4. normalise: ``(x / 255 - mean) / std``;
5. random erasing (Zhong et al., AAAI 2020, Alg. 1) with probability ``erase_p``: area
   fraction ``U(erase_area)``, aspect ratio ``h/w ~ U(erase_ratio)``; a rectangle that does
   not fit is re-drawn (up to :data:`ERASE_ATTEMPTS` tries, then the image is left as is).
   ``erase_fill="random"`` (default, as the paper) fills each erased pixel and channel with a
   uniform random colour value in ``[0, 255]`` (then normalised); ``"mean"`` fills with the
   dataset mean (0 after normalisation, as in the bag-of-tricks baseline). One slice
   assignment per erased image.

Keypoints (``[B, 18, 3]`` of ``(x, y, visibility)``, see :mod:`reidlab.data.records`) use
continuous pixel coordinates (the image spans ``[0, W]``; pixel ``j`` covers ``[j, j+1)``)
and follow the pixels: resize scales ``x * W / w``, flip maps ``x -> W - x`` and swaps left
and right landmarks (:data:`~reidlab.data.records.FLIP_PERMUTATION`), pad+crop shifts them;
a landmark that leaves ``[0, W) x [0, H)`` gets visibility 0 and ``x = y = 0``. Erasing
does not change keypoints.

Randomness: all parameters (flip, crop offsets, erase rectangles) come from ONE draw of
``generator`` (a CPU ``torch.Generator``), so they are identical on every device for a given
seed; the per-pixel erase colours are drawn on the images' device from a generator seeded by
it (same seed -> same colours on the same device type). Without a generator the global torch
RNG is used.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from reidlab.data.records import FLIP_PERMUTATION

#: ImageNet channel statistics (RGB, on the [0, 1] scale) used by the pretrained backbones.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Rectangles drawn per image before random erasing gives up (Zhong et al. use a loop).
ERASE_ATTEMPTS = 16

Size = tuple[int, int]


def _resize(x: torch.Tensor, size: Size) -> torch.Tensor:
    """float ``[B, 3, h, w]`` -> ``[B, 3, H, W]`` (bilinear, half-pixel centres, antialias when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)


def resize_uint8(x: torch.Tensor, size: Size) -> torch.Tensor:
    """uint8 ``[B, 3, h, w]`` -> uint8 ``[B, 3, H, W]``, bilinear (half-pixel centres),
    antialiased when shrinking. On CPU torch's native uint8 kernel is used (several times
    faster than float) and the result is in ``channels_last`` memory format (converting back
    costs more than the resize); on other devices the float result is rounded. The two agree
    to +-1."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    if x.device.type == "cpu":
        return F.interpolate(x.contiguous(memory_format=torch.channels_last), size=tuple(size), mode="bilinear",
                             align_corners=False, antialias=shrink)
    return _resize(x.float(), size).round_().clamp_(0, 255).to(torch.uint8)


def _norm_consts(mean: Sequence[float], std: Sequence[float], device, dtype=torch.float32):
    m = torch.tensor(mean, device=device, dtype=dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device, dtype=dtype).view(1, 3, 1, 1)
    return m, s


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images [B, 3, H, W], got {images.dtype} {tuple(images.shape)}; "
                         "use ImageCache / decode_image to get uint8 RGB tensors")


def eval_transform(images_uint8: torch.Tensor, size: Size = (256, 128),
                   mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Test-time transform: resize to ``size`` (if needed) and normalise.

    Args:
        images_uint8: ``uint8 [B, 3, h, w]`` (or ``[3, h, w]``) on any device.
        size: output ``(H, W)``.

    Returns:
        float32 ``[B, 3, H, W]`` (``[3, H, W]`` for a single image), ``(x/255 - mean) / std``.
    """
    single = images_uint8.dim() == 3
    x = images_uint8[None] if single else images_uint8
    _check_images(x)
    m, s = _norm_consts(mean, std, x.device)
    out = resize_uint8(x, size).float().sub_(m * 255.0).mul_(1.0 / (s * 255.0))
    return out[0] if single else out


def denormalize(images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Undo the normalisation for plotting: float in ``[0, 1]`` (clamped), same shape
    (``[B, 3, H, W]`` or ``[3, H, W]``). ``(denormalize(x) * 255).round()`` gives the pixels."""
    shape = (1, 3, 1, 1) if images.dim() == 4 else (3, 1, 1)
    m = torch.tensor(mean, device=images.device, dtype=images.dtype).view(shape)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).view(shape)
    return (images * s + m).clamp_(0.0, 1.0)


def hflip_keypoints(keypoints: torch.Tensor, width: float) -> torch.Tensor:
    """Keypoints ``[..., 18, 3]`` of a horizontally flipped image of width ``width``:
    ``x -> width - x`` and left/right landmarks swapped; invisible ones stay ``(0, 0, 0)``."""
    perm = torch.tensor(FLIP_PERMUTATION, device=keypoints.device)
    kp = keypoints.index_select(-2, perm).clone()
    vis = kp[..., 2] > 0
    kp[..., 0] = torch.where(vis, width - kp[..., 0], torch.zeros_like(kp[..., 0]))
    return kp


class BatchAugment:
    """Batched re-ID training augmentation (see the module docstring for every step).

    Args:
        size: output ``(H, W)``.
        flip_p: probability of a horizontal flip per image.
        pad: zero padding (pixels) before the random ``H x W`` crop; ``0`` disables pad+crop.
        erase_p: probability of random erasing per image; ``0`` disables it.
        erase_area: range of the erased area as a fraction of ``H * W``.
        erase_ratio: range of the erased rectangle's aspect ratio ``height / width``.
        mean, std: normalisation constants (RGB, [0, 1] scale).
        erase_fill: ``"random"`` (per-pixel uniform colours, Zhong et al.) or ``"mean"``.

    Call: ``aug(images_uint8, keypoints=None, generator=None) -> (images, keypoints)`` with
    ``images_uint8`` ``uint8 [B, 3, h, w]`` on any device, ``keypoints`` ``[B, 18, 3]`` or
    ``None``; returns float32 ``[B, 3, H, W]`` on the same device and the transformed
    keypoints (float32) or ``None``. ``aug.last_params`` holds the drawn parameters
    (``flip [B] bool``, ``offset [B, 2]`` crop ``(dy, dx)`` in the padded image, ``erase [B, 4]``
    ``(top, left, height, width)`` with height 0 when not erased) for inspection and tests.
    """

    def __init__(self, size: Size = (256, 128), flip_p: float = 0.5, pad: int = 10, erase_p: float = 0.5,
                 erase_area: tuple[float, float] = (0.02, 0.4), erase_ratio: tuple[float, float] = (0.3, 3.3),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 erase_fill: str = "random") -> None:
        if erase_fill not in ("random", "mean"):
            raise ValueError(f"erase_fill must be 'random' or 'mean', got {erase_fill!r}")
        if not (0 < erase_area[0] <= erase_area[1] <= 1) or not (0 < erase_ratio[0] <= erase_ratio[1]):
            raise ValueError(f"bad erase_area {erase_area} / erase_ratio {erase_ratio}; expected 0 < lo <= hi (area <= 1)")
        if int(pad) < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.size = (int(size[0]), int(size[1]))
        self.flip_p, self.pad, self.erase_p = float(flip_p), int(pad), float(erase_p)
        self.erase_area, self.erase_ratio = tuple(erase_area), tuple(erase_ratio)
        self.mean, self.std = tuple(mean), tuple(std)
        self.erase_fill = erase_fill
        self.last_params: dict[str, torch.Tensor] = {}

    def __repr__(self) -> str:
        return (f"BatchAugment(size={self.size}, flip_p={self.flip_p}, pad={self.pad}, erase_p={self.erase_p}, "
                f"erase_area={self.erase_area}, erase_ratio={self.erase_ratio}, erase_fill={self.erase_fill!r})")

    # -- random parameters (always drawn on CPU from the generator, then moved) -------------
    def _draw(self, b: int, generator: Optional[torch.Generator]) -> dict[str, torch.Tensor]:
        """All of a batch's random parameters from ONE draw of ``generator`` (then numpy math:
        tiny torch ops cost milliseconds each when the CPU is oversubscribed)."""
        H, W = self.size
        n = ERASE_ATTEMPTS
        u = torch.rand(b, 7 + 2 * n, generator=generator, dtype=torch.float64).numpy()
        flip = u[:, 0] < self.flip_p
        offset = np.minimum((u[:, 1:3] * (2 * self.pad + 1)).astype(np.int64), 2 * self.pad)
        do_erase = u[:, 3] < self.erase_p
        lo, hi = self.erase_area
        area = (lo + (hi - lo) * u[:, 7:7 + n]) * (H * W)
        rlo, rhi = self.erase_ratio
        ratio = rlo + (rhi - rlo) * u[:, 7 + n:7 + 2 * n]
        eh = np.rint(np.sqrt(area * ratio)).astype(np.int64)
        ew = np.rint(np.sqrt(area / ratio)).astype(np.int64)
        ok = (eh < H) & (ew < W) & (eh > 0) & (ew > 0)
        first = ok.argmax(1)                        # first rectangle that fits (Zhong's retry loop)
        rows = np.arange(b)
        eh, ew = eh[rows, first], ew[rows, first]
        erased = do_erase & ok.any(1)
        eh, ew = np.where(erased, eh, 0), np.where(erased, ew, 0)
        top = np.minimum((u[:, 4] * (H - eh + 1)).astype(np.int64), H - eh)
        left = np.minimum((u[:, 5] * (W - ew + 1)).astype(np.int64), W - ew)
        seed = int(u[0, 6] * 2.0**53) if b else 0
        return {"flip": torch.from_numpy(flip), "offset": torch.from_numpy(offset),
                "erase": torch.from_numpy(np.stack([top, left, eh, ew], 1)), "seed": torch.tensor(seed)}

    def __call__(self, images_uint8: torch.Tensor, keypoints: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        _check_images(images_uint8)
        dev = images_uint8.device
        b, _, h, w = images_uint8.shape
        if keypoints is not None and tuple(keypoints.shape) != (b, len(FLIP_PERMUTATION), 3):
            raise ValueError(f"keypoints must be [B={b}, 18, 3], got {tuple(keypoints.shape)}")
        H, W = self.size
        p = self._draw(b, generator)
        self.last_params = p
        flip, offset = p["flip"].to(dev), p["offset"].to(dev)

        x = images_uint8 if (h, w) == (H, W) else resize_uint8(images_uint8, self.size)

        # flip + pad + crop on uint8, one slice copy per image (no per-pixel Python work).
        # Output pixel (k, j) of image i comes from source row k + dy - pad and column
        # c = j + dx - pad (mirrored to W - 1 - c when flipped); outside the image it is the
        # zero padding. Only the in-image rectangle is copied into a zeroed output. On CPU the
        # copies go through numpy views of the same memory: single-threaded memcpy, without an
        # intra-op thread start-up per image (milliseconds each when the cores are busy).
        pad = self.pad
        crop = (torch.zeros if pad > 0 else torch.empty)((b, 3, H, W), dtype=torch.uint8, device=dev)
        on_cpu = dev.type == "cpu"
        src, dst = (x.numpy(), crop.numpy()) if on_cpu else (x, crop)
        for i, (fl, (dy, dx)) in enumerate(zip(p["flip"].tolist(), p["offset"].tolist())):
            r0, r1 = max(0, pad - dy), min(H, H + pad - dy)          # valid output rows
            j0, j1 = max(0, pad - dx), min(W, W + pad - dx)          # valid output columns
            if r1 <= r0 or j1 <= j0:                                 # window entirely in the padding
                continue
            rows = slice(r0 + dy - pad, r1 + dy - pad)
            if fl:
                win = src[i, :, rows, W - (j1 + dx - pad):W - (j0 + dx - pad)]
                dst[i, :, r0:r1, j0:j1] = win[..., ::-1] if on_cpu else win.flip(-1)
            else:
                dst[i, :, r0:r1, j0:j1] = src[i, :, rows, j0 + dx - pad:j1 + dx - pad]

        # normalise: (x / 255 - mean) / std == (x - 255 mean) * (1 / (255 std))
        m, s = _norm_consts(self.mean, self.std, dev)
        out = crop.float().sub_(m * 255.0).mul_(1.0 / (s * 255.0))

        # random erasing: fill each image's rectangle (height 0 = not erased); random colours
        # come from ONE draw on the images' device, split per rectangle.
        rects = [(i, *r) for i, r in enumerate(p["erase"].tolist()) if r[2] > 0]
        if rects:
            view = out.numpy() if on_cpu else out
            if self.erase_fill == "random":
                gdev = torch.Generator(device=dev)
                gdev.manual_seed(int(p["seed"]))
                noise = torch.rand(sum(3 * eh * ew for *_, eh, ew in rects), generator=gdev, device=dev)
                if on_cpu:
                    noise = noise.numpy()
                mean_c, std_c = (m[0].numpy(), s[0].numpy()) if on_cpu else (m[0], s[0])
            pos = 0
            for i, top, left, eh, ew in rects:
                if self.erase_fill == "mean":
                    view[i, :, top:top + eh, left:left + ew] = 0.0
                else:
                    chunk = noise[pos:pos + 3 * eh * ew].reshape(3, eh, ew)
                    pos += 3 * eh * ew
                    view[i, :, top:top + eh, left:left + ew] = (chunk - mean_c) / std_c

        kp_out = None
        if keypoints is not None:
            kp = keypoints.to(device=dev, dtype=torch.float32)
            xs = kp[..., 0] * (W / w)
            ys = kp[..., 1] * (H / h)
            vis = kp[..., 2] > 0
            perm = torch.tensor(FLIP_PERMUTATION, device=dev)
            fl = flip[:, None]
            xs = torch.where(fl, W - xs, xs)
            xs = torch.where(fl, xs[:, perm], xs)
            ys = torch.where(fl, ys[:, perm], ys)
            vis = torch.where(fl, vis[:, perm], vis)
            xs = xs + self.pad - offset[:, 1:].float()
            ys = ys + self.pad - offset[:, :1].float()
            vis = vis & (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
            kp_out = torch.stack([torch.where(vis, xs, 0.0), torch.where(vis, ys, 0.0), vis.float()], dim=-1)
        return out, kp_out


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (for :class:`BatchAugment`)."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "BatchAugment", "eval_transform", "denormalize",
           "hflip_keypoints", "make_generator", "resize_uint8", "ERASE_ATTEMPTS"]

