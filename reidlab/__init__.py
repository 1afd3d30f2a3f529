"""reidlab — a Jupyter-first, reproducible person re-identification lab.

The package is deliberately thin: each step of the pipeline
(files -> records -> image tensors -> model -> features -> distances -> metrics
-> re-ranking -> plots) is one function with plain inputs, so a notebook cell can
call one step and look at its result.

Sub-packages: :mod:`reidlab.data`, :mod:`reidlab.models`, :mod:`reidlab.losses`,
:mod:`reidlab.engine`, :mod:`reidlab.eval`, :mod:`reidlab.viz`, :mod:`reidlab.presets`.

A trained model as a function: ``reidlab.FeatureExtractor("runs/pfn")(paths_or_images)``
(:mod:`reidlab.engine.features`).
"""

from typing import Any

from reidlab._version import __version__

__all__ = ["FeatureExtractor", "__version__"]


def __getattr__(name: str) -> Any:
    # ``reidlab.FeatureExtractor`` loads torch on first use only: ``import reidlab`` stays light.
    if name == "FeatureExtractor":
        from reidlab.engine.features import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(f"module 'reidlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
