"""Steps 1-3 of a training run (see :mod:`reidlab.engine.trainer`): validate, build, resume.

Nothing here writes to the run folder until :func:`write_config`, which the trainer calls
only after all three steps succeeded: a failed start or a failed ``--resume`` leaves the
folder as it was.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine import distributed as D
from reidlab.engine import preflight, rundir
from reidlab.engine.build import WarmupMultiStep, build_loss, build_model, build_optimizer, resolve_preset
from reidlab.engine.warmstart import apply_init
from reidlab.engine.extract import amp_dtype, records_keypoints
from reidlab.engine.sampling import RandomBatchSampler
from reidlab.errors import CheckpointError, ConfigError, DatasetError
from reidlab.presets import Preset, apply_overrides

__all__ = ["Setup", "Parts", "Progress", "validate", "build", "resume", "write_config", "write_or_explain"]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def _versions() -> dict:
    from reidlab._version import __version__

    out = {"reidlab": str(__version__), "torch": str(torch.__version__), "numpy": str(np.__version__),
           "python": platform.python_version()}
    try:
        import torchvision

        out["torchvision"] = str(torchvision.__version__)
    except Exception:  # pragma: no cover
        pass
    return out


def write_or_explain(path: Path, out: Path, write: Callable[[], Any]) -> None:
    """Run one atomic ``write`` of ``path``; an OS error (disk full, permissions) becomes one
    line saying that the previous version is intact and how to continue."""
    try:
        write()
    except OSError as err:
        raise CheckpointError(f"cannot write {path} ({err.strerror or err}); the previous version is kept: free disk "
                              f"space or fix the folder, then continue with `{rundir.resume_command(out)}`") from None


def _check_data(data: Optional[PathLike]) -> Path:
    if data is None:
        raise ConfigError("no dataset given: pass data=<dataset folder> (CLI: --data data/synthreid)")
    root = Path(data)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} not found; generate the synthetic set with "
                           f"`reidlab synth --out {root}` or point --data at a dataset root")
    return root


def _check_counts(max_iters: Any, epochs: Any) -> None:
    for name, value, what in (("max_iters", max_iters, "iterations"), ("epochs", epochs, "epochs")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name}={value!r} is invalid; expected a positive number of {what} "
                              f"(or leave it out for the preset's schedule)")


# ----------------------------------------------------------------- step 1: validate
@dataclass
class Setup:
    """Step 1's result: everything decided and checked; nothing built, nothing written."""

    preset: Preset
    seed: int
    out: Path
    root: Path
    ds: Any
    dataset: str
    num_classes: int
    max_iters: Optional[int]
    evaluate: bool
    state: Optional[dict] = None          # the checkpoint to continue from
    resumed_from: Optional[Path] = None


def _check_compatible(state: dict, path: Path, preset: Preset, num_classes: int, root: Path) -> None:
    """A checkpoint continues only the run it belongs to: same identity count and network."""
    stored = state["config"]
    if int(stored["num_classes"]) != num_classes:
        raise CheckpointError(f"{path}: trained on {stored['num_classes']} identities but {root} has {num_classes} "
                              f"training identities; resume with the run's dataset (--data {stored['data']}) "
                              "or train into a new --out")
    sp = stored["preset"]
    for key in ("model", "backbone", "model_options"):
        if sp.get(key) != getattr(preset, key):
            raise CheckpointError(f"{path}: holds a run with {key}={sp.get(key)!r} but the settings now give "
                                  f"{key}={getattr(preset, key)!r}; drop that --set override to resume, "
                                  "or train into a new --out")


def validate(preset_or_config, data, out, seed, epochs, max_iters, resume, dataset, evaluate,
              overrides) -> Setup:
    """Step 1: check the arguments, the run folder, the checkpoint to resume from and the
    dataset; raises (one line) before anything is built or written."""
    from reidlab.data import load_dataset

    _check_counts(max_iters, epochs)
    if out is None:
        raise ConfigError("no run folder given: pass out=<folder> (CLI: --out runs/NAME)")
    out = Path(out)
    rundir.check_out_folder(out)
    resuming = resume is True or isinstance(resume, (str, os.PathLike))
    found = rundir.find_resume_checkpoint(out, resume) if resuming else None
    state, path = None, None
    if found is None:
        if not resuming:
            rundir.check_fresh_folder(out)
        if preset_or_config is None:
            raise ConfigError("no preset given: pass a preset name (CLI: --preset NAME; see --list-presets)")
        preset = resolve_preset(preset_or_config, **overrides)
    else:
        path, state = found
        stored = state["config"]
        preset = Preset.from_dict(stored["preset"])
        if isinstance(preset_or_config, str) and preset_or_config != preset.name:
            raise ConfigError(f"{out} holds a run of preset {preset.name!r}, not {preset_or_config!r}; "
                              "resume with the same preset or choose another --out")
        preset = apply_overrides(preset, overrides)
        seed = int(stored["seed"])
        data = data if data is not None else stored["data"]
        dataset = stored.get("dataset", dataset)
    if epochs is not None:
        preset = apply_overrides(preset, {"epochs": int(epochs)})
    root = _check_data(data)
    ds = load_dataset(dataset, root, keypoints="auto")
    num_classes = preflight.check_train_split(ds)
    if evaluate:
        preflight.check_test_splits(ds)
    if state is not None:
        _check_compatible(state, path, preset, num_classes, root)
    return Setup(preset=preset, seed=int(seed), out=out, root=root, ds=ds,
                  dataset=getattr(ds, "name", None) or dataset, num_classes=num_classes, max_iters=max_iters,
                  evaluate=bool(evaluate), state=state, resumed_from=path)


# ----------------------------------------------------------------- step 2: build
@dataclass
class Parts:
    """Step 2's result: the network, its optimisation and the data pipeline."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    sched: WarmupMultiStep
    scaler: Optional[Any]
    dtype: Optional[torch.dtype]
    criterion: nn.Module
    sampler: Any
    gen: torch.Generator
    aug: Any
    cache: Any                           # ImageCache of the training split
    pids: Tensor
    keypoints: Optional[Tensor]          # [N, 18, 3] in input pixels, pose-guided models only
    eval_sets: dict                      # split -> (ImageCache, keypoints or None), rank 0 when evaluating
    init: Optional[dict] = None          # the warm start's record for config.json (engine.warmstart)
    net: Optional[nn.Module] = None      # the model or its DDP wrapper


def build(setup: Setup, dev: torch.device, info: D.DistInfo, cache_dir: Optional[PathLike],
          progress: bool = False) -> Parts:
    """Step 2: model (same seeded init on every rank, then the preset's warm start; a resumed
    run takes its weights from the checkpoint instead), every image decoded up front (train,
    and query + gallery when evaluating), keypoints checked, sampler, optimiser, schedule, loss."""
    from reidlab.data import BatchAugment, ImageCache, PKSampler

    preset, ds = setup.preset, setup.ds
    torch.manual_seed(setup.seed)
    model = build_model(preset, setup.num_classes)
    if setup.state is not None:
        init_record = setup.state["config"].get("init")
    else:
        init_record = apply_init(model, preset, progress=progress and info.is_main)
    needs_kp = bool(getattr(model, "needs_keypoints", False))
    if needs_kp and ds.keypoints_source is None:
        raise ConfigError(f"model {preset.model!r} needs body landmarks but {setup.root / 'keypoints.json'} is missing "
                          "(nor is there a keypoints/ OpenPose folder); regenerate the synthetic set with "
                          "`reidlab synth` or add the file (see data/README.md)")
    model.to(dev)
    if preset.channels_last:
        model.to(memory_format=torch.channels_last)
    D.broadcast_module(model, info)
    kp_all = None
    if needs_kp:
        kp_all, n_with = records_keypoints(ds.train, preset.input_size)
        if n_with == 0:
            raise ConfigError(f"model {preset.model!r} needs body landmarks but {ds.keypoints_source} has none for "
                              f"the {len(ds.train)} training images of {setup.root}; regenerate the keypoint file")
    cache = ImageCache(ds.train, size=preset.input_size, cache_dir=cache_dir)
    eval_sets: dict = {}
    if setup.evaluate and info.is_main:
        for split in ("query", "gallery"):
            recs = getattr(ds, split)
            kp = records_keypoints(recs, preset.input_size)[0] if needs_kp else None
            eval_sets[split] = (ImageCache(recs, size=preset.input_size), kp)
    pids = [r.pid for r in ds.train]
    if preset.sampler == "pk":
        sampler = PKSampler(pids, p=preset.p, k=preset.k, seed=setup.seed, rank=info.rank, world_size=info.world_size,
                            epoch_def=preset.pk_epoch)
    else:
        sampler = RandomBatchSampler(len(pids), batch_size=preset.batch_size, seed=setup.seed, rank=info.rank,
                                     world_size=info.world_size)
    optimizer = build_optimizer(model, preset)
    dtype = amp_dtype(preset.amp, dev)
    return Parts(model=model, optimizer=optimizer, sched=WarmupMultiStep.from_preset(optimizer, preset),
                  scaler=torch.amp.GradScaler(dev.type) if dtype == torch.float16 else None, dtype=dtype,
                  criterion=build_loss(model, preset, setup.num_classes), sampler=sampler, gen=torch.Generator(),
                  aug=BatchAugment(size=preset.input_size, flip_p=preset.flip_p, pad=preset.pad,
                                   erase_p=preset.erase_p),
                  cache=cache, pids=torch.tensor(pids, dtype=torch.long), keypoints=kp_all, eval_sets=eval_sets,
                  init=init_record)


# ----------------------------------------------------------------- step 3: resume
@dataclass
class Progress:
    """Where the run is: counters, per-epoch rows and the running sums of the current epoch."""

    epoch: int = 0                       # epochs completed
    it0: int = 0                         # iterations done inside the current epoch
    g: int = 0                           # iterations done in total
    history: list = field(default_factory=list)      # one row per completed epoch
    partial: Optional[dict] = None       # the row of an epoch stopped by max_iters
    accum: dict = field(default_factory=dict)        # running sums of the current epoch
    best: dict = field(default_factory=lambda: {"mAP": -1.0, "epoch": None})
    eval_pending: bool = False           # the last row still awaits its evaluation
    saved: Optional[tuple] = None        # (epoch, it0, g) of the last checkpoint written or loaded


def _load_weights(model: nn.Module, weights: dict, path: Path) -> None:
    """``load_state_dict`` with a one-line error naming the first parameter that does not fit."""
    own = model.state_dict()
    shape = [k for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in weights]
    extra = [k for k in weights if k not in own]
    if shape or missing or extra:
        if shape:
            what = f"{shape[0]} is {list(weights[shape[0]].shape)} there, {list(own[shape[0]].shape)} here"
        elif missing:
            what = f"{missing[0]} is missing from it"
        else:
            what = f"it has {extra[0]}, which this model does not"
        raise CheckpointError(f"{path}: its weights do not fit the model built now ({what}); resume with the run's "
                              "own settings and data, or train into a new --out")
    model.load_state_dict(weights)


def resume(setup: Setup, parts: Parts, info: D.DistInfo) -> Progress:
    """Step 3: restore the checkpoint's states and counters into the built parts (a fresh
    run gets zeroed counters); one-line :class:`CheckpointError` when a state does not fit."""
    state, prog = setup.state, Progress()
    if state is None:
        return prog
    _load_weights(parts.model, state["model"], setup.resumed_from)
    try:
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.sched.load_state_dict(state["scheduler"])
        if parts.scaler is not None and state.get("scaler"):
            parts.scaler.load_state_dict(state["scaler"])
        if state.get("sampler"):
            parts.sampler.load_state_dict(state["sampler"])
    except (ValueError, KeyError, TypeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{setup.resumed_from}: its training state does not fit this run ({msg}); resume with "
                              "the run's own settings, or train into a new --out") from None
    ckpt_io.restore_rng_state(state["rng"], parts.gen)
    prog.epoch, prog.it0, prog.g = int(state["epoch"]), int(state["iter_in_epoch"]), int(state["global_iter"])
    prog.history = [dict(r) for r in state.get("history", [])]
    prog.partial = dict(state["partial"]) if state.get("partial") else None
    prog.accum = dict(state.get("accum") or {})
    prog.best = dict(state.get("best") or prog.best)
    prog.eval_pending = bool(state.get("eval_pending", False))
    prog.saved = (prog.epoch, prog.it0, prog.g)
    D.broadcast_module(parts.model, info)
    logger.info("resuming %s from %s (iteration %d)", setup.out, setup.resumed_from, prog.g)
    return prog


def write_config(setup: Setup, dev: torch.device, info: D.DistInfo, init: Optional[dict] = None) -> dict:
    """The first write of a run: ``config.json``, after every check (rank 0); ``init`` is
    the warm start's record (:attr:`Parts.init`)."""
    config = {
        "preset": setup.preset.to_dict(), "seed": setup.seed, "data": str(setup.root.resolve()),
        "dataset": setup.dataset, "num_classes": setup.num_classes, "device": str(dev),
        "world_size": info.world_size, "max_iters": setup.max_iters, "versions": _versions(),
        "command": list(sys.argv), "init": init,
    }
    D.barrier(info)   # every rank has validated the folder before rank 0 writes into it
    if info.is_main:
        path = setup.out / "config.json"
        write_or_explain(path, setup.out, lambda: ckpt_io.atomic_write_text(path, json.dumps(config, indent=2) + "\n"))
    return config
