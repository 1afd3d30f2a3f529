"""Helpers shared by the model files: option checks (``check_choice`` is
:func:`reidlab._checks.check_choice`, re-exported), backbone construction, options that every
ResNet model takes."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import torch

from torch import Tensor, nn

from reidlab._checks import check_choice  # noqa: F401  (re-exported for the model files)
from reidlab.errors import ConfigError
from reidlab.models.backbones import Pretrained, ResNetBackbone, build_backbone
from reidlab.models.base import ReIDModel

#: Backbones the ResNet-stage models accept (MobileNetV2 exposes the same stages).
RESNET_BACKBONES: tuple[str, ...] = ("resnet50", "resnet34", "resnet18", "mobilenet_v2")

WIDTH_OPTION = {"backbone_width": (1.0, "channel multiplier of the backbone (1.0 = real net; 0.125/0.25 = tiny CPU test nets)")}


def check_bool(model: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"model {model!r}: {option}={value!r} is not valid: expected True or False")
    return value


def check_int(model: str, option: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"model {model!r}: {option}={value!r} is not valid: expected an integer >= {minimum}")
    return value


def make_resnet(model: str, backbone: str, pretrained: Pretrained, last_stride: Any,
                width: Any, stem_relu: bool = True) -> ResNetBackbone:
    """Build the ResNet-stage backbone of a model (a ResNet or MobileNetV2), with the
    model's name in errors."""
    check_choice(last_stride, "last_stride", (1, 2), where=f"model {model!r}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ConfigError(f"model {model!r}: backbone_width={width!r} is not valid: expected a positive number")
    bb = build_backbone(backbone, pretrained=pretrained, last_stride=last_stride, width=float(width),
                        stem_relu=stem_relu)
    assert hasattr(bb, "forward_stages") and hasattr(bb, "layer4")
    return bb


class ResNetReIDModel(ReIDModel):
    """Base for the ResNet models: Grad-CAM hooks layer4 (the map the heads read) and
    ``explain`` returns at least ``feature_map``."""

    DEFAULT_BACKBONE = "resnet50"
    SUPPORTED_BACKBONES: tuple[str, ...] = RESNET_BACKBONES
    OPTIONS: dict[str, tuple[Any, str]] = {}
    backbone: ResNetBackbone

    def cam_target_layers(self) -> list[nn.Module]:
        return [self.backbone.layer4]


def contract(logits: dict[str, Tensor], embeddings: dict[str, Tensor],
             aux: Optional[dict[str, Tensor]] = None) -> dict[str, dict[str, Tensor]]:
    """The training-mode output dict of :mod:`reidlab.models.base`."""
    return {"logits": logits, "embeddings": embeddings, "aux": aux or {}}


def eval_mode(fn: Callable) -> Callable:
    """Decorator for ``explain``: run in eval mode without gradients, then restore the
    previous train/eval mode."""

    @functools.wraps(fn)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return fn(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return wrapper
