"""Body landmarks from a top-down pose model: the pieces that do not depend on the runtime.

Three parts, each a plain function on numpy arrays (the ONNX Runtime driver and the
``reidlab keypoints`` command live in :mod:`reidlab.engine.pose`):

1. **Landmark order.** Pose models trained on COCO predict 17 landmarks (COCO order,
   :data:`COCO17_NAMES`); reidlab stores 18 in the OpenPose / COCO-18 order
   (:data:`reidlab.data.records.KEYPOINT_NAMES`), which adds a neck.
   :func:`coco17_to_openpose18` is the one place where the mapping is done.
2. **Fitting a person crop into the model input** (:func:`fit_transform`,
   :func:`prepare_image`). Re-ID images are already person boxes, so the box is the whole
   image. The top-down convention of mmpose, RTMPose and ViTPose is followed: the box is
   enlarged by ``box_scale`` (1.25 in their test pipelines) around its centre, widened or
   heightened to the model's aspect ratio (``fit="letterbox"``: the person keeps its
   proportions, the rest is filled with ``pad_value``, black by default as in their
   ``warpAffine``) or stretched to it (``fit="resize"``), and resized with bilinear
   interpolation. :class:`InputTransform` records the exact scale and offset actually applied,
   so predictions map back to image pixels without rounding error.
3. **Decoding the model output** into input-pixel coordinates and a confidence:
   :func:`decode_heatmaps` for heatmaps ``[N, K, h, w]`` (argmax, sub-pixel refinement,
   confidence = peak value) and :func:`decode_simcc` for SimCC pairs
   ``(x [N, K, Wx], y [N, K, Wy])`` with ``Wx = ratio * input width`` (RTMPose).

Coordinates are continuous pixel coordinates, as everywhere in reidlab: an image of width
``W`` spans ``[0, W]``, pixel ``i`` covers ``[i, i + 1)`` and has its centre at ``i + 0.5``.
A heatmap cell ``j`` of a ``w``-wide heatmap for a ``W_in``-wide input covers input pixels
``[j * s, (j + 1) * s)`` with ``s = W_in / w``, so its centre is ``(j + 0.5) * s``; a SimCC
bin ``i`` is centred at ``(i + 0.5) / ratio``. (mmpose's codecs count pixel centres at
integers and put cell ``j`` at ``j * s`` (non-UDP) or ``j * (W_in - 1) / (w - 1)`` (UDP,
ViTPose); either differs from this by at most 1.5 input pixels for stride-4 heatmaps, below
those models' accuracy.)

Visibility: a landmark is written visible (``v = 1``) when its confidence is at least the
threshold (:data:`DEFAULT_THRESHOLD` = 0.3, the keypoint threshold of the RTMPose and mmpose
demos) **and** it lies inside the image; otherwise ``(0, 0, 0)`` as the readers expect
(:mod:`reidlab.data.keypoints`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from reidlab.data.records import KEYPOINT_NAMES
from reidlab.errors import ConfigError

__all__ = [
    "COCO17_NAMES", "OPENPOSE18_FROM_COCO17", "DEFAULT_THRESHOLD", "DEFAULT_MEAN", "DEFAULT_STD",
    "DEFAULT_BOX_SCALE", "FITS", "InputTransform", "coco17_to_openpose18", "threshold_keypoints",
    "fit_transform", "prepare_image", "normalize_batch", "decode_heatmaps", "decode_simcc",
]

#: The 17 COCO person landmarks in the order COCO-trained pose models output them.
COCO17_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear",
    "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
    "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)

#: For each OpenPose-18 landmark (:data:`~reidlab.data.records.KEYPOINT_NAMES` order) the
#: COCO-17 index it is copied from; ``None`` for the neck, which COCO does not annotate.
OPENPOSE18_FROM_COCO17: tuple[Optional[int], ...] = tuple(
    None if name == "neck" else COCO17_NAMES.index(name) for name in KEYPOINT_NAMES)

#: Confidence at or above which a predicted landmark is written visible.
DEFAULT_THRESHOLD = 0.3
#: ImageNet channel mean and standard deviation on the 0-255 scale (RGB), the normalisation of
#: the mmpose / RTMPose / ViTPose data pre-processors.
DEFAULT_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
DEFAULT_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
#: Enlargement of the person box around its centre (mmpose's top-down ``padding``).
DEFAULT_BOX_SCALE = 1.25
#: Ways of fitting the (enlarged) box into the model input.
FITS: tuple[str, ...] = ("letterbox", "resize")

_L_SHOULDER, _R_SHOULDER = COCO17_NAMES.index("l_shoulder"), COCO17_NAMES.index("r_shoulder")
_NECK = KEYPOINT_NAMES.index("neck")


# --------------------------------------------------------------------------- landmark order


def coco17_to_openpose18(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 landmarks -> OpenPose / COCO-18 landmarks (the one place this mapping is made).

    Args:
        keypoints: ``[..., 17, 3]`` ``(x, y, score)`` in COCO order (:data:`COCO17_NAMES`);
            ``score`` is a confidence or a 0/1 visibility.

    Returns:
        float32 ``[..., 18, 3]`` in the order of :data:`reidlab.data.records.KEYPOINT_NAMES`:
        every landmark except the neck is copied from its COCO namesake
        (:data:`OPENPOSE18_FROM_COCO17`); the **neck** is the midpoint of the two shoulders
        with score ``min(score_l_shoulder, score_r_shoulder)``, so under any threshold it is
        visible only when both shoulders are (OpenPose's own neck sits about there too).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim < 2 or kp.shape[-2:] != (17, 3):
        raise ConfigError(f"coco17_to_openpose18: expected [..., 17, 3] (x, y, score) COCO-17 landmarks, "
                          f"got shape {tuple(kp.shape)}")
    out = np.zeros(kp.shape[:-2] + (18, 3), dtype=np.float32)
    for dst, src in enumerate(OPENPOSE18_FROM_COCO17):
        if src is not None:
            out[..., dst, :] = kp[..., src, :]
    ls, rs = kp[..., _L_SHOULDER, :], kp[..., _R_SHOULDER, :]
    out[..., _NECK, :2] = 0.5 * (ls[..., :2] + rs[..., :2])
    out[..., _NECK, 2] = np.minimum(ls[..., 2], rs[..., 2])
    return out


def threshold_keypoints(keypoints: np.ndarray, image_size: tuple[int, int],
                        threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Scored landmarks -> the stored form ``(x, y, v)`` with ``v`` in ``{0, 1}``.

    Args:
        keypoints: ``[..., K, 3]`` ``(x, y, score)`` in pixels of the image.
        image_size: ``(H, W)`` of the image.
        threshold: minimum score of a visible landmark.

    Returns:
        float32 ``[..., K, 3]``: ``v = 1`` where ``score >= threshold`` and the point lies in
        ``[0, W] x [0, H]`` (a landmark outside the image is not visible, as in the readers'
        convention), else ``(0, 0, 0)``.
    """
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    h, w = image_size
    x, y, s = kp[..., 0], kp[..., 1], kp[..., 2]
    vis = (s >= threshold) & (x >= 0) & (x <= w) & (y >= 0) & (y <= h) & np.isfinite(x) & np.isfinite(y)
    kp[..., 2] = vis
    kp[~vis] = 0.0
    return kp


# --------------------------------------------------------------------------- input geometry


@dataclass(frozen=True)
class InputTransform:
    """Image pixels -> model-input pixels: ``x_in = x * sx + ox``, ``y_in = y * sy + oy``
    (continuous coordinates; no rotation, as the crop is axis-aligned)."""

    sx: float
    sy: float
    ox: float
    oy: float

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """``[..., 2]`` image coordinates -> input coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([xy[..., 0] * self.sx + self.ox, xy[..., 1] * self.sy + self.oy], -1)

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """``[..., 2]`` input coordinates -> image coordinates (inverse of :meth:`to_input`)."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([(xy[..., 0] - self.ox) / self.sx, (xy[..., 1] - self.oy) / self.sy], -1)


def fit_transform(image_size: tuple[int, int], input_size: tuple[int, int], fit: str = "letterbox",
                  box_scale: float = DEFAULT_BOX_SCALE) -> tuple[InputTransform, tuple[int, int], tuple[int, int]]:
    """Where the image goes in the model input.

    Args:
        image_size: ``(H, W)`` of the image (the person box).
        input_size: ``(H_in, W_in)`` of the model input.
        fit: ``"letterbox"`` (keep the aspect ratio: the box is enlarged to the input's aspect
            ratio, the image centred) or ``"resize"`` (stretch the box to the input).
        box_scale: enlargement of the box around its centre before fitting (1 = the image
            touches the input's border; 1.25 = mmpose's top-down default).

    Returns:
        ``(transform, (new_h, new_w), (top, left))``: the image is resized to
        ``new_h x new_w`` pixels (rounded to integers) and pasted with its top-left corner at
        input pixel ``(top, left)``; ``transform`` holds the exact scales
        ``new_w / W``, ``new_h / H`` and offsets ``left``, ``top``.
    """
    if fit not in FITS:
        raise ConfigError(f"fit={fit!r} is invalid; expected one of {', '.join(FITS)}")
    if not box_scale > 0:
        raise ConfigError(f"box_scale={box_scale!r} is invalid; expected a positive number (1.25 = mmpose's default)")
    h, w = int(image_size[0]), int(image_size[1])
    ih, iw = int(input_size[0]), int(input_size[1])
    if min(h, w, ih, iw) < 1:
        raise ConfigError(f"image size {image_size} / input size {input_size}: expected positive sizes")
    box_w, box_h = w * float(box_scale), h * float(box_scale)
    if fit == "letterbox":
        aspect = iw / ih
        if box_w / box_h < aspect:
            box_w = box_h * aspect
        else:
            box_h = box_w / aspect
    new_w = max(1, int(round(w * iw / box_w)))
    new_h = max(1, int(round(h * ih / box_h)))
    left = int(round((iw - new_w) / 2))
    top = int(round((ih - new_h) / 2))
    return InputTransform(new_w / w, new_h / h, float(left), float(top)), (new_h, new_w), (top, left)


def prepare_image(image, input_size: tuple[int, int], fit: str = "letterbox",
                  box_scale: float = DEFAULT_BOX_SCALE,
                  pad_value: Sequence[int] = (0, 0, 0)) -> tuple[np.ndarray, InputTransform]:
    """Fit an RGB PIL image into the model input (see :func:`fit_transform`).

    Returns:
        ``(pixels, transform)``: uint8 ``[H_in, W_in, 3]`` RGB (bilinear resize, antialiased
        when shrinking; the area outside the image filled with ``pad_value``) and the
        image -> input :class:`InputTransform`.
    """
    from PIL import Image

    tf, (new_h, new_w), (top, left) = fit_transform((image.height, image.width), input_size, fit, box_scale)
    ih, iw = int(input_size[0]), int(input_size[1])
    resized = image if (image.height, image.width) == (new_h, new_w) else image.resize((new_w, new_h), Image.BILINEAR)
    if (top, left, new_h, new_w) == (0, 0, ih, iw):
        return np.asarray(resized, dtype=np.uint8).copy(), tf
    canvas = Image.new("RGB", (iw, ih), tuple(int(v) for v in pad_value))
    canvas.paste(resized, (left, top))
    return np.asarray(canvas, dtype=np.uint8).copy(), tf


def normalize_batch(pixels: np.ndarray, mean: Sequence[float] = DEFAULT_MEAN, std: Sequence[float] = DEFAULT_STD,
                    channel_order: str = "rgb", layout: str = "nchw", dtype: str = "float32") -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` RGB -> the model's input tensor.

    ``channel_order="bgr"`` reverses the channels first; ``mean`` / ``std`` (0-255 scale) are
    given in the order of the channels fed to the model; ``layout`` is ``"nchw"`` or
    ``"nhwc"``. ``dtype="uint8"`` feeds the raw pixels (models that normalise inside the graph)
    and ignores ``mean`` / ``std``.
    """
    x = np.asarray(pixels)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ConfigError(f"normalize_batch: expected uint8 [N, H, W, 3] RGB pixels, got shape {tuple(x.shape)}")
    if channel_order not in ("rgb", "bgr"):
        raise ConfigError(f"channel_order={channel_order!r} is invalid; expected 'rgb' or 'bgr'")
    if channel_order == "bgr":
        x = x[..., ::-1]
    if dtype == "uint8":
        out = x.astype(np.uint8)
    else:
        m = np.asarray(mean, dtype=np.float32).reshape(1, 1, 1, 3)
        s = np.asarray(std, dtype=np.float32).reshape(1, 1, 1, 3)
        if m.size != 3 or s.size != 3 or not (s > 0).all():
            raise ConfigError(f"mean={tuple(mean)} std={tuple(std)}: expected three numbers each, std > 0")
        out = ((x.astype(np.float32) - m) / s).astype(dtype)
    if layout == "nchw":
        out = out.transpose(0, 3, 1, 2)
    elif layout != "nhwc":
        raise ConfigError(f"layout={layout!r} is invalid; expected 'nchw' or 'nhwc'")
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- decoders


def _refine_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-cell offset of a peak from its two neighbours: the vertex of the parabola through
    the log-values (exact for a Gaussian peak) when all three are positive, else through the
    values themselves; 0 where the parabola does not open downwards; clipped to ``[-0.5, 0.5]``."""
    pos = (left > 0) & (centre > 0) & (right > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = [np.log(np.where(pos, v, 1.0)) for v in (left, centre, right)]
        a, b, c = (np.where(pos, g, v) for g, v in zip(lg, (left, centre, right)))
        denom = a - 2.0 * b + c
        off = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    return np.clip(off, -0.5, 0.5)


def decode_heatmaps(heatmaps: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks from heatmaps (SimpleBaseline / HRNet / ViTPose outputs).

    Args:
        heatmaps: ``[N, K, h, w]`` one map per landmark.
        input_size: ``(H_in, W_in)`` of the model input the maps cover.

    Returns:
        ``(xy, score)``: float32 ``[N, K, 2]`` in continuous input pixels and ``[N, K]``.
        Per map: the arg-max cell ``(i, j)``; along each axis the offset of the vertex of the
        parabola through the log-values of the cell and its two neighbours (exact for a
        Gaussian peak; through the plain values when a neighbour is not positive; clipped to
        half a cell; none at the border); then cell coordinates
        ``j + dx`` map to ``(j + dx + 0.5) * W_in / w`` (cell centres, see the module
        docstring). ``score`` is the peak value.
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 4:
        raise ConfigError(f"decode_heatmaps: expected [N, K, h, w] heatmaps, got shape {tuple(hm.shape)}")
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, h * w)
    idx = flat.argmax(-1)
    score = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    iy, ix = np.divmod(idx, w)
    nn, kk = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    dx = np.zeros((n, k), dtype=np.float64)
    dy = np.zeros((n, k), dtype=np.float64)
    inner_x = (ix > 0) & (ix < w - 1)
    inner_y = (iy > 0) & (iy < h - 1)
    if w >= 3:
        lx, rx = np.clip(ix - 1, 0, w - 1), np.clip(ix + 1, 0, w - 1)
        off = _refine_offset(hm[nn, kk, iy, lx], score, hm[nn, kk, iy, rx])
        dx = np.where(inner_x, off, 0.0)
    if h >= 3:
        uy, by = np.clip(iy - 1, 0, h - 1), np.clip(iy + 1, 0, h - 1)
        off = _refine_offset(hm[nn, kk, uy, ix], score, hm[nn, kk, by, ix])
        dy = np.where(inner_y, off, 0.0)
    x = (ix + dx + 0.5) * (float(input_size[1]) / w)
    y = (iy + dy + 0.5) * (float(input_size[0]) / h)
    return np.stack([x, y], -1).astype(np.float32), score.astype(np.float32)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks from SimCC outputs (RTMPose): one 1-D classification per axis.

    Args:
        simcc_x: ``[N, K, Wx]`` scores of the x bins, ``Wx = split_ratio * W_in``.
        simcc_y: ``[N, K, Wy]`` scores of the y bins, ``Wy = split_ratio * H_in``.
        split_ratio: bins per input pixel (2.0 for RTMPose).

    Returns:
        ``(xy, score)``: float32 ``[N, K, 2]`` in continuous input pixels (bin ``i`` ->
        ``(i + 0.5) / split_ratio``) and ``[N, K]`` = ``min(max_x, max_y)`` (as mmpose's
        ``get_simcc_maximum``).
    """
    sx = np.asarray(simcc_x, dtype=np.float32)
    sy = np.asarray(simcc_y, dtype=np.float32)
    if sx.ndim != 3 or sy.ndim != 3 or sx.shape[:2] != sy.shape[:2]:
        raise ConfigError(f"decode_simcc: expected x [N, K, Wx] and y [N, K, Wy] with the same N, K, "
                          f"got {tuple(sx.shape)} and {tuple(sy.shape)}")
    ix, iy = sx.argmax(-1), sy.argmax(-1)
    score = np.minimum(sx.max(-1), sy.max(-1))
    xy = np.stack([(ix + 0.5) / split_ratio, (iy + 0.5) / split_ratio], -1)
    return xy.astype(np.float32), score.astype(np.float32)
