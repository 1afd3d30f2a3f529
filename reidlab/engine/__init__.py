"""Training engine: the training loop, checkpoints, feature extraction and run folders.

Notebook API::

    from reidlab.engine import train, load_run, evaluate_run, extract_features
    run = train("pfn-cpu-demo", data="data/synthreid", out="runs/pfn")   # -> Run
    run = load_run("runs/pfn")                                           # best.pt, else last.pt
    evaluate_run(run, rerank=True, st=True)                              # DataFrame, one row per setting
    ev = run_evaluation(run)                                             # reidlab.eval.Evaluation

Command line: ``reidlab train ...`` / ``reidlab eval ...`` (:mod:`reidlab.engine.cli`).
Distributed: the same entry point under ``torchrun --nproc_per_node N`` (gloo on CPU, NCCL on CUDA).
Importing this package is light; torch-heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["train", "load_run", "evaluate_run", "run_evaluation", "run_features", "RunEvaluation",
           "extract_features", "Run", "WarmupMultiStep", "atomic_save", "load_checkpoint"]

_LAZY = {
    "train": ("reidlab.engine.trainer", "train"),
    "WarmupMultiStep": ("reidlab.engine.build", "WarmupMultiStep"),
    "load_run": ("reidlab.engine.runs", "load_run"),
    "evaluate_run": ("reidlab.engine.runs", "evaluate_run"),
    "run_evaluation": ("reidlab.engine.runs", "run_evaluation"),
    "run_features": ("reidlab.engine.runs", "run_features"),
    "RunEvaluation": ("reidlab.engine.runs", "RunEvaluation"),
    "Run": ("reidlab.engine.runs", "Run"),
    "extract_features": ("reidlab.engine.extract", "extract_features"),
    "atomic_save": ("reidlab.engine.checkpoint", "atomic_save"),
    "load_checkpoint": ("reidlab.engine.checkpoint", "load_checkpoint"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'reidlab.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
