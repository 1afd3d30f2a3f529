"""Run folders for notebooks: load a trained model, evaluate it through the one evaluation path.

``run = load_run("runs/pfn")`` rebuilds the model from ``config.json`` and loads ``best.pt``
(or ``last.pt``). ``ev = run_evaluation(run)`` gives the :class:`reidlab.eval.Evaluation` of its
test features (extracted through the run's content-keyed feature cache,
:mod:`reidlab.engine.feature_cache`; spatial-temporal model fitted on the train split);
``evaluate_run(run, rerank=True, st=True)`` is ``ev.table(...)`` for the settings the flags
select. Rows are settings (``single-query``, ``rerank``, ``st``, ``st+rerank``, ``qe``,
``multi-query``, ``multi-query+rerank`` or any ``+``-combination), columns CMC rank-1/5/10, mAP
and mINP as fractions in [0, 1] (standard AP, the junk rule) plus valid / skipped query counts.
The distances of each setting are defined once, in :mod:`reidlab.eval.protocol`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from reidlab.data import load_dataset
from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine.feature_cache import cached_features, state_sha256
from reidlab.errors import CheckpointError, ConfigError, DatasetError
from reidlab.eval import SETTINGS, TABLE_COLUMNS, Evaluation, STModel, parse_setting, setting_tokens
from reidlab.presets import Preset

__all__ = ["Run", "load_run", "evaluate_run", "run_evaluation", "run_features", "RunEvaluation",
           "settings_from_flags", "metrics_frame", "RESULT_COLUMNS"]

PathLike = Union[str, os.PathLike]

#: Metric columns of :func:`evaluate_run`'s table (which also has ``queries`` and ``skipped``).
RESULT_COLUMNS = TABLE_COLUMNS[:5]
def metrics_frame(rows: list[dict]):
    """``metrics.csv`` rows as a pandas DataFrame (one row per epoch)."""
    import pandas as pd

    return pd.DataFrame(rows)


@dataclass
class Run:
    """A trained run: its folder, configuration, model (eval mode) and per-epoch metrics.

    Attributes:
        path: run folder.
        config: ``config.json`` content (``config["preset"]`` is the preset dict).
        preset: the :class:`Preset` used.
        model: the network, loaded from ``checkpoint``.
        metrics: ``metrics.csv`` as a DataFrame.
        checkpoint: ``"best"`` or ``"last"`` (which file the weights come from).
        num_classes: training identities.
    """

    path: Path
    config: dict
    preset: Preset
    model: nn.Module
    metrics: Any
    checkpoint: Optional[str] = "last"
    num_classes: int = 0
    extras: dict = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:  # pragma: no cover
            return torch.device("cpu")

    def evaluate(self, **kwargs: Any):
        """Shortcut for :func:`evaluate_run` (same keyword arguments)."""
        return evaluate_run(self, **kwargs)

    def __repr__(self) -> str:
        n = len(self.metrics) if self.metrics is not None else 0
        return f"Run({str(self.path)!r}, preset={self.preset.name!r}, checkpoint={self.checkpoint!r}, epochs_logged={n})"


def load_run(run_dir: PathLike, checkpoint: str = "auto", device: Union[str, torch.device] = "cpu") -> Run:
    """Rebuild a run's model from ``config.json`` and load its weights.

    Args:
        run_dir: folder written by :func:`reidlab.engine.train`.
        checkpoint: ``"best"``, ``"last"`` or ``"auto"`` (best if it exists, else last).
        device: where to put the model.

    Raises:
        CheckpointError: missing folder / config / checkpoint, or a corrupt checkpoint.
    """
    import pandas as pd

    from reidlab.device import resolve_device
    from reidlab.engine.build import build_model

    path = Path(run_dir)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path} not found; {path} is not a run folder (train one with "
                              f"`reidlab train --preset ... --out {path}`)")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{cfg_path} is not readable JSON ({str(err).splitlines()[0]}); restore it from the "
                              "run's checkpoint config or re-train into a new --out") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{cfg_path} holds a {type(config).__name__}, expected a JSON object; restore it or "
                              "re-train into a new --out")
    if checkpoint == "auto":
        checkpoint = "best" if (path / "best.pt").is_file() else "last"
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint={checkpoint!r} is invalid; expected 'best', 'last' or 'auto'")
    state = ckpt_io.load_checkpoint(path / f"{checkpoint}.pt")
    preset = Preset.from_dict(state["config"]["preset"])
    model = build_model(preset, int(state["config"]["num_classes"]))
    model.load_state_dict(state["model"])
    model.to(resolve_device(device)).eval()
    mpath = path / "metrics.csv"
    metrics = pd.read_csv(mpath) if mpath.is_file() and mpath.stat().st_size else pd.DataFrame()
    return Run(path=path, config=state["config"], preset=preset, model=model, metrics=metrics,
               checkpoint=checkpoint, num_classes=int(state["config"]["num_classes"]))


def _dataset(run: Run, data: Any):
    """The run's dataset: a loaded ``ReIDDataset`` as is, else loaded from ``data`` or the run's config."""
    if data is not None and not isinstance(data, (str, os.PathLike)):
        if not all(hasattr(data, a) for a in ("query", "gallery", "train")):
            raise ConfigError(f"data: expected a dataset folder or a loaded dataset (reidlab.data.load_dataset), "
                              f"got {type(data).__name__}")
        return data
    root = Path(data if data is not None else run.config.get("data", ""))
    if not str(root) or not root.is_dir():
        raise DatasetError(f"dataset folder {root} of run {run.path} not found; pass data=<folder> "
                           "(CLI: --data) or regenerate it with `reidlab synth`")
    return load_dataset(run.config.get("dataset") or "auto", root, keypoints="auto")


def run_features(run: Run, dataset: Any, splits: Sequence[str] = ("query", "gallery"), *,
                 device: Union[str, torch.device, None] = None, batch_size: Optional[int] = None,
                 progress: bool = False, use_cache: bool = True) -> dict[str, torch.Tensor]:
    """Test features of a run per split (float32 CPU ``[N, D]``), through the run's feature cache.

    The extraction follows the preset (input size, flip TTA, autocast, channels-last); the cache
    (``<run>/features/``, :mod:`reidlab.engine.feature_cache`) is keyed by the checkpoint's and the
    model's content, the records and those settings, so a stale cache is never used.
    ``use_cache=False`` neither reads nor writes it.
    """
    p = run.preset
    dev = torch.device(device) if device is not None else run.device
    ckpt = run.path / f"{run.checkpoint}.pt" if run.checkpoint else None
    weights = state_sha256(run.model) if use_cache else None
    out = {}
    for split in splits:
        recs = getattr(dataset, split, None)
        if recs is None:
            raise ConfigError(f"the dataset {getattr(dataset, 'root', '')} has no {split} split")
        out[split] = cached_features(run.model, recs, folder=run.path / "features" if use_cache else None,
                                     split=split, size=p.input_size, flip=p.test_flip, amp=p.amp,
                                     channels_last=p.channels_last, batch_size=int(batch_size or p.eval_batch_size),
                                     device=dev, checkpoint=ckpt, progress=progress, model_sha256=weights)
    return out


class RunEvaluation(Evaluation):
    """An :class:`~reidlab.eval.Evaluation` of a run's test features, knowing its ``run`` and
    ``dataset`` (for galleries, Grad-CAM, model cards)."""

    run: Run
    dataset: Any

    @property
    def model(self) -> nn.Module:
        return self.run.model

    @property
    def preset(self) -> Preset:
        return self.run.preset


def run_evaluation(
    run: Union[Run, PathLike],
    *,
    data: Any = None,
    multi_query: bool = False,
    st: Optional[bool] = None,
    st_options: Optional[Mapping[str, Any]] = None,
    device: Union[str, torch.device, None] = None,
    batch_size: Optional[int] = None,
    progress: bool = False,
    use_cache: bool = True,
    ap: str = "standard",
    rerank_params: Optional[Mapping[str, Any]] = None,
    qe_params: Optional[Mapping[str, Any]] = None,
) -> RunEvaluation:
    """The :class:`~reidlab.eval.Evaluation` of a run on its dataset's query / gallery split.

    The one door for notebooks, ``reidlab eval``, :func:`evaluate_run` and the report.

    Args:
        run: a :class:`Run` or a run folder (loaded with :func:`load_run`).
        data: dataset folder or an already loaded dataset (default: the folder in the run's config).
        multi_query: also extract the multi-query split (Market ``gt_bbox``); ConfigError if absent.
        st: fit the spatial-temporal model on the train split: ``None`` (default) when the records
            have frames, ``True`` always (ConfigError without frames), ``False`` never.
        st_options: passed to :meth:`STModel.fit` (``bin_size``, ``sigma``, ``truncate``).
        device: where features are extracted and distances computed (default: the model's device).
        batch_size: extraction batch (default: the preset's ``eval_batch_size``).
        use_cache: read / write the run's feature cache.
        ap, rerank_params, qe_params: as :class:`~reidlab.eval.Evaluation`; the metric is the preset's.
    """
    if not isinstance(run, Run):
        run = load_run(run, device=device or "cpu")
    ds = _dataset(run, data)
    splits = ["query", "gallery"]
    if multi_query:
        if not getattr(ds, "multi_query", None):
            raise ConfigError(f"multi-query needs the dataset's multi-query split (Market's gt_bbox/); "
                              f"{getattr(ds, 'root', 'the dataset')} has none")
        splits.append("multi_query")
    feats = run_features(run, ds, splits, device=device, batch_size=batch_size, progress=progress, use_cache=use_cache)
    st_model = None
    has_frames = all(r.frame is not None for r in list(ds.train) + list(ds.query) + list(ds.gallery))
    if st or (st is None and has_frames and len(ds.train)):
        if not has_frames:
            raise ConfigError(f"st=True needs frame numbers but {getattr(ds, 'root', 'the dataset')} has images without "
                              "them (spatial-temporal needs Market/Duke-style names)")
        st_model = STModel.from_records(ds.train, **dict(st_options or {}))
    ev = RunEvaluation(feats["query"], feats["gallery"], ds.query, ds.gallery,
                       multi_query_features=feats.get("multi_query"),
                       multi_query=ds.multi_query if "multi_query" in feats else None,
                       st_model=st_model, metric=run.preset.metric, ap=ap, rerank_params=rerank_params,
                       qe_params=qe_params, device=device)
    ev.run, ev.dataset = run, ds
    return ev


def settings_from_flags(rerank: bool = False, st: bool = False, qe: bool = False,
                        multi_query: bool = False) -> list[str]:
    """The settings the ``evaluate_run`` / ``reidlab eval`` flags select, in table order:
    ``single-query`` always; ``rerank``; ``st`` (+ ``st+rerank`` with ``rerank``); ``qe``;
    ``multi-query`` (+ ``multi-query+rerank`` with ``rerank``)."""
    want = {"single-query", *(["rerank"] if rerank else []), *(["st"] if st else []),
            *(["st+rerank"] if st and rerank else []), *(["qe"] if qe else []),
            *(["multi-query"] if multi_query else []), *(["multi-query+rerank"] if multi_query and rerank else [])}
    return [s for s in SETTINGS if s in want]


def evaluate_run(
    run: Union[Run, PathLike],
    settings: Optional[Union[str, Sequence[str]]] = None,
    *,
    rerank: bool = False,
    st: bool = False,
    qe: bool = False,
    multi_query: bool = False,
    data: Any = None,
    device: Union[str, torch.device, None] = None,
    progress: bool = False,
    use_cache: bool = True,
):
    """Evaluate a run on its dataset's query / gallery split: ``run_evaluation(run, ...).table(settings)``.

    Args:
        run: a :class:`Run` or a run folder.
        settings: setting names (:data:`reidlab.eval.SETTINGS`, any ``+``-combination such as
            ``"qe+rerank"``); default: chosen by the flags.
        rerank, st, qe, multi_query: flags adding settings (:func:`settings_from_flags`); with
            ``settings`` given they add to it.
        data: dataset folder or loaded dataset (default: the run's). device: extraction device.
        progress: extraction progress bars. use_cache: use the run's feature cache.

    Returns:
        pandas DataFrame indexed by ``setting`` with ``rank1, rank5, rank10, mAP, mINP`` (fractions in
        [0, 1], standard AP, the junk rule) and the ``queries`` / ``skipped`` counts.
    """
    names = [] if settings is None else ([settings] if isinstance(settings, str) else list(settings))
    if settings is None or rerank or st or qe or multi_query:
        names += [s for s in settings_from_flags(rerank, st, qe, multi_query) if s not in names]
    names = [parse_setting(s) for s in names]
    tokens = set().union(*(setting_tokens(s) for s in names))
    ev = run_evaluation(run, data=data, multi_query="multi-query" in tokens, st=True if "st" in tokens else None,
                        device=device, progress=progress, use_cache=use_cache)
    return ev.table(names)

