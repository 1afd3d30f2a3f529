"""Ranking metrics for re-ID: CMC, mAP (two named AP definitions) and mINP.

Protocol (the field's convention, as in Market-1501 / DukeMTMC-reID / MSMT17 / CUHK03-NP; the junk
rule is defined once, by :func:`valid_gallery_mask`, and the vectorised kernel below is tested equal
to a per-query ranking that uses it):

- For a query with identity ``p`` seen by camera ``c``, gallery items with identity ``p`` AND
  camera ``c`` are *junk*: removed from that query's ranking (neither hit nor miss).
- Gallery items with identity ``-1`` are junk for every query (removed). Identity ``0``
  (Market's distractors) is an ordinary negative.
- Positives ("good" items) are gallery items with the query's identity from another camera.
  A query without any positive is *skipped*: it contributes to no average and is counted in
  ``num_skipped`` (its ``all_ap``/``all_inp`` entries are NaN). Queries with identity -1 are skipped.
- Ranking is by ascending distance; **ties are broken by gallery index** (the earlier gallery
  item ranks first), i.e. exactly what a stable argsort of each row gives.
- ``ap="standard"``: AP = mean over the positives of precision at each hit,
  ``(1/m) * sum_i i / r_i`` (``r_i`` = 1-based rank of the i-th hit among the non-junk items).
  This is what torchreid / fast-reid report.
- ``ap="market"``: the Market-1501 official trapezoid rule,
  ``(1/m) * sum_i (p_i + p_{i-1}') / 2`` with ``p_i = i / r_i`` and ``p_{i-1}' = (i-1)/(r_i-1)``
  the precision at the rank just before the hit (1 when ``r_i = 1``).
  Hits at ranks 1, 2, 4, 7 give standard AP 0.830357 and Market AP 0.811012.
- mINP (Ye et al., 2021): INP = ``m / r_m``, the number of positives over the rank of the hardest one.
- CMC (``cmc_mode="all"``, the CUHK03-NP 767/700, Market, Duke and MSMT17 protocol):
  ``cmc[k]`` = fraction of valid queries whose first hit is at rank <= k+1.
  ``cmc_mode="single_gallery_shot"`` is the *classic* CUHK03 (1367/100 split) setting: for each
  query one gallery image per identity is sampled at random (``num_repeats`` times, seeded), CMC is
  averaged over the repeats; AP and INP are always computed on the full ranking (as torchreid does).

Speed: no full sort. For each query only the ranks of its positives are needed. Gallery items
up to the hardest positive are compacted and bucketed against the query's sorted positive
distances (one ``torch.searchsorted`` over exact (row, value) integer keys for float32) and the
negatives in each bucket counted; items farther than the hardest positive are never touched
again. Exact ties between a negative and a positive are resolved by gallery index afterwards, so
the result is identical to the stable-argsort definition above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_labels, as_tensor, check_choice

AP_KINDS = ("standard", "market")
CMC_MODES = ("all", "single_gallery_shot")


@dataclass
class RankResult:
    """Result of :func:`rank_metrics`.

    Attributes:
        cmc: ``np.ndarray [max_rank]``; ``cmc[k]`` = fraction of valid queries matched within rank k+1.
        mAP: mean AP over valid queries (in [0, 1]), AP definition ``ap_kind``.
        mINP: mean inverse negative penalty over valid queries.
        num_valid: queries with at least one positive.
        num_skipped: queries without a positive (excluded from every average).
        all_ap: ``np.ndarray [nq]`` per-query AP, NaN for skipped queries.
        all_inp: ``np.ndarray [nq]`` per-query INP, NaN for skipped queries.
        ap_kind: ``"standard"`` or ``"market"``.
        cmc_mode: ``"all"`` or ``"single_gallery_shot"``.
        first_hit: ``np.ndarray [nq]`` 1-based rank of the first positive (0 for skipped queries).
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid: int
    num_skipped: int
    all_ap: np.ndarray
    all_inp: np.ndarray
    ap_kind: str = "standard"
    cmc_mode: str = "all"
    first_hit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based); NaN if ``k`` exceeds ``max_rank``."""
        return float(self.cmc[k - 1]) if 1 <= k <= len(self.cmc) else float("nan")

    def as_dict(self) -> dict:
        """Flat dict for a pandas row: rank1/5/10/20, mAP, mINP, counts, ap_kind, cmc_mode."""
        d = {f"rank{k}": self.rank(k) for k in (1, 5, 10, 20)}
        d.update(mAP=float(self.mAP), mINP=float(self.mINP), num_valid=int(self.num_valid),
                 num_skipped=int(self.num_skipped), ap_kind=self.ap_kind, cmc_mode=self.cmc_mode)
        return d

    def __str__(self) -> str:
        d = self.as_dict()
        head = f"{'rank1':>7} {'rank5':>7} {'rank10':>7} {'mAP':>7} {'mINP':>7}   queries"
        row = "".join(f"{100 * d[k]:>7.2f} " for k in ("rank1", "rank5", "rank10", "mAP", "mINP"))
        return (f"{head}\n{row}  {self.num_valid} valid, {self.num_skipped} skipped"
                f"  (AP: {self.ap_kind}, CMC: {self.cmc_mode})")


def valid_gallery_mask(q_pid: ArrayLike, q_cam: ArrayLike, g_pids: ArrayLike, g_cams: ArrayLike) -> ArrayLike:
    """The junk rule, the one definition: which gallery items take part in a query's ranking.

    A gallery item is **removed** (junk) for a query when it has the query's identity AND the
    query's camera, or when its identity is ``-1``; identity ``0`` (Market's distractors) stays
    as an ordinary negative. Everything that ranks or draws a ranking uses this function (or, in
    :func:`rank_metrics`' vectorised kernel, the same rule tested equal to it).

    Args:
        q_pid, q_cam: one query's identity and camera (scalars), or ``[nq]`` vectors.
        g_pids, g_cams: ``[ng]`` gallery identities and cameras.

    Returns:
        bool mask ``[ng]`` (scalar query) or ``[nq, ng]`` (vector of queries), True = kept; a torch
        tensor if ``g_pids`` is one, else a numpy array.
    """
    if isinstance(g_pids, torch.Tensor):
        gp, gc = g_pids, torch.as_tensor(g_cams, device=g_pids.device)
        qp = torch.as_tensor(q_pid, device=gp.device)
        qc = torch.as_tensor(q_cam, device=gp.device)
        if qp.dim() == 1:
            qp, qc = qp.unsqueeze(1), qc.unsqueeze(1)
    else:
        gp, gc = np.asarray(g_pids), np.asarray(g_cams)
        qp, qc = np.asarray(q_pid), np.asarray(q_cam)
        if qp.ndim == 1:
            qp, qc = qp[:, None], qc[:, None]
    return ~((gp == qp) & (gc == qc)) & (gp != -1)


def _ordered_bits(v: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 in [0, 2^32) with the same order as the floats (no NaN; -0.0 == +0.0)."""
    bits = (v + 0.0).view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + (1 << 31)


def _positive_ranks_chunk(D: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor, g_pids: torch.Tensor,
                          g_cams: torch.Tensor, junk_cols: Optional[torch.Tensor],
                          g_sorted: torch.Tensor, u_pids: torch.Tensor, u_start: torch.Tensor,
                          u_count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """1-based ranks (among non-junk gallery items) of each query's positives, sorted ascending.

    Returns ``ranks [B, M]`` (int64, padded with 0) and ``m [B]`` (number of positives per query).
    """
    B, ng = D.shape
    dev = D.device
    if u_pids.numel() == 0:
        return torch.zeros((B, 0), dtype=torch.int64, device=dev), torch.zeros(B, dtype=torch.int64, device=dev)
    # gallery items sharing the query identity: a contiguous run of the pid-sorted gallery
    loc = torch.searchsorted(u_pids, qp).clamp_(max=u_pids.numel() - 1)
    has = (u_pids[loc] == qp) & (qp != -1)
    cnt = torch.where(has, u_count[loc], torch.zeros_like(loc))
    rows = torch.repeat_interleave(torch.arange(B, device=dev), cnt)
    offs = torch.arange(rows.numel(), device=dev) - (torch.cumsum(cnt, 0) - cnt)[rows]
    cols = g_sorted[u_start[loc][rows] + offs]
    flat_same = rows * ng + cols
    is_pos = g_cams[cols] != qc[rows]
    prow, pcol = rows[is_pos], cols[is_pos]
    m = torch.bincount(prow, minlength=B)
    M = int(m.max()) if B else 0
    if M == 0:
        return torch.zeros((B, 0), dtype=torch.int64, device=dev), m
    Dflat = D.reshape(-1)
    pval = Dflat[flat_same[is_pos]]
    # sort positives by (row, value): value sort then stable row sort
    o = torch.argsort(pval, stable=True)
    o = o[torch.argsort(prow[o], stable=True)]
    prow, pcol, pval = prow[o], pcol[o], pval[o]  # equal values keep gallery-index order
    pstart = torch.cumsum(m, 0) - m
    hi = torch.full((B,), -float("inf"), dtype=D.dtype, device=dev)
    hi[m > 0] = pval[pstart[m > 0] + m[m > 0] - 1]
    # Only gallery items up to the hardest positive matter; they are compacted ("band") and each is
    # bucketed by the number of the row's positives <= it. Farther items are never touched again.
    band = D <= hi.unsqueeze(1)
    band.view(-1)[flat_same] = False  # the positives themselves and same-camera junk
    if junk_cols is not None:
        band.index_fill_(1, junk_cols, False)
    nz = band.view(-1).nonzero().squeeze(1)                     # row-major flat positions
    br = torch.div(nz, ng, rounding_mode="floor")
    vals = Dflat.index_select(0, nz)
    bounds = torch.searchsorted(nz, torch.arange(B + 1, device=dev) * ng)
    nb = bounds[1:] - bounds[:-1]
    if D.dtype == torch.float32:
        # one global search on (row, value) keys packed into int64 -- exact
        pkey = (prow << 32) | _ordered_bits(pval)
        bkey = (br << 32) | _ordered_bits(vals)
        idx = torch.searchsorted(pkey, bkey, right=True)
        pst = pstart.index_select(0, br)
        bucket = idx - pst
        tied_el = (idx > pst) & (pkey.index_select(0, (idx - 1).clamp(min=0)) == bkey)
        del bkey, idx
    else:
        L = int(nb.max()) if br.numel() else 0
        slot = torch.arange(br.numel(), device=dev) - (torch.cumsum(nb, 0) - nb)[br]
        X = torch.full((B, max(L, 1)), float("inf"), dtype=D.dtype, device=dev)
        X.view(-1)[br * X.shape[1] + slot] = vals
        S = torch.full((B, M), float("inf"), dtype=D.dtype, device=dev)
        S.view(-1)[prow * M + torch.arange(prow.numel(), device=dev) - pstart[prow]] = pval
        b2 = torch.searchsorted(S, X, right=True)
        bucket = b2.view(-1)[br * X.shape[1] + slot]
        Spad = torch.cat([torch.full((B, 1), -float("inf"), dtype=D.dtype, device=dev), S], 1)
        tied_el = Spad.view(-1)[br * (M + 1) + bucket] == vals
    # A kept negative exactly equal to a positive's distance: searchsorted(right=True) put it after
    # every equal positive; by the tie rule (gallery index) it goes before those with a larger index.
    if bool(tied_el.any()):
        e_idx = torch.nonzero(tied_el).flatten()                # tied elements (few)
        e_col = nz[e_idx] - br[e_idx] * ng
        e_row, e_val = br[e_idx], vals[e_idx]
        k = m[e_row]
        rep = torch.repeat_interleave(torch.arange(e_idx.numel(), device=dev), k)
        pos = torch.repeat_interleave(pstart[e_row], k) + torch.arange(int(k.sum()), device=dev) \
            - torch.repeat_interleave(torch.cumsum(k, 0) - k, k)
        before = (pval[pos] < e_val[rep]) | ((pval[pos] == e_val[rep]) & (pcol[pos] < e_col[rep]))
        bucket[e_idx] = torch.zeros(e_idx.numel(), dtype=torch.int64, device=dev).index_add_(
            0, rep, before.to(torch.int64))
    hist = torch.bincount(br * (M + 1) + bucket, minlength=B * (M + 1)).view(B, M + 1)
    neg_less = hist[:, :M].cumsum(1)
    ranks = neg_less + torch.arange(1, M + 1, device=dev).unsqueeze(0)
    ranks = torch.where(torch.arange(M, device=dev).unsqueeze(0) < m.unsqueeze(1), ranks, torch.zeros_like(ranks))
    return ranks, m


def _single_shot_first_hit(D: torch.Tensor, q_pids: torch.Tensor, q_cams: torch.Tensor, g_pids: torch.Tensor,
                           g_cams: torch.Tensor, max_rank: int, num_repeats: int, seed: int) -> torch.Tensor:
    """Classic CUHK03 CMC: average over repeats of the hit curve with one gallery image per identity."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    nq = D.shape[0]
    cmc = torch.zeros((nq, max_rank), dtype=torch.float64)
    for i in range(nq):
        qp, qc = q_pids[i], q_cams[i]
        keep = valid_gallery_mask(qp, qc, g_pids, g_cams)
        if qp == -1 or not bool(((g_pids == qp) & keep).any()):
            continue
        d, gp = D[i][keep].cpu(), g_pids[keep].cpu()
        upid, inv = torch.unique(gp, return_inverse=True)
        keys = torch.rand((num_repeats, d.numel()), generator=gen, dtype=torch.float64)
        best = torch.full((num_repeats, upid.numel()), -1.0, dtype=torch.float64)
        best.scatter_reduce_(1, inv.expand(num_repeats, -1), keys, reduce="amax")
        chosen = keys == best.gather(1, inv.expand(num_repeats, -1))  # one item per identity and repeat
        pos = gp == qp.cpu()
        idx = torch.arange(d.numel())
        for r in range(num_repeats):
            sel = chosen[r]
            p = int(torch.nonzero(sel & pos).flatten()[0])
            dn = d[sel & ~pos]
            inn = idx[sel & ~pos]
            rank = int(((dn < d[p]) | ((dn == d[p]) & (inn < p))).sum()) + 1
            if rank <= max_rank:
                cmc[i, rank - 1:] += 1.0 / num_repeats
    return cmc


def rank_metrics(distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike,
                 g_camids: ArrayLike, max_rank: int = 50, ap: str = "standard", cmc_mode: str = "all",
                 num_repeats: int = 10, seed: int = 0, chunk_size: int = 1024) -> RankResult:
    """CMC, mAP and mINP from a query x gallery distance matrix (smaller = more similar).

    Args:
        distmat: ``[nq, ng]`` distances (tensor on any device, or numpy). Any monotone distance works
            (squared euclidean, cosine distance, a re-ranked distance); for a similarity pass its negative.
        q_pids, g_pids: identities (int; gallery ``-1`` = junk, ``0`` = distractor kept as a negative).
        q_camids, g_camids: camera labels (any integers; only equality is used).
        max_rank: length of the CMC curve.
        ap: ``"standard"`` (mean precision at each hit, default) or ``"market"`` (official trapezoid).
        cmc_mode: ``"all"`` (default; Market/Duke/MSMT17/CUHK03-NP) or ``"single_gallery_shot"``
            (classic CUHK03, averaged over ``num_repeats`` samplings seeded with ``seed``).
        chunk_size: query rows processed at once (bounds temporary memory: ~12 bytes x chunk x ng).

    Returns:
        :class:`RankResult` (``cmc`` numpy ``[max_rank]``; ``mAP``/``mINP`` in [0, 1]). The conventions
        (junk, skipping, tie-breaking by gallery index) are in this module's docstring.
    """
    check_choice(ap, "ap", AP_KINDS)
    check_choice(cmc_mode, "cmc_mode", CMC_MODES)
    if int(max_rank) < 1:
        raise ConfigError(f"max_rank={max_rank} must be >= 1")
    D = as_tensor(distmat, "distmat", ndim=2)
    if not D.is_floating_point():
        D = D.float()
    if D.dtype in (torch.float16, torch.bfloat16):
        D = D.float()
    dev = D.device
    nq, ng = D.shape
    qp = as_labels(q_pids, "q_pids", nq, dev)
    qc = as_labels(q_camids, "q_camids", nq, dev)
    gp = as_labels(g_pids, "g_pids", ng, dev)
    gc = as_labels(g_camids, "g_camids", ng, dev)

    gidx = _GalleryIndex(gp, gc)
    all_ap = np.full(nq, np.nan)
    all_inp = np.full(nq, np.nan)
    first_hit = np.zeros(nq, dtype=np.int64)
    step = max(1, int(chunk_size))
    for s in range(0, nq, step):
        e = min(nq, s + step)
        _chunk_metrics(D[s:e], qp[s:e], qc[s:e], gidx, ap, all_ap[s:e], all_inp[s:e], first_hit[s:e], s)
    return _finish(all_ap, all_inp, first_hit, ap, cmc_mode, int(max_rank),
                   lambda: _single_shot_first_hit(D, qp, qc, gp, gc, int(max_rank), int(num_repeats), int(seed)))


class _GalleryIndex:
    """Gallery labels prepared once: pid-sorted order, runs per pid, junk columns."""

    def __init__(self, gp: torch.Tensor, gc: torch.Tensor):
        self.gp, self.gc = gp, gc
        self.g_sorted = torch.argsort(gp, stable=True)
        self.u_pids, self.u_count = torch.unique_consecutive(gp[self.g_sorted], return_counts=True)
        self.u_start = torch.cumsum(self.u_count, 0) - self.u_count
        junk = torch.nonzero(gp == -1).flatten()
        self.junk_cols = junk if junk.numel() else None


def _chunk_metrics(D: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor, gidx: _GalleryIndex, ap: str,
                   out_ap: np.ndarray, out_inp: np.ndarray, out_first: np.ndarray, offset: int) -> None:
    """AP, INP and first-hit rank of one chunk of queries, written into the given array views."""
    if bool(torch.isnan(D.max())) if D.numel() else False:  # max propagates NaN
        raise ConfigError(f"distmat contains NaN (query rows {offset}..{offset + D.shape[0] - 1}); "
                          "check the features (NaN/inf) before ranking")
    D = D.contiguous()  # e.g. a Fortran-ordered numpy matrix: copy this chunk only
    ranks, m = _positive_ranks_chunk(D, qp, qc, gidx.gp, gidx.gc, gidx.junk_cols, gidx.g_sorted,
                                     gidx.u_pids, gidx.u_start, gidx.u_count)
    valid = m > 0
    if not bool(valid.any()):
        return
    M = ranks.shape[1]
    r = ranks.to(torch.float64)
    k = torch.arange(1, M + 1, device=D.device, dtype=torch.float64).unsqueeze(0)
    inside = k <= m.unsqueeze(1)
    prec = torch.where(inside, k / r.clamp(min=1), torch.zeros_like(r))
    if ap == "standard":
        apv = prec.sum(1) / m.clamp(min=1)
    else:
        prev = torch.where(r > 1, (k - 1) / (r - 1).clamp(min=1), torch.ones_like(r))
        apv = (torch.where(inside, (prec + prev) / 2, torch.zeros_like(r))).sum(1) / m.clamp(min=1)
    last = ranks.gather(1, (m - 1).clamp(min=0).unsqueeze(1)).squeeze(1).to(torch.float64)
    inp = m.to(torch.float64) / last.clamp(min=1)
    v = valid.cpu().numpy()
    out_ap[v] = apv.cpu().numpy()[v]
    out_inp[v] = inp.cpu().numpy()[v]
    out_first[v] = ranks[:, 0].cpu().numpy()[v]


def _finish(all_ap: np.ndarray, all_inp: np.ndarray, first_hit: np.ndarray, ap: str, cmc_mode: str,
            max_rank: int, single_shot=None) -> RankResult:
    nq = len(all_ap)
    valid = first_hit > 0
    num_valid = int(valid.sum())
    if cmc_mode == "all":
        counts = np.bincount(np.minimum(first_hit[valid], max_rank + 1), minlength=max_rank + 2)[1:max_rank + 1]
        cmc = np.cumsum(counts) / max(num_valid, 1)
    else:
        cmc = single_shot().numpy()[valid].sum(0) / max(num_valid, 1)
    mAP = float(np.nanmean(all_ap)) if num_valid else float("nan")
    mINP = float(np.nanmean(all_inp)) if num_valid else float("nan")
    return RankResult(cmc=cmc.astype(np.float64), mAP=mAP, mINP=mINP, num_valid=num_valid,
                      num_skipped=nq - num_valid, all_ap=all_ap, all_inp=all_inp, ap_kind=ap,
                      cmc_mode=cmc_mode, first_hit=first_hit)


def multi_query_features(q_feats: ArrayLike, q_pids: ArrayLike, q_camids: ArrayLike, mq_feats: ArrayLike,
                         mq_pids: ArrayLike, mq_camids: ArrayLike, include_query: bool = False) -> torch.Tensor:
    """Market-1501 multi-query features: per query, the mean of the ``gt_bbox`` (``mq``) features
    with the query's identity AND camera.

    Market's official multi-query setting averages the hand-drawn ``gt_bbox`` images of the query's
    identity seen by the query's camera. The query image itself belongs to ``gt_bbox``, so by default it
    is *not* added a second time (``include_query=False``); pass ``include_query=True`` when your ``mq``
    set does not contain the query images. A query with no matching ``mq`` image keeps its own feature.
    Features are averaged as given (normalise afterwards if your metric needs unit vectors;
    the cosine metric normalises anyway).

    Returns:
        ``torch.Tensor [nq, d]`` (dtype of ``q_feats``, on its device).
    """
    qf = as_tensor(q_feats, "q_feats", ndim=2)
    if not qf.is_floating_point():
        qf = qf.float()
    dev = qf.device
    mf = as_tensor(mq_feats, "mq_feats", ndim=2, device=dev, dtype=qf.dtype)
    if mf.shape[1] != qf.shape[1]:
        raise ConfigError(f"multi_query_features: mq_feats dim {mf.shape[1]} != q_feats dim {qf.shape[1]}; "
                          "use features from the same model")
    nq, nm = qf.shape[0], mf.shape[0]
    qp, qc = as_labels(q_pids, "q_pids", nq, dev), as_labels(q_camids, "q_camids", nq, dev)
    mp, mc = as_labels(mq_pids, "mq_pids", nm, dev), as_labels(mq_camids, "mq_camids", nm, dev)
    # group key (pid, cam) -> sums over mq, looked up per query
    keys = torch.cat([torch.stack([mp, mc], 1), torch.stack([qp, qc], 1)])
    uniq, inv = torch.unique(keys, dim=0, return_inverse=True)
    sums = torch.zeros((uniq.shape[0], qf.shape[1]), dtype=qf.dtype, device=dev)
    sums.index_add_(0, inv[:nm], mf)
    cnt = torch.bincount(inv[:nm], minlength=uniq.shape[0]).to(qf.dtype)
    qi = inv[nm:]
    s, c = sums[qi], cnt[qi]
    if include_query:
        s, c = s + qf, c + 1
    out = torch.where((c > 0).unsqueeze(1), s / c.clamp(min=1).unsqueeze(1), qf)
    return out
