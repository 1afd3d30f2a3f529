"""Grad-CAM for re-ID models, through the ``grad-cam`` package (``pytorch_grad_cam``).

Three questions, three targets (a *target* is a plain callable on one image's model output,
the shape ``pytorch_grad_cam`` expects):

* **identity** (:func:`gradcam_identity`): which pixels raise the logit of identity ``c`` of
  a named classifier head (``out["logits"][head]``).
* **similarity** (:func:`gradcam_similarity`): "why does the model think these two are the
  same person" -- the target is the cosine similarity between this image's test feature
  and the other image's (fixed, detached) test feature, computed in both directions.
* **parts** (:func:`gradcam_parts`): one map per part of a part model (PFN / PCB stripes,
  MGWP parts, jlpose head / trunk / lower-limb branches, LGEU part branches).

How the model is run (and why). ``pytorch_grad_cam`` wants a module that maps images to a
plain tensor ``[B, K]``; a small adapter provides it:

* ``output="feature"``: the model in eval mode, its test feature ``[B, D]``.
* ``output="logits"``: identity logits exist only in the training-mode output dict, but
  training-mode BatchNorm would normalise with the statistics of this one image (and
  update the running statistics) and dropout would make the map random. The adapter
  therefore switches the model to training mode **except** every BatchNorm and dropout
  layer, which stay in eval mode: the logits are those the trained classifier gives at
  inference statistics, and nothing in the model changes.
* ``output="parts"``: ``model.explain(images)["part_features"]`` (or LGEU's
  ``"part_weights"``) flattened to ``[B, P * D]``, in eval mode. reidlab's ``explain()``
  runs without gradients, so its undecorated body is called (:func:`explain_with_grad`);
  failing that, parts are found as slices of the test feature, and jlpose's head / trunk /
  lower-limb parts are the segments of its test feature (``model.segments``).

A target whose gradient does not reach the target layers at all (e.g. PFN's ``global4``
head, computed from layer3, at the default layer4) is an error (:class:`CamError`); a map
that is zero everywhere (the weighted activations are negative: no positive evidence at
that layer) is returned all-zero by the figure functions and labelled in the panel.

Afterwards every module's train/eval flag and every parameter's ``.grad`` are put back
exactly as they were (``pytorch_grad_cam`` switches the model to eval and leaves gradients
on all parameters), and the maps are checked (shape, finite, not constant) because the
package can fail silently.

Methods are chosen by name (:data:`CAM_METHODS`): ``"gradcam"``, ``"gradcam++"``,
``"scorecam"``, ``"eigencam"`` ... ``pytorch_grad_cam`` is imported lazily (it takes
seconds), only when a map is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.viz.cam_core import (
    cam_class,
    CamError,
    _check_head,
    compute_cam,
    _embed,
    _flat_note,
    _frozen_eval_layers,
    _kp_batch,
    LogitTarget,
    OutputKind,
    PartTarget,
    _POSE_COLORS,
    POSE_PART_NAMES,
    preserved_state,
    _run_output,
    SimilarityTarget,
    _target_layers,
    _training_logits,
)
from reidlab.viz.cam_core import (  # noqa: F401 - re-exported: the engine's public names live here too
    CAM_METHODS,
    explain_with_grad,
    is_flat,
)
from reidlab.viz.common import (
    as_batch,
    draw_box,
    draw_stripes,
    model_device,
    new_figure,
    overlay,
    show_image,
    to_display,
)

# --------------------------------------------------------------------------- (a) identity


@dataclass
class IdentityCam:
    """Result of :func:`identity_cam`: map ``[H, W]``, head, class, its logit and softmax prob."""

    cam: np.ndarray
    head: str
    target_class: int
    logit: float
    probability: float
    predicted: int


def _first_reaching_head(model: nn.Module, x: Tensor, kp: Optional[Tensor], layers: list[nn.Module]) -> Optional[str]:
    """The first logits head whose value depends on the target layers (PFN's first head,
    ``global4``, reads layer3 and would give no Grad-CAM at layer4)."""
    acts: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: acts.append(o)) for m in layers]
    try:
        with preserved_state(model), torch.enable_grad():
            _frozen_eval_layers(model)
            out = model(x, keypoints=kp)
            acts = [a for a in acts if isinstance(a, Tensor) and a.requires_grad]
            for name, lg in out.get("logits", {}).items():
                if acts and any(g is not None for g in torch.autograd.grad(
                        lg[0].max(), acts, retain_graph=True, allow_unused=True)):
                    return name
    finally:
        for h in hooks:
            h.remove()
    return None


def identity_cam(model: nn.Module, image: Tensor, target_class: Optional[int] = None,
                 head: Optional[str] = None, method: str = "gradcam", *, keypoints=None,
                 target_layers: Optional[Sequence[nn.Module]] = None, strict: bool = False) -> IdentityCam:
    """Grad-CAM of one identity logit. ``head=None`` takes the first logits head that
    depends on the target layers; ``target_class=None`` the predicted (arg-max) identity.
    A map without positive evidence is all-zero (``strict=True`` raises). See
    :func:`gradcam_identity`."""
    cam_class(method)  # fail fast on a bad name
    x = as_batch(image).to(model_device(model))
    kp = _kp_batch(keypoints, x.device)
    with preserved_state(model), torch.no_grad():
        logits = _training_logits(model, x, kp)
    if head is None:
        head = _first_reaching_head(model, x, kp, _target_layers(model, target_layers)) or next(iter(logits))
    _check_head(model, logits, head)
    row = logits[head][0]
    predicted = int(row.argmax())
    c = predicted if target_class is None else int(target_class)
    if not 0 <= c < row.numel():
        raise ConfigError(f"target_class={target_class}: head {head!r} has {row.numel()} classes (0..{row.numel() - 1})")
    maps = compute_cam(model, x, [LogitTarget(c)], output="logits", head=head, method=method,
                       target_layers=target_layers, keypoints=kp, strict=strict)
    return IdentityCam(maps[0], head, c, float(row[c]), float(row.softmax(-1)[c]), predicted)


def gradcam_identity(model: nn.Module, image: Tensor, target_class: Optional[int] = None,
                     head: Optional[str] = None, method: str = "gradcam", *, keypoints=None,
                     target_layers: Optional[Sequence[nn.Module]] = None, alpha: float = 0.5) -> Figure:
    """Figure: the image and the Grad-CAM of identity ``target_class`` of logits head ``head``.

    Args:
        model: a reidlab model with classifier heads (training-mode ``out["logits"]``).
        image: one normalised image ``[3, H, W]``.
        target_class: identity index of the head (train labels ``0..N-1``); ``None`` = predicted.
        head: name in ``out["logits"]`` (e.g. PFN's ``"global5"``); ``None`` = the first head
            that depends on the target layers.
        method: Grad-CAM method name (:data:`CAM_METHODS`).
        keypoints: ``[18, 3]`` landmarks for jlpose.
        alpha: heat-map opacity of the overlay.

    The logits are computed with BatchNorm and dropout in eval mode (module docstring).
    """
    r = identity_cam(model, image, target_class, head, method, keypoints=keypoints, target_layers=target_layers)
    img = to_display(image)
    fig = new_figure(4.0, 4.0)
    axes = fig.subplots(1, 2)
    show_image(axes[0], img, "image")
    which = "predicted" if r.target_class == r.predicted else f"predicted {r.predicted}"
    show_image(axes[1], overlay(img, r.cam, alpha), f"{method}: id {r.target_class}\n({which})" + _flat_note(r.cam))
    fig.suptitle(f"head '{r.head}': logit {r.logit:.2f}, p={r.probability:.2f}", fontsize=9)
    return fig


# --------------------------------------------------------------------------- (b) similarity


@dataclass
class SimilarityCam:
    """Result of :func:`similarity_cams`: both maps ``[H, W]`` and the cosine similarity."""

    query_cam: np.ndarray
    gallery_cam: np.ndarray
    similarity: float


def similarity_cams(model: nn.Module, query_image: Tensor, gallery_image: Tensor, method: str = "gradcam", *,
                    query_keypoints=None, gallery_keypoints=None,
                    target_layers: Optional[Sequence[nn.Module]] = None, strict: bool = False) -> SimilarityCam:
    """Grad-CAM of the cosine similarity of two test features, in both directions.

    The query map explains ``cos(f(query), f(gallery))`` with ``f(gallery)`` held fixed, the
    gallery map the same with the roles swapped. ``f`` is the eval-mode test feature (no
    flip augmentation). A map without positive evidence is all-zero (``strict=True`` raises).
    """
    cam_class(method)
    device = model_device(model)
    q = as_batch(query_image, "query_image").to(device)
    g = as_batch(gallery_image, "gallery_image").to(device)
    qk, gk = _kp_batch(query_keypoints, device), _kp_batch(gallery_keypoints, device)
    fq, fg = _embed(model, q, qk)[0], _embed(model, g, gk)[0]
    sim = float(F.cosine_similarity(fq, fg, dim=-1))
    common = dict(output="feature", method=method, target_layers=target_layers, strict=strict)
    cq = compute_cam(model, q, [SimilarityTarget(fg)], keypoints=qk, **common)[0]
    cg = compute_cam(model, g, [SimilarityTarget(fq)], keypoints=gk, **common)[0]
    return SimilarityCam(cq, cg, sim)


def gradcam_similarity(model: nn.Module, query_image: Tensor, gallery_image: Tensor, method: str = "gradcam", *,
                       query_keypoints=None, gallery_keypoints=None,
                       target_layers: Optional[Sequence[nn.Module]] = None, alpha: float = 0.5,
                       labels: tuple[str, str] = ("query", "gallery")) -> Figure:
    """Figure "why are these two the same person": query, match, and both Grad-CAM overlays.

    Target = cosine similarity of the two eval-mode test features, one side fixed
    (:func:`similarity_cams`); the title gives the similarity. Four panels in one row:
    query, gallery, query map, gallery map.
    """
    r = similarity_cams(model, query_image, gallery_image, method, query_keypoints=query_keypoints,
                        gallery_keypoints=gallery_keypoints, target_layers=target_layers)
    qi, gi = to_display(query_image), to_display(gallery_image)
    fig = new_figure(6.4, 3.6)
    axes = fig.subplots(1, 4)
    show_image(axes[0], qi, labels[0])
    show_image(axes[1], gi, labels[1])
    show_image(axes[2], overlay(qi, r.query_cam, alpha), f"{labels[0]} map" + _flat_note(r.query_cam))
    show_image(axes[3], overlay(gi, r.gallery_cam, alpha), f"{labels[1]} map" + _flat_note(r.gallery_cam))
    fig.suptitle(f"{method} of the cosine similarity = {r.similarity:.3f}", fontsize=10)
    return fig


# --------------------------------------------------------------------------- (c) parts


@dataclass
class PartCams:
    """Result of :func:`part_cams`: maps ``[P, H, W]``, per-part target values, labels,
    where the parts came from, and jlpose's boxes ``[3, 4]`` (or None)."""

    cams: np.ndarray
    scores: np.ndarray
    labels: list[str]
    source: str
    boxes: Optional[np.ndarray] = None


@dataclass
class _PartSpec:
    output: OutputKind
    index: list[Union[slice, Tensor]]
    labels: list[str]
    source: str
    reduce: str
    layers: Optional[list[nn.Module]]
    boxes: Optional[np.ndarray]


def _part_spec(model: nn.Module, x: Tensor, kp: Optional[Tensor]) -> _PartSpec:
    """Where the parts of ``model`` are and how to differentiate them (see :func:`part_cams`)."""
    name = type(model).__name__
    with preserved_state(model), torch.no_grad():
        model.eval()
        ex = model.explain(x, keypoints=kp)
    boxes = ex.get("part_boxes")
    boxes = None if boxes is None else boxes[0].detach().cpu().numpy()
    source = "part_features" if "part_features" in ex else (
        "part_weights" if "part_weights" in ex and ex["part_weights"].shape[-1] > 2 else None)
    if source is not None:
        parts = ex[source][0]
        n, d = parts.shape
        index: list[Union[slice, Tensor]] = [slice(p * d, (p + 1) * d) for p in range(n)]
        names = list(getattr(model, "names", None) or [])
        if source == "part_features" and len(names) == n and all(isinstance(v, str) for v in names):
            labels = names  # e.g. PFN: global4, global5, part1..part6
        else:
            labels = [f"part {p + 1}" for p in range(n)]
        reduce = "mean" if source == "part_weights" else "norm"
        with preserved_state(model):
            probe = _run_output(model, x.detach().clone().requires_grad_(True), kp, "parts", None)
        if probe.requires_grad:
            return _PartSpec("parts", index, labels, source, reduce, None, boxes)
        if source == "part_features":  # explain() without gradients: parts as slices of the test feature
            found = _locate_slices(_embed(model, x, kp)[0], parts)
            if found is not None:
                return _PartSpec("feature", found, labels, source, reduce, None, boxes)
        raise CamError(f"{name}: explain()['{source}'] carries no gradient and the parts are not slices of the "
                       "test feature; per-part Grad-CAM needs one of the two")
    segments = getattr(model, "segments", None)
    if boxes is not None and segments is not None and len(segments) == 1 + len(POSE_PART_NAMES):
        # jlpose: test feature = [global | head | trunk | lower limb] (model.segments); the local
        # branches start from conv4_x, so hook it (the default target layer is the global branch's).
        edges = np.cumsum([0, *segments]).tolist()
        index = [slice(edges[k], edges[k + 1]) for k in range(1, len(edges) - 1)]
        lower = getattr(getattr(model, "backbone", None), "lower", None)
        return _PartSpec("feature", index, list(POSE_PART_NAMES), "segments", "norm",
                         [lower] if isinstance(lower, nn.Module) else None, boxes)
    raise ConfigError(f"{name}: no parts to explain (explain() gives no 'part_features'/'part_weights' and the "
                      "model has no pose segments); per-part Grad-CAM needs pfn, pcb, mgwp, lgeu or jlpose")


def _locate_slices(feature: Tensor, parts: Tensor) -> Optional[list[slice]]:
    """Slices of ``feature [F]`` equal to each row of ``parts [P, D]``, or None if one is missing."""
    p, d = parts.shape
    if feature.numel() < d:
        return None
    windows = feature.unfold(0, d, 1)  # [F - D + 1, D]
    out = []
    for i in range(p):
        close = torch.isclose(windows, parts[i].to(windows)[None], rtol=1e-4, atol=1e-5).all(dim=1)
        hits = torch.nonzero(close).flatten()
        if hits.numel() == 0:
            return None
        out.append(slice(int(hits[0]), int(hits[0]) + d))
    return out


def part_cams(model: nn.Module, image: Tensor, other_image: Optional[Tensor] = None, method: str = "hirescam", *,
              keypoints=None, other_keypoints=None,
              target_layers: Optional[Sequence[nn.Module]] = None, strict: bool = False) -> PartCams:
    """One Grad-CAM map per part of a part model.

    Parts: ``explain()["part_features"]`` ``[1, P, D]`` (PFN's 2 global features and 6
    stripes, PCB's stripes, MGWP's fused parts); LGEU's ``"part_weights"`` ``[1, K, C]``
    when a model has no part features; jlpose's head / trunk / lower-limb segments of the
    test feature (``model.segments``, hooked at conv4_x where the local branches start).
    They are differentiated through :func:`explain_with_grad`, or, if that carries no
    gradient, as the slices of the test feature they are equal to.

    Target of part ``p`` (:class:`PartTarget`): with ``other_image``, the cosine similarity of
    this image's part ``p`` with the other image's part ``p`` (fixed) -- which pixels make
    this part match; without, the part's L2 norm (how strongly it responds), or for LGEU's
    sigmoid weights their mean (how much branch ``p`` boosts its channels). ``scores`` holds
    these target values. A part without positive evidence at the target layer (e.g. PFN's
    ``global4``, read from layer3, at the default layer4) gets an all-zero map
    (``strict=True`` raises instead).

    The default method is ``"hirescam"`` (gradient x activation, element-wise): plain
    Grad-CAM averages the gradient over the whole map before weighting the channels, so a
    part's spatial support is lost and every stripe's map looks alike; HiResCAM (or
    ``"layercam"``) keeps it.
    """
    cam_class(method)
    device = model_device(model)
    x = as_batch(image).to(device)
    kp = _kp_batch(keypoints, device)
    spec = _part_spec(model, x, kp)

    def values(img: Tensor, k: Optional[Tensor]) -> Tensor:
        with preserved_state(model), torch.no_grad():
            return _run_output(model, img, k, spec.output, None)[0].detach()

    mine = values(x, kp)
    other = None
    if other_image is not None:
        other = values(as_batch(other_image, "other_image").to(device), _kp_batch(other_keypoints, device))
    targets = [PartTarget(ix, None if other is None else other[ix], spec.reduce) for ix in spec.index]
    scores = np.array([float(t(mine)) for t in targets])
    n = len(targets)
    layers = target_layers if target_layers is not None else spec.layers
    maps = compute_cam(model, x.expand(n, -1, -1, -1), targets, output=spec.output, method=method,
                       target_layers=layers, keypoints=kp, strict=strict)
    return PartCams(maps, scores, spec.labels, spec.source, spec.boxes)


def gradcam_parts(model: nn.Module, image: Tensor, other_image: Optional[Tensor] = None, method: str = "hirescam", *,
                  keypoints=None, other_keypoints=None, target_layers: Optional[Sequence[nn.Module]] = None,
                  alpha: float = 0.5) -> Figure:
    """Figure: the image (with its stripes, or jlpose's boxes) and one Grad-CAM overlay per part.

    Targets as in :func:`part_cams`; each panel's title gives the part's score (cosine to the
    other image's part, or the part's norm / mean weight). ``1 + P`` panels in one row.
    """
    r = part_cams(model, image, other_image, method, keypoints=keypoints, other_keypoints=other_keypoints,
                  target_layers=target_layers)
    img = to_display(image)
    h, w = img.shape[:2]
    n = len(r.labels)
    fig = new_figure(1.3 * (n + 1) + 0.4, 3.6)
    axes = fig.subplots(1, n + 1)
    show_image(axes[0], img, "image")
    if r.boxes is not None:
        for b, name, c in zip(r.boxes, POSE_PART_NAMES, _POSE_COLORS):
            draw_box(axes[0], b, c, name)
    else:  # stripes / parts / LGEU parts are equal horizontal bands, top to bottom
        stripes = sum(1 for v in r.labels if v.startswith("part"))
        if stripes > 1:
            draw_stripes(axes[0], h, w, stripes)
    what = "cos" if other_image is not None else ("mean w" if r.source == "part_weights" else "|f|")
    for p in range(n):
        show_image(axes[p + 1], overlay(img, r.cams[p], alpha),
                   f"{r.labels[p]}\n{what}={r.scores[p]:.2f}" + _flat_note(r.cams[p]), fontsize=7)
        if r.boxes is not None and r.source == "segments":
            draw_box(axes[p + 1], r.boxes[p], _POSE_COLORS[p % 3])
    target = "similarity to the other image's part" if other_image is not None else "part response"
    fig.suptitle(f"{method} per part ({target})", fontsize=9)
    return fig
