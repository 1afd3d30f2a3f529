"""Curves: CMC curves of several runs, training curves from a run folder's ``metrics.csv``.

CMC values are fractions in [0, 1] (``RankResult.cmc``) and are plotted in percent.
A run folder written by the engine holds ``metrics.csv`` with one row per epoch and at
least the columns ``epoch``, ``loss``, ``lr``; ``rank1`` / ``mAP`` are filled on the epochs
that were evaluated (empty / NaN otherwise) and are plotted where present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.figure import Figure

from reidlab.errors import ConfigError
from reidlab.viz.common import new_figure

RunSource = Union[str, os.PathLike, "Any"]  # run folder, metrics.csv path or pandas DataFrame


def _cmc_of(name: str, value: Any) -> tuple[np.ndarray, Optional[float]]:
    cmc = getattr(value, "cmc", value)
    arr = np.asarray(cmc, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ConfigError(f"plot_cmc: {name!r} has an empty or non-finite CMC; pass RankResult.cmc (fractions in [0, 1])")
    if arr.max() > 1.0 + 1e-9 or arr.min() < 0.0:
        raise ConfigError(f"plot_cmc: {name!r} CMC values must be fractions in [0, 1], got max {arr.max():.3g}; "
                          "divide percentages by 100")
    m = getattr(value, "mAP", None)
    return arr, (None if m is None else float(m))


def plot_cmc(results: Mapping[str, Any], max_rank: int = 20, *, title: Optional[str] = "CMC") -> Figure:
    """Figure: CMC curves (identification rate in % vs rank 1..``max_rank``) of several runs.

    Args:
        results: ``{name: RankResult or cmc array}``; a cmc array holds fractions in [0, 1],
            ``cmc[k]`` = rate within rank ``k + 1``.
        max_rank: last rank shown (curves shorter than that stop at their end).

    The legend gives each run's rank-1 (and mAP for a ``RankResult``). One panel.
    """
    if not results:
        raise ConfigError("plot_cmc: no results given; pass {name: RankResult}")
    fig = new_figure(5.0, 3.6)
    ax = fig.subplots()
    for name, value in results.items():
        cmc, m = _cmc_of(name, value)
        k = min(int(max_rank), cmc.size)
        label = f"{name} (R1 {100 * cmc[0]:.1f}" + (f", mAP {100 * m:.1f})" if m is not None else ")")
        ax.plot(np.arange(1, k + 1), 100 * cmc[:k], marker="o", markersize=3, label=label)
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_xlim(0.5, int(max_rank) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return fig


def load_metrics(source: RunSource):
    """A run's per-epoch metrics as a DataFrame, from a run folder, a ``metrics.csv`` path, a
    DataFrame (returned as is) or a :class:`reidlab.engine.runs.Run` (its folder)."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, (str, os.PathLike)) and isinstance(getattr(source, "path", None), (str, os.PathLike)):
        source = source.path  # a Run
    p = Path(source)
    csv = p / "metrics.csv" if p.is_dir() else p
    if not csv.is_file():
        raise ConfigError(f"{csv}: no metrics.csv; pass a run folder written by `reidlab train` (or the csv itself)")
    df = pd.read_csv(csv)
    if "epoch" not in df.columns:
        raise ConfigError(f"{csv}: no 'epoch' column (columns: {list(df.columns)}); expected the engine's metrics.csv")
    return df


def plot_training_curves(source: Union[RunSource, Mapping[str, RunSource]], *,
                         metrics: Sequence[str] = ("loss", "lr", "rank1"), title: Optional[str] = None) -> Figure:
    """Figure: training curves per epoch (default: loss, learning rate, rank-1), one panel each.

    Args:
        source: a run folder (``metrics.csv`` inside), a csv path, a DataFrame, a ``Run``,
            or ``{name: any of those}`` to overlay several runs.
        metrics: columns to plot, one panel each. ``"lr"`` uses a log axis; ``"rank1"`` also
            draws ``mAP`` (dashed) when present; accuracy columns in [0, 1] are shown in %.

    Rows with a missing value in a column (epochs that were not evaluated) are skipped for
    that column. ``len(metrics)`` panels.
    """
    import pandas as pd

    runs = dict(source) if isinstance(source, Mapping) else {"": source}
    frames = {name: load_metrics(src) for name, src in runs.items()}
    for name, df in frames.items():
        missing = [m for m in metrics if m not in df.columns]
        if missing:
            raise ConfigError(f"plot_training_curves: run {name or '(unnamed)'} has no column(s) {missing}; "
                              f"columns are {list(df.columns)}")
    fig = new_figure(3.3 * len(metrics), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, col in zip(axes, metrics):
        for i, (name, df) in enumerate(frames.items()):
            colour = f"C{i}"
            s = df[["epoch", col]].apply(pd.to_numeric, errors="coerce").dropna()
            scale, unit = _scale(df, col)
            ax.plot(s["epoch"], scale * s[col], color=colour, marker="." if len(s) < 40 else None,
                    label=(name or None) if col != "rank1" else (f"{name} rank-1" if name else "rank-1"))
            if col == "rank1" and "mAP" in df.columns:
                m = df[["epoch", "mAP"]].apply(pd.to_numeric, errors="coerce").dropna()
                ax.plot(m["epoch"], scale * m["mAP"], color=colour, linestyle="--",
                        label=f"{name} mAP" if name else "mAP")
        ax.set_xlabel("epoch")
        ax.set_ylabel({"lr": "learning rate", "rank1": "rank-1 / mAP"}.get(col, col) + unit)
        if col == "lr":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if handles and (len(frames) > 1 or col == "rank1"):
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _scale(df, col: str) -> tuple[float, str]:
    """Accuracy columns stored as fractions are shown in percent."""
    if col in ("rank1", "rank5", "rank10", "mAP", "mINP"):
        vals = np.asarray(df[col], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if vals.size and vals.max() <= 1.0:
            return 100.0, " (%)"
    return 1.0, ""
