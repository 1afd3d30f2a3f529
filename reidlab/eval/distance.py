"""Pairwise distances between query and gallery features, computed in row chunks.

Two metrics, named the way the rest of reidlab uses them:

- ``"euclidean"``: the **squared** euclidean distance ``||q - g||^2`` (NOT square-rooted). Ranking
  is the same as for the plain euclidean distance; k-reciprocal re-ranking
  (:func:`reidlab.eval.k_reciprocal_rerank`) takes exactly this matrix and does not square it again.
- ``"cosine"``: ``1 - cos(q, g)`` in [0, 2]; features are L2-normalised internally.

The distance is evaluated as ``|q|^2 + |g|^2 - 2 q.g`` (one GEMM per chunk) and clamped at 0, so
tiny negative values from rounding never appear. Before that, both sets are **centred** on their
common mean (the squared euclidean distance does not change under a shared translation): the
expansion cancels ``|x|^2``-sized terms, so without centring features with a large common offset
(e.g. all near 1e4) would lose every digit of a distance of 1. The computation runs in the inputs'
precision (float64 stays float64; float32 / half give float32) unless ``out_dtype`` says otherwise.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, check_choice, float_features

METRICS = ("euclidean", "cosine")


def _prepare(q: torch.Tensor, g: torch.Tensor,
             metric: str) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Return (q, g, |q|^2, |g|^2) ready for the chunked GEMM (norms None for cosine).

    Euclidean: ``q`` and ``g`` are centred on their common mean first (distances unchanged,
    cancellation in ``|q|^2 + |g|^2 - 2 q.g`` much smaller).
    """
    if metric == "cosine":
        q = torch.nn.functional.normalize(q, dim=1)
        g = torch.nn.functional.normalize(g, dim=1)
        return q, g, None, None
    n = q.shape[0] + g.shape[0]
    if n:
        mean = (q.sum(0) + g.sum(0)) / n
        q, g = q - mean, g - mean
    return q, g, (q * q).sum(1), (g * g).sum(1)


def _compute_dtype(q: torch.Tensor, g: torch.Tensor, dtype: Optional[torch.dtype]) -> torch.dtype:
    """``dtype`` if given, else float64 when an input is float64, else float32."""
    if dtype is not None:
        return dtype
    return torch.float64 if torch.float64 in (q.dtype, g.dtype) else torch.float32


def _block(q: torch.Tensor, g: torch.Tensor, qn: Optional[torch.Tensor], gn: Optional[torch.Tensor],
           out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Distances of one query block against all of ``g`` (written into ``out`` if given)."""
    if qn is None:  # cosine: 1 - q.g
        out = torch.addmm(torch.ones((), dtype=q.dtype, device=q.device).expand(q.shape[0], g.shape[0]),
                          q, g.t(), beta=1.0, alpha=-1.0, out=out)
        return out.clamp_(min=0.0)
    out = torch.addmm(gn.unsqueeze(0).expand(q.shape[0], g.shape[0]), q, g.t(), beta=1.0, alpha=-2.0, out=out)
    out.add_(qn.unsqueeze(1))
    return out.clamp_(min=0.0)


def _prepared(q: ArrayLike, g: ArrayLike, metric: str, dtype: Optional[torch.dtype]):
    check_choice(metric, "metric", METRICS)
    qt = float_features(q, "query features")
    gt = float_features(g, "gallery features", device=qt.device)
    if qt.shape[1] != gt.shape[1]:
        raise ConfigError(f"pairwise_distance: query features have dim {qt.shape[1]} but gallery features have "
                          f"dim {gt.shape[1]}; extract both with the same model")
    dtype = _compute_dtype(qt, gt, dtype)
    q2, g2, qn, gn = _prepare(qt.to(dtype), gt.to(dtype), metric)
    return q2, g2, qn, gn, dtype


def iter_distance_blocks(q: ArrayLike, g: ArrayLike, metric: str = "euclidean", chunk_size: int = 1024,
                         dtype: Optional[torch.dtype] = None) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, end, block)`` with ``block = pairwise_distance(q[start:end], g)``.

    Lets callers consume a query x gallery distance matrix chunk by chunk without holding it
    in memory (used by the fused evaluation). Same metric and dtype conventions as
    :func:`pairwise_distance`. The block is a view of one reused buffer: consume (or clone) it
    before the next iteration.
    """
    qt, gt, qn, gn, dtype = _prepared(q, g, metric, dtype)
    step = max(1, int(chunk_size))
    buf = torch.empty((min(step, qt.shape[0]), gt.shape[0]), dtype=dtype, device=qt.device)
    for s in range(0, qt.shape[0], step):
        e = min(qt.shape[0], s + step)
        yield s, e, _block(qt[s:e], gt, None if qn is None else qn[s:e], gn, out=buf[:e - s])


def pairwise_distance(q: ArrayLike, g: ArrayLike, metric: str = "euclidean", chunk_size: int = 2048,
                      out_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Query x gallery distance matrix.

    Args:
        q: query features ``[nq, d]`` (tensor or numpy; half precision is up-cast).
        g: gallery features ``[ng, d]``; moved to ``q``'s device.
        metric: ``"euclidean"`` = squared euclidean distance (not square-rooted),
            ``"cosine"`` = ``1 - cosine similarity`` (features L2-normalised internally).
        chunk_size: query rows per GEMM; bounds the temporary memory, not the output.
        out_dtype: dtype of the result and of the computation; default: float64 when an input is
            float64, else float32 (pass torch.float64 for reference-grade numbers).

    Returns:
        ``torch.Tensor [nq, ng]`` on the inputs' device, values >= 0.

    Raises:
        ConfigError: features with NaN / inf rows, different feature dims, an unknown metric.
    """
    qt, gt, qn, gn, out_dtype = _prepared(q, g, metric, out_dtype)
    out = torch.empty((qt.shape[0], gt.shape[0]), dtype=out_dtype, device=qt.device)
    step = max(1, int(chunk_size))
    for s in range(0, qt.shape[0], step):
        e = min(qt.shape[0], s + step)
        _block(qt[s:e], gt, None if qn is None else qn[s:e], gn, out=out[s:e])
    return out
