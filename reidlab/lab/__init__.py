"""The lab's plumbing for the numbered notebooks: profiles, paths, the dataset and runs of a
session, results files, checks and the papers' ablations as data.

The notebooks call the real API for the science (``reidlab.engine.train``,
``reidlab.engine.runs.run_evaluation``, ``reidlab.eval``, ``reidlab.viz``) and ``lab`` for
the rest::

    from reidlab import lab
    cfg, ds = lab.setup("02_pfn", profile=profile, seed=seed)   # parameters -> config, dataset
    run = lab.ensure_run(cfg, "pfn")                             # train once, then reuse
    ev = lab.evaluation(cfg, run)                                # reidlab.eval.Evaluation
    lab.save_results(cfg, ev.table(["single-query", "rerank"]).assign(model="pfn"))

Modules: :mod:`~reidlab.lab.config` (profiles, paths, :class:`NotebookConfig`),
:mod:`~reidlab.lab.session` (dataset, runs, evaluation), :mod:`~reidlab.lab.describe`
(tables about a dataset, model or run), :mod:`~reidlab.lab.results` (results files, tables,
checks), :mod:`~reidlab.lab.ablations` (studies as data, runner, tables, CSVs),
:mod:`~reidlab.lab.verdicts` (the verdict rule: Welch's t-test over seeds).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module defining it (imported on first use, so ``reidlab report --help`` and
#: ``reidlab.lab.config`` stay light; torch and matplotlib load when a notebook needs them).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("DATASET_READERS", "PROFILES", "NotebookConfig", "Profile", "configure", "profile_table",
                     "project_root", "report_dir", "resolve_path", "resolve_profile", "run_root", "seed_everything",
                     "short_path"), "reidlab.lab.config"),
    **dict.fromkeys(("curve_metrics", "model_card", "random_rank1", "run_caption", "run_summary",
                     "split_statistics"),
                    "reidlab.lab.describe"),
    **dict.fromkeys(("METRICS", "SETTING_NAMES", "check_dataset", "check_figures", "check_results",
                     "compare_with_paper", "describe_settings", "load_results", "neighbour_recall", "percent",
                     "save_results", "st_rerank_note"),
                    "reidlab.lab.results"),
    **dict.fromkeys(("best_gallery", "ensure_dataset", "ensure_run", "evaluation", "most_changed_query",
                     "run_folder", "setup", "show_messages"), "reidlab.lab.session"),
    "model_input": "reidlab.viz.data",
    "st_query_rows": "reidlab.viz.spatiotemporal",
}
_SUBMODULES = ("ablations", "config", "describe", "results", "session", "verdicts")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"reidlab.lab.{name}")
    raise AttributeError(f"module 'reidlab.lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
