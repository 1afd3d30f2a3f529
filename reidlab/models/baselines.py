"""Baselines the papers compare against: ``bot`` (Bag of Tricks) and ``pcb`` (6 stripes).

(``se`` and ``baseline`` — the LGEU paper's SE unit and plain GAP ResNet50 — live in
:mod:`reidlab.models.lgeu`.)
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from reidlab.models.base import LossTerm
from reidlab.models.common import (WIDTH_OPTION, ResNetReIDModel, check_choice, check_int, contract,
                                   eval_mode, make_resnet)
from reidlab.models.layers import BNNeck, Classifier, Reduction, gap, part_avg_pool
from reidlab.models.registry import register


@register("bot")
class BoT(ResNetReIDModel):
    """Strong global baseline of Luo et al., *Bag of Tricks and a Strong Baseline for Deep
    Person Re-identification* (2019), cited by PFN as "BagofTricks" [26].

    ResNet with last stride 1; ``f_t = GAP(layer4)`` (``C`` = 2048 for ResNet50);
    BNNeck: ``f_i = BN(f_t)`` (bias frozen), bias-free FC classifier on ``f_i``.
    Losses: label-smoothing CE on ``logits["global"]``, batch-hard triplet on
    ``embeddings["global"] = f_t``.

    Test feature: ``f_i`` (``neck_feat="after"``, as in the paper) or ``f_t``
    (``"before"``); dimension ``C`` (2048 for ResNet50).
    """

    OPTIONS = {
        "last_stride": (1, "stride of layer4 (BoT: 1)"),
        "neck_feat": ("after", "test feature taken 'after' the BNNeck BN or 'before' it"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 last_stride: int = 1, neck_feat: str = "after", backbone_width: float = 1.0) -> None:
        super().__init__()
        check_choice(neck_feat, "neck_feat", ("after", "before"), where="model 'bot'")
        self.backbone = make_resnet("bot", backbone, pretrained, last_stride, backbone_width)
        c = self.backbone.out_channels["layer4"]
        self.neck = BNNeck(c, num_classes)
        self.neck_feat = neck_feat
        self.feature_dim = c
        self.loss_terms = [LossTerm("ce", "global", 1.0, "id"), LossTerm("triplet", "global", 1.0, "metric")]

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        fmap = self.backbone(images)
        ft = gap(fmap)
        fi, logits = self.neck(ft)
        if self.training:
            return contract({"global": logits}, {"global": ft})
        return fi if self.neck_feat == "after" else ft

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map``: layer4 ``[B, C, h, w]``."""
        return {"feature_map": self.backbone(images)}


@register("pcb")
class PCB(ResNetReIDModel):
    """Part-based Convolutional Baseline of Sun et al., *Beyond Part Models: Person
    Retrieval with Refined Part Pooling* (ECCV 2018), without RPP.

    ResNet with last stride 1 (Sun et al. remove the last down-sampling); layer4 split into
    ``num_stripes`` (6) horizontal stripes, average-pooled (``g_k``, ``C``-d); each through its
    own 1x1 conv + BN + ReLU to ``part_dim`` (256, ``h_k``) and its own FC classifier; one
    CE per stripe (summed, weight 1 each). No metric loss.

    Test feature: concatenation of the ``h_k`` (``test_feature="reduced"``,
    ``num_stripes * part_dim`` = 1536) or of the ``g_k`` (``"pooled"``, ``num_stripes * C``
    = 12288 for ResNet50).
    """

    OPTIONS = {
        "num_stripes": (6, "number of horizontal stripes"),
        "part_dim": (256, "dimension of each stripe's reduced feature h_k"),
        "last_stride": (1, "stride of layer4 (PCB: 1)"),
        "test_feature": ("reduced", "'reduced' (concat of h_k) or 'pooled' (concat of g_k)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 num_stripes: int = 6, part_dim: int = 256, last_stride: int = 1,
                 test_feature: str = "reduced", backbone_width: float = 1.0) -> None:
        super().__init__()
        self.num_stripes = check_int("pcb", "num_stripes", num_stripes)
        check_int("pcb", "part_dim", part_dim)
        check_choice(test_feature, "test_feature", ("reduced", "pooled"), where="model 'pcb'")
        self.backbone = make_resnet("pcb", backbone, pretrained, last_stride, backbone_width)
        c = self.backbone.out_channels["layer4"]
        self.reductions = nn.ModuleList(Reduction(c, part_dim) for _ in range(num_stripes))
        self.classifiers = nn.ModuleList(Classifier(part_dim, num_classes) for _ in range(num_stripes))
        self.test_feature = test_feature
        self.feature_dim = num_stripes * (part_dim if test_feature == "reduced" else c)
        self.loss_terms = [LossTerm("ce", f"part{k + 1}", 1.0, "id") for k in range(num_stripes)]

    def _parts(self, images: Tensor):
        fmap = self.backbone(images)
        g = part_avg_pool(fmap, self.num_stripes)  # [B, C, P]
        h = [red(g[:, :, k]) for k, red in enumerate(self.reductions)]
        return fmap, g, h

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        fmap, g, h = self._parts(images)
        if self.training:
            logits = {f"part{k + 1}": clf(h[k]) for k, clf in enumerate(self.classifiers)}
            return contract(logits, {f"part{k + 1}": h[k] for k in range(self.num_stripes)})
        if self.test_feature == "reduced":
            return torch.cat(h, dim=1)
        return g.transpose(1, 2).flatten(1)

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map`` layer4 ``[B, C, h, w]``; ``part_features`` ``[B, P, D]`` (the
        stripes' test features, top to bottom)."""
        fmap, g, h = self._parts(images)
        parts = torch.stack(h, 1) if self.test_feature == "reduced" else g.transpose(1, 2)
        return {"feature_map": fmap, "part_features": parts}
