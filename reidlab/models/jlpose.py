"""jlpose — Liu, Jiang, Zhou, Xu, *Person Re-identification with Joint-loss*
(papers/jlpose-joint-loss-pose-guided.md): landmark-guided body-part boxes, RoI max pooling
on conv4_x of an Inception-style backbone trained from scratch, global + three local
branches, identification + pose-constrained triplet loss."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torchvision.ops import roi_pool

from reidlab.errors import ConfigError
from reidlab.models.backbones import InceptionJLBackbone, check_map_size, inception_jl_upper, init_weights
from reidlab.models.base import LossTerm, ReIDModel
from reidlab.models.common import check_bool, check_int, contract, eval_mode
from reidlab.models.layers import Classifier, gap
from reidlab.models.registry import register

#: COCO-18 landmark indices of each body part (see reidlab.data.records.KEYPOINT_NAMES).
PART_LANDMARKS: dict[str, tuple[int, ...]] = {
    "head": (0, 14, 15, 16, 17),                  # nose, eyes, ears
    "trunk": (1, 2, 3, 4, 5, 6, 7, 8, 11),        # neck, shoulders, elbows, wrists, hips
    "lower_limb": (8, 9, 10, 11, 12, 13),         # hips, knees, ankles
}
PART_NAMES: tuple[str, ...] = ("head", "trunk", "lower_limb")

#: Pre-defined regions (fractions of the image: x1, y1, x2, y2) used when a part's
#: landmarks are missing — the usual proportions of a detected pedestrian box.
PREDEFINED_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "head": (0.2, 0.0, 0.8, 0.2),
    "trunk": (0.0, 0.15, 1.0, 0.6),
    "lower_limb": (0.0, 0.5, 1.0, 1.0),
}

#: landmarks needed (visible, inside the image) for a part to be located from them.
MIN_LANDMARKS = 2
#: padding added around the landmarks' extent, as a fraction of the image width.
BOX_MARGIN = 0.1
#: smallest box (fractions of image height, width); smaller boxes grow around their centre.
MIN_BOX = (0.1, 0.25)


def _usable(keypoints: Tensor, image_size: tuple[int, int]) -> Tensor:
    """``[B, 18]`` bool: landmark visible and inside the image."""
    h, w = image_size
    x, y, v = keypoints.unbind(-1)
    return (v > 0) & (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


def _check_keypoints(keypoints: Tensor) -> None:
    if keypoints.ndim != 3 or keypoints.shape[1:] != (18, 3):
        raise ConfigError(f"keypoints have shape {tuple(keypoints.shape)}: expected [B, 18, 3] "
                          "(x, y, visibility) COCO-18 landmarks in input-pixel coordinates")


def part_visibility(keypoints: Tensor, image_size: Optional[tuple[int, int]] = None) -> Tensor:
    """``[B, 3]`` float: 1 where head / trunk / lower limb is located from landmarks (at least
    :data:`MIN_LANDMARKS` of its landmarks visible and inside the image), 0 where
    :func:`part_boxes_from_keypoints` falls back to the pre-defined region. Without
    ``image_size`` only visibility counts."""
    _check_keypoints(keypoints)
    if image_size is None:
        ok = keypoints[..., 2] > 0
    else:
        ok = _usable(keypoints, image_size)
    cols = [ok[:, list(PART_LANDMARKS[p])].sum(1) >= MIN_LANDMARKS for p in PART_NAMES]
    return torch.stack(cols, 1).to(keypoints.dtype)


def part_boxes_from_keypoints(keypoints: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Head, trunk and lower-limb boxes from 18 landmarks (joint-loss paper Sec. III-A).

    Args:
        keypoints: ``[B, 18, 3]`` ``(x, y, visibility)`` in input pixels (COCO-18 order).
        image_size: ``(H, W)`` of the input images.

    Returns:
        ``[B, 3, 4]`` boxes ``(x1, y1, x2, y2)`` in input pixels, rows head, trunk, lower limb.

    Rules (the paper: "we mark the boundary of body parts with the maximal and minimal
    coordinates" and uses "pre-defined regions" where landmarks are missing):

    1. A landmark counts if its visibility is > 0 and it lies inside the image.
    2. Landmarks per part (:data:`PART_LANDMARKS`): head = nose, eyes, ears; trunk = neck,
       shoulders, elbows, wrists, hips; lower limb = hips, knees, ankles.
    3. A part with at least :data:`MIN_LANDMARKS` (2) counted landmarks gets the min/max
       box of them, padded by :data:`BOX_MARGIN` x W (0.1 W) on every side; the head box's
       bottom is extended down to the neck when the neck counts.
    4. Otherwise the part gets its pre-defined region (:data:`PREDEFINED_REGIONS`, fractions
       of the image): head x 0.2-0.8 W, y 0-0.2 H; trunk full width, y 0.15-0.6 H; lower
       limb full width, y 0.5-1 H.
    5. Boxes smaller than :data:`MIN_BOX` (0.1 H high, 0.25 W wide) grow symmetrically
       around their centre to that size; finally every box is clipped to the image.
    """
    _check_keypoints(keypoints)
    h, w = float(image_size[0]), float(image_size[1])
    ok = _usable(keypoints, (int(h), int(w)))
    x, y = keypoints[..., 0], keypoints[..., 1]
    big = torch.finfo(keypoints.dtype).max
    boxes = []
    margin = BOX_MARGIN * w
    for name in PART_NAMES:
        idx = list(PART_LANDMARKS[name])
        m = ok[:, idx]
        xs, ys = x[:, idx], y[:, idx]
        x1 = torch.where(m, xs, torch.full_like(xs, big)).amin(1) - margin
        y1 = torch.where(m, ys, torch.full_like(ys, big)).amin(1) - margin
        x2 = torch.where(m, xs, torch.full_like(xs, -big)).amax(1) + margin
        y2 = torch.where(m, ys, torch.full_like(ys, -big)).amax(1) + margin
        if name == "head":
            neck_ok = ok[:, 1]
            y2 = torch.where(neck_ok, torch.maximum(y2, y[:, 1]), y2)
        located = m.sum(1) >= MIN_LANDMARKS
        fx1, fy1, fx2, fy2 = PREDEFINED_REGIONS[name]
        pre = keypoints.new_tensor([fx1 * w, fy1 * h, fx2 * w, fy2 * h])
        box = torch.stack([x1, y1, x2, y2], 1)
        box = torch.where(located[:, None], box, pre.expand_as(box))
        boxes.append(box)
    boxes_t = torch.stack(boxes, 1)  # [B, 3, 4]
    cx = (boxes_t[..., 0] + boxes_t[..., 2]) / 2
    cy = (boxes_t[..., 1] + boxes_t[..., 3]) / 2
    half_w = torch.maximum(boxes_t[..., 2] - boxes_t[..., 0], torch.full_like(cx, MIN_BOX[1] * w)) / 2
    half_h = torch.maximum(boxes_t[..., 3] - boxes_t[..., 1], torch.full_like(cy, MIN_BOX[0] * h)) / 2
    out = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1)
    out[..., 0::2] = out[..., 0::2].clamp(0.0, w)
    out[..., 1::2] = out[..., 1::2].clamp(0.0, h)
    return out


def roi_max_pool(fmap: Tensor, boxes: Tensor, image_size: tuple[int, int],
                 output_size: tuple[int, int]) -> Tensor:
    """RoI max pooling (Fast R-CNN; joint-loss Sec. III-B2) of one box per image.

    ``fmap [B, C, h, w]``, ``boxes [B, 4]`` in input pixels of an ``image_size`` image;
    box coordinates are scaled to the map separately along x (``w / W``) and y (``h / H``)
    because the valid-padded backbone does not keep the aspect ratio exactly.
    Returns ``[B, C, *output_size]``.
    """
    b, _, fh, fw = fmap.shape
    sx, sy = fw / float(image_size[1]), fh / float(image_size[0])
    scaled = boxes * boxes.new_tensor([sx, sy, sx, sy])
    scaled = torch.minimum(scaled, boxes.new_tensor([fw - 1, fh - 1, fw - 1, fh - 1]))
    rois = torch.cat([torch.arange(b, device=fmap.device, dtype=boxes.dtype)[:, None], scaled], 1)
    if fmap.dtype in (torch.bfloat16, torch.float16) and fmap.device.type == "cpu":
        # torchvision's CPU roi_pool has no bf16/fp16 kernel; max pooling is exact in fp32.
        return roi_pool(fmap.float(), rois.float(), output_size, spatial_scale=1.0).to(fmap.dtype)
    return roi_pool(fmap, rois.to(fmap.dtype), output_size, spatial_scale=1.0)


class _Embed(nn.Module):
    """Average pool -> fully connected -> BN -> ReLU (Table II rows "Ave pool", "fc")."""

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, fmap: Tensor) -> Tensor:
        return torch.relu(self.bn(self.fc(gap(fmap))))


@register("jlpose")
class JLPose(ReIDModel):
    """Pose-guided joint-loss network (joint-loss paper Sec. III, Fig. 2, Tables I-II).

    * Backbone: :class:`~reidlab.models.backbones.InceptionJLBackbone` (Table I), trained
      from scratch; input 219x103 in the paper (``jlpose-*-paper`` use it; any size from
      about 96x48 works). Table I's map sizes vs ours at 219x103 are in the backbone's
      docstring (conv2_x-conv4_x 53x24 instead of 51x23, conv5_x-conv8_x 26x11 instead of
      25x11, conv9_x 12x5 as printed).
    * Global branch: conv5_x..conv9_x -> average pool (1280) -> fc 256.
    * Local branches (``local_branches``): the head / trunk / lower-limb boxes from
      :func:`part_boxes_from_keypoints` are RoI-max-pooled on conv4_x to ``roi_size``
      (24 x 12 cells; the paper does not give it) and each runs its own copy of
      conv5_x..conv9_x (parameters after conv4_x are not shared, Sec. III-B2) -> average pool
      (head 640, trunk 1280, lower limb 1280: the head branch is half width) -> fc 64 / 128 /
      128 (Table II).
    * Fusion: concatenation ``[global, head, trunk, lower]`` = 576-d (256 only without local
      branches) = ``embeddings["joint"]``; dropout 0.5 then the softmax classifier
      (``logits["joint"]``).
    * Losses (Sec. III-C): identification (softmax CE, presets use no label smoothing) on
      ``joint`` and a triplet loss on ``joint``; the paper's weight ratios softmax : triplet
      1:0.5, 1:1, 0.5:1 are JointLoss's ``(id_weight, metric_weight)``.

      - With the local branches: the pose-constrained triplet
        (:class:`reidlab.losses.PoseConstrainedTripletLoss`), fed by the model's own
        ``aux["pose_segments"]`` and ``aux["part_visible"]`` (computed here from the
        landmarks, so the loss needs no keypoints).
      - Global only (``local_branches=False``): Table IV's "Softmax+Triplet" rows are
        "optimization on the baseline setting" (Sec. IV-C), and "the baseline experiment
        only involves backbone network and identification model", i.e. the global branch
        alone. With no body part there is nothing for a pose constraint to act on, and
        Eq. 3 itself is the plain triplet constraint ``d(f_a, f_p) - d(f_a, f_n) < alpha`` with
        euclidean ``d``: the term is the batch-hard triplet (``"triplet"``,
        :class:`reidlab.losses.BatchHardTripletLoss`, euclidean, the preset's margin) on
        the 256-d global feature, and no ``part_visible`` is produced.

    Table IV rows -> presets: ``jlpose-baseline`` (global, softmax), ``jlpose-global-local``
    (softmax), ``jlpose-triplet-1-0.5`` / ``-1-1`` / ``-0.5-1`` (global, joint loss) and
    ``jlpose`` = Whole Architecture (global + local, 0.5 : 1; see
    :data:`reidlab.presets.JLPOSE_TABLE_IV`).

    ``segments`` gives the concatenation's widths ``[256, 64, 128, 128]`` (``[256]`` without
    local branches); plots and Grad-CAM use it.

    Test feature: the 576-d concatenation (no dropout). ``keypoints=None`` makes every part
    fall back to its pre-defined region (as if no landmark was detected).
    """

    DEFAULT_BACKBONE = "inception_jl"
    SUPPORTED_BACKBONES = ("inception_jl",)
    needs_keypoints = True
    OPTIONS = {
        "local_branches": (True, "head / trunk / lower-limb branches on landmark boxes (False: global only)"),
        "embed_dims": ((256, 64, 128, 128), "fc widths of the global, head, trunk and lower-limb branches"),
        "roi_size": ((24, 12), "RoI max-pooling output (rows, cols) on conv4_x"),
        "dropout": (0.5, "dropout before the classifier"),
        "backbone_width": (1.0, "channel multiplier of the backbone and branches (0.125 = tiny CPU test net)"),
    }

    def __init__(self, num_classes: int, backbone: str = "inception_jl", pretrained=False, *,
                 local_branches: bool = True, embed_dims=(256, 64, 128, 128), roi_size=(24, 12),
                 dropout: float = 0.5, backbone_width: float = 1.0) -> None:
        super().__init__()
        check_bool("jlpose", "local_branches", local_branches)
        dims = tuple(embed_dims)
        if len(dims) != 4:
            raise ConfigError(f"model 'jlpose': embed_dims={embed_dims!r} is not valid: expected 4 integers "
                              "(global, head, trunk, lower limb)")
        for d in dims:
            check_int("jlpose", "embed_dims", d)
        roi = tuple(roi_size)
        if len(roi) != 2 or min(roi) < 7:
            raise ConfigError(f"model 'jlpose': roi_size={roi_size!r} is not valid: expected (rows, cols) >= 7")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"model 'jlpose': dropout={dropout!r} is not valid: expected 0 <= p < 1")
        if pretrained not in (False, None):
            raise ConfigError("model 'jlpose' is trained from scratch (Sec. III-B): use pretrained=False")
        self.backbone = InceptionJLBackbone(width=backbone_width)
        self.global_embed = _Embed(self.backbone.out_channels, dims[0])
        self.local_branches = local_branches
        self.roi_size = (int(roi[0]), int(roi[1]))
        c4 = self.backbone.conv4_channels
        if local_branches:
            self.part_uppers = nn.ModuleList([
                inception_jl_upper(c4, backbone_width, final_width=0.5 if name == "head" else 1.0)
                for name in PART_NAMES])
            self.part_embeds = nn.ModuleList(_Embed(up.out_channels, d)
                                             for up, d in zip(self.part_uppers, dims[1:]))
            init_weights(self.part_uppers)
        self.segments = list(dims if local_branches else dims[:1])
        self.feature_dim = sum(self.segments)
        self.classifier = Classifier(self.feature_dim, num_classes, dropout=float(dropout))
        metric_kind = "pose_triplet" if local_branches else "triplet"
        self.loss_terms = [LossTerm("ce", "joint", 1.0, "id"), LossTerm(metric_kind, "joint", 1.0, "metric")]

    def cam_target_layers(self) -> list[nn.Module]:
        return [self.backbone.upper[-1]]

    def _run(self, images: Tensor, keypoints: Optional[Tensor]) -> dict[str, Tensor]:
        b, _, h, w = images.shape
        if keypoints is None:
            keypoints = images.new_zeros(b, 18, 3)
        _check_keypoints(keypoints)
        if keypoints.shape[0] != b:
            raise ConfigError(f"keypoints batch {keypoints.shape[0]} != images batch {b}")
        keypoints = keypoints.to(images.dtype)
        c4 = self.backbone.lower(images)
        check_map_size(c4, 7, "inception_jl conv4_x", images)
        gmap = self.backbone.upper(c4)
        feats = [self.global_embed(gmap)]
        r: dict[str, Tensor] = {"feature_map": gmap}
        if self.local_branches:
            boxes = part_boxes_from_keypoints(keypoints, (h, w))
            for k, (up, emb) in enumerate(zip(self.part_uppers, self.part_embeds)):
                pooled = roi_max_pool(c4, boxes[:, k], (h, w), self.roi_size)
                feats.append(emb(up(pooled)))
            r["part_boxes"] = boxes
            r["part_visible"] = part_visibility(keypoints, (h, w))
        r["joint"] = torch.cat(feats, 1)
        return r

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):
        r = self._run(images, keypoints)
        if self.training:
            aux: dict[str, Tensor] = {}
            if self.local_branches:
                aux["pose_segments"] = torch.tensor(self.segments)
                aux["part_visible"] = r["part_visible"]
                aux["part_boxes"] = r["part_boxes"]
            return contract({"joint": self.classifier(r["joint"])}, {"joint": r["joint"]}, aux)
        return r["joint"]

    @eval_mode
    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``feature_map``: the global branch's conv9_x map ``[B, 1280, h, w]``;
        ``part_boxes`` ``[B, 3, 4]`` (x1, y1, x2, y2 input pixels: head, trunk, lower limb;
        with local branches)."""
        r = self._run(images, keypoints)
        out = {"feature_map": r["feature_map"]}
        if "part_boxes" in r:
            out["part_boxes"] = r["part_boxes"]
        return out
