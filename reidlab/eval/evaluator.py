"""An evaluator object in the fast-reid spirit (``reset`` / ``process`` / ``evaluate``) over the
functional kernels, plus :func:`evaluate_features`: distances and metrics fused chunk by chunk."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_labels, as_tensor, check_choice, float_features
from reidlab.eval.distance import METRICS, iter_distance_blocks, pairwise_distance
from reidlab.eval.metrics import AP_KINDS, RankResult, _chunk_metrics, _finish, _GalleryIndex, rank_metrics
from reidlab.eval.qe import average_query_expansion
from reidlab.eval.rerank import k_reciprocal_rerank, rerank_from_features
from reidlab.eval.st import STModel, joint_score, st_rerank_distance


def evaluate_features(qf: ArrayLike, gf: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike,
                      g_camids: ArrayLike, metric: str = "euclidean", max_rank: int = 50, ap: str = "standard",
                      chunk_size: int = 1024) -> RankResult:
    """``rank_metrics(pairwise_distance(qf, gf, metric), ...)`` without holding the full distance matrix.

    Distances of ``chunk_size`` queries are computed (float32) and ranked at once, so memory is
    O(chunk_size x ng). Same conventions as :func:`pairwise_distance` and :func:`rank_metrics`
    (``cmc_mode="all"``).
    """
    check_choice(metric, "metric", METRICS)
    check_choice(ap, "ap", AP_KINDS)
    q = float_features(qf, "qf")
    dev = q.device
    nq = q.shape[0]
    ng = float_features(gf, "gf").shape[0]
    qp, qc = as_labels(q_pids, "q_pids", nq, dev), as_labels(q_camids, "q_camids", nq, dev)
    gidx = _GalleryIndex(as_labels(g_pids, "g_pids", ng, dev), as_labels(g_camids, "g_camids", ng, dev))
    all_ap, all_inp = np.full(nq, np.nan), np.full(nq, np.nan)
    first_hit = np.zeros(nq, dtype=np.int64)
    for s, e, d in iter_distance_blocks(q, gf, metric=metric, chunk_size=chunk_size):
        _chunk_metrics(d, qp[s:e], qc[s:e], gidx, ap, all_ap[s:e], all_inp[s:e], first_hit[s:e], s)
    return _finish(all_ap, all_inp, first_hit, ap, "all", int(max_rank))


class Evaluator:
    """Collects features batch by batch, then ranks the query split against the gallery split.

    Example::

        ev = Evaluator(metric="cosine", rerank=True)
        for feats, pids, camids, frames, is_query in batches:
            ev.process(feats, pids, camids, is_query=is_query, frames=frames)
        result = ev.evaluate()           # RankResult

    Options: ``qe`` (alpha-QE, top-5, alpha 3, before everything else), ``st`` (a fitted
    :class:`STModel`: the distance becomes ``2 - 2 * joint_score(cosine similarity, p_st)``; needs
    frames), ``rerank`` (k-reciprocal, k1=20, k2=6, lambda=0.3, on the current distance).
    """

    def __init__(self, metric: str = "euclidean", rerank: bool = False, st: Optional[STModel] = None,
                 qe: bool = False, ap: str = "standard", max_rank: int = 50,
                 rerank_params: Optional[dict] = None, qe_params: Optional[dict] = None):
        self.metric = check_choice(metric, "metric", METRICS)
        self.rerank, self.st, self.qe, self.ap, self.max_rank = bool(rerank), st, bool(qe), ap, int(max_rank)
        self.rerank_params = {"k1": 20, "k2": 6, "lambda_value": 0.3, **(rerank_params or {})}
        self.qe_params = {"top_k": 5, "alpha": 3.0, **(qe_params or {})}
        self.reset()

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
            raise ConfigError(f"Evaluator.evaluate: no {'query' if flag else 'gallery'} items processed; call process(..., is_query={flag})")
        cols = list(zip(*self._buf[flag]))
        return [torch.cat(x) for x in cols]

    def distance(self) -> torch.Tensor:
        """The final query x gallery distance after the configured QE / ST / re-ranking."""
        qf, _, qc, qfr = self._split(True)
        gf, _, gc, gfr = self._split(False)
        metric = self.metric
        if self.qe:
            qf, gf = average_query_expansion(qf, gf, metric=metric, **self.qe_params)
        if self.st is not None:
            if bool((qfr < 0).any()) or bool((gfr < 0).any()):
                raise ConfigError("Evaluator(st=...): frames missing; pass frames= to process() for every batch")
            dist = self._st_distance(qf, qc, qfr, gf, gc, gfr)
            if self.rerank:  # k-reciprocal re-ranking on 2 - 2 * joint score (symmetric blocks)
                qq = self._st_distance(qf, qc, qfr, qf, qc, qfr)
                gg = self._st_distance(gf, gc, gfr, gf, gc, gfr)
                dist = k_reciprocal_rerank(dist, (qq + qq.t()) / 2, (gg + gg.t()) / 2, **self.rerank_params)
            return dist
        if self.rerank:
            return rerank_from_features(qf, gf, metric=metric, **self.rerank_params)
        return pairwise_distance(qf, gf, metric=metric)

    def _st_distance(self, af, ac, afr, bf, bc, bfr) -> torch.Tensor:
        sim = 1.0 - pairwise_distance(af, bf, metric="cosine")
        return st_rerank_distance(self.st.score(sim, ac, afr, bc, bfr))

    def evaluate(self) -> RankResult:
        """Rank every processed query against the gallery; returns :class:`RankResult`."""
        _, qp, qc, _ = self._split(True)
        _, gp, gc, _ = self._split(False)
        return rank_metrics(self.distance(), qp, gp, qc, gc, max_rank=self.max_rank, ap=self.ap)
