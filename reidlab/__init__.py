"""reidlab — a Jupyter-first, reproducible person re-identification lab.

The package is deliberately thin: each step of the pipeline
(files -> records -> image tensors -> model -> features -> distances -> metrics
-> re-ranking -> plots) is one function with plain inputs, so a notebook cell can
call one step and look at its result.

Sub-packages: :mod:`reidlab.data`, :mod:`reidlab.models`, :mod:`reidlab.losses`,
:mod:`reidlab.engine`, :mod:`reidlab.eval`, :mod:`reidlab.viz`, :mod:`reidlab.presets`.
"""

__version__ = "0.1.0"
