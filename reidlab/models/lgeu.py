"""LGEU — Wang, Qing, Xu, Cai, Jin, Ren, *Local-Global Extraction Unit for Person
Re-identification* (papers/lgeu-local-global-extraction-unit.md), with the two models its
Table 1 compares against: the plain ResNet50 ``baseline`` and the ``se`` unit."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from reidlab.models.base import LossTerm
from reidlab.models.common import (WIDTH_OPTION, ResNetReIDModel, check_int, contract, eval_mode,
                                   make_resnet)
from reidlab.models.layers import Classifier, LGEUnit, gap
from reidlab.models.registry import register


class _GlobalSoftmaxModel(ResNetReIDModel):
    """ResNet -> global descriptor ``Y`` (``C``-d) -> FC -> softmax loss (LGEU Sec. 2.2).

    Loss terms: one ``ce`` on ``logits["global"]`` (the paper trains with the softmax loss
    only: presets use label_smoothing 0; ``embeddings["global"] = Y`` is there for plots).
    Test feature: ``Y``, ``C`` = 2048 dims for ResNet50 (compared with cosine distance,
    Sec. 3.1). Last stride 2 (the paper keeps ResNet50 unchanged): 256x128 gives an 8x4 map.
    """

    unit: Optional[LGEUnit]

    def _init(self, num_classes: int, backbone: str, pretrained, last_stride: int, backbone_width: float,
              parts: Optional[int], reduction: int) -> None:
        self.backbone = make_resnet(self.model_name, backbone, pretrained, last_stride, backbone_width)
        c = self.backbone.out_channels["layer4"]
        self.unit = None if parts is None else LGEUnit(c, parts, reduction)
        self.classifier = Classifier(c, num_classes)
        self.feature_dim = c
        self.loss_terms = [LossTerm("ce", "global", 1.0, "id")]

    def _descriptor(self, images: Tensor):
        fmap = self.backbone(images)
        if self.unit is None:
            return fmap, gap(fmap), None
        y, v = self.unit(fmap)
        return fmap, y, v

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        _, y, v = self._descriptor(images)
        if self.training:
            aux = {} if v is None else {"part_weights": v.transpose(1, 2)}
            return contract({"global": self.classifier(y)}, {"global": y}, aux)
        return y

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map`` layer4 ``[B, C, h, w]``; ``part_weights`` ``[B, K, C]`` (LGEU's
        ``V`` transposed, K = 1 for ``se``; absent for ``baseline``)."""
        fmap, _, v = self._descriptor(images)
        out = {"feature_map": fmap}
        if v is not None:
            out["part_weights"] = v.transpose(1, 2)
        return out


@register("lgeu")
class LGEU(_GlobalSoftmaxModel):
    """ResNet50 whose final global pooling is replaced by the Local-Global Extraction Unit
    (LGEU Sec. 2, Fig. 1; :class:`~reidlab.models.layers.LGEUnit`).

    ``X`` = layer4 map; ``K = num_parts`` (4) horizontal part averages (Eq. 1); K separate
    branches ``FC(C -> C/16) - ReLU - FC(C/16 -> C) - sigmoid`` (Eq. 2; ``reduction`` = 16,
    bias-free, each ``2 * C * C/16`` weights); the part weights re-scale the rows of ``X``
    (Eq. 3); GAP gives ``Y`` (Eq. 4, 2048-d for ResNet50) -> FC -> softmax loss.
    Test feature ``Y`` (2048 dims). The paper writes the hidden size as "R = 16"; the
    issue/DESIGN read it as the reduction ratio of SE (C/16), which we follow.
    """

    OPTIONS = {
        "num_parts": (4, "K, number of horizontal parts (K = 1 is an SE unit)"),
        "reduction": (16, "reduction ratio r of each branch, hidden size C // r"),
        "last_stride": (2, "stride of layer4 (the paper keeps ResNet50's 2)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 num_parts: int = 4, reduction: int = 16, last_stride: int = 2,
                 backbone_width: float = 1.0) -> None:
        super().__init__()
        check_int("lgeu", "num_parts", num_parts)
        check_int("lgeu", "reduction", reduction)
        self._init(num_classes, backbone, pretrained, last_stride, backbone_width, num_parts, reduction)


@register("se")
class SE(_GlobalSoftmaxModel):
    """The LGEU paper's "Se-Unit" comparison (Table 1): a squeeze-and-excitation unit (Hu et
    al.) placed where LGEU sits — ``s = sigmoid(W2 relu(W1 GAP(X)))`` (bias-free, ``C/16``
    hidden) re-scales the channels of the layer4 map, then GAP -> ``Y`` (2048-d) -> FC ->
    softmax. Equivalent to LGEU with ``K = 1``. Test feature ``Y`` (2048 dims)."""

    OPTIONS = {
        "reduction": (16, "SE reduction ratio r, hidden size C // r"),
        "last_stride": (2, "stride of layer4 (ResNet50's 2)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 reduction: int = 16, last_stride: int = 2, backbone_width: float = 1.0) -> None:
        super().__init__()
        check_int("se", "reduction", reduction)
        self._init(num_classes, backbone, pretrained, last_stride, backbone_width, 1, reduction)


@register("baseline")
class Baseline(_GlobalSoftmaxModel):
    """The LGEU paper's baseline (Table 1): ImageNet ResNet50, global average pooling of
    layer4 -> ``Y`` (2048-d) -> FC -> softmax loss. Test feature ``Y`` (2048 dims)."""

    OPTIONS = {
        "last_stride": (2, "stride of layer4 (ResNet50's 2)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 last_stride: int = 2, backbone_width: float = 1.0) -> None:
        super().__init__()
        self._init(num_classes, backbone, pretrained, last_stride, backbone_width, None, 16)
