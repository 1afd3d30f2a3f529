"""Run folders for notebooks: load a trained model, evaluate it with every protocol variant.

``run = load_run("runs/pfn")`` rebuilds the model from ``config.json`` and loads ``best.pt``
(or ``last.pt``); ``evaluate_run(run, rerank=True, st=True)`` returns one row per variant
(``single-query``, ``rerank``, ``st``, ``st+rerank``, ``qe``, ``multi-query``,
``multi-query+rerank``) with CMC rank-1/5/10, mAP and mINP as fractions in [0, 1] (standard
AP, Market junk rule). Extracted features are cached in the run folder (``features.pt``,
keyed by the checkpoint file, the dataset and the test-time options), so re-evaluating in a
notebook costs only the ranking.

Distances: the preset's metric (squared euclidean or cosine distance) for single/multi-query
and QE; k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) is applied to those distances as
they are. The spatial-temporal variants rank by the joint score of the cosine similarity and
the camera-time probability (ST model fitted on the train split); ``st+rerank`` re-ranks the
distance ``2 - 2 * score``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from reidlab.engine import checkpoint as ckpt_io
from reidlab.errors import CheckpointError, ConfigError, DatasetError
from reidlab.presets import Preset

__all__ = ["Run", "load_run", "evaluate_run", "metrics_frame", "RESULT_COLUMNS"]

PathLike = Union[str, os.PathLike]

#: Columns of :func:`evaluate_run`'s table.
RESULT_COLUMNS = ("rank1", "rank5", "rank10", "mAP", "mINP")
#: k-reciprocal re-ranking constants (Zhong et al. 2017, the field's default).
RERANK_K1, RERANK_K2, RERANK_LAMBDA = 20, 6, 0.3


def eval_api(name: str):
    """``reidlab.eval.<name>`` (looked up in the package, then in its modules)."""
    import importlib

    import reidlab.eval as E

    if hasattr(E, name):
        return getattr(E, name)
    for mod in ("distance", "metrics", "rerank", "st", "spatial_temporal", "qe", "query_expansion"):
        try:
            m = importlib.import_module(f"reidlab.eval.{mod}")
        except ModuleNotFoundError:
            continue
        if hasattr(m, name):
            return getattr(m, name)
    raise ConfigError(f"reidlab.eval.{name} is not available in this installation")


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
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
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


def _ckpt_key(run: Run) -> str:
    f = run.path / f"{run.checkpoint}.pt"
    if f.is_file():
        st = f.stat()
        return f"{f.name}:{st.st_size}:{st.st_mtime_ns}"
    return "in-memory"


def _features(run: Run, ds, splits: list[str], device: torch.device, progress: bool, use_cache: bool) -> dict:
    """Test features per split, cached in ``run.path / "features.pt"``."""
    from reidlab.engine.extract import extract_features

    p = run.preset
    key = {"checkpoint": _ckpt_key(run), "data": str(ds.root), "flip": p.test_flip,
           "size": list(p.input_size)}
    cache_file = run.path / "features.pt"
    cached: dict = {}
    if use_cache and cache_file.is_file() and key["checkpoint"] != "in-memory":
        try:
            blob = torch.load(cache_file, map_location="cpu", weights_only=True)
            if blob.get("key") == key:
                cached = dict(blob["features"])
        except Exception:  # a stale or torn cache is simply recomputed
            cached = {}
    changed = False
    for split in splits:
        recs = getattr(ds, split)
        if split in cached and cached[split].shape[0] == len(recs):
            continue
        cached[split] = extract_features(run.model, recs, size=p.input_size, batch_size=p.eval_batch_size,
                                         flip=p.test_flip, device=device, progress=progress, amp=p.amp,
                                         channels_last=p.channels_last)
        changed = True
    if changed and use_cache and key["checkpoint"] != "in-memory":
        ckpt_io.atomic_save({"key": key, "features": cached}, cache_file)
    return cached


def _row(dist, q, g) -> dict:
    rank_metrics = eval_api('rank_metrics')

    r = rank_metrics(dist, [x.pid for x in q], [x.pid for x in g], [x.camid for x in q], [x.camid for x in g]).as_dict()
    return {k: float(r[k]) for k in RESULT_COLUMNS}


def evaluate_run(
    run: Union[Run, PathLike],
    rerank: bool = False,
    st: bool = False,
    qe: bool = False,
    multi_query: bool = False,
    data: Optional[PathLike] = None,
    device: Union[str, torch.device, None] = None,
    progress: bool = False,
    use_cache: bool = True,
):
    """Evaluate a run on its dataset's query/gallery split, one row per protocol variant.

    Args:
        run: a :class:`Run` or a run folder (loaded with :func:`load_run`).
        rerank: add k-reciprocal re-ranked rows (``rerank``; with ``st``: ``st+rerank``;
            with ``multi_query``: ``multi-query+rerank``).
        st: add the spatial-temporal row (needs frame numbers; ST model fitted on the train split).
        qe: add the average-query-expansion row.
        multi_query: add the multi-query row (needs the dataset's ``gt_bbox`` / multi-query split).
        data: dataset folder (default: the one in the run's config).
        device: where features are extracted (default: the model's device).
        progress: show extraction progress bars.
        use_cache: read / write ``features.pt`` in the run folder.

    Returns:
        pandas DataFrame indexed by ``variant`` with columns rank1, rank5, rank10, mAP, mINP
        (fractions in [0, 1]).
    """
    import pandas as pd

    from reidlab.data import load_dataset
    pairwise_distance = eval_api('pairwise_distance')

    if not isinstance(run, Run):
        run = load_run(run, device=device or "cpu")
    p = run.preset
    root = Path(data if data is not None else run.config["data"])
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} of run {run.path} not found; pass data=<folder> "
                           "(CLI: --data) or regenerate it with `reidlab synth`")
    ds = load_dataset(run.config.get("dataset") or "auto", root, keypoints="auto")
    dev = torch.device(device) if device is not None else run.device
    splits = ["query", "gallery"]
    if multi_query:
        if not ds.multi_query:
            raise ConfigError(f"multi_query=True but {root} has no multi-query split (Market's gt_bbox/)")
        splits.append("multi_query")
    feats = _features(run, ds, splits, dev, progress, use_cache)
    qf, gf = feats["query"], feats["gallery"]
    q, g = ds.query, ds.gallery
    rows: dict[str, dict] = {}
    d_qg = pairwise_distance(qf, gf, metric=p.metric)
    rows["single-query"] = _row(d_qg, q, g)
    if rerank or st:
        k_reciprocal_rerank = eval_api('k_reciprocal_rerank')
    if rerank:
        d_qq = pairwise_distance(qf, qf, metric=p.metric)
        d_gg = pairwise_distance(gf, gf, metric=p.metric)
        rows["rerank"] = _row(k_reciprocal_rerank(d_qg, d_qq, d_gg, k1=RERANK_K1, k2=RERANK_K2,
                                                  lambda_value=RERANK_LAMBDA), q, g)
    if st:
        STModel = eval_api('STModel')
        joint_score = eval_api('joint_score')

        if any(r.frame is None for r in list(ds.train) + list(q) + list(g)):
            raise ConfigError(f"st=True needs frame numbers but {root} has images without them "
                              "(spatial-temporal needs Market/Duke-style names)")
        stm = STModel.fit([r.pid for r in ds.train], [r.camid for r in ds.train], [r.frame for r in ds.train])

        def score(a, fa, b, fb):
            an = torch.nn.functional.normalize(fa.float(), dim=1)
            bn = torch.nn.functional.normalize(fb.float(), dim=1)
            p_st = stm.probability([r.camid for r in a], [r.frame for r in a], [r.camid for r in b], [r.frame for r in b])
            return torch.as_tensor(joint_score(an @ bn.T, p_st), dtype=torch.float32)

        s_qg = score(q, qf, g, gf)
        rows["st"] = _row(-s_qg, q, g)
        if rerank:
            s_qq = score(q, qf, q, qf)
            s_gg = score(g, gf, g, gf)
            st_dist = eval_api("st_rerank_distance")   # 2 - 2 * score
            rows["st+rerank"] = _row(k_reciprocal_rerank(st_dist(s_qg), st_dist(s_qq), st_dist(s_gg), k1=RERANK_K1,
                                                         k2=RERANK_K2, lambda_value=RERANK_LAMBDA), q, g)
    if qe:
        average_query_expansion = eval_api('average_query_expansion')

        qf2, gf2 = average_query_expansion(qf, gf)
        rows["qe"] = _row(pairwise_distance(qf2, gf2, metric="cosine"), q, g)   # unit vectors
    if multi_query:
        multi_query_features = eval_api('multi_query_features')

        mq = ds.multi_query
        mqf = multi_query_features(qf, [r.pid for r in q], [r.camid for r in q], feats["multi_query"],
                                   [r.pid for r in mq], [r.camid for r in mq])
        d_mq = pairwise_distance(mqf, gf, metric=p.metric)
        rows["multi-query"] = _row(d_mq, q, g)
        if rerank:
            k_reciprocal_rerank = eval_api('k_reciprocal_rerank')

            rows["multi-query+rerank"] = _row(k_reciprocal_rerank(
                d_mq, pairwise_distance(mqf, mqf, metric=p.metric), pairwise_distance(gf, gf, metric=p.metric),
                k1=RERANK_K1, k2=RERANK_K2, lambda_value=RERANK_LAMBDA), q, g)
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_COLUMNS))
    df.index.name = "variant"
    return df
