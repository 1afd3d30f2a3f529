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
  ``"part_weights"``) flattened to ``[B, P * D]``, in eval mode.

Afterwards every module's train/eval flag and every parameter's ``.grad`` are put back
exactly as they were (``pytorch_grad_cam`` switches the model to eval and leaves gradients
on all parameters), and the maps are checked (shape, finite, not constant) because the
package can fail silently.

Methods are chosen by name (:data:`CAM_METHODS`): ``"gradcam"``, ``"gradcam++"``,
``"scorecam"``, ``"eigencam"`` ... ``pytorch_grad_cam`` is imported lazily (it takes
seconds), only when a map is computed.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.common import (
    as_batch, draw_box, draw_stripes, model_device, new_figure, overlay, show_image, to_display,
)

#: Method name -> class name in ``pytorch_grad_cam`` (names are case-insensitive).
CAM_METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "gradcam-elementwise": "GradCAMElementWise",
    "eigencam": "EigenCAM",
    "eigengradcam": "EigenGradCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
    "kpca-cam": "KPCA_CAM",
    "fem": "FEM",
    "shapleycam": "ShapleyCAM",
}

#: Labels of jlpose's three local branches (the order of its ``part_boxes``).
POSE_PART_NAMES: tuple[str, str, str] = ("head", "trunk", "lower limb")
_POSE_COLORS = ("#e41a1c", "#377eb8", "#4daf4a")

OutputKind = Union[Literal["feature", "logits", "parts"], Callable[[nn.Module, Tensor, Optional[Tensor]], Tensor]]


class CamError(ReIDLabError, RuntimeError):
    """Grad-CAM produced no usable map (wrong layer, no gradient reaching it, ...)."""


# --------------------------------------------------------------------------- targets


class LogitTarget:
    """Target: the logit of one class. Called with one image's logits ``[num_classes]``."""

    def __init__(self, class_index: int) -> None:
        self.class_index = int(class_index)

    def __call__(self, output: Tensor) -> Tensor:
        return output[..., self.class_index]


class SimilarityTarget:
    """Target: cosine similarity between one image's embedding ``[D]`` and a fixed reference
    embedding ``[D]`` (detached, so only this image's side is explained)."""

    def __init__(self, reference: Tensor) -> None:
        self.reference = reference.detach().flatten()

    def __call__(self, output: Tensor) -> Tensor:
        return F.cosine_similarity(output.flatten(), self.reference.to(output), dim=-1)


class PartTarget:
    """Target on part ``part`` of a flattened ``[P * D]`` part output: the cosine similarity
    of that part's ``[D]`` slice with the same part of a reference image (``reference``
    ``[P, D]``), or -- without a reference -- the slice's mean (for LGEU's sigmoid part
    weights: how strongly the branch boosts its channels) or L2 norm (``reduce="norm"``:
    how strongly the part responds)."""

    def __init__(self, part: int, n_parts: int, reference: Optional[Tensor] = None,
                 reduce: Literal["norm", "mean"] = "norm") -> None:
        self.part, self.n_parts, self.reduce = int(part), int(n_parts), reduce
        self.reference = None if reference is None else reference.detach().reshape(n_parts, -1)

    def __call__(self, output: Tensor) -> Tensor:
        piece = output.reshape(self.n_parts, -1)[self.part]
        if self.reference is not None:
            return F.cosine_similarity(piece, self.reference[self.part].to(piece), dim=-1)
        return piece.mean() if self.reduce == "mean" else piece.norm()


# --------------------------------------------------------------------------- model plumbing


def _frozen_eval_layers(model: nn.Module) -> None:
    """Training mode for the model, eval mode for every BatchNorm and dropout layer."""
    model.train()
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            m.eval()


def _expand_keypoints(keypoints: Optional[Tensor], batch: int) -> Optional[Tensor]:
    if keypoints is None:
        return None
    if keypoints.shape[0] == batch:
        return keypoints
    if keypoints.shape[0] == 1:
        return keypoints.expand(batch, *keypoints.shape[1:])
    raise ConfigError(f"keypoints: batch {keypoints.shape[0]} does not match {batch} images")


def _run_output(model: nn.Module, images: Tensor, keypoints: Optional[Tensor], output: OutputKind,
                head: Optional[str]) -> Tensor:
    """The model output Grad-CAM explains, as a ``[B, K]`` tensor (see module docstring)."""
    kp = _expand_keypoints(keypoints, images.shape[0])
    if callable(output):
        return output(model, images, kp)
    if output == "feature":
        model.eval()
        out = model(images, keypoints=kp) if kp is not None else model(images)
        if isinstance(out, dict):
            raise ConfigError(f"{type(model).__name__}: eval-mode forward returned a dict; "
                              "expected the test feature tensor [B, D] (see reidlab.models.base)")
        return out.flatten(1)
    if output == "logits":
        _frozen_eval_layers(model)
        out = model(images, keypoints=kp) if kp is not None else model(images)
        logits = out.get("logits", {}) if isinstance(out, dict) else {}
        if not logits:
            raise ConfigError(f"{type(model).__name__}: training-mode output has no 'logits' dict; "
                              "identity Grad-CAM needs a model with classifier heads")
        if head not in logits:
            raise ConfigError(f"head={head!r}: not a logits head of {type(model).__name__}; "
                              f"choose one of {sorted(logits)}")
        return logits[head]
    if output == "parts":
        model.eval()
        ex = model.explain(images, keypoints=kp)
        key = "part_features" if "part_features" in ex else "part_weights"
        if key not in ex:
            raise ConfigError(f"{type(model).__name__}.explain() gives neither 'part_features' nor "
                              "'part_weights'; per-part Grad-CAM needs a part model (pfn, pcb, mgwp, lgeu, jlpose)")
        return ex[key].flatten(1)
    raise ConfigError(f"output={output!r}: expected 'feature', 'logits', 'parts' or a callable")


class _Adapter(nn.Module):
    """Makes a re-ID model look like a classifier to ``pytorch_grad_cam``: images -> ``[B, K]``."""

    def __init__(self, model: nn.Module, output: OutputKind, head: Optional[str],
                 keypoints: Optional[Tensor]) -> None:
        super().__init__()
        self.model = model
        self.output = output
        self.head = head
        self.keypoints = keypoints

    def forward(self, images: Tensor) -> Tensor:
        return _run_output(self.model, images, self.keypoints, self.output, self.head)


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore every module's train/eval flag and every parameter's ``.grad`` on exit."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, g in grads:
            p.grad = g


def cam_class(method: str):
    """The ``pytorch_grad_cam`` class for a method name (see :data:`CAM_METHODS`)."""
    key = str(method).strip().lower()
    if key not in CAM_METHODS:
        raise ConfigError(f"method={method!r}: unknown Grad-CAM method; choose one of {', '.join(CAM_METHODS)}")
    import pytorch_grad_cam  # lazy: importing the package takes seconds

    return getattr(pytorch_grad_cam, CAM_METHODS[key])


def _target_layers(model: nn.Module, target_layers: Optional[Sequence[nn.Module]]) -> list[nn.Module]:
    if target_layers is not None:
        layers = list(target_layers)
    elif hasattr(model, "cam_target_layers"):
        layers = list(model.cam_target_layers())
    else:
        raise ConfigError(f"{type(model).__name__} has no cam_target_layers(); pass target_layers=[...]")
    if not layers:
        raise ConfigError(f"{type(model).__name__}: no Grad-CAM target layers; pass target_layers=[...]")
    return layers


def compute_cam(model: nn.Module, images: Tensor, targets: Sequence[Callable[[Tensor], Tensor]], *,
                output: OutputKind = "feature", head: Optional[str] = None, method: str = "gradcam",
                target_layers: Optional[Sequence[nn.Module]] = None, keypoints: Optional[Tensor] = None,
                eigen_smooth: bool = False) -> np.ndarray:
    """Class-activation maps of ``images`` for the given targets, via ``pytorch_grad_cam``.

    Args:
        model: a reidlab model (or any module with ``cam_target_layers()``).
        images: normalised images ``[B, 3, H, W]`` (``[3, H, W]`` is taken as ``B = 1``).
        targets: one callable per image, called with that image's 1-D output row
            (see :class:`LogitTarget`, :class:`SimilarityTarget`, :class:`PartTarget`).
        output: which model output the targets see (module docstring): ``"feature"`` (eval
            test feature), ``"logits"`` (head ``head``, BN/dropout in eval), ``"parts"``, or
            a callable ``f(model, images, keypoints) -> [B, K]``.
        method: a name of :data:`CAM_METHODS`.
        target_layers: layers to hook; default ``model.cam_target_layers()``.
        keypoints: ``[B, 18, 3]`` (or ``[1, 18, 3]``) landmarks for models that need them.

    Returns:
        float32 maps ``[B, H, W]``, each min-max scaled to [0, 1] by the package.
        The model's train/eval flags and parameter gradients are unchanged afterwards.

    Raises:
        ConfigError: unknown method, missing target layers, wrong output/head.
        CamError: the package returned no map, a wrong shape, non-finite or constant maps.
    """
    cls = cam_class(method)
    layers = _target_layers(model, target_layers)
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if len(targets) != images.shape[0]:
        raise ConfigError(f"targets: {len(targets)} given for {images.shape[0]} images; give one per image")
    if torch.is_inference_mode_enabled():
        raise CamError("Grad-CAM needs gradients: call it outside torch.inference_mode()")
    device = model_device(model)
    x = images.detach().clone().float().to(device).requires_grad_(True)
    kp = None if keypoints is None else keypoints.detach().clone().float().to(device)
    with preserved_state(model), torch.enable_grad():
        adapter = _Adapter(model, output, head, kp)
        cam = cls(model=adapter, target_layers=layers)
        try:
            # score/ablation CAM draw a tqdm bar on stderr per call; keep notebooks clean
            quiet = (contextlib.redirect_stderr(io.StringIO()) if cls.__name__ in ("ScoreCAM", "AblationCAM")
                     else contextlib.nullcontext())
            with quiet:
                maps = cam(input_tensor=x, targets=list(targets), eigen_smooth=eigen_smooth)
        finally:
            cam.activations_and_grads.release()
    return _checked(maps, tuple(x.shape), method)


def _checked(maps, shape: tuple[int, ...], method: str) -> np.ndarray:
    b, _, h, w = shape
    if maps is None or not isinstance(maps, np.ndarray) or maps.shape != (b, h, w):
        got = None if maps is None else getattr(maps, "shape", type(maps).__name__)
        raise CamError(f"method={method!r}: expected maps of shape {(b, h, w)}, got {got}; "
                       "check that the target layers are used by the forward pass")
    if not np.isfinite(maps).all():
        raise CamError(f"method={method!r}: the map contains NaN/inf (non-finite gradients or activations)")
    flat = maps.reshape(b, -1)
    if np.any(flat.max(axis=1) - flat.min(axis=1) <= 1e-6):
        raise CamError(f"method={method!r}: the map is constant (no gradient of the target reaches the "
                       "target layers, or it is negative everywhere); try another method, e.g. 'eigencam', "
                       "or other target_layers")
    return maps.astype(np.float32)


def _kp_batch(keypoints, device) -> Optional[Tensor]:
    if keypoints is None:
        return None
    kp = torch.as_tensor(np.asarray(keypoints) if not isinstance(keypoints, Tensor) else keypoints).float()
    if kp.dim() == 2:
        kp = kp.unsqueeze(0)
    return kp.to(device)


@torch.no_grad()
def _embed(model: nn.Module, x: Tensor, kp: Optional[Tensor]) -> Tensor:
    with preserved_state(model):
        return _run_output(model, x, kp, "feature", None)


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


def identity_cam(model: nn.Module, image: Tensor, target_class: Optional[int] = None,
                 head: Optional[str] = None, method: str = "gradcam", *, keypoints=None,
                 target_layers: Optional[Sequence[nn.Module]] = None) -> IdentityCam:
    """Grad-CAM of one identity logit. ``head=None`` takes the first logits head;
    ``target_class=None`` the predicted (arg-max) identity. See :func:`gradcam_identity`."""
    cam_class(method)  # fail fast on a bad name
    x = as_batch(image).to(model_device(model))
    kp = _kp_batch(keypoints, x.device)
    with preserved_state(model), torch.no_grad():
        _frozen_eval_layers(model)
        out = model(x, keypoints=kp) if kp is not None else model(x)
    logits = out.get("logits", {}) if isinstance(out, dict) else {}
    if not logits:
        raise ConfigError(f"{type(model).__name__}: training-mode output has no 'logits'; "
                          "identity Grad-CAM needs a model with classifier heads")
    if head is None:
        head = next(iter(logits))
    if head not in logits:
        raise ConfigError(f"head={head!r}: not a logits head of {type(model).__name__}; choose one of {sorted(logits)}")
    row = logits[head][0]
    predicted = int(row.argmax())
    c = predicted if target_class is None else int(target_class)
    if not 0 <= c < row.numel():
        raise ConfigError(f"target_class={target_class}: head {head!r} has {row.numel()} classes (0..{row.numel() - 1})")
    maps = compute_cam(model, x, [LogitTarget(c)], output="logits", head=head, method=method,
                       target_layers=target_layers, keypoints=kp)
    return IdentityCam(maps[0], head, c, float(row[c]), float(row.softmax(-1)[c]), predicted)


def gradcam_identity(model: nn.Module, image: Tensor, target_class: Optional[int] = None,
                     head: Optional[str] = None, method: str = "gradcam", *, keypoints=None,
                     target_layers: Optional[Sequence[nn.Module]] = None, alpha: float = 0.5) -> Figure:
    """Figure: the image and the Grad-CAM of identity ``target_class`` of logits head ``head``.

    Args:
        model: a reidlab model with classifier heads (training-mode ``out["logits"]``).
        image: one normalised image ``[3, H, W]``.
        target_class: identity index of the head (train labels ``0..N-1``); ``None`` = predicted.
        head: name in ``out["logits"]`` (e.g. PFN's ``"global4"``); ``None`` = the first one.
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
    show_image(axes[1], overlay(img, r.cam, alpha), f"{method}: id {r.target_class}\n({which})")
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
                    target_layers: Optional[Sequence[nn.Module]] = None) -> SimilarityCam:
    """Grad-CAM of the cosine similarity of two test features, in both directions.

    The query map explains ``cos(f(query), f(gallery))`` with ``f(gallery)`` held fixed, the
    gallery map the same with the roles swapped. ``f`` is the eval-mode test feature (no
    flip augmentation).
    """
    cam_class(method)
    device = model_device(model)
    q = as_batch(query_image, "query_image").to(device)
    g = as_batch(gallery_image, "gallery_image").to(device)
    qk, gk = _kp_batch(query_keypoints, device), _kp_batch(gallery_keypoints, device)
    fq, fg = _embed(model, q, qk)[0], _embed(model, g, gk)[0]
    sim = float(F.cosine_similarity(fq, fg, dim=-1))
    common = dict(output="feature", method=method, target_layers=target_layers)
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
    show_image(axes[2], overlay(qi, r.query_cam, alpha), f"{labels[0]} map")
    show_image(axes[3], overlay(gi, r.gallery_cam, alpha), f"{labels[1]} map")
    fig.suptitle(f"{method} of the cosine similarity = {r.similarity:.3f}", fontsize=10)
    return fig


# --------------------------------------------------------------------------- (c) parts


@dataclass
class PartCams:
    """Result of :func:`part_cams`: maps ``[P, H, W]``, per-part scores, labels and boxes."""

    cams: np.ndarray
    scores: np.ndarray
    labels: list[str]
    source: str
    boxes: Optional[np.ndarray] = None


def part_cams(model: nn.Module, image: Tensor, other_image: Optional[Tensor] = None, method: str = "hirescam", *,
              keypoints=None, other_keypoints=None,
              target_layers: Optional[Sequence[nn.Module]] = None) -> PartCams:
    """One Grad-CAM map per part of a part model.

    Parts come from ``model.explain()``: ``"part_features"`` ``[1, P, D]`` (PFN/PCB stripes,
    MGWP fused parts, jlpose head/trunk/lower-limb branches) or, when a model has none,
    LGEU's ``"part_weights"`` ``[1, K, C]``. Target of part ``p`` (:class:`PartTarget`):

    * with ``other_image``: cosine similarity of part ``p`` of this image with part ``p`` of
      the other image (fixed) -- which pixels make this part match;
    * without: the L2 norm of part ``p``'s feature (how strongly the part responds), or for
      LGEU's sigmoid part weights their mean (how much branch ``p`` boosts its channels).

    ``scores`` holds the target values (cosine, norm or mean weight).

    The default method is ``"hirescam"`` (gradient x activation, element-wise): plain
    Grad-CAM averages the gradient over the whole map before weighting the channels, so a
    part's spatial support is lost and every stripe's map looks alike; HiResCAM (or
    ``"layercam"``) keeps it.
    """
    cam_class(method)
    device = model_device(model)
    x = as_batch(image).to(device)
    kp = _kp_batch(keypoints, device)
    with preserved_state(model), torch.no_grad():
        model.eval()
        ex = model.explain(x, keypoints=kp)
    source = "part_features" if "part_features" in ex else "part_weights" if "part_weights" in ex else None
    if source is None:
        raise ConfigError(f"{type(model).__name__}.explain() gives no 'part_features' or 'part_weights'; "
                          "per-part Grad-CAM needs a part model (pfn, pcb, mgwp, lgeu, jlpose)")
    parts = ex[source][0]
    n = parts.shape[0]
    reference = None
    if other_image is not None:
        o = as_batch(other_image, "other_image").to(device)
        ok = _kp_batch(other_keypoints, device)
        with preserved_state(model), torch.no_grad():
            model.eval()
            reference = model.explain(o, keypoints=ok)[source][0]
    reduce = "mean" if source == "part_weights" else "norm"
    targets = [PartTarget(p, n, reference, reduce) for p in range(n)]
    scores = np.array([float(t(parts.flatten())) for t in targets])
    output = _parts_output(model, x, kp, source, parts)
    maps = compute_cam(model, x.expand(n, -1, -1, -1), targets, output=output, method=method,
                       target_layers=target_layers, keypoints=kp)
    boxes = ex.get("part_boxes")
    boxes = None if boxes is None else boxes[0].detach().cpu().numpy()
    names = list(getattr(model, "names", None) or [])
    if boxes is not None and n == len(POSE_PART_NAMES):
        labels = list(POSE_PART_NAMES)
    elif source == "part_features" and len(names) == n and all(isinstance(s, str) for s in names):
        labels = names  # e.g. PFN: global4, global5, part1..part6
    else:
        labels = [f"part {p + 1}" for p in range(n)]
    return PartCams(maps, scores, labels, source, boxes)


def _parts_output(model: nn.Module, x: Tensor, kp: Optional[Tensor], source: str, parts: Tensor) -> OutputKind:
    """How to get a differentiable ``[B, P * D]`` part output.

    ``explain()`` may run without gradients (its contract does not need them). Then the
    parts are found as slices of the eval-mode test feature (PFN/PCB/MGWP concatenate their
    part features into it), and those slices are used instead.
    """
    with preserved_state(model), torch.enable_grad():
        probe = _run_output(model, x.detach().clone().requires_grad_(True), kp, "parts", None)
    if probe.requires_grad:
        return "parts"
    if source == "part_features":
        feature = _embed(model, x, kp)[0]
        index = _locate_slices(feature, parts)
        if index is not None:
            def sliced(m: nn.Module, images: Tensor, keypoints: Optional[Tensor]) -> Tensor:
                return _run_output(m, images, keypoints, "feature", None)[:, index]
            return sliced
    raise CamError(f"{type(model).__name__}: explain()['{source}'] carries no gradient and the parts are not "
                   "slices of the test feature; per-part Grad-CAM needs one of the two")


def _locate_slices(feature: Tensor, parts: Tensor) -> Optional[Tensor]:
    """Indices into ``feature [F]`` holding ``parts [P, D]`` (each a contiguous slice), or None."""
    p, d = parts.shape
    if feature.numel() < d:
        return None
    windows = feature.unfold(0, d, 1)  # [F - D + 1, D]
    index = []
    for i in range(p):
        close = torch.isclose(windows, parts[i].to(windows)[None], rtol=1e-4, atol=1e-5).all(dim=1)
        hits = torch.nonzero(close).flatten()
        if hits.numel() == 0:
            return None
        index.append(torch.arange(int(hits[0]), int(hits[0]) + d))
    return torch.cat(index).to(feature.device)


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
        stripes = sum(1 for s in r.labels if s.startswith("part"))
        if stripes > 1:
            draw_stripes(axes[0], h, w, stripes)
    what = "cos" if other_image is not None else ("mean w" if r.source == "part_weights" else "|f|")
    for p in range(n):
        show_image(axes[p + 1], overlay(img, r.cams[p], alpha), f"{r.labels[p]}\n{what}={r.scores[p]:.2f}", fontsize=7)
        if r.boxes is not None and p < len(r.boxes):
            draw_box(axes[p + 1], r.boxes[p], _POSE_COLORS[p % 3])
    target = "similarity to the other image's part" if other_image is not None else "part response"
    fig.suptitle(f"{method} per part ({target})", fontsize=9)
    return fig
