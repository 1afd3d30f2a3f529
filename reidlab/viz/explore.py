"""Interactive explorers for JupyterLab: retrieval, attention and camera-time, on ipywidgets.

Three functions, each returning a widget that shows itself as a cell's value (nothing
blocks: under papermill or nbval the cell just returns the widget)::

    from reidlab import viz
    viz.explore_retrieval(ev)                    # ev: reidlab.eval.Evaluation (lab.evaluation)
    viz.explore_attention(run, ds.query[:40])    # a run (or {name: run}) and some records
    viz.explore_st(st_model, ev)                 # a fitted STModel and an Evaluation

Each explorer is two layers:

* a **state** object (:class:`RetrievalState`, :class:`AttentionState`, :class:`STState`):
  plain Python, no widgets -- the current query / image / camera pair, the filters and the
  scoring, and methods that say what to draw (a ranking, a table, a matplotlib Figure).
  Tests drive these headless.
* a thin **widget** layer (:class:`RetrievalExplorer`, :class:`AttentionExplorer`,
  :class:`STExplorer`, subclasses of ``ipywidgets.VBox``): controls that set the state and
  images that show its figures as PNG. ``explorer.state`` is the state object.

Speed: an :class:`~reidlab.eval.Evaluation` computes each setting's distances and metrics
once (its cache); the explorers add caches of the decoded gallery images, the model inputs
and the Grad-CAM figures (computed only when a rank / target is chosen). Switching the
query or the scoring re-ranks from the cached distances and draws one small figure.

Conventions: query / gallery / record indices are 0-based positions in the evaluation's (or
the given) record lists; cameras are 0-based ``camid`` in the API and shown 1-based
(``cam 1`` = Market's ``c1``); ranks are 1-based evaluated ranks (junk removed, as
:meth:`reidlab.eval.Evaluation.ranking`); distances are the setting's (smaller = closer).

``python -m reidlab.viz.explore --time RUN [--data DIR]`` measures the retrieval explorer's
redraw times on a run's evaluation; ``--screenshots DIR [--profile demo]`` takes the README's
screenshots of the three explorers in JupyterLab in headless Chromium.
"""

from __future__ import annotations

import functools
import html
import io
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.common import MATCH_COLOR, MISMATCH_COLOR, draw_box, draw_stripes, overlay, show_image, to_display

__all__ = [
    "SETTING_LABELS", "setting_label", "figure_png", "ModelInputs", "model_inputs",
    "RetrievalState", "AttentionState", "STState", "ATTENTION_TARGETS",
    "RetrievalExplorer", "AttentionExplorer", "STExplorer",
    "explore_retrieval", "explore_attention", "explore_st",
]

log = logging.getLogger("reidlab")

#: Display names of the evaluation settings (:data:`reidlab.eval.SETTINGS`).
SETTING_LABELS: dict[str, str] = {
    "single-query": "plain",
    "rerank": "re-ranked",
    "st": "ST",
    "st+rerank": "ST + re-ranking",
    "qe": "QE",
    "multi-query": "multi-query",
    "multi-query+rerank": "multi-query + re-ranking",
}

#: Targets of the attention explorer: key -> label. The first three are Grad-CAM targets
#: (any model); the others are a model's own attention (offered when ``explain()`` has it).
ATTENTION_TARGETS: dict[str, str] = {
    "identity": "Grad-CAM: identity logit",
    "similarity": "Grad-CAM: similarity to the reference image",
    "parts": "Grad-CAM: per part",
    "tsa": "MGWP: tiny spatial attention per branch",
    "nonlocal": "MGWP: non-local affinity",
    "lgeu": "LGEU: part x channel weights",
    "pose": "jlpose: landmarks and boxes",
}

_QUERY_COLOR = "#2c7bb6"
_SELECTED_COLOR = "#ff9f1c"
_UNSET: Any = object()


def setting_label(setting: str) -> str:
    """Display name of an evaluation setting (``"st+rerank"`` -> ``"ST + re-ranking"``)."""
    return SETTING_LABELS.get(setting, setting)


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (what the widgets show)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class _LRU:
    """A small least-recently-used cache: ``get(key, make)`` computes ``make()`` once per key."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._d: OrderedDict = OrderedDict()
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        self.misses += 1
        value = make()
        self._d[key] = value
        while len(self._d) > self.size:
            self._d.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)


def _load_uint8(path: str, size: tuple[int, int]) -> np.ndarray:
    """An image file at display ``size`` (height, width) as uint8 ``[H, W, 3]`` (a quarter of
    the float memory; the cache keeps many)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((int(size[1]), int(size[0])), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise ConfigError(f"{path}: image file not found; check the record's path (was the dataset moved?)") from None


# --------------------------------------------------------------------------------------
# A model and how to build its inputs from records
# --------------------------------------------------------------------------------------


@dataclass
class ModelInputs:
    """A model in eval mode with the function that turns a record into its input.

    ``inputs(record)`` returns a normalised image tensor ``[3, H, W]`` or ``(image, keypoints)``
    (keypoints ``[18, 3]`` in pixels of that image, or None); calling the object returns the
    pair, cached per record path.
    """

    model: Any
    inputs: Callable[[Any], Any]
    name: str

    def __post_init__(self) -> None:
        self._cache = _LRU(256)

    def __call__(self, record: Any) -> tuple[Any, Optional[np.ndarray]]:
        def make():
            out = self.inputs(record)
            x, kp = (out if isinstance(out, tuple) else (out, None))
            return x, kp

        return self._cache.get(getattr(record, "path", id(record)), make)


def _is_run(obj: Any) -> bool:
    return hasattr(obj, "model") and hasattr(obj, "preset")


def model_inputs(model: Any, inputs: Optional[Callable[[Any], Any]] = None, name: Optional[str] = None) -> ModelInputs:
    """``model`` (a :class:`reidlab.engine.runs.Run`, or an ``nn.Module`` with ``inputs``) as
    :class:`ModelInputs`.

    For a run, ``inputs`` defaults to :func:`reidlab.viz.model_input` (the run's input size,
    ImageNet normalisation, landmarks); a bare module needs ``inputs`` (it does not know its
    input size).
    """
    if isinstance(model, ModelInputs):
        return model
    if _is_run(model):
        module = model.model
        if inputs is None:
            from reidlab.viz.data import model_input

            inputs = functools.partial(model_input, model)
        name = name or str(getattr(model.preset, "model", None) or type(module).__name__)
    else:
        module = model
        if inputs is None:
            raise ConfigError(f"{type(model).__name__}: pass inputs=callable(record) -> normalised image tensor "
                              "[3, H, W] (or (image, keypoints)), e.g. functools.partial(reidlab.viz.model_input, run), "
                              "or pass the run itself instead of run.model")
        name = name or type(module).__name__
    if not hasattr(module, "eval") or not callable(inputs):
        raise ConfigError(f"model: expected a reidlab run or torch module, got {type(module).__name__}")
    return ModelInputs(module, inputs, name)


def _error_text(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {msg}" if not isinstance(err, ReIDLabError) else msg


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


# --------------------------------------------------------------------------------------
# Attention: state
# --------------------------------------------------------------------------------------


class AttentionState:
    """What the attention explorer shows: one image, one model, one target.

    Args:
        model: a run / module (with ``inputs``), or ``{name: run}`` to switch between models.
        records: the images to pick from (dataset records; ``ds.query[:40]``...).
        inputs: record -> input (see :func:`model_inputs`), for modules.
        method: Grad-CAM method of the identity and similarity maps.
        part_method: method of the per-part maps.
        reference: index into ``records`` of the reference image (similarity target, and the
            per-part maps' comparison); default: the next image.

    Targets (:data:`ATTENTION_TARGETS`): ``identity`` (logit of :attr:`identity_class`, None =
    the predicted identity; train records' ``pid`` is the classifier's label), ``similarity``
    (to the reference image), ``parts`` (:attr:`part` None = every part, else one part's map),
    and the model's own attention when its ``explain()`` gives it: ``tsa`` and ``nonlocal``
    (MGWP), ``lgeu`` (LGEU's ``[K, C]`` part weights), ``pose`` (jlpose's boxes).
    """

    def __init__(self, model: Any, records: Sequence[Any], *, inputs: Optional[Callable[[Any], Any]] = None,
                 method: str = "gradcam", part_method: str = "hirescam", reference: Optional[int] = None,
                 target: Optional[str] = None) -> None:
        from reidlab.viz.gradcam import cam_class

        self.records = list(records)
        if not self.records:
            raise ConfigError("explore_attention: records is empty; pass some dataset records, e.g. ds.query[:40]")
        if isinstance(model, Mapping):
            if not model:
                raise ConfigError("explore_attention: the model mapping is empty")
            self.models = {str(k): model_inputs(v, inputs, str(k)) for k, v in model.items()}
        else:
            m = model_inputs(model, inputs)
            self.models = {m.name: m}
        self.model_name = next(iter(self.models))
        cam_class(method)
        cam_class(part_method)
        self.method = method
        self.part_method = part_method
        self.index = 0
        self.reference: Optional[int] = None
        self.set_reference(reference if reference is not None else (1 if len(self.records) > 1 else None))
        self.part: Optional[int] = None
        self.identity_class: Optional[int] = None
        self.position: tuple[float, float] = (0.35, 0.5)
        self._own: dict[str, dict[str, tuple]] = {}
        self._figures = _LRU(32)
        self._part_cams = _LRU(16)
        self.target = "identity"
        if target is not None:
            self.set_target(target)

    # ------------------------------------------------------------------ capabilities
    @property
    def current(self) -> ModelInputs:
        return self.models[self.model_name]

    def _explain_keys(self) -> dict[str, tuple]:
        """Shapes of the current model's ``explain()`` outputs on the first record (cached)."""
        if self.model_name not in self._own:
            import torch

            from reidlab.viz.common import as_batch, model_device
            from reidlab.viz.gradcam import preserved_state

            m = self.current
            x, kp = m(self.records[0])
            dev = model_device(m.model)
            kpt = None if kp is None else torch.as_tensor(np.asarray(kp), dtype=torch.float32, device=dev)[None]
            try:
                with preserved_state(m.model), torch.no_grad():
                    m.model.eval()
                    out = m.model.explain(as_batch(x).to(dev), keypoints=kpt)
                shapes = {k: tuple(v.shape) for k, v in out.items() if hasattr(v, "shape")}
            except (NotImplementedError, AttributeError):
                shapes = {}
            self._own[self.model_name] = shapes
        return self._own[self.model_name]

    def targets(self) -> list[str]:
        """Targets the current model offers, in :data:`ATTENTION_TARGETS` order."""
        keys = self._explain_keys()
        out = ["identity", "similarity"]
        if self.part_labels():
            out.append("parts")
        if "tsa_maps" in keys:
            out.append("tsa")
        if "nonlocal_affinity" in keys:
            out.append("nonlocal")
        if "part_weights" in keys and len(keys["part_weights"]) == 3 and keys["part_weights"][-1] > 2:
            out.append("lgeu")
        if "part_boxes" in keys:
            out.append("pose")
        return out

    def part_labels(self) -> list[str]:
        """Names of the current model's parts (empty for a model without parts), in the order
        of :func:`reidlab.viz.part_cams`."""
        from reidlab.viz.gradcam import POSE_PART_NAMES

        keys = self._explain_keys()
        model = self.current.model
        if "part_features" in keys:
            n = keys["part_features"][1]
            names = list(getattr(model, "names", None) or [])
            return names if len(names) == n and all(isinstance(v, str) for v in names) else [f"part {p + 1}" for p in range(n)]
        if "part_weights" in keys and keys["part_weights"][-1] > 2:
            return [f"part {p + 1}" for p in range(keys["part_weights"][1])]
        segments = getattr(model, "segments", None)
        if "part_boxes" in keys and segments is not None and len(segments) == 1 + len(POSE_PART_NAMES):
            return list(POSE_PART_NAMES)
        return []

    # ------------------------------------------------------------------ changes
    def _check_index(self, i: Any, what: str) -> int:
        n = len(self.records)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n:
            raise ConfigError(f"{what}={i!r}: expected a record index in 0..{n - 1}")
        return int(i)

    def set_model(self, name: str) -> None:
        """Switch model; the target stays when the new model offers it, else ``identity``."""
        if name not in self.models:
            raise ConfigError(f"model {name!r}: not one of {list(self.models)}")
        self.model_name = name
        if self.target not in self.targets():
            self.target = "identity"
        if self.part is not None and self.part >= len(self.part_labels()):
            self.part = None

    def set_image(self, index: int) -> None:
        self.index = self._check_index(index, "index")

    def set_reference(self, index: Optional[int]) -> None:
        """The reference image (None: no reference; the similarity target then needs one)."""
        self.reference = None if index is None else self._check_index(index, "reference")

    def set_target(self, target: str) -> None:
        if target not in ATTENTION_TARGETS:
            raise ConfigError(f"target={target!r}: expected one of {list(ATTENTION_TARGETS)}")
        offered = self.targets()
        if target not in offered:
            raise ConfigError(f"target={target!r}: {self.model_name} does not offer it (offers {offered})")
        self.target = target

    def set_method(self, method: str) -> None:
        from reidlab.viz.gradcam import cam_class

        cam_class(method)
        self.method = method

    def set_part(self, part: Optional[int]) -> None:
        """One part (index into :meth:`part_labels`) or None for every part."""
        n = len(self.part_labels())
        if part is not None and (isinstance(part, bool) or not 0 <= int(part) < n):
            raise ConfigError(f"part={part!r}: {self.model_name} has {n} parts (0..{n - 1})")
        self.part = None if part is None else int(part)

    def set_identity_class(self, c: Optional[int]) -> None:
        """Class index of the identity target (None: the predicted identity)."""
        self.identity_class = None if c is None else int(c)

    def set_position(self, y: float, x: float) -> None:
        """Non-local query position as fractions (y, x) of the image height / width."""
        if not (0.0 <= y <= 1.0 and 0.0 <= x <= 1.0):
            raise ConfigError(f"position=({y}, {x}): expected fractions in [0, 1]")
        self.position = (float(y), float(x))

    # ------------------------------------------------------------------ what to draw
    def describe(self, i: Optional[int] = None) -> str:
        """``image 3 · id 12 · cam 2`` for record ``i`` (default: the current image)."""
        r = self.records[self.index if i is None else i]
        return f"image {self.index if i is None else i} \u00b7 id {r.pid} \u00b7 cam {r.camid + 1}"

    def title(self) -> str:
        t = f"{self.model_name}: {ATTENTION_TARGETS[self.target]} \u2014 {self.describe()}"
        if self.target in ("similarity", "parts") and self.reference is not None:
            t += f"; reference {self.describe(self.reference)}"
        return t

    def _key(self) -> tuple:
        ref = self.reference if self.target in ("similarity", "parts") else None
        method = self.method if self.target in ("identity", "similarity") else (
            self.part_method if self.target == "parts" else None)
        extra = {"identity": self.identity_class, "parts": self.part, "nonlocal": self.position}.get(self.target)
        return (self.model_name, self.target, self.index, ref, method, extra)

    def figure(self) -> Figure:
        """The figure of the current model, image and target (cached per combination)."""
        return self._figures.get(self._key(), self._draw)

    def _draw(self) -> Figure:
        from reidlab.viz.attention import plot_lgeu_weights, plot_nonlocal_affinity, plot_tsa_maps
        from reidlab.viz.gradcam import gradcam_identity, gradcam_parts, gradcam_similarity

        m = self.current
        x, kp = m(self.records[self.index])
        t = self.target
        if t == "identity":
            return gradcam_identity(m.model, x, target_class=self.identity_class, method=self.method, keypoints=kp)
        if t == "similarity" and self.reference is None:
            raise ConfigError("the similarity target needs a reference image; choose one")
        xr, kr = (None, None) if self.reference is None else m(self.records[self.reference])
        if t == "similarity":
            return gradcam_similarity(m.model, x, xr, self.method, query_keypoints=kp, gallery_keypoints=kr,
                                          labels=(f"image {self.index}", f"reference {self.reference}"))
        if t == "parts":
            if self.part is None:
                return gradcam_parts(m.model, x, xr, self.part_method, keypoints=kp, other_keypoints=kr)
            return self._one_part(x, kp, xr, kr)
        if t == "tsa":
            return plot_tsa_maps(m.model, x, keypoints=kp)
        if t == "nonlocal":
            return plot_nonlocal_affinity(m.model, x, self.position, keypoints=kp)
        if t == "lgeu":
            return plot_lgeu_weights(m.model, x, keypoints=kp)
        return self._pose(x, kp)

    def _one_part(self, x, kp, xr, kr) -> Figure:
        from reidlab.viz.common import new_figure
        from reidlab.viz.gradcam import part_cams

        key = (self.model_name, self.index, self.reference, self.part_method)
        r = self._part_cams.get(key, lambda: part_cams(self.current.model, x, xr, self.part_method,
                                                         keypoints=kp, other_keypoints=kr))
        p = self.part
        img = to_display(x)
        fig = new_figure(3.0, 3.8)
        axes = fig.subplots(1, 2)
        show_image(axes[0], img, "image")
        if r.boxes is not None and r.source == "segments":
            from reidlab.viz.gradcam import _POSE_COLORS

            draw_box(axes[0], r.boxes[p], _POSE_COLORS[p % 3], r.labels[p])
        elif r.labels[p].startswith("part"):
            stripes = sum(1 for v in r.labels if v.startswith("part"))
            k = p - (len(r.labels) - stripes)
            h, w = img.shape[:2]
            draw_stripes(axes[0], h, w, stripes)
            axes[0].axhspan(k * h / stripes - 0.5, (k + 1) * h / stripes - 0.5, color=_SELECTED_COLOR, alpha=0.25)
        what = "cos" if xr is not None else ("mean w" if r.source == "part_weights" else "|f|")
        show_image(axes[1], overlay(img, r.cams[p]), f"{r.labels[p]}\n{what}={r.scores[p]:.2f}", fontsize=8)
        fig.suptitle(f"{self.part_method}: part '{r.labels[p]}'", fontsize=9)
        return fig

    def _pose(self, x, kp) -> Figure:
        import torch

        from reidlab.viz.attention import plot_pose_boxes
        from reidlab.viz.common import as_batch, model_device

        m = self.current
        dev = model_device(m.model)
        kpt = None if kp is None else torch.as_tensor(np.asarray(kp), dtype=torch.float32, device=dev)[None]
        was = m.model.training
        try:
            m.model.eval()
            with torch.no_grad():
                boxes = m.model.explain(as_batch(x).to(dev), keypoints=kpt)["part_boxes"][0]
        finally:
            m.model.train(was)
        shown = np.zeros((18, 3), np.float32) if kp is None else kp
        note = "" if kp is not None else " (no landmarks: fixed regions)"
        return plot_pose_boxes(x, shown, boxes, title="landmarks and pooled boxes" + note)


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
        from reidlab.eval import pairwise_distance, valid_gallery_mask

        ev = self._need_ev()
        qrec, g = ev.query[q], ev.gallery
        sim = 1.0 - pairwise_distance(ev.query_features[q:q + 1], ev.gallery_features, metric="cosine")
        p = self.st_model.probability([qrec.camid], [qrec.frame], [r.camid for r in g], [r.frame for r in g])
        qp, qc, gp, gc = ev.labels()
        return {"similarity_row": np.asarray(sim.cpu(), dtype=np.float64)[0],
                "p_st_row": np.asarray(p.cpu(), dtype=np.float64)[0], "gallery_pids": gp, "query_pid": int(qp[q]),
                "valid": np.asarray(valid_gallery_mask(qp[q], qc[q], gp, gc), dtype=bool)}

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


# --------------------------------------------------------------------------------------
# The widget layers
# --------------------------------------------------------------------------------------


def _warm_up_gradcam() -> None:
    """Import ``pytorch_grad_cam`` (seconds) in a background thread, so the first Grad-CAM a
    user asks for does not wait for it."""
    import sys
    import threading

    if "pytorch_grad_cam" in sys.modules:
        return

    def run() -> None:
        try:
            import pytorch_grad_cam  # noqa: F401
        except Exception:  # pragma: no cover - reported when a map is computed
            pass

    threading.Thread(target=run, name="reidlab-gradcam-import", daemon=True).start()


def _widgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - the lab extra installs it
        raise ConfigError("the explorers need ipywidgets: pip install 'reidlab[lab]' (or pip install ipywidgets)") from None
    return ipywidgets


def _image(**kwargs: Any):
    """A PNG image widget shown at its natural size (a flex column would stretch it to the
    full width), scaled down only when wider than the output area."""
    w = _widgets()
    return w.Image(format="png", layout=w.Layout(align_self="flex-start", max_width="100%", height="auto",
                                                 object_fit="contain"), **kwargs)


#: Dropdown value for "no choice" (ipywidgets shows a dropdown whose value is None as empty).
_NONE = "-"


def _opt(value: Any) -> Any:
    return _NONE if value is None else value


def _val(value: Any) -> Any:
    return None if isinstance(value, str) and value == _NONE else value


def _message(text: str, error: bool = False) -> str:
    colour = "#b00020" if error else "#555"
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def _table_html(df, formats: Mapping[str, Callable[[Any], str]], index_name: str = "") -> str:
    head = "".join(f"<th style='padding:0 8px'>{html.escape(str(c))}</th>" for c in [index_name, *formats])
    rows = []
    for ix, row in df.iterrows():
        cells = "".join(f"<td style='padding:0 8px;text-align:right'>{html.escape(fmt(row[c]))}</td>"
                        for c, fmt in formats.items())
        rows.append(f"<tr><td style='padding:0 8px'>{html.escape(str(ix))}</td>{cells}</tr>")
    return f"<table style='font-size:12px;border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>"


class _Guard:
    """Suppresses widget callbacks while the layer itself updates the controls."""

    def __init__(self) -> None:
        self.active = False

    def __enter__(self):
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


def _explorer_base():
    w = _widgets()

    class _Explorer(w.VBox):
        """Common plumbing: figures to PNG into Image widgets, errors shown as text."""

        def _show(self, image, fig_fn: Callable[[], Figure], status, cache: bool = True) -> bool:
            """Draw ``fig_fn()`` into ``image`` (PNG); ``cache``: the figure is one the state caches,
            so its PNG is kept too (switching back is then instant)."""
            try:
                fig = fig_fn()
            except Exception as err:  # shown in the widget; a callback's exception would vanish in JupyterLab
                if not isinstance(err, ReIDLabError):
                    log.warning("explorer: %s", _error_text(err), exc_info=True)
                status.value = _message(_error_text(err), error=True)
                image.layout.display = "none"
                return False
            image.value = self._png(fig) if cache else figure_png(fig)
            image.layout.display = ""
            return True

        def _repr_mimebundle_(self, **kwargs: Any):
            data = super()._repr_mimebundle_(**kwargs)
            if isinstance(data, dict):  # what a report without the widget's state shows instead
                data["text/plain"] = (f"{type(self).__name__}: an interactive widget (open the notebook in JupyterLab "
                                      f"to use it); now showing: {self.state.title()}")
            return data

        def _png(self, fig: Figure) -> bytes:
            # keyed by the figure's id; the entry keeps the figure alive, so the id is not reused
            cache = self.__dict__.setdefault("_png_cache", _LRU(32))
            return cache.get(id(fig), lambda: (fig, figure_png(fig)))[1]

    return _Explorer


def _retrieval_class():
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


def _attention_class():
    w = _widgets()
    Base = _explorer_base()

    class AttentionExplorer(Base):
        """Widget layer of :class:`AttentionState` (``.state``): model, image, target, CAM method,
        reference image, part and identity class pickers, and the figure."""

        def __init__(self, state: AttentionState) -> None:
            from reidlab.viz.gradcam import CAM_METHODS

            self.state = state
            self._guard = _Guard()
            s = state
            names = [(s.describe(i), i) for i in range(len(s.records))]
            self.model = w.Dropdown(options=list(s.models), value=s.model_name, description="model",
                                    layout=w.Layout(width="220px"))
            self.model.layout.display = "" if len(s.models) > 1 else "none"
            self.image = w.Dropdown(options=names, value=s.index, description="image", layout=w.Layout(width="300px"))
            self.prev_button = w.Button(description="\u25c0", layout=w.Layout(width="40px"))
            self.next_button = w.Button(description="\u25b6", layout=w.Layout(width="40px"))
            self.next_button.add_class("reidlab-next")
            self.target = w.Dropdown(description="target", layout=w.Layout(width="420px"))
            self.method = w.Dropdown(options=list(CAM_METHODS), value=s.method, description="CAM",
                                     layout=w.Layout(width="220px"))
            self.reference = w.Dropdown(options=[("none", _NONE)] + names, value=_opt(s.reference), description="reference",
                                        layout=w.Layout(width="300px"))
            self.part = w.Dropdown(description="part", layout=w.Layout(width="220px"))
            self.identity_class = w.Dropdown(description="class", layout=w.Layout(width="260px"))
            self.header = w.HTML()
            self.header.add_class("reidlab-header")
            self.figure = _image()
            self.figure.add_class("reidlab-figure")
            self.status = w.HTML()
            for ctl in (self.model, self.image, self.target, self.method, self.reference, self.part,
                        self.identity_class):
                ctl.observe(self._on_change, names="value")
            self.prev_button.on_click(lambda _b: self._step(-1))
            self.next_button.on_click(lambda _b: self._step(+1))
            super().__init__([
                w.HBox([self.model, self.prev_button, self.image, self.next_button, self.target]),
                w.HBox([self.method, self.reference, self.part, self.identity_class]),
                self.header, self.figure, self.status,
            ])
            self.add_class("reidlab-explorer")
            self.add_class("reidlab-attention")
            self.refresh()

        def _step(self, step: int) -> None:
            self.state.set_image(min(max(self.state.index + step, 0), len(self.state.records) - 1))
            self.refresh()

        def _on_change(self, change) -> None:
            if self._guard.active:
                return
            s, owner = self.state, change["owner"]
            try:
                if owner is self.model:
                    s.set_model(change["new"])
                elif owner is self.image:
                    s.set_image(change["new"])
                elif owner is self.target:
                    s.set_target(change["new"])
                elif owner is self.method:
                    s.set_method(change["new"])
                elif owner is self.reference:
                    s.set_reference(_val(change["new"]))
                elif owner is self.part:
                    s.set_part(_val(change["new"]))
                elif owner is self.identity_class:
                    s.set_identity_class(_val(change["new"]))
            except ReIDLabError as err:
                self.status.value = _message(_error_text(err), error=True)
                return
            self.refresh()

        def refresh(self) -> None:
            s = self.state
            with self._guard:
                self.model.value = s.model_name
                self.image.value = s.index
                self.target.options = [(ATTENTION_TARGETS[t], t) for t in s.targets()]
                self.target.value = s.target
                self.method.value = s.method
                self.reference.value = _opt(s.reference)
                labels = s.part_labels()
                self.part.options = [("every part", _NONE)] + [(v, i) for i, v in enumerate(labels)]
                self.part.value = _opt(s.part)
                rec = s.records[s.index]
                self.identity_class.options = [("predicted", _NONE), (f"class {rec.pid} (this image's pid)", int(rec.pid))]
                if s.identity_class not in (None, int(rec.pid)):  # another image: back to the predicted identity
                    s.identity_class = None
                self.identity_class.value = _opt(s.identity_class)
                self.method.disabled = s.target not in ("identity", "similarity")
                self.reference.disabled = s.target not in ("similarity", "parts")
                self.part.layout.display = "" if s.target == "parts" else "none"
                self.identity_class.layout.display = "" if s.target == "identity" else "none"
                self.prev_button.disabled = s.index == 0
                self.next_button.disabled = s.index >= len(s.records) - 1
            self.header.value = f"<b class='reidlab-query-title'>{html.escape(s.title())}</b>"
            self.status.value = ""
            self._show(self.figure, s.figure, self.status)

    return AttentionExplorer


def _st_class():
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


_FACTORIES: dict[str, Callable[[], type]] = {"RetrievalExplorer": _retrieval_class,
                                             "AttentionExplorer": _attention_class, "STExplorer": _st_class}
_CLASSES: dict[str, type] = {}


def _widget_class(name: str) -> type:
    """The widget class ``name``, built on first use (importing reidlab.viz never imports ipywidgets)."""
    if name not in _CLASSES:
        _CLASSES[name] = _FACTORIES[name]()
    return _CLASSES[name]


def __getattr__(name: str):
    if name in _FACTORIES:
        return _widget_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    return _widget_class("RetrievalExplorer")(state)


def explore_attention(model: Any, records: Sequence[Any], *, inputs: Optional[Callable[[Any], Any]] = None,
                      method: str = "gradcam", part_method: str = "hirescam", target: Optional[str] = None,
                      reference: Optional[int] = None):
    """Attention explorer: pick an image, a Grad-CAM method and target (identity logit,
    similarity to a reference image, a part), or the model's own attention (MGWP's TSA per
    branch and non-local affinity, LGEU's part x channel weights, jlpose's landmarks and boxes).

    Args:
        model: a run (``lab.ensure_run(cfg, "mgwp")``), ``{name: run}`` for a model picker,
            or a module with ``inputs``.
        records: images to choose from, e.g. ``ds.query[:40]`` (train records for a
            meaningful "this image's label" identity target).

    Returns:
        an :class:`AttentionExplorer` widget (``.state``: :class:`AttentionState`).
    """
    state = AttentionState(model, records, inputs=inputs, method=method, part_method=part_method,
                           reference=reference, target=target)
    return _widget_class("AttentionExplorer")(state)


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
    return _widget_class("STExplorer")(state)


# --------------------------------------------------------------------------------------
# Command line: redraw timing, README screenshots
# --------------------------------------------------------------------------------------


def measure_redraw(explorer: Any, repeats: int = 20) -> dict[str, list[float]]:
    """Wall-clock seconds of the retrieval explorer's redraws, driven through its widgets as a
    user would (headless: state change, ranking, figure, PNG, widget update; no browser
    transfer): ``{"next query": [...], "scoring": [...], "grad-cam (first)": [...],
    "grad-cam (cached)": [...]}``. The explorer's evaluation should have computed its
    settings already (the explorer does on creation)."""
    import time

    out: dict[str, list[float]] = {"next query": [], "scoring": [], "grad-cam (first)": [], "grad-cam (cached)": []}
    s = explorer.state
    settings = s.settings
    for i in range(int(repeats)):
        if s.position >= len(s.queries()) - 1:
            explorer.slider.value = 0
        t = time.perf_counter()
        explorer.next_button.click()
        out["next query"].append(time.perf_counter() - t)
        t = time.perf_counter()
        explorer.scoring.value = settings[(settings.index(s.setting) + 1) % len(settings)]
        out["scoring"].append(time.perf_counter() - t)
    if s.explainer is not None:
        for i in range(min(3, int(repeats))):
            explorer.next_button.click()
            t = time.perf_counter()
            explorer.rank.value = 1
            out["grad-cam (first)"].append(time.perf_counter() - t)
            explorer.rank.value = None
            t = time.perf_counter()
            explorer.rank.value = 1
            out["grad-cam (cached)"].append(time.perf_counter() - t)
    return {k: v for k, v in out.items() if v}


_SCREENSHOT_CELLS = (
    "import os\nfrom reidlab import lab, viz\n"
    "cfg, ds = lab.setup('explore_screenshots', profile=os.environ['REIDLAB_PROFILE'])\n"
    "runs = {m: lab.ensure_run(cfg, m, progress=False) for m in ('pfn', 'mgwp', 'lgeu', 'jlpose')}\n"
    "ev = lab.evaluation(cfg, runs['pfn'])",
    "retrieval = viz.explore_retrieval(ev, top_k=8, only_failures=True)\nretrieval.rank.value = 1\nretrieval",
    "attention = viz.explore_attention(runs, viz.spread(ds.query, 24), target='similarity')\nattention",
    "camera_time = viz.explore_st(ev.st_model, ev, order='st-change')\ncamera_time",
)


def _project_root():
    """The project folder (first ancestor of the working directory with ``pyproject.toml`` and
    ``reidlab/``, else the one above the package): where ``reports/`` and the runs live."""
    from pathlib import Path

    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "reidlab").is_dir():
            return cand
    return Path(__file__).resolve().parents[2]


def _compact_png(path, limit: int = 150_000):
    """Re-save a PNG optimised; above ``limit`` bytes as an 8-bit palette PNG (README images
    stay small)."""
    from PIL import Image

    with Image.open(path) as im:
        img = im.convert("RGB")
    img.save(path, optimize=True)
    if path.stat().st_size > limit:
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def take_screenshots(out_dir: Union[str, "os.PathLike[str]"], profile: str = "smoke", timeout: float = 900.0) -> list:
    """Open the three explorers in JupyterLab in headless Chromium and save a PNG of each
    (``explore_retrieval.png``, ``explore_attention.png``, ``explore_st.png``) in ``out_dir``.

    Runs a generated notebook in ``reports/browser/`` with ``REIDLAB_PROFILE=profile``: the
    PFN run's evaluation (and the MGWP, LGEU and jlpose runs) of that profile, trained first
    when missing. Returns the written paths."""
    from pathlib import Path

    import nbformat

    import reidlab.viz._browser as B

    why = B.chromium_missing_reason()
    if why:
        raise ConfigError(why)
    root = _project_root()
    folder = root / "reports" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in _SCREENSHOT_CELLS]
    path = folder / "explore_screenshots.ipynb"
    nbformat.write(nb, str(path))
    out = Path(out_dir)
    env = {"REIDLAB_PROFILE": profile, "PYTHONPATH": os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)}
    written = []
    lab = B.JupyterLab(root, env=env)
    try:
        with lab, B.Chromium(width=1500, height=1500) as browser:
            page = browser.page()
            rel = str(path.relative_to(root))
            B.open_notebook(page, lab, rel)
            B.run_all(page, timeout=timeout)
            for name, sel in (("retrieval", ".reidlab-retrieval"), ("attention", ".reidlab-attention"),
                              ("st", ".reidlab-st")):
                page.wait_for(f"Array.from(document.querySelectorAll('{sel} img')).every(i => i.complete) && "
                              f"document.querySelectorAll('{sel} img').length > 0", 60, f"the {name} explorer's images")
                written.append(_compact_png(page.screenshot(out / f"explore_{name}.png", sel, pad=8)))
    except B.BrowserError as err:
        raise B.BrowserError(f"{err}\njupyter lab log:\n{lab.log_tail()}") from None
    finally:
        lab.cleanup()
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m reidlab.viz.explore --time | --screenshots DIR`` (see the module docstring)."""
    import argparse
    import statistics

    ap = argparse.ArgumentParser(prog="python -m reidlab.viz.explore",
                                 description="Measure the retrieval explorer's redraw times, or take the README's "
                                             "screenshots of the three explorers in headless Chromium.")
    ap.add_argument("--time", metavar="RUN", help="time query / scoring switches of the retrieval explorer on a run "
                                                 "folder's evaluation (headless, in this process)")
    ap.add_argument("--data", default="", help="--time: dataset folder to evaluate on (default: the run's)")
    ap.add_argument("--repeats", type=int, default=20, help="--time: switches timed per kind")
    ap.add_argument("--screenshots", metavar="DIR", help="write explore_{retrieval,attention,st}.png to DIR")
    ap.add_argument("--profile", default="smoke", help="--screenshots: lab profile whose runs are shown "
                                                       "(smoke, demo, ...; trained first when missing)")
    args = ap.parse_args(argv)
    if not args.time and not args.screenshots:
        ap.error("choose --time RUN and/or --screenshots DIR")
    try:
        if args.time:
            import time

            import matplotlib

            matplotlib.use("Agg")
            from reidlab.engine.runs import run_evaluation

            t = time.perf_counter()
            ev = run_evaluation(args.time, data=args.data or None)
            t_ev = time.perf_counter() - t
            t = time.perf_counter()
            ex = explore_retrieval(ev, top_k=8)
            t_build = time.perf_counter() - t
            print(f"{args.time} on {getattr(ev.dataset, 'root', args.data)}: {len(ev.query)} queries x "
                  f"{len(ev.gallery)} gallery images")
            print(f"evaluation (features from the run's cache or extracted): {t_ev:.2f} s; explorer built "
                  f"(every setting's distances and metrics: {', '.join(ex.state.settings)}): {t_build:.2f} s")
            for k, v in measure_redraw(ex, args.repeats).items():
                print(f"{k:>18}: median {1000 * statistics.median(v):6.0f} ms, max {1000 * max(v):6.0f} ms "
                      f"({len(v)} redraws)")
        if args.screenshots:
            for p in take_screenshots(args.screenshots, profile=args.profile):
                print(p)
    except ReIDLabError as err:
        print(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
