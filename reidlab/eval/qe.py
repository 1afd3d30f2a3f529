"""Average query expansion with similarity weights (alpha-QE, Radenovic, Tolias, Chum, TPAMI 2019,
"Fine-tuning CNN Image Retrieval with No Human Annotation", Sec. 4.2).

For every query, its ``top_k`` nearest gallery features are found; the new query is the
L2-normalised weighted sum of the query itself (weight 1 = its similarity to itself, 1^alpha)
and those neighbours, each weighted by ``max(cos(q, g), 0) ** alpha``. ``alpha = 0`` gives plain
average QE; ``alpha = 3`` is the paper's value. With ``expand_gallery=True`` the same is applied
to every gallery feature against the gallery (database-side augmentation); its own entry is then
the first neighbour and is not counted twice.
"""

from __future__ import annotations

import math
import numbers

import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, check_choice, float_features
from reidlab.eval.defaults import QE_DEFAULTS
from reidlab.eval.distance import METRICS, iter_distance_blocks


def _expand(x: torch.Tensor, db: torch.Tensor, xr: torch.Tensor, dbr: torch.Tensor, top_k: int, alpha: float,
            metric: str, chunk_size: int, self_in_db: bool) -> torch.Tensor:
    out = torch.empty_like(xr)
    k = min(top_k + (1 if self_in_db else 0), db.shape[0])
    for s, e, dist in iter_distance_blocks(x, db, metric=metric, chunk_size=chunk_size):
        if self_in_db:  # make sure the item itself is found first, then dropped
            dist[torch.arange(e - s, device=dist.device), torch.arange(s, e, device=dist.device)] = -1.0
        idx = torch.topk(dist, k, dim=1, largest=False, sorted=True).indices
        if self_in_db:
            idx = idx[:, 1:]
        nb = dbr[idx]                                             # [b, k, d] unit vectors
        w = (nb * xr[s:e].unsqueeze(1)).sum(-1).clamp(min=0.0).pow(alpha)
        out[s:e] = torch.nn.functional.normalize(xr[s:e] + (w.unsqueeze(-1) * nb).sum(1), dim=1)
    return out


def average_query_expansion(qf: ArrayLike, gf: ArrayLike, top_k: int = QE_DEFAULTS["top_k"],
                            alpha: float = QE_DEFAULTS["alpha"], metric: str = "cosine", expand_gallery: bool = False,
                            chunk_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha-QE. Returns ``(new_qf, new_gf)``, both L2-normalised float tensors on ``qf``'s device.

    Args:
        qf: ``[nq, d]`` query features; gf: ``[ng, d]`` gallery features (tensor or numpy).
        top_k: neighbours added to each query (the query itself is always included with weight 1).
        alpha: similarity exponent; weights are ``max(cos, 0) ** alpha``.
        metric: distance used to pick the neighbours (``"cosine"`` or ``"euclidean"``, squared); the
            weights are always cosine similarities of the L2-normalised features.
        expand_gallery: also expand each gallery feature with its ``top_k`` gallery neighbours
            (database-side augmentation); otherwise ``new_gf`` is just the normalised ``gf``.
    Rank with the cosine metric (or squared euclidean: equivalent on unit vectors) afterwards.
    """
    check_choice(metric, "metric", METRICS)
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Real) or not math.isfinite(top_k) \
            or top_k != int(top_k) or top_k < 0 or not isinstance(alpha, numbers.Real) or not alpha >= 0 \
            or not math.isfinite(alpha):
        raise ConfigError(f"average_query_expansion: top_k={top_k!r} must be an integer >= 0 and alpha={alpha!r} "
                          f"a finite number >= 0 (defaults: {QE_DEFAULTS['top_k']} and {QE_DEFAULTS['alpha']})")
    top_k = int(top_k)
    q = float_features(qf, "query features")
    g = float_features(gf, "gallery features", device=q.device)
    if q.shape[1] != g.shape[1]:
        raise ConfigError(f"average_query_expansion: qf dim {q.shape[1]} != gf dim {g.shape[1]}; use features of the same model")
    qn = torch.nn.functional.normalize(q, dim=1)
    gn = torch.nn.functional.normalize(g, dim=1)
    if top_k == 0 or g.shape[0] == 0:
        return qn, gn
    new_q = _expand(q, g, qn, gn, top_k, alpha, metric, chunk_size, self_in_db=False)
    new_g = _expand(g, g, gn, gn, top_k, alpha, metric, chunk_size, self_in_db=True) if expand_gallery else gn
    return new_q, new_g
