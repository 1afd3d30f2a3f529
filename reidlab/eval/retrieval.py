"""Top-k retrieval through faiss (optional dependency ``faiss-cpu``) for galleries too large
for a full query x gallery matrix. Exact search (``IndexFlatL2`` / ``IndexFlatIP``), no
hand-made index; distances follow :func:`reidlab.eval.pairwise_distance` (squared euclidean,
or ``1 - cosine``).
"""

from __future__ import annotations

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, check_choice, float_features
from reidlab.eval.distance import METRICS


def _faiss():
    try:
        import faiss  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("topk_retrieval needs faiss: pip install faiss-cpu") from err
    return faiss


def topk_retrieval(qf: ArrayLike, gf: ArrayLike, k: int, metric: str = "euclidean",
                   batch_size: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest gallery items of each query, via a faiss flat (exact) index.

    Returns:
        ``(dist [nq, k] float32, index [nq, k] int64)`` as CPU tensors, nearest first;
        ``dist`` is the squared euclidean distance or ``1 - cosine`` (``metric``).
        Ties are ordered by faiss. The gallery is added in batches of ``batch_size``.
    """
    check_choice(metric, "metric", METRICS)
    faiss = _faiss()
    q = float_features(qf, "qf").detach().cpu().float()
    g = float_features(gf, "gf").detach().cpu().float()
    if q.shape[1] != g.shape[1]:
        raise ConfigError(f"topk_retrieval: qf dim {q.shape[1]} != gf dim {g.shape[1]}; use features of the same model")
    k = int(k)
    if not 1 <= k <= g.shape[0]:
        raise ConfigError(f"topk_retrieval: k={k} must be in [1, {g.shape[0]}] (the gallery size)")
    if metric == "cosine":
        q = torch.nn.functional.normalize(q, dim=1)
        g = torch.nn.functional.normalize(g, dim=1)
        index = faiss.IndexFlatIP(q.shape[1])
    else:
        index = faiss.IndexFlatL2(q.shape[1])
    for s in range(0, g.shape[0], batch_size):
        index.add(np.ascontiguousarray(g[s:s + batch_size].numpy()))
    dist, idx = index.search(np.ascontiguousarray(q.numpy()), k)
    dist_t = torch.from_numpy(dist)
    if metric == "cosine":
        dist_t = (1.0 - dist_t).clamp_(min=0.0)
    return dist_t, torch.from_numpy(idx).to(torch.int64)
