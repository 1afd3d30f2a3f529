"""The retrieval explorer: :class:`RetrievalState` (query, filters, scoring, top-k, the
Grad-CAM of a pair), its widget layer and :func:`explore_retrieval`.

Part of :mod:`reidlab.viz.explore` (import from there; see its docstring for the conventions).
"""

from __future__ import annotations

import html
from typing import Any, Callable, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.common import MATCH_COLOR, MISMATCH_COLOR, show_image
from reidlab.viz.explore.common import (
    _LRU,
    _NONE,
    _QUERY_COLOR,
    _SELECTED_COLOR,
    _UNSET,
    ModelInputs,
    _error_text,
    _explorer_base,
    _Guard,
    _image,
    _load_uint8,
    _message,
    _opt,
    _val,
    _warm_up_gradcam,
    _widget_class,
    _widgets,
    log,
    model_inputs,
    setting_label,
)

# --------------------------------------------------------------------------------------
# Retrieval: state
# --------------------------------------------------------------------------------------


class RetrievalState:
    """What the retrieval explorer shows: a query (picked from a filtered, ordered list), a
    scoring (evaluation setting), its top-k, and on demand the Grad-CAM of one pair.

    Args:
        evaluation: a :class:`reidlab.eval.Evaluation` built from records (it needs their
            paths); e.g. ``lab.evaluation(cfg, run)``. Its caches hold every distance.
        settings: scorings offered (default: ``evaluation.available_settings()``).
        setting: the initial scoring (default: the first of ``settings``).
        top_k: gallery images shown.
        model, inputs: for Grad-CAM (see :func:`model_inputs`); default: the evaluation's
            run (``lab.evaluation`` / ``run_evaluation`` attach it) when it has one.
        cam_method: Grad-CAM method of the similarity maps (:data:`reidlab.viz.CAM_METHODS`).
        part_method: method of the per-part maps (HiResCAM keeps each part's spatial support).
        image_size: (height, width) of the gallery thumbnails, pixels.

    The query list: all queries, or with ``only_failures`` the valid queries whose first
    correct match is not at rank 1 *in the current scoring* (queries without any valid match
    are not failures: the protocol skips them), with ``camera`` / ``identity`` those of one
    camera (0-based camid) / identity; order ``"index"`` or ``"worst-ap"`` (lowest AP in the
    current scoring first, skipped queries last). ``position`` indexes that list.
    """

    ORDERS: tuple[str, ...] = ("index", "worst-ap")

    def __init__(self, evaluation: Any, *, settings: Optional[Sequence[str]] = None, setting: Optional[str] = None,
                 top_k: int = 8, model: Any = None, inputs: Optional[Callable[[Any], Any]] = None,
                 cam_method: str = "gradcam", part_method: str = "hirescam",
                 image_size: tuple[int, int] = (128, 64)) -> None:
        from reidlab.eval import parse_setting

        if evaluation.query is None or evaluation.gallery is None:
            raise ConfigError("explore_retrieval: the Evaluation was built from label arrays; build it from the "
                              "dataset's records (ds.query, ds.gallery) so the images can be shown")
        self.ev = evaluation
        available = evaluation.available_settings()
        if settings is None:
            settings = available
        self.settings: list[str] = []
        for s in settings:
            name = parse_setting(s)
            why = evaluation.unavailable_reason(name)
            if why:
                raise ConfigError(f"setting {name!r} is not available for this evaluation: {why}")
            if name not in self.settings:
                self.settings.append(name)
        if not self.settings:
            raise ConfigError("explore_retrieval: no settings to show; pass settings=['single-query', ...]")
        self.setting = self._check_setting(setting or self.settings[0])
        self.top_k = self._check_top_k(top_k)
        self.only_failures = False
        self.camera: Optional[int] = None
        self.identity: Optional[int] = None
        self.order = "index"
        self.position = 0
        self.selected_rank: Optional[int] = None
        self.cam_method = cam_method
        self.part_method = part_method
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.q_pids, self.q_cams, self.g_pids, self.g_cams = evaluation.labels()
        self._frames: dict[str, Any] = {}
        self._images = _LRU(2048)
        self._explanations = _LRU(24)
        self._has_parts: Optional[bool] = None
        if model is None:
            model = getattr(evaluation, "run", None)
        self.explainer: Optional[ModelInputs] = None if model is None else model_inputs(model, inputs)

    # ------------------------------------------------------------------ checks
    def _check_setting(self, setting: str) -> str:
        from reidlab.eval import parse_setting

        name = parse_setting(setting)
        if name not in self.settings:
            raise ConfigError(f"setting {setting!r}: not one of this explorer's scorings {self.settings}")
        return name

    @staticmethod
    def _check_top_k(top_k: int) -> int:
        if isinstance(top_k, bool) or int(top_k) < 1:
            raise ConfigError(f"top_k={top_k!r}: expected a positive number of gallery images")
        return int(top_k)

    # ------------------------------------------------------------------ per-query results
    def query_frame(self, setting: Optional[str] = None):
        """:meth:`Evaluation.query_frame` of a setting (default: the current one), cached."""
        s = self.setting if setting is None else self._check_setting(setting)
        if s not in self._frames:
            self._frames[s] = self.ev.query_frame(s)
        return self._frames[s]

    def failures(self, setting: Optional[str] = None) -> list[int]:
        """Valid queries whose first correct match is not at rank 1 in ``setting``."""
        fh = self.query_frame(setting)["first_hit"].to_numpy()
        return np.flatnonzero(fh > 1).tolist()

    def queries(self) -> list[int]:
        """The query indices the picker offers, in order (filters and order applied)."""
        n = len(self.q_pids)
        mask = np.ones(n, dtype=bool)
        if self.only_failures:
            mask &= self.query_frame()["first_hit"].to_numpy() > 1
        if self.camera is not None:
            mask &= self.q_cams == self.camera
        if self.identity is not None:
            mask &= self.q_pids == self.identity
        idx = np.flatnonzero(mask)
        if self.order == "worst-ap" and idx.size:
            ap = self.query_frame()["ap"].to_numpy()[idx]
            idx = idx[np.argsort(np.where(np.isnan(ap), np.inf, ap), kind="stable")]
        return idx.tolist()

    def cameras(self) -> list[int]:
        """Cameras (0-based) that have queries."""
        return sorted(int(c) for c in np.unique(self.q_cams))

    def identities(self) -> list[int]:
        """Query identities, sorted."""
        return sorted(int(p) for p in np.unique(self.q_pids))

    @property
    def query(self) -> Optional[int]:
        """The current query index, or None when no query passes the filters."""
        qs = self.queries()
        if not qs:
            return None
        return qs[min(self.position, len(qs) - 1)]

    # ------------------------------------------------------------------ changes
    def _keep(self, query: Optional[int]) -> None:
        """After the list changed: stay on ``query`` when it is still listed, else go to the first."""
        qs = self.queries()
        self.position = qs.index(query) if query in qs else 0
        self.selected_rank = None

    def set_setting(self, setting: str) -> None:
        """Switch the scoring; the query stays (when the filters still list it)."""
        q = self.query
        self.setting = self._check_setting(setting)
        self._keep(q)

    def set_filters(self, *, only_failures: Any = _UNSET, camera: Any = _UNSET, identity: Any = _UNSET,
                    order: Any = _UNSET) -> None:
        """Change any of the filters (``None`` = no camera / identity filter); the query stays
        when still listed."""
        q = self.query
        if only_failures is not _UNSET:
            self.only_failures = bool(only_failures)
        if camera is not _UNSET:
            if camera is not None and int(camera) not in self.cameras():
                raise ConfigError(f"camera={camera!r}: no query from that camera (0-based camids {self.cameras()})")
            self.camera = None if camera is None else int(camera)
        if identity is not _UNSET:
            if identity is not None and int(identity) not in set(self.identities()):
                raise ConfigError(f"identity={identity!r}: no query of that identity")
            self.identity = None if identity is None else int(identity)
        if order is not _UNSET:
            if order not in self.ORDERS:
                raise ConfigError(f"order={order!r}: expected one of {self.ORDERS}")
            self.order = order
        self._keep(q)

    def set_position(self, position: int) -> None:
        """Go to entry ``position`` (0-based) of :meth:`queries`."""
        n = len(self.queries())
        if not 0 <= int(position) < max(n, 1):
            raise ConfigError(f"position={position}: the list has {n} queries (0..{n - 1})")
        self.position = int(position)
        self.selected_rank = None

    def set_query(self, q_index: int) -> None:
        """Go to query ``q_index`` (an index of the evaluation's queries); it must pass the filters."""
        qs = self.queries()
        if int(q_index) not in qs:
            raise ConfigError(f"query {q_index} is not in the list (filters: {self.describe_filters()}); "
                              "clear the filters to reach it")
        self.position = qs.index(int(q_index))
        self.selected_rank = None

    def next(self) -> None:
        """The next query of the list (stays on the last)."""
        self.set_position(min(self.position + 1, max(len(self.queries()) - 1, 0)))

    def previous(self) -> None:
        """The previous query of the list (stays on the first)."""
        self.set_position(max(self.position - 1, 0))

    def set_top_k(self, top_k: int) -> None:
        self.top_k = self._check_top_k(top_k)
        if self.selected_rank is not None and self.selected_rank > self.top_k:
            self.selected_rank = None

    def select_rank(self, rank: Optional[int]) -> None:
        """Choose the gallery image at ``rank`` (1-based, within the shown top-k) to explain;
        ``None`` clears the choice."""
        if rank is not None:
            n = len(self.ranking())
            if isinstance(rank, bool) or not 1 <= int(rank) <= n:
                raise ConfigError(f"rank={rank!r}: choose one of the {n} shown ranks (1..{n})")
            rank = int(rank)
        self.selected_rank = rank

    def describe_filters(self) -> str:
        parts = []
        if self.only_failures:
            parts.append("only failures")
        if self.camera is not None:
            parts.append(f"cam {self.camera + 1}")
        if self.identity is not None:
            parts.append(f"id {self.identity}")
        if self.order == "worst-ap":
            parts.append("worst AP first")
        return ", ".join(parts) or "none"

    # ------------------------------------------------------------------ what to draw
    def _need_query(self) -> int:
        q = self.query
        if q is None:
            raise ConfigError(f"no query passes the filters ({self.describe_filters()}); loosen them")
        return q

    def ranking(self, setting: Optional[str] = None):
        """:meth:`Evaluation.ranking` of the current query in ``setting`` (default: the current
        scoring): DataFrame indexed by rank with ``gallery_index``, ``distance``, ``pid``,
        ``camid``, ``correct``."""
        s = self.setting if setting is None else self._check_setting(setting)
        return self.ev.ranking(s, self._need_query(), top_k=self.top_k)

    def scores(self):
        """This query under every scoring: DataFrame indexed by setting with ``label``, ``ap``
        (NaN when skipped) and ``first_hit`` (1-based rank of the first correct match, 0 when
        the query has no valid match)."""
        import pandas as pd

        q = self._need_query()
        rows = {}
        for s in self.settings:
            f = self.query_frame(s)
            rows[s] = {"label": setting_label(s), "ap": float(f["ap"].iat[q]), "first_hit": int(f["first_hit"].iat[q])}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "setting"
        return df

    def first_match(self) -> Optional[tuple[int, int]]:
        """``(rank, gallery_index)`` of the first correct match in the current scoring, or None."""
        q = self._need_query()
        fh = int(self.query_frame()["first_hit"].iat[q])
        if fh < 1:
            return None
        r = self.ev.ranking(self.setting, q, top_k=fh)
        return fh, int(r["gallery_index"].iat[-1])

    def title(self) -> str:
        """One line: query, its identity and camera, the scoring, its AP and first-hit rank."""
        q = self.query
        if q is None:
            return f"no query passes the filters ({self.describe_filters()})"
        f = self.query_frame()
        ap, fh = float(f["ap"].iat[q]), int(f["first_hit"].iat[q])
        res = f"AP {ap:.2f}, first correct at #{fh}" if fh > 0 else "no valid match (skipped by the protocol)"
        return f"query {q} \u00b7 id {int(self.q_pids[q])} \u00b7 cam {int(self.q_cams[q]) + 1} \u2014 {setting_label(self.setting)}: {res}"

    def _image(self, path: str) -> np.ndarray:
        return self._images.get(path, lambda: _load_uint8(path, self.image_size))

    def figure(self) -> Figure:
        """The gallery: the query, its top-k in the current scoring (green = same identity,
        red = other; identity, distance and camera under each image; the chosen rank framed
        in orange) and, when the first correct match is beyond the top-k, that match with its
        rank. The title is :meth:`title`."""
        q = self._need_query()
        rk = self.ranking()
        fm = self.first_match()
        extra = fm is not None and fm[0] > len(rk)
        n = 1 + len(rk) + int(extra)
        fig = Figure(figsize=(0.82 * n + 0.3, 2.55), dpi=100)
        axes = fig.subplots(1, n, squeeze=False)[0]
        fig.subplots_adjust(left=0.01, right=0.99, top=0.78, bottom=0.2, wspace=0.12)
        qrec = self.ev.query[q]
        show_image(axes[0], self._image(qrec.path), "query", border=_QUERY_COLOR,
                   xlabel=f"id {int(self.q_pids[q])}\ncam {int(self.q_cams[q]) + 1}", fontsize=7)
        for ax, (rank, row) in zip(axes[1:], rk.iterrows()):
            g = int(row["gallery_index"])
            colour = MATCH_COLOR if bool(row["correct"]) else MISMATCH_COLOR
            title = f"#{rank}"
            if rank == self.selected_rank:
                title = f"\u25b6 #{rank}"
            show_image(ax, self._image(self.ev.gallery[g].path), title, border=colour,
                       border_width=6.0 if rank == self.selected_rank else 4.0,
                       xlabel=f"id {int(row['pid'])}\nd={row['distance']:.3g}\ncam {int(row['camid']) + 1}", fontsize=7)
            if rank == self.selected_rank:
                ax.title.set_color(_SELECTED_COLOR)
        if extra:
            rank, g = fm
            show_image(axes[-1], self._image(self.ev.gallery[g].path), f"first match\n#{rank}", border=MATCH_COLOR,
                       xlabel=f"id {int(self.g_pids[g])}\nd={float(self.ev.distance(self.setting)[q, g]):.3g}\n"
                              f"cam {int(self.g_cams[g]) + 1}", fontsize=7)
        fig.suptitle(self.title(), fontsize=9)
        return fig

    # ------------------------------------------------------------------ Grad-CAM of the chosen pair
    def selected_gallery(self) -> Optional[int]:
        """Gallery index of the chosen rank, or None."""
        if self.selected_rank is None:
            return None
        return int(self.ranking()["gallery_index"].iat[self.selected_rank - 1])

    def explain(self) -> list[Figure]:
        """Figures for the chosen pair (query, gallery image at :attr:`selected_rank`):
        :func:`reidlab.viz.gradcam_similarity` side by side and, for part models,
        :func:`reidlab.viz.gradcam_parts` (one map per part, each part's similarity to the
        gallery image's). Computed on first use per (query, gallery image, method), then cached.
        """
        from reidlab.viz.gradcam import gradcam_parts, gradcam_similarity

        if self.explainer is None:
            raise ConfigError("no model to explain with: pass model=run (or model=module, inputs=...) to explore_retrieval")
        q = self._need_query()
        g = self.selected_gallery()
        if g is None:
            raise ConfigError("choose a rank first (select_rank)")
        key = (q, g, self.cam_method, self.part_method)

        def make() -> list[Figure]:
            m = self.explainer
            xq, kq = m(self.ev.query[q])
            xg, kg = m(self.ev.gallery[g])
            rank = self.selected_rank
            labels = (f"query {q} (id {int(self.q_pids[q])})", f"#{rank} (id {int(self.g_pids[g])})")
            figs = [gradcam_similarity(m.model, xq, xg, self.cam_method, query_keypoints=kq, gallery_keypoints=kg,
                                       labels=labels)]
            if self._has_parts is not False:
                try:
                    figs.append(gradcam_parts(m.model, xq, xg, self.part_method, keypoints=kq, other_keypoints=kg))
                    self._has_parts = True
                except ConfigError as err:
                    if "no parts to explain" not in str(err):
                        raise
                    self._has_parts = False
            return figs

        return self._explanations.get(key, make)


def _retrieval_class():
    """The :class:`RetrievalExplorer` widget class, built on first use.

    Long: it is the class body, defined inside this factory so that importing reidlab.viz never
    imports ipywidgets; each method is short."""
    w = _widgets()
    Base = _explorer_base()

    class RetrievalExplorer(Base):
        """Widget layer of :class:`RetrievalState` (``.state``): scoring buttons, filters, a query
        slider with previous / next buttons, the gallery, the per-scoring AP / first-hit table,
        and a rank picker that shows the Grad-CAM of the chosen pair."""

        def __init__(self, state: RetrievalState) -> None:
            self.state = state
            self._guard = _Guard()
            s = state
            opts = [(setting_label(x), x) for x in s.settings]
            self.scoring = w.ToggleButtons(options=opts, value=s.setting, description="scoring",
                                           style={"button_width": "auto"})
            self.top_k = w.IntSlider(value=s.top_k, min=1, max=max(20, s.top_k), description="top-k",
                                     continuous_update=False, layout=w.Layout(width="260px"))
            self.only_failures = w.Checkbox(value=False, description="only failures (first hit not #1)", indent=False,
                                            layout=w.Layout(width="230px"))
            self.camera = w.Dropdown(options=[("all", _NONE)] + [(f"cam {c + 1}", c) for c in s.cameras()],
                                     value=_opt(s.camera), description="camera", layout=w.Layout(width="170px"))
            self.identity = w.Dropdown(options=[("all", _NONE)] + [(f"id {p}", p) for p in s.identities()],
                                       value=_opt(s.identity), description="identity", layout=w.Layout(width="190px"))
            self.order = w.Dropdown(options=[("query index", "index"), ("worst AP first", "worst-ap")], value="index",
                                    description="order", layout=w.Layout(width="210px"))
            self.prev_button = w.Button(description="\u25c0 previous", layout=w.Layout(width="100px"))
            self.next_button = w.Button(description="next \u25b6", layout=w.Layout(width="100px"))
            self.prev_button.add_class("reidlab-previous")
            self.next_button.add_class("reidlab-next")
            self.slider = w.IntSlider(value=0, min=0, max=0, description="query", continuous_update=False,
                                      readout=False, layout=w.Layout(width="360px"))
            self.slider.add_class("reidlab-query-slider")
            self.where = w.HTML(layout=w.Layout(width="120px"))
            self.header = w.HTML()
            self.header.add_class("reidlab-header")
            self.gallery = _image()
            self.gallery.add_class("reidlab-gallery")
            self.rank = w.Dropdown(options=[("\u2014", _NONE)], value=_NONE, description="explain rank",
                                   style={"description_width": "initial"}, layout=w.Layout(width="260px"))
            self.rank.add_class("reidlab-rank")
            self.status = w.HTML()
            self.cams = w.VBox([])
            for ctl, fn in ((self.scoring, self._on_scoring), (self.top_k, self._on_top_k),
                            (self.only_failures, self._on_filter), (self.camera, self._on_filter),
                            (self.identity, self._on_filter), (self.order, self._on_filter),
                            (self.slider, self._on_slider), (self.rank, self._on_rank)):
                ctl.observe(fn, names="value")
            self.prev_button.on_click(lambda _b: self._step(-1))
            self.next_button.on_click(lambda _b: self._step(+1))
            super().__init__([
                w.HBox([self.scoring]),
                w.HBox([self.only_failures, self.camera, self.identity, self.order]),
                w.HBox([self.prev_button, self.slider, self.where, self.next_button, self.top_k]),
                self.header, self.gallery,
                w.HBox([self.rank, self.status]), self.cams,
            ])
            self.add_class("reidlab-explorer")
            self.add_class("reidlab-retrieval")
            self.refresh()
            if state.explainer is not None:
                _warm_up_gradcam()

        # -------------------------------------------------------------- callbacks
        def _on_scoring(self, change) -> None:
            if not self._guard.active:
                self.state.set_setting(change["new"])
                self.refresh()

        def _on_top_k(self, change) -> None:
            if not self._guard.active:
                self.state.set_top_k(change["new"])
                self.refresh()

        def _on_filter(self, _change) -> None:
            if not self._guard.active:
                self.state.set_filters(only_failures=self.only_failures.value, camera=_val(self.camera.value),
                                       identity=_val(self.identity.value), order=self.order.value)
                self.refresh()

        def _on_slider(self, change) -> None:
            if not self._guard.active and self.state.query is not None:
                self.state.set_position(change["new"])
                self.refresh()

        def _step(self, step: int) -> None:
            if self.state.query is None:
                return
            self.state.next() if step > 0 else self.state.previous()
            self.refresh()

        def _on_rank(self, change) -> None:
            if self._guard.active:
                return
            self.state.select_rank(_val(change["new"]))
            self.refresh(explain=True)

        # -------------------------------------------------------------- drawing
        def refresh(self, explain: bool = False) -> None:
            """Redraw from the state: controls, header, gallery; with ``explain`` the Grad-CAM too."""
            s = self.state
            qs = s.queries()
            q = s.query
            with self._guard:
                self.scoring.value = s.setting
                self.top_k.value = s.top_k
                self.only_failures.value = s.only_failures
                self.camera.value = _opt(s.camera)
                self.identity.value = _opt(s.identity)
                self.order.value = s.order
                self.slider.max = max(len(qs) - 1, 0)
                self.slider.value = min(s.position, self.slider.max)
                self.slider.disabled = not qs
                self.prev_button.disabled = not qs or s.position == 0
                self.next_button.disabled = not qs or s.position >= len(qs) - 1
                if q is not None:
                    rk = s.ranking()
                    mark = {True: "\u2713", False: "\u2717"}
                    self.rank.options = [("\u2014", _NONE)] + [
                        (f"#{r} id {int(row['pid'])} {mark[bool(row['correct'])]}", r) for r, row in rk.iterrows()]
                else:
                    self.rank.options = [("\u2014", _NONE)]
                self.rank.value = _opt(s.selected_rank)
            n_text = f"{len(qs)} of {len(s.q_pids)} queries (filters: {s.describe_filters()})"
            self.where.value = f"{s.position + 1} / {len(qs)}" if qs else "0 / 0"
            if q is None:
                self.header.value = (f"<b class='reidlab-query-title'>{html.escape(s.title())}</b><br>"
                                     f"{_message(n_text)}")
                self.gallery.layout.display = "none"
                self.cams.children = []
                return
            sc = s.scores()
            cell = "<td style='padding:1px 10px;text-align:right'>{}</td>"
            head = "".join(f"<th style='padding:1px 10px'>{html.escape(v)}</th>" for v in sc["label"])
            aps = "".join(cell.format("\u2014" if not np.isfinite(v) else f"{v:.3f}") for v in sc["ap"])
            hits = "".join(cell.format("\u2014" if v < 1 else f"#{int(v)}") for v in sc["first_hit"])
            table = (f"<table class='reidlab-scores' style='font-size:12px;border-collapse:collapse'>"
                     f"<tr><th style='padding:1px 10px;text-align:left'>this query</th>{head}</tr>"
                     f"<tr><td style='padding:1px 10px'>AP</td>{aps}</tr>"
                     f"<tr><td style='padding:1px 10px'>first correct</td>{hits}</tr></table>")
            self.header.value = (f"<b class='reidlab-query-title'>{html.escape(s.title())}</b>"
                                 f"<div style='font-size:11px;color:#555'>{html.escape(n_text)}</div>{table}")
            self.status.value = ""
            self._show(self.gallery, s.figure, self.status, cache=False)  # a new figure each time
            if explain or s.selected_rank is None:
                self._explain()

        def _explain(self) -> None:
            s = self.state
            if s.selected_rank is None:
                self.cams.children = []
                self.status.value = _message("choose a rank to see why the model matches the pair (Grad-CAM)"
                                             if s.explainer is not None else
                                             "Grad-CAM: pass model=run to explore_retrieval")
                return
            self.status.value = _message("computing Grad-CAM ...")
            try:
                figs = s.explain()
            except Exception as err:
                if not isinstance(err, ReIDLabError):
                    log.warning("explorer: %s", _error_text(err), exc_info=True)
                self.status.value = _message(_error_text(err), error=True)
                self.cams.children = []
                return
            images = []
            for f in figs:
                im = _image(value=self._png(f))
                im.add_class("reidlab-cam")
                images.append(im)
            self.cams.children = images
            self.status.value = _message(f"Grad-CAM of query {s.query} and rank #{s.selected_rank} "
                                         f"({s.cam_method}; parts: {s.part_method})")

    return RetrievalExplorer


# --------------------------------------------------------------------------------------
# The public entry points
# --------------------------------------------------------------------------------------


def explore_retrieval(evaluation: Any, *, model: Any = None, inputs: Optional[Callable[[Any], Any]] = None,
                      settings: Optional[Sequence[str]] = None, setting: Optional[str] = None, top_k: int = 8,
                      query: Optional[int] = None, only_failures: bool = False, order: str = "index",
                      cam_method: str = "gradcam", part_method: str = "hirescam"):
    """Retrieval explorer: pick a query, toggle the scoring, see the top-k, explain a pair.

    Args:
        evaluation: a :class:`reidlab.eval.Evaluation` built from records (``lab.evaluation(cfg, run)``).
        model, inputs: for Grad-CAM (default: the evaluation's run, when it has one).
        settings: scorings offered (default: every setting the evaluation allows: plain,
            re-ranked, ST, ST + re-ranking, QE, multi-query ...).
        setting: initial scoring; top_k: gallery images shown; query: initial query index.
        only_failures, order: initial filters (see :class:`RetrievalState`).
        cam_method, part_method: Grad-CAM methods of the pair and of the per-part maps.

    Returns:
        a :class:`RetrievalExplorer` widget (``.state`` is its :class:`RetrievalState`);
        it displays as the cell's value and never blocks.
    """
    state = RetrievalState(evaluation, settings=settings, setting=setting, top_k=top_k, model=model, inputs=inputs,
                           cam_method=cam_method, part_method=part_method)
    state.set_filters(only_failures=only_failures, order=order)
    if query is not None:
        state.set_query(query)
    return _widget_class("RetrievalExplorer", _retrieval_class)(state)
