"""What a run is built from: preset resolution, the model, the optimiser, the learning-rate
schedule and the loss.

Shared by the trainer (:mod:`reidlab.engine.trainer`) and the run loader
(:mod:`reidlab.engine.runs`), so neither imports the other for them.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Mapping, Union

import torch
from torch import nn

from reidlab.errors import ConfigError
from reidlab.presets import Preset, apply_overrides, get_preset

__all__ = ["resolve_preset", "build_model", "build_optimizer", "build_loss", "WarmupMultiStep"]


def resolve_preset(preset_or_config: Union[str, Preset, Mapping[str, Any]], **overrides: Any) -> Preset:
    """A :class:`Preset` from a name, a Preset, a preset dict or a run's ``config.json`` dict,
    with field ``overrides`` applied (unknown fields: :class:`ConfigError` with a did-you-mean)."""
    if isinstance(preset_or_config, Preset):
        return apply_overrides(preset_or_config, overrides)
    if isinstance(preset_or_config, str):
        return apply_overrides(get_preset(preset_or_config), overrides)
    if isinstance(preset_or_config, Mapping):
        d = preset_or_config.get("preset", preset_or_config)
        return apply_overrides(Preset.from_dict(d), overrides)
    raise ConfigError(f"expected a preset name, a Preset or a config dict, got {type(preset_or_config).__name__}")


def build_model(preset: Preset, num_classes: int) -> nn.Module:
    """``create_model`` with the preset's model, backbone and options (random weights: the
    preset's warm start, ``preset.init``, is loaded by :func:`reidlab.engine.warmstart.apply_init`
    when a run starts, so loading a trained run never reads the init weights)."""
    from reidlab.models import create_model

    return create_model(preset.model, num_classes=int(num_classes), backbone=preset.backbone,
                        **preset.model_options)


def build_optimizer(model: nn.Module, preset: Preset) -> torch.optim.Optimizer:
    """Adam or SGD with two parameter groups: ``backbone.*`` at ``lr * backbone_lr_mult``
    (group 0) and everything else at ``lr`` (group 1). Empty groups are dropped."""
    bb, head = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (bb if name.startswith("backbone.") else head).append(p)
    groups = []
    if bb:
        groups.append({"params": bb, "lr": preset.lr * preset.backbone_lr_mult, "name": "backbone"})
    if head:
        groups.append({"params": head, "lr": preset.lr, "name": "head"})
    if preset.optimizer == "adam":
        return torch.optim.Adam(groups, lr=preset.lr, betas=(preset.momentum, 0.999),
                                weight_decay=preset.weight_decay)
    return torch.optim.SGD(groups, lr=preset.lr, momentum=preset.momentum, nesterov=preset.nesterov,
                           weight_decay=preset.weight_decay)


def build_loss(model: nn.Module, preset: Preset, num_classes: int) -> nn.Module:
    """:class:`reidlab.losses.JointLoss` over the model's ``loss_terms`` with the preset's
    group weights, label smoothing and triplet margin."""
    from reidlab.losses import JointLoss

    return JointLoss(model.loss_terms, num_classes=num_classes, id_weight=preset.id_weight,
                     metric_weight=preset.metric_weight, label_smoothing=preset.label_smoothing,
                     margin=preset.margin)


class WarmupMultiStep:
    """Linear warm-up then step decay, set per iteration from a fractional epoch ``t``.

    ``lr_group(t) = base_lr_group * gamma ** (number of milestones <= floor(t))
    * (warmup_factor + (1 - warmup_factor) * t / warmup_epochs  if t < warmup_epochs else 1)``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, milestones: tuple = (), gamma: float = 0.1,
                 warmup_epochs: float = 0.0, warmup_factor: float = 0.1) -> None:
        self.optimizer = optimizer
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = float(gamma)
        self.warmup_epochs = float(warmup_epochs)
        self.warmup_factor = float(warmup_factor)
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.t = 0.0

    @classmethod
    def from_preset(cls, optimizer: torch.optim.Optimizer, preset: Preset) -> "WarmupMultiStep":
        """The schedule of ``preset`` (milestones, gamma, warm-up) over ``optimizer``."""
        return cls(optimizer, preset.milestones, preset.gamma, preset.warmup_epochs, preset.warmup_factor)

    def factor(self, t: float) -> float:
        """Multiplier of the base learning rates at fractional epoch ``t``."""
        f = self.gamma ** bisect.bisect_right(self.milestones, math.floor(t + 1e-9))
        if self.warmup_epochs > 0 and t < self.warmup_epochs:
            f *= self.warmup_factor + (1.0 - self.warmup_factor) * t / self.warmup_epochs
        return f

    def step(self, t: float) -> None:
        """Set every group's learning rate for fractional epoch ``t``."""
        self.t = float(t)
        f = self.factor(t)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def state_dict(self) -> dict:
        return {"base_lrs": list(self.base_lrs), "t": self.t, "milestones": list(self.milestones),
                "gamma": self.gamma, "warmup_epochs": self.warmup_epochs, "warmup_factor": self.warmup_factor}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        self.t = float(state["t"])
