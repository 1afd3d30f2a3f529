"""The stage interface shared by the ResNet-stage backbones (ResNet, MobileNetV2).

A backbone that subclasses :class:`StagedBackbone` defines ``stem``, ``layer1`` ... ``layer4``
and an ``extra`` :class:`torch.nn.ModuleDict` (a module run after a stage, keyed by the
stage's name: how MGWP and LGEU insert their blocks); the models read stage maps through
:meth:`StagedBackbone.forward_stages`.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["STAGES", "StagedBackbone"]

#: Stage names, input side first.
STAGES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")


class StagedBackbone(nn.Module):
    """Base of the backbones whose models use ResNet-style stages (see the module docstring)."""

    extra: nn.ModuleDict

    def forward_stages(self, x: Tensor, upto: str = "layer4") -> dict[str, Tensor]:
        """Run the network and return ``{"layer1": ..., ..., upto: ...}`` feature maps
        (after the ``extra`` module of each stage, if any)."""
        feats: dict[str, Tensor] = {}
        x = self.stem(x)
        for name in STAGES:
            x = getattr(self, name)(x)
            if name in self.extra:
                x = self.extra[name](x)
            feats[name] = x
            if name == upto:
                break
        return feats

    def forward(self, x: Tensor) -> Tensor:
        """The layer4 map ``[B, out_channels['layer4'], H/32 (H/16 with last_stride=1), ...]``."""
        return self.forward_stages(x)["layer4"]
