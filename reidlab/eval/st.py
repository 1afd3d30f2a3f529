"""Spatial-temporal model (Wang, Lai, Huang, Xie, AAAI 2019, "Spatial-Temporal Person
Re-identification"), as used by PFN for re-ranking — fully vectorised.

Fitting (on training records):

1. per training identity and camera, the mean frame (frames on one clock per camera; for
   Market use the global frame of ``reidlab.data``: sequences laid end to end);
2. for every identity seen by two cameras ``a != b``, the difference of the two mean frames is
   counted in the histogram of the ordered pair **(later camera, earlier camera)**: if
   ``mean_a > mean_b`` in ``hist[a, b, floor((mean_a - mean_b) / bin_size)]``. When the means are
   equal the count goes to ``hist[hi, lo, 0]`` with ``hi`` the camera with the larger label
   (the original code's ``else`` branch). Same-camera pairs get no histogram (probability 0, see
   "Same camera" below);
3. each pair's histogram is smoothed along the bins with a Gaussian of ``sigma`` bins cut at
   ``truncate * sigma`` bins (offsets ``|t| <= floor(truncate*sigma)``; the original's 3 sigma), and
   renormalised to sum 1 (pairs without data stay 0). The table has
   ``num_bins = max observed bin + 1 + floor(truncate*sigma)`` bins unless given, so no smoothed mass
   is cut off.

Scoring a query (camera ``cq``, frame ``fq``) against a gallery image (``cg``, ``fg``): if
``fq > fg`` the probability is ``table[cq, cg, bin(fq - fg)]``, else ``table[cg, cq, bin(fg - fq)]``
(again later camera first), ``bin(x) = floor(x / bin_size)``; bins past the table, cameras
never seen in training and same-camera pairs give 0.

Deviation from the original code: it averages frames per identity over 8 fixed camera slots and
also counts identities *absent* from a camera (mean frame 0 there); here only identities seen by
both cameras contribute, and camera ids are arbitrary integer labels.

**Same camera.** The model describes *transits between two cameras*: the original code (Wang et al.,
``gen_st_model_market.py``) fills ``distribution[j][k]`` for camera pairs ``j < k`` only, so a pair
of images from one camera has probability 0 there, and so here. This is also what the protocol
needs: every valid match of a query is in another camera (same identity and camera is junk), so
same-camera gallery images are only ever strangers. The alternative "an identity's mean frame
minus itself" (a count in bin 0 of ``(c, c)``, then smoothed over +-150 bins) would give every
other person seen by the query's camera within a few hours the largest probability of the table:
on the CPU-demo PFN run it takes ST rank-1 from 60.0 to 20.1 (preliminary, one seed).

**Self-pairs and re-ranking.** With ``p = 0`` for same-camera pairs, the joint score of an image
with *itself* would be ``sigmoid(gamma) / (1 + lambda1) ~ 0.331`` -- lower than that of any
cross-camera pair with a plausible transit time. :class:`reidlab.eval.Evaluation` therefore sets
the ST distance of an image to itself to 0 (and symmetrises the query-query / gallery-gallery
blocks) before k-reciprocal re-ranking, whose k-reciprocal sets contain the image itself; without
this, each image's neighbour list started with strangers and ST + re-ranking fell far below ST
(CPU-demo PFN rank-1 60.0 -> 33.1; with the fix 45.5). The rest of that gap is not a defect: the
re-ranking's Jaccard term (weight ``1 - lambda = 0.7``) compares neighbour sets, and with the
demo's weak features only ~25% of each image's 20 nearest ST neighbours share its identity (plain
re-ranking loses there too: 9.7 -> 8.9), while the camera-time factor is pairwise, not transitive.
With good features (the README's calibration run) re-ranking adds to ST: rank-1 93.9 -> 95.0, mAP
86.2 -> 93.3 (94.8 / 92.8 without the self-pair rule).

**Saturated similarities.** The logistic ``1/(1 + e^(-5 s))`` is nearly flat for ``s`` close to 1,
so the balance between appearance and camera-time depends on where a model's cosine similarities
lie. Features with a large shared component (e.g. the CPU-demo MGWP run: every query-gallery
cosine similarity in [0.985, 0.996]) leave the appearance term almost constant and the joint score
ranks by the camera-time factor alone: ST rank-1 20.5 where models with spread similarities reach
50-60 from a similar plain rank-1 (the plain euclidean ranking is unaffected: it is translation
invariant), and ST + re-ranking then compares neighbourhoods made of camera-time coincidences only
(MGWP 20.5 -> 2.0 with the self-pair fix). Centring the features (subtracting the gallery mean)
before the cosine similarity gives MGWP ST 46.5; it is not part of the method, so the evaluator
does not do it. All numbers: one CPU-demo run per model, seed 0 (preliminary).

Joint score (the paper's logistic smoothing): ``joint_score(s, p) = 1/(1 + l0 e^(-g s)) *
1/(1 + l1 e^(-g p))`` with ``l0=1, l1=2, g=5``, ``s`` the cosine similarity; optional re-ranking
input ``st_rerank_distance(score) = 2 - 2 score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from reidlab.errors import ConfigError
from reidlab.eval._common import ArrayLike, as_tensor


def _vec(x: ArrayLike, name: str, n: Optional[int] = None) -> torch.Tensor:
    t = as_tensor(x, name, ndim=1)
    if n is not None and t.numel() != n:
        raise ConfigError(f"{name}: expected {n} entries (one per image), got {t.numel()}")
    return t


def gaussian_kernel(sigma: float, truncate: float = 3.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normal pdf with std ``sigma`` (bins) at offsets ``-T..T``, ``T = floor(truncate * sigma)``."""
    T = int(math.floor(truncate * sigma))
    t = torch.arange(-T, T + 1, dtype=dtype)
    return torch.exp(-(t * t) / (2.0 * sigma * sigma)) / (sigma * math.sqrt(2.0 * math.pi))


@dataclass
class STModel:
    """Fitted spatial-temporal model: ``table[later_cam, earlier_cam, bin]`` probabilities.

    Attributes:
        cam_labels: sorted camera labels; row/column ``i`` of the table is camera ``cam_labels[i]``.
        table: ``[ncam, ncam, num_bins]`` float64 smoothed, per-pair normalised probabilities.
        hist: ``[ncam, ncam, num_bins]`` raw counts (before smoothing), for plots.
        bin_size: frames per bin. sigma: Gaussian std in bins. truncate: kernel cut in sigmas.
    """

    cam_labels: torch.Tensor
    table: torch.Tensor
    hist: torch.Tensor
    bin_size: float = 100.0
    sigma: float = 50.0
    truncate: float = 3.0

    @property
    def num_bins(self) -> int:
        return int(self.table.shape[-1])

    @classmethod
    def fit(cls, pids: ArrayLike, camids: ArrayLike, frames: ArrayLike, bin_size: float = 100.0,
            sigma: float = 50.0, truncate: float = 3.0, num_bins: Optional[int] = None) -> "STModel":
        """Fit on training records (one entry per image; identities < 0 are ignored).

        Args:
            pids: identity per image; camids: camera label per image (any integers);
            frames: frame number per image on one clock per camera.
            bin_size: histogram bin width in frames (paper: 100). sigma: smoothing std in bins (50).
            truncate: kernel cut in sigmas (3). num_bins: table length (default: enough for the data).
        """
        if bin_size <= 0 or sigma <= 0:
            raise ConfigError(f"STModel.fit: bin_size={bin_size} and sigma={sigma} must be > 0 (paper: 100 and 50)")
        p = _vec(pids, "pids").to(torch.int64).cpu()
        n = p.numel()
        c = _vec(camids, "camids", n).to(torch.int64).cpu()
        f = _vec(frames, "frames", n).to(torch.float64).cpu()
        keep = p >= 0
        if not bool(keep.any()):
            raise ConfigError("STModel.fit: no training identity >= 0; pass the training records' pids")
        cam_labels = torch.unique(c)
        p, c, f = p[keep], c[keep], f[keep]
        upid, pi = torch.unique(p, return_inverse=True)
        ci = torch.searchsorted(cam_labels, c)
        ncam, npid = cam_labels.numel(), upid.numel()
        flat = pi * ncam + ci
        sums = torch.zeros(npid * ncam, dtype=torch.float64).index_add_(0, flat, f).view(npid, ncam)
        cnts = torch.bincount(flat, minlength=npid * ncam).view(npid, ncam)
        means = sums / cnts.clamp(min=1)
        a, b = torch.triu_indices(ncam, ncam, offset=1)
        ma, mb = means[:, a], means[:, b]
        valid = (cnts[:, a] > 0) & (cnts[:, b] > 0)
        a_later = ma > mb
        first = torch.where(a_later, a, b)[valid]
        second = torch.where(a_later, b, a)[valid]
        bins = torch.floor((ma - mb).abs() / bin_size).to(torch.int64)[valid]
        T = int(math.floor(truncate * sigma))
        nb = int(num_bins) if num_bins is not None else (int(bins.max()) + 1 if bins.numel() else 1) + T
        inside = bins < nb
        hist = torch.zeros(ncam * ncam * nb, dtype=torch.float64)
        hist.index_add_(0, ((first * ncam + second) * nb + bins)[inside],
                        torch.ones(int(inside.sum()), dtype=torch.float64))
        hist = hist.view(ncam, ncam, nb)
        k = gaussian_kernel(sigma, truncate).view(1, 1, -1)
        sm = torch.nn.functional.conv1d(hist.view(-1, 1, nb), k, padding=T).view(ncam, ncam, nb) if T > 0 else hist * k.flatten()[0]
        total = sm.sum(-1, keepdim=True)
        table = torch.where(total > 0, sm / total.clamp(min=1e-300), torch.zeros_like(sm))
        return cls(cam_labels=cam_labels, table=table, hist=hist, bin_size=float(bin_size),
                   sigma=float(sigma), truncate=float(truncate))

    @classmethod
    def from_records(cls, records, **options) -> "STModel":
        """:meth:`fit` on dataset records (``.pid``, ``.camid``, ``.frame``), normally the train split.

        Raises ConfigError when a record has no frame number (spatial-temporal scoring needs
        Market/Duke-style names). ``options`` go to :meth:`fit` (``bin_size``, ``sigma``...).
        """
        recs = list(records)
        missing = sum(1 for r in recs if getattr(r, "frame", None) is None)
        if missing or not recs:
            raise ConfigError(f"STModel.from_records: {missing} of {len(recs)} records have no frame number; the "
                              "spatial-temporal model needs camera and frame in the names (Market/Duke layouts)")
        return cls.fit([r.pid for r in recs], [r.camid for r in recs], [r.frame for r in recs], **options)

    def probability(self, q_camids: ArrayLike, q_frames: ArrayLike, g_camids: ArrayLike, g_frames: ArrayLike,
                    chunk_size: Optional[int] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Spatial-temporal probability ``[nq, ng]`` of each query x gallery pair (conventions above).

        Computed on the device of ``q_frames`` (if a tensor) by one gather from the table per chunk
        of ``chunk_size`` queries (default: ~16M pairs per chunk).
        """
        return self._lookup(self.table, q_camids, q_frames, g_camids, g_frames, chunk_size, dtype)

    def score(self, similarity: ArrayLike, q_camids: ArrayLike, q_frames: ArrayLike, g_camids: ArrayLike,
              g_frames: ArrayLike, lambda0: float = 1.0, lambda1: float = 2.0, gamma: float = 5.0,
              chunk_size: Optional[int] = None) -> torch.Tensor:
        """``joint_score(similarity, self.probability(...), lambda0, lambda1, gamma)`` in one pass.

        The spatial-temporal factor ``1/(1 + lambda1 e^(-gamma p))`` is evaluated once per table
        entry and gathered, instead of per query x gallery pair. Returns float32 ``[nq, ng]``.
        """
        if lambda0 <= 0 or lambda1 <= 0:
            raise ConfigError(f"STModel.score: lambda0={lambda0} and lambda1={lambda1} must be > 0 (paper: 1 and 2)")
        factor = torch.sigmoid(self.table * gamma - math.log(lambda1))
        out = self._lookup(factor, q_camids, q_frames, g_camids, g_frames, chunk_size, torch.float32,
                           outside=1.0 / (1.0 + lambda1))
        sim = as_tensor(similarity, "similarity", device=out.device)
        if sim.shape != out.shape:
            raise ConfigError(f"STModel.score: similarity shape {tuple(sim.shape)} != [{out.shape[0]}, {out.shape[1]}] (queries x gallery)")
        step = max(1, int(chunk_size) if chunk_size else (1 << 24) // max(out.shape[1], 1))
        for s in range(0, out.shape[0], step):
            v = sim[s:s + step].to(torch.float32).mul(gamma).sub_(math.log(lambda0)).sigmoid_()
            out[s:s + step].mul_(v)
        return out

    def _lookup(self, table: torch.Tensor, q_camids: ArrayLike, q_frames: ArrayLike, g_camids: ArrayLike,
                g_frames: ArrayLike, chunk_size: Optional[int], dtype: torch.dtype, outside: float = 0.0) -> torch.Tensor:
        """Gather ``table[later cam, earlier cam, bin]`` for every pair; ``outside`` where p = 0 by
        convention (unknown camera, past the table)."""
        qfr = _vec(q_frames, "q_frames")
        dev = qfr.device
        nq = qfr.numel()
        qc = _vec(q_camids, "q_camids", nq).to(device=dev, dtype=torch.int64)
        gfr = _vec(g_frames, "g_frames").to(device=dev)
        ng = gfr.numel()
        gc = _vec(g_camids, "g_camids", ng).to(device=dev, dtype=torch.int64)
        ncam, nb = self.cam_labels.numel(), self.num_bins
        labels = self.cam_labels.to(dev)
        # the table is padded with ``outside`` up to the largest bin these frames can reach, so no
        # clamping is needed (unless that would be huge)
        span = float(max(qfr.max(), gfr.max()) - min(qfr.min(), gfr.min())) if nq and ng else 0.0
        reach = int(span // float(self.bin_size)) + 1
        clamp = reach > max(nb, 1 << 20)
        nbp = nb if clamp else max(nb, reach)
        # table2[qcam, gcam, later, bin]: later=1 -> query later: table[q, g]; 0 -> table[g, q].
        # Unknown cameras -> an extra slot; bins past the fitted ones -> ``outside``.
        t = torch.full((ncam + 1, ncam + 1, nbp + 1), outside, dtype=dtype, device=dev)
        t[:ncam, :ncam, :nb] = table.to(device=dev, dtype=dtype)
        nb = nbp
        table2 = torch.stack([t.transpose(0, 1), t], 2).contiguous().view(-1)

        def index(c: torch.Tensor) -> torch.Tensor:
            i = torch.searchsorted(labels, c).clamp(max=ncam - 1)
            return torch.where(labels[i] == c, i, torch.full_like(i, ncam))

        # integer frames and bin size: exact int32/int64 arithmetic; otherwise float64
        integral = not qfr.is_floating_point() and not gfr.is_floating_point() and float(self.bin_size).is_integer()
        if integral:
            big = max(int(qfr.abs().max()) if nq else 0, int(gfr.abs().max()) if ng else 0)
            it = torch.int32 if 2 * big < 2 ** 31 and (ncam + 1) ** 2 * 2 * (nb + 1) < 2 ** 31 else torch.int64
            qv, gv, bs = qfr.to(it), gfr.to(it), int(self.bin_size)
        else:
            it = torch.int64
            qv, gv, bs = qfr.to(torch.float64), gfr.to(torch.float64), float(self.bin_size)
        row = 2 * (nb + 1)
        qbase = (index(qc) * (ncam + 1) * row).to(it)
        gbase = (index(gc) * row).to(it)
        out = torch.empty((nq, ng), dtype=dtype, device=dev)
        step = max(1, int(chunk_size) if chunk_size else (1 << 24) // max(ng, 1))
        for s in range(0, nq, step):
            e = min(nq, s + step)
            diff = qv[s:e].unsqueeze(1) - gv.unsqueeze(0)
            later = diff > 0
            if integral:
                b = diff.abs_().div_(bs, rounding_mode="floor")
            else:
                b = diff.abs_().div_(bs).floor_().to(it)
            if clamp:
                b.clamp_(max=nb)
            b.add_(qbase[s:e].unsqueeze(1)).add_(gbase.unsqueeze(0))
            b.add_(later, alpha=nb + 1)
            torch.index_select(table2, 0, b.view(-1), out=out[s:e].view(-1))
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable dict (lists of numbers) for a run folder; inverse of :meth:`from_dict`."""
        return {"kind": "reidlab.STModel", "cam_labels": self.cam_labels.tolist(), "table": self.table.tolist(),
                "hist": self.hist.tolist(), "bin_size": self.bin_size, "sigma": self.sigma, "truncate": self.truncate}

    @classmethod
    def from_dict(cls, d: dict) -> "STModel":
        """Rebuild a model saved with :meth:`to_dict`."""
        if not isinstance(d, dict) or d.get("kind") != "reidlab.STModel":
            raise ConfigError("STModel.from_dict: not a dict written by STModel.to_dict() "
                              "(missing kind='reidlab.STModel'); re-save the model")
        return cls(cam_labels=torch.tensor(d["cam_labels"], dtype=torch.int64),
                   table=torch.tensor(d["table"], dtype=torch.float64),
                   hist=torch.tensor(d["hist"], dtype=torch.float64), bin_size=float(d["bin_size"]),
                   sigma=float(d["sigma"]), truncate=float(d["truncate"]))


def joint_score(similarity: ArrayLike, p_st: ArrayLike, lambda0: float = 1.0, lambda1: float = 2.0,
                gamma: float = 5.0) -> ArrayLike:
    """Logistic joint score ``1/(1 + lambda0 e^(-gamma s)) * 1/(1 + lambda1 e^(-gamma p))``.

    ``similarity``: cosine similarity ``s`` (e.g. ``1 - pairwise_distance(.., metric="cosine")``);
    ``p_st``: :meth:`STModel.probability`. Larger = more likely the same person. Returns numpy if
    ``similarity`` is numpy, else a tensor.
    """
    s = as_tensor(similarity, "similarity")
    p = as_tensor(p_st, "p_st", device=s.device)
    if s.shape != p.shape:
        raise ConfigError(f"joint_score: similarity shape {tuple(s.shape)} != p_st shape {tuple(p.shape)}; "
                          "score the same query x gallery pairs")
    if lambda0 <= 0 or lambda1 <= 0:
        raise ConfigError(f"joint_score: lambda0={lambda0} and lambda1={lambda1} must be > 0 (paper: 1 and 2)")
    dt = torch.promote_types(s.dtype if s.is_floating_point() else torch.float32, p.dtype if p.is_floating_point() else torch.float32)
    # 1/(1 + l e^(-g x)) = sigmoid(g x - ln l); computed in place on one output buffer
    out = s.to(dt, copy=True).mul_(gamma).sub_(math.log(lambda0)).sigmoid_()
    out.mul_(torch.sigmoid(p.to(dt) * gamma - math.log(lambda1)))
    return out.cpu().numpy() if isinstance(similarity, np.ndarray) else out


def st_rerank_distance(score: ArrayLike) -> ArrayLike:
    """Distance ``2 - 2 * score`` from a joint score (input for k-reciprocal re-ranking or ranking)."""
    s = as_tensor(score, "score")
    out = 2.0 - 2.0 * s
    return out.cpu().numpy() if isinstance(score, np.ndarray) else out


def st_sensitivity(evaluation, train_records, sigmas: Sequence[float] = (5, 20, 50, 100), *,
                   bin_size: Optional[float] = None, setting: str = "st"):
    """Rank-1 and mAP of an ST setting with ST models fitted with each smoothing width.

    Args:
        evaluation: a :class:`reidlab.eval.Evaluation` (its features, records and options are kept;
            its own ``st_model`` is left untouched).
        train_records: the records the ST model is fitted on (normally the train split; need frames).
        sigmas: Gaussian smoothing widths to try, in bins.
        bin_size: histogram bin width in frames (default: the evaluation's ST model's, else 100).
        setting: the ST setting to score (``"st"``, ``"st+rerank"``, ``"multi-query+st"``...).

    Returns:
        pandas DataFrame indexed by ``sigma`` (bins) with ``rank1`` and ``mAP`` as fractions.
    """
    import pandas as pd

    current = getattr(evaluation, "st_model", None)
    bs = bin_size if bin_size is not None else (current.bin_size if current is not None else 100.0)
    rows = []
    for sigma in sigmas:
        r = evaluation.with_st_model(STModel.from_records(train_records, bin_size=bs, sigma=float(sigma))).result(setting)
        rows.append({"sigma": float(sigma), "rank1": r.rank(1), "mAP": float(r.mAP)})
    return pd.DataFrame(rows).set_index("sigma")
