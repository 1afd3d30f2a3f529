"""PFN — Prakayaphun & Usanavasin, *Part-based Fusion Feature Learning for Person
Re-Identification* (papers/pfn-part-based-fusion-network.md)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from reidlab.models.base import LossTerm
from reidlab.models.common import (WIDTH_OPTION, ResNetReIDModel, check_bool, check_choice, check_int,
                                   contract, eval_mode, make_resnet)
from reidlab.models.layers import BNNeck, Reduction, gap, part_avg_pool
from reidlab.models.registry import register


@register("pfn")
class PFN(ResNetReIDModel):
    """Part-based Fusion Network (PFN Sec. III-A, Fig. 2).

    * Backbone ResNet50 "with the ReLU of the first stage removed" (Sec. III-A;
      ``stem_relu=False``, switchable). Last stride: the paper is silent; we use 1
      (``last_stride=1``) as the baselines it builds on (BagofTricks, PCB), which gives
      layer4 24x12 at 384x192 so each of the 6 stripes covers 4 rows.
    * Global features: GAP of stage 4 (``layer3``, 1024-d) and stage 5 (``layer4``, 2048-d)
      — named ``"global4"`` and ``"global5"``.
    * Local features: ``layer4`` split into ``num_stripes`` (6) horizontal stripes by
      part-based average pooling — ``"part1"`` (top) .. ``"part6"``.
    * Every feature: 1x1 conv + BN + ReLU to ``feature_dim`` (512), then BN and an FC
      classifier (BNNeck layout: BN bias frozen, bias-free FC).
    * Losses (Sec. III-B): label-smoothing CE (Eq. 1, eps 0.1) on every feature, averaged
      over the ``P`` features as Eq. 1's ``1/P`` (each CE term has weight ``1/P``);
      batch-hard triplet (Eq. 2, margin 0.3) on each global feature (the 512-d reduced
      feature before the BN), weight 1 each.

    Test feature: concatenation, in the order global4, global5, part1..part6, of each
    feature's BN output (BNNeck convention) — ``(2 + 6) * 512 = 4096`` dims for the full
    model. (The flipped image's feature is concatenated by the feature extractor.)

    ``names`` lists the features in concatenation order (used by plots and Grad-CAM).

    Ablations: ``branches="global"`` (only the global features), ``"local"`` (only the
    stripes), ``"both"``; ``stage4_global=False`` drops the stage-4 (layer3) global feature (it has no effect with
    ``branches="local"``, which has no global features).
    """

    OPTIONS = {
        "branches": ("both", "'both', 'global' (global features only) or 'local' (stripes only)"),
        "stage4_global": (True, "include the GAP of stage 4 (layer3) as a second global feature"),
        "num_stripes": (6, "number of horizontal stripes of layer4"),
        "feature_dim": (512, "dimension of each reduced feature (1x1 conv + BN + ReLU)"),
        "last_stride": (1, "stride of layer4 (paper silent; 1 as in BoT/PCB)"),
        "stem_relu": (False, "keep the ReLU after conv1 (PFN removes it, Sec. III-A)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 branches: str = "both", stage4_global: bool = True, num_stripes: int = 6,
                 feature_dim: int = 512, last_stride: int = 1, stem_relu: bool = False,
                 backbone_width: float = 1.0) -> None:
        super().__init__()
        check_choice(branches, "branches", ("both", "global", "local"), where="model 'pfn'")
        check_bool("pfn", "stage4_global", stage4_global)
        check_bool("pfn", "stem_relu", stem_relu)
        self.num_stripes = check_int("pfn", "num_stripes", num_stripes)
        check_int("pfn", "feature_dim", feature_dim)
        self.backbone = make_resnet("pfn", backbone, pretrained, last_stride, backbone_width, stem_relu=stem_relu)
        ch = self.backbone.out_channels
        self.branches = branches
        self.use_global = branches in ("both", "global")
        self.use_stage4 = self.use_global and stage4_global
        self.use_local = branches in ("both", "local")
        in_dims: dict[str, int] = {}
        if self.use_stage4:
            in_dims["global4"] = ch["layer3"]
        if self.use_global:
            in_dims["global5"] = ch["layer4"]
        if self.use_local:
            for k in range(num_stripes):
                in_dims[f"part{k + 1}"] = ch["layer4"]
        self.names = list(in_dims)
        self.reductions = nn.ModuleDict({n: Reduction(d, feature_dim) for n, d in in_dims.items()})
        self.necks = nn.ModuleDict({n: BNNeck(feature_dim, num_classes) for n in in_dims})
        self.feature_dim = feature_dim * len(self.names)
        p = len(self.names)
        self.loss_terms = [LossTerm("ce", n, 1.0 / p, "id") for n in self.names]
        self.loss_terms += [LossTerm("triplet", n, 1.0, "metric") for n in self.names if n.startswith("global")]

    def _features(self, images: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        stages = self.backbone.forward_stages(images)
        fmap = stages["layer4"]
        pooled: dict[str, Tensor] = {}
        if self.use_stage4:
            pooled["global4"] = gap(stages["layer3"])
        if self.use_global:
            pooled["global5"] = gap(fmap)
        if self.use_local:
            parts = part_avg_pool(fmap, self.num_stripes)
            for k in range(self.num_stripes):
                pooled[f"part{k + 1}"] = parts[:, :, k]
        return fmap, {n: self.reductions[n](pooled[n]) for n in self.names}

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        _, feats = self._features(images)
        outs = {n: self.necks[n](f) for n, f in feats.items()}
        if self.training:
            return contract({n: o[1] for n, o in outs.items()}, feats)
        return torch.cat([outs[n][0] for n in self.names], dim=1)

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map`` layer4 ``[B, C, h, w]``; ``part_features`` ``[B, F, 512]``: every
        feature's test vector (after BN) in concatenation order (global4, global5, part1..)."""
        fmap, feats = self._features(images)
        return {"feature_map": fmap,
                "part_features": torch.stack([self.necks[n](feats[n])[0] for n in self.names], 1)}
