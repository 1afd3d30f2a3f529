"""Spatial-temporal plots: transit-time distributions per camera pair, the camera x camera
matrix of typical transit times, and how the visual and ST factors combine for one query.

Units: the ST model works in **frames** on each camera's global clock; the plots show
**seconds at ``fps`` frames per second** (Market-1501 and DukeMTMC-reID: 25 fps for the
frame numbers used by spatial-temporal re-ID) unless ``unit="frames"``. Cameras are
shown 1-based (``c1``..), as in Market's file names; arrays are indexed 0-based.

The ST model (:class:`reidlab.eval.STModel`) is read through :func:`st_arrays`: per ordered
camera pair a raw histogram ``hist`` and a smoothed, normalised ``table`` over ``n`` bins of
``bin_size`` frames, bin ``k`` covering transit times ``[k * bin_size, (k + 1) * bin_size)``.
Both are indexed ``[later camera, earlier camera, bin]`` (the ST model's convention): a
person seen by camera ``b`` and later by camera ``a`` walked **from b to a**, counted in
``hist[a, b]``. The plots speak of "from -> to" and take ``pairs`` as ``(from, to)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from reidlab.errors import ConfigError
from reidlab.viz.common import new_figure, to_numpy

Unit = Literal["s", "frames"]


@dataclass
class STArrays:
    """What the plots need from an ST model.

    Attributes:
        hist: raw counts ``[C, C, n]`` indexed ``[to (later) camera, from (earlier) camera, bin]``.
        density: smoothed, normalised density, same shape (each non-empty pair sums to 1).
        bin_size: frames per bin.
        cam_labels: ``[C]`` camera label of row/column ``i`` (0-based camids; shown as ``c{label+1}``).
    """

    hist: np.ndarray
    density: np.ndarray
    bin_size: float
    cam_labels: np.ndarray

    def name(self, i: int) -> str:
        """Display name of table index ``i`` (1-based camera, as Market's ``cN``)."""
        return f"c{int(self.cam_labels[i]) + 1}"

    def index(self, label: int) -> int:
        """Table index of camera label ``label``."""
        hits = np.flatnonzero(self.cam_labels == int(label))
        if hits.size == 0:
            raise ConfigError(f"camera {label}: not in the ST model (cameras {self.cam_labels.tolist()}, 0-based ids)")
        return int(hits[0])

    @property
    def num_cams(self) -> int:
        return int(self.hist.shape[0])

    def centres(self) -> np.ndarray:
        """Bin centres in frames."""
        return (np.arange(self.hist.shape[2]) + 0.5) * self.bin_size


def _first(obj: Any, names: Sequence[str]) -> Any:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return None


def st_arrays(st_model: Any) -> STArrays:
    """Read histograms, densities and binning from a fitted :class:`reidlab.eval.STModel`
    (``hist``, ``table``, ``bin_size``, ``cam_labels``) or any object with those attributes
    (``density`` may stand for ``table``; cameras default to ``0..C-1``)."""
    if isinstance(st_model, STArrays):
        return st_model
    hist = _first(st_model, ("hist",))
    dens = _first(st_model, ("table", "density"))
    bin_size = _first(st_model, ("bin_size",))
    if hist is None or dens is None or bin_size is None:
        raise ConfigError(f"{type(st_model).__name__}: not a fitted ST model (needs histograms, densities and "
                          "bin_size); call STModel.fit(pids, camids, frames) first")
    hist, dens = np.asarray(to_numpy(hist), dtype=np.float64), np.asarray(to_numpy(dens), dtype=np.float64)
    if hist.ndim != 3 or hist.shape[0] != hist.shape[1] or dens.shape != hist.shape:
        raise ConfigError(f"ST model: histograms {list(hist.shape)} / densities {list(dens.shape)}: "
                          "expected both [num_cams, num_cams, num_bins]")
    labels = _first(st_model, ("cam_labels",))
    labels = np.arange(hist.shape[0]) if labels is None else np.asarray(to_numpy(labels), dtype=np.int64).ravel()
    if labels.size != hist.shape[0]:
        raise ConfigError(f"ST model: {labels.size} camera labels for a {hist.shape[0]}-camera table")
    return STArrays(hist, dens, float(bin_size), labels)


def _scale(unit: Unit, fps: float) -> tuple[float, str]:
    if unit == "s":
        if fps <= 0:
            raise ConfigError(f"fps={fps}: expected a positive frame rate (Market/Duke: 25)")
        return 1.0 / fps, f"s at {fps:g} fps"
    if unit == "frames":
        return 1.0, "frames"
    raise ConfigError(f"unit={unit!r}: expected 's' or 'frames'")


def plot_st_histograms(st_model: Any, pairs: Optional[Sequence[tuple[int, int]]] = None, *,
                       unit: Unit = "s", fps: float = 25.0, max_time: Optional[float] = None,
                       min_count: int = 1) -> Figure:
    """Figure: per ordered camera pair, the transit-time histogram and its smoothed density.

    Args:
        st_model: a fitted ST model (see :func:`st_arrays`).
        pairs: ``[(from_cam, to_cam), ...]`` camera labels (0-based camids); ``None`` = every
            pair with at least ``min_count`` training transits, laid out as a camera x camera
            grid (row = from, column = to; panels without evidence are left out).
        unit: x axis in seconds at ``fps`` (``"s"``, default) or in ``"frames"``.
        max_time: right end of the x axis (in ``unit``); default: the last non-empty bin.

    Bars (left axis): the histogram as a fraction of the pair's transits; line (right axis,
    red): the smoothed per-bin probability the model scores with. Both sum to 1 over the
    bins, but the smoothing spreads the mass over ~6 sigma bins, so the line has its own
    scale. Two axes per pair (the histogram's and its twin).
    """
    st = st_arrays(st_model)
    c = st.num_cams
    counts = st.hist.sum(axis=2)  # [to, from]
    if pairs is None:
        chosen = [(f, t) for f in range(c) for t in range(c) if f != t and counts[t, f] >= min_count]
        grid = True
    else:
        chosen = [(st.index(f), st.index(t)) for f, t in pairs]
        grid = False
    if not chosen:
        raise ConfigError(f"plot_st_histograms: no camera pair has >= {min_count} training transits")
    scale, label = _scale(unit, fps)
    x = st.centres() * scale
    width = st.bin_size * scale
    nz = np.flatnonzero(st.hist.sum(axis=(0, 1)) > 0)
    right = max_time if max_time is not None else (x[nz[-1]] + width if nz.size else x[-1] + width)
    if grid:
        rows_used = sorted({f for f, _ in chosen})
        cols_used = sorted({t for _, t in chosen})
        nr, nc = len(rows_used), len(cols_used)
        fig = new_figure(1.9 * nc + 0.6, 1.45 * nr + 0.7)
        axes = np.asarray(fig.subplots(nr, nc, squeeze=False, sharex=True))
        where = {(f, t): axes[rows_used.index(f), cols_used.index(t)] for f, t in chosen}
        used = {id(a) for a in where.values()}
        for ax in axes.ravel():
            if id(ax) not in used:
                ax.remove()
    else:
        nc = min(4, len(chosen))
        nr = -(-len(chosen) // nc)
        fig = new_figure(2.4 * nc + 0.4, 1.9 * nr + 0.7)
        axes = np.asarray(fig.subplots(nr, nc, squeeze=False))
        where = {p: axes.ravel()[k] for k, p in enumerate(chosen)}
        for ax in axes.ravel()[len(chosen):]:
            ax.remove()
    twins = {}
    for (f, t), ax in where.items():
        n = counts[t, f]
        frac = st.hist[t, f] / n if n > 0 else np.zeros_like(x)
        # an edge line keeps one-bin bars visible next to the much wider smoothed density
        ax.bar(x, frac, width=width, color="#3182bd", edgecolor="#3182bd", linewidth=0.8, label="histogram (left)")
        ax.set_title(f"{st.name(f)} \u2192 {st.name(t)}  (n={int(n)})", fontsize=7)
        ax.set_xlim(0.0, right)
        ax.tick_params(labelsize=6)
        twin = ax.twinx()  # the smoothed density spreads over ~6 sigma bins: its own scale
        twin.plot(x, st.density[t, f], color="#d62728", linewidth=1.2, label="smoothed p (right)")
        twin.set_ylim(0, max(float(st.density[t, f].max()) * 1.1, 1e-12))
        twin.tick_params(labelsize=6, colors="#d62728")
        twins[(f, t)] = twin
    key = next(iter(where))
    h1, l1 = where[key].get_legend_handles_labels()
    h2, l2 = twins[key].get_legend_handles_labels()
    where[key].legend(h1 + h2, l1 + l2, fontsize=6, loc="upper right")
    fig.supxlabel(f"transit time ({label}; 1 bin = {st.bin_size:g} frames)", fontsize=8)
    fig.supylabel("transits: fraction (bars), smoothed p per bin (line)", fontsize=7)
    return fig


def typical_transit(st_model: Any, stat: Literal["mode", "mean"] = "mode") -> np.ndarray:
    """``[C, C]`` typical transit time in frames, indexed ``[from, to]`` (table order of
    cameras): the smoothed density's peak (``"mode"``, bin centre) or its mean; NaN for
    pairs without training transits."""
    if stat not in ("mode", "mean"):
        raise ConfigError(f"stat={stat!r}: expected 'mode' or 'mean'")
    st = st_arrays(st_model)
    out = np.full(st.hist.shape[:2], np.nan)
    centres = st.centres()
    for f in range(st.num_cams):
        for t in range(st.num_cams):
            d = st.density[t, f]
            if f == t or st.hist[t, f].sum() <= 0 or d.sum() <= 0:
                continue
            out[f, t] = centres[int(np.argmax(d))] if stat == "mode" else float((d * centres).sum() / d.sum())
    return out


def plot_st_matrix(st_model: Any, *, stat: Literal["mode", "mean"] = "mode", unit: Unit = "s",
                   fps: float = 25.0) -> Figure:
    """Figure: camera x camera matrix of the typical transit time (row = from, column = to).

    Values from :func:`typical_transit` (density peak or mean), in seconds at ``fps`` or
    frames, written in each cell; grey = no training evidence. 2 axes (matrix, colour bar).
    """
    st = st_arrays(st_model)
    scale, label = _scale(unit, fps)
    m = typical_transit(st, stat) * scale
    c = m.shape[0]
    fig = new_figure(1.0 + 0.62 * c + 1.0, 0.9 + 0.55 * c)
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap)
    finite = m[np.isfinite(m)]
    mid = float(finite.mean()) if finite.size else 0.0
    for i in range(c):
        for j in range(c):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < mid else "black")
    names = [st.name(i) for i in range(c)]
    ax.set_xticks(range(c), names, fontsize=8)
    ax.set_yticks(range(c), names, fontsize=8)
    ax.set_xlabel("to camera", fontsize=8)
    ax.set_ylabel("from camera", fontsize=8)
    ax.set_title(f"typical transit time ({stat}, {label})", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    return fig


def plot_st_joint(similarity_row: Any, p_st_row: Any, score_row: Any = None, *,
                  gallery_pids: Any = None, query_pid: Optional[int] = None, valid: Any = None,
                  top_k: int = 10, title: Optional[str] = None) -> Figure:
    """Figure: for one query, how the visual and spatial-temporal factors make the joint score.

    Args:
        similarity_row: ``[G]`` visual cosine similarities of the query to the gallery.
        p_st_row: ``[G]`` ST probabilities ``p(dt | cam_q -> cam_g)`` of the same pairs.
        score_row: ``[G]`` joint scores; default ``reidlab.eval.st.joint_score(s, p)``
            (``1/(1+e^(-5s)) * 1/(1+2e^(-5p))``).
        gallery_pids, query_pid: to circle the true matches (optional).
        valid: ``[G]`` bool mask of gallery items to include (e.g. without junk).
        top_k: ranks shown in the right panel.

    Left: every gallery item at (visual similarity, ST probability), coloured by joint score
    (true matches circled). Right: each item in the top-``top_k`` of either ranking as a
    line from its rank by visual similarity alone to its rank by joint score (labelled with
    its ST probability): items seen at an implausible time for this camera pair drop, true
    matches at a plausible time rise. 3 axes (scatter, rank lines, colour bar).
    """
    s = np.asarray(to_numpy(similarity_row), dtype=np.float64).ravel()
    p = np.asarray(to_numpy(p_st_row), dtype=np.float64).ravel()
    if s.shape != p.shape:
        raise ConfigError(f"similarity_row {s.shape} and p_st_row {p.shape}: expected the same length (gallery size)")
    if score_row is None:
        from reidlab.eval.st import joint_score

        score_row = joint_score(s, p)
    score = np.asarray(to_numpy(score_row), dtype=np.float64).ravel()
    if score.shape != s.shape:
        raise ConfigError(f"score_row {score.shape}: expected {s.shape}")
    keep = np.ones_like(s, dtype=bool) if valid is None else np.asarray(to_numpy(valid), dtype=bool).ravel()
    idx = np.flatnonzero(keep)
    match = None
    if gallery_pids is not None and query_pid is not None:
        match = np.asarray(to_numpy(gallery_pids)).ravel() == int(query_pid)
    fig = new_figure(8.0, 3.6)
    axes = fig.subplots(1, 2, width_ratios=[1.1, 1.3])
    sc = axes[0].scatter(s[idx], p[idx], c=score[idx], cmap="viridis", s=12, edgecolors="none")
    if match is not None:
        mm = idx[match[idx]]
        axes[0].scatter(s[mm], p[mm], s=60, facecolors="none", edgecolors="#d62728", linewidths=1.5,
                        label="true match")
        if mm.size:
            axes[0].legend(fontsize=7, loc="upper left")
    axes[0].set_xlabel("visual similarity s (cosine)", fontsize=8)
    axes[0].set_ylabel("ST probability p", fontsize=8)
    fig.colorbar(sc, ax=axes[0], label="joint score")
    k = max(1, int(top_k))
    vis_rank = np.zeros(s.size, dtype=int)
    vis_rank[idx[np.argsort(-s[idx], kind="stable")]] = np.arange(1, idx.size + 1)
    joint_rank = np.zeros(s.size, dtype=int)
    joint_rank[idx[np.argsort(-score[idx], kind="stable")]] = np.arange(1, idx.size + 1)
    shown = idx[(vis_rank[idx] <= k) | (joint_rank[idx] <= k)]
    ax = axes[1]
    for g in shown[np.argsort(joint_rank[shown])]:
        good = match is not None and bool(match[g])
        colour = "#1a9850" if good else ("#d62728" if joint_rank[g] <= k else "#bbbbbb")
        ax.plot([0, 1], [vis_rank[g], joint_rank[g]], color=colour, marker="o", markersize=3,
                linewidth=2.0 if good else 1.0, zorder=3 if good else 2)
        if joint_rank[g] <= k:
            ax.text(1.04, joint_rank[g], f"g{g}  p={p[g]:.2g}" + (" \u2713" if good else ""), va="center", fontsize=6)
    top = max(int(vis_rank[shown].max()), int(joint_rank[shown].max()), k)
    ax.set_ylim(top + 0.5, 0.5)
    ax.set_xlim(-0.1, 1.5)
    ax.set_xticks([0, 1], ["by visual s", "by joint score"], fontsize=7)
    ax.set_ylabel("rank", fontsize=8)
    ax.tick_params(axis="y", labelsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"how the ST factor re-orders the top {k}\n(green = true match, red = wrong in the joint top {k})",
                 fontsize=7)
    fig.suptitle(title or "visual x spatial-temporal = joint score", fontsize=9)
    return fig


def st_query_rows(ev, q_index: int) -> dict:
    """For one query of ``ev`` (an :class:`reidlab.eval.Evaluation` with an ``st_model``),
    the inputs of :func:`reidlab.viz.plot_st_joint`: ``similarity_row`` (cosine similarity
    to every gallery image), ``p_st_row`` (spatial-temporal probability), ``gallery_pids``,
    ``query_pid`` and ``valid`` (the junk rule's kept items)."""
    from reidlab.eval import pairwise_distance, valid_gallery_mask

    if ev.st_model is None:
        raise ConfigError("this Evaluation has no spatial-temporal model; build it with st_model=... "
                          "(lab.evaluation fits one on the training split when the dataset has frames)")
    q, g = ev.query[q_index], ev.gallery
    sim = 1.0 - pairwise_distance(ev.query_features[q_index:q_index + 1], ev.gallery_features, metric="cosine")
    p = ev.st_model.probability([q.camid], [q.frame], [r.camid for r in g], [r.frame for r in g])
    qp, qc, gp, gc = ev.labels()
    return {"similarity_row": np.asarray(sim.cpu(), dtype=np.float64)[0],
            "p_st_row": np.asarray(p.cpu(), dtype=np.float64)[0], "gallery_pids": gp, "query_pid": int(qp[q_index]),
            "valid": np.asarray(valid_gallery_mask(qp[q_index], qc[q_index], gp, gc), dtype=bool)}
