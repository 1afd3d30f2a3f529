"""Results files, results tables and the notebooks' checks.

Each notebook writes ``<output_dir>/<notebook>.results.json`` (and a ``.csv`` of the same
rows), atomically. A row is one evaluated model in one setting, with the metrics
(:data:`METRICS`) as **fractions** in [0, 1]; percent appears only when a table is shown
(:func:`percent`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from reidlab.errors import ConfigError
from reidlab.fileio import atomic_write_text
from reidlab.lab.config import NotebookConfig, PathLike, short_path

__all__ = ["METRICS", "SETTING_NAMES", "save_results", "load_results", "results_frame", "main_table",
           "ablation_tables", "percent", "compare_with_paper", "describe_settings", "neighbour_recall",
           "st_rerank_note", "check_results",
           "check_figures", "check_dataset"]

log = logging.getLogger("reidlab")

#: Metric columns of every results table (fractions).
METRICS: tuple[str, ...] = ("rank1", "rank5", "rank10", "mAP", "mINP")

#: Evaluation settings in the order tables show them, with what each one is.
SETTING_NAMES: dict[str, str] = {
    "single-query": "visual distance only",
    "rerank": "k-reciprocal re-ranking",
    "st": "spatial-temporal scoring",
    "st+rerank": "spatial-temporal scoring + re-ranking",
    "qe": "query expansion",
    "multi-query": "multi-query",
    "multi-query+rerank": "multi-query + re-ranking",
}

# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------

def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
        try:
            return _jsonable(v.item())
        except (ValueError, TypeError):
            pass
    if isinstance(v, Path):
        return short_path(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def save_results(cfg: NotebookConfig, rows: Any, name: Optional[str] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a notebook's results as ``<output_dir>/<name>.results.json`` and ``.csv``
    (both atomically) and return the JSON path.

    Args:
        cfg: the notebook's configuration (profile, dataset, seed are recorded).
        rows: a DataFrame (its index becomes a column; an unnamed index is the ``setting``)
            or a list of dicts; each row one evaluated model in one setting, with at least
            ``model``, ``setting`` and the metrics as fractions.
        name: file stem (default: ``cfg.notebook``).
        extra: more JSON-able data to keep (e.g. ablation observations).
    """
    import pandas as pd

    df = rows.reset_index() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if "index" in df.columns and df["index"].dtype == object and "setting" not in df.columns:
        df = df.rename(columns={"index": "setting"})
    payload = {
        "notebook": cfg.notebook, "profile": cfg.profile, "dataset": cfg.dataset, "seed": cfg.seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": [_jsonable(r) for r in df.to_dict(orient="records")], "extra": _jsonable(dict(extra or {})),
    }
    stem = name or cfg.notebook
    path = Path(cfg.output_dir) / f"{stem}.results.json"
    atomic_write_text(Path(cfg.output_dir) / f"{stem}.results.csv", df.to_csv(index=False))
    atomic_write_text(path, json.dumps(payload, indent=1))
    return path


def load_results(folder: PathLike) -> list[dict[str, Any]]:
    """Every ``*.results.json`` in ``folder`` (sorted by name), each with ``_file`` added;
    an unreadable file raises a one-line :class:`ConfigError` naming it."""
    out = []
    for p in sorted(Path(folder).glob("*.results.json")):
        try:
            payload = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{p}: not a readable results file ({err}); delete it and re-run its notebook") from err
        if not isinstance(payload, dict) or "rows" not in payload:
            raise ConfigError(f"{p}: expected a JSON object with 'rows'; delete it and re-run its notebook")
        payload["_file"] = p.name
        out.append(payload)
    return out


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------

def results_frame(payloads: Sequence[Mapping[str, Any]]):
    """All rows of all results files in one DataFrame (``notebook`` plus the rows' columns)."""
    import pandas as pd

    return pd.DataFrame([{"notebook": pl.get("notebook", "?"), **r} for pl in payloads for r in pl.get("rows", [])])


def main_table(payloads: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("rank1", "mAP")):
    """One row per model (rows with ``group == "main"``, in notebook order), one column
    pair per evaluation setting present (in :data:`SETTING_NAMES` order); cells are means
    over seeds, as fractions."""
    import pandas as pd

    df = results_frame(payloads)
    if df.empty or "setting" not in df.columns or "model" not in df.columns:
        return pd.DataFrame()
    if "group" in df.columns:
        df = df[df["group"].fillna("main") == "main"]
    cols = [m for m in metrics if m in df.columns]
    if df.empty or not cols:
        return pd.DataFrame()
    seen = set(df["setting"])
    present = [s for s in SETTING_NAMES if s in seen] + sorted(seen - set(SETTING_NAMES))
    piv = df.pivot_table(index="model", columns="setting", values=cols, aggfunc="mean").swaplevel(0, 1, axis=1)
    order = [(s, m) for s in present for m in cols if (s, m) in piv.columns]
    models = list(dict.fromkeys(df["model"]))
    return piv.loc[[m for m in models if m in piv.index], order]


def _mean_std(vals) -> str:
    """``mean ± std (n=N)`` in percent (one decimal); ``-`` for no values."""
    vals = vals.dropna().astype(float) * 100
    if len(vals) > 1:
        return f"{vals.mean():.1f} ± {vals.std(ddof=1):.1f} (n={len(vals)})"
    return f"{vals.mean():.1f}" if len(vals) else "-"


def ablation_tables(payloads: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("rank1", "mAP")) -> dict[str, Any]:
    """Ablation rows (``group`` starting with ``ablation``) per group: variant x metric as
    ``mean ± std (n)`` strings in percent (a display table)."""
    import pandas as pd

    df = results_frame(payloads)
    if df.empty or "group" not in df.columns:
        return {}
    df = df[df["group"].fillna("").str.startswith("ablation")]
    out: dict[str, Any] = {}
    for grp, sub in df.groupby("group", sort=False):
        keys = [k for k in ("variant", "setting") if k in sub.columns]
        rows = []
        for key, s in sub.groupby(keys, sort=False):
            rec = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            rows.append({**rec, **{m: _mean_std(s[m]) for m in metrics if m in s.columns}})
        out[str(grp)] = pd.DataFrame(rows)
    return out


def percent(table, metrics: Sequence[str] = METRICS, digits: int = 1):
    """A copy of ``table`` for display: metric columns (plain or the last level of a
    MultiIndex) multiplied by 100 and rounded to ``digits``. Other columns are kept."""
    out = table.copy()
    for col in out.columns:
        name = col[-1] if isinstance(col, tuple) else col
        if name in metrics:
            out[col] = (out[col].astype(float) * 100).round(digits)
    return out


def compare_with_paper(results, paper: str, metrics: Sequence[str] = ("rank1", "mAP")):
    """Our results beside the paper's for the settings either has.

    Args:
        results: a results table indexed by setting (fractions), e.g. ``Evaluation.table``.
        paper: ``pfn`` / ``mgwp`` / ``lgeu`` / ``jlpose`` (:func:`reidlab.paper_results.headline`).

    Returns:
        DataFrame indexed by setting with columns ``(ours (this run) | paper (Market-1501),
        metric)`` as fractions (NaN where one side has nothing) and the paper's ``source``.
    """
    import pandas as pd

    from reidlab import paper_results

    hl = paper_results.headline(paper)   # indexed by the evaluator's setting names
    paper_col = {"rank1": "R1", "rank5": "R5", "rank10": "R10", "mAP": "mAP"}
    rows = []
    for s in list(results.index) + [s for s in hl.index if s not in results.index]:
        rec: dict[tuple[str, str], Any] = {}
        for m in metrics:
            rec[("ours (this run)", m)] = float(results.loc[s, m]) if s in results.index else math.nan
        for m in metrics:
            pm = paper_col.get(m, m)
            rec[("paper (Market-1501)", m)] = hl.loc[s, pm] / 100 if s in hl.index and pm in hl.columns else math.nan
        rec[("paper (Market-1501)", "source")] = hl.loc[s, "source"] if s in hl.index else ""
        rows.append(pd.Series(rec, name=s))
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "setting"
    return df


def describe_settings(results, baseline: str = "single-query") -> str:
    """Markdown sentences saying, from the numbers, what each setting changed against
    ``baseline`` (rank-1 and mAP, shown in percent)."""
    if baseline not in results.index:
        return f"_No {baseline} row to compare with._"
    base = results.loc[baseline].astype(float) * 100
    lines = [f"- **{baseline}**: rank-1 {base['rank1']:.1f} %, mAP {base['mAP']:.1f} %."]

    def verb(d: float) -> str:
        return "unchanged" if abs(d) < 0.05 else (f"up {d:.1f} points" if d > 0 else f"down {-d:.1f} points")

    for s in results.index:
        if s == baseline:
            continue
        r = results.loc[s].astype(float) * 100
        d1, dm = r["rank1"] - base["rank1"], r["mAP"] - base["mAP"]
        more = ""
        if d1 > 0.05 and dm > 0.05:
            more = " -- a larger gain on mAP than on rank-1" if dm > d1 else " -- a larger gain on rank-1 than on mAP"
        lines.append(f"- **{s}** ({SETTING_NAMES.get(s, s)}): rank-1 {r['rank1']:.1f} % ({verb(d1)}), "
                     f"mAP {r['mAP']:.1f} % ({verb(dm)}){more}.")
    lines.append(f"- Best mAP here: **{results['mAP'].astype(float).idxmax()}**; "
                 f"best rank-1: **{results['rank1'].astype(float).idxmax()}**.")
    return "\n".join(lines)


def neighbour_recall(gg, pids, camids, k: int = 20) -> float:
    """Mean, over gallery images of a real identity (pid > 0), of the share of its
    cross-camera same-identity images found among its ``k`` nearest other gallery images
    (the denominator capped at ``k``) under the gallery x gallery distance ``gg`` (lower =
    closer). The neighbour sets k-reciprocal re-ranking works from (``k`` = its ``k1``):
    1.0 = every image's neighbourhood holds all its true matches it can hold."""
    import numpy as np
    import torch

    d = torch.as_tensor(gg, dtype=torch.float32).clone()
    d.fill_diagonal_(float("inf"))
    pids, camids = np.asarray(pids), np.asarray(camids)
    same = torch.as_tensor((pids[:, None] == pids[None, :]) & (camids[:, None] != camids[None, :]))
    top = d.topk(min(k, d.shape[1] - 1), dim=1, largest=False).indices
    hits = same.gather(1, top).sum(1).float()
    possible = same.sum(1).clamp(max=k).float()
    keep = torch.as_tensor(pids > 0) & (possible > 0)
    return float((hits[keep] / possible[keep]).mean()) if bool(keep.any()) else float("nan")


def st_rerank_note(ev, results, tolerance: float = 0.02) -> str:
    """Markdown explaining, with this run's numbers, why ST + re-ranking is more than
    ``tolerance`` (a fraction: 2 points) below ST alone at rank-1; ``""`` when it is not
    (or the table lacks either row).

    The cause (see :mod:`reidlab.eval.st`): k-reciprocal re-ranking puts weight
    ``1 - lambda`` (0.7) on the Jaccard distance of neighbour sets built from the
    gallery x gallery and query x query distances it is given. The camera-time factor
    removes impossible pairs query by query but is not transitive, so those neighbour sets
    are only as clean as the appearance feature makes them. The note gives the model's plain
    rank-1 and :func:`neighbour_recall` of the plain and of the ST gallery x gallery distances.
    """
    if "st" not in results.index or "st+rerank" not in results.index:
        return ""
    st, strr = float(results.loc["st", "rank1"]), float(results.loc["st+rerank", "rank1"])
    if strr >= st - tolerance:
        return ""
    _, _, gp, gc = ev.labels()
    k1 = int(ev.rerank_params["k1"])
    plain_nr = neighbour_recall(ev.rerank_inputs("rerank")[2], gp, gc, k1)
    st_nr = neighbour_recall(ev.rerank_inputs("st+rerank")[2], gp, gc, k1)
    plain = float(results.loc["single-query", "rank1"]) if "single-query" in results.index else float("nan")
    lam = float(ev.rerank_params["lambda_value"])
    return (f"**Why ST + re-ranking is below ST here** (rank-1 {100 * st:.1f} % -> {100 * strr:.1f} %, "
            f"{100 * (st - strr):.1f} points). Not an evaluation defect: k-reciprocal re-ranking (k1={k1}) puts weight "
            f"{1 - lam:.1f} on how much two images' neighbour sets overlap, and those sets come from the appearance "
            f"feature, which the camera-time factor filters pair by pair but cannot make transitive. This model's "
            f"plain rank-1 is {100 * plain:.1f} %; of each gallery image's true cross-camera matches, "
            f"{100 * plain_nr:.1f} % are among its {k1} nearest gallery images by appearance and {100 * st_nr:.1f} % "
            f"by the ST score -- the remaining impostors, shared between neighbourhoods, pull wrong identities up. "
            "Better features close the gap: compare the other models of this report, and the measured cases in "
            "reidlab/eval/st.py.")


# --------------------------------------------------------------------------------------
# Checks (the notebooks' Checks cells)
# --------------------------------------------------------------------------------------

def check_results(results, cfg: Optional[NotebookConfig] = None, chance: Optional[float] = None,
                  baseline: str = "single-query") -> str:
    """Assert a results table is sane (AssertionError naming the row) and say how it
    compares with chance.

    Every metric in [0, 1]; rank-1 <= rank-5 <= rank-10; when the table has a ``queries``
    column (valid queries, as :meth:`reidlab.eval.Evaluation.table`), at least one per row. With ``chance`` (the expected rank-1 of a
    random ranking, :func:`reidlab.lab.describe.random_rank1`) the ``baseline`` rank-1 is
    compared with it: below chance is logged as a warning (a short schedule may not have
    learned yet; reported, not failed), except in the smoke profile.

    Returns:
        A one-line summary (print it in the notebook).
    """
    assert len(results) > 0, "no evaluation setting produced a result"
    for s, r in results.iterrows():
        for m in METRICS:
            if m in r.index:
                v = float(r[m])
                assert 0.0 <= v <= 1.0, f"{s}: {m}={v} outside [0, 1]"
        assert float(r["rank1"]) <= float(r["rank5"]) + 1e-9 <= float(r["rank10"]) + 2e-9, f"{s}: CMC not monotone"
        if "queries" in r.index:
            assert int(r["queries"]) > 0, f"{s}: no valid query"
    msg = f"{len(results)} settings checked"
    if chance is None or baseline not in results.index:
        return msg
    r1 = float(results.loc[baseline, "rank1"])
    if r1 > chance:
        return f"{msg}; {baseline} rank-1 {100 * r1:.1f} % vs {100 * chance:.2f} % for a random ranking of this gallery"
    text = (f"{baseline} rank-1 {100 * r1:.1f} % is not above a random ranking's {100 * chance:.1f} %: the model has "
            "not learned yet (train longer: -p max_iters N, or the full profile)")
    if cfg is None or cfg.profile != "smoke":
        log.warning(text)
    return f"{msg}; WARNING: {text}"


def check_figures(*figs) -> None:
    """Assert every argument is a matplotlib Figure with at least one axes holding content
    (rendered to an RGBA buffer, not a single uniform colour)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for i, f in enumerate(figs):
        assert isinstance(f, Figure), f"figure {i}: expected a matplotlib Figure, got {type(f).__name__}"
        assert f.axes, f"figure {i}: no axes"
        canvas = FigureCanvasAgg(f)
        canvas.draw()
        buf = np.asarray(canvas.buffer_rgba())
        assert buf.size and buf[..., :3].std() > 1.0, f"figure {i}: rendered image is uniform"


def check_dataset(ds) -> None:
    """Assert the properties every Market-layout dataset has (notebook 01's checks).

    Non-empty splits; train identities relabelled ``0..N-1``; test identities disjoint from
    training identities (by original id); every query identity present in the gallery;
    at least two cameras; frames on every record or on none.
    """
    assert ds.train and ds.query and ds.gallery, "a split is empty"
    tr = sorted({r.pid for r in ds.train})
    assert tr == list(range(len(tr))), "train pids are not relabelled 0..N-1"
    train_orig = {r.orig_pid for r in ds.train}
    test_orig = {r.orig_pid for r in ds.query} | {r.orig_pid for r in ds.gallery if r.pid > 0}
    assert not (train_orig & test_orig), f"train and test share identities: {sorted(train_orig & test_orig)[:5]}"
    missing = {r.pid for r in ds.query} - {r.pid for r in ds.gallery}
    assert not missing, f"query identities without gallery images: {sorted(missing)[:5]}"
    assert ds.num_cams >= 2, "re-ID needs at least two cameras"
    has = [r.frame is not None for recs in ds.splits().values() for r in recs]
    assert all(has) or not any(has), "frames on some records only"
