"""The attention explorer: :class:`AttentionState` (model, image, Grad-CAM target or the
model's own attention), its widget layer and :func:`explore_attention`.

Part of :mod:`reidlab.viz.explore` (import from there; see its docstring for the conventions).
"""

from __future__ import annotations

import html
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError, ReIDLabError
from reidlab.viz.common import draw_box, draw_stripes, overlay, show_image, to_display
from reidlab.viz.explore.common import (
    _LRU,
    _NONE,
    _SELECTED_COLOR,
    ATTENTION_TARGETS,
    ModelInputs,
    _error_text,
    _explorer_base,
    _Guard,
    _image,
    _message,
    _opt,
    _val,
    _widget_class,
    _widgets,
    model_inputs,
)

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


def _attention_class():
    """The :class:`AttentionExplorer` widget class, built on first use.

    Long: it is the class body, defined inside this factory so that importing reidlab.viz never
    imports ipywidgets; each method is short."""
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
    return _widget_class("AttentionExplorer", _attention_class)(state)
