"""The training loop: a preset + a dataset folder -> a run folder.

``train("pfn-cpu-demo", data="data/synthreid", out="runs/pfn")`` runs in named steps:

1. **validate** (:func:`reidlab.engine.prepare.validate`): arguments, the run folder (:mod:`reidlab.engine.rundir`),
   the checkpoint to resume from and its compatibility with the data, the dataset (names,
   labels, ranges: :mod:`reidlab.engine.preflight`). Nothing is built or written yet.
2. **build** (:func:`~reidlab.engine.prepare.build`): the model, every training image decoded (and the query /
   gallery images when evaluating: one error lists all unreadable files), keypoints checked,
   sampler, optimiser, schedule, loss.
3. **resume** (:func:`~reidlab.engine.prepare.resume`): the checkpoint's weights, optimiser, schedule, GradScaler,
   sampler and RNG states and counters, refused in one line if they do not fit.
   Only now is ``config.json`` written: a failed start or a failed ``--resume`` changes nothing.
4. **one epoch** (:meth:`_Loop.run_epoch`, :meth:`_Loop.train_step`): per iteration, index
   batch from the sampler (PK or random) -> uint8 images from the decode-once
   :class:`~reidlab.data.images.ImageCache` -> the model's device -> batched augmentation
   (landmarks transformed with the images for pose-guided models) -> forward under autocast
   (bf16 on CPU, bf16/fp16 on CUDA; channels-last) -> :class:`reidlab.losses.JointLoss` ->
   backward (GradScaler for fp16), optional gradient clipping -> optimiser step. The learning
   rate follows the warm-up + step schedule, set every iteration from ``epoch + i / iters``.
5. **checkpoint** (:meth:`_Loop.checkpoint`) at the epoch end (or the ``max_iters`` stop, or
   every ``ckpt_every_iters``), **before** any evaluation, so a failing evaluation loses no
   training (the checkpoint marks the evaluation as pending; a resume runs it first).
6. **evaluate** (:meth:`_Loop.evaluate_pending`): single-query rank-1 / mAP, then a second
   checkpoint with the result (copied to ``best.pt`` when the mAP improved).
7. **log** (:meth:`_Loop.log_epoch`): one line per epoch on the ``reidlab`` logger (INFO).
   With ``preset.tensorboard``, every iteration's loss terms and lr and every evaluation's
   metrics also go to TensorBoard event files in ``tb/`` (:mod:`reidlab.engine.tblog`; the
   loop's ``scalars`` logger, a no-op otherwise).

Run folder (written by rank 0 only, every file atomically)::

    config.json   the exact configuration (preset, seed, data path, dataset layout, classes,
                  device, world size, library versions)
    metrics.csv   one row per epoch: epoch, iters (total so far), complete (False for a
                  stop by max_iters), loss (+ each loss part), lr, img_s, time_s (wall
                  seconds of the epoch's iterations), cpu_s (process CPU seconds of them,
                  all threads), and rank1 / mAP (fractions in [0, 1]) when evaluated
    last.pt       the latest checkpoint; last.prev.pt  the one before it (fallback)
    best.pt       copy of the checkpoint with the best mAP so far (when evaluated)
    tb/           TensorBoard event files (only with ``preset.tensorboard``; a view, not the record)

Reproducibility: the augmentation generator and the global torch RNG (dropout) are re-seeded
every iteration from ``(seed, rank, iteration)``, the sampler is a pure function of
``(seed, epoch)``, and checkpoints hold the model, optimiser, scheduler, GradScaler, RNG and
sampler states plus the position inside the epoch and the epoch's running sums. Resuming
(``resume=True``) therefore reproduces the remaining batches exactly: on the CPU with the
same seed, an interrupted-and-resumed run ends with the same weights as an uninterrupted one.
Ctrl-C ends with :class:`reidlab.errors.Interrupted`: one line naming the last checkpoint and
the command that resumes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any, Mapping, Optional, Union

import torch
from torch import Tensor, nn

from reidlab.device import resolve_device
from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine import distributed as D
from reidlab.engine import prepare, rundir
from reidlab.engine.build import WarmupMultiStep, build_model, build_optimizer, resolve_preset  # noqa: F401  (public here too)
from reidlab.engine.extract import autocast_context, extract_features
from reidlab.engine.prepare import Parts, Progress, Setup, write_or_explain
from reidlab.engine.rundir import METRIC_COLUMNS
from reidlab.engine.tblog import NullLogger, ScalarLogger, make_logger, require_tensorboard
from reidlab.errors import ConfigError, Interrupted
from reidlab.presets import Preset

__all__ = ["train", "WarmupMultiStep", "build_model", "build_optimizer", "resolve_preset", "METRIC_COLUMNS"]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


# ----------------------------------------------------------------- small helpers
def _stream_seed(seed: int, rank: int, step: int, purpose: str) -> int:
    """A 63-bit seed for one random stream (pure function of its arguments)."""
    h = hashlib.blake2b(f"reidlab/{purpose}/{seed}/{rank}/{step}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


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


# ----------------------------------------------------------------- evaluation
def _evaluate(model: nn.Module, preset: Preset, ds, device: torch.device, eval_sets: dict) -> dict:
    """Single-query rank-1 / mAP (fractions) of query vs gallery with the preset's metric and
    flip TTA, on the images decoded in step 2."""
    from reidlab.eval import pairwise_distance, rank_metrics

    feats = {split: extract_features(model, cache, batch_size=preset.eval_batch_size, flip=preset.test_flip,
                                     device=device, amp=preset.amp, keypoints=kp, channels_last=preset.channels_last)
             for split, (cache, kp) in eval_sets.items()}
    dist = pairwise_distance(feats["query"], feats["gallery"], metric=preset.metric)
    res = rank_metrics(dist, [r.pid for r in ds.query], [r.pid for r in ds.gallery],
                       [r.camid for r in ds.query], [r.camid for r in ds.gallery]).as_dict()
    return {"rank1": float(res["rank1"]), "mAP": float(res["mAP"])}


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C that arrives inside the block until the block is done (a checkpoint write
    and its bookkeeping finish, so the interrupt message names the file really on disk)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):   # not ours to handle
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


# ----------------------------------------------------------------- steps 4-7: the loop
class _Loop:
    """Epochs of iterations (step 4), checkpoints (5), evaluations (6) and log lines (7) over
    the parts built in step 2, starting from the progress restored in step 3."""

    def __init__(self, setup: Setup, parts: Parts, prog: Progress, dev: torch.device, info: D.DistInfo,
                 config: dict, progress: bool, tracker: dict, scalars: Optional[ScalarLogger] = None) -> None:
        self.setup, self.parts, self.prog, self.dev, self.info = setup, parts, prog, dev, info
        self.preset, self.config, self.tracker = setup.preset, config, tracker
        self.scalars: ScalarLogger = scalars if scalars is not None else NullLogger()   # TensorBoard, or nothing
        self.show_bar = info.is_main and _show_progress(progress)
        self.per_rank_batch = self.preset.images_per_batch // info.world_size

    # -- control
    def stopped(self) -> bool:
        """True once ``max_iters`` iterations are done in total."""
        return self.setup.max_iters is not None and self.prog.g >= self.setup.max_iters

    def run(self) -> None:
        """A pending evaluation first (its run was stopped during one), then the epochs left."""
        if self.prog.eval_pending and self.setup.evaluate and (self.prog.history or self.prog.partial):
            self.evaluate_pending()
        while self.prog.epoch < self.preset.epochs and not self.stopped():
            row, complete = self.run_epoch()
            self.end_epoch(row, complete)

    # -- step 4
    def run_epoch(self) -> tuple[dict, bool]:
        """Step 4: the current epoch's iterations from the saved position to its end or the
        ``max_iters`` stop, with mid-epoch checkpoints every ``ckpt_every_iters``.
        Returns the epoch's row (losses averaged over ranks) and whether the epoch completed."""
        p, prog, parts = self.preset, self.prog, self.parts
        prog.partial = None   # a row of an earlier max_iters stop in this epoch is recomputed at its end
        parts.sampler.set_epoch(prog.epoch)
        batches = parts.sampler.epoch_batches(prog.epoch)
        n_it = len(batches) if p.iters_per_epoch is None else min(len(batches), p.iters_per_epoch)
        n_it = D.all_reduce_min(n_it, self.info, self.dev)
        if n_it == 0:
            raise ConfigError(f"an epoch has no batches: {len(parts.pids)} training images, batch "
                              f"{p.images_per_batch}; lower p/batch_size")
        if prog.it0 == 0:
            prog.accum = {}
        acc = {"sums": dict(prog.accum.get("sums", {})), "n": int(prog.accum.get("n", 0)),
               "images": int(prog.accum.get("images", 0)), "time": float(prog.accum.get("time", 0.0)),
               "cpu": float(prog.accum.get("cpu", 0.0))}
        bar = self._bar(n_it)
        parts.model.train()
        t0, c0 = time.perf_counter(), time.process_time()

        def snapshot() -> dict:
            return dict(acc, sums=dict(acc["sums"]), time=acc["time"] + time.perf_counter() - t0,
                        cpu=acc["cpu"] + time.process_time() - c0)

        i = prog.it0
        while i < n_it:
            loss, parts_ = self.train_step(batches[i], prog.epoch + i / n_it, i)
            acc["sums"]["loss"] = acc["sums"].get("loss", 0.0) + loss
            for k, v in parts_.items():
                if k != "total":
                    acc["sums"][k] = acc["sums"].get(k, 0.0) + float(v)
            acc["n"] += 1
            acc["images"] += self.per_rank_batch
            i += 1
            prog.g += 1
            self.scalars.log_iteration(prog.g, {"loss": loss, **{k: float(v) for k, v in parts_.items() if k != "total"},
                                                "lr": parts.optimizer.param_groups[-1]["lr"]})
            if bar is not None:
                el = snapshot()["time"]
                bar.set_postfix(loss=f"{acc['sums']['loss'] / acc['n']:.3f}",
                                lr=f"{parts.optimizer.param_groups[-1]['lr']:.2e}",
                                img_s=f"{acc['images'] * self.info.world_size / max(el, 1e-9):.0f}", refresh=False)
                bar.update(1)
            if self.stopped():
                break
            if i < n_it and p.ckpt_every_iters and prog.g % p.ckpt_every_iters == 0:
                prog.it0, prog.accum = i, snapshot()
                self.checkpoint()
        if bar is not None:
            bar.close()
        prog.it0, prog.accum = i, snapshot()
        return self.epoch_row(), i >= n_it

    def _bar(self, n_it: int):
        if not self.show_bar:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=n_it, initial=self.prog.it0, desc=f"epoch {self.prog.epoch + 1}/{self.preset.epochs}",
                    unit="it", leave=False, dynamic_ncols=True)

    def train_step(self, batch: list, t: float, i: int) -> tuple[float, dict]:
        """One iteration at fractional epoch ``t`` (``i``: iteration in the epoch, for messages):
        seeded augmentation, forward under autocast, loss, backward, optimiser step.
        Returns the loss value and its parts."""
        parts, p, prog = self.parts, self.preset, self.prog
        idx = torch.as_tensor(batch, dtype=torch.long)
        parts.gen.manual_seed(_stream_seed(self.setup.seed, self.info.rank, prog.g, "augment"))
        torch.manual_seed(_stream_seed(self.setup.seed, self.info.rank, prog.g, "torch"))
        u8 = parts.cache[idx].to(self.dev, non_blocking=True)
        targets = parts.pids[idx].to(self.dev, non_blocking=True)
        kp = parts.keypoints[idx] if parts.keypoints is not None else None
        x, kp = parts.aug(u8, keypoints=kp, generator=parts.gen)
        if p.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        parts.sched.step(t)
        with autocast_context(self.dev, parts.dtype):
            outputs = parts.net(x, keypoints=kp)
        loss, loss_parts = parts.criterion(_float_outputs(outputs), targets, keypoints=kp)
        parts.optimizer.zero_grad(set_to_none=True)
        if parts.scaler is not None:
            parts.scaler.scale(loss).backward()
            if p.grad_clip:
                parts.scaler.unscale_(parts.optimizer)
                nn.utils.clip_grad_norm_(parts.model.parameters(), p.grad_clip)
            parts.scaler.step(parts.optimizer)
            parts.scaler.update()
        else:
            loss.backward()
            if p.grad_clip:
                nn.utils.clip_grad_norm_(parts.model.parameters(), p.grad_clip)
            parts.optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ConfigError(f"loss became {value} at epoch {prog.epoch + 1}, iteration {i + 1}; lower lr "
                              f"(now {parts.optimizer.param_groups[-1]['lr']:.3g}) or enable grad_clip")
        return value, loss_parts

    def epoch_row(self) -> dict:
        """The metrics.csv row of the current epoch so far: losses averaged over iterations and
        ranks, lr, throughput, times; rank1 / mAP empty until evaluated."""
        acc, prog = self.prog.accum, self.prog
        sums = acc.get("sums", {})
        keys = sorted(sums)
        vec = torch.tensor([sums[k] for k in keys] + [float(acc.get("n", 0)), float(acc.get("images", 0))],
                           dtype=torch.float64)
        D.all_reduce_sum(vec, self.info)
        n_all = max(vec[-2].item(), 1.0)
        row: dict = {"epoch": prog.epoch + 1, "iters": prog.g, "complete": False, "loss": float("nan")}
        for j, k in enumerate(keys):
            row[k] = vec[j].item() / n_all
        t = float(acc.get("time", 0.0))
        row.update(lr=self.parts.optimizer.param_groups[-1]["lr"], img_s=vec[-1].item() / max(t, 1e-9),
                   time_s=t, cpu_s=float(acc.get("cpu", 0.0)), rank1=float("nan"), mAP=float("nan"))
        return row

    # -- steps 5-7
    def end_epoch(self, row: dict, complete: bool) -> None:
        """At an epoch end (or the max_iters stop): record the row, checkpoint (step 5), then
        evaluate if due (step 6), then log (step 7)."""
        p, prog = self.preset, self.prog
        row["complete"] = complete
        due = complete and (prog.epoch + 1 >= p.epochs or (p.eval_every and (prog.epoch + 1) % p.eval_every == 0))
        do_eval = self.setup.evaluate and (self.stopped() or bool(due))
        if complete:
            prog.history.append(row)
            prog.epoch, prog.it0, prog.accum, prog.partial = prog.epoch + 1, 0, {}, None
        else:
            prog.partial = row
        prog.eval_pending = do_eval
        self.checkpoint()
        self.write_metrics()
        if do_eval:
            self.evaluate_pending()
        self.log_epoch(row)

    def evaluate_pending(self) -> None:
        """Step 6: evaluate the last row on rank 0, record the best mAP, and checkpoint again
        (``best.pt`` when the mAP improved)."""
        prog = self.prog
        row = prog.partial if prog.partial is not None else prog.history[-1]
        improved = False
        if self.info.is_main:
            row.update(_evaluate(self.parts.model, self.preset, self.setup.ds, self.dev, self.parts.eval_sets))
            self.scalars.log_evaluation(row["iters"], {"rank1": row["rank1"], "mAP": row["mAP"]})
            improved = row["mAP"] > prog.best["mAP"]
            if improved:
                prog.best = {"mAP": row["mAP"], "epoch": row["epoch"], "iters": row["iters"]}
            self.parts.model.train()
        prog.eval_pending = False
        self.checkpoint(tag_best=improved)
        self.write_metrics()
        D.barrier(self.info)

    def checkpoint(self, tag_best: bool = False) -> None:
        """Step 5: write ``last.pt`` atomically (rank 0), keeping the replaced one as
        ``last.prev.pt``; copy it to ``best.pt`` when ``tag_best``. A failed write (disk
        full) is one line and leaves the previous files in place."""
        if not self.info.is_main:
            return
        parts, prog, out = self.parts, self.prog, self.setup.out
        state = {
            "format": ckpt_io.CHECKPOINT_FORMAT, "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(), "scheduler": parts.sched.state_dict(),
            "scaler": parts.scaler.state_dict() if parts.scaler is not None else None,
            "sampler": parts.sampler.state_dict(), "rng": ckpt_io.capture_rng_state(parts.gen),
            "epoch": prog.epoch, "iter_in_epoch": prog.it0, "global_iter": prog.g, "config": self.config,
            "history": prog.history, "partial": prog.partial, "accum": prog.accum, "best": prog.best,
            "eval_pending": prog.eval_pending,
        }
        last, best = out / "last.pt", out / "best.pt"
        with _sigint_deferred():
            write_or_explain(last, out, lambda: ckpt_io.atomic_save(state, last, keep_previous=True))
            prog.saved = self.tracker["saved"] = (prog.epoch, prog.it0, prog.g)
            if tag_best:
                write_or_explain(best, out, lambda: ckpt_io.atomic_copy(last, best))

    def rows(self) -> list[dict]:
        return self.prog.history + ([self.prog.partial] if self.prog.partial else [])

    def write_metrics(self) -> None:
        """``metrics.csv`` from the rows so far (rank 0; always the rows of ``last.pt``)."""
        if self.info.is_main:
            path = self.setup.out / "metrics.csv"
            write_or_explain(path, self.setup.out, lambda: rundir.write_metrics(path, self.rows()))

    def log_epoch(self, row: dict) -> None:
        """Step 7: one INFO line per epoch (rank 0)."""
        if not self.info.is_main:
            return
        ev = "" if math.isnan(row["mAP"]) else f"  rank1 {row['rank1']:.3f}  mAP {row['mAP']:.3f}"
        tag = "" if row["complete"] else f" (stopped at iteration {row['iters']})"
        logger.info("epoch %d/%d%s: loss %.4f  lr %.2e  %.0f img/s  %.1f s%s", row["epoch"], self.preset.epochs, tag,
                    row["loss"], row["lr"], row["img_s"], row["time_s"], ev)

    def result(self):
        """The :class:`~reidlab.engine.runs.Run` (model in eval mode, rank 0's BN statistics)."""
        from reidlab.engine.runs import Run, metrics_frame

        D.broadcast_module(self.parts.model, self.info, buffers_only=True)
        self.parts.model.eval()
        return Run(path=self.setup.out, config=self.config, preset=self.preset, model=self.parts.model,
                   metrics=metrics_frame(self.rows()), checkpoint="last", num_classes=self.setup.num_classes)


# ----------------------------------------------------------------- train
def train(
    preset_or_config: Union[str, Preset, Mapping[str, Any], None],
    data: Optional[PathLike] = None,
    out: Optional[PathLike] = None,
    seed: int = 0,
    epochs: Optional[int] = None,
    max_iters: Optional[int] = None,
    device: Union[str, torch.device, None] = None,
    resume: Union[bool, PathLike] = False,
    progress: bool = True,
    dataset: str = "auto",
    cache_dir: Optional[PathLike] = None,
    evaluate: bool = True,
    **overrides: Any,
):
    """Train a model from a preset; returns a :class:`reidlab.engine.runs.Run`.

    Args:
        preset_or_config: preset name (``"pfn-cpu-demo"``), a :class:`Preset`, a preset dict,
            or a run's ``config.json`` dict; ``None`` when resuming (the run's own preset).
        data: dataset root folder (e.g. ``data/synthreid``); default when resuming: the run's.
        out: run folder; must be empty or absent unless ``resume``.
        seed: seed of model initialisation, sampler, augmentation and dropout.
        epochs: override the preset's number of epochs (>= 1).
        max_iters: stop after this many iterations in total (>= 1; counted over the whole
            run, resumes included); the stop point is checkpointed and evaluated.
        device: ``"auto"``/``None`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``
            (:func:`reidlab.device.resolve_device`).
        resume: ``True``: continue the run in ``out`` from ``last.pt`` (or ``last.prev.pt``
            when ``last.pt`` cannot be read) with the stored config; a new or empty ``out``
            starts fresh with a warning; a run folder without a readable checkpoint is an
            error. A path: continue from that checkpoint (e.g. ``runs/x/best.pt``).
        progress: tqdm bar per epoch (only on a terminal or in Jupyter). The per-epoch summary
            lines go to the ``reidlab`` logger (INFO; :func:`reidlab.log.log_to_console`).
        dataset: dataset layout for :func:`reidlab.data.load_dataset` (``"auto"`` detects it).
        cache_dir: memory-map the decoded training images here (reused by later runs).
        evaluate: run the periodic evaluation (``preset.eval_every``) and the final one.
        **overrides: preset field overrides, e.g. ``lr=1e-3``, ``**{"model_options.backbone_width": 0.25}``.

    Raises:
        ConfigError: unknown preset/field, a field of the wrong type, a non-empty ``out``
            without ``resume``, an ``out`` that cannot be a folder, a bad device, a
            pose-guided model without a keypoint file.
        DatasetError: missing or malformed dataset folder, unreadable images (all listed
            at once), fewer than 2 training identities, no query with a true match.
        CheckpointError: nothing readable to resume, a checkpoint that does not fit the
            data or settings, a failed write (disk full).
        Interrupted: Ctrl-C; its message names the last checkpoint and the resume command.
    """
    dev = resolve_device(device)
    info, dev = D.setup(dev)
    tracker: dict = {"out": None, "saved": None}
    try:
        run = _train(preset_or_config, data, out, seed, epochs, max_iters, dev, resume, progress,
                     dataset, cache_dir, evaluate, overrides, info, tracker)
    except BaseException as err:
        if info.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if isinstance(err, KeyboardInterrupt) and not isinstance(err, Interrupted):
            raise Interrupted(_interrupt_message(tracker)) from None
        raise
    D.teardown(info)
    return run


def _interrupt_message(tracker: dict) -> str:
    """One line for Ctrl-C: where the last checkpoint is and how to resume."""
    out, saved = tracker.get("out"), tracker.get("saved")
    if out is None:
        return "interrupted before training started; nothing was written"
    if saved is None:
        return (f"interrupted before the first checkpoint; nothing to resume yet: `{rundir.resume_command(out)}` "
                "starts the run afresh")
    epoch, it0, g = saved
    where = f"in epoch {epoch + 1}" if it0 else f"end of epoch {epoch}"
    return (f"interrupted; the last checkpoint is {out / 'last.pt'} (iteration {g} of the run, {where}): "
            f"resume with `{rundir.resume_command(out)}`")


def _train(preset_or_config, data, out, seed, epochs, max_iters, dev, resume, progress, dataset,
           cache_dir, evaluate, overrides, info: D.DistInfo, tracker: dict):
    """Steps 1-7 in order (see the module docstring); ``tracker`` records the run folder and
    the last checkpoint for the Ctrl-C message."""
    setup = prepare.validate(preset_or_config, data, out, seed, epochs, max_iters, resume, dataset, evaluate, overrides)
    tracker["out"] = setup.out
    if setup.preset.tensorboard:
        require_tensorboard()   # step 1: before anything is built or written
    parts = prepare.build(setup, dev, info, cache_dir, progress=progress)
    prog = prepare.resume(setup, parts, info)
    tracker["saved"] = prog.saved
    config = prepare.write_config(setup, dev, info, init=parts.init)
    parts.net = parts.model
    if info.enabled:
        parts.net = nn.parallel.DistributedDataParallel(
            parts.model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)
    scalars = make_logger(setup.preset.tensorboard, setup.out, info.is_main)
    loop = _Loop(setup, parts, prog, dev, info, config, progress, tracker, scalars)
    try:
        loop.run()
    finally:
        scalars.close()
    return loop.result()
