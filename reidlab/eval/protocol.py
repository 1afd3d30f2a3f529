"""The evaluation protocol in one place: settings, their distances, and one tidy results table.

Everything that reports a re-ID number (``reidlab eval``, :func:`reidlab.engine.evaluate_run`,
the notebooks and the report) goes through :class:`Evaluation`, so one run gives one set of
numbers whichever door it is evaluated through.

**Settings** are ``+``-joined tokens, written in the canonical order
``multi-query``, ``qe``, ``st``, ``rerank`` (:func:`parse_setting` accepts any order and returns
the canonical name; unknown tokens are a one-line error):

================  ==========================================================================
token             meaning
================  ==========================================================================
(none)            ``"single-query"``: each query image's own feature, the preset's metric
``multi-query``   Market's multi-query: the query feature is the mean of the ``gt_bbox``
                  (multi-query split) features of its identity in its camera
                  (:func:`reidlab.eval.multi_query_features`)
``qe``            alpha-query expansion (:func:`reidlab.eval.average_query_expansion`,
                  :data:`QE_DEFAULTS`): each query gets its ``top_k`` nearest gallery
                  neighbours **by the evaluation metric**, weighted by ``max(cos, 0) ** alpha``,
                  re-normalised; the distance afterwards is again the evaluation metric on the
                  expanded (unit-length) query and the unit-length gallery features
``st``            spatial-temporal joint score (:class:`reidlab.eval.STModel`): the distance is
                  ``2 - 2 * joint_score(cosine similarity, p_st)`` (cosine, whatever the metric,
                  as in the method)
``rerank``        k-reciprocal re-ranking (:data:`RERANK_DEFAULTS`) of the distance the other
                  tokens define; its query-query and gallery-gallery blocks use the same
                  definition (for ``st``: the joint score of the two images, symmetrised)
================  ==========================================================================

Metrics follow :func:`reidlab.eval.rank_metrics`: the junk rule of
:func:`reidlab.eval.valid_gallery_mask`, CMC ``cmc_mode="all"``, AP ``"standard"`` (default) or
``"market"``, mINP; queries without a valid match are skipped and counted. Tables hold
**fractions** in [0, 1]; only displays show percent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_labels, check_choice, float_features
from reidlab.eval.defaults import QE_DEFAULTS, RERANK_DEFAULTS
from reidlab.eval.distance import METRICS, pairwise_distance
from reidlab.eval.metrics import AP_KINDS, RankResult, multi_query_features, rank_metrics, valid_gallery_mask
from reidlab.eval.qe import average_query_expansion
from reidlab.eval.rerank import check_rerank_params, k_reciprocal_rerank, rerank_from_features
from reidlab.eval.st import STModel, st_rerank_distance

__all__ = ["RERANK_DEFAULTS", "QE_DEFAULTS", "TOKENS", "SETTINGS", "TABLE_COLUMNS", "parse_setting",
           "setting_tokens", "Evaluation", "evaluate"]

log = logging.getLogger("reidlab")

#: Setting tokens in their canonical order (a setting name is a ``+``-joined subset of them).
TOKENS: tuple[str, ...] = ("multi-query", "qe", "st", "rerank")
#: The single-query setting without modifiers.
SINGLE_QUERY = "single-query"
#: The settings a results table shows, in table order.
SETTINGS: tuple[str, ...] = ("single-query", "rerank", "st", "st+rerank", "qe", "multi-query",
                             "multi-query+rerank")
#: Columns of :meth:`Evaluation.table` (metrics as fractions, then query counts).
TABLE_COLUMNS: tuple[str, ...] = ("rank1", "rank5", "rank10", "mAP", "mINP", "queries", "skipped")
_METRIC_COLUMNS = TABLE_COLUMNS[:5]


def setting_tokens(setting: str) -> frozenset:
    """The modifier tokens of a setting name (``"single-query"`` -> empty set).

    Raises ConfigError (one line, listing the valid tokens) for an unknown token, a repeated
    token, ``single-query`` combined with other tokens, or a non-string.
    """
    if not isinstance(setting, str) or not setting.strip():
        raise ConfigError(f"evaluation setting {setting!r} is not a setting name; write e.g. 'single-query', "
                          f"'rerank' or 'multi-query+st' (tokens: {', '.join(TOKENS)})")
    parts = [p.strip().lower() for p in setting.split("+")]
    if parts == [SINGLE_QUERY]:
        return frozenset()
    bad = [p for p in parts if p not in TOKENS]
    if bad:
        hint = " ('single-query' stands alone: write 'rerank', not 'single-query+rerank')" if SINGLE_QUERY in bad else ""
        raise ConfigError(f"evaluation setting {setting!r}: unknown token {bad[0]!r}{hint}; valid: 'single-query' "
                          f"or a '+'-joined combination of {', '.join(repr(t) for t in TOKENS)} "
                          f"(e.g. {', '.join(repr(s) for s in SETTINGS)})")
    if len(set(parts)) != len(parts):
        raise ConfigError(f"evaluation setting {setting!r} repeats a token; write each of {', '.join(TOKENS)} at most once")
    return frozenset(parts)


def _name(tokens: Iterable[str]) -> str:
    t = set(tokens)
    return "+".join(x for x in TOKENS if x in t) or SINGLE_QUERY


def parse_setting(setting: str) -> str:
    """Canonical name of a setting (tokens in :data:`TOKENS` order): ``"rerank+st"`` -> ``"st+rerank"``.

    Raises ConfigError with the list of valid tokens for anything else.
    """
    return _name(setting_tokens(setting))


def _parse_list(settings: Union[str, Sequence[str]]) -> list[str]:
    if isinstance(settings, str):
        settings = [settings]
    out: list[str] = []
    for s in settings:
        c = parse_setting(s)
        if c not in out:
            out.append(c)
    return out


@dataclass(frozen=True)
class _Split:
    """Labels of one split as tensors (and the records, when given as records)."""

    pids: torch.Tensor
    camids: torch.Tensor
    frames: Optional[torch.Tensor]     # None when any record lacks a frame
    records: Optional[Sequence[Any]]

    def __len__(self) -> int:
        return int(self.pids.numel())


def _split(records: Any, name: str, n: int) -> _Split:
    """Records (objects with ``.pid``, ``.camid``, ``.frame``) or a mapping of arrays
    (``{"pid": ..., "camid": ..., "frame": ...}``; ``frame`` optional) -> :class:`_Split`."""
    if isinstance(records, Mapping):
        missing = [k for k in ("pid", "camid") if k not in records]
        if missing:
            raise ConfigError(f"{name}: a label mapping needs keys 'pid' and 'camid' (and optionally 'frame'); "
                              f"missing {missing}")
        pids = as_labels(records["pid"], f"{name} pids", n, torch.device("cpu"))
        cams = as_labels(records["camid"], f"{name} camids", n, torch.device("cpu"))
        fr = records.get("frame")
        frames = None if fr is None else as_labels(fr, f"{name} frames", n, torch.device("cpu"))
        if frames is not None and bool((frames < 0).any()):
            frames = None  # -1 marks "no frame" (Evaluator)
        return _Split(pids, cams, frames, None)
    recs = list(records)
    if len(recs) != n:
        raise ConfigError(f"{name}: {len(recs)} records but {n} feature rows; extract the features from these "
                          "records (same order)")
    try:
        pid_list = [r.pid for r in recs]
        cam_list = [r.camid for r in recs]
        fr_list = [getattr(r, "frame", None) for r in recs]
    except AttributeError as err:
        raise ConfigError(f"{name}: expected dataset records with .pid and .camid (reidlab.data ImageRecord) "
                          f"or a mapping of label arrays; got {type(recs[0]).__name__}") from err
    pids = as_labels(pid_list, f"{name} pids", n, torch.device("cpu"))
    cams = as_labels(cam_list, f"{name} camids", n, torch.device("cpu"))
    frames = None
    if n and all(f is not None for f in fr_list):
        frames = as_labels(fr_list, f"{name} frames", n, torch.device("cpu"))
    return _Split(pids, cams, frames, recs)


class Evaluation:
    """Features and records of one test set, evaluated in any setting; results cached per setting.

    Example::

        ev = Evaluation(qf, gf, ds.query, ds.gallery, metric="cosine", st_model=STModel.from_records(ds.train))
        ev.table(["single-query", "rerank", "st", "st+rerank"])   # DataFrame, fractions
        ev.ranking("st+rerank", q_index=3, top_k=10)               # one query's top 10
        ev.query_frame("rerank")                                   # per-query AP / first-hit rank

    Args:
        query_features, gallery_features: ``[nq, d]`` / ``[ng, d]`` float features (tensor or numpy;
            half precision is up-cast; NaN / inf rows are a ConfigError naming the input).
        query, gallery: the records (``reidlab.data`` ImageRecords: ``.pid``, ``.camid``, ``.frame``,
            ``.path``) in feature order, or mappings of arrays ``{"pid", "camid"[, "frame"]}``.
        multi_query_features, multi_query: features and records of the multi-query split (Market
            ``gt_bbox``), for the ``multi-query`` settings.
        st_model: a fitted :class:`STModel` (on the *training* split), for the ``st`` settings (the
            query and gallery records need frames too).
        metric: ``"euclidean"`` (squared euclidean) or ``"cosine"`` (``1 - cos``).
        ap: ``"standard"`` (default) or ``"market"`` (trapezoid).
        rerank_params: overrides of :data:`RERANK_DEFAULTS`; qe_params: overrides of :data:`QE_DEFAULTS`.
        max_rank: length of the CMC curves.
        device: where distances are computed (default: the query features' device).
    """

    def __init__(self, query_features: ArrayLike, gallery_features: ArrayLike, query: Any, gallery: Any, *,
                 multi_query_features: Optional[ArrayLike] = None, multi_query: Any = None,
                 st_model: Optional[STModel] = None, metric: str = "euclidean", ap: str = "standard",
                 rerank_params: Optional[Mapping[str, Any]] = None, qe_params: Optional[Mapping[str, Any]] = None,
                 max_rank: int = 50, device: Union[str, torch.device, None] = None):
        self.metric = check_choice(metric, "metric", METRICS)
        self.ap = check_choice(ap, "ap", AP_KINDS)
        if int(max_rank) < 1:
            raise ConfigError(f"max_rank={max_rank} must be >= 1")
        self.max_rank = int(max_rank)
        unknown = set(rerank_params or {}) - set(RERANK_DEFAULTS)
        if unknown:
            raise ConfigError(f"rerank_params: unknown keys {sorted(unknown)}; expected {sorted(RERANK_DEFAULTS)}")
        unknown = set(qe_params or {}) - set(QE_DEFAULTS)
        if unknown:
            raise ConfigError(f"qe_params: unknown keys {sorted(unknown)}; expected {sorted(QE_DEFAULTS)}")
        self.rerank_params = {**RERANK_DEFAULTS, **(rerank_params or {})}
        k1, k2, lam, _ = check_rerank_params(self.rerank_params["k1"], self.rerank_params["k2"],
                                             self.rerank_params["lambda_value"])
        self.rerank_params = {"k1": k1, "k2": k2, "lambda_value": lam}
        self.qe_params = {**QE_DEFAULTS, **(qe_params or {})}
        qf = float_features(query_features, "query features")
        dev = torch.device(device) if device is not None else qf.device
        self.query_features = qf.to(dev)
        self.gallery_features = float_features(gallery_features, "gallery features", device=dev)
        if self.query_features.shape[1] != self.gallery_features.shape[1]:
            raise ConfigError(f"Evaluation: query features have dim {self.query_features.shape[1]} but gallery features "
                              f"have dim {self.gallery_features.shape[1]}; extract both with the same model")
        self.device = dev
        self._q = _split(query, "query", self.query_features.shape[0])
        self._g = _split(gallery, "gallery", self.gallery_features.shape[0])
        if (multi_query_features is None) != (multi_query is None):
            raise ConfigError("Evaluation: pass multi_query_features and multi_query (records) together, or neither")
        self.multi_query_features = None
        self._mq = None
        if multi_query_features is not None:
            self.multi_query_features = float_features(multi_query_features, "multi-query features", device=dev)
            if self.multi_query_features.shape[1] != self.query_features.shape[1]:
                raise ConfigError(f"Evaluation: multi-query features have dim {self.multi_query_features.shape[1]}, "
                                  f"query features {self.query_features.shape[1]}; extract both with the same model")
            self._mq = _split(multi_query, "multi_query", self.multi_query_features.shape[0])
        if st_model is not None and not isinstance(st_model, STModel):
            raise ConfigError(f"st_model: expected a fitted reidlab.eval.STModel, got {type(st_model).__name__}")
        self.st_model = st_model
        self._dist: dict[str, torch.Tensor] = {}
        self._results: dict[str, RankResult] = {}
        self._feats: dict[tuple[bool, bool], tuple[torch.Tensor, torch.Tensor]] = {}
        self._st_blocks: dict[tuple, torch.Tensor] = {}

    # ------------------------------------------------------------------ records and availability
    @property
    def query(self) -> Optional[Sequence[Any]]:
        """The query records (None when labels were given as arrays)."""
        return self._q.records

    @property
    def gallery(self) -> Optional[Sequence[Any]]:
        """The gallery records (None when labels were given as arrays)."""
        return self._g.records

    @property
    def multi_query(self) -> Optional[Sequence[Any]]:
        return None if self._mq is None else self._mq.records

    def labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(q_pids, q_camids, g_pids, g_camids)`` as int64 numpy arrays."""
        return (self._q.pids.numpy(), self._q.camids.numpy(), self._g.pids.numpy(), self._g.camids.numpy())

    def unavailable_reason(self, setting: str) -> Optional[str]:
        """Why the data cannot evaluate ``setting`` (one line), or None when it can."""
        tokens = setting_tokens(setting)
        if "multi-query" in tokens and self.multi_query_features is None:
            return "no multi-query split (Market's gt_bbox/) features were given"
        if "st" in tokens:
            if self.st_model is None:
                return "no spatial-temporal model was given (st_model=STModel.from_records(train records))"
            if self._q.frames is None or self._g.frames is None:
                return "the query / gallery records have no frame numbers (spatial-temporal needs Market/Duke-style names)"
        return None

    def supports(self, setting: str) -> bool:
        """True when the data allows ``setting``."""
        return self.unavailable_reason(setting) is None

    def available_settings(self) -> list[str]:
        """The settings of :data:`SETTINGS` this data allows (multi-query needs the multi-query
        features, ST needs frames and an ``st_model``), in table order."""
        return [s for s in SETTINGS if self.supports(s)]

    def _require(self, setting: str) -> str:
        name = parse_setting(setting)
        why = self.unavailable_reason(name)
        if why:
            raise ConfigError(f"evaluation setting {name!r} is not available: {why}")
        return name

    # ------------------------------------------------------------------ distances
    def _features(self, mq: bool, qe: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Query-side and gallery features after multi-query averaging and query expansion."""
        key = (mq, qe)
        if key not in self._feats:
            qf, gf = self.query_features, self.gallery_features
            if mq:
                m = self._mq
                qf = multi_query_features(qf, self._q.pids, self._q.camids, self.multi_query_features,
                                          m.pids, m.camids)
            if qe:
                qf, gf = average_query_expansion(qf, gf, metric=self.metric, **self.qe_params)
            self._feats[key] = (qf, gf)
        return self._feats[key]

    def _st_distance(self, a: str, b: str, mq: bool, qe: bool) -> torch.Tensor:
        """``2 - 2 * joint score`` between two sides (``"q"`` / ``"g"``).

        The q-q and g-g blocks (re-ranking input) are symmetrised (two images with equal frames in
        two cameras are looked up one way only) and the distance of an image to **itself is 0**:
        the joint score is a probability for two *observations*; for an image and itself it is 1.
        The ST model gives same-camera pairs ``p = 0`` (see :mod:`reidlab.eval.st`), so without this
        an image would score ``sigmoid(gamma) / 3`` with itself, below any cross-camera pair with a
        plausible transit time: it would not be its own nearest neighbour, and the k-reciprocal sets
        (which contain the image itself in the algorithm's definition) would collapse.
        """
        key = (a, b, mq, qe)
        if key not in self._st_blocks:
            qf, gf = self._features(mq, qe)
            side = {"q": (qf, self._q), "g": (gf, self._g)}
            fa, la = side[a]
            fb, lb = side[b]
            sim = 1.0 - pairwise_distance(fa, fb, metric="cosine", out_dtype=torch.float32)
            score = self.st_model.score(sim, la.camids, la.frames, lb.camids, lb.frames)
            d = st_rerank_distance(score).to(self.device)
            if a == b:
                d = 0.5 * (d + d.t())
                d.fill_diagonal_(0.0)
            self._st_blocks[key] = d
        return self._st_blocks[key]

    def distance(self, setting: str = SINGLE_QUERY) -> torch.Tensor:
        """Query x gallery distance ``[nq, ng]`` (float32, lower = closer) of a setting; cached.

        ST settings: ``2 - 2 * joint_score``; re-ranked settings: the k-reciprocal final distance.
        """
        name = self._require(setting)
        if name not in self._dist:
            tokens = setting_tokens(name)
            mq, qe, st, rr = ("multi-query" in tokens, "qe" in tokens, "st" in tokens, "rerank" in tokens)
            if st:
                d = self._st_distance("q", "g", mq, qe)
                if rr:
                    d = k_reciprocal_rerank(d, self._st_distance("q", "q", mq, qe), self._st_distance("g", "g", mq, qe),
                                            **self.rerank_params)
            else:
                qf, gf = self._features(mq, qe)
                if rr:
                    d = rerank_from_features(qf, gf, metric=self.metric, **self.rerank_params)
                else:
                    d = pairwise_distance(qf, gf, metric=self.metric, out_dtype=torch.float32)
            self._dist[name] = d.to(torch.float32)
        return self._dist[name]

    def rerank_inputs(self, setting: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``(q_g, q_q, g_g)`` distance blocks k-reciprocal re-ranking receives for a ``rerank``
        setting (for inspection and tests; :meth:`distance` computes the non-ST ones blockwise
        from the features instead of materialising them). Each image is its own nearest neighbour
        in ``q_q`` and ``g_g`` (distance 0)."""
        name = self._require(setting)
        tokens = setting_tokens(name)
        if "rerank" not in tokens:
            raise ConfigError(f"rerank_inputs: setting {name!r} has no 'rerank' token")
        mq, qe = "multi-query" in tokens, "qe" in tokens
        if "st" in tokens:
            return (self._st_distance("q", "g", mq, qe), self._st_distance("q", "q", mq, qe),
                    self._st_distance("g", "g", mq, qe))
        qf, gf = self._features(mq, qe)
        return tuple(pairwise_distance(a, b, metric=self.metric, out_dtype=torch.float32)
                     for a, b in ((qf, gf), (qf, qf), (gf, gf)))

    # ------------------------------------------------------------------ metrics
    def result(self, setting: str = SINGLE_QUERY) -> RankResult:
        """:class:`RankResult` of a setting (CMC, mAP, mINP, per-query ``all_ap`` / ``first_hit``); cached."""
        name = self._require(setting)
        if name not in self._results:
            self._results[name] = rank_metrics(self.distance(name), self._q.pids, self._g.pids, self._q.camids,
                                               self._g.camids, max_rank=self.max_rank, ap=self.ap)
        return self._results[name]

    def results(self, settings: Optional[Sequence[str]] = None) -> dict[str, RankResult]:
        """``{setting: RankResult}`` (e.g. for :func:`reidlab.viz.plot_cmc`); default: available settings."""
        names = self.available_settings() if settings is None else _parse_list(settings)
        return {s: self.result(s) for s in names}

    def table(self, settings: Optional[Union[str, Sequence[str]]] = None, *, skip_unavailable: bool = False):
        """One row per setting: ``rank1, rank5, rank10, mAP, mINP`` (fractions in [0, 1]), ``queries``
        (valid queries) and ``skipped`` (queries without a valid match).

        Args:
            settings: setting names (any token order; rows use the canonical names, duplicates once);
                default: :meth:`available_settings`.
            skip_unavailable: leave out (and log) settings the data cannot evaluate instead of
                raising ConfigError.

        Returns:
            pandas DataFrame indexed by ``setting``.
        """
        import pandas as pd

        names = self.available_settings() if settings is None else _parse_list(settings)
        rows = {}
        for s in names:
            why = self.unavailable_reason(s)
            if why and skip_unavailable:
                log.info("skipping evaluation setting %s: %s", s, why)
                continue
            r = self.result(s)
            rows[s] = {"rank1": r.rank(1), "rank5": r.rank(5), "rank10": r.rank(10), "mAP": float(r.mAP),
                       "mINP": float(r.mINP), "queries": int(r.num_valid), "skipped": int(r.num_skipped)}
        df = pd.DataFrame.from_dict(rows, orient="index", columns=list(TABLE_COLUMNS))
        df = df.astype({c: "float64" for c in _METRIC_COLUMNS} | {"queries": "int64", "skipped": "int64"})
        df.index.name = "setting"
        return df

    def query_frame(self, setting: str = SINGLE_QUERY):
        """Per-query results of a setting: DataFrame indexed by query index with ``pid``, ``camid``,
        ``ap`` (NaN when skipped), ``inp``, ``first_hit`` (1-based rank of the first correct match,
        0 when skipped), ``valid`` and, when records were given, the image ``path``."""
        import pandas as pd

        r = self.result(setting)
        df = pd.DataFrame({"pid": self._q.pids.numpy(), "camid": self._q.camids.numpy(),
                           "ap": np.asarray(r.all_ap, dtype=np.float64), "inp": np.asarray(r.all_inp, dtype=np.float64),
                           "first_hit": np.asarray(r.first_hit, dtype=np.int64), "valid": np.asarray(r.first_hit) > 0})
        if self._q.records is not None:
            df["path"] = [str(getattr(rec, "path", "")) for rec in self._q.records]
        df.index.name = "query"
        return df

    def ranking(self, setting: str, q_index: int, top_k: int = 10):
        """The ``top_k`` best gallery items of one query after the junk rule.

        Returns:
            DataFrame with one row per rank (``rank`` 1..top_k as index) and columns
            ``gallery_index``, ``distance`` (of the setting), ``pid``, ``camid``, ``correct``
            (same identity as the query) and, when records were given, the image ``path``. Ties
            are broken by gallery index, as in the metrics.
        """
        import pandas as pd

        nq = len(self._q)
        if isinstance(q_index, bool) or not isinstance(q_index, (int, np.integer)) or not -nq <= int(q_index) < nq:
            raise ConfigError(f"q_index={q_index!r}: expected an integer query index in 0..{nq - 1}")
        if int(top_k) < 1:
            raise ConfigError(f"top_k={top_k}: must be >= 1")
        i = int(q_index) % nq
        row = self.distance(setting)[i].detach().cpu()
        gp, gc = self._g.pids, self._g.camids
        keep = valid_gallery_mask(self._q.pids[i], self._q.camids[i], gp, gc)
        idx = torch.nonzero(keep).flatten()
        order = idx[torch.argsort(row[idx], stable=True)][: int(top_k)]
        cols = {"gallery_index": order.numpy(), "distance": row[order].numpy().astype(np.float64),
                "pid": gp[order].numpy(), "camid": gc[order].numpy(),
                "correct": (gp[order] == self._q.pids[i]).numpy()}
        if self._g.records is not None:
            cols["path"] = [str(getattr(self._g.records[j], "path", "")) for j in order.tolist()]
        return pd.DataFrame(cols, index=pd.RangeIndex(1, order.numel() + 1, name="rank"))

    def clear_cache(self) -> None:
        """Forget computed distances and results (e.g. after changing ``st_model``)."""
        self._dist.clear()
        self._results.clear()
        self._feats.clear()
        self._st_blocks.clear()

    def with_st_model(self, st_model: Optional[STModel]) -> "Evaluation":
        """A copy sharing the features and records, with another spatial-temporal model (empty caches)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.st_model = st_model
        new._dist, new._results, new._st_blocks = {}, {}, {}
        new._feats = dict(self._feats)  # features do not depend on the ST model
        return new

    def __repr__(self) -> str:
        mq = 0 if self.multi_query_features is None else self.multi_query_features.shape[0]
        return (f"Evaluation(query={len(self._q)}, gallery={len(self._g)}, multi_query={mq}, metric={self.metric!r}, "
                f"ap={self.ap!r}, st_model={'yes' if self.st_model is not None else 'no'}, "
                f"settings={self.available_settings()})")


def evaluate(query_features: ArrayLike, gallery_features: ArrayLike, query: Any, gallery: Any,
             settings: Optional[Union[str, Sequence[str]]] = None, **options: Any):
    """``Evaluation(query_features, gallery_features, query, gallery, **options).table(settings)``.

    One row per setting (default: every setting the data allows) with ``rank1, rank5, rank10,
    mAP, mINP`` as fractions and ``queries`` / ``skipped`` counts; see :class:`Evaluation`.
    """
    return Evaluation(query_features, gallery_features, query, gallery, **options).table(settings)
