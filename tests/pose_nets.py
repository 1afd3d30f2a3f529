"""Hand-made pose networks with a known answer, for the ``reidlab keypoints`` tests.

The test images are grey canvases carrying one coloured Gaussian blob per landmark, centred
on the landmark's ground-truth position; landmark ``k`` of COCO-17 always has colour
``GREY + RADIUS * DIRECTIONS[k]``. :class:`ColourPoseNet` undoes the input normalisation,
classifies every pixel by its nearest colour (17 marker colours, the grey canvas and the black
letterbox padding; a sharp softmax) and multiplies the class probability by how far the pixel
is along the marker's colour direction. So heatmap ``k`` is the blob of landmark ``k`` (a
Gaussian cut where the blob is weaker than half its peak) and zero elsewhere: its arg-max is
the ground truth, its peak about 1 when the blob is painted and 0 when not.

The 17 colour directions are a Fibonacci lattice on the sphere: every pair is more than 45
degrees apart, so a blend of a blob with the grey canvas is never nearer another marker's
colour than its own or the canvas's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GREY = 128.0
RADIUS = 100.0
SIGMA = 2.0          # blob standard deviation, image pixels
ISOLATION = 8.0      # a landmark closer than this to another visible one is not painted
GREY_BIAS = 0.4     # the grey class wins only where a blob is below 30% of its peak
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def directions(n: int = 17) -> np.ndarray:
    """``[n, 3]`` unit vectors spread over the sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


DIRECTIONS = directions()


def paint(size: tuple[int, int], points: dict[int, tuple[float, float]]) -> np.ndarray:
    """uint8 ``[H, W, 3]``: grey canvas with a blob of colour ``k`` at each ``points[k] = (x, y)``
    (continuous pixel coordinates: pixel ``i`` has its centre at ``i + 0.5``)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    img = np.full((h, w, 3), GREY)
    for k, (x, y) in points.items():
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA ** 2))
        img += g[..., None] * RADIUS * DIRECTIONS[k]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


class ColourPoseNet(nn.Module):
    """Normalised ``[N, 3, H, W]`` -> heatmaps ``[N, 17, H/4, W/4]`` (``output="heatmap"``) or
    SimCC ``(x [N, 17, 2W], y [N, 17, 2H])`` (``output="simcc"``, split ratio 2)."""

    def __init__(self, output: str = "heatmap", beta: float = 0.01) -> None:
        super().__init__()
        self.output = output
        self.beta = beta
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.register_buffer("dirs", torch.tensor(DIRECTIONS, dtype=torch.float32).view(17, 3, 1, 1))

    def forward(self, x: torch.Tensor):
        pix = x * self.std + self.mean
        v = pix - GREY
        proj = F.conv2d(v, self.dirs)                                  # <v, d_k>
        vv = (v * v).sum(1, keepdim=True)
        d2 = torch.cat([vv - 2 * RADIUS * proj + RADIUS ** 2,          # marker colours
                        vv + GREY_BIAS * RADIUS ** 2,                  # grey canvas
                        (pix * pix).sum(1, keepdim=True)], 1)          # black padding
        p = torch.softmax(-self.beta * d2, 1)[:, :17]
        h = p * torch.relu(proj / RADIUS)
        if self.output == "heatmap":
            return F.avg_pool2d(h, 4)
        sx = F.interpolate(h.amax(2), scale_factor=2.0, mode="linear", align_corners=False)
        sy = F.interpolate(h.amax(3), scale_factor=2.0, mode="linear", align_corners=False)
        return sx, sy


def export(net: nn.Module, path, input_size=(256, 192), output_names=None, dynamic_batch: bool = True) -> None:
    """Export ``net`` to ONNX (TorchScript-based exporter, opset 17)."""
    import warnings

    net.eval()
    x = torch.zeros(2, 3, *input_size)
    names = output_names or (["heatmaps"] if getattr(net, "output", "heatmap") == "heatmap" else ["simcc_x", "simcc_y"])
    axes = {n: {0: "batch"} for n in ["input"] + list(names)} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["input"], output_names=list(names),
                          dynamic_axes=axes, opset_version=17)
