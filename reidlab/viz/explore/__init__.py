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

The package, by explorer (import from here; the names below are re-exported):

* :mod:`~reidlab.viz.explore.common`: labels, figure -> PNG, caches, model inputs, widget plumbing;
* :mod:`~reidlab.viz.explore.retrieval`, :mod:`~reidlab.viz.explore.attention`,
  :mod:`~reidlab.viz.explore.st`: each explorer's state, widget layer and ``explore_*`` function;
* :mod:`~reidlab.viz.explore.tools`: the command line (redraw timing, screenshots).
"""

from __future__ import annotations

from typing import Callable

from reidlab.viz.common import MATCH_COLOR, MISMATCH_COLOR  # noqa: F401 - the explorers' colours, for tests
from reidlab.viz.explore.attention import AttentionState, _attention_class, explore_attention
from reidlab.viz.explore.common import (
    _NONE,  # noqa: F401 - the dropdowns' "no choice" value, for tests
    ATTENTION_TARGETS,
    SETTING_LABELS,
    ModelInputs,
    _widget_class,
    figure_png,
    model_inputs,
    setting_label,
)
from reidlab.viz.explore.retrieval import RetrievalState, _retrieval_class, explore_retrieval
from reidlab.viz.explore.st import STState, _st_class, explore_st
from reidlab.viz.explore.tools import main, measure_redraw, take_screenshots

__all__ = [
    "SETTING_LABELS", "setting_label", "figure_png", "ModelInputs", "model_inputs",
    "RetrievalState", "AttentionState", "STState", "ATTENTION_TARGETS",
    "RetrievalExplorer", "AttentionExplorer", "STExplorer",
    "explore_retrieval", "explore_attention", "explore_st",
    "measure_redraw", "take_screenshots", "main",
]

#: The widget classes, built on first access (``explore.RetrievalExplorer``): importing
#: reidlab.viz never imports ipywidgets.
_FACTORIES: dict[str, Callable[[], type]] = {"RetrievalExplorer": _retrieval_class,
                                             "AttentionExplorer": _attention_class, "STExplorer": _st_class}


def __getattr__(name: str):
    if name in _FACTORIES:
        return _widget_class(name, _FACTORIES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
