"""The explorers' shared pieces: setting and target labels, figure -> PNG, a small LRU
cache, model inputs from records, and the widget plumbing (ipywidgets loaded on first use).

Part of :mod:`reidlab.viz.explore` (import from there; see its docstring for the conventions).
"""

from __future__ import annotations

import functools
import html
import io
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Optional

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError, ReIDLabError

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




_CLASSES: dict[str, type] = {}


def _widget_class(name: str, factory: Callable[[], type]) -> type:
    """The widget class ``name`` built by ``factory`` on first use (importing reidlab.viz never
    imports ipywidgets)."""
    if name not in _CLASSES:
        _CLASSES[name] = factory()
    return _CLASSES[name]
