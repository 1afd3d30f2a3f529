"""Shared layers the paper models compose: part pooling, reduction and BNNeck heads,
non-local block, tiny spatial attention (TSA), SE and LGEU units, weight-driven part fusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidlab.errors import ConfigError

# ------------------------------------------------------------------------ part pooling


def part_row_index(height: int, parts: int, device=None) -> Tensor:
    """Part index of each feature-map row: row ``i`` belongs to part ``floor(i * K / H)``.

    When ``H`` is a multiple of ``K`` this is LGEU's Eq. (3) (``ceil(i / Delta)`` with
    1-based ``i``, ``Delta = H / K``) and PCB's equal stripes; otherwise stripes differ by at
    most one row. Requires ``H >= K`` (else :class:`ConfigError`).
    """
    if height < parts:
        raise ConfigError(f"feature map height {height} is smaller than the number of parts {parts}: "
                         "use larger input images or fewer parts")
    return torch.div(torch.arange(height, device=device) * parts, height, rounding_mode="floor")


def part_avg_pool(x: Tensor, parts: int) -> Tensor:
    """Horizontal stripe average pooling: ``[B, C, H, W] -> [B, C, K]``.

    Stripe ``k`` averages the rows with :func:`part_row_index` ``== k`` over all columns
    (LGEU Eq. (1); PCB/PFN "part-based average pooling").
    """
    b, c, h, w = x.shape
    idx = part_row_index(h, parts, x.device)
    rows = x.mean(dim=3)  # [B, C, H]
    onehot = F.one_hot(idx, parts).to(x.dtype)  # [H, K]
    return rows @ onehot / onehot.sum(0)


def part_max_pool(x: Tensor, parts: int) -> Tensor:
    """Horizontal stripe max pooling: ``[B, C, H, W] -> [B, C, K]`` (stripes as above)."""
    h = x.shape[2]
    idx = part_row_index(h, parts, x.device).tolist()
    outs = []
    for k in range(parts):
        lo, hi = idx.index(k), len(idx) - idx[::-1].index(k)
        outs.append(x[:, :, lo:hi].amax(dim=(2, 3)))
    return torch.stack(outs, dim=2)


def expand_parts_to_rows(v: Tensor, height: int) -> Tensor:
    """``[B, C, K] -> [B, C, H, 1]``: repeat each part's vector over its rows (LGEU Eq. (3))."""
    idx = part_row_index(height, v.shape[2], v.device)
    return v[:, :, idx].unsqueeze(-1)


def gap(x: Tensor) -> Tensor:
    """Global average pooling ``[B, C, H, W] -> [B, C]``."""
    return x.mean(dim=(2, 3))


def gmp(x: Tensor) -> Tensor:
    """Global max pooling ``[B, C, H, W] -> [B, C]``."""
    return x.amax(dim=(2, 3))


# ------------------------------------------------------------------------------ heads


class Reduction(nn.Module):
    """1x1 convolution (as a linear map on pooled vectors) + BN + ReLU: ``[B, C] -> [B, D]``
    (PFN Sec. III-A, PCB's reduction, MGWP's 512-d head)."""

    def __init__(self, in_dim: int, out_dim: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, 1, bias=False)
        self.bn = nn.BatchNorm1d(out_dim)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x[:, :, None, None]).flatten(1)))


class BNNeck(nn.Module):
    """BNNeck (Luo et al., *Bag of Tricks*, 2019): ``f_t`` (triplet) -> BatchNorm (bias
    frozen at 0) -> ``f_i`` -> bias-free linear classifier.

    ``forward(f) -> (f_i, logits)``; the test feature is ``f_i`` (after BN).
    """

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        fi = self.bn(f)
        return fi, self.classifier(fi)


class Classifier(nn.Module):
    """A linear classifier with bias (plain softmax heads: LGEU/SE/baseline, PCB parts)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(dim, num_classes)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def forward(self, f: Tensor) -> Tensor:
        return self.fc(self.dropout(f))


# ------------------------------------------------------------------------- attention


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018), as used by MGWP after
    ResNet stage1 and stage2.

    ``theta, phi, g``: three 1x1 convs ``C -> C/2``; affinity ``A = softmax_j(theta_i . phi_j)``
    ``[B, HW, HW]`` (rows sum to 1); ``y = A g``; ``z = x + BN(W y)`` with ``W`` a 1x1 conv
    ``C/2 -> C``. The BN's scale starts at 0, so the block starts as the identity
    (MGWP facts, papers/README). ``last_affinity`` keeps the last eval-mode affinity when
    ``record = True``.
    """

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        inter = max(1, channels // reduction)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.W = nn.Conv2d(inter, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.record = False
        self.last_affinity: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        phi = self.phi(x).flatten(2)  # [B, C', HW]
        g = self.g(x).flatten(2).transpose(1, 2)  # [B, HW, C']
        affinity = torch.softmax(theta @ phi, dim=-1)
        if self.record:
            self.last_affinity = affinity.detach()
        y = (affinity @ g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.bn(self.W(y))


class TinySpatialAttention(nn.Module):
    """MGWP's tiny spatial attention (TSA), exactly 10 convolution weights.

    In order (papers/README facts): mean over channels -> ``[B, 1, H, W]``; 3x3 conv
    stride 2 (9 weights, no bias) + BN + ReLU; bilinear upsampling back to ``H x W``
    (``x2`` for even sizes); 1x1 conv (1 weight, no bias) + BN [+ ReLU if ``relu_before_sigmoid``];
    sigmoid; multiply the input by the map.

    ``relu_before_sigmoid``: the authors' code applies ReLU after the second BN, which
    limits the attention to ``[0.5, 1)`` (it can only attenuate by half). Default False:
    we drop that ReLU so the map spans ``(0, 1)``; True reproduces the published code.
    ``last_map`` holds the last attention map ``[B, 1, H, W]`` when ``record = True``.
    """

    def __init__(self, relu_before_sigmoid: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(1)
        self.conv2 = nn.Conv2d(1, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1)
        self.relu_before_sigmoid = relu_before_sigmoid
        self.record = False
        self.last_map: Tensor | None = None

    def attention(self, x: Tensor) -> Tensor:
        """The attention map ``[B, 1, H, W]`` in (0, 1)."""
        m = x.mean(dim=1, keepdim=True)
        m = F.relu(self.bn1(self.conv1(m)))
        m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)
        m = self.bn2(self.conv2(m))
        if self.relu_before_sigmoid:
            m = F.relu(m)
        return torch.sigmoid(m)

    def forward(self, x: Tensor) -> Tensor:
        a = self.attention(x)
        if self.record:
            self.last_map = a.detach()
        return x * a


class PartExcitation(nn.Module):
    """One LGEU branch (LGEU Eq. (2)): ``v = sigmoid(W2 relu(W1 l))`` with ``W1: C -> C/r``
    and ``W2: C/r -> C``, no biases (Eq. (2) has none): exactly ``2 * C * (C // r)`` weights.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, l: Tensor) -> Tensor:  # noqa: E741
        return torch.sigmoid(self.fc2(F.relu(self.fc1(l))))


class LGEUnit(nn.Module):
    """Local-Global Extraction Unit (Wang et al., Sec. 2), replacing global pooling.

    ``X [B, C, H, W]`` -> part averages ``L [B, C, K]`` (Eq. 1, K horizontal stripes) -> K
    separate :class:`PartExcitation` branches -> ``V [B, C, K]`` (Eq. 2) -> each row of X
    re-scaled by its part's weights (Eq. 3) -> global average pooling -> ``Y [B, C]`` (Eq. 4).

    With ``parts = 1`` this is exactly a squeeze-and-excitation unit (Hu et al.) followed
    by GAP, which is how reidlab's ``se`` baseline is built (the paper's Sec. 2.3 comparison).
    ``forward`` returns ``(Y, V)``.
    """

    def __init__(self, channels: int, parts: int = 4, reduction: int = 16) -> None:
        super().__init__()
        self.parts = parts
        self.branches = nn.ModuleList(PartExcitation(channels, reduction) for _ in range(parts))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        l = part_avg_pool(x, self.parts)  # noqa: E741
        v = torch.stack([br(l[:, :, k]) for k, br in enumerate(self.branches)], dim=2)
        s = x * expand_parts_to_rows(v, x.shape[2])
        return gap(s), v


class WeightDrivenPartFusion(nn.Module):
    """MGWP's weight-driven part feature fusion (Sec. "weight-driven part feature fusion
    module", Fig. 6), implemented from the paper's text.

    Parts ``p_1..p_P`` ``[B, C, P]``; the "remainder" ``t_i`` is the sum of the one or two
    adjacent parts (``t_1 = p_2``, ``t_i = p_{i-1} + p_{i+1}``, ``t_P = p_{P-1}``). Two FC
    layers and a sigmoid map ``[p_i ; t_i]`` (2C) to two adaptive weights
    ``(a_i, b_i) = sigmoid(FC2(relu(FC1([p_i; t_i]))))`` (hidden ``C / reduction``), and the
    fused part is ``f_i = a_i * p_i + b_i * t_i``. The FC layers are shared by all parts
    (the text describes one pair of FC layers). The authors' released code instead uses fixed
    weights (0.8 / 0.2) that a bug bypasses; we implement the paper.
    ``forward`` returns ``(fused [B, C, P], weights [B, P, 2])``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(2 * channels, hidden)
        self.fc2 = nn.Linear(hidden, 2)

    @staticmethod
    def remainders(parts: Tensor) -> Tensor:
        """``t_i``: sum of the adjacent parts, ``[B, C, P] -> [B, C, P]`` (P >= 2)."""
        t = torch.zeros_like(parts)
        t[:, :, 1:] = t[:, :, 1:] + parts[:, :, :-1]
        t[:, :, :-1] = t[:, :, :-1] + parts[:, :, 1:]
        return t

    def forward(self, parts: Tensor) -> tuple[Tensor, Tensor]:
        if parts.shape[2] < 2:
            raise ValueError("weight-driven part fusion needs at least 2 parts")
        t = self.remainders(parts)
        z = torch.cat([parts, t], dim=1).transpose(1, 2)  # [B, P, 2C]
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(z))))  # [B, P, 2]
        fused = parts * w[:, :, 0].unsqueeze(1) + t * w[:, :, 1].unsqueeze(1)
        return fused, w
