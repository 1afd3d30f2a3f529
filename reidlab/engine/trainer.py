"""The training loop: a preset + a dataset folder -> a run folder.

``train("pfn-cpu-demo", data="data/synthreid", out="runs/pfn")`` does, per iteration:
index batch from the sampler (PK or random) -> uint8 images gathered from the decode-once
:class:`~reidlab.data.images.ImageCache` -> moved to the model's device -> batched
augmentation there (:class:`~reidlab.data.augment.BatchAugment`, landmarks transformed with
the images for pose-guided models) -> forward under autocast (bf16 on CPU, bf16/fp16 on
CUDA; channels-last) -> :class:`reidlab.losses.JointLoss` with the preset's group weights ->
backward (GradScaler for fp16), optional gradient clipping -> optimiser step. The learning
rate follows the preset's warm-up + step schedule, updated every iteration from the epoch
progress ``epoch + i / iters_in_epoch``.

Run folder (written by rank 0 only)::

    config.json   the exact configuration (preset, seed, data path, dataset layout, classes,
                  device, world size, library versions)
    metrics.csv   one row per epoch: epoch, iters (total so far), complete (False for a
                  stop by max_iters), loss (+ each loss part), lr, img_s, time_s (wall
                  seconds of the epoch's iterations), cpu_s (process CPU seconds of them,
                  all threads), and rank1 / mAP (fractions in [0, 1]) when evaluated
    last.pt       checkpoint after the last epoch end, or mid-epoch every
                  ``ckpt_every_iters`` iterations
    best.pt       copy of the checkpoint with the best mAP so far (when evaluated)

Reproducibility: the augmentation generator and the global torch RNG (dropout) are re-seeded
every iteration from ``(seed, rank, iteration)``, the sampler is a pure function of
``(seed, epoch)``, and checkpoints hold the model, optimiser, scheduler, GradScaler, RNG and
sampler states plus the position inside the epoch and the epoch's running sums. Resuming
(``resume=True``) therefore reproduces the remaining batches exactly: on the CPU with the
same seed, an interrupted-and-resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine import distributed as D
from reidlab.engine.extract import amp_dtype, autocast_context, extract_features, records_keypoints, resolve_device
from reidlab.engine.sampling import RandomBatchSampler
from reidlab.engine.warmstart import apply_init
from reidlab.errors import ConfigError, DatasetError
from reidlab.presets import Preset, apply_overrides, get_preset

__all__ = ["train", "WarmupMultiStep", "build_model", "build_optimizer", "resolve_preset", "METRIC_COLUMNS"]

PathLike = Union[str, os.PathLike]

#: Leading columns of metrics.csv (loss parts follow ``loss`` in the order JointLoss reports them).
METRIC_COLUMNS = ("epoch", "iters", "complete", "loss")
_TAIL_COLUMNS = ("lr", "img_s", "time_s", "cpu_s", "rank1", "mAP")


# ----------------------------------------------------------------- schedule
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


# ----------------------------------------------------------------- builders
def resolve_preset(preset_or_config: Union[str, Preset, Mapping[str, Any]], **overrides: Any) -> Preset:
    """A :class:`Preset` from a name, a Preset, a preset dict or a run's ``config.json`` dict."""
    if isinstance(preset_or_config, Preset):
        return apply_overrides(preset_or_config, overrides)
    if isinstance(preset_or_config, str):
        return get_preset(preset_or_config, **overrides)
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


def _build_loss(model: nn.Module, preset: Preset, num_classes: int):
    from reidlab.losses import JointLoss

    return JointLoss(model.loss_terms, num_classes=num_classes, id_weight=preset.id_weight,
                     metric_weight=preset.metric_weight, label_smoothing=preset.label_smoothing,
                     margin=preset.margin)


def _stream_seed(seed: int, rank: int, step: int, purpose: str) -> int:
    """A 63-bit seed for one random stream (pure function of its arguments)."""
    h = hashlib.blake2b(f"reidlab/{purpose}/{seed}/{rank}/{step}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def _versions() -> dict:
    import reidlab

    out = {"reidlab": str(reidlab.__version__), "torch": str(torch.__version__), "numpy": str(np.__version__),
           "python": platform.python_version()}
    try:
        import torchvision

        out["torchvision"] = str(torchvision.__version__)
    except Exception:  # pragma: no cover
        pass
    return out


def _float_outputs(out: Mapping[str, Any]) -> dict:
    """Cast the model's training outputs to float32 (losses in full precision under autocast)."""
    res: dict[str, Any] = {}
    for key, val in out.items():
        if isinstance(val, Mapping):
            res[key] = {k: (v.float() if isinstance(v, Tensor) and v.is_floating_point() else v) for k, v in val.items()}
        elif isinstance(val, Tensor) and val.is_floating_point():
            res[key] = val.float()
        else:
            res[key] = val
    return res


def _show_progress(progress: bool) -> bool:
    if not progress:
        return False
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # pragma: no cover
        return False


def _write_metrics(path: Path, rows: list[dict]) -> None:
    cols: list[str] = list(METRIC_COLUMNS)
    for row in rows:
        for k in row:
            if k not in cols and k not in _TAIL_COLUMNS:
                cols.append(k)
    cols += list(_TAIL_COLUMNS)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row.get(k) is None or (isinstance(row.get(k), float) and math.isnan(row[k]))
                        else row.get(k)) for k in cols})
    ckpt_io.atomic_write_text(path, buf.getvalue())


def _check_data(data: Optional[PathLike]) -> Path:
    if data is None:
        raise ConfigError("no dataset given: pass data=<dataset folder> (CLI: --data data/synthreid)")
    root = Path(data)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} not found; generate the synthetic set with "
                           f"`reidlab synth --out {root}` or point --data at a dataset root")
    return root


def _evaluate(model: nn.Module, ds, preset: Preset, device: torch.device, caches: dict,
              kps: dict, channels_last: bool) -> dict:
    """Single-query rank-1 / mAP on query vs gallery with the preset's metric and flip TTA."""
    from reidlab.data.images import ImageCache
    from reidlab.engine.runs import eval_api

    pairwise_distance, rank_metrics = eval_api("pairwise_distance"), eval_api("rank_metrics")

    feats = {}
    for split in ("query", "gallery"):
        recs = getattr(ds, split)
        if split not in caches:
            caches[split] = ImageCache(recs, size=preset.input_size)
            if getattr(model, "needs_keypoints", False):
                kps[split] = records_keypoints(recs, preset.input_size)[0]
        feats[split] = extract_features(model, caches[split], batch_size=preset.eval_batch_size,
                                        flip=preset.test_flip, device=device, amp=preset.amp,
                                        keypoints=kps.get(split), channels_last=channels_last)
    dist = pairwise_distance(feats["query"], feats["gallery"], metric=preset.metric)
    res = rank_metrics(dist, [r.pid for r in ds.query], [r.pid for r in ds.gallery],
                       [r.camid for r in ds.query], [r.camid for r in ds.gallery]).as_dict()
    return {"rank1": float(res["rank1"]), "mAP": float(res["mAP"])}


# ----------------------------------------------------------------- train
def train(
    preset_or_config: Union[str, Preset, Mapping[str, Any]],
    data: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    seed: int = 0,
    epochs: Optional[int] = None,
    max_iters: Optional[int] = None,
    device: Union[str, torch.device, None] = None,
    resume: bool = False,
    progress: bool = True,
    dataset: str = "auto",
    cache_dir: Optional[PathLike] = None,
    evaluate: bool = True,
    **overrides: Any,
):
    """Train a model from a preset; returns a :class:`reidlab.engine.runs.Run`.

    Args:
        preset_or_config: preset name (``"pfn-cpu-demo"``), a :class:`Preset`, a preset dict,
            or a run's ``config.json`` dict.
        data: dataset root folder (e.g. ``data/synthreid``).
        out: run folder; must be empty or absent unless ``resume``.
        seed: seed of model initialisation, sampler, augmentation and dropout.
        epochs: override the preset's number of epochs.
        max_iters: stop after this many iterations in total (counted over the whole run,
            resumes included); the stop point is checkpointed and evaluated.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; default CUDA when available.
        resume: continue from ``out/last.pt`` (model, optimiser, scheduler, sampler, RNG and the
            position inside the epoch); the stored config is used. Without a checkpoint in
            ``out`` the run starts from scratch.
        progress: tqdm bar per epoch (only on a terminal or in Jupyter) and one summary line
            per epoch on stdout.
        dataset: dataset layout for :func:`reidlab.data.load_dataset` (``"auto"`` detects it).
        cache_dir: memory-map the decoded training images here (reused by later runs).
        evaluate: run the periodic evaluation (``preset.eval_every``) and the final one.
        **overrides: preset field overrides, e.g. ``lr=1e-3``, ``**{"model_options.backbone_width": 0.25}``.

    Raises:
        ConfigError: unknown preset/field, non-empty ``out`` without ``resume``, a pose-guided
            model without a keypoint file.
        DatasetError: missing or malformed dataset folder.
        CheckpointError: unreadable ``last.pt`` when resuming.
    """
    dev = resolve_device(device)
    info, dev = D.setup(dev)
    try:
        run = _train(preset_or_config, data, out, seed, epochs, max_iters, dev, resume, progress,
                     dataset, cache_dir, evaluate, overrides, info)
    except BaseException:
        if info.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    D.teardown(info)
    return run


def _train(preset_or_config, data, out, seed, epochs, max_iters, dev, resume, progress, dataset,
           cache_dir, evaluate, overrides, info: D.DistInfo):
    from reidlab.data import BatchAugment, ImageCache, PKSampler, load_dataset
    from reidlab.engine.runs import Run, metrics_frame

    if out is None:
        raise ConfigError("no run folder given: pass out=<folder> (CLI: --out runs/NAME)")
    out = Path(out)
    last_path = out / "last.pt"
    state: Optional[dict] = None
    if resume and last_path.is_file():
        state = ckpt_io.load_checkpoint(last_path)
        stored = state["config"]
        preset = Preset.from_dict(stored["preset"])
        if isinstance(preset_or_config, str) and preset_or_config != preset.name:
            raise ConfigError(f"{out} holds a run of preset {preset.name!r}, not {preset_or_config!r}; "
                              "resume with the same preset or choose another --out")
        if overrides:
            preset = apply_overrides(preset, overrides)
        seed = int(stored["seed"])
        data = data if data is not None else stored["data"]
        dataset = stored.get("dataset", dataset)
    else:
        preset = resolve_preset(preset_or_config, **overrides)
        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not resume:
            raise ConfigError(f"run folder {out} is not empty; pass --resume (resume=True) to continue it "
                              "or choose another --out")
    if epochs is not None:
        preset = apply_overrides(preset, {"epochs": int(epochs)})
    root = _check_data(data)
    D.barrier(info)   # every rank has checked the run folder before rank 0 writes into it

    ds = load_dataset(dataset, root, keypoints="auto")
    num_classes = int(ds.num_train_pids)
    train_recs = ds.train

    # ---- model (same init on every rank: seeded, then broadcast)
    torch.manual_seed(seed)
    model = build_model(preset, num_classes)
    # the preset's warm start (reidlab.engine.warmstart); a resumed run has its weights in last.pt
    init_record = state["config"].get("init") if state is not None else apply_init(model, preset, progress=progress)
    needs_kp = bool(getattr(model, "needs_keypoints", False))
    if needs_kp and ds.keypoints_source is None:
        raise ConfigError(f"model {preset.model!r} needs body landmarks but {root / 'keypoints.json'} is missing "
                          "(nor is there a keypoints/ OpenPose folder); regenerate the synthetic set with "
                          "`reidlab synth` or add the file (see data/README.md)")
    model.to(dev)
    if preset.channels_last:
        model.to(memory_format=torch.channels_last)
    D.broadcast_module(model, info)

    # ---- data pipeline
    cache = ImageCache(train_recs, size=preset.input_size, cache_dir=cache_dir)
    pids_t = torch.tensor([r.pid for r in train_recs], dtype=torch.long)
    kp_all = None
    if needs_kp:
        kp_all, n_with = records_keypoints(train_recs, preset.input_size)
        if n_with == 0:
            raise ConfigError(f"model {preset.model!r} needs body landmarks but {ds.keypoints_source} has none for "
                              f"the {len(train_recs)} training images of {root}; regenerate the keypoint file")
    aug = BatchAugment(size=preset.input_size, flip_p=preset.flip_p, pad=preset.pad, erase_p=preset.erase_p)
    gen = torch.Generator()
    if preset.sampler == "pk":
        sampler = PKSampler([r.pid for r in train_recs], p=preset.p, k=preset.k, seed=seed,
                            rank=info.rank, world_size=info.world_size, epoch_def=preset.pk_epoch)
    else:
        sampler = RandomBatchSampler(len(train_recs), batch_size=preset.batch_size, seed=seed,
                                     rank=info.rank, world_size=info.world_size)

    # ---- optimisation
    optimizer = build_optimizer(model, preset)
    sched = WarmupMultiStep(optimizer, preset.milestones, preset.gamma, preset.warmup_epochs, preset.warmup_factor)
    dtype = amp_dtype(preset.amp, dev)
    scaler = torch.amp.GradScaler(dev.type) if dtype == torch.float16 else None
    criterion = _build_loss(model, preset, num_classes)

    # everything is validated: only now does the run folder get written
    config = {
        "preset": preset.to_dict(), "seed": int(seed), "data": str(root.resolve()),
        "dataset": getattr(ds, "name", None) or dataset, "num_classes": num_classes,
        "device": str(dev), "world_size": info.world_size, "max_iters": max_iters,
        "versions": _versions(), "command": list(sys.argv), "init": init_record,
    }
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt_io.atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)

    # ---- resume state
    epoch, it0, g = 0, 0, 0
    history: list[dict] = []
    accum: dict = {}
    best = {"mAP": -1.0, "epoch": None}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if hasattr(sampler, "load_state_dict") and state.get("sampler"):
            sampler.load_state_dict(state["sampler"])
        ckpt_io.restore_rng_state(state["rng"], gen)
        epoch, it0, g = int(state["epoch"]), int(state["iter_in_epoch"]), int(state["global_iter"])
        history = [dict(r) for r in state.get("history", [])]
        accum = dict(state.get("accum") or {})
        best = dict(state.get("best") or best)
        D.broadcast_module(model, info)

    def save(ep: int, it: int, acc: dict, tag_best: bool) -> None:
        if not info.is_main:
            return
        sd = {
            "format": ckpt_io.CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict() if scaler is not None else None,
            "sampler": sampler.state_dict(), "rng": ckpt_io.capture_rng_state(gen),
            "epoch": ep, "iter_in_epoch": it, "global_iter": g, "config": config,
            "history": history, "accum": acc, "best": best,
        }
        ckpt_io.atomic_save(sd, last_path)
        if tag_best:
            ckpt_io.atomic_copy(last_path, out / "best.pt")

    show = info.is_main and _show_progress(progress)
    say = info.is_main and progress
    caches: dict = {}
    kps_eval: dict = {}
    per_rank_batch = preset.images_per_batch // info.world_size
    partial_row: Optional[dict] = None
    stop = max_iters is not None and g >= max_iters

    while epoch < preset.epochs and not stop:
        sampler.set_epoch(epoch)
        batches = (sampler.epoch_batches(epoch) if hasattr(sampler, "epoch_batches") else list(sampler))
        n_it = len(batches) if preset.iters_per_epoch is None else min(len(batches), preset.iters_per_epoch)
        n_it = D.all_reduce_min(n_it, info, dev)
        if n_it == 0:
            raise ConfigError(f"an epoch has no batches: {len(train_recs)} training images, batch "
                              f"{preset.images_per_batch}; lower p/batch_size")
        if it0 == 0:
            accum = {}
        sums: dict[str, float] = dict(accum.get("sums", {}))
        n_done = int(accum.get("n", 0))
        images = int(accum.get("images", 0))
        t_spent = float(accum.get("time", 0.0))
        c_spent = float(accum.get("cpu", 0.0))
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_it, initial=it0, desc=f"epoch {epoch + 1}/{preset.epochs}", unit="it",
                       leave=False, dynamic_ncols=True)
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        i = it0
        while i < n_it:
            idx = torch.as_tensor(batches[i], dtype=torch.long)
            gen.manual_seed(_stream_seed(seed, info.rank, g, "augment"))
            torch.manual_seed(_stream_seed(seed, info.rank, g, "torch"))
            u8 = cache[idx].to(dev, non_blocking=True)
            targets = pids_t[idx].to(dev, non_blocking=True)
            kp = kp_all[idx] if needs_kp else None
            x, kp = aug(u8, keypoints=kp, generator=gen)
            if preset.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            sched.step(epoch + i / n_it)
            with autocast_context(dev, dtype):
                outputs = net(x, keypoints=kp) if needs_kp else net(x)
            loss, parts = criterion(_float_outputs(outputs), targets, keypoints=kp)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if preset.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if preset.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
                optimizer.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise ConfigError(f"loss became {lv} at epoch {epoch + 1}, iteration {i + 1}; lower lr "
                                  f"(now {optimizer.param_groups[-1]['lr']:.3g}) or enable grad_clip")
            sums["loss"] = sums.get("loss", 0.0) + lv
            for k, v in parts.items():
                if k == "total":
                    continue
                sums[k] = sums.get(k, 0.0) + float(v)
            n_done += 1
            images += per_rank_batch
            i += 1
            g += 1
            if bar is not None:
                el = t_spent + time.perf_counter() - t0
                bar.set_postfix(loss=f"{sums['loss'] / n_done:.3f}", lr=f"{optimizer.param_groups[-1]['lr']:.2e}",
                                img_s=f"{images * info.world_size / max(el, 1e-9):.0f}", refresh=False)
                bar.update(1)
            stop = max_iters is not None and g >= max_iters
            if stop:
                break
            if i < n_it and preset.ckpt_every_iters and g % preset.ckpt_every_iters == 0:
                save(epoch, i, {"sums": dict(sums), "n": n_done, "images": images,
                                "time": t_spent + time.perf_counter() - t0,
                                "cpu": c_spent + time.process_time() - c0}, False)
        if bar is not None:
            bar.close()
        t_spent += time.perf_counter() - t0
        c_spent += time.process_time() - c0
        complete = i >= n_it

        # ---- epoch (or stop point) summary, averaged over ranks
        keys = sorted(sums)
        vec = torch.tensor([sums[k] for k in keys] + [float(n_done), float(images)], dtype=torch.float64)
        D.all_reduce_sum(vec, info)
        n_all = max(vec[-2].item(), 1.0)
        row: dict = {"epoch": epoch + 1, "iters": g, "complete": complete}
        row["loss"] = vec[keys.index("loss")].item() / n_all
        for j, k in enumerate(keys):
            if k != "loss":
                row[k] = vec[j].item() / n_all
        row.update(lr=optimizer.param_groups[-1]["lr"], img_s=vec[-1].item() / max(t_spent, 1e-9),
                   time_s=t_spent, cpu_s=c_spent, rank1=float("nan"), mAP=float("nan"))
        last_epoch = complete and epoch + 1 >= preset.epochs
        do_eval = evaluate and (stop or last_epoch or
                                (complete and preset.eval_every and (epoch + 1) % preset.eval_every == 0))
        improved = False
        if do_eval:
            if info.is_main:
                row.update(_evaluate(model, ds, preset, dev, caches, kps_eval, preset.channels_last))
                improved = row["mAP"] > best["mAP"]
                if improved:
                    best = {"mAP": row["mAP"], "epoch": epoch + 1, "iters": g}
                model.train()
            D.barrier(info)
        if complete:
            history.append(row)
            save(epoch + 1, 0, {}, improved)
            epoch, it0 = epoch + 1, 0
            partial_row = None
        else:
            partial_row = row
            save(epoch, i, {"sums": dict(sums), "n": n_done, "images": images, "time": t_spent, "cpu": c_spent},
                 improved)
        if info.is_main:
            _write_metrics(out / "metrics.csv", history + ([partial_row] if partial_row else []))
        if say:
            ev = f"  rank1 {row['rank1']:.3f}  mAP {row['mAP']:.3f}" if do_eval and info.is_main else ""
            tag = "" if complete else f" (stopped at iteration {g})"
            print(f"epoch {epoch if complete else epoch + 1}/{preset.epochs}{tag}: loss {row['loss']:.4f}  "
                  f"lr {row['lr']:.2e}  {row['img_s']:.0f} img/s  {t_spent:.1f} s{ev}", flush=True)

    rows = history + ([partial_row] if partial_row else [])
    # parameters are kept equal by DDP; BN running statistics are per rank: take rank 0's
    D.broadcast_module(model, info, buffers_only=True)
    model.eval()
    return Run(path=out, config=config, preset=preset, model=model, metrics=metrics_frame(rows),
               checkpoint="last", num_classes=num_classes)
