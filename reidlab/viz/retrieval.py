"""Retrieval galleries: a query and its top-k matches, compared across scorings, worst queries.

Conventions (the same as :func:`reidlab.eval.rank_metrics`):

* Rows of ``distmat`` are queries, columns gallery items; **smaller = more similar**.
  Ranking is a stable ascending sort (ties go to the earlier gallery item). A score where
  larger is better (e.g. the spatial-temporal joint score) is ranked descending when its
  name is listed in ``higher_is_better``.
* Junk rule (:func:`reidlab.eval.valid_gallery_mask`): gallery items with the query's identity
  AND camera, and identity ``-1``, are not part of the ranking. ``junk="hide"`` (default) leaves
  them out, so the rank numbers shown are exactly the evaluated ranks; ``junk="grey"`` shows them in place with a grey
  border and the label "junk" but they take no rank number.
* Border colours: green = same identity as the query (a correct match), red = another
  identity (distractors ``0`` included). Under each image: rank, distance (or score) and
  the camera (1-based, as in Market's ``cN``; records store 0-based ``camid``).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reidlab.data.records import ImageRecord
from reidlab.errors import ConfigError
from reidlab.eval.metrics import valid_gallery_mask
from reidlab.viz.common import (
    JUNK_COLOR, MATCH_COLOR, MISMATCH_COLOR, load_image, new_figure, show_image, to_numpy,
)

JunkMode = Literal["hide", "grey"]
_QUERY_COLOR = "#2c7bb6"


class _ImageCache:
    """Loads each gallery file once per figure at the display size."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, path: str) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_image(path, self.size)
        return self._cache[path]


def _check_inputs(dist: Any, query_records: Sequence[ImageRecord], gallery_records: Sequence[ImageRecord],
                  name: str = "distmat") -> np.ndarray:
    d = np.asarray(to_numpy(dist), dtype=np.float64)
    if d.ndim != 2 or d.shape != (len(query_records), len(gallery_records)):
        raise ConfigError(f"{name}: expected shape [num_query, num_gallery] = "
                          f"[{len(query_records)}, {len(gallery_records)}], got {list(d.shape)}")
    return d


def _check_index(q_index: int, n: int) -> int:
    if not -n <= int(q_index) < n:
        raise ConfigError(f"q_index={q_index}: out of range for {n} queries (0..{n - 1})")
    return int(q_index) % n


def ranked_gallery(row: np.ndarray, query: ImageRecord, gallery_records: Sequence[ImageRecord],
                   higher_is_better: bool = False) -> list[tuple[int, bool]]:
    """The ranking of one query: ``[(gallery_index, is_junk), ...]`` best first.

    Stable sort (ascending distance, or descending score when ``higher_is_better``); junk
    items (query's identity AND camera, or identity -1) are marked, not removed.
    """
    order = np.argsort(-row if higher_is_better else row, kind="stable")
    keep = valid_gallery_mask(query.pid, query.camid, np.array([g.pid for g in gallery_records]),
                              np.array([g.camid for g in gallery_records]))
    return [(int(j), not bool(keep[j])) for j in order]


def _draw_row(axes: Sequence[Axes], row: np.ndarray, query: ImageRecord, gallery_records: Sequence[ImageRecord],
              images: _ImageCache, junk: JunkMode, higher_is_better: bool, value_name: str,
              query_label: Optional[str] = None) -> list[int]:
    """Draw query + ranked gallery into ``axes`` (len = 1 + top_k). Returns shown gallery indices."""
    show_image(axes[0], images(query.path), query_label or "query",
               border=_QUERY_COLOR, xlabel=f"id {query.pid}\ncam {query.camid + 1}")
    slots = axes[1:]
    shown: list[int] = []
    rank = 0
    for j, is_junk in ranked_gallery(row, query, gallery_records, higher_is_better):
        if len(shown) == len(slots):
            break
        if is_junk and junk == "hide":
            continue
        g = gallery_records[j]
        ax = slots[len(shown)]
        if is_junk:
            title, colour = "junk", JUNK_COLOR
        else:
            rank += 1
            title, colour = f"#{rank}", MATCH_COLOR if g.pid == query.pid else MISMATCH_COLOR
        img = images(g.path)
        if is_junk:
            img = 0.35 + 0.3 * img.mean(axis=2, keepdims=True).repeat(3, axis=2)
        show_image(ax, img, title, border=colour, xlabel=f"{value_name}={row[j]:.3g}\ncam {g.camid + 1}")
        shown.append(j)
    for ax in slots[len(shown):]:
        ax.set_axis_off()
    return shown


def _panel_figure(rows: int, cols: int, title: Optional[str]) -> tuple[Figure, np.ndarray]:
    fig = new_figure(0.85 * cols + 0.3, 2.25 * rows + (0.35 if title else 0.0))
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def plot_retrieval(distmat: Any, query_records: Sequence[ImageRecord], gallery_records: Sequence[ImageRecord],
                   q_index: int, top_k: int = 10, *, junk: JunkMode = "hide", higher_is_better: bool = False,
                   image_size: tuple[int, int] = (128, 64), title: Optional[str] = None) -> Figure:
    """Figure: query ``q_index`` and its top-``top_k`` gallery matches in one row.

    Args:
        distmat: ``[num_query, num_gallery]`` distances (numpy or torch), smaller = closer;
            with ``higher_is_better=True`` a similarity/score instead.
        query_records, gallery_records: the records the rows/columns were computed from.
        q_index: row of the query.
        top_k: gallery images shown (junk excluded or greyed, see ``junk``).
        junk: ``"hide"`` (default; shown ranks = evaluated ranks) or ``"grey"``.
        image_size: display size (height, width) in pixels.

    Green border = same identity, red = other identity; under each image the distance (or
    score) and the 1-based camera. ``1 + top_k`` panels.
    """
    d = _check_inputs(distmat, query_records, gallery_records)
    q = _check_index(q_index, len(query_records))
    if junk not in ("hide", "grey"):
        raise ConfigError(f"junk={junk!r}: expected 'hide' or 'grey'")
    k = max(1, min(int(top_k), d.shape[1]))
    fig, axes = _panel_figure(1, k + 1, title)
    _draw_row(axes[0], d[q], query_records[q], gallery_records, _ImageCache(image_size), junk, higher_is_better,
              "s" if higher_is_better else "d")
    return fig


def _query_ap(row: np.ndarray, query: ImageRecord, gallery_records: Sequence[ImageRecord],
              higher_is_better: bool) -> float:
    from reidlab.eval.metrics import rank_metrics

    d = (-row if higher_is_better else row)[None]
    r = rank_metrics(d, [query.pid], [g.pid for g in gallery_records], [query.camid],
                     [g.camid for g in gallery_records], max_rank=1)
    return float(r.all_ap[0])


def plot_retrieval_comparison(variants: Mapping[str, Any], query_records: Sequence[ImageRecord],
                              gallery_records: Sequence[ImageRecord], q_index: int, top_k: int = 10, *,
                              higher_is_better: Sequence[str] = (), junk: JunkMode = "hide",
                              image_size: tuple[int, int] = (128, 64), title: Optional[str] = None) -> Figure:
    """Figure: the same query ranked by several scorings, one row per variant.

    Args:
        variants: ``{name: [num_query, num_gallery] matrix}``, e.g. ``{"euclidean": d,
            "re-ranked": k_reciprocal_rerank(...), "ST joint": joint_score(...)}``, in row order.
        higher_is_better: names of variants that are scores (ranked descending), e.g.
            ``("ST joint",)``. The others are distances.
        q_index, top_k, junk, image_size: as in :func:`plot_retrieval`.

    Each row is labelled with the variant's name and this query's AP (standard definition,
    the junk rule applied). ``len(variants) * (1 + top_k)`` panels.
    """
    if not variants:
        raise ConfigError("variants: empty; pass {name: distance matrix}")
    unknown = set(higher_is_better) - set(variants)
    if unknown:
        raise ConfigError(f"higher_is_better: {sorted(unknown)} are not variant names {list(variants)}")
    mats = {name: _check_inputs(m, query_records, gallery_records, f"variants[{name!r}]") for name, m in variants.items()}
    q = _check_index(q_index, len(query_records))
    k = max(1, min(int(top_k), len(gallery_records)))
    fig, axes = _panel_figure(len(mats), k + 1, title)
    images = _ImageCache(image_size)
    for r, (name, d) in enumerate(mats.items()):
        hib = name in higher_is_better
        ap = _query_ap(d[q], query_records[q], gallery_records, hib)
        label = f"{name}\nAP={ap:.2f}" if np.isfinite(ap) else name
        _draw_row(axes[r], d[q], query_records[q], gallery_records, images, junk, hib, "s" if hib else "d", label)
    return fig


def plot_worst_queries(distmat: Any, query_records: Sequence[ImageRecord], gallery_records: Sequence[ImageRecord],
                       n: int = 5, top_k: int = 8, *, ap: str = "standard", junk: JunkMode = "hide",
                       show_first_match: bool = True, image_size: tuple[int, int] = (128, 64),
                       title: Optional[str] = None) -> Figure:
    """Figure: the ``n`` queries with the lowest AP, worst first, one row each.

    Per-query AP from :func:`reidlab.eval.rank_metrics` (``ap`` = ``"standard"`` or
    ``"market"``); queries without a valid match (NaN AP) are skipped. Each row: query,
    top-``top_k`` and, with ``show_first_match``, the best-ranked correct match with its
    rank (where the model should have put it). ``n * (2 + top_k)`` panels
    (``n * (1 + top_k)`` without the first match).
    """
    from reidlab.eval.metrics import rank_metrics

    d = _check_inputs(distmat, query_records, gallery_records)
    res = rank_metrics(d, [r.pid for r in query_records], [g.pid for g in gallery_records],
                       [r.camid for r in query_records], [g.camid for g in gallery_records], max_rank=1, ap=ap)
    valid = np.flatnonzero(np.isfinite(res.all_ap))
    if valid.size == 0:
        raise ConfigError("plot_worst_queries: no query has a valid match (all APs are NaN); check the records")
    worst = valid[np.argsort(res.all_ap[valid], kind="stable")][: max(1, int(n))]
    k = max(1, min(int(top_k), len(gallery_records)))
    cols = k + 1 + (1 if show_first_match else 0)
    fig, axes = _panel_figure(len(worst), cols, title or f"worst {len(worst)} queries by AP ({ap})")
    images = _ImageCache(image_size)
    for r, qi in enumerate(worst):
        qrec = query_records[qi]
        _draw_row(axes[r][: k + 1], d[qi], qrec, gallery_records, images, junk, False, "d",
                  f"q{qi}  AP={res.all_ap[qi]:.2f}")
        if show_first_match:
            ax = axes[r][-1]
            rank = 0
            for j, is_junk in ranked_gallery(d[qi], qrec, gallery_records):
                if is_junk:
                    continue
                rank += 1
                if gallery_records[j].pid == qrec.pid:
                    g = gallery_records[j]
                    show_image(ax, images(g.path), f"first match\n#{rank}", border=MATCH_COLOR,
                               xlabel=f"d={d[qi, j]:.3g}\ncam {g.camid + 1}")
                    break
    return fig
