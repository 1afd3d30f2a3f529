"""Evaluation: the protocol (:class:`Evaluation`, settings, one results table) over exact and fast
kernels (distances, CMC / mAP / mINP, k-reciprocal and spatial-temporal re-ranking, query
expansion, faiss top-k retrieval) that run on the device of their inputs.

Conventions in one place:

- ``pairwise_distance(metric="euclidean")`` is the **squared** euclidean distance; ``"cosine"`` is ``1 - cos``.
- Junk rule (:func:`valid_gallery_mask`, the one definition): a gallery item with the query's identity
  AND camera, or identity -1, is removed; identity 0 stays as a negative.
- ``rank_metrics``: queries without a positive are skipped and counted; ties broken by gallery index
  (stable argsort); ``ap="standard"`` (default) or ``"market"`` (trapezoid).
- ``k_reciprocal_rerank`` works on the distance you pass and never squares it; its defaults and
  alpha-QE's are :data:`RERANK_DEFAULTS` and :data:`QE_DEFAULTS`.
- ``STModel``: histograms of per-identity mean-frame differences, later camera first.
- Settings (``"single-query"``, ``"rerank"``, ``"st+rerank"``, ``"multi-query+qe"``...):
  :mod:`reidlab.eval.protocol`.
"""

from reidlab.eval.defaults import QE_DEFAULTS, RERANK_DEFAULTS
from reidlab.eval.distance import iter_distance_blocks, pairwise_distance
from reidlab.eval.metrics import RankResult, multi_query_features, rank_metrics, valid_gallery_mask
from reidlab.eval.qe import average_query_expansion
from reidlab.eval.rerank import k_reciprocal_rerank, rerank_from_features
from reidlab.eval.retrieval import topk_retrieval
from reidlab.eval.st import STModel, joint_score, st_rerank_distance, st_sensitivity
from reidlab.eval.protocol import (SETTINGS, TABLE_COLUMNS, TOKENS, Evaluation, evaluate, parse_setting,
                                   setting_tokens)
from reidlab.eval.evaluator import Evaluator, evaluate_features

__all__ = [
    "pairwise_distance", "iter_distance_blocks", "rank_metrics", "RankResult", "multi_query_features",
    "valid_gallery_mask", "evaluate_features", "Evaluator", "k_reciprocal_rerank", "rerank_from_features",
    "average_query_expansion", "topk_retrieval", "STModel", "joint_score", "st_rerank_distance", "st_sensitivity",
    "Evaluation", "evaluate", "SETTINGS", "TOKENS", "TABLE_COLUMNS", "parse_setting", "setting_tokens",
    "RERANK_DEFAULTS", "QE_DEFAULTS",
]
