"""Two thin doors onto the one evaluation path (:mod:`reidlab.eval.protocol`):

- :class:`Evaluator`, the fast-reid-style ``reset`` / ``process`` / ``evaluate`` collector, which
  builds an :class:`~reidlab.eval.Evaluation` and evaluates one setting;
- :func:`evaluate_features`, ``rank_metrics(pairwise_distance(...))`` fused chunk by chunk for
  galleries whose full distance matrix does not fit in memory (the same metric kernel).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_labels, as_tensor, check_choice, float_features
from reidlab.eval.distance import METRICS, iter_distance_blocks
from reidlab.eval.metrics import AP_KINDS, RankResult, _chunk_metrics, _finish, _GalleryIndex
from reidlab.eval.protocol import Evaluation, parse_setting
from reidlab.eval.st import STModel


def evaluate_features(qf: ArrayLike, gf: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike,
                      g_camids: ArrayLike, metric: str = "euclidean", max_rank: int = 50, ap: str = "standard",
                      chunk_size: int = 1024) -> RankResult:
    """``rank_metrics(pairwise_distance(qf, gf, metric), ...)`` without holding the full distance matrix.

    Distances of ``chunk_size`` queries are computed (in the features' precision) and ranked at once, so memory is
    O(chunk_size x ng). Same conventions as :func:`pairwise_distance` and :func:`rank_metrics`
    (``cmc_mode="all"``).
    """
    check_choice(metric, "metric", METRICS)
    check_choice(ap, "ap", AP_KINDS)
    q = float_features(qf, "query features")
    dev = q.device
    nq = q.shape[0]
    ng = float_features(gf, "gallery features").shape[0]
    qp, qc = as_labels(q_pids, "q_pids", nq, dev), as_labels(q_camids, "q_camids", nq, dev)
    gidx = _GalleryIndex(as_labels(g_pids, "g_pids", ng, dev), as_labels(g_camids, "g_camids", ng, dev))
    all_ap, all_inp = np.full(nq, np.nan), np.full(nq, np.nan)
    first_hit = np.zeros(nq, dtype=np.int64)
    for s, e, d in iter_distance_blocks(q, gf, metric=metric, chunk_size=chunk_size):
        _chunk_metrics(d, qp[s:e], qc[s:e], gidx, ap, all_ap[s:e], all_inp[s:e], first_hit[s:e], s)
    return _finish(all_ap, all_inp, first_hit, ap, "all", int(max_rank))


class Evaluator:
    """Collects features batch by batch (fast-reid's ``reset`` / ``process`` / ``evaluate``), then
    evaluates one setting through :class:`reidlab.eval.Evaluation` (the one evaluation path).

    Example::

        ev = Evaluator(metric="cosine", rerank=True)
        for feats, pids, camids, frames, is_query in batches:
            ev.process(feats, pids, camids, is_query=is_query, frames=frames)
        result = ev.evaluate()           # RankResult of the setting "rerank"

    Options map to the setting tokens: ``qe`` -> ``qe``, ``st`` (a fitted :class:`STModel`; needs
    frames) -> ``st``, ``rerank`` -> ``rerank``; ``rerank_params`` / ``qe_params`` override
    :data:`RERANK_DEFAULTS` / :data:`QE_DEFAULTS`.
    """

    def __init__(self, metric: str = "euclidean", rerank: bool = False, st: Optional[STModel] = None,
                 qe: bool = False, ap: str = "standard", max_rank: int = 50,
                 rerank_params: Optional[dict] = None, qe_params: Optional[dict] = None):
        self.metric = check_choice(metric, "metric", METRICS)
        self.ap = check_choice(ap, "ap", AP_KINDS)
        self.rerank, self.st, self.qe, self.max_rank = bool(rerank), st, bool(qe), int(max_rank)
        self.rerank_params = dict(rerank_params or {})
        self.qe_params = dict(qe_params or {})
        self.reset()

    @property
    def setting(self) -> str:
        """The setting name these options evaluate (e.g. ``"st+rerank"``)."""
        return parse_setting("+".join(t for t, on in (("qe", self.qe), ("st", self.st is not None),
                                                       ("rerank", self.rerank)) if on) or "single-query")

    def reset(self) -> None:
        """Forget every processed batch."""
        self._buf: dict[bool, list] = {True: [], False: []}

    def process(self, features: ArrayLike, pids: ArrayLike, camids: ArrayLike, is_query: ArrayLike,
                frames: Optional[ArrayLike] = None) -> None:
        """Add one batch: ``features [b, d]``, ``pids``/``camids``/``frames [b]``, ``is_query`` bool
        (one flag for the batch, or one per item)."""
        f = float_features(features, "features").detach()
        b = f.shape[0]
        fr = torch.full((b,), -1, dtype=torch.int64) if frames is None else as_tensor(frames, "frames", ndim=1).cpu()
        isq = as_tensor(is_query, "is_query").cpu().to(torch.bool).reshape(-1).expand(b) if not isinstance(is_query, bool) \
            else torch.full((b,), is_query, dtype=torch.bool)
        p, c = as_tensor(pids, "pids", ndim=1).cpu(), as_tensor(camids, "camids", ndim=1).cpu()
        for flag in (True, False):
            m = isq == flag
            if bool(m.any()):
                self._buf[flag].append((f[m.to(f.device)], p[m], c[m], fr[m]))

    def _split(self, flag: bool):
        if not self._buf[flag]:
            raise ConfigError(f"Evaluator.evaluate: no {'query' if flag else 'gallery'} items processed; "
                              f"call process(..., is_query={flag})")
        cols = list(zip(*self._buf[flag]))
        return [torch.cat(x) for x in cols]

    def evaluation(self) -> Evaluation:
        """The :class:`Evaluation` of everything processed so far."""
        qf, qp, qc, qfr = self._split(True)
        gf, gp, gc, gfr = self._split(False)
        if self.st is not None and (bool((qfr < 0).any()) or bool((gfr < 0).any())):
            raise ConfigError("Evaluator(st=...): frames missing; pass frames= to process() for every batch")
        return Evaluation(qf, gf, {"pid": qp, "camid": qc, "frame": qfr}, {"pid": gp, "camid": gc, "frame": gfr},
                          st_model=self.st, metric=self.metric, ap=self.ap, max_rank=self.max_rank,
                          rerank_params=self.rerank_params, qe_params=self.qe_params)

    def distance(self) -> torch.Tensor:
        """The final query x gallery distance of the configured setting."""
        return self.evaluation().distance(self.setting)

    def evaluate(self) -> RankResult:
        """Rank every processed query against the gallery; returns :class:`RankResult`."""
        return self.evaluation().result(self.setting)
