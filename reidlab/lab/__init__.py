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
checks), :mod:`~reidlab.lab.ablations` (studies as data, runner, verdicts).
"""

from reidlab.lab import ablations
from reidlab.lab.config import (
    DATASET_READERS,
    PROFILES,
    NotebookConfig,
    Profile,
    configure,
    profile_table,
    project_root,
    report_dir,
    resolve_path,
    resolve_profile,
    run_root,
    seed_everything,
    short_path,
)
from reidlab.lab.describe import curve_metrics, model_card, random_rank1, run_summary, split_statistics
from reidlab.lab.results import (
    METRICS,
    SETTING_NAMES,
    check_dataset,
    check_figures,
    check_results,
    compare_with_paper,
    describe_settings,
    load_results,
    percent,
    save_results,
)
from reidlab.lab.session import (
    best_gallery,
    ensure_dataset,
    ensure_run,
    evaluation,
    model_input,
    most_changed_query,
    run_folder,
    setup,
    show_messages,
    st_query_rows,
)

__all__ = [
    "ablations", "DATASET_READERS", "PROFILES", "NotebookConfig", "Profile", "configure", "profile_table",
    "project_root", "report_dir", "resolve_path", "resolve_profile", "run_root", "seed_everything", "short_path",
    "curve_metrics", "model_card", "random_rank1", "run_summary", "split_statistics",
    "METRICS", "SETTING_NAMES", "check_dataset", "check_figures", "check_results", "compare_with_paper",
    "describe_settings", "load_results", "percent", "save_results",
    "best_gallery", "ensure_dataset", "ensure_run", "evaluation", "model_input", "most_changed_query",
    "run_folder", "setup", "show_messages", "st_query_rows",
]
