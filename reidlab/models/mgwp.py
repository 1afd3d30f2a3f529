"""MGWP — Tang, Yan, Chen, Shao, Wang, Wang, *Person Re-Identification Based on Multi-Scale
Global Feature and Weight-Driven Part Feature*, AI Communications 2022
(papers/mgwp-multiscale-global-weight-driven-part.md; gaps filled from papers/README.md)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.models.backbones import conv_bn_relu
from reidlab.models.base import LossTerm
from reidlab.models.common import (WIDTH_OPTION, ResNetReIDModel, check_bool, check_choice, check_int,
                                   contract, eval_mode, make_resnet)
from reidlab.models.layers import (BNNeck, Classifier, NonLocalBlock, Reduction, TinySpatialAttention,
                                   WeightDrivenPartFusion, gap, gmp, part_avg_pool)
from reidlab.models.registry import register


#: The multi-scale module's branches, numbered as the paper numbers them ("branch 1", ...;
#: the order of the authors' code, papers/README.md).
MS_BRANCHES: dict[int, str] = {
    1: "1x1",
    2: "1x1 -> 5x5",
    3: "1x1 -> 3x3 -> 3x3",
    4: "3x3 avg pool -> 1x1",
}


class MultiScaleGlobal(nn.Module):
    """MGWP's multi-scale global feature module (Fig. 4) on the stage4 (layer4) map.

    Four Inception-style branches (:data:`MS_BRANCHES`) of ``C/2`` channels each (1024 for
    ResNet50): branch 1 = 1x1; branch 2 = 1x1 (``C/4``) -> 5x5; branch 3 = 1x1 (``C/4``) ->
    3x3 -> 3x3; branch 4 = 3x3 average pool -> 1x1. Each conv has BN + ReLU and each branch
    ends in a :class:`TinySpatialAttention` (when ``tsa``). The branches are concatenated
    (``n * C/2``) and reduced back to ``C`` by a 1x1 conv + BN; the module returns
    ``layer4 + that`` (the paper's residual sum, Sec. "multi-scale global").

    ``branches`` keeps a subset (paper numbers, e.g. ``(1, 3)``) for the per-branch
    ablation ("Effect of each branch of C-P2 on the model performance").
    """

    def __init__(self, channels: int, tsa: bool = True, tsa_relu: bool = False,
                 branches: tuple[int, ...] = (1, 2, 3, 4)) -> None:
        super().__init__()
        c, b, mid = channels, channels // 2, channels // 4
        make = {
            1: lambda: conv_bn_relu(c, b, 1),
            2: lambda: nn.Sequential(conv_bn_relu(c, mid, 1), conv_bn_relu(mid, b, 5, padding=2)),
            3: lambda: nn.Sequential(conv_bn_relu(c, mid, 1), conv_bn_relu(mid, mid, 3, padding=1),
                                     conv_bn_relu(mid, b, 3, padding=1)),
            4: lambda: nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                     conv_bn_relu(c, b, 1)),
        }
        self.branch_ids = tuple(int(i) for i in branches)
        self.branches = nn.ModuleList(make[i]() for i in self.branch_ids)
        n = len(self.branch_ids)
        self.tsas = nn.ModuleList(TinySpatialAttention(tsa_relu) for _ in range(n)) if tsa else None
        self.fuse = nn.Sequential(nn.Conv2d(n * b, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: Tensor) -> Tensor:
        outs = [br(x) for br in self.branches]
        if self.tsas is not None:
            outs = [t(o) for t, o in zip(self.tsas, outs)]
        return x + self.fuse(torch.cat(outs, 1))


def _check_branches(value) -> tuple[int, ...]:
    """``ms_branches`` as a sorted tuple of distinct branch numbers in 1..4."""
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) and v in MS_BRANCHES for v in value)
    if not ok or len(set(value)) != len(value):
        raise ConfigError(f"model 'mgwp': ms_branches={value!r} is not valid: expected distinct branch numbers "
                          "from 1 to 4, e.g. [1, 2, 3, 4] (all) or [1, 3]")
    return tuple(sorted(value))


@register("mgwp")
class MGWP(ResNetReIDModel):
    """Multi-scale Global feature and Weight-driven Part feature network (MGWP Sec. "Method",
    Fig. 2).

    * Backbone ResNet50, last stride 1 (256x128 -> layer4 16x8), with an embedded-Gaussian
      non-local block after stage1 (layer1) and stage2 (layer2), identity at init
      (``non_local``).
    * Stage3 (layer3, 1024-d) and stage4 (layer4, 2048-d): global average and max pooling;
      batch-hard triplet on each pooled vector (``s3_avg``, ``s3_max``, ``s4_avg``,
      ``s4_max``); their sum ``f_s = avg + max`` -> BNNeck -> FC -> CE (``stage3``,
      ``stage4``).
    * Multi-scale global module (``multi_scale``, with TSA in each branch when ``tsa``) on
      layer4, summed with layer4, GAP, 1x1 conv + BN + ReLU to ``feature_dim`` (512) -> FC ->
      CE (``multiscale``).
    * Weight-driven part fusion (``part_fusion``): layer4 -> ``num_parts`` (6) stripes ``p_i``
      (average pooled), remainders ``t_i`` (adjacent parts), two FC + sigmoid -> weights
      ``(a_i, b_i)``, ``f_i = a_i p_i + b_i t_i`` (the paper's learned weights, not the
      released code's fixed 0.8/0.2). Each fused part -> 1x1 conv + BN + ReLU to ``part_dim``
      (256; unspecified in the paper) -> FC -> CE (``part1``..). With ``part_fusion=False`` the
      plain stripes ``p_i`` are used (PCB-style parts).
    * Loss (Eq. 9): the sum of all the above terms, weight 1 each (the paper gives no weights).

    Test feature (Sec. "Model test"): ``test_feature="backbone"`` (default) concatenates the
    BN outputs of the stage3 and stage4 sums ``f_s`` -> 1024 + 2048 = 3072 dims for ResNet50.
    The paper: "In the model testing phase, we input the query image to the backbone network
    to obtain the stage 3 features and stage 4 features. Then we sum the global
    maximum-pooled features and global average-pooled features of stage3 ..." -- the
    backbone's stage3/stage4 features, nothing from the two modules (the released code also
    leaves the parts out at test time). The multi-scale module and the part fusion therefore
    act only through training: they are heads on layer4 whose cross-entropy terms (Eq. 9,
    "an end-to-end multi-stage network loss with intermediate supervision") send their
    gradients into layer4 and the layers below it, shaping the backbone features that do
    form the test feature; the conclusion calls them "two secondary modules as feature
    complements". (The multi-scale section's "sum up the multi-scale global feature map and
    stage4 feature map to get the final features" is the module's output, trained by its
    own CE; the test section does not use it.) ``"all"`` appends the multi-scale 512-d
    feature and the fused parts (``+ 512 + 6 * 256``) for comparison.

    Ablation switches named as in the paper's captions: ``non_local`` (NL), ``multi_scale``
    (MSG), ``tsa`` (TSA), ``part_fusion`` (WDP), ``num_parts`` ("number of parts") and
    ``ms_branches`` ("each branch of C-P2": which of the multi-scale branches 1-4 are on,
    :data:`MS_BRANCHES`). The input size ("different image sizes") is the preset's
    ``input_size``; any size whose layer4 map has at least ``num_parts`` rows works.

    TSA: ``tsa_relu=False`` (default) drops the ReLU the authors' code applies before the
    sigmoid (which limits the attention to [0.5, 1)); ``True`` reproduces the code.
    """

    OPTIONS = {
        "non_local": (True, "non-local blocks after stage1 (layer1) and stage2 (layer2)"),
        "multi_scale": (True, "multi-scale global module on layer4 (+ its CE head)"),
        "tsa": (True, "tiny spatial attention in each multi-scale branch"),
        "ms_branches": ((1, 2, 3, 4), "multi-scale branches kept, paper numbering: 1 = 1x1, 2 = 1x1->5x5, "
                                      "3 = 1x1->3x3->3x3, 4 = avg pool->1x1"),
        "part_fusion": (True, "weight-driven part fusion (False: plain stripes)"),
        "num_parts": (6, "number of horizontal parts"),
        "tsa_relu": (False, "ReLU before the TSA sigmoid as in the authors' code (limits weights to [0.5, 1))"),
        "feature_dim": (512, "dimension of the multi-scale head feature"),
        "part_dim": (256, "dimension of each part's reduced feature"),
        "fusion_reduction": (16, "hidden size of the fusion FC layers is C // fusion_reduction"),
        "test_feature": ("backbone", "'backbone' (stage3+stage4, 3072-d) or 'all' (+ multi-scale + parts)"),
        "last_stride": (1, "stride of layer4 (MGWP: 1)"),
        **WIDTH_OPTION,
    }

    def __init__(self, num_classes: int, backbone: str = "resnet50", pretrained=False, *,
                 non_local: bool = True, multi_scale: bool = True, tsa: bool = True,
                 ms_branches=(1, 2, 3, 4), part_fusion: bool = True, num_parts: int = 6, tsa_relu: bool = False,
                 feature_dim: int = 512, part_dim: int = 256, fusion_reduction: int = 16,
                 test_feature: str = "backbone", last_stride: int = 1, backbone_width: float = 1.0) -> None:
        super().__init__()
        for opt, val in (("non_local", non_local), ("multi_scale", multi_scale), ("tsa", tsa),
                         ("part_fusion", part_fusion), ("tsa_relu", tsa_relu)):
            check_bool("mgwp", opt, val)
        self.num_parts = check_int("mgwp", "num_parts", num_parts, minimum=2 if part_fusion else 1)
        for opt, val in (("feature_dim", feature_dim), ("part_dim", part_dim), ("fusion_reduction", fusion_reduction)):
            check_int("mgwp", opt, val)
        check_choice("mgwp", "test_feature", test_feature, ("backbone", "all"))
        branches = _check_branches(ms_branches)
        self.backbone = make_resnet("mgwp", backbone, pretrained, last_stride, backbone_width)
        ch = self.backbone.out_channels
        if non_local:
            self.backbone.extra["layer1"] = NonLocalBlock(ch["layer1"])
            self.backbone.extra["layer2"] = NonLocalBlock(ch["layer2"])
        c3, c4 = ch["layer3"], ch["layer4"]
        self.neck3 = BNNeck(c3, num_classes)
        self.neck4 = BNNeck(c4, num_classes)
        self.multi_scale = MultiScaleGlobal(c4, tsa, tsa_relu, branches) if multi_scale else None
        if multi_scale:
            self.ms_reduction = Reduction(c4, feature_dim)
            self.ms_classifier = Classifier(feature_dim, num_classes)
        self.fusion = WeightDrivenPartFusion(c4, fusion_reduction) if part_fusion else None
        self.part_reductions = nn.ModuleList(Reduction(c4, part_dim) for _ in range(num_parts))
        self.part_classifiers = nn.ModuleList(Classifier(part_dim, num_classes) for _ in range(num_parts))
        self.test_feature = test_feature
        dim = c3 + c4
        if test_feature == "all":
            dim += (feature_dim if multi_scale else 0) + num_parts * part_dim
        self.feature_dim = dim
        terms = [LossTerm("triplet", n, 1.0, "metric") for n in ("s3_avg", "s3_max", "s4_avg", "s4_max")]
        terms += [LossTerm("ce", "stage3"), LossTerm("ce", "stage4")]
        if multi_scale:
            terms.append(LossTerm("ce", "multiscale"))
        terms += [LossTerm("ce", f"part{k + 1}") for k in range(num_parts)]
        self.loss_terms = terms

    def _run(self, images: Tensor) -> dict[str, Tensor]:
        st = self.backbone.forward_stages(images)
        l3, l4 = st["layer3"], st["layer4"]
        r: dict[str, Tensor] = {"layer4": l4, "s3_avg": gap(l3), "s3_max": gmp(l3), "s4_avg": gap(l4), "s4_max": gmp(l4)}
        r["stage3_f"], r["stage3"] = self.neck3(r["s3_avg"] + r["s3_max"])
        r["stage4_f"], r["stage4"] = self.neck4(r["s4_avg"] + r["s4_max"])
        if self.multi_scale is not None:
            r["multiscale_f"] = self.ms_reduction(gap(self.multi_scale(l4)))
            r["multiscale"] = self.ms_classifier(r["multiscale_f"])
        parts = part_avg_pool(l4, self.num_parts)
        if self.fusion is not None:
            parts, r["part_weights"] = self.fusion(parts)
        r["parts_f"] = torch.stack([red(parts[:, :, k]) for k, red in enumerate(self.part_reductions)], 1)
        return r

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        r = self._run(images)
        if self.training:
            logits = {"stage3": r["stage3"], "stage4": r["stage4"]}
            emb = {n: r[n] for n in ("s3_avg", "s3_max", "s4_avg", "s4_max")}
            if "multiscale" in r:
                logits["multiscale"] = r["multiscale"]
                emb["multiscale"] = r["multiscale_f"]
            for k, clf in enumerate(self.part_classifiers):
                logits[f"part{k + 1}"] = clf(r["parts_f"][:, k])
                emb[f"part{k + 1}"] = r["parts_f"][:, k]
            aux = {"part_weights": r["part_weights"]} if "part_weights" in r else {}
            return contract(logits, emb, aux)
        feats = [r["stage3_f"], r["stage4_f"]]
        if self.test_feature == "all":
            if "multiscale_f" in r:
                feats.append(r["multiscale_f"])
            feats.append(r["parts_f"].flatten(1))
        return torch.cat(feats, 1)

    @contextmanager
    def _recording(self) -> Iterator[None]:
        mods = [m for m in self.modules() if isinstance(m, (NonLocalBlock, TinySpatialAttention))]
        for m in mods:
            m.record = True
        try:
            yield
        finally:
            for m in mods:
                m.record = False
                m.last_affinity = m.last_map = None

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map`` layer4 ``[B, C, h, w]``; ``part_features`` ``[B, P, part_dim]``
        (fused parts); ``part_weights`` ``[B, P, 2]`` (a_i for p_i, b_i for t_i; with fusion);
        ``tsa_maps`` ``[B, n, h, w]`` (the n kept branches' TSA maps, in (0, 1)); and
        ``nonlocal_affinity`` ``[B, hw, hw]`` of the last non-local block (after layer2;
        rows sum to 1)."""
        with self._recording():
            r = self._run(images)
            out = {"feature_map": r["layer4"], "part_features": r["parts_f"]}
            if "part_weights" in r:
                out["part_weights"] = r["part_weights"]
            if self.multi_scale is not None and self.multi_scale.tsas is not None:
                out["tsa_maps"] = torch.cat([t.last_map for t in self.multi_scale.tsas], 1)
            if "layer2" in self.backbone.extra:
                out["nonlocal_affinity"] = self.backbone.extra["layer2"].last_affinity
        return out
