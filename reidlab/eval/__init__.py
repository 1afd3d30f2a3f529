"""Evaluation kernels: distances, CMC / mAP / mINP, k-reciprocal and spatial-temporal re-ranking,
query expansion, faiss top-k retrieval — exact (equal to straightforward references) and fast
(no full sorts, no dense all x all matrices), on the device of their inputs.

Conventions in one place:

- ``pairwise_distance(metric="euclidean")`` is the **squared** euclidean distance; ``"cosine"`` is ``1 - cos``.
- ``rank_metrics``: junk = same identity and same camera as the query, and gallery identity -1;
  identity 0 stays as a negative; queries without a positive are skipped and counted; ties broken
  by gallery index (stable argsort); ``ap="standard"`` (default) or ``"market"`` (trapezoid).
- ``k_reciprocal_rerank`` works on the distance you pass and never squares it.
- ``STModel``: histograms of per-identity mean-frame differences, later camera first.
"""

from reidlab.eval.distance import iter_distance_blocks, pairwise_distance
from reidlab.eval.evaluator import Evaluator, evaluate_features
from reidlab.eval.metrics import RankResult, multi_query_features, rank_metrics
from reidlab.eval.qe import average_query_expansion
from reidlab.eval.rerank import k_reciprocal_rerank, rerank_from_features
from reidlab.eval.retrieval import topk_retrieval
from reidlab.eval.st import STModel, joint_score, st_rerank_distance

__all__ = [
    "pairwise_distance", "iter_distance_blocks", "rank_metrics", "RankResult", "multi_query_features",
    "evaluate_features", "Evaluator", "k_reciprocal_rerank", "rerank_from_features", "average_query_expansion",
    "topk_retrieval", "STModel", "joint_score", "st_rerank_distance",
]
