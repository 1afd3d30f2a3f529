"""Lab pretraining: a backbone trained on a SynthReID set of its own, as an offline warm start.

``reidlab pretrain --backbone resnet18 --out data/weights/lab-resnet18.pt`` (or
:func:`ensure_pretrained` from Python) does three things:

1. **Data.** It generates a *pretraining* SynthReID set (:func:`pretrain_data_config`):
   its own master seed (``data_seed``, default 1; evaluation sets use 0) **and** identity
   namespace 1 (``SynthConfig.id_namespace``), which draws every person's appearance from
   random streams that no evaluation set (namespace 0) uses, whatever the two seeds are. So
   no pretraining identity is an evaluation identity, by construction; only the training
   split is used (one test identity exists because the generator needs one; it is not read).
   The set is generated once per weights folder and reused by every backbone.
2. **Training.** The backbone under a Bag-of-Tricks head (GAP -> BNNeck -> bias-free FC;
   label-smoothing CE on the logits + batch-hard triplet on the pooled feature), P x K
   batches, flip / pad-crop / random erasing, Adam with a linear warm-up and a cosine decay,
   bf16 autocast and channels-last on the CPU (:class:`PretrainRecipe` holds every value).
   Every random stream is seeded from ``(seed, iteration)``: the same recipe on the same
   machine and library versions gives the same weights, byte for byte.
3. **Files.** The backbone's ``state_dict`` (its own parameter names: for a ResNet exactly
   torchvision's minus ``fc``, so the file also works as ``pretrained=<file>``) is written
   atomically, then a sidecar ``<file>.json`` (written last: it marks the file complete)
   with the file's sha256, the exact command, the recipe, the pretraining set's config, the
   training time and the final training metrics.

Cache: :func:`ensure_pretrained` returns an existing file when its sidecar's recipe equals
the request and the file's sha256 equals the sidecar's; a file without sidecar, a hash
mismatch (corrupt or modified file) or a sidecar for another recipe (other backbone, width,
seed...) is a one-line :class:`~reidlab.errors.CheckpointError` naming the file and the fix.
Concurrent callers wait on a file lock; the first one trains, the others reuse its file.

Default location: ``$REIDLAB_WEIGHTS`` or ``<project>/data/weights/``; the default file
name carries the backbone, width, seed and a hash of the recipe
(``lab-resnet18-w1-s0-<hash8>.pt``), so changing a recipe never reuses an old file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from reidlab.errors import CheckpointError, ConfigError
from reidlab.fileio import atomic_open, atomic_write_text

__all__ = [
    "PretrainRecipe", "default_recipe", "pretrain_data_config", "ensure_pretrain_data", "pretrain",
    "ensure_pretrained", "check_pretrained", "default_weights_dir", "default_weights_path",
    "sha256_file", "SIDECAR_FORMAT", "PRETRAIN_NAMESPACE", "main",
]

log = logging.getLogger("reidlab")

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


# ----------------------------------------------------------------------------- paths


def _project_root() -> Path:
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "reidlab").is_dir():
            return cand
    return Path(__file__).resolve().parents[2]


def default_weights_dir() -> Path:
    """``$REIDLAB_WEIGHTS`` if set, else ``<project root>/data/weights``."""
    env = os.environ.get("REIDLAB_WEIGHTS")
    return Path(env).expanduser() if env else _project_root() / "data" / "weights"


def default_weights_path(recipe: PretrainRecipe, weights_dir: Optional[PathLike] = None) -> Path:
    """``<weights_dir>/lab-<backbone>-w<width>-s<seed>-<recipe hash>.pt``."""
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return folder / f"lab-{recipe.backbone}-w{recipe.width:g}-s{recipe.seed}-{recipe.key()}.pt"


def sidecar_path(path: PathLike) -> Path:
    """The sidecar of a weights file: ``<file>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed); no-op where unsupported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- data


def pretrain_data_config(recipe: PretrainRecipe):
    """The :class:`~reidlab.data.synthetic.SynthConfig` of the recipe's pretraining set:
    ``seed=data_seed``, ``id_namespace=1``, ``num_ids`` training identities, one test
    identity (unused) and no distractors or junk; every other knob as the default set."""
    from reidlab.data.synthetic import SynthConfig

    return SynthConfig(seed=recipe.data_seed, id_namespace=PRETRAIN_NAMESPACE, num_train_ids=recipe.num_ids,
                       num_test_ids=1, num_distractors=0, num_junk=0)


def ensure_pretrain_data(recipe: PretrainRecipe, weights_dir: Optional[PathLike] = None) -> Path:
    """The pretraining set of ``recipe`` under ``weights_dir`` (generated when missing or
    when the folder holds another config): ``synthreid-pretrain-s<data_seed>-<num_ids>ids``."""
    from reidlab.data.synthetic import generate, load_info

    cfg = pretrain_data_config(recipe)
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    root = folder / f"synthreid-pretrain-s{recipe.data_seed}-{recipe.num_ids}ids"
    if (root / ".complete").is_file():
        try:
            if load_info(root).get("config") == cfg.to_dict():
                return root
        except Exception:  # unreadable info: regenerate
            pass
    log.info("generating the pretraining set %s (%d identities, seed %d, namespace %d)", root, recipe.num_ids,
             recipe.data_seed, PRETRAIN_NAMESPACE)
    return generate(root, cfg)


# ----------------------------------------------------------------------------- model


class PretrainNet(nn.Module):
    """A backbone under a Bag-of-Tricks head: GAP -> BNNeck -> bias-free FC.

    Training output follows :mod:`reidlab.models.base` (``logits["global"]``,
    ``embeddings["global"]`` = the pooled feature), so :class:`reidlab.losses.JointLoss`
    applies label-smoothing CE and batch-hard triplet."""

    def __init__(self, backbone: nn.Module, channels: int, num_classes: int) -> None:
        super().__init__()
        from reidlab.models.base import LossTerm
        from reidlab.models.layers import BNNeck

        self.backbone = backbone
        self.neck = BNNeck(channels, num_classes)
        self.loss_terms = [LossTerm("ce", "global", 1.0, "id"), LossTerm("triplet", "global", 1.0, "metric")]

    def forward(self, x: Tensor) -> dict:
        ft = self.backbone(x).mean(dim=(2, 3))
        _, logits = self.neck(ft)
        return {"logits": {"global": logits}, "embeddings": {"global": ft}, "aux": {}}


def build_pretrain_backbone(recipe: PretrainRecipe) -> tuple[nn.Module, int]:
    """``(backbone, output channels)`` for a recipe, randomly initialised."""
    from reidlab.models.backbones import build_backbone

    if recipe.backbone == "inception_jl":
        bb = build_backbone("inception_jl", width=recipe.width)
        return bb, int(bb.out_channels)
    bb = build_backbone(recipe.backbone, last_stride=recipe.last_stride, width=recipe.width)
    return bb, int(bb.out_channels["layer4"])


def _seed_for(seed: int, step: int, purpose: str) -> int:
    h = hashlib.blake2b(f"reidlab/pretrain/{purpose}/{seed}/{step}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def lr_at(recipe: PretrainRecipe, step: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up from ``lr / 10``
    over ``warmup_iters`` steps, then a cosine from ``lr`` to ``lr * final_lr_factor``."""
    if step < recipe.warmup_iters:
        return recipe.lr * (0.1 + 0.9 * step / recipe.warmup_iters)
    span = max(1, recipe.iters - recipe.warmup_iters)
    t = min(1.0, (step - recipe.warmup_iters) / span)
    lo = recipe.lr * recipe.final_lr_factor
    return lo + 0.5 * (recipe.lr - lo) * (1.0 + math.cos(math.pi * t))


def pretrain(recipe: PretrainRecipe, data_root: PathLike, progress: bool = False,
             device: Union[str, torch.device] = "cpu") -> tuple[dict[str, Tensor], dict]:
    """Train ``recipe``'s backbone on the dataset at ``data_root`` (its training split).

    Returns ``(backbone state_dict on the CPU, metrics)`` where ``metrics`` holds ``iters``,
    ``images``, ``time_s`` (wall), ``cpu_s`` (process CPU), ``img_s``, ``num_classes``,
    ``final`` (means over the last 10 % of the steps: ``loss``, ``ce``, ``triplet``,
    ``train_acc`` in [0, 1]) and ``curve`` (the same means per tenth of the run).
    """
    from reidlab.data import BatchAugment, ImageCache, PKSampler, load_dataset
    from reidlab.losses import JointLoss

    dev = torch.device(device)
    ds = load_dataset("market1501", data_root, keypoints=None)
    recs = ds.train
    labels = sorted({r.pid for r in recs})
    index = {p: i for i, p in enumerate(labels)}
    targets_all = torch.tensor([index[r.pid] for r in recs], dtype=torch.long)
    num_classes = len(labels)
    torch.manual_seed(_seed_for(recipe.seed, 0, "init"))
    backbone, channels = build_pretrain_backbone(recipe)
    net = PretrainNet(backbone, channels, num_classes).to(dev)
    if recipe.channels_last:
        net.to(memory_format=torch.channels_last)
    net.train()
    cache = ImageCache(recs, size=recipe.input_size)
    aug = BatchAugment(size=recipe.input_size, flip_p=recipe.flip_p, pad=recipe.pad, erase_p=recipe.erase_p)
    sampler = PKSampler(targets_all.tolist(), p=recipe.p, k=recipe.k, seed=recipe.seed)
    crit = JointLoss(net.loss_terms, num_classes=num_classes, label_smoothing=recipe.label_smoothing,
                     margin=recipe.margin)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    gen = torch.Generator()
    dtype = torch.bfloat16 if recipe.amp == "bf16" else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.iters, desc=f"pretraining {recipe.backbone}", unit="it", dynamic_ncols=True)
    rows: list[tuple[float, float, float, float]] = []
    step, epoch = 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    while step < recipe.iters:
        for batch in sampler.epoch_batches(epoch):
            if step >= recipe.iters:
                break
            idx = torch.as_tensor(batch, dtype=torch.long)
            gen.manual_seed(_seed_for(recipe.seed, step, "augment"))
            torch.manual_seed(_seed_for(recipe.seed, step, "torch"))
            x, _ = aug(cache[idx].to(dev), generator=gen)
            if recipe.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = targets_all[idx].to(dev)
            for g in opt.param_groups:
                g["lr"] = lr_at(recipe, step)
            with (torch.autocast(device_type=dev.type, dtype=dtype) if dtype is not None else nullcontext()):
                out = net(x)
            logits = out["logits"]["global"].float()
            out = {"logits": {"global": logits}, "embeddings": {"global": out["embeddings"]["global"].float()},
                   "aux": {}}
            loss, parts = crit(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise ConfigError(f"pretraining {recipe.backbone}: loss became {lv} at step {step + 1}; lower lr "
                                  f"(now {recipe.lr:g}) with --set lr=...")
            acc = float((logits.detach().argmax(1) == y).float().mean())
            rows.append((lv, float(parts.get("ce/global", float("nan"))),
                         float(parts.get("triplet/global", float("nan"))), acc))
            step += 1
            if bar is not None:
                bar.set_postfix(loss=f"{lv:.3f}", acc=f"{acc:.2f}", refresh=False)
                bar.update(1)
        epoch += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if bar is not None:
        bar.close()

    def means(chunk: Sequence[tuple[float, ...]]) -> dict:
        cols = list(zip(*chunk)) if chunk else [[], [], [], []]
        names = ("loss", "ce", "triplet", "train_acc")
        return {n: round(sum(c) / max(len(c), 1), 5) for n, c in zip(names, cols)}

    tenth = max(1, len(rows) // 10)
    curve = [dict(step=min(len(rows), (i + 1) * tenth), **means(rows[i * tenth:(i + 1) * tenth]))
             for i in range(min(10, len(rows)))]
    metrics = {
        "iters": step, "epochs_started": epoch, "images": step * recipe.p * recipe.k, "num_classes": num_classes,
        "train_images": len(recs), "time_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "img_s": round(step * recipe.p * recipe.k / max(wall, 1e-9), 1), "threads": torch.get_num_threads(),
        "final": means(rows[-tenth:]), "curve": curve,
    }
    state = {k: v.detach().to("cpu").contiguous() for k, v in backbone.state_dict().items()}
    return state, metrics


# ----------------------------------------------------------------------------- files


def _versions() -> dict:
    import numpy
    import PIL

    from reidlab._version import __version__

    out = {"reidlab": str(__version__), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
           "pillow": str(PIL.__version__), "python": platform.python_version()}
    try:
        import torchvision

        out["torchvision"] = str(torchvision.__version__)
    except Exception:  # pragma: no cover
        pass
    return out


def write_pretrained(path: PathLike, state: Mapping[str, Tensor], sidecar: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically, then its sidecar (with the file's sha256 and
    size added) atomically; returns ``path``."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    data = buf.getvalue()
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    meta = dict(sidecar)
    meta.update(format=SIDECAR_FORMAT, file=path.name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    atomic_write_text(sidecar_path(path), json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path


def _fix(path: Path, recipe: Optional[PretrainRecipe]) -> str:
    cmd = shlex.join(recipe.command(path)) if recipe is not None else "reidlab pretrain ... --out " + str(path)
    return f"delete {path} and {sidecar_path(path).name} and run `{cmd}` (or choose another --out)"


def read_sidecar(path: PathLike) -> dict:
    """The sidecar of weights file ``path``, or a one-line :class:`CheckpointError`."""
    path = Path(path)
    side = sidecar_path(path)
    if not side.is_file():
        raise CheckpointError(f"{path}: no sidecar {side.name} (not written by reidlab pretrain, or interrupted); "
                              f"{_fix(path, None)}")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{side}: unreadable sidecar ({type(exc).__name__}); {_fix(path, None)}") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT or not isinstance(meta.get("recipe"), dict):
        raise CheckpointError(f"{side}: not a reidlab pretraining sidecar (format {SIDECAR_FORMAT!r}); {_fix(path, None)}")
    return meta


def check_pretrained(path: PathLike, recipe: Optional[PretrainRecipe] = None, *, backbone: Optional[str] = None,
                     width: Optional[float] = None) -> dict:
    """Verify a lab weights file against its sidecar; returns the sidecar dict.

    Checks, in order: the file exists; the sidecar exists and parses; the sidecar's recipe
    equals ``recipe`` (when given; the first differing field is named) or its backbone and
    width equal ``backbone`` / ``width`` (when given); the file's sha256 equals the
    sidecar's. Every failure is a one-line :class:`CheckpointError` naming the file and the
    fix.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: lab weights not found; {_fix(path, recipe)}")
    meta = read_sidecar(path)
    have = meta["recipe"]
    if recipe is not None:
        want = recipe.to_dict()
        diff = [k for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]
        if diff:
            k = diff[0]
            raise CheckpointError(f"{path}: pretrained with {k}={have.get(k)!r}, not the requested {want.get(k)!r} "
                                  f"({len(diff)} field(s) differ); {_fix(path, recipe)}")
    if backbone is not None and have.get("backbone") != backbone:
        raise CheckpointError(f"{path}: holds a {have.get('backbone')} backbone, not {backbone}; use a weights file "
                              f"pretrained for {backbone} (reidlab pretrain --backbone {backbone})")
    if width is not None and float(have.get("width", -1)) != float(width):
        raise CheckpointError(f"{path}: holds backbone width {have.get('width')}, not {float(width):g}; pretrain that "
                              f"width (reidlab pretrain --backbone {have.get('backbone')} --width {float(width):g})")
    digest = sha256_file(path)
    if digest != meta.get("sha256"):
        try:
            stored: Optional[PretrainRecipe] = PretrainRecipe.from_dict(have)
        except (ConfigError, TypeError):
            stored = None
        raise CheckpointError(f"{path}: sha256 {digest[:12]}... does not match its sidecar ({str(meta.get('sha256'))[:12]}...): "
                              f"the file is corrupt or was modified; {_fix(path, stored)}")
    return meta


def load_pretrained_state(path: PathLike) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)`` of a verified lab weights file (one-line error if unreadable)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: cannot be read ({first}); {_fix(path, None)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a backbone state dict; {_fix(path, None)}")
    return state


def ensure_pretrained(recipe: PretrainRecipe, out: Optional[PathLike] = None, *,
                      weights_dir: Optional[PathLike] = None, build: bool = True, progress: bool = False,
                      command: Optional[Sequence[str]] = None) -> Path:
    """The lab weights of ``recipe``: an existing matching file, or pretrained now.

    Args:
        recipe: the request.
        out: weights file (default :func:`default_weights_path` in ``weights_dir``).
        weights_dir: folder of the default file and of the pretraining set (default
            :func:`default_weights_dir`).
        build: pretrain when the file is missing (``False``: raise instead).
        progress: show a progress bar while pretraining.
        command: the command line to record (default: ``sys.argv``).

    Raises:
        CheckpointError: a file exists but has no sidecar, another recipe or a wrong hash
            (never overwritten silently); or missing with ``build=False``.
    """
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    path = Path(out) if out is not None else default_weights_path(recipe, folder)
    with _file_lock(folder / ".pretrain.lock"):
        if path.exists() or sidecar_path(path).exists():
            check_pretrained(path, recipe)
            log.info("lab weights %s reused", path)
            return path
        if not build:
            raise CheckpointError(f"{path}: lab weights not found; run `{shlex.join(recipe.command(path))}`")
        data_root = ensure_pretrain_data(recipe, folder)
        from reidlab.data.synthetic import load_info

        info = load_info(data_root)
        state, metrics = pretrain(recipe, data_root, progress=progress)
        sidecar = {
            "recipe": recipe.to_dict(), "backbone": recipe.backbone, "width": recipe.width, "seed": recipe.seed,
            "command": shlex.join(recipe.command(path)),
            "argv": list(command) if command is not None else list(sys.argv),
            "dataset": {"root": str(data_root), "config": info.get("config"), "counts": info.get("counts")},
            "training": metrics, "versions": _versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_pretrained(path, state, sidecar)
        log.info("lab weights %s written (%.0f s of pretraining)", path, metrics["time_s"])
        return path


# ----------------------------------------------------------------------------- CLI


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab pretrain --backbone NAME [--width W] [--seed N] [--out FILE] [--set k=v]``."""
    from reidlab.presets import parse_override

    ap = argparse.ArgumentParser(
        prog="reidlab pretrain",
        description="Pretrain a backbone on a SynthReID set of its own (identities disjoint from every "
                    "evaluation set) and write its weights with a sidecar JSON (sha256, command, recipe, "
                    "metrics). An existing matching file is reused.",
        epilog="examples:\n"
               "  reidlab pretrain --backbone resnet18\n"
               "  reidlab pretrain --backbone inception_jl --width 0.5 --out data/weights/jl.pt\n"
               "  reidlab pretrain --backbone resnet18 --set iters=3000 --set num_ids=1000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="resnet18", help=f"one of {', '.join(PRETRAIN_BACKBONES)} (default resnet18)")
    ap.add_argument("--width", type=float, default=1.0, help="backbone channel multiplier (default 1.0)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--out", default=None, help="weights file (default data/weights/lab-<backbone>-w<width>-s<seed>-<hash>.pt)")
    ap.add_argument("--weights-dir", default=None, help="folder of the default file and of the pretraining set "
                                                        "(default $REIDLAB_WEIGHTS or data/weights)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a recipe field (repeatable): iters, num_ids, data_seed, lr, p, k, last_stride, ...")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(list(argv) if argv is not None else None)
    changes = dict(parse_override(s) for s in args.overrides)
    recipe = default_recipe(args.backbone, args.width, args.seed, **changes)
    t0 = time.perf_counter()
    path = ensure_pretrained(recipe, args.out, weights_dir=args.weights_dir, progress=not args.no_progress,
                             command=["reidlab", "pretrain", *(argv if argv is not None else sys.argv[1:])])
    meta = read_sidecar(path)
    tr = meta["training"]
    fin = tr.get("final", {})
    print(f"{path}: {recipe.backbone} width {recipe.width:g}, seed {recipe.seed}, {tr['iters']} iterations on "
          f"{tr['num_classes']} identities in {tr['time_s']:.0f} s ({tr['img_s']:.0f} img/s); final loss "
          f"{fin.get('loss', float('nan')):.3f}, train accuracy {fin.get('train_acc', float('nan')):.3f}; "
          f"sha256 {meta['sha256'][:12]} ({time.perf_counter() - t0:.0f} s)")
    return 0
