"""Lab pretraining recipes as data: :class:`PretrainRecipe` (every value of a pretraining run,
checked, hashed into the default file name) and the per-backbone defaults of :func:`default_recipe`.

Part of :mod:`reidlab.engine.pretrain` (import from there).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from reidlab.errors import ConfigError

PathLike = Union[str, os.PathLike]

#: ``format`` of the sidecar JSON.
SIDECAR_FORMAT = "reidlab-pretrained-v1"
#: SynthReID identity namespace of every pretraining set (evaluation sets use 0).
PRETRAIN_NAMESPACE = 1
#: Backbones lab pretraining supports (every backbone a preset uses).
PRETRAIN_BACKBONES = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "inception_jl")


# ----------------------------------------------------------------------------- recipe


@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that determines a lab-pretrained backbone (all plain JSON values).

    Backbone:
        backbone: ``resnet18`` / ``resnet34`` / ``resnet50`` / ``mobilenet_v2`` / ``inception_jl``.
        width: channel multiplier (the fine-tuned model must use the same ``backbone_width``).
        last_stride: stride of the last stage while pretraining (ResNet / MobileNetV2; the
            weights do not depend on it, a fine-tuned model may use the other value).
    Data (the pretraining SynthReID set, see :func:`pretrain_data_config`):
        data_seed: master seed of the set (evaluation sets use 0).
        num_ids: training identities of the set (about 10 images each).
    Training:
        seed: model initialisation, sampler, augmentation.
        iters: optimiser steps.
        input_size: ``(height, width)`` pixels.
        p, k: identities per batch and images per identity.
        lr: Adam learning rate after warm-up; ``warmup_iters`` linear from ``lr / 10``, then
            cosine to ``lr * final_lr_factor`` at ``iters``.
        weight_decay: Adam (coupled) weight decay.
        label_smoothing, margin: CE smoothing epsilon and triplet margin.
        flip_p, pad, erase_p: augmentation (see :class:`reidlab.data.BatchAugment`).
        amp: ``"bf16"`` or ``None`` (fp32); channels_last: memory format.
    """

    backbone: str = "resnet18"
    width: float = 1.0
    last_stride: int = 2
    data_seed: int = 1
    num_ids: int = 600
    seed: int = 0
    iters: int = 1500
    input_size: tuple = (128, 64)
    p: int = 16
    k: int = 4
    lr: float = 1e-3
    warmup_iters: int = 100
    final_lr_factor: float = 0.01
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    margin: float = 0.3
    flip_p: float = 0.5
    pad: int = 10
    erase_p: float = 0.5
    amp: Optional[str] = "bf16"
    channels_last: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "width", float(self.width))
        self.validate()

    def validate(self) -> None:
        """One-line :class:`ConfigError` for an unusable recipe."""
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"pretraining recipe: {name}={getattr(self, name)!r} is invalid; expected {expected}")

        if self.backbone not in PRETRAIN_BACKBONES:
            raise bad("backbone", f"one of {', '.join(PRETRAIN_BACKBONES)}")
        if not self.width > 0:
            raise bad("width", "a positive channel multiplier (1.0 = full width)")
        if self.last_stride not in (1, 2):
            raise bad("last_stride", "1 or 2")
        for name in ("num_ids", "iters", "p", "k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        if self.k < 2:
            raise bad("k", "k >= 2 images per identity (triplet loss)")
        if self.num_ids < self.p:
            raise bad("num_ids", f">= p={self.p} identities per batch")
        if len(self.input_size) != 2 or min(self.input_size) < 32:
            raise bad("input_size", "(height, width) with both >= 32 pixels")
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup_iters < 0 or not 0 < self.final_lr_factor <= 1:
            raise bad("lr", "lr > 0, weight_decay >= 0, warmup_iters >= 0, 0 < final_lr_factor <= 1")
        if self.amp not in ("bf16", None):
            raise bad("amp", "'bf16' or None")

    def to_dict(self) -> dict:
        """Plain JSON dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PretrainRecipe":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"pretraining recipe: unknown field {unknown[0]!r} (known: {', '.join(sorted(names))})")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "PretrainRecipe":
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"pretraining recipe: unknown field {unknown[0]!r} (known: {', '.join(sorted(names))})")
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """8 hex digits identifying the recipe (part of the default file name)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    def command(self, out: Optional[PathLike] = None) -> list[str]:
        """The ``reidlab pretrain`` command that reproduces this recipe."""
        base = PretrainRecipe(backbone=self.backbone)
        defaults = default_recipe(self.backbone, self.width, self.seed).to_dict()
        cmd = ["reidlab", "pretrain", "--backbone", self.backbone]
        if self.width != base.width:
            cmd += ["--width", f"{self.width:g}"]
        if self.seed != base.seed:
            cmd += ["--seed", str(self.seed)]
        for k, v in self.to_dict().items():
            if k in ("backbone", "width", "seed") or defaults.get(k) == v:
                continue
            cmd += ["--set", f"{k}={json.dumps(v)}"]
        if out is not None:
            cmd += ["--out", str(out)]
        return cmd


#: Per-backbone defaults of :func:`default_recipe` (on top of :class:`PretrainRecipe`), chosen
#: for strength per second on a 2-core CPU (preliminary measurements, SynthReID seed 0, one seed):
#: resnet18 800 steps (~4 min at ~210 img/s) -> PFN 64.6 % / BoT 72.2 % rank-1 after ~1 min of
#: fine-tuning (from scratch: 9.5 / 29.7; 400 steps: PFN 52.1; 1600 steps: PFN 72.8, BoT 80.0);
#: inception_jl at the demo width 0.5, 600 steps (~2.2 min at ~290 img/s) -> jlpose 52.3 % after
#: 144 fine-tuning steps (scratch: 16.1 after 90; 1500 steps: 61.8). Other backbones: the
#: PretrainRecipe defaults (1500 steps, not measured).
DEFAULT_RECIPES: dict[str, dict[str, Any]] = {
    "resnet18": dict(iters=800),
    "inception_jl": dict(iters=600),
}


def default_recipe(backbone: str = "resnet18", width: float = 1.0, seed: int = 0, **changes: Any) -> PretrainRecipe:
    """The lab's pretraining recipe for ``backbone`` at ``width`` (what ``init="lab"`` uses)."""
    base = dict(DEFAULT_RECIPES.get(backbone, {}))
    base.update(backbone=backbone, width=float(width), seed=int(seed))
    base.update(changes)
    return PretrainRecipe.from_dict(base)
