"""Shared helpers of the plots: figures without pyplot state, images for display, overlays.

Every plotting function of :mod:`reidlab.viz` builds a :class:`matplotlib.figure.Figure`
directly (no ``pyplot`` global state, so nothing is shown twice in Jupyter and nothing needs
a display: it works headless). In a notebook the returned figure is displayed when it is the
cell's value; elsewhere call ``fig.savefig("x.png")``.

Image conventions: a model input is a float tensor ``[3, H, W]`` (or ``[1, 3, H, W]``)
normalised with the ImageNet mean/std (the contract of :mod:`reidlab.models.base`); a
display image is a float array ``[H, W, 3]`` in ``[0, 1]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from reidlab.errors import ConfigError

#: ImageNet channel mean / std (RGB) used to normalise model inputs.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Colours of the retrieval borders.
MATCH_COLOR = "#1a9850"     # green: same identity as the query
MISMATCH_COLOR = "#d73027"  # red: different identity
JUNK_COLOR = "#9e9e9e"      # grey: excluded by the junk rule

ImageLike = Union[torch.Tensor, np.ndarray, str, os.PathLike]


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A new figure of ``width`` x ``height`` inches that is not registered with pyplot."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def as_batch(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Return a model input ``[1, 3, H, W]`` from a normalised ``[3, H, W]`` / ``[1, 3, H, W]``
    tensor; raise a one-line :class:`ConfigError` for anything else."""
    if not isinstance(image, torch.Tensor):
        raise ConfigError(
            f"{name}: expected a normalised image tensor [3, H, W], got {type(image).__name__}; "
            "load it with reidlab.data (decode_image + eval_transform) first")
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ConfigError(
            f"{name}: expected an image tensor of shape [3, H, W] or [1, 3, H, W], "
            f"got {list(image.shape)}; pass one image at a time")
    return image.float()


def denormalize_image(image: torch.Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation of ``[3, H, W]`` / ``[1, 3, H, W]``: ``[H, W, 3]`` in [0, 1]."""
    x = as_batch(image)[0].detach().cpu().float()
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def load_image(path: Union[str, os.PathLike], size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Read an image file as ``[H, W, 3]`` float in [0, 1]; ``size`` = (height, width) resizes."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: image file not found; check the record's path (was the dataset moved?)")
    with Image.open(p) as im:
        im = im.convert("RGB")
        if size is not None:
            im = im.resize((int(size[1]), int(size[0])), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0


def to_display(image: ImageLike, size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Any image (normalised tensor, ``[H, W, 3]`` uint8/float array, or a file path) as a
    display array ``[H, W, 3]`` float in [0, 1]. ``size`` (height, width) only for paths."""
    if isinstance(image, torch.Tensor):
        return denormalize_image(image)
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, size)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"image: expected an array [H, W, 3], got shape {list(arr.shape)}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map ``[H, W]`` in [0, 1] over a display image ``[H, W, 3]``:
    ``(1 - alpha) * image + alpha * cmap(heat)``."""
    if heat.shape != image.shape[:2]:
        heat = resize_map(heat, image.shape[:2])
    colour = colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3]
    return np.clip((1.0 - alpha) * image + alpha * colour, 0.0, 1.0)


def resize_map(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``size`` = (height, width)."""
    t = torch.as_tensor(np.asarray(heat, dtype=np.float32))[None, None]
    out = torch.nn.functional.interpolate(t, size=tuple(int(s) for s in size), mode="bilinear",
                                          align_corners=False)
    return out[0, 0].numpy()


def show_image(ax: Axes, image: np.ndarray, title: Optional[str] = None, border: Optional[str] = None,
               border_width: float = 4.0, xlabel: Optional[str] = None, fontsize: float = 8) -> None:
    """Draw a display image on ``ax`` without ticks, with an optional coloured frame and captions."""
    ax.imshow(image, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(border is not None)
        if border is not None:
            spine.set_edgecolor(border)
            spine.set_linewidth(border_width)
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=fontsize)


def draw_stripes(ax: Axes, height: int, width: int, n: int, color: str = "white") -> None:
    """Draw ``n`` equal horizontal stripes (the PCB/PFN/LGEU part split) as dashed lines."""
    for i in range(1, n):
        y = i * height / n - 0.5
        ax.axhline(y, color=color, linestyle="--", linewidth=1.0)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def draw_box(ax: Axes, box: Sequence[float], color: str, label: Optional[str] = None) -> None:
    """Draw an ``(x1, y1, x2, y2)`` box (pixels) with an optional label above it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=2))
    if label:
        ax.text(x1 + 1, y1 + 1, label, color="white", fontsize=7, va="top",
                bbox=dict(facecolor=color, alpha=0.8, pad=1, edgecolor="none"))


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for parameter-less modules)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def to_numpy(x: Any) -> np.ndarray:
    """Tensor or array-like as a numpy array (detached, on CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
