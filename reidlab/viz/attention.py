"""The models' own attention, which the papers are about, drawn from ``model.explain()``.

* :func:`plot_tsa_maps` -- MGWP's tiny spatial attention maps (one per multi-scale branch).
* :func:`plot_nonlocal_affinity` -- where a non-local block looks from one position.
* :func:`plot_lgeu_weights` -- LGEU's part x channel excitation weights.
* :func:`plot_stripe_contribution` -- PFN's / PCB's per-stripe share of a match.
* :func:`plot_pose_boxes` -- jlpose's landmarks and head / trunk / lower-limb boxes.

All take one normalised image tensor ``[3, H, W]`` (ImageNet mean/std) unless noted, run
the model in eval mode without gradients (``explain()``), and return a Figure.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Sequence

import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.viz.common import (
    ImageLike, as_batch, draw_box, draw_stripes, model_device, new_figure, overlay, resize_map, show_image,
    to_display, to_numpy,
)

#: OpenPose / COCO-18 limbs (pairs of landmark indices, :data:`reidlab.data.records.KEYPOINT_NAMES`).
COCO18_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
POSE_BOX_NAMES: tuple[str, str, str] = ("head", "trunk", "lower limb")
POSE_BOX_COLORS: tuple[str, str, str] = ("#e41a1c", "#377eb8", "#4daf4a")


def _explain(model: nn.Module, image: Tensor, keypoints: Any, needed: str, who: str) -> dict[str, Tensor]:
    device = model_device(model)
    x = as_batch(image).to(device)
    kp = None
    if keypoints is not None:
        kp = torch.as_tensor(to_numpy(keypoints), dtype=torch.float32, device=device)
        kp = kp.unsqueeze(0) if kp.dim() == 2 else kp
    was = [(m, m.training) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()
            out = model.explain(x, keypoints=kp)
    except NotImplementedError as exc:
        raise ConfigError(f"{who}: {type(model).__name__} has no explain() outputs ({exc})") from None
    finally:
        for m, mode in was:
            m.training = mode
    if needed not in out:
        raise ConfigError(f"{who}: {type(model).__name__}.explain() gives no {needed!r} "
                          f"(it gives {sorted(out)}); use a model that has it")
    return out


def plot_tsa_maps(model: nn.Module, image: Tensor, *, keypoints: Any = None, alpha: float = 0.55) -> Figure:
    """Figure: MGWP's tiny-spatial-attention maps over the image.

    ``explain()["tsa_maps"]`` ``[1, n, h, w]`` (one map per multi-scale branch, values in
    (0, 1): the factor each position of the branch's feature map is multiplied by) is
    upsampled bilinearly to the image. Colours use the absolute scale 0..1 (not min-max),
    so a uniform map near 0.5 means the attention barely discriminates. Panels: image,
    ``n`` maps and a colour bar (``n + 2`` axes). Each map is labelled with the paper's
    number of its branch (``model.multi_scale.branch_ids``: a model built with
    ``ms_branches=[2, 3, 4]`` shows branches 2, 3 and 4, not 1, 2 and 3).
    """
    maps = _explain(model, image, keypoints, "tsa_maps", "plot_tsa_maps")["tsa_maps"][0].float().cpu().numpy()
    img = to_display(image)
    n = maps.shape[0]
    ids = tuple(getattr(getattr(model, "multi_scale", None), "branch_ids", None) or range(1, n + 1))
    if len(ids) != n:
        ids = tuple(range(1, n + 1))
    fig = new_figure(1.25 * (n + 1) + 0.8, 3.4)
    axes = fig.subplots(1, n + 1)
    show_image(axes[0], img, "image")
    for i in range(n):
        m = maps[i]
        show_image(axes[i + 1], overlay(img, resize_map(m, img.shape[:2]), alpha),
                   f"branch {ids[i]}\n{m.min():.2f}..{m.max():.2f}", fontsize=7)
    fig.colorbar(ScalarMappable(Normalize(0, 1), "jet"), ax=list(axes[1:]), shrink=0.8, label="attention")
    fig.suptitle("MGWP tiny spatial attention per branch", fontsize=9)
    return fig


def _grid_shape(hw: int, height: int, width: int) -> tuple[int, int]:
    """(h, w) with ``h * w = hw`` and ``h / w`` closest to the image's aspect ratio."""
    best = None
    for h in range(1, hw + 1):
        if hw % h:
            continue
        w = hw // h
        err = abs(np.log((h / w) / (height / width)))
        if best is None or err < best[0]:
            best = (err, h, w)
    return best[1], best[2]


def plot_nonlocal_affinity(model: nn.Module, image: Tensor, position: tuple[float, float] = (0.3, 0.5), *,
                           keypoints: Any = None, alpha: float = 0.55) -> Figure:
    """Figure: the non-local block's affinity from one position to every other position.

    Args:
        position: ``(y, x)`` of the query position; floats in [0, 1] are fractions of the
            image height / width, larger values are input pixels. Default: upper body centre.

    ``explain()["nonlocal_affinity"]`` ``[1, hw, hw]`` (row ``i`` = softmax weights with which
    position ``i`` gathers all positions; rows sum to 1) of the last non-local block. The
    block's grid ``h x w`` is the factorisation of ``hw`` with the image's aspect ratio.
    Panels: image with the position marked, the affinity row over the image, colour bar
    (raw affinity; uniform attention would be ``1 / hw``).
    """
    aff = _explain(model, image, keypoints, "nonlocal_affinity", "plot_nonlocal_affinity")["nonlocal_affinity"][0]
    aff = aff.float().cpu().numpy()
    img = to_display(image)
    H, W = img.shape[:2]
    h, w = _grid_shape(aff.shape[0], H, W)
    y, x = (float(v) for v in position)
    if 0.0 <= y <= 1.0 and 0.0 <= x <= 1.0:
        y, x = y * (H - 1), x * (W - 1)
    if not (0 <= y < H and 0 <= x < W):
        raise ConfigError(f"position={position}: outside the {H}x{W} image; give (y, x) pixels or fractions in [0, 1]")
    i, j = min(int(y * h / H), h - 1), min(int(x * w / W), w - 1)
    row = aff[i * w + j].reshape(h, w)
    fig = new_figure(4.2, 3.8)
    axes = fig.subplots(1, 2)
    show_image(axes[0], img, f"position (y={y:.0f}, x={x:.0f})")
    axes[1].imshow(img)
    im = axes[1].imshow(row, cmap="jet", alpha=alpha, extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                        interpolation="bilinear", vmin=0.0, vmax=float(row.max()))
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title(f"affinity (cell {i},{j} of {h}x{w})", fontsize=8)
    for ax in axes:
        ax.plot([x], [y], marker="x", color="white", markersize=10, mew=3)
        ax.plot([x], [y], marker="x", color="black", markersize=8, mew=1.5)
    fig.colorbar(im, ax=axes[1], shrink=0.8, label=f"weight (uniform = {1 / (h * w):.1e})")
    fig.suptitle("non-local block: where this position looks", fontsize=9)
    return fig


def plot_lgeu_weights(model: nn.Module, image: Tensor, *, keypoints: Any = None, top_channels: int = 3) -> Figure:
    """Figure: LGEU's excitation weights -- which body part and which channels it boosts.

    ``explain()["part_weights"]`` ``[1, K, C]`` (sigmoid weights of part ``k``'s branch; row
    ``k`` re-scales the feature-map rows of horizontal part ``k``, top to bottom). Panels:
    the image with the ``K`` parts; the ``K x C`` weight matrix (channels sorted by their
    mean weight over parts) with a colour bar; per part the mean weight as a bar, annotated
    with the ``top_channels`` channels this part boosts most relative to the other parts
    (weight minus the channel's mean over parts). 4 axes.
    """
    v = _explain(model, image, keypoints, "part_weights", "plot_lgeu_weights")["part_weights"][0]
    v = v.float().cpu().numpy()
    if v.ndim != 2 or v.shape[1] < 3:
        raise ConfigError(f"plot_lgeu_weights: part_weights of shape {list(v.shape)} is not LGEU's [K, C] "
                          "(MGWP's fusion weights are [P, 2]); use an lgeu model")
    k, c = v.shape
    img = to_display(image)
    fig = new_figure(8.0, 3.6)
    axes = fig.subplots(1, 3, width_ratios=[1.0, 2.6, 1.8])
    show_image(axes[0], img, "image: parts")
    draw_stripes(axes[0], img.shape[0], img.shape[1], k)
    for p in range(k):
        axes[0].text(2, (p + 0.5) * img.shape[0] / k, f"{p + 1}", color="white", fontsize=9, va="center",
                     bbox=dict(facecolor="black", alpha=0.5, pad=1, edgecolor="none"))
    order = np.argsort(-v.mean(axis=0), kind="stable")
    im = axes[1].imshow(v[:, order], aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes[1].set_yticks(range(k), [f"part {p + 1}" for p in range(k)], fontsize=7)
    axes[1].set_xlabel("channel (sorted by mean weight)", fontsize=8)
    axes[1].set_title(f"excitation weights ({k} x {c})", fontsize=8)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    means = v.mean(axis=1)
    distinct = v - v.mean(axis=0, keepdims=True)
    axes[2].barh(range(k), means, color="#5e3c99")
    axes[2].set_ylim(k - 0.5, -0.5)
    axes[2].set_xlim(0, 1.25)
    axes[2].set_yticks(range(k), [f"part {p + 1}" for p in range(k)], fontsize=7)
    axes[2].set_xlabel("mean weight", fontsize=8)
    for p in range(k):
        top = np.argsort(-distinct[p], kind="stable")[: int(top_channels)]
        axes[2].text(means[p] + 0.02, p, "ch " + ",".join(str(int(t)) for t in top), va="center", fontsize=6)
    axes[2].set_title("boost per part", fontsize=8)
    fig.suptitle("LGEU: which part and channels are boosted", fontsize=9)
    return fig


def stripe_contributions(query_parts: np.ndarray, gallery_parts: np.ndarray,
                         measure: Literal["cosine", "sqeuclidean"] = "cosine") -> np.ndarray:
    """Each part's additive share of a match between two concatenated part features ``[P, D]``.

    ``"cosine"``: ``q_p . g_p / (|q| |g|)`` with ``q, g`` the full concatenations -- the
    shares sum to the cosine similarity of the concatenated features. ``"sqeuclidean"``:
    ``|q_p - g_p|^2`` -- sums to their squared euclidean distance (raw features).
    """
    q = np.asarray(query_parts, dtype=np.float64)
    g = np.asarray(gallery_parts, dtype=np.float64)
    if q.shape != g.shape or q.ndim != 2:
        raise ConfigError(f"stripe_contributions: part features must both be [P, D], got {q.shape} and {g.shape}")
    if measure == "cosine":
        denom = np.linalg.norm(q) * np.linalg.norm(g)
        return (q * g).sum(axis=1) / max(denom, 1e-12)
    if measure == "sqeuclidean":
        return ((q - g) ** 2).sum(axis=1)
    raise ConfigError(f"measure={measure!r}: expected 'cosine' or 'sqeuclidean'")


def plot_stripe_contribution(model: nn.Module, query_image: Tensor, gallery_image: Tensor, *,
                             measure: Literal["cosine", "sqeuclidean"] = "cosine",
                             query_keypoints: Any = None, gallery_keypoints: Any = None,
                             labels: Optional[Sequence[str]] = None) -> Figure:
    """Figure: each stripe's (and global feature's) contribution to a match (PFN, PCB).

    Part features are ``explain()["part_features"]`` ``[1, P, D]`` in concatenation order
    (PFN: global4, global5, part1..part6; PCB: the stripes top to bottom); their names come
    from ``labels``, else the model's ``names`` attribute, else ``part 1..P``. Bars: the
    additive shares of :func:`stripe_contributions` (they sum to the match's cosine
    similarity / squared distance of the concatenated features, in the title); each bar is
    annotated with that feature's own cosine. The images show the stripe boundaries.
    3 axes: query, gallery, bars.
    """
    qp = _explain(model, query_image, query_keypoints, "part_features", "plot_stripe_contribution")["part_features"][0]
    gp = _explain(model, gallery_image, gallery_keypoints, "part_features", "plot_stripe_contribution")["part_features"][0]
    qp, gp = qp.float().cpu().numpy(), gp.float().cpu().numpy()
    p = qp.shape[0]
    names = list(labels) if labels is not None else list(getattr(model, "names", []) or [])
    if len(names) != p:
        names = [f"part {i + 1}" for i in range(p)]
    n_stripes = sum(1 for s in names if s.startswith("part"))
    shares = stripe_contributions(qp, gp, measure)
    own = (qp * gp).sum(1) / np.maximum(np.linalg.norm(qp, axis=1) * np.linalg.norm(gp, axis=1), 1e-12)
    qi, gi = to_display(query_image), to_display(gallery_image)
    fig = new_figure(6.4, 3.8)
    axes = fig.subplots(1, 3, width_ratios=[1.0, 1.0, 2.2])
    for ax, img, t in ((axes[0], qi, "query"), (axes[1], gi, "gallery")):
        show_image(ax, img, t)
        if n_stripes > 1:
            draw_stripes(ax, img.shape[0], img.shape[1], n_stripes)
    colours = ["#4575b4" if s.startswith("part") else "#fdae61" for s in names]
    axes[2].barh(range(p), shares, color=colours)
    axes[2].set_yticks(range(p), names, fontsize=7)
    axes[2].set_ylim(p - 0.5, -0.5)
    axes[2].axvline(0, color="black", linewidth=0.8)
    lo, hi = min(0.0, shares.min()), max(0.0, shares.max())
    axes[2].set_xlim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.35 * (hi - lo + 1e-9))
    for i in range(p):
        axes[2].text(max(shares[i], 0) + 0.02 * (hi - lo + 1e-9), i, f"cos {own[i]:.2f}", va="center", fontsize=6)
    what = "share of cosine similarity" if measure == "cosine" else "share of squared distance"
    axes[2].set_xlabel(what, fontsize=8)
    total = "cosine" if measure == "cosine" else "squared distance"
    fig.suptitle(f"per-stripe contribution: {total} = sum of bars = {shares.sum():.3f}", fontsize=9)
    return fig


def plot_pose_boxes(image: ImageLike, keypoints: Any, boxes: Any = None, *,
                    names: Sequence[str] = POSE_BOX_NAMES, title: Optional[str] = None) -> Figure:
    """Figure: body landmarks (COCO-18 skeleton) and jlpose's region boxes on the image.

    Args:
        image: normalised tensor ``[3, H, W]``, ``[H, W, 3]`` array or an image path.
        keypoints: ``[18, 3]`` ``(x, y, visibility)`` in pixels of ``image``; only visible
            landmarks (visibility > 0) and limbs with both ends visible are drawn.
        boxes: ``[3, 4]`` ``(x1, y1, x2, y2)`` pixels (head, trunk, lower limb), e.g.
            ``model.explain(x, keypoints)["part_boxes"][0]``, or ``None``.

    One panel.
    """
    img = to_display(image)
    kp = np.asarray(to_numpy(keypoints), dtype=np.float64)
    if kp.ndim == 3 and kp.shape[0] == 1:
        kp = kp[0]
    if kp.shape != (18, 3):
        raise ConfigError(f"keypoints: expected [18, 3] (x, y, visibility) in COCO-18 order, got {list(kp.shape)}")
    fig = new_figure(2.4, 4.0)
    ax = fig.subplots()
    show_image(ax, img, title or "landmarks and part boxes")
    vis = kp[:, 2] > 0
    for a, b in COCO18_LIMBS:
        if vis[a] and vis[b]:
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="#ffff33", linewidth=1.5)
    ax.scatter(kp[vis, 0], kp[vis, 1], s=14, c="#ff7f00", edgecolors="black", linewidths=0.5, zorder=3)
    if boxes is not None:
        bx = np.asarray(to_numpy(boxes), dtype=np.float64).reshape(-1, 4)
        for i, b in enumerate(bx):
            draw_box(ax, b, POSE_BOX_COLORS[i % 3], names[i] if i < len(names) else None)
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)
    return fig
