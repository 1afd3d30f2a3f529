"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li, CVPR 2017,
"Re-ranking Person Re-identification with k-reciprocal Encoding"), sparse and chunked.

The result equals the canonical algorithm (the authors' numpy ``re_ranking``, as distributed
with torchreid and fast-reid) on the same distance, but it never builds the dense
``(nq+ng) x (nq+ng)`` matrices the canonical code needs (original distance, ``V``, the full
argsort and the query-expanded ``V``):

1. one pass over the rows of the all x all distance (in chunks, from the three given blocks, or
   computed on the fly from features by :func:`rerank_from_features`) keeps each row's maximum
   and its ``max(k1+1, k2)`` nearest neighbours (``torch.topk``);
2. k-reciprocal sets ``R(i, k1)``, their half-size expansion ``R(c, round(k1/2))`` (kept when
   more than 2/3 of it lies in ``R(i, k1)``) and the Gaussian-kernel weights
   ``exp(-d(i, j) / max_row(i))`` are computed for all rows at once on the neighbour lists;
   ``V`` is a sparse matrix with only those entries;
3. local query expansion averages the sparse rows of the ``k2`` nearest neighbours;
4. the Jaccard distance ``1 - sum_k min(V_ik, V_jk) / (2 - sum_k min(V_ik, V_jk))`` is computed
   only for query x gallery pairs, by joining the query rows of ``V`` with its gallery rows on
   their common columns (an inverted index, like the canonical code, but vectorised);
5. ``final = (1 - lambda) * jaccard + lambda * d(q, g) / max_row(q)``.

**Which distance.** The algorithm works on the distance you pass, as is: it never squares it.
The paper and the original feature-based code use the *squared* euclidean distance, which is what
``pairwise_distance(..., metric="euclidean")`` returns, so pass that (or the cosine distance).
Note: the torchreid/fast-reid ``re_ranking(q_g, q_q, g_g)`` squares its input itself
(``np.power(original_dist, 2)``); their callers pass squared euclidean distances, so that code
effectively works on the 4th power. ``k_reciprocal_rerank(d)`` equals torchreid's
``re_ranking(sqrt(d))``, i.e. the original algorithm on ``d``.

The all x all distance must be symmetric (``q_q`` and ``g_g`` symmetric, as any metric gives):
the canonical code normalises column ``i`` by its maximum and transposes, which for a symmetric
matrix is row ``i`` divided by its maximum. Exact ties in the neighbour lists (measure zero for
real features) may be ordered differently from numpy's argsort.
"""

from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_tensor, check_choice, float_features
from reidlab.eval.defaults import RERANK_DEFAULTS
from reidlab.eval.distance import METRICS, _block, _prepare

_K1, _K2, _LAMBDA = RERANK_DEFAULTS["k1"], RERANK_DEFAULTS["k2"], RERANK_DEFAULTS["lambda_value"]


class _MatrixSource:
    """All x all distance assembled from the three blocks (no copy of the full matrix)."""

    def __init__(self, q_g: torch.Tensor, q_q: torch.Tensor, g_g: torch.Tensor):
        self.q_g, self.q_q, self.g_g = q_g, q_q, g_g
        self.nq, self.ng = q_g.shape
        self.n = self.nq + self.ng
        self.device = q_g.device
        self._q_g_t: Optional[torch.Tensor] = None

    def nearest(self, s: int, e: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Row maxima and the k nearest columns of rows s..e of the all x all matrix, nearest first.

        Each block ([q_q | q_g] for query rows, [q_g^T | g_g] for gallery rows) is searched on its
        own and the candidates merged, so the full rows are never assembled.
        """
        nq = self.nq
        out_max, out_idx = [], []
        for a, b, left, right in ((s, min(e, nq), self.q_q, self.q_g), (max(s, nq), e, None, self.g_g)):
            if a >= b:
                continue
            if left is None:  # gallery rows
                if self._q_g_t is None:
                    self._q_g_t = self.q_g.t().contiguous()
                lb, rb = self._q_g_t[a - nq:b - nq], right[a - nq:b - nq]
            else:
                lb, rb = left[a:b], right[a:b]
            vals, idxs, maxs = [], [], []
            for off, blk in ((0, lb), (nq, rb)):
                if blk.shape[1] == 0:
                    continue
                blk = blk.float()
                maxs.append(blk.max(1).values)
                v, i = torch.topk(blk, min(k, blk.shape[1]), dim=1, largest=False, sorted=True)
                vals.append(v)
                idxs.append(i + off)
            v, i = torch.cat(vals, 1), torch.cat(idxs, 1)
            sel = torch.topk(v, k, dim=1, largest=False, sorted=True).indices
            out_idx.append(i.gather(1, sel))
            out_max.append(torch.stack(maxs, 1).max(1).values)
        return torch.cat(out_max), torch.cat(out_idx)

    def pairs(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        nq = self.nq
        out = torch.empty(i.numel(), dtype=torch.float32, device=self.device)
        iq, jq = i < nq, j < nq
        m = iq & jq
        out[m] = self.q_q[i[m], j[m]].float()
        m = iq & ~jq
        out[m] = self.q_g[i[m], j[m] - nq].float()
        m = ~iq & jq
        out[m] = self.q_g[j[m], i[m] - nq].float()
        m = ~iq & ~jq
        out[m] = self.g_g[i[m] - nq, j[m] - nq].float()
        return out

    def query_gallery(self, s: int, e: int) -> torch.Tensor:
        return self.q_g[s:e].float()


class _FeatureSource:
    """All x all distance computed on the fly from features (never materialised)."""

    def __init__(self, qf: torch.Tensor, gf: torch.Tensor, metric: str):
        self.nq, self.ng = qf.shape[0], gf.shape[0]
        self.n = self.nq + self.ng
        self.device = qf.device
        f = torch.cat([qf, gf.to(qf.device)], 0).float()
        self.f, _, self.norm, _ = _prepare(f, f[:0], metric)  # euclidean: centred on the mean
        self.metric = metric

    def nearest(self, s: int, e: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        block = _block(self.f[s:e], self.f, None if self.norm is None else self.norm[s:e], self.norm)
        return block.max(1).values, torch.topk(block, k, dim=1, largest=False, sorted=True).indices

    def pairs(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        out = torch.empty(i.numel(), dtype=torch.float32, device=self.device)
        chunk = max(1, (1 << 24) // max(1, self.f.shape[1]))  # ~64 MB of gathered features per step
        for s in range(0, i.numel(), chunk):
            a, b = i[s:s + chunk], j[s:s + chunk]
            dot = (self.f.index_select(0, a) * self.f.index_select(0, b)).sum(1)
            if self.norm is None:
                out[s:s + chunk] = (1.0 - dot).clamp_(min=0.0)
            else:
                out[s:s + chunk] = (self.norm[a] + self.norm[b] - 2.0 * dot).clamp_(min=0.0)
        return out

    def query_gallery(self, s: int, e: int) -> torch.Tensor:
        return _block(self.f[s:e], self.f[self.nq:], None if self.norm is None else self.norm[s:e],
                      None if self.norm is None else self.norm[self.nq:])


def _row_unique(vals: torch.Tensor, mask: torch.Tensor, sentinel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the distinct values of ``vals`` where ``mask``: returns COO (row, value)."""
    v = torch.where(mask, vals, torch.full_like(vals, sentinel))
    v, _ = torch.sort(v, dim=1)
    keep = v != sentinel
    keep[:, 1:] &= v[:, 1:] != v[:, :-1]
    r, c = torch.nonzero(keep, as_tuple=True)
    return r, v[r, c]


def check_rerank_params(k1, k2, lambda_value, chunk_size=1) -> tuple[int, int, float, int]:
    """Validate the re-ranking parameters; returns them as ``(int, int, float, int)``.

    ``k1``, ``k2`` and ``chunk_size`` must be integers >= 1 (integral floats such as ``20.0`` are
    accepted); ``lambda_value`` a number in [0, 1]. Raises a one-line ConfigError otherwise.
    """
    def _int(v, name):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) \
                or not math.isfinite(float(v)) or float(v) != int(v) or int(v) < 1:
            raise ConfigError(f"k_reciprocal_rerank: {name}={v!r} must be an integer >= 1 "
                              f"(defaults: k1={_K1}, k2={_K2})")
        return int(v)

    k1, k2, chunk_size = _int(k1, "k1"), _int(k2, "k2"), _int(chunk_size, "chunk_size")
    if isinstance(lambda_value, bool) or not isinstance(lambda_value, numbers.Real) \
            or not 0.0 <= float(lambda_value) <= 1.0:  # NaN fails both comparisons
        raise ConfigError(f"k_reciprocal_rerank: lambda_value={lambda_value!r} must be a number in [0, 1] "
                          f"(weight of the original distance; default {_LAMBDA})")
    return k1, k2, float(lambda_value), chunk_size


def _rerank_core(src, k1: int, k2: int, lambda_value: float, chunk_size: int) -> torch.Tensor:
    """The re-ranked query x gallery distance of :func:`k_reciprocal_rerank` on the neighbour source ``src``.

    Long: the algorithm's four numbered steps (neighbour lists, k-reciprocal sets with expansion,
    local query expansion, Jaccard distance) in the paper's order over shared chunked buffers;
    split, each step would pass most of the others' tensors along."""
    n, nq, ng, dev = src.n, src.nq, src.ng, src.device
    kk = min(n, max(k1 + 1, k2))
    K = min(n, k1 + 1)
    kh = min(n, int(round(k1 / 2.0)) + 1)  # round half to even, like numpy.around
    # 1. neighbour lists and row maxima, one chunked pass
    nn = torch.empty((n, kk), dtype=torch.int64, device=dev)
    rowmax = torch.empty(n, dtype=torch.float32, device=dev)
    for s in range(0, n, chunk_size):
        e = min(n, s + chunk_size)
        rowmax[s:e], nn[s:e] = src.nearest(s, e, kk)
    rowmax = torch.where(rowmax > 0, rowmax, torch.ones_like(rowmax))
    # 2. k-reciprocal sets with expansion -> sparse V (COO row, col, val)
    F = nn[:, :K].contiguous()
    Fh = nn[:, :kh].contiguous()
    ar = torch.arange(n, device=dev)
    recip = torch.empty((n, K), dtype=torch.bool, device=dev)
    reciph = torch.empty((n, kh), dtype=torch.bool, device=dev)
    step = max(1, (1 << 22) // (K * K))
    for s in range(0, n, step):
        e = min(n, s + step)
        recip[s:e] = (F[F[s:e]] == ar[s:e, None, None]).any(-1)
        reciph[s:e] = (Fh[Fh[s:e]] == ar[s:e, None, None]).any(-1)
    # |R(c, k1/2) & R(i, k1)| > 2/3 |R(c, k1/2)| evaluated exactly as the float64 expression does
    need = torch.tensor([next(x for x in range(kh + 2) if x > 2.0 / 3 * sz) for sz in range(kh + 1)],
                        dtype=torch.int64, device=dev)
    rows_l, cols_l = [], []
    step = max(1, min(n, 4096))
    member = torch.zeros((step, n), dtype=torch.bool, device=dev)  # R(i, k1) as a bitmap per row
    for s in range(0, n, step):
        e = min(n, s + step)
        b = e - s
        Fi, Ri = F[s:e], recip[s:e]                       # [b, K]
        Hc, Hm = Fh[Fi], reciph[Fi]                       # [b, K, kh]: R(c, k1/2) of each candidate
        lr = torch.arange(b, device=dev).unsqueeze(1) * n
        flat_member = member.view(-1)
        flatF = (lr + Fi).view(-1)                        # F rows hold distinct indices
        flat_member.index_put_((flatF,), Ri.reshape(-1))
        inR = flat_member.index_select(0, (lr.unsqueeze(2) + Hc).view(-1)).view(b, K, kh)
        flat_member.index_fill_(0, flatF, False)
        inter = (inR & Hm).sum(-1)
        size = Hm.sum(-1)
        qualify = Ri & (inter >= need[size])
        cand = torch.cat([Fi, Hc.reshape(b, -1)], 1)
        cmask = torch.cat([Ri, (qualify.unsqueeze(-1) & Hm).reshape(b, -1)], 1)
        r, c = _row_unique(cand, cmask, n)
        rows_l.append(r + s)
        cols_l.append(c)
    vr, vc = torch.cat(rows_l), torch.cat(cols_l)
    del rows_l, cols_l, recip, reciph, member
    w = torch.exp(-src.pairs(vr, vc) / rowmax.index_select(0, vr))
    wsum = torch.zeros(n, dtype=torch.float32, device=dev).index_add_(0, vr, w)
    vv = w / wsum.index_select(0, vr)
    # 3. local query expansion: V_i <- mean of V_n over the k2 nearest n (rows stay sparse)
    if k2 != 1:
        cnt = torch.bincount(vr, minlength=n)
        ptr = torch.cumsum(cnt, 0) - cnt
        src_rows = nn[:, :k2]                                     # [n, k2]
        lens = cnt[src_rows].reshape(-1)
        rep = torch.repeat_interleave(torch.arange(lens.numel(), device=dev), lens)  # entry -> (i, t)
        idx = torch.arange(int(lens.sum()), device=dev) + (ptr[src_rows].reshape(-1) - (torch.cumsum(lens, 0) - lens)).index_select(0, rep)
        key = torch.div(rep, src_rows.shape[1], rounding_mode="floor") * n + vc.index_select(0, idx)
        ukey, inv = torch.unique(key, return_inverse=True)
        val = torch.zeros(ukey.numel(), dtype=torch.float32, device=dev).index_add_(0, inv, vv.index_select(0, idx))
        vr, vc, vv = ukey // n, ukey % n, val / float(src_rows.shape[1])
        del key, inv, idx, rep
    # 4. Jaccard distance for query x gallery through the inverted index of V's gallery rows
    is_g = vr >= nq
    gr, gcol, gval = vr[is_g] - nq, vc[is_g], vv[is_g]
    o = torch.argsort(gcol, stable=True)
    gr, gcol, gval = gr[o], gcol[o], gval[o]
    ccnt = torch.bincount(gcol, minlength=n)
    cptr = torch.cumsum(ccnt, 0) - ccnt
    is_q = ~is_g
    qr, qcol, qval = vr[is_q], vc[is_q], vv[is_q]
    el = ccnt.index_select(0, qcol)                          # gallery rows sharing each query entry's column
    order = torch.argsort(el, descending=True, stable=True)
    el, start = el[order], cptr.index_select(0, qcol)[order]
    base, ev = qr[order] * ng, qval[order]
    del qr, qcol, qval, order
    # Pairs (query entry, t-th gallery row of its column), in blocks of consecutive t: the entries
    # with more than t0 rows are a prefix of the sorted arrays; slots past an entry's own count
    # point at a sentinel gallery entry of value 0 (adds nothing).
    gr_s = torch.cat([gr, torch.zeros(1, dtype=gr.dtype, device=dev)])
    gval_s = torch.cat([gval, torch.zeros(1, dtype=gval.dtype, device=dev)])
    sentinel = gr.numel()
    tmin = torch.zeros(nq * ng, dtype=torch.float32, device=dev)
    maxel = int(el[0]) if el.numel() else 0
    n_active = torch.searchsorted(-el, -torch.arange(maxel + 1, device=dev, dtype=el.dtype)).tolist()
    budget = 1 << 23
    t0 = 0
    while t0 < maxel:
        na = n_active[t0]
        t1 = t0 + 1
        while t1 < maxel and n_active[t1] >= 0.75 * na:  # waste at most 25% on padding
            t1 += 1
        offs = torch.arange(t0, t1, device=dev, dtype=el.dtype)
        rows_per = max(1, budget // (t1 - t0))
        for r0 in range(0, na, rows_per):
            r1 = min(na, r0 + rows_per)
            pos = start[r0:r1, None] + offs
            pos = torch.where(offs < el[r0:r1, None], pos, sentinel).view(-1)
            tgt = (base[r0:r1, None] + gr_s.index_select(0, pos).view(r1 - r0, -1)).view(-1)
            val = torch.minimum(ev[r0:r1, None], gval_s.index_select(0, pos).view(r1 - r0, -1)).view(-1)
            tmin.index_add_(0, tgt, val)
        t0 = t1
    del el, start, base, ev
    out = tmin.view(nq, ng)
    step = max(1, min(nq, (1 << 24) // max(ng, 1)))
    for s in range(0, nq, step):
        e = min(nq, s + step)
        # (1 - lam) * (1 - t / (2 - t)) + lam * d / rowmax, with 1 - t/(2-t) = 2 - 2/(2-t); in place
        u = out[s:e].neg_().add_(2.0).reciprocal_()
        u.mul_(-2.0 * (1.0 - lambda_value)).add_(2.0 * (1.0 - lambda_value))
        u.add_(src.query_gallery(s, e) * (lambda_value / rowmax[s:e]).unsqueeze(1))
    return out


def _same_kind(result: torch.Tensor, like) -> ArrayLike:
    return result.cpu().numpy() if isinstance(like, np.ndarray) else result


def k_reciprocal_rerank(q_g: ArrayLike, q_q: ArrayLike, g_g: ArrayLike, k1: int = _K1, k2: int = _K2,
                        lambda_value: float = _LAMBDA, chunk_size: int = 2048) -> ArrayLike:
    """k-reciprocal re-ranked query x gallery distance (Zhong et al., CVPR 2017).

    Args:
        q_g: ``[nq, ng]`` query x gallery distance, q_q: ``[nq, nq]``, g_g: ``[ng, ng]``
            (tensors on any device, or numpy). Pass the distance the algorithm should work on,
            normally the *squared* euclidean distance of :func:`pairwise_distance` (or the cosine
            distance). It is used as is, never squared (unlike torchreid's ``re_ranking``, which
            squares its input: ``k_reciprocal_rerank(d) == torchreid re_ranking(sqrt(d))``).
            ``q_q`` and ``g_g`` must be symmetric.
        k1, k2, lambda_value: the paper's parameters (default :data:`RERANK_DEFAULTS`: 20, 6, 0.3);
            ``k1``, ``k2`` integers >= 1, ``lambda_value`` in [0, 1] (else ConfigError).
        chunk_size: rows of the all x all distance handled at once (bounds temporary memory).

    Returns:
        Re-ranked ``[nq, ng]`` float32 distance: a numpy array if ``q_g`` was numpy, else a tensor on
        ``q_g``'s device. Values are ``(1-lambda) * jaccard + lambda * d / rowmax`` (in [0, 1] for
        non-negative input).
    """
    k1, k2, lambda_value, chunk_size = check_rerank_params(k1, k2, lambda_value, chunk_size)
    a = as_tensor(q_g, "q_g", ndim=2)
    dev = a.device
    b = as_tensor(q_q, "q_q", ndim=2, device=dev)
    c = as_tensor(g_g, "g_g", ndim=2, device=dev)
    nq, ng = a.shape
    if b.shape != (nq, nq) or c.shape != (ng, ng):
        raise ConfigError(f"k_reciprocal_rerank: shapes q_g {tuple(a.shape)}, q_q {tuple(b.shape)}, g_g {tuple(c.shape)} "
                          f"do not fit; expected q_q [{nq}, {nq}] and g_g [{ng}, {ng}]")
    for t, name in ((a, "q_g"), (b, "q_q"), (c, "g_g")):
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t.sum())):
            raise ConfigError(f"k_reciprocal_rerank: {name} holds {int((~torch.isfinite(t)).sum())} NaN/inf "
                              "distances; check the features before re-ranking")
    out = _rerank_core(_MatrixSource(a, b, c), k1, k2, lambda_value, chunk_size)
    return _same_kind(out, q_g)


def rerank_from_features(qf: ArrayLike, gf: ArrayLike, metric: str = "euclidean", k1: int = _K1, k2: int = _K2,
                         lambda_value: float = _LAMBDA, chunk_size: int = 1024) -> ArrayLike:
    """k-reciprocal re-ranking straight from features, without any all x all matrix.

    The distance is ``pairwise_distance(., ., metric)`` (squared euclidean or cosine), computed in
    chunks of ``chunk_size`` rows; memory is O((nq + ng) * (k1 + chunk_size)) plus the ``[nq, ng]``
    output, so MSMT17-size sets (~94k images) fit in a few GB. Same algorithm as
    ``k_reciprocal_rerank(pairwise_distance(qf, gf), pairwise_distance(qf, qf), pairwise_distance(gf, gf))``;
    the distances are recomputed blockwise, so where two neighbours' distances differ by less than
    float32 rounding the neighbour order (and thus a few output entries) can differ.

    Returns:
        ``[nq, ng]`` float32 (numpy if ``qf`` was numpy, else a tensor on ``qf``'s device).
    """
    check_choice(metric, "metric", METRICS)
    k1, k2, lambda_value, chunk_size = check_rerank_params(k1, k2, lambda_value, chunk_size)
    q = float_features(qf, "query features")
    g = float_features(gf, "gallery features", device=q.device)
    if q.shape[1] != g.shape[1]:
        raise ConfigError(f"rerank_from_features: qf dim {q.shape[1]} != gf dim {g.shape[1]}; use features of the same model")
    out = _rerank_core(_FeatureSource(q, g, metric), k1, k2, lambda_value, chunk_size)
    return _same_kind(out, qf)
