"""The camera-time explorer: :class:`STState` (camera pairs, how the spatial-temporal
score moves each candidate), its widget layer and :func:`explore_st`.

Part of :mod:`reidlab.viz.explore` (import from there; see its docstring for the conventions).
"""

from __future__ import annotations

import html
from typing import Any, Optional

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.explore.common import (
    _LRU,
    _error_text,
    _explorer_base,
    _Guard,
    _image,
    _message,
    _table_html,
    _widget_class,
    _widgets,
)
from reidlab.viz.explore.retrieval import RetrievalState

# --------------------------------------------------------------------------------------
# Camera-time: state
# --------------------------------------------------------------------------------------


class STState:
    """What the camera-time explorer shows: a camera pair's transit model and, for a query,
    how the spatial-temporal factor moves each gallery candidate.

    Args:
        st_model: a fitted :class:`reidlab.eval.STModel` (on the training split).
        evaluation: an Evaluation with records that have frames (optional: without it only
            the camera pairs are explored). When its ``st_model`` is another one, a copy with
            ``st_model`` is used (:meth:`Evaluation.with_st_model`).
        top_k: candidates listed per query.
        unit, fps: time axis in seconds at ``fps`` (``"s"``) or ``"frames"``.

    Queries are listed by index (``order="index"``) or by how much ST changes their AP
    (``"st-change"``: largest ``|AP(st) - AP(single-query)|`` first).
    """

    ORDERS: tuple[str, ...] = ("index", "st-change")

    def __init__(self, st_model: Any, evaluation: Any = None, *, top_k: int = 10, unit: str = "s",
                 fps: float = 25.0, order: str = "index") -> None:
        from reidlab.viz.spatiotemporal import st_arrays

        self.st_model = st_model
        self.arrays = st_arrays(st_model)
        self.unit, self.fps = unit, float(fps)
        self.top_k = RetrievalState._check_top_k(top_k)
        counts = self.arrays.hist.sum(axis=2)  # [to, from]
        c = self.arrays.num_cams
        lab = self.arrays.cam_labels
        self._counts = {(int(lab[f]), int(lab[t])): int(counts[t, f]) for f in range(c) for t in range(c) if f != t}
        pairs = self.pairs()
        if not pairs:
            raise ConfigError("explore_st: the ST model has no camera pair with training transits")
        self.pair = max(pairs, key=lambda p: (self._counts[p], -p[0], -p[1]))
        self.ev = None
        if evaluation is not None:
            self.ev = evaluation if evaluation.st_model is st_model else evaluation.with_st_model(st_model)
            why = self.ev.unavailable_reason("st")
            if why:
                raise ConfigError(f"explore_st: the evaluation cannot score with ST: {why}")
            if self.ev.query is None:
                raise ConfigError("explore_st: build the Evaluation from records (ds.query, ds.gallery)")
        if order not in self.ORDERS:
            raise ConfigError(f"order={order!r}: expected one of {self.ORDERS}")
        self.order = order
        self.position = 0
        self._figures = _LRU(64)

    # ------------------------------------------------------------------ camera pairs
    def pairs(self) -> list[tuple[int, int]]:
        """Ordered camera pairs ``(from, to)`` (0-based camids) with training transits."""
        return sorted(p for p, n in self._counts.items() if n > 0)

    def count(self, pair: Optional[tuple[int, int]] = None) -> int:
        """Training transits of a pair (default: the current one)."""
        return self._counts.get(tuple(pair or self.pair), 0)

    def set_pair(self, from_cam: int, to_cam: int) -> None:
        p = (int(from_cam), int(to_cam))
        if p not in self._counts:
            raise ConfigError(f"pair {p}: not an ordered pair of two of the ST model's cameras "
                              f"{self.arrays.cam_labels.tolist()} (0-based)")
        self.pair = p

    def pair_figure(self) -> Figure:
        """Transit histogram and smoothed probability of the current pair (and of the reverse
        direction when it has transits): :func:`reidlab.viz.plot_st_histograms`."""
        from reidlab.viz.spatiotemporal import plot_st_histograms

        f, t = self.pair
        pairs = [(f, t)] + ([(t, f)] if self.count((t, f)) > 0 else [])
        return self._figures.get(("pair", tuple(pairs)), lambda: plot_st_histograms(
            self.st_model, pairs=pairs, unit=self.unit, fps=self.fps))

    def matrix_figure(self) -> Figure:
        """Camera x camera typical transit time (:func:`reidlab.viz.plot_st_matrix`)."""
        from reidlab.viz.spatiotemporal import plot_st_matrix

        return self._figures.get(("matrix",), lambda: plot_st_matrix(self.st_model, unit=self.unit, fps=self.fps))

    # ------------------------------------------------------------------ queries
    def _need_ev(self):
        if self.ev is None:
            raise ConfigError("explore_st: pass an evaluation to explore queries")
        return self.ev

    def queries(self) -> list[int]:
        ev = self._need_ev()
        n = len(ev.query)
        if self.order == "index":
            return list(range(n))
        a = ev.query_frame("st")["ap"].to_numpy()
        b = ev.query_frame("single-query")["ap"].to_numpy()
        change = np.abs(a - b)
        change = np.where(np.isnan(change), -1.0, change)
        return np.argsort(-change, kind="stable").tolist()

    @property
    def query(self) -> Optional[int]:
        if self.ev is None:
            return None
        qs = self.queries()
        return qs[min(self.position, len(qs) - 1)] if qs else None

    def set_order(self, order: str) -> None:
        if order not in self.ORDERS:
            raise ConfigError(f"order={order!r}: expected one of {self.ORDERS}")
        q = self.query
        self.order = order
        self.position = self.queries().index(q) if q is not None else 0

    def set_position(self, position: int) -> None:
        n = len(self.queries())
        if not 0 <= int(position) < n:
            raise ConfigError(f"position={position}: the list has {n} queries (0..{n - 1})")
        self.position = int(position)

    def set_query(self, q_index: int) -> None:
        qs = self.queries()
        if int(q_index) not in qs:
            raise ConfigError(f"query {q_index}: expected a query index in 0..{len(qs) - 1}")
        self.position = qs.index(int(q_index))

    def next(self) -> None:
        self.set_position(min(self.position + 1, len(self.queries()) - 1))

    def previous(self) -> None:
        self.set_position(max(self.position - 1, 0))

    def rows(self) -> dict:
        """For the current query: ``similarity_row`` (visual cosine similarity to every gallery
        image), ``p_st_row`` (``p(dt | camera pair)``), ``gallery_pids``, ``query_pid`` and
        ``valid`` (the junk rule's kept items): the inputs of :func:`reidlab.viz.plot_st_joint`."""
        q = self.query
        return self._figures.get(("rows", q), lambda: self._rows(q))

    def _rows(self, q: int) -> dict:
        from reidlab.viz.spatiotemporal import st_query_rows

        return st_query_rows(self._need_ev(), q)

    def moves(self):
        """The top-k gallery candidates by joint score, with how the ST factor moved them:
        DataFrame indexed by joint rank with ``gallery_index``, ``pid``, ``camid``,
        ``correct``, ``similarity`` (visual cosine), ``p_st``, ``joint`` (score),
        ``visual_rank`` (by similarity alone) and ``moved`` (``visual_rank - joint rank``:
        positive = moved up). Junk excluded; ties by gallery index."""
        import pandas as pd

        from reidlab.eval.st import joint_score

        r = self.rows()
        s, p, valid = r["similarity_row"], r["p_st_row"], r["valid"]
        score = np.asarray(joint_score(s, p), dtype=np.float64)
        idx = np.flatnonzero(valid)
        vis = idx[np.argsort(-s[idx], kind="stable")]
        joint = idx[np.argsort(-score[idx], kind="stable")]
        vis_rank = np.empty(s.size, dtype=np.int64)
        vis_rank[vis] = np.arange(1, vis.size + 1)
        top = joint[: self.top_k]
        g_cams = self.ev.labels()[3]
        ranks = np.arange(1, top.size + 1)
        df = pd.DataFrame({"gallery_index": top, "pid": r["gallery_pids"][top], "camid": g_cams[top],
                           "correct": r["gallery_pids"][top] == r["query_pid"], "similarity": s[top],
                           "p_st": p[top], "joint": score[top], "visual_rank": vis_rank[top],
                           "moved": vis_rank[top] - ranks}, index=pd.Index(ranks, name="rank"))
        return df

    def title(self) -> str:
        q = self.query
        if q is None:
            return "no evaluation: camera pairs only"
        ev = self.ev
        qp, qc, _, _ = ev.labels()
        a = ev.query_frame("single-query")["ap"].iat[q]
        b = ev.query_frame("st")["ap"].iat[q]
        res = f"AP {a:.2f} \u2192 {b:.2f} with ST" if np.isfinite(a) and np.isfinite(b) else "no valid match"
        return f"query {q} \u00b7 id {int(qp[q])} \u00b7 cam {int(qc[q]) + 1} \u2014 {res}"

    def query_figure(self) -> Figure:
        """:func:`reidlab.viz.plot_st_joint` of the current query, titled with :meth:`title`."""
        from reidlab.viz.spatiotemporal import plot_st_joint

        q = self.query
        if q is None:
            raise ConfigError("explore_st: pass an evaluation to explore queries")
        return self._figures.get(("joint", q, self.top_k), lambda: plot_st_joint(
            **self.rows(), top_k=self.top_k, title=self.title()))


def _st_class():
    """The :class:`STExplorer` widget class, built on first use.

    Long: it is the class body, defined inside this factory so that importing reidlab.viz never
    imports ipywidgets; each method is short."""
    w = _widgets()
    Base = _explorer_base()

    class STExplorer(Base):
        """Widget layer of :class:`STState` (``.state``): camera-pair picker with its transit
        histogram; query picker with the joint-score figure and the table of rank moves."""

        def __init__(self, state: STState) -> None:
            self.state = state
            self._guard = _Guard()
            s = state
            names = lambda p: f"c{p[0] + 1} \u2192 c{p[1] + 1}  (n={s.count(p)})"  # noqa: E731
            self.pair = w.Dropdown(options=[(names(p), p) for p in s.pairs()], value=s.pair,
                                   description="cameras", layout=w.Layout(width="260px"))
            self.pair_figure = _image()
            self.pair_figure.add_class("reidlab-pair-figure")
            self.matrix = _image()
            self.status = w.HTML()
            children = [w.HBox([self.pair]), w.HBox([self.pair_figure, self.matrix])]
            self.pair.observe(self._on_pair, names="value")
            if s.ev is not None:
                self.order = w.Dropdown(options=[("query index", "index"), ("largest AP change with ST", "st-change")],
                                        value=s.order, description="order", layout=w.Layout(width="300px"))
                self.prev_button = w.Button(description="\u25c0 previous", layout=w.Layout(width="100px"))
                self.next_button = w.Button(description="next \u25b6", layout=w.Layout(width="100px"))
                self.next_button.add_class("reidlab-next")
                self.slider = w.IntSlider(value=0, min=0, max=max(len(s.queries()) - 1, 0), description="query",
                                          continuous_update=False, readout=False, layout=w.Layout(width="360px"))
                self.where = w.HTML(layout=w.Layout(width="120px"))
                self.header = w.HTML()
                self.header.add_class("reidlab-header")
                self.joint = _image()
                self.joint.add_class("reidlab-joint-figure")
                self.table = w.HTML()
                self.order.observe(self._on_order, names="value")
                self.slider.observe(self._on_slider, names="value")
                self.prev_button.on_click(lambda _b: self._step(-1))
                self.next_button.on_click(lambda _b: self._step(+1))
                children += [w.HBox([self.prev_button, self.slider, self.where, self.next_button, self.order]),
                             self.header, self.joint, self.table]
            children.append(self.status)
            super().__init__(children)
            self.add_class("reidlab-explorer")
            self.add_class("reidlab-st")
            self._show(self.matrix, s.matrix_figure, self.status)
            self.refresh()

        def _on_pair(self, change) -> None:
            if not self._guard.active:
                self.state.set_pair(*change["new"])
                self.refresh()

        def _on_order(self, change) -> None:
            if not self._guard.active:
                self.state.set_order(change["new"])
                self.refresh()

        def _on_slider(self, change) -> None:
            if not self._guard.active:
                self.state.set_position(change["new"])
                self.refresh()

        def _step(self, step: int) -> None:
            self.state.next() if step > 0 else self.state.previous()
            self.refresh()

        def refresh(self) -> None:
            s = self.state
            self.status.value = ""
            with self._guard:
                self.pair.value = s.pair
            self._show(self.pair_figure, s.pair_figure, self.status)
            if s.ev is None:
                return
            with self._guard:
                self.order.value = s.order
                self.slider.value = s.position
                self.prev_button.disabled = s.position == 0
                self.next_button.disabled = s.position >= len(s.queries()) - 1
            self.where.value = f"{s.position + 1} / {len(s.queries())}"
            self.header.value = f"<b class='reidlab-query-title'>{html.escape(s.title())}</b>"
            self._show(self.joint, s.query_figure, self.status)
            try:
                mv = s.moves()
            except ReIDLabError as err:
                self.status.value = _message(_error_text(err), error=True)
                return
            mv = mv.assign(cam=mv["camid"] + 1).rename(columns={
                "gallery_index": "gallery", "pid": "id", "correct": "match", "similarity": "visual s",
                "p_st": "ST p", "joint": "joint score", "visual_rank": "visual rank", "moved": "moved"})
            self.table.value = ("<div style='font-size:11px;color:#555'>top candidates by joint score; moved = "
                                "places gained through the ST factor (visual rank - joint rank)</div>" + _table_html(mv, {
                                    "gallery": lambda v: f"g{int(v)}", "id": lambda v: f"{int(v)}",
                                    "cam": lambda v: f"{int(v)}", "match": lambda v: "\u2713" if v else "",
                                    "visual s": lambda v: f"{v:.3f}", "ST p": lambda v: f"{v:.2g}",
                                    "joint score": lambda v: f"{v:.3f}", "visual rank": lambda v: f"#{int(v)}",
                                    "moved": lambda v: f"{int(v):+d}"}, "rank"))

    return STExplorer



def explore_st(st_model: Any, evaluation: Any = None, *, top_k: int = 10, order: str = "index", unit: str = "s",
               fps: float = 25.0, query: Optional[int] = None, pair: Optional[tuple[int, int]] = None):
    """Camera-time explorer: pick a camera pair to see its transit histogram and smoothed
    probability; pick a query to see how the ST factor moves each gallery candidate.

    Args:
        st_model: a fitted :class:`reidlab.eval.STModel`.
        evaluation: an Evaluation of a run (its visual features); optional.
        top_k: candidates per query; order: ``"index"`` or ``"st-change"``; unit, fps: time axis.
        query, pair: initial query index and camera pair ``(from, to)`` (0-based camids).

    Returns:
        an :class:`STExplorer` widget (``.state``: :class:`STState`).
    """
    state = STState(st_model, evaluation, top_k=top_k, unit=unit, fps=fps, order=order)
    if pair is not None:
        state.set_pair(*pair)
    if query is not None:
        state.set_query(query)
    return _widget_class("STExplorer", _st_class)(state)
