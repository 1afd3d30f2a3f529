"""Losses of the four papers and the weighted joint loss a preset configures.

* :class:`CrossEntropyLabelSmooth` — PFN Eq. (1) (also MGWP Eq. 7, BoT): targets
  ``q_y = 1 - (N-1)/N * eps``, ``q_i = eps / N`` otherwise; mean over the batch.
* :class:`BatchHardTripletLoss` — Hermans, Beyer & Leibe 2017 (PFN Eq. 2, MGWP Eq. 8).
* :class:`PoseConstrainedTripletLoss` — the joint-loss paper's (Liu et al.) triplet loss on
  the pose-guided global + body-part feature (definition in the class docstring).
* :class:`JointLoss` — applies a model's ``loss_terms`` with group weights. Everything a
  term needs beyond embeddings and labels comes from the model's output (``aux``, e.g.
  jlpose's ``part_visible``): this module imports no model.
* :func:`accuracy` — top-1 training accuracy.

Distances here are **non-squared euclidean** by default (``||a - b||_2``, as in Hermans et
al. and the papers' Eq. 2/3), computed as ``sqrt(max(d^2, 1e-12))`` so gradients stay finite
for identical points. Losses are computed in float32 whatever the autocast dtype.
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.models.base import LossTerm

Metric = Literal["euclidean", "sqeuclidean", "cosine"]

__all__ = ["CrossEntropyLabelSmooth", "BatchHardTripletLoss", "PoseConstrainedTripletLoss", "JointLoss",
           "accuracy", "pairwise_distance"]


def pairwise_distance(x: Tensor, y: Optional[Tensor] = None, metric: Metric = "euclidean") -> Tensor:
    """Pairwise distances ``[N, M]`` between rows of ``x [N, D]`` and ``y [M, D]``.

    ``"euclidean"``: ``||x_i - y_j||_2`` (non-squared, clamped at ``1e-6`` = sqrt(1e-12));
    ``"sqeuclidean"``: ``||x_i - y_j||^2``; ``"cosine"``: ``1 - cos(x_i, y_j)`` in [0, 2].
    """
    x = x.float()  # bf16/fp16 (autocast) distances lose too much to cancellation
    y = x if y is None else y.float()
    if metric == "cosine":
        return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).t()
    d2 = (x * x).sum(1, keepdim=True) + (y * y).sum(1)[None, :] - 2.0 * x @ y.t()
    d2 = d2.clamp_min(0.0)
    if metric == "sqeuclidean":
        return d2
    if metric == "euclidean":
        return d2.clamp_min(1e-12).sqrt()
    raise ConfigError(f"metric={metric!r}: expected 'euclidean', 'sqeuclidean' or 'cosine'")


class CrossEntropyLabelSmooth(nn.Module):
    """Label-smoothing cross-entropy, PFN Eq. (1) (Szegedy et al.; BoT [26]).

    ``loss = mean_b( - sum_i q_i log softmax(z_b)_i )`` with ``q_y = 1 - (N-1)/N * eps`` and
    ``q_i = eps / N`` for ``i != y`` (``N`` = ``num_classes``). ``epsilon = 0`` is the plain
    softmax cross-entropy (LGEU, jlpose's identification loss, PCB). Eq. (1)'s average over
    the ``P`` part features is done by the model's loss-term weights.
    """

    def __init__(self, num_classes: int, epsilon: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ConfigError(f"label smoothing epsilon={epsilon!r}: expected 0 <= epsilon < 1")
        self.num_classes, self.epsilon = int(num_classes), float(epsilon)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if logits.shape[1] != self.num_classes:
            raise ConfigError(f"logits have {logits.shape[1]} classes but the loss was built for "
                              f"num_classes={self.num_classes}")
        logp = F.log_softmax(logits.float(), dim=1)
        q = torch.full_like(logp, self.epsilon / self.num_classes)
        q.scatter_(1, targets.long().view(-1, 1), 1.0 - self.epsilon + self.epsilon / self.num_classes)
        return -(q * logp).sum(1).mean()


def _hardest(dist: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per anchor: hardest positive distance (max over same label, self excluded), hardest
    negative distance (min over other labels) and a mask of anchors having both."""
    same = targets.view(-1, 1) == targets.view(1, -1)
    eye = torch.eye(len(targets), dtype=torch.bool, device=dist.device)
    pos = same & ~eye
    neg = ~same
    big = torch.finfo(dist.dtype).max
    d_ap = torch.where(pos, dist, torch.full_like(dist, -big)).amax(1)
    d_an = torch.where(neg, dist, torch.full_like(dist, big)).amin(1)
    valid = pos.any(1) & neg.any(1)
    return d_ap, d_an, valid


def _zero_like_graph(x: Tensor) -> Tensor:
    return x.sum() * 0.0


class BatchHardTripletLoss(nn.Module):
    """Batch-hard triplet loss (Hermans, Beyer & Leibe, *In Defense of the Triplet Loss*,
    2017; PFN Eq. 2).

    For every anchor ``a`` in the batch: ``d_ap`` = largest distance to an image of the same
    identity (other than itself), ``d_an`` = smallest distance to another identity;
    ``l_a = max(0, margin + d_ap - d_an)``, or ``softplus(d_ap - d_an)`` with
    ``soft_margin=True``. The loss is the mean of ``l_a`` over anchors that have at least one
    positive and one negative (0 if none). ``metric``: see :func:`pairwise_distance`
    (default non-squared euclidean, as Hermans et al.).
    """

    def __init__(self, margin: float = 0.3, soft_margin: bool = False, metric: Metric = "euclidean") -> None:
        super().__init__()
        if metric not in ("euclidean", "sqeuclidean", "cosine"):
            raise ConfigError(f"metric={metric!r}: expected 'euclidean', 'sqeuclidean' or 'cosine'")
        self.margin, self.soft_margin, self.metric = float(margin), bool(soft_margin), metric

    def forward(self, embeddings: Tensor, targets: Tensor) -> Tensor:
        dist = pairwise_distance(embeddings, metric=self.metric)
        return self.from_distances(dist, targets)

    def from_distances(self, dist: Tensor, targets: Tensor) -> Tensor:
        d_ap, d_an, valid = _hardest(dist, targets)
        if not bool(valid.any()):
            return _zero_like_graph(dist)
        diff = (d_ap - d_an)[valid]
        losses = F.softplus(diff) if self.soft_margin else F.relu(self.margin + diff)
        return losses.mean()


class PoseConstrainedTripletLoss(nn.Module):
    """Pose-constrained triplet loss of Liu et al., *Person Re-identification with
    Joint-loss*, Sec. III-C (Eq. 3).

    The paper gives the triplet constraint ``d(f(I_a), f(I_p)) - d(f(I_a), f(I_n)) < alpha``
    with ``d`` the euclidean distance and ``f`` the fused pose-guided feature (global
    + head + trunk + lower-limb, Sec. III-B), but does not write out the "pose constraint".
    Definition taken here:

    * the feature is split into segments ``[global, head, trunk, lower_limb]``
      (``segments``, e.g. 256/64/128/128);
    * a body part takes part in the distance only when it was located from landmarks in
      **both** images (``part_visible [B, 3]`` = 1; a part that fell back to the pre-defined
      region carries no pose evidence): ``d_ij^2 = ||g_i - g_j||^2 +
      sum_k v_ik v_jk ||l_ik - l_jk||^2`` (non-squared ``d_ij`` used);
    * the hinge ``max(0, alpha + d_ap - d_an)`` (``softplus`` with ``soft_margin``) is taken
      with batch-hard mining (``mining="hard"``, default: hardest positive and negative per
      anchor, as the PK batches of the other papers) or averaged over every valid triplet
      (``mining="all"``, anchors x positives x negatives, the paper's plain triplets).

    Without ``segments``/``part_visible`` (all parts visible) it reduces to the triplet loss
    of Eq. 3 on the whole concatenated feature; with a single segment (a global-only
    model, ``part_visible`` ``None`` or ``[B, 0]``) there is no part to constrain and it is
    Eq. 3 on the global feature -- with ``mining="hard"`` exactly
    :class:`BatchHardTripletLoss` (euclidean). (jlpose's global-only presets, Table IV's
    Softmax+Triplet rows, declare that plain ``"triplet"`` term directly.)
    """

    def __init__(self, margin: float = 0.3, mining: Literal["hard", "all"] = "hard",
                 soft_margin: bool = False) -> None:
        super().__init__()
        if mining not in ("hard", "all"):
            raise ConfigError(f"mining={mining!r}: expected 'hard' or 'all'")
        self.margin, self.mining, self.soft_margin = float(margin), mining, bool(soft_margin)

    def distances(self, embeddings: Tensor, segments: Optional[Sequence[int]] = None,
                  part_visible: Optional[Tensor] = None) -> Tensor:
        """Pose-constrained euclidean distances ``[B, B]`` (see the class docstring)."""
        if segments is None or part_visible is None:
            return pairwise_distance(embeddings, metric="euclidean")
        segments = [int(s) for s in segments]
        if sum(segments) != embeddings.shape[1]:
            raise ConfigError(f"pose triplet segments {segments} sum to {sum(segments)} but the "
                              f"embedding has {embeddings.shape[1]} dims")
        chunks = torch.split(embeddings, segments, dim=1)
        if len(chunks) == 1 and part_visible.numel() == 0:
            return pairwise_distance(embeddings, metric="euclidean")
        if part_visible.shape != (embeddings.shape[0], len(chunks) - 1):
            raise ConfigError(f"part_visible has shape {tuple(part_visible.shape)}, expected "
                              f"({embeddings.shape[0]}, {len(chunks) - 1})")
        vis = part_visible.float()
        d2 = pairwise_distance(chunks[0], metric="sqeuclidean")
        for k, chunk in enumerate(chunks[1:]):
            both = vis[:, k:k + 1] * vis[:, k][None, :]
            d2 = d2 + both * pairwise_distance(chunk, metric="sqeuclidean")
        return d2.clamp_min(1e-12).sqrt()

    def forward(self, embeddings: Tensor, targets: Tensor, segments: Optional[Sequence[int]] = None,
                part_visible: Optional[Tensor] = None) -> Tensor:
        dist = self.distances(embeddings, segments, part_visible)
        if self.mining == "hard":
            d_ap, d_an, valid = _hardest(dist, targets)
            if not bool(valid.any()):
                return _zero_like_graph(dist)
            diff = (d_ap - d_an)[valid]
        else:
            same = targets.view(-1, 1) == targets.view(1, -1)
            eye = torch.eye(len(targets), dtype=torch.bool, device=dist.device)
            pos = same & ~eye
            neg = ~same
            mask = pos.unsqueeze(2) & neg.unsqueeze(1)  # [a, p, n]
            if not bool(mask.any()):
                return _zero_like_graph(dist)
            diff = (dist.unsqueeze(2) - dist.unsqueeze(1))[mask]
        losses = F.softplus(diff) if self.soft_margin else F.relu(self.margin + diff)
        return losses.mean()


def accuracy(logits: Tensor, targets: Tensor) -> float:
    """Top-1 accuracy in [0, 1]: fraction of rows whose arg-max equals the target."""
    if len(targets) == 0:
        return float("nan")
    return float((logits.argmax(1) == targets.to(logits.device)).float().mean())


class JointLoss:
    """The weighted sum of a model's declared loss terms.

    ``total = id_weight * sum_{ce terms} w_t * CE_t + metric_weight * sum_{metric terms} w_t * L_t``

    where ``w_t`` is the :class:`~reidlab.models.base.LossTerm` weight (or the override in
    ``term_weights[output]``), CE is :class:`CrossEntropyLabelSmooth` (``label_smoothing``;
    0 = plain softmax), ``"triplet"`` terms use :class:`BatchHardTripletLoss` (``margin``,
    ``soft_margin``, ``metric``) and ``"pose_triplet"`` terms use
    :class:`PoseConstrainedTripletLoss` (``margin``, ``pose_mining``). A group with weight 0
    is not computed (e.g. LGEU's softmax-only recipe). Examples of presets: jlpose
    identification : triplet = 1 : 0.5, 1 : 1, 0.5 : 1 -> ``(id_weight, metric_weight)``.

    ``loss(out, targets, keypoints=None) -> (total, parts)`` where ``parts`` maps
    ``"<kind>/<output>"`` to each unweighted term value, and ``"id"``, ``"metric"``,
    ``"total"`` to the weighted group sums (python floats, for logging).

    Pose triplet inputs come from the model's output: ``out["aux"]["pose_segments"]``
    (segment sizes) and ``out["aux"]["part_visible"] [B, parts]`` (jlpose computes them from
    the landmarks it was given). Without them the term is Eq. 3 on the whole feature.
    ``keypoints`` is accepted for older callers and not used (the loss takes what it needs
    from ``out``).
    """

    def __init__(self, loss_terms: Sequence[LossTerm], num_classes: int, id_weight: float = 1.0,
                 metric_weight: float = 1.0, label_smoothing: float = 0.1, margin: float = 0.3,
                 soft_margin: bool = False, metric: Metric = "euclidean", pose_mining: str = "hard",
                 term_weights: Optional[dict[str, float]] = None) -> None:
        self.loss_terms = list(loss_terms)
        if not self.loss_terms:
            raise ConfigError("JointLoss needs at least one LossTerm (model.loss_terms is empty)")
        for t in self.loss_terms:
            if t.kind not in ("ce", "triplet", "pose_triplet"):
                raise ConfigError(f"loss term kind {t.kind!r}: expected 'ce', 'triplet' or 'pose_triplet'")
        self.group_weights = {"id": float(id_weight), "metric": float(metric_weight)}
        self.term_weights = dict(term_weights or {})
        outputs = {t.output for t in self.loss_terms}
        unknown = sorted(set(self.term_weights) - outputs)
        if unknown:
            raise ConfigError(f"term_weights names unknown output(s) {unknown}: the model's loss terms use "
                              f"{sorted(outputs)}")
        self.ce = CrossEntropyLabelSmooth(num_classes, label_smoothing)
        self.triplet = BatchHardTripletLoss(margin, soft_margin, metric)
        self.pose_triplet = PoseConstrainedTripletLoss(margin, pose_mining, soft_margin)  # type: ignore[arg-type]

    def __call__(self, out: dict, targets: Tensor, keypoints: Optional[Tensor] = None
                 ) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(out, dict) or "logits" not in out:
            raise ConfigError("JointLoss expects the training-mode model output (a dict with 'logits'); "
                              "call model.train() before the forward pass")
        parts: dict[str, float] = {}
        sums: dict[str, Optional[Tensor]] = {"id": None, "metric": None}
        aux = out.get("aux", {}) or {}
        for t in self.loss_terms:
            gw = self.group_weights[t.group]
            w = self.term_weights.get(t.output, t.weight)
            if gw == 0.0 or w == 0.0:
                continue
            if t.kind == "ce":
                src = out["logits"]
                if t.output not in src:
                    raise ConfigError(f"loss term ce on {t.output!r}: model output has logits {sorted(src)}")
                value = self.ce(src[t.output], targets)
            else:
                src = out.get("embeddings", {})
                if t.output not in src:
                    raise ConfigError(f"loss term {t.kind} on {t.output!r}: model output has embeddings "
                                      f"{sorted(src)}")
                if t.kind == "triplet":
                    value = self.triplet(src[t.output], targets)
                else:
                    segments = aux.get("pose_segments")
                    visible = aux.get("part_visible")
                    seg_list = None if segments is None else [int(s) for s in segments]
                    value = self.pose_triplet(src[t.output], targets, seg_list,
                                              visible if seg_list is not None else None)
            parts[f"{t.kind}/{t.output}"] = float(value.detach())
            contrib = w * value
            sums[t.group] = contrib if sums[t.group] is None else sums[t.group] + contrib
        total: Optional[Tensor] = None
        for g, s in sums.items():
            if s is None:
                continue
            weighted = self.group_weights[g] * s
            parts[g] = float(weighted.detach())
            total = weighted if total is None else total + weighted
        if total is None:
            raise ConfigError("JointLoss: every loss term has weight 0 (check id_weight/metric_weight)")
        parts["total"] = float(total.detach())
        return total, parts
