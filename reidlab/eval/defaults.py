"""The evaluation protocol's constants, written once (re-exported by :mod:`reidlab.eval.protocol`).

- ``RERANK_DEFAULTS``: k-reciprocal re-ranking (Zhong et al., CVPR 2017): ``k1`` neighbours for
  the k-reciprocal sets, ``k2`` for the local query expansion, ``lambda_value`` the weight of
  the original distance in the final one.
- ``QE_DEFAULTS``: alpha-query expansion (Radenovic et al., TPAMI 2019): ``top_k`` gallery
  neighbours added to each query, weights ``max(cos, 0) ** alpha``.

Every function that takes these parameters uses these dicts as its defaults; nothing else in
the code base writes the numbers. Treat them as read-only (copy before changing:
``{**RERANK_DEFAULTS, "k1": 10}``).
"""

from __future__ import annotations

#: k-reciprocal re-ranking parameters (the paper's; fast-reid / torchreid use the same).
RERANK_DEFAULTS: dict = {"k1": 20, "k2": 6, "lambda_value": 0.3}
#: alpha-QE parameters (the paper's top-5 neighbours and alpha = 3).
QE_DEFAULTS: dict = {"top_k": 5, "alpha": 3.0}
