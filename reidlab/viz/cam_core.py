"""The Grad-CAM engine under :mod:`reidlab.viz.gradcam`: method names, targets (plain callables
on one image's output), the model adapter (feature / logits / parts output), :func:`compute_cam`
with the state put back afterwards, and the checks on the maps. See :mod:`reidlab.viz.gradcam`
for why the model is run this way; import the public names from there.
"""

from __future__ import annotations

import contextlib
import io
from typing import Callable, Iterator, Literal, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.common import (
    model_device,
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
    """Target on one part: the part is ``output[index]`` of one image's 1-D part output
    (``index`` a slice or index tensor). With a ``reference`` (the same part of another
    image, fixed) the target is their cosine similarity -- which pixels make this part
    match; without, the part's L2 norm (``reduce="norm"``: how strongly the part responds)
    or its mean (``reduce="mean"``, for LGEU's sigmoid part weights: how much the branch
    boosts its channels)."""

    def __init__(self, index: Union[slice, Tensor], reference: Optional[Tensor] = None,
                 reduce: Literal["norm", "mean"] = "norm") -> None:
        self.index = index
        self.reduce = reduce
        self.reference = None if reference is None else reference.detach().flatten()

    def __call__(self, output: Tensor) -> Tensor:
        piece = output.flatten()[self.index]
        if self.reference is not None:
            return F.cosine_similarity(piece, self.reference.to(piece), dim=-1)
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


def _training_logits(model: nn.Module, images: Tensor, kp: Optional[Tensor]) -> dict[str, Tensor]:
    """Named identity logits of a training-mode forward with BatchNorm/dropout in eval mode."""
    _frozen_eval_layers(model)
    out = model(images, keypoints=kp)
    logits = out.get("logits", {}) if isinstance(out, dict) else {}
    if not logits:
        raise ConfigError(f"{type(model).__name__}: training-mode output has no 'logits' dict; "
                          "identity Grad-CAM needs a model with classifier heads")
    return logits


def _check_head(model: nn.Module, logits: dict[str, Tensor], head: Optional[str]) -> str:
    if head not in logits:
        raise ConfigError(f"head={head!r}: not a logits head of {type(model).__name__}; "
                          f"choose one of {sorted(logits)}")
    return head


def _run_output(model: nn.Module, images: Tensor, keypoints: Optional[Tensor], output: OutputKind,
                head: Optional[str]) -> Tensor:
    """The model output Grad-CAM explains, as a ``[B, K]`` tensor (see module docstring)."""
    kp = _expand_keypoints(keypoints, images.shape[0])
    if callable(output):
        return output(model, images, kp)
    if output == "feature":
        model.eval()
        out = model(images, keypoints=kp)
        if isinstance(out, dict):
            raise ConfigError(f"{type(model).__name__}: eval-mode forward returned a dict; "
                              "expected the test feature tensor [B, D] (see reidlab.models.base)")
        return out.flatten(1)
    if output == "logits":
        logits = _training_logits(model, images, kp)
        return logits[_check_head(model, logits, head)]
    if output == "parts":
        ex = explain_with_grad(model, images, kp)
        key = "part_features" if "part_features" in ex else "part_weights"
        if key not in ex:
            raise ConfigError(f"{type(model).__name__}.explain() gives neither 'part_features' nor "
                              "'part_weights'; per-part Grad-CAM needs a part model (pfn, pcb, mgwp, lgeu, jlpose)")
        return ex[key].flatten(1)
    raise ConfigError(f"output={output!r}: expected 'feature', 'logits', 'parts' or a callable")


def explain_with_grad(model: nn.Module, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
    """``model.explain()`` in eval mode but differentiable.

    reidlab models wrap ``explain`` in a decorator that switches to eval mode and disables
    gradients (``functools.wraps`` keeps the undecorated function as ``__wrapped__``); here
    the undecorated body runs in eval mode with gradients enabled. Models without a
    wrapped ``explain`` are called as they are. Modes are restored by the caller.
    """
    raw = getattr(type(model).explain, "__wrapped__", None)
    model.eval()
    with torch.enable_grad():
        if raw is not None:
            return raw(model, images, keypoints=keypoints)
        return model.explain(images, keypoints=keypoints)


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
                eigen_smooth: bool = False, strict: bool = True) -> np.ndarray:
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
        strict: raise :class:`CamError` for a constant map (the target's weighted activations
            are <= 0 everywhere: no positive evidence at this layer). ``False`` returns such
            maps as all-zero instead (the figure functions do, and say so in the panel).

    Returns:
        float32 maps ``[B, H, W]``, each min-max scaled to [0, 1] by the package.
        The model's train/eval flags and parameter gradients are unchanged afterwards.

    Raises:
        ConfigError: unknown method, missing target layers, wrong output/head.
        CamError: no gradient reaches the target layers (the output does not depend on
            them), a wrong shape, non-finite maps, or (``strict``) a constant map.
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
        except Exception as exc:
            if getattr(cam, "uses_gradients", True) and not cam.activations_and_grads.gradients:
                raise _no_gradient(model, layers, method) from exc
            raise
        finally:
            no_grads = getattr(cam, "uses_gradients", True) and not cam.activations_and_grads.gradients
            cam.activations_and_grads.release()
        if no_grads:
            raise _no_gradient(model, layers, method)
    return _checked(maps, tuple(x.shape), method, strict)


def _no_gradient(model: nn.Module, layers: Sequence[nn.Module], method: str) -> CamError:
    names = {id(m): n for n, m in model.named_modules()}
    where = ", ".join(names.get(id(m), type(m).__name__) or "model" for m in layers)
    return CamError(f"method={method!r}: no gradient of the target reaches the target layer(s) {where}: the "
                    "explained output does not depend on them (e.g. PFN's 'global4' head reads layer3); choose "
                    "another head/part or pass target_layers")


def is_flat(maps: np.ndarray) -> np.ndarray:
    """``[B]`` True where a map ``[B, H, W]`` is constant (no positive evidence)."""
    flat = np.asarray(maps).reshape(len(maps), -1)
    return (flat.max(axis=1) - flat.min(axis=1)) <= 1e-6


def _checked(maps, shape: tuple[int, ...], method: str, strict: bool = True) -> np.ndarray:
    b, _, h, w = shape
    if maps is None or not isinstance(maps, np.ndarray) or maps.shape != (b, h, w):
        got = None if maps is None else getattr(maps, "shape", type(maps).__name__)
        raise CamError(f"method={method!r}: expected maps of shape {(b, h, w)}, got {got}; "
                       "check that the target layers are used by the forward pass")
    if not np.isfinite(maps).all():
        raise CamError(f"method={method!r}: the map contains NaN/inf (non-finite gradients or activations)")
    flat = is_flat(maps)
    if strict and flat.any():
        raise CamError(f"method={method!r}: the map is constant (the target's weighted activations are <= 0 "
                       "everywhere: no positive evidence at the target layers); try another method, e.g. "
                       "'eigencam' or 'layercam', other target_layers, or strict=False")
    maps = maps.astype(np.float32)
    maps[flat] = 0.0
    return maps


def _kp_batch(keypoints, device) -> Optional[Tensor]:
    if keypoints is None:
        return None
    kp = torch.as_tensor(np.asarray(keypoints) if not isinstance(keypoints, Tensor) else keypoints).float()
    if kp.dim() == 2:
        kp = kp.unsqueeze(0)
    return kp.to(device)


def _flat_note(cam: np.ndarray) -> str:
    """Panel-title note for an all-zero map."""
    return "\n(no positive evidence)" if bool(is_flat(cam[None])[0]) else ""


@torch.no_grad()
def _embed(model: nn.Module, x: Tensor, kp: Optional[Tensor]) -> Tensor:
    with preserved_state(model):
        return _run_output(model, x, kp, "feature", None)
