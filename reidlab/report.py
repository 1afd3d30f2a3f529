"""Notebook support and the papermill report (``reidlab report``).

Two audiences:

* **The numbered notebooks** call the helpers here so each of their cells is one or two
  calls: :func:`setup` (profile resolution: where the data is, which preset, how long to
  train), :func:`ensure_dataset`, :func:`ensure_run` (train once, then reuse the run folder),
  :func:`evaluate` (every evaluation setting: plain, re-ranking, spatial-temporal,
  query expansion, multi-query), :func:`compare_with_paper`, :func:`save_results`.
* **``reidlab report``** (:func:`main`) executes the notebooks with papermill in one
  profile, converts each to HTML and writes ``index.html`` gathering every notebook's
  results file.

Profiles (the one table is :data:`PROFILES`; :func:`resolve_profile` returns one entry):

========  ==============================================================================
smoke     tiny synthetic set (``data/synthreid-small``), a few iterations: for nbval / CI.
demo      the embedded synthetic set (``data/synthreid``), CPU-sized presets, a few minutes
          per model: what ``make demo`` runs (one 2-core machine, <= 20 minutes in all).
full      as demo but longer schedules and three seeds (mean +- std in the ablations):
          a CPU night.
paper     the papers' recipes (ResNet50, paper input sizes and schedules), three seeds,
          for a GPU and a real benchmark (``--dataset market1501 --data /path``).
========  ==============================================================================

Paths given to the notebooks (``data_root``, ``output_dir``) may be relative: they are
resolved against the project root (the folder holding ``pyproject.toml`` and
``reidlab/``), so a notebook runs the same from JupyterLab (cwd ``notebooks/``), papermill
or nbval.

Results files: each notebook writes ``<output_dir>/<notebook>.results.json`` (and a
``.csv`` of the same rows), atomically (temporary file + rename). A row is one evaluated
model in one setting with metrics in percent: ``R1, R5, R10, mAP, mINP``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import html
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from reidlab.errors import ConfigError, DatasetError
from reidlab.engine.checkpoint import atomic_save
from reidlab.fileio import atomic_write_text  # noqa: F401  (part of reidlab.report's API)

PathLike = Union[str, os.PathLike]

#: The notebooks, in the order a report executes them.
NOTEBOOKS: tuple[str, ...] = (
    "01_data_exploration",
    "02_pfn",
    "03_mgwp",
    "04_lgeu",
    "05_jlpose",
    "06_ablations",
    "07_activation_maps",
    "08_retrieval_gallery",
    "09_spatial_temporal",
)

#: Evaluation settings, in the order tables show them.
#: plain = visual distance only; rerank = k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3);
#: st = spatial-temporal joint score; st+rerank = re-ranking on 2 - 2 * joint score;
#: qe = average query expansion (alpha-QE, top-5, alpha=3); mq = multi-query.
SETTINGS: tuple[str, ...] = ("plain", "rerank", "st", "st+rerank", "qe", "mq", "mq+rerank")

#: Metric columns of every results table (percent).
METRICS: tuple[str, ...] = ("R1", "R5", "R10", "mAP", "mINP")

# --------------------------------------------------------------------------------------
# Profiles: THE table.
# --------------------------------------------------------------------------------------

#: Every profile's settings. Keys:
#:   dataset / data_root: default dataset name and folder (``synthreid`` = the embedded
#:     synthetic set read with the Market-1501 reader; generated on first use with
#:     ``synth_args``); paper: no default folder, the user passes ``--data``.
#:   preset_scale: the scale of :mod:`reidlab.presets` used (``pfn`` -> ``pfn-cpu-demo``).
#:   max_iters: training iterations per model (None = the preset's own schedule);
#:     ``max_iters_by_model`` overrides it for slower models.
#:   epochs: epochs per model (None = the preset's), used when ``max_iters`` is None.
#:   ablation_iters: iterations per ablation variant (None: the same budget as the main run
#:     of that model, so the full-model variant reuses the 02-05 run); ablation_num_seeds:
#:     seeds per variant (the notebook's ``seed``, ``seed + 1``, ...); ablation_scope: which variants run (see ABLATIONS); ablation_studies:
#:     the studies 06 runs by default (demo: the cheapest, LGEU's, to fit the time budget).
#:   seeds: seeds the notebooks use; device: default device ("auto" = cuda if available).
#:   topk: galleries' top-k; max_queries: queries shown/used by the heavy per-query plots.
#:   eval_batch: feature-extraction batch size.
#:   train_overrides: preset overrides applied to every training of the profile (smoke:
#:     quarter-width backbones, so nbval stays fast; the others: none).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        dataset="synthreid", data_root="data/synthreid-small", synth_args=["--small"],
        preset_scale="smoke", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=None, ablation_num_seeds=1, ablation_scope="smoke", ablation_studies="pfn,mgwp,lgeu,jlpose",
        train_overrides={"model_options.backbone_width": 0.25},
        seeds=[0], device="cpu", topk=5, max_queries=4, eval_batch=128,
        description="tiny synthetic set, a few iterations: checks that every notebook runs (nbval)",
    ),
    "demo": dict(
        dataset="synthreid", data_root="data/synthreid", synth_args=[],
        # iterations sized from training speed measured on a quiet 2-core machine (ResNet18-sized,
        # 128x64, bf16; reidlab train --max-iters 24): pfn ~95 img/s (batch 64), mgwp ~58 (32),
        # lgeu/se/baseline ~140 (32), jlpose ~60 (64) -> about 70-85 s of training per model;
        # ablations reuse these budgets (and the main runs).
        preset_scale="cpu-demo", max_iters=100,
        max_iters_by_model={"pfn": 120, "mgwp": 150, "lgeu": 300, "se": 300, "baseline": 300, "jlpose": 80},
        epochs=None, ablation_iters=None, ablation_num_seeds=1, ablation_scope="demo", ablation_studies="lgeu",
        train_overrides={},
        seeds=[0], device="cpu", topk=8, max_queries=8, eval_batch=256,
        description="embedded synthetic set, CPU presets, short schedules: make demo (<= 20 min on 2 cores)",
    ),
    "full": dict(
        dataset="synthreid", data_root="data/synthreid", synth_args=[],
        preset_scale="cpu-demo", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=None, ablation_num_seeds=3, ablation_scope="full", ablation_studies="pfn,mgwp,lgeu,jlpose",
        train_overrides={},
        seeds=[0, 1, 2], device="auto", topk=10, max_queries=12, eval_batch=256,
        description="embedded synthetic set, CPU presets' full schedules, 3 seeds (mean +- std)",
    ),
    "paper": dict(
        dataset="market1501", data_root=None, synth_args=[],
        preset_scale="paper", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=None, ablation_num_seeds=3, ablation_scope="full", ablation_studies="pfn,mgwp,lgeu,jlpose",
        train_overrides={},
        seeds=[0, 1, 2], device="auto", topk=10, max_queries=12, eval_batch=256,
        description="the papers' recipes (ResNet50, paper schedules) on a real benchmark; for a GPU",
    ),
}

#: dataset name -> reader name of :func:`reidlab.data.load_dataset`.
DATASET_READERS: dict[str, str] = {
    "synthreid": "market1501",
    "market1501": "market1501",
    "dukemtmc": "dukemtmc",
    "msmt17": "msmt17",
    "cuhk03np": "cuhk03np",
    "folder": "folder",
}


def resolve_profile(profile: str) -> dict[str, Any]:
    """The settings of one profile (a deep copy of :data:`PROFILES` ``[profile]``,
    with ``name`` added).

    Raises:
        ConfigError: unknown profile name.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)} "
                          "(set it with -p profile NAME or REIDLAB_PROFILE)")
    out = copy.deepcopy(PROFILES[profile])
    out["name"] = profile
    return out


# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------

def project_root(start: Optional[PathLike] = None) -> Path:
    """The project folder: the first ancestor of ``start`` (default: cwd) holding both
    ``pyproject.toml`` and ``reidlab/``; else the folder above the installed package."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "reidlab").is_dir():
            return cand
    return Path(__file__).resolve().parent.parent


def resolve_path(p: PathLike, root: Optional[Path] = None) -> Path:
    """``p`` made absolute: ``~`` expanded, relative paths taken from the project root."""
    q = Path(os.path.expanduser(str(p)))
    return q if q.is_absolute() else (root or project_root()) / q


def report_dir(profile: str, root: Optional[Path] = None) -> Path:
    """Where ``reidlab report`` writes a profile's report: ``reports/`` for ``demo`` (what
    ``make demo`` produces), ``reports/<profile>/`` for the others."""
    base = (root or project_root()) / "reports"
    return base if profile == "demo" else base / profile


def run_root(profile: str, root: Optional[Path] = None) -> Path:
    """Where a profile's training runs live: ``runs/<profile>/``."""
    return (root or project_root()) / "runs" / profile


# --------------------------------------------------------------------------------------
# Notebook configuration
# --------------------------------------------------------------------------------------

@dataclass
class NotebookConfig:
    """Everything a notebook needs, resolved from its parameters cell and the profile.

    Attributes:
        notebook: notebook name (``"02_pfn"``).
        profile: profile name; ``prof`` its settings (see :data:`PROFILES`).
        seed: training / sampling seed.
        dataset: dataset name (``synthreid``, ``market1501`` ...); ``reader`` the reader.
        data_root: absolute dataset folder.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        output_dir: absolute folder for results files and figures.
        runs_dir: absolute folder of this profile's training runs.
        preset / epochs / max_iters: the notebook's own training parameters (resolved).
        params: every other notebook parameter, as given.
    """

    notebook: str
    profile: str
    prof: dict[str, Any]
    seed: int
    dataset: str
    reader: str
    data_root: Path
    device: str
    output_dir: Path
    runs_dir: Path
    preset: Optional[str] = None
    epochs: Optional[int] = None
    max_iters: Optional[int] = None
    params: dict[str, Any] = field(default_factory=dict)

    def preset_name(self, model_preset: str) -> str:
        """The profile's scale of a preset (``pfn`` -> ``pfn-cpu-demo`` in demo,
        ``pfn-smoke`` in smoke, ``pfn-paper`` in paper); a name that already ends with a
        scale is kept."""
        if model_preset.endswith(("-smoke", "-cpu-demo", "-paper")):
            return model_preset
        return f"{model_preset}-{self.prof['preset_scale']}"

    def iters_for(self, model: str) -> Optional[int]:
        """Training iterations for ``model`` (notebook parameter beats the profile)."""
        if self.max_iters is not None:
            return int(self.max_iters)
        by_model = self.prof.get("max_iters_by_model") or {}
        return by_model.get(model, self.prof.get("max_iters"))

    def summary(self):
        """A one-column DataFrame of the resolved settings (shown under the parameters)."""
        import pandas as pd

        rows = {
            "notebook": self.notebook, "profile": f"{self.profile} -- {self.prof['description']}",
            "dataset": f"{self.dataset} (reader {self.reader})", "data_root": _short(self.data_root),
            "device": self.device, "seed": self.seed, "output_dir": _short(self.output_dir),
            "runs": _short(self.runs_dir),
        }
        if self.preset:
            rows["preset"] = self.preset_name(self.preset)
            rows["training"] = (f"{self.iters_for(self.preset)} iterations" if self.iters_for(self.preset)
                                else f"{self.epochs or 'preset'} epochs")
        return pd.DataFrame({"value": rows})


def _short(p: Path) -> str:
    """``p`` relative to the project root when inside it (keeps outputs free of local paths)."""
    try:
        return str(Path(p).resolve().relative_to(project_root()))
    except ValueError:
        return str(p)


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; other strings are checked."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"device {device!r} is not a torch device; expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available here; use -p device cpu")
    return str(dev)


def setup(notebook: str, profile: Optional[str] = None, seed: int = 0, dataset: str = "",
          data_root: PathLike = "", device: str = "", output_dir: PathLike = "",
          preset: Optional[str] = None, epochs: Optional[int] = None,
          max_iters: Optional[int] = None, **params: Any) -> NotebookConfig:
    """Resolve a notebook's parameters against its profile (empty values = profile default).

    Also seeds python / numpy / torch with ``seed``, limits torch's CPU threads to
    ``REIDLAB_THREADS`` when set, and creates ``output_dir``.

    Args:
        notebook: the notebook's name, e.g. ``"02_pfn"``.
        profile: ``smoke`` / ``demo`` / ``full`` / ``paper`` (None: ``REIDLAB_PROFILE`` or demo).
        seed: training seed.
        dataset: dataset name (see :data:`DATASET_READERS`); empty: the profile's.
        data_root: dataset folder (relative to the project root allowed); empty: the profile's.
        device: ``auto`` / ``cpu`` / ``cuda[:N]``; empty: the profile's.
        output_dir: results folder; empty: ``<report dir>/results``.
        preset: the paper preset the notebook trains (``pfn``...), without profile suffix.
        epochs, max_iters: override the profile's training length.
        **params: the notebook's other parameters, kept in ``cfg.params``.
    """
    profile = profile or os.environ.get("REIDLAB_PROFILE", "demo")
    prof = resolve_profile(profile)
    dataset = dataset or prof["dataset"]
    if dataset not in DATASET_READERS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASET_READERS)}")
    root = project_root()
    if data_root:
        droot = resolve_path(data_root, root)
    elif dataset == prof["dataset"] and prof["data_root"]:
        droot = resolve_path(prof["data_root"], root)
    elif dataset == "synthreid":
        droot = resolve_path("data/synthreid", root)
    else:
        raise ConfigError(f"profile {profile!r} with dataset {dataset!r} needs a dataset folder; "
                          f"pass -p data_root /path/to/{dataset} (or DATA=/path with make report)")
    out = resolve_path(output_dir, root) if output_dir else report_dir(profile, root) / "results"
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device or prof["device"])
    try:  # without ipywidgets tqdm warns once per bar in Jupyter; its text bar is fine
        import warnings

        from tqdm import TqdmWarning

        warnings.filterwarnings("ignore", category=TqdmWarning)
    except ImportError:  # pragma: no cover
        pass
    threads = os.environ.get("REIDLAB_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    seed_everything(int(seed))
    return NotebookConfig(notebook=notebook, profile=profile, prof=prof, seed=int(seed), dataset=dataset,
                          reader=DATASET_READERS[dataset], data_root=droot, device=dev, output_dir=out,
                          runs_dir=run_root(profile, root), preset=preset,
                          epochs=None if epochs is None else int(epochs),
                          max_iters=None if max_iters is None else int(max_iters), params=dict(params))


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) with ``seed``."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------------
# Atomic files and results
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
        return _short(v)
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
        rows: a DataFrame (its index becomes columns) or a list of dicts; each row one
            evaluated model in one setting, with at least ``model``, ``setting`` and the
            metrics in percent.
        name: file stem (default: ``cfg.notebook``).
        extra: more JSON-able data to keep (e.g. ablation observations).
    """
    import pandas as pd

    df = rows.reset_index() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if "index" in df.columns and df["index"].dtype == object and "setting" not in df.columns:
        df = df.rename(columns={"index": "setting"})
    records = [_jsonable(r) for r in df.to_dict(orient="records")]
    payload = {
        "notebook": cfg.notebook, "profile": cfg.profile, "dataset": cfg.dataset, "seed": cfg.seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": records, "extra": _jsonable(dict(extra or {})),
    }
    stem = name or cfg.notebook
    path = Path(cfg.output_dir) / f"{stem}.results.json"
    atomic_write_text(Path(cfg.output_dir) / f"{stem}.results.csv", df.to_csv(index=False))
    atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=False))
    return path


def load_results(folder: PathLike) -> list[dict[str, Any]]:
    """Every ``*.results.json`` in ``folder`` (sorted by name); unreadable files raise a
    one-line :class:`ConfigError` naming the file."""
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
# index.html
# --------------------------------------------------------------------------------------

def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def results_frame(payloads: Sequence[Mapping[str, Any]]):
    """All rows of all results files in one DataFrame (columns: ``notebook`` plus the rows'
    own columns)."""
    import pandas as pd

    rows = []
    for pl in payloads:
        for r in pl.get("rows", []):
            rows.append({"notebook": pl.get("notebook", "?"), **r})
    return pd.DataFrame(rows)


def main_table(payloads: Sequence[Mapping[str, Any]]):
    """The index's main table: one row per model (rows with ``group == "main"``), one
    column pair (R1, mAP) per evaluation setting present; cells are means over seeds."""
    import pandas as pd

    df = results_frame(payloads)
    if df.empty or "setting" not in df.columns or "model" not in df.columns:
        return pd.DataFrame()
    if "group" in df.columns:
        df = df[df["group"].fillna("main") == "main"]
    if df.empty:
        return pd.DataFrame()
    present = [s for s in SETTINGS if s in set(df["setting"])] + sorted(set(df["setting"]) - set(SETTINGS))
    cols = [m for m in ("R1", "mAP") if m in df.columns]
    piv = df.pivot_table(index="model", columns="setting", values=cols, aggfunc="mean")
    piv = piv.swaplevel(0, 1, axis=1)
    order = [(s, m) for s in present for m in cols if (s, m) in piv.columns]
    models = list(dict.fromkeys(df["model"]))  # notebook order (02 pfn, 03 mgwp, ...), not alphabetical
    return piv.loc[[m for m in models if m in piv.index], order]


def ablation_tables(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Ablation rows (``group`` starting with ``ablation``) per group: variant x metric as
    ``mean +- std (n)`` strings."""
    import pandas as pd

    df = results_frame(payloads)
    out: dict[str, Any] = {}
    if df.empty or "group" not in df.columns:
        return out
    df = df[df["group"].fillna("").str.startswith("ablation")]
    for grp, sub in df.groupby("group", sort=False):
        keys = [k for k in ("variant", "setting") if k in sub.columns]
        rows = []
        for key, s in sub.groupby(keys, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            rec = dict(zip(keys, key))
            for m in ("R1", "mAP"):
                if m in s.columns:
                    vals = s[m].dropna().astype(float)
                    rec[m] = (f"{vals.mean():.1f} ± {vals.std(ddof=1):.1f} (n={len(vals)})" if len(vals) > 1
                              else (f"{vals.mean():.1f}" if len(vals) else "-"))
            rows.append(rec)
        out[str(grp)] = pd.DataFrame(rows)
    return out


_CSS = """body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37}.fail{color:#c62828;font-weight:bold}
.note{background:#fff8e1;border-left:4px solid #f9a825;padding:.6em 1em}code{background:#f3f3f3;padding:0 3px}"""


def build_index(report_folder: PathLike, status: Optional[Sequence[Mapping[str, Any]]] = None,
                title: str = "reidlab report", profile: str = "", results_folder: Optional[PathLike] = None) -> Path:
    """Write ``<report_folder>/index.html`` (atomically) and return its path.

    Args:
        report_folder: folder of the executed notebooks (``NN_name.ipynb`` / ``.html``).
        status: per notebook ``{"notebook", "ok", "seconds", "error"}`` (from the runner);
            when None, every ``NN_*.ipynb`` found in ``report_folder`` is listed.
        title, profile: page title and profile name shown at the top.
        results_folder: where the ``*.results.json`` files are (default ``<report>/results``).

    The page holds: the notebook list (status, time, links to HTML and ipynb), the main
    results table (every model x setting, R1 / mAP in %), the ablation tables, and the
    papers' own numbers for reference (clearly labelled).
    """
    import pandas as pd

    from reidlab import paper_results

    folder = Path(report_folder)
    res_dir = Path(results_folder) if results_folder else folder / "results"
    payloads = load_results(res_dir) if res_dir.is_dir() else []
    if status is None:
        status = [{"notebook": p.stem, "ok": None, "seconds": None} for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    total = sum(float(s.get("seconds") or 0) for s in status)
    parts.append(f"<p>Profile <b>{esc(profile or '?')}</b> · built {esc(when)}"
                 + (f" · notebooks took {total / 60:.1f} min" if total else "") + "</p>")
    parts.append("<p class='note'>Our numbers come from the small CPU models of the chosen profile on the "
                 "dataset the notebooks ran on (by default the embedded synthetic set). The papers' numbers are "
                 "ResNet50-scale models on the real Market-1501. Compare <i>orderings and mechanisms</i> "
                 "(does re-ranking help? does the part branch help?), not absolute values.</p>")
    # notebooks
    parts.append("<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time</th><th>links</th></tr>")
    for s in status:
        nb = str(s["notebook"])
        ok = s.get("ok")
        st = ("<span class='ok'>ok</span>" if ok else
              ("<span class='fail'>failed</span>" + (f": {esc(str(s.get('error', ''))[:200])}" if s.get("error") else ""))
              if ok is False else "?")
        secs = s.get("seconds")
        links = " · ".join(f"<a href='{esc(nb)}.{ext}'>{ext}</a>" for ext in ("html", "ipynb") if (folder / f"{nb}.{ext}").exists())
        parts.append(f"<tr><td>{esc(nb)}</td><td>{st}</td><td>{'' if secs is None else f'{float(secs):.0f} s'}</td><td>{links}</td></tr>")
    parts.append("</table>")
    # main table
    main = main_table(payloads)
    parts.append("<h2>Results: every model, with and without re-ranking and spatial-temporal scoring</h2>")
    if main.empty:
        parts.append("<p>No results files found in <code>%s</code>.</p>" % esc(_short(res_dir)))
    else:
        parts.append("<p>Rank-1 and mAP in %. <i>plain</i>: visual distance; <i>rerank</i>: k-reciprocal re-ranking; "
                     "<i>st</i>: spatial-temporal joint score; <i>qe</i>: query expansion; <i>mq</i>: multi-query.</p>")
        parts.append(main.map(_fmt).to_html(escape=True))
    # ablations
    abl = ablation_tables(payloads)
    if abl:
        parts.append("<h2>Ablations (06_ablations)</h2>")
        for grp, df in abl.items():
            parts.append(f"<h3>{esc(grp)}</h3>" + df.to_html(index=False, escape=True))
        notes = [pl.get("extra", {}).get("observations") for pl in payloads if pl.get("extra", {}).get("observations")]
        for n in notes:
            items = n if isinstance(n, list) else [n]
            parts.append("<ul>" + "".join(f"<li>{esc(str(x))}</li>" for x in items) + "</ul>")
    # paper numbers
    parts.append("<h2>The papers' own numbers (Market-1501, ResNet50-scale, for reference)</h2>")
    for paper in ("pfn", "mgwp", "lgeu", "jlpose"):
        hl = paper_results.headline(paper)
        parts.append(f"<h3>{esc(paper)}</h3>" + hl.drop(columns=["dataset"]).map(_fmt).to_html(escape=True))
    parts.append("</body></html>")
    return atomic_write_text(folder / "index.html", "\n".join(parts))


# --------------------------------------------------------------------------------------
# The papermill runner
# --------------------------------------------------------------------------------------

def _notebook_path(name: str, nb_dir: Path) -> Path:
    cands = [nb_dir / f"{name}.ipynb"] + sorted(nb_dir.glob(f"{name}*.ipynb"))
    for c in cands:
        if c.is_file():
            return c
    raise ConfigError(f"notebook {name!r} not found in {nb_dir}; expected one of {', '.join(NOTEBOOKS)}")


def execute_notebooks(profile: str, out_dir: PathLike, notebooks: Sequence[str] = NOTEBOOKS,
                      parameters: Optional[Mapping[str, Any]] = None, html_export: bool = True,
                      log=None, nb_dir: Optional[PathLike] = None) -> list[dict[str, Any]]:
    """Execute ``notebooks`` in order with papermill (kernel ``python3`` = this Python),
    write each executed notebook and its HTML into ``out_dir``, print one progress line per
    notebook, and return the per-notebook status list for :func:`build_index`.

    Every notebook gets ``profile``, ``output_dir`` (= ``<out_dir>/results``) and the given
    ``parameters`` (e.g. ``dataset``, ``data_root``, ``device``, ``seed``). A failing
    notebook is recorded (its partly executed copy is kept) and the next one runs.
    """
    import papermill as pm

    log = log or (lambda msg: print(msg, flush=True))
    nb_dir = Path(nb_dir) if nb_dir is not None else project_root() / "notebooks"
    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    # paths inside the project are passed relative (the notebooks resolve them from the root)
    params = {"profile": profile, "output_dir": _short(out / "results"), **dict(parameters or {})}
    status = []
    t_all = time.monotonic()
    for i, name in enumerate(notebooks, 1):
        src = _notebook_path(name, nb_dir)
        dst = out / src.name
        t0 = time.monotonic()
        rec: dict[str, Any] = {"notebook": src.stem, "ok": True, "seconds": 0.0}
        try:
            with _stderr_to(out / "report.log"):  # the kernels' own warnings go to the log, not the terminal
                pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name="python3", cwd=str(nb_dir),
                                    progress_bar=False, log_output=False)
        except Exception as err:  # papermill raises PapermillExecutionError with the cell's error
            rec.update(ok=False, error=f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}")
        rec["seconds"] = time.monotonic() - t0
        if html_export and dst.exists():
            try:
                export_html(dst)
            except Exception as err:  # HTML is a convenience; the ipynb is the record
                rec.setdefault("error", f"HTML export failed: {err}")
        state = "ok" if rec["ok"] else f"FAILED ({rec.get('error', '')})"
        log(f"[{i}/{len(notebooks)}] {src.stem:<22} {state} in {rec['seconds']:.0f} s "
            f"(total {(time.monotonic() - t_all) / 60:.1f} min)")
        status.append(rec)
    return status


class _stderr_to:
    """Redirect file descriptor 2 (inherited by the kernel subprocesses) to ``path``
    (appending) for the duration of a ``with`` block."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._fh = open(self.path, "a", encoding="utf-8")
        os.dup2(self._fh.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._fh.close()
        return False


def export_html(ipynb: PathLike) -> Path:
    """Convert an executed notebook to HTML next to it (nbconvert, the lab template)."""
    import nbformat
    from nbconvert import HTMLExporter

    ipynb = Path(ipynb)
    nb = nbformat.read(str(ipynb), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    return atomic_write_text(ipynb.with_suffix(".html"), body)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab report``: execute the notebooks with papermill and build the report.

    Returns 0 when every notebook ran, 1 otherwise (the report is written either way).
    """
    ap = argparse.ArgumentParser(
        prog="reidlab report",
        description="Execute the numbered notebooks with papermill in one profile and write "
                    "executed notebooks, HTML and index.html (results of every model with and "
                    "without re-ranking / spatial-temporal scoring).")
    ap.add_argument("--profile", default=os.environ.get("REIDLAB_PROFILE", "demo"), choices=list(PROFILES),
                    help="smoke | demo | full | paper (default: demo)")
    ap.add_argument("--dataset", default="", help="dataset name (default: the profile's, e.g. synthreid)")
    ap.add_argument("--data", default="", help="dataset folder (needed for real datasets)")
    ap.add_argument("--device", default="", help="auto | cpu | cuda[:N] (default: the profile's)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--out", default="", help="report folder (default: reports/ for demo, reports/<profile>/ otherwise)")
    ap.add_argument("--notebooks", default="", help="comma-separated subset, e.g. 01,02 (default: all nine)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML conversion")
    args = ap.parse_args(list(argv) if argv is not None else None)

    root = project_root()
    out = resolve_path(args.out, root) if args.out else report_dir(args.profile, root)
    prof = resolve_profile(args.profile)
    if args.profile == "paper" and not args.data:
        raise ConfigError("profile 'paper' needs a real dataset: pass --dataset market1501 --data /path/to/Market-1501 "
                          "(make report PROFILE=paper DATASET=market1501 DATA=/path)")
    names = list(NOTEBOOKS)
    if args.notebooks:
        wanted = [w.strip() for w in args.notebooks.split(",") if w.strip()]
        names = [n for n in NOTEBOOKS if any(n.startswith(w) for w in wanted)]
        if not names:
            raise ConfigError(f"--notebooks {args.notebooks!r} matches none of {', '.join(NOTEBOOKS)}")
    params: dict[str, Any] = {"seed": args.seed}
    if args.dataset:
        params["dataset"] = args.dataset
    if args.data:
        params["data_root"] = _short(resolve_path(args.data, root))
    if args.device:
        params["device"] = args.device
    print(f"reidlab report: profile {args.profile} ({prof['description']}), {len(names)} notebooks -> {_short(out)}/",
          flush=True)
    t0 = time.monotonic()
    status = execute_notebooks(args.profile, out, names, params, html_export=not args.no_html)
    index = build_index(out, status, title=f"reidlab report ({args.profile})", profile=args.profile)
    failed = [s["notebook"] for s in status if not s["ok"]]
    print(f"reidlab report: {len(names) - len(failed)}/{len(names)} notebooks ok in {(time.monotonic() - t0) / 60:.1f} min; "
          f"open {_short(index)}" + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

def short_path(p: PathLike) -> str:
    """``p`` relative to the project root when inside it (no local paths in outputs)."""
    return _short(Path(p))


class _FileLock:
    """An exclusive advisory lock on ``path`` (POSIX ``fcntl``; a no-op elsewhere), so two
    processes (nbval and a test, two notebooks) never generate the same dataset at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        return self

    def __exit__(self, *exc):
        try:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        except ImportError:  # pragma: no cover
            pass
        self._fh.close()
        return False


_DATASETS: dict[tuple[str, str], Any] = {}


def synth_complete(root: PathLike) -> bool:
    """True when ``root`` holds a finished synthetic dataset (its ``.complete`` marker)."""
    return (Path(root) / ".complete").is_file()


def ensure_dataset(cfg: NotebookConfig):
    """The notebook's dataset, read with :func:`reidlab.data.load_dataset`.

    For ``synthreid`` the set is generated first when ``<data_root>/.complete`` is missing
    (``reidlab synth --out <data_root>`` plus the profile's ``synth_args``, e.g.
    ``--small`` in smoke), under a file lock. Real datasets must exist: a missing folder
    raises :class:`DatasetError` saying where to put it. Loaded datasets are cached per
    process.
    """
    from reidlab.data import load_dataset

    root = Path(cfg.data_root)
    key = (cfg.reader, str(root))
    if key in _DATASETS:
        return _DATASETS[key]
    if cfg.dataset == "synthreid" and not synth_complete(root):
        with _FileLock(root.parent / f".{root.name}.lock"):
            if not synth_complete(root):
                from reidlab.data import synthetic

                argv = ["--out", str(root), *cfg.prof.get("synth_args", [])]
                print(f"generating the synthetic dataset: reidlab synth {' '.join(argv[2:] + ['--out', short_path(root)])}",
                      flush=True)
                rc = synthetic.main(argv)
                if rc not in (0, None) or not synth_complete(root):
                    raise DatasetError(f"{root}: synthetic dataset generation failed (exit {rc}); "
                                       f"run `reidlab synth --out {short_path(root)}` to see why")
    elif not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found; expected the {cfg.dataset} layout there "
                           f"(see data/README.md), or pass -p data_root /path/to/{cfg.dataset}")
    ds = load_dataset(cfg.reader, root)
    _DATASETS[key] = ds
    return ds


def split_statistics(ds) -> dict[str, Any]:
    """Tables describing a dataset (used by notebook 01).

    Returns a dict of DataFrames:
        ``splits``: the reader's per-split summary (ids, images, cameras, distractors, junk);
        ``per_camera``: images per camera (rows, 1-based ``c1``...) and split (columns);
        ``images_per_id``: describe() of the number of images per training identity;
        ``protocol``: per query, the number of valid correct gallery matches after the junk
        rule (same pid and same camera removed; pid -1 junk), summarised (min / median /
        mean / max, and the number of queries with none, which evaluation skips).
    """
    import numpy as np
    import pandas as pd

    splits = ds.summary_frame()
    cams = sorted({r.camid for recs in ds.splits().values() for r in recs})
    per_cam = pd.DataFrame({split: [sum(r.camid == c for r in recs) for c in cams] for split, recs in ds.splits().items()},
                           index=[f"c{c + 1}" for c in cams])
    per_cam.index.name = "camera"
    counts = pd.Series([n for n in _counter(r.pid for r in ds.train).values()], name="images per train identity")
    g_pid = np.array([r.pid for r in ds.gallery])
    g_cam = np.array([r.camid for r in ds.gallery])
    valid = []
    for q in ds.query:
        valid.append(int(np.sum((g_pid == q.pid) & (g_cam != q.camid))))
    valid = np.array(valid) if valid else np.zeros(0, dtype=int)
    protocol = pd.DataFrame({"value": {
        "queries": len(ds.query),
        "gallery images": len(ds.gallery),
        "valid matches per query (min)": int(valid.min()) if valid.size else 0,
        "valid matches per query (median)": float(np.median(valid)) if valid.size else 0.0,
        "valid matches per query (mean)": round(float(valid.mean()), 2) if valid.size else 0.0,
        "valid matches per query (max)": int(valid.max()) if valid.size else 0,
        "queries without a valid match (skipped)": int(np.sum(valid == 0)),
        "expected rank-1 of a random ranking (%)": round(random_rank1(ds), 2),
    }}, dtype=object)
    return {"splits": splits, "per_camera": per_cam, "images_per_id": counts.describe().to_frame(),
            "protocol": protocol}


def _counter(it: Iterable[Any]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for x in it:
        out[x] = out.get(x, 0) + 1
    return out


def random_rank1(ds_or_labels: Any) -> float:
    """Expected rank-1 (%) of a uniformly random ranking under the junk rule.

    For each query with at least one valid match, the first gallery image of a random
    order (among the images not removed by the junk rule) is a correct match with
    probability ``valid / candidates``; the mean over those queries, in percent. Accepts a
    dataset (query / gallery records) or a tuple ``(q_pids, q_cams, g_pids, g_cams)``.
    """
    import numpy as np

    if isinstance(ds_or_labels, tuple):
        q_pid, q_cam, g_pid, g_cam = (np.asarray(a) for a in ds_or_labels)
    else:
        q_pid = np.array([r.pid for r in ds_or_labels.query])
        q_cam = np.array([r.camid for r in ds_or_labels.query])
        g_pid = np.array([r.pid for r in ds_or_labels.gallery])
        g_cam = np.array([r.camid for r in ds_or_labels.gallery])
    probs = []
    for p, c in zip(q_pid, q_cam):
        junk = ((g_pid == p) & (g_cam == c)) | (g_pid == -1)
        cand = int(np.sum(~junk))
        pos = int(np.sum((g_pid == p) & (g_cam != c)))
        if pos and cand:
            probs.append(pos / cand)
    return 100.0 * float(np.mean(probs)) if probs else 0.0


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
    g = {r.pid for r in ds.gallery}
    missing = {r.pid for r in ds.query} - g
    assert not missing, f"query identities without gallery images: {sorted(missing)[:5]}"
    assert ds.num_cams >= 2, "re-ID needs at least two cameras"
    has = [r.frame is not None for recs in ds.splits().values() for r in recs]
    assert all(has) or not any(has), "frames on some records only"


# --------------------------------------------------------------------------------------
# Runs: train once, reuse
# --------------------------------------------------------------------------------------

_RUN_STAMP = "report-run.json"


def run_folder(cfg: NotebookConfig, name: str, seed: Optional[int] = None) -> Path:
    """``runs/<profile>/<name>-seed<seed>`` (``name`` = the scaled preset or a variant tag)."""
    return Path(cfg.runs_dir) / f"{name}-seed{cfg.seed if seed is None else int(seed)}"


def ensure_run(cfg: NotebookConfig, model_preset: str, run_dir: PathLike = "", *, seed: Optional[int] = None,
               max_iters: Optional[int] = None, overrides: Optional[Mapping[str, Any]] = None,
               name: Optional[str] = None, progress: bool = True):
    """A trained run of ``model_preset`` at the profile's scale: trained once, then reused.

    Args:
        cfg: the notebook's configuration.
        model_preset: preset name without scale (``"pfn"``, ``"jlpose-0.5-1"``) or with one.
        run_dir: an existing run folder to load instead (no training).
        seed: training seed (default ``cfg.seed``).
        max_iters: iterations (default :meth:`NotebookConfig.iters_for`; ``None`` = the
            preset's epochs, or ``cfg.epochs`` when given).
        overrides: preset field overrides (``{"model_options.branches": "global"}``).
        name: run folder stem (default: the scaled preset name).

    The folder ``runs/<profile>/<name>-seed<seed>`` is reused when its stamp file
    (``report-run.json``, written after training) matches the request (preset, overrides,
    iterations, epochs, seed, dataset); otherwise it is trained again (a stale or partial
    folder of the same name is replaced). Training runs under a file lock, one at a time.

    Returns:
        :class:`reidlab.engine.runs.Run` (model in eval mode on ``cfg.device``).
    """
    from reidlab.engine import load_run, train

    if run_dir:
        return load_run(resolve_path(run_dir), device=cfg.device)
    preset = cfg.preset_name(model_preset)
    seed = cfg.seed if seed is None else int(seed)
    base_model = model_preset.split("-")[0]
    iters = max_iters if max_iters is not None else cfg.iters_for(base_model)
    overrides = {**(cfg.prof.get("train_overrides") or {}), **dict(overrides or {})}
    want = {"preset": preset, "overrides": overrides, "max_iters": iters, "epochs": cfg.epochs,
            "seed": seed, "data": _short(cfg.data_root), "dataset": cfg.reader}
    folder = run_folder(cfg, name or preset, seed)
    stamp = folder / _RUN_STAMP
    with _FileLock(Path(cfg.runs_dir) / ".train.lock"):
        if stamp.is_file():
            try:
                have = json.loads(stamp.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                have = None
            if have == want:
                from reidlab.errors import CheckpointError

                try:
                    return load_run(folder, device=cfg.device)
                except (CheckpointError, RuntimeError, KeyError, ValueError) as err:
                    # unreadable, or written by an older version of the model code: train again
                    msg = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                    print(f"cannot reuse {_short(folder)} ({msg}); training again", flush=True)
        if folder.exists():
            import shutil

            if Path(cfg.runs_dir).resolve() not in folder.resolve().parents:  # never delete outside runs/
                raise ConfigError(f"{folder}: refusing to replace a folder outside {cfg.runs_dir}")
            shutil.rmtree(folder)
        t0 = time.monotonic()
        print(f"training {preset} (seed {seed}, {f'{iters} iterations' if iters else 'full schedule'}) "
              f"-> {_short(folder)}", flush=True)
        train(preset, data=str(cfg.data_root), out=str(folder), seed=seed, epochs=cfg.epochs, max_iters=iters,
              device=cfg.device, progress=progress, dataset=cfg.reader, evaluate=False,
              cache_dir=str(Path(cfg.runs_dir).parent / ".image-cache"), **overrides)
        atomic_write_text(folder / "report-train-time.txt", f"{time.monotonic() - t0:.1f}\n")
        atomic_write_text(stamp, json.dumps(want, indent=1))  # last: marks the run complete
    return load_run(folder, device=cfg.device)


def run_summary(run) -> "Any":
    """One-column DataFrame describing a run: preset, model, input size, iterations,
    epochs logged, last loss, training time, folder."""
    import pandas as pd

    m = run.metrics if run.metrics is not None else pd.DataFrame()
    t_file = Path(run.path) / "report-train-time.txt"
    rows = {
        "preset": run.preset.name, "model": run.preset.model,
        "backbone": run.preset.backbone or "(model's own)", "input (HxW)": "x".join(map(str, run.preset.input_size)),
        "iterations": run.config.get("max_iters") or "preset schedule",
        "epochs logged": len(m),
        "last loss": round(float(m["loss"].iloc[-1]), 3) if "loss" in m and len(m) else "-",
        "training time (s)": t_file.read_text().strip() if t_file.is_file() else "-",
        "checkpoint": run.checkpoint, "folder": _short(Path(run.path)),
    }
    return pd.DataFrame({"value": {k: str(v) for k, v in rows.items()}})


#: The papers' building blocks listed by :func:`model_card` (class name -> what it is).
_PAPER_MODULES: dict[str, str] = {
    "NonLocalBlock": "MGWP non-local block",
    "MultiScaleGlobal": "MGWP multi-scale global module",
    "TinySpatialAttention": "MGWP tiny spatial attention",
    "WeightDrivenPartFusion": "MGWP weight-driven part fusion",
    "LGEUnit": "LGEU unit (K part branches)",
    "PartExcitation": "one excitation branch (FC-ReLU-FC-sigmoid)",
}


def model_card(cfg: NotebookConfig, model_preset: str, ds) -> "Any":
    """What a model outputs in training mode and which loss applies to each output.

    Builds the profile's preset of ``model_preset`` (untrained) and runs one training-mode
    forward pass on two blank images of the preset's input size. Rows: each named output
    (``logits`` / ``embeddings``) with its shape and declared loss terms, then the test
    feature's dimension and the parameter counts (total, backbone, head).
    """
    import pandas as pd
    import torch

    from reidlab.engine.trainer import build_model
    from reidlab.presets import get_preset

    preset = get_preset(cfg.preset_name(model_preset), **(cfg.prof.get("train_overrides") or {}))
    model = build_model(preset, max(2, int(ds.num_train_pids)))
    h, w = preset.input_size
    x = torch.zeros(2, 3, h, w)
    kp = None
    if getattr(model, "needs_keypoints", False):
        kp = torch.zeros(2, 18, 3)
    model.train()
    with torch.no_grad():
        out = model(x, keypoints=kp) if kp is not None else model(x)
    losses: dict[tuple[str, str], list[str]] = {}
    for t in model.loss_terms:
        kind = "logits" if t.kind == "ce" else "embeddings"
        losses.setdefault((kind, t.output), []).append(f"{t.kind} (x{t.weight:g}, {t.group})")
    rows = []
    for kind in ("logits", "embeddings"):
        for name, v in out.get(kind, {}).items():
            rows.append({"output": f"{kind}[{name!r}]", "shape": "x".join(map(str, v.shape[1:])),
                         "loss": ", ".join(losses.get((kind, name), [])) or "-"})
    n_all = sum(p.numel() for p in model.parameters())
    n_bb = sum(p.numel() for p in model.backbone.parameters()) if hasattr(model, "backbone") else 0
    flip = {"concat": " (x2 with flip concatenation)", "mean": " (flip averaged)"}.get(preset.test_flip or "", "")
    rows.append({"output": "test feature (eval mode)", "shape": f"{model.feature_dim}{flip}", "loss": "-"})
    # the papers' own modules: how many, and their size (TSA: "10 parameters" = conv weights)
    modules: dict[str, list] = {}
    for _, mod in model.named_modules():
        if type(mod).__name__ in _PAPER_MODULES:
            modules.setdefault(type(mod).__name__, []).append(mod)
    for cls, mods in modules.items():
        n = sum(p.numel() for p in mods[0].parameters())
        conv = sum(m.weight.numel() for m in mods[0].modules() if isinstance(m, torch.nn.Conv2d))
        rows.append({"output": f"module {cls} x{len(mods)}",
                     "shape": f"{n:,} parameters each" + (f" ({conv:,} conv weights)" if conv else ""),
                     "loss": _PAPER_MODULES[cls]})
    rows.append({"output": "parameters", "shape": f"{n_all / 1e6:.2f} M (backbone {n_bb / 1e6:.2f} M, "
                                                  f"head {(n_all - n_bb) / 1e6:.2f} M)", "loss": "-"})
    return pd.DataFrame(rows).set_index("output")


# --------------------------------------------------------------------------------------
# Features and evaluation
# --------------------------------------------------------------------------------------

#: k-reciprocal re-ranking constants (Zhong et al. 2017).
RERANK = dict(k1=20, k2=6, lambda_value=0.3)


@dataclass
class Features:
    """Test features of one run on one dataset, and everything computed from them.

    Attributes:
        run: the :class:`reidlab.engine.runs.Run`; ``model`` its network (eval mode).
        ds: the dataset; ``metric`` the preset's distance (``euclidean`` = squared
            euclidean, or ``cosine`` distance).
        query, gallery, multi_query: float32 CPU tensors ``[N, D]`` (flip TTA as the preset).
        st_model: the fitted spatial-temporal model (lazily, when a ST setting is evaluated).
        results: ``{setting: RankResult}`` filled by :func:`evaluate`.
    """

    run: Any
    ds: Any
    query: Any
    gallery: Any
    multi_query: Any = None
    st_model: Any = None
    results: dict = field(default_factory=dict)
    _dist: dict = field(default_factory=dict, repr=False)

    @property
    def model(self):
        return self.run.model

    @property
    def preset(self):
        return self.run.preset

    @property
    def metric(self) -> str:
        return self.run.preset.metric

    def labels(self):
        """``(q_pids, q_cams, g_pids, g_cams)`` as numpy arrays."""
        import numpy as np

        return (np.array([r.pid for r in self.ds.query]), np.array([r.camid for r in self.ds.query]),
                np.array([r.pid for r in self.ds.gallery]), np.array([r.camid for r in self.ds.gallery]))

    def distances(self, setting: str = "plain"):
        """Query x gallery distance matrix (torch, CPU) of an evaluation setting (smaller =
        closer; ST settings use ``2 - 2 * joint score``). Cached."""
        if setting not in self._dist:
            self._dist[setting] = _distances(self, setting)
        return self._dist[setting]


def _eval(name: str):
    from reidlab.engine.runs import eval_api

    return eval_api(name)


def _features_key(run, ds) -> dict:
    f = Path(run.path) / f"{run.checkpoint}.pt"
    st = f.stat() if f.is_file() else None
    return {"checkpoint": f"{f.name}:{st.st_size}:{st.st_mtime_ns}" if st else "memory", "data": _short(Path(ds.root)),
            "flip": run.preset.test_flip, "size": list(run.preset.input_size),
            "n": [len(ds.query), len(ds.gallery), len(ds.multi_query or [])]}


def extract(cfg: NotebookConfig, run, ds, multi_query: bool = False) -> Features:
    """Extract (or load cached) query / gallery (and multi-query) test features of ``run``.

    The multi-query split (Market ``gt_bbox``) is extracted only with ``multi_query=True``
    (:func:`evaluate` asks for it when an ``mq`` setting is evaluated).
    Uses :func:`reidlab.engine.extract_features` with the preset's input size, flip TTA,
    batch size and autocast; the result is cached in the run folder
    (``report-features.pt``, keyed by checkpoint, dataset, flip and size) so the notebooks
    07-09 do not extract again.
    """
    import torch

    from reidlab.engine import extract_features

    p = run.preset
    want_mq = bool(multi_query and ds.multi_query)
    key = _features_key(run, ds)
    cache = Path(run.path) / "report-features.pt"
    feats: dict = {}
    if cache.is_file():
        try:
            blob = torch.load(cache, map_location="cpu", weights_only=True)
            if blob.get("key") == key:
                feats = dict(blob["features"])
        except Exception:  # stale / torn cache: extract again
            feats = {}
    splits = ["query", "gallery"] + (["multi_query"] if want_mq or "multi_query" in feats else [])
    changed = False
    for split in splits:
        if split in feats:
            continue
        feats[split] = extract_features(run.model, getattr(ds, split), size=p.input_size,
                                        batch_size=int(cfg.prof.get("eval_batch") or p.eval_batch_size),
                                        flip=p.test_flip, device=cfg.device, amp=p.amp,
                                        channels_last=p.channels_last)
        changed = True
    if changed:
        atomic_save({"key": key, "features": feats}, cache)
    return Features(run=run, ds=ds, query=feats["query"], gallery=feats["gallery"], multi_query=feats.get("multi_query"))


def fit_st(cfg: NotebookConfig, ds, bin_size: Optional[int] = None, sigma: Optional[float] = None):
    """Fit the spatial-temporal model on the training records (:class:`reidlab.eval.STModel`).

    ``bin_size`` (frames) and ``sigma`` (bins) default to the notebook parameters of the
    same name, else the method's 100 and 50.
    """
    if any(r.frame is None for r in ds.train):
        raise ConfigError(f"{cfg.dataset}: records have no frame numbers; spatial-temporal scoring needs "
                          "Market/Duke-style names (camera and frame)")
    STModel = _eval("STModel")
    b = bin_size if bin_size is not None else cfg.params.get("bin_size", 100)
    s = sigma if sigma is not None else cfg.params.get("sigma", 50)
    return STModel.fit([r.pid for r in ds.train], [r.camid for r in ds.train], [r.frame for r in ds.train],
                       bin_size=b, sigma=s)


def st_query_rows(feats: Features, query_index: int) -> dict:
    """For one query, the inputs of :func:`reidlab.viz.spatiotemporal.plot_st_joint`:
    ``similarity_row`` (cosine similarity to every gallery image), ``p_st_row`` (ST
    probability), ``gallery_pids``, ``query_pid`` and ``valid`` (junk excluded)."""
    import numpy as np
    import torch

    if feats.st_model is None:
        raise ConfigError("no ST model: evaluate an 'st' setting first or set feats.st_model = report.fit_st(cfg, ds)")
    q = feats.ds.query[query_index]
    g = feats.ds.gallery
    qn = torch.nn.functional.normalize(feats.query[query_index:query_index + 1].float(), dim=1)
    gn = torch.nn.functional.normalize(feats.gallery.float(), dim=1)
    sim = (qn @ gn.T)[0].numpy()
    p = feats.st_model.probability([q.camid], [q.frame], [r.camid for r in g], [r.frame for r in g])
    p = np.asarray(p.cpu() if hasattr(p, "cpu") else p, dtype=np.float64)[0]
    gp = np.array([r.pid for r in g])
    gc = np.array([r.camid for r in g])
    valid = ~(((gp == q.pid) & (gc == q.camid)) | (gp == -1))
    return {"similarity_row": sim, "p_st_row": p, "gallery_pids": gp, "query_pid": q.pid, "valid": valid}


def _joint(feats: Features, a_recs, fa, b_recs, fb):
    import torch

    joint_score = _eval("joint_score")
    an = torch.nn.functional.normalize(fa.float(), dim=1)
    bn = torch.nn.functional.normalize(fb.float(), dim=1)
    p_st = feats.st_model.probability([r.camid for r in a_recs], [r.frame for r in a_recs],
                                      [r.camid for r in b_recs], [r.frame for r in b_recs])
    return torch.as_tensor(joint_score(an @ bn.T, p_st), dtype=torch.float32)


def _distances(feats: Features, setting: str):
    import torch

    pairwise_distance = _eval("pairwise_distance")
    m = feats.metric
    qf, gf = feats.query, feats.gallery
    q, g = feats.ds.query, feats.ds.gallery

    def rerank(d_qg, d_qq, d_gg):
        return torch.as_tensor(_eval("k_reciprocal_rerank")(d_qg, d_qq, d_gg, **RERANK), dtype=torch.float32)

    if setting == "plain":
        return torch.as_tensor(pairwise_distance(qf, gf, metric=m)).float().cpu()
    if setting == "rerank":
        return rerank(feats.distances("plain"), pairwise_distance(qf, qf, metric=m), pairwise_distance(gf, gf, metric=m))
    if setting in ("st", "st+rerank"):
        if feats.st_model is None:
            raise ConfigError("spatial-temporal setting requested before fitting the ST model; "
                              "call report.evaluate(..., st_model=report.fit_st(cfg, ds)) or let evaluate fit it")
        if setting == "st":
            return 2.0 - 2.0 * _joint(feats, q, qf, g, gf)
        return rerank(feats.distances("st"), 2.0 - 2.0 * _joint(feats, q, qf, q, qf), 2.0 - 2.0 * _joint(feats, g, gf, g, gf))
    if setting == "qe":
        qf2, gf2 = _eval("average_query_expansion")(qf, gf)
        return torch.as_tensor(pairwise_distance(qf2, gf2, metric=m)).float().cpu()
    if setting in ("mq", "mq+rerank"):
        if feats.multi_query is None:
            raise ConfigError(f"multi-query needs the dataset's multi-query split (Market gt_bbox/); {feats.ds.root} has none")
        mq = feats.ds.multi_query
        mqf = _eval("multi_query_features")(qf, [r.pid for r in q], [r.camid for r in q], feats.multi_query,
                                            [r.pid for r in mq], [r.camid for r in mq])
        d = torch.as_tensor(pairwise_distance(mqf, gf, metric=m)).float().cpu()
        if setting == "mq":
            return d
        return rerank(d, pairwise_distance(mqf, mqf, metric=m), pairwise_distance(gf, gf, metric=m))
    raise ConfigError(f"unknown evaluation setting {setting!r}; expected one of {', '.join(SETTINGS)}")


def evaluate(cfg: NotebookConfig, feats: Features, settings: Sequence[str] = ("plain", "rerank", "st", "st+rerank", "qe"),
             st_model: Any = None, max_rank: int = 50):
    """Evaluate ``feats`` in each setting (see :data:`SETTINGS`); one row per setting.

    Settings that the dataset cannot support are skipped with a printed note (``st`` without
    frame numbers, ``mq`` without a multi-query split). The ST model is fitted on the
    training records when needed (or pass ``st_model``).

    Returns:
        DataFrame indexed by ``setting`` with ``R1, R5, R10, mAP, mINP`` in percent
        (standard AP, Market junk rule) and ``queries`` (valid / skipped). The
        :class:`RankResult` of each setting is kept in ``feats.results``.
    """
    import pandas as pd

    rank_metrics = _eval("rank_metrics")
    if st_model is not None:
        feats.st_model = st_model
    qp, qc, gp, gc = feats.labels()
    rows = {}
    for s in settings:
        if s.startswith("st") and feats.st_model is None:
            if any(r.frame is None for r in feats.ds.train):
                print(f"skipping {s}: the dataset has no frame numbers")
                continue
            feats.st_model = fit_st(cfg, feats.ds)
        if s.startswith("mq") and feats.multi_query is None:
            if not feats.ds.multi_query:
                print(f"skipping {s}: the dataset has no multi-query split")
                continue
            feats.multi_query = extract(cfg, feats.run, feats.ds, multi_query=True).multi_query
        r = rank_metrics(feats.distances(s), qp, gp, qc, gc, max_rank=max_rank)
        feats.results[s] = r
        rows[s] = {"R1": 100 * r.rank(1), "R5": 100 * r.rank(5), "R10": 100 * r.rank(10),
                   "mAP": 100 * float(r.mAP), "mINP": 100 * float(r.mINP),
                   "queries": f"{r.num_valid} valid / {r.num_skipped} skipped"}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "setting"
    return df


def cmc_table(feats: Features, results=None) -> dict:
    """``{setting: RankResult}`` of the evaluated settings (for :func:`reidlab.viz.plot_cmc`),
    in the order of ``results``' index when given."""
    order = list(results.index) if results is not None else list(feats.results)
    return {s: feats.results[s] for s in order if s in feats.results}


def describe_settings(results) -> str:
    """Markdown sentences saying, from the numbers, what each setting changed vs ``plain``."""
    if "plain" not in results.index:
        return "_No plain row to compare with._"
    base = results.loc["plain"]
    lines = [f"- **plain**: rank-1 {base['R1']:.1f} %, mAP {base['mAP']:.1f} %."]
    names = {"rerank": "k-reciprocal re-ranking", "st": "spatial-temporal scoring",
             "st+rerank": "spatial-temporal scoring + re-ranking", "qe": "query expansion",
             "mq": "multi-query", "mq+rerank": "multi-query + re-ranking"}
    for s in results.index:
        if s == "plain":
            continue
        r = results.loc[s]
        d1, dm = r["R1"] - base["R1"], r["mAP"] - base["mAP"]

        def verb(d):
            return "unchanged" if abs(d) < 0.05 else (f"up {d:.1f} points" if d > 0 else f"down {-d:.1f} points")
        more = ""
        if d1 > 0.05 and dm > 0.05:
            more = " -- a larger gain on mAP than on rank-1" if dm > d1 else " -- a larger gain on rank-1 than on mAP"
        lines.append(f"- **{s}** ({names.get(s, s)}): rank-1 {r['R1']:.1f} % ({verb(d1)}), "
                     f"mAP {r['mAP']:.1f} % ({verb(dm)}){more}.")
    best = results["mAP"].astype(float).idxmax()
    lines.append(f"- Best mAP here: **{best}**; best rank-1: **{results['R1'].astype(float).idxmax()}**.")
    return "\n".join(lines)


def compare_with_paper(results, paper: str):
    """Our results beside the paper's for the settings both have.

    Returns a DataFrame indexed by setting with columns ``(ours | paper, metric)`` for
    ``R1`` and ``mAP`` (paper: NaN where it reports nothing for that setting) and the
    paper's ``source``. Paper numbers are Market-1501 with the paper's network; ours are
    this notebook's run (see the caveat under the table).
    """
    import pandas as pd

    from reidlab import paper_results

    hl = paper_results.headline(paper)
    settings = list(results.index) + [s for s in hl.index if s not in results.index]
    rows = []
    for s in settings:
        rec = {("ours (this run)", "R1"): results.loc[s, "R1"] if s in results.index else math.nan,
               ("ours (this run)", "mAP"): results.loc[s, "mAP"] if s in results.index else math.nan,
               ("paper (Market-1501)", "R1"): hl.loc[s, "R1"] if s in hl.index else math.nan,
               ("paper (Market-1501)", "mAP"): hl.loc[s, "mAP"] if s in hl.index else math.nan,
               ("paper (Market-1501)", "source"): hl.loc[s, "source"] if s in hl.index else ""}
        rows.append(pd.Series(rec, name=s))
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "setting"
    return df


def check_results(results, cfg: NotebookConfig, feats: Optional[Features] = None) -> None:
    """Assert a results table is sane (raises AssertionError naming the row).

    Every metric in [0, 100]; R1 <= R5 <= R10; at least one valid query. Outside the
    ``smoke`` profile it also prints the plain rank-1 next to the expected rank-1 of a
    random ranking of this gallery (:func:`random_rank1`), with a warning when the model
    is not above it (a short schedule may not have learned yet; that is reported, not
    failed).
    """
    assert len(results) > 0, "no evaluation setting produced a result"
    for s, r in results.iterrows():
        for m in METRICS:
            v = float(r[m])
            assert 0.0 <= v <= 100.0, f"{s}: {m}={v} outside [0, 100]"
        assert float(r["R1"]) <= float(r["R5"]) + 1e-9 <= float(r["R10"]) + 2e-9, f"{s}: CMC not monotone"
    if feats is not None:
        for s, rr in feats.results.items():
            assert rr.num_valid > 0, f"{s}: no valid query"
    if cfg.profile != "smoke" and feats is not None and "plain" in results.index:
        chance = random_rank1(feats.labels())
        r1 = float(results.loc["plain", "R1"])
        if r1 <= chance:  # a warning, not a failure: a short demo schedule may not have learned yet
            print(f"WARNING: plain rank-1 {r1:.1f} % is not above a random ranking's {chance:.1f} %: the model has "
                  "not learned yet (train longer: -p max_iters N, or the full profile)")
        else:
            print(f"plain rank-1 {r1:.1f} % vs {chance:.2f} % for a random ranking of this gallery")


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


# --------------------------------------------------------------------------------------
# Figures the notebooks need that are about the data (01), not a model
# --------------------------------------------------------------------------------------

def _grid(rows: int, cols: int, w: float = 0.9, h: float = 1.6):
    from reidlab.viz.common import new_figure

    fig = new_figure(max(2.0, w * cols), max(1.6, h * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def sample_sheet(ds, n_ids: int = 6, seed: int = 0, split: str = "test"):
    """Figure: ``n_ids`` identities (rows) across cameras (columns), one image per cell.

    Identities seen by the most cameras are preferred (ties broken with ``seed``); an empty
    cell means the identity never passed that camera. ``split="test"`` uses query +
    gallery (real identities only), ``"train"`` the training split.
    """
    import numpy as np

    from reidlab.viz.common import load_image

    recs = list(ds.train) if split == "train" else [r for r in list(ds.query) + list(ds.gallery) if r.pid > 0]
    cams = sorted({r.camid for r in recs})
    cells: dict[tuple[int, int], list] = {}
    for r in recs:
        cells.setdefault((r.pid, r.camid), []).append(r)
    rng = np.random.default_rng(seed)
    pids = sorted({p for p, _ in cells})
    rng.shuffle(pids)
    pids = sorted(pids, key=lambda p: -sum((p, c) in cells for c in cams))[:n_ids]
    fig, axes = _grid(len(pids), len(cams))
    for i, pid in enumerate(pids):
        for j, c in enumerate(cams):
            ax = axes[i, j]
            for sp in ax.spines.values():
                sp.set_visible(False)
            lst = cells.get((pid, c))
            if lst:
                ax.imshow(load_image(lst[int(rng.integers(len(lst)))].path))
            if i == 0:
                ax.set_title(f"cam {c + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"id {pid}", fontsize=8)
    return fig


def images_per_identity(ds):
    """Figure: histogram of the number of training images per identity, and images per
    camera for each split (bars)."""
    import numpy as np

    from reidlab.viz.common import new_figure

    counts = np.array(list(_counter(r.pid for r in ds.train).values()))
    fig = new_figure(8.0, 3.0)
    a, b = fig.subplots(1, 2)
    a.hist(counts, bins=np.arange(counts.min(), counts.max() + 2) - 0.5, color="#4c72b0")
    a.set_xlabel("images per training identity")
    a.set_ylabel("identities")
    a.set_title(f"{len(counts)} identities, median {np.median(counts):.0f} images")
    cams = sorted({r.camid for recs in ds.splits().values() for r in recs})
    width = 0.8 / max(1, len(ds.splits()))
    for k, (split, recs) in enumerate(ds.splits().items()):
        b.bar(np.arange(len(cams)) + k * width, [sum(r.camid == c for r in recs) for c in cams], width, label=split)
    b.set_xticks(np.arange(len(cams)) + 0.4 - width / 2, [f"c{c + 1}" for c in cams])
    b.set_ylabel("images")
    b.set_title("images per camera")
    b.legend(fontsize=7)
    return fig


def camera_timeline(records, max_ids: int = 40):
    """Figure: when each camera sees each identity (x = frame on the camera's clock, y =
    identity; one dot per image, coloured by camera), for the first ``max_ids`` ids."""
    import numpy as np

    from reidlab.viz.common import new_figure

    recs = [r for r in records if r.frame is not None and r.pid >= 0]
    fig = new_figure(8.0, 3.6)
    ax = fig.subplots()
    if not recs:
        ax.text(0.5, 0.5, "no frame numbers in this dataset", ha="center", va="center")
        return fig
    ids = sorted({r.pid for r in recs})[:max_ids]
    row = {p: i for i, p in enumerate(ids)}
    cams = sorted({r.camid for r in recs})
    for c in cams:
        pts = np.array([(r.frame, row[r.pid]) for r in recs if r.camid == c and r.pid in row])
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=8, label=f"c{c + 1}")
    ax.set_xlabel("frame (one clock per camera, 25 fps)")
    ax.set_ylabel("identity (row)")
    ax.legend(fontsize=7, ncol=min(len(cams), 8), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return fig


def keypoint_grid(records, boxes_fn=None):
    """Figure: images with their visible landmarks (dots, COCO-18 skeleton) and, when
    ``boxes_fn(keypoints[18, 3], (H, W)) -> [3, 4]`` is given, the head / trunk /
    lower-limb boxes. Records without landmarks show the image alone."""
    import numpy as np

    from reidlab.viz.attention import COCO18_LIMBS, POSE_BOX_COLORS, POSE_BOX_NAMES
    from reidlab.viz.common import draw_box, load_image

    recs = list(records)
    fig, axes = _grid(1, len(recs), w=1.1, h=2.4)
    for ax, r in zip(axes[0], recs):
        img = load_image(r.path)
        ax.imshow(img)
        kp = None if r.keypoints is None else np.asarray(r.keypoints, dtype=np.float32)
        if kp is not None:
            vis = kp[:, 2] > 0
            for a, b in COCO18_LIMBS:
                if vis[a] and vis[b]:
                    ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="white", lw=0.8)
            ax.scatter(kp[vis, 0], kp[vis, 1], s=6, c="yellow", zorder=3)
            boxes = boxes_fn(kp, img.shape[:2]) if boxes_fn is not None else None
            if boxes is not None:
                for box, name, c in zip(np.asarray(boxes), POSE_BOX_NAMES, POSE_BOX_COLORS):
                    draw_box(ax, box, c)
            ax.set_title(f"{int(vis.sum())}/18 visible", fontsize=7)
        else:
            ax.set_title("no landmarks", fontsize=7)
    return fig


def augmentation_preview(records, seed: int = 0, size: tuple[int, int] = (128, 64)):
    """Figure: images (top row) and one draw of the training augmentation (bottom row:
    flip, pad 10 + random crop, random erasing p=0.5), batched on tensors."""
    import torch

    from reidlab.data import BatchAugment, decode_image, denormalize, make_generator

    recs = list(records)
    u8 = torch.stack([decode_image(r.path, size) for r in recs])
    aug = BatchAugment(size=size, flip_p=0.5, pad=10, erase_p=0.5)
    out, _ = aug(u8, generator=make_generator(seed))
    out = denormalize(out).permute(0, 2, 3, 1).numpy()
    fig, axes = _grid(2, len(recs), w=0.9, h=1.7)
    for i in range(len(recs)):
        axes[0, i].imshow(u8[i].permute(1, 2, 0).numpy())
        axes[1, i].imshow(out[i])
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("augmented", fontsize=8)
    return fig


# --------------------------------------------------------------------------------------
# Inputs and queries for the explanation / gallery notebooks
# --------------------------------------------------------------------------------------

def spread(records, n: int) -> list:
    """``n`` records evenly spaced through ``records`` (splits are sorted by identity, so
    the first ``n`` would show one or two people)."""
    recs = list(records)
    if n >= len(recs):
        return recs
    step = len(recs) / n
    return [recs[int(i * step)] for i in range(n)]


def model_input(feats_or_run, record):
    """``(image, keypoints)`` for one record at the run's input size: a normalised float
    tensor ``[3, H, W]`` (ImageNet mean/std) and ``[18, 3]`` landmarks in its pixels (or
    ``None`` when the record has none), ready for :mod:`reidlab.viz`."""
    from reidlab.data import decode_image, eval_transform
    from reidlab.engine.extract import records_keypoints

    run = getattr(feats_or_run, "run", feats_or_run)
    size = tuple(run.preset.input_size)
    x = eval_transform(decode_image(record.path), size)
    kp = None
    if record.keypoints is not None:
        kp = records_keypoints([record], size)[0][0]
    return x, kp


def param(cfg: NotebookConfig, name: str) -> Any:
    """A notebook parameter, or the profile's default when it is None / empty
    (``topk`` -> profile ``topk``; ``n_queries`` -> profile ``max_queries``)."""
    v = cfg.params.get(name)
    if v not in (None, ""):
        return v
    alias = {"n_queries": "max_queries"}.get(name, name)
    if alias not in cfg.prof:
        raise ConfigError(f"no parameter {name!r} and no profile default for it")
    return cfg.prof[alias]


def best_gallery(feats: Features, query_index: int, setting: str = "plain", correct: bool = True) -> int:
    """Gallery index of the best-ranked *correct* (or, with ``correct=False``, wrong
    identity) image for a query, junk excluded. Raises ConfigError when there is none."""
    import numpy as np

    qp, qc, gp, gc = feats.labels()
    d = np.asarray(feats.distances(setting)[query_index], dtype=np.float64)
    junk = ((gp == qp[query_index]) & (gc == qc[query_index])) | (gp == -1)
    ok = (gp == qp[query_index]) if correct else (gp != qp[query_index])
    cand = np.flatnonzero(ok & ~junk)
    if cand.size == 0:
        raise ConfigError(f"query {query_index} has no {'correct' if correct else 'wrong'} gallery candidate")
    return int(cand[np.argsort(d[cand], kind="stable")[0]])


def most_changed_query(feats: Features, settings: Sequence[str], max_rank: int = 10) -> int:
    """The query whose average precision differs most between the settings (ties: lowest
    index); settings not yet evaluated are computed. Good for "the same query, three ways"."""
    import numpy as np

    rank_metrics = _eval("rank_metrics")
    qp, qc, gp, gc = feats.labels()
    aps = []
    for s in settings:
        r = feats.results.get(s)
        if r is None:
            r = rank_metrics(feats.distances(s), qp, gp, qc, gc, max_rank=max_rank)
        aps.append(np.nan_to_num(np.asarray(r.all_ap, dtype=np.float64), nan=-1.0))
    aps = np.stack(aps)
    valid = aps.min(axis=0) >= 0
    spread = np.where(valid, aps.max(axis=0) - aps.min(axis=0), -1.0)
    return int(np.argmax(spread))


def query_ap(feats: Features, setting: str = "plain"):
    """Per-query average precision (numpy, NaN for skipped queries) of one setting."""
    import numpy as np

    r = feats.results.get(setting)
    if r is None:
        qp, qc, gp, gc = feats.labels()
        r = _eval("rank_metrics")(feats.distances(setting), qp, gp, qc, gc, max_rank=10)
    return np.asarray(r.all_ap, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Ablations (06)
# --------------------------------------------------------------------------------------

_ALL = ("smoke", "demo", "full")
_DEMO = ("demo", "full")          # not in smoke (keeps nbval fast; smoke runs two variants per study)
_FULL = ("full",)

#: Each study: the variants (preset, preset overrides, scopes = the profile
#: ``ablation_scope`` values that run it), the evaluation settings, and the paper's
#: claims as (better variant, worse variant, where the paper says so). Observations test
#: each claim on our numbers.
ABLATIONS: dict[str, dict[str, Any]] = {
    "pfn": dict(
        title="PFN: global / local / both",
        settings=["plain", "st"],
        variants=[
            dict(variant="global only", preset="pfn", overrides={"model_options.branches": "global"}, scopes=_ALL),
            dict(variant="local only", preset="pfn", overrides={"model_options.branches": "local"}, scopes=_DEMO),
            dict(variant="global + local", preset="pfn", overrides={}, scopes=_ALL),
        ],
        claims=[("global + local", "global only", "PFN text: global and local features are complementary"),
                ("global + local", "local only", "PFN text: global and local features are complementary"),
                ("global + local|st", "global + local|plain", "PFN Table I: Ours+ST > Ours")],
    ),
    "mgwp": dict(
        title="MGWP: modules and number of parts",
        settings=["plain"],
        variants=[
            dict(variant="full model", preset="mgwp", overrides={}, scopes=_ALL),
            dict(variant="without non-local", preset="mgwp", scopes=_DEMO, overrides={"model_options.non_local": False}),
            dict(variant="without multi-scale global", preset="mgwp", scopes=_DEMO, overrides={"model_options.multi_scale": False}),
            dict(variant="without TSA", preset="mgwp", overrides={"model_options.tsa": False}, scopes=_ALL),
            dict(variant="without weight-driven fusion", preset="mgwp", scopes=_DEMO, overrides={"model_options.part_fusion": False}),
            dict(variant="4 parts", preset="mgwp", overrides={"model_options.num_parts": 4}, scopes=_FULL),
            dict(variant="8 parts", preset="mgwp", overrides={"model_options.num_parts": 8}, scopes=_FULL),
        ],
        claims=[("full model", "without non-local", "MGWP ablation: NL helps"),
                ("full model", "without multi-scale global", "MGWP ablation: MSG helps"),
                ("full model", "without TSA", "MGWP ablation: TSA helps"),
                ("full model", "without weight-driven fusion", "MGWP ablation: WDP helps"),
                ("full model", "4 parts", "MGWP: 6 parts is optimal"),
                ("full model", "8 parts", "MGWP: 6 parts is optimal")],
    ),
    "lgeu": dict(
        title="LGEU: baseline / SE / LGEU",
        settings=["plain"],
        variants=[
            dict(variant="baseline", preset="baseline", overrides={}, scopes=_ALL),
            dict(variant="SE", preset="se", overrides={}, scopes=_DEMO),
            dict(variant="LGEU", preset="lgeu", overrides={}, scopes=_ALL),
        ],
        claims=[("LGEU", "SE", "LGEU Table 1"), ("SE", "baseline", "LGEU Table 1"),
                ("LGEU", "baseline", "LGEU Table 1")],
    ),
    "jlpose": dict(
        title="Joint loss: softmax only / three weightings; global vs global + local",
        settings=["plain"],
        variants=[
            dict(variant="baseline (global, softmax)", preset="jlpose-softmax",
                 overrides={"model_options.local_branches": False}, scopes=_ALL),
            dict(variant="global + local (softmax)", preset="jlpose-softmax", overrides={}, scopes=_DEMO),
            dict(variant="joint 1:0.5", preset="jlpose-1-0.5", overrides={}, scopes=_DEMO),
            dict(variant="joint 1:1", preset="jlpose", overrides={}, scopes=_ALL),
            dict(variant="joint 0.5:1", preset="jlpose-0.5-1", overrides={}, scopes=_DEMO),
        ],
        claims=[("global + local (softmax)", "baseline (global, softmax)", "Table IV: Global+Local > baseline"),
                ("joint 1:0.5", "global + local (softmax)", "Table IV: joint loss > softmax"),
                ("joint 1:1", "global + local (softmax)", "Table IV: joint loss > softmax"),
                ("joint 1:1", "baseline (global, softmax)", "Table IV: joint loss with the local branches > baseline"),
                ("joint 0.5:1", "baseline (global, softmax)", "Table IV: whole architecture (0.5:1) > baseline"),
                ("joint 0.5:1", "global + local (softmax)", "Table IV: joint loss > softmax")],
    ),
}


def _slug(text: str) -> str:
    import re

    return re.sub(r"-+", "-", "".join(ch if ch.isalnum() else "-" for ch in text.lower())).strip("-")


def ablation_variants(cfg: NotebookConfig, study: str) -> list[dict[str, Any]]:
    """The variants of ``study`` that the profile's ``ablation_scope`` runs."""
    if study not in ABLATIONS:
        raise ConfigError(f"unknown ablation study {study!r}; expected one of {', '.join(ABLATIONS)}")
    scope = cfg.prof["ablation_scope"]
    return [v for v in ABLATIONS[study]["variants"] if scope in v["scopes"]]


def ablation_seeds(cfg: NotebookConfig) -> list[int]:
    """Seeds of every ablation variant: the notebook's ``seed``, ``seed + 1``, ... (the
    profile's ``ablation_num_seeds`` of them), so the first one is the seed of the main runs."""
    return [cfg.seed + i for i in range(int(cfg.prof.get("ablation_num_seeds", 1)))]


def _studies(cfg: NotebookConfig) -> list[str]:
    raw = cfg.params.get("studies") or cfg.prof.get("ablation_studies") or ",".join(ABLATIONS)
    names = [s.strip() for s in str(raw).split(",") if s.strip()]
    for s in names:
        if s not in ABLATIONS:
            raise ConfigError(f"studies={raw!r}: unknown study {s!r}; expected a comma-separated subset of {', '.join(ABLATIONS)}")
    return names


def _ablation_iters(cfg: NotebookConfig, preset: str) -> Optional[int]:
    """Iterations of an ablation variant: the notebook's ``max_iters``, else the profile's
    ``ablation_iters``, else the main run's budget for that model."""
    if cfg.max_iters is not None:
        return int(cfg.max_iters)
    if cfg.prof.get("ablation_iters") is not None:
        return int(cfg.prof["ablation_iters"])
    return cfg.iters_for(preset.split("-")[0])


def ablation_plan(cfg: NotebookConfig):
    """DataFrame of what 06 will train: study, variant, preset, overrides, seeds, iterations."""
    import pandas as pd

    rows = []
    for study in _studies(cfg):
        for v in ablation_variants(cfg, study):
            iters = _ablation_iters(cfg, v["preset"])
            rows.append({"study": study, "variant": v["variant"], "preset": cfg.preset_name(v["preset"]),
                         "overrides": ", ".join(f"{k.split('.')[-1]}={val}" for k, val in v["overrides"].items()) or "-",
                         "seeds": ", ".join(map(str, ablation_seeds(cfg))),
                         "iterations": iters or "preset schedule"})
    return pd.DataFrame(rows)


def run_ablation(cfg: NotebookConfig, study: str, ds=None):
    """Train (or reuse) and evaluate every variant of ``study`` for every ablation seed.

    Each variant trains with the same budget (profile ``ablation_iters`` or the notebook's
    ``max_iters``) in ``runs/<profile>/ablation/<study>-<variant>-<preset>-seed<s>``; a
    variant identical to a main notebook run (no overrides, same iterations) reuses it.

    Returns:
        long DataFrame: ``group`` (``ablation:<study>``), ``variant``, ``seed``, ``setting``,
        ``R1, R5, R10, mAP, mINP`` (percent).
    """
    import gc

    import pandas as pd

    if study not in ABLATIONS:
        raise ConfigError(f"unknown ablation study {study!r}; expected one of {', '.join(ABLATIONS)}")
    if study not in _studies(cfg):
        print(f"[{study}] not among this run's studies ({', '.join(_studies(cfg))}): skipped")
        return pd.DataFrame(columns=["group", "study", "variant", "seed", "setting", *METRICS])
    ds = ds if ds is not None else ensure_dataset(cfg)
    spec = ABLATIONS[study]
    rows = []
    for seed in ablation_seeds(cfg):
        for v in ablation_variants(cfg, study):
            preset = v["preset"]
            iters = _ablation_iters(cfg, preset)
            same_as_main = not v["overrides"] and iters == cfg.iters_for(preset.split("-")[0])
            name = None if same_as_main else f"ablation/{study}-{_slug(v['variant'])}-{cfg.preset_name(preset)}"
            print(f"[{study}] {v['variant']} (seed {seed})", flush=True)
            run = ensure_run(cfg, preset, seed=seed, max_iters=iters, overrides=v["overrides"], name=name,
                             progress=False)
            feats = extract(cfg, run, ds)
            settings = [s for s in spec["settings"] if not (s.startswith("st") and ds.train[0].frame is None)]
            res = evaluate(cfg, feats, settings=settings)
            for s, r in res.iterrows():
                rows.append({"group": f"ablation:{study}", "study": study, "variant": v["variant"], "seed": seed,
                             "setting": s, **{m: float(r[m]) for m in METRICS}})
            del run, feats
            gc.collect()
    return pd.DataFrame(rows)


def ablation_table(df):
    """Mean (and ``± std`` over seeds when there are several) of R1 and mAP per study,
    variant and setting, in the order the variants were run. Cells are strings."""
    import pandas as pd

    if df is None or len(df) == 0:
        return pd.DataFrame()
    out = []
    keys = ["study", "variant", "setting"]
    for key, s in df.groupby(keys, sort=False):
        rec = dict(zip(keys, key))
        for m in ("R1", "mAP", "mINP"):
            vals = s[m].astype(float)
            rec[m] = f"{vals.mean():.1f} ± {vals.std(ddof=1):.1f}" if len(vals) > 1 else f"{vals.mean():.1f}"
        rec["seeds"] = len(s)
        out.append(rec)
    return pd.DataFrame(out).set_index(keys)


def _stat(df, study: str, variant: str, setting: str, metric: str) -> tuple[float, float, int]:
    s = df[(df["study"] == study) & (df["variant"] == variant) & (df["setting"] == setting)][metric].astype(float)
    if len(s) == 0:
        return math.nan, math.nan, 0
    return float(s.mean()), float(s.std(ddof=1)) if len(s) > 1 else math.nan, len(s)


#: With one seed, differences below this many points are called inconclusive.
SINGLE_SEED_NOISE = 2.0


def claim_verdict(a: tuple[float, float, int], b: tuple[float, float, int]) -> str:
    """``holds`` / ``reversed`` / ``inconclusive`` for "a > b" given (mean, std, n) of each.

    With several seeds the difference of the means must exceed the larger of the two
    standard deviations; with one seed it must exceed :data:`SINGLE_SEED_NOISE` points.
    """
    (ma, sa, na), (mb, sb, nb) = a, b
    if na == 0 or nb == 0 or math.isnan(ma) or math.isnan(mb):
        return "not run"
    noise = max(x for x in (sa, sb, 0.0) if not math.isnan(x)) if min(na, nb) > 1 else SINGLE_SEED_NOISE
    d = ma - mb
    if d > noise:
        return "holds"
    if d < -noise:
        return "reversed"
    return "inconclusive"


def ablation_observations(df, study: Optional[str] = None, as_list: bool = False, metric: str = "R1"):
    """What the numbers say about each paper claim of ``study`` (all studies when None).

    Each claim "A > B" is tested on the mean ``metric`` (and mAP) over seeds with
    :func:`claim_verdict`; the sentence gives both values, the difference and the verdict.
    Returns Markdown (a bullet list) or, with ``as_list``, the sentences.
    """
    studies = [study] if study else [s for s in ABLATIONS if len(df) and s in set(df["study"])]
    lines = []
    for st in studies:
        for better, worse, source in ABLATIONS[st]["claims"]:
            va, sa = (better.split("|") + ["plain"])[:2]
            vb, sb = (worse.split("|") + ["plain"])[:2]
            ra, rb = _stat(df, st, va, sa, metric), _stat(df, st, vb, sb, metric)
            if ra[2] == 0 or rb[2] == 0:
                continue
            ma, mb = _stat(df, st, va, sa, "mAP"), _stat(df, st, vb, sb, "mAP")
            name_a = va + (f" ({sa})" if sa != "plain" else "")
            name_b = vb + (f" ({sb})" if sb != "plain" else "")
            v1, v2 = claim_verdict(ra, rb), claim_verdict(ma, mb)
            verdict = v1 if v1 == v2 else f"{v1} on {metric}, {v2} on mAP"
            n = min(ra[2], rb[2])
            lines.append(f"[{st}] {source} -- claim '{name_a} > {name_b}': here {metric} {ra[0]:.1f} vs {rb[0]:.1f} "
                         f"({ra[0] - rb[0]:+.1f}), mAP {ma[0]:.1f} vs {mb[0]:.1f} ({ma[0] - mb[0]:+.1f}), "
                         f"{n} seed{'s' if n > 1 else ''}: {verdict}.")
    if as_list:
        return lines
    if not lines:
        if study and (not len(df) or study not in set(df["study"])):
            return (f"_Study `{study}` not run in this profile (parameter `studies`); run it with "
                    f"`-p studies {study}` or in the `full` profile._")
        return "_No claim could be tested (variants missing)._"
    return "\n".join(f"- {ln}" for ln in lines)


def concat_ablations(*frames):
    """The studies' result frames in one (empty frames of skipped studies are dropped)."""
    import pandas as pd

    frames = [f for f in frames if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["study", "variant", "seed", "setting", *METRICS])


def check_ablations(df, cfg: NotebookConfig) -> None:
    """Assert every planned variant has rows for every seed, with metrics in range."""
    assert len(df) > 0 or not _studies(cfg), "no ablation results"
    for m in METRICS:
        assert df[m].between(0, 100).all(), f"{m} outside [0, 100]"
    for study in _studies(cfg):
        for v in ablation_variants(cfg, study):
            got = df[(df["study"] == study) & (df["variant"] == v["variant"])]
            assert set(got["seed"]) == set(ablation_seeds(cfg)), f"{study}/{v['variant']}: seeds {set(got['seed'])}"


# --------------------------------------------------------------------------------------
# Spatial-temporal (09) and the models' attention (07)
# --------------------------------------------------------------------------------------

def st_sensitivity(cfg: NotebookConfig, feats: Features, ds, sigmas: Sequence[float] = (5, 20, 50, 100)):
    """Rank-1 / mAP of the ``st`` setting for ST models fitted with each smoothing width
    ``sigma`` (bins), everything else fixed. One row per sigma."""
    import pandas as pd

    rank_metrics = _eval("rank_metrics")
    qp, qc, gp, gc = feats.labels()
    keep_model, keep = feats.st_model, feats._dist.copy()
    rows = []
    try:
        for s in sigmas:
            feats.st_model = fit_st(cfg, ds, sigma=s)
            feats._dist.pop("st", None)
            r = rank_metrics(feats.distances("st"), qp, gp, qc, gc, max_rank=10)
            rows.append({"sigma (bins)": s, "R1": 100 * r.rank(1), "mAP": 100 * float(r.mAP)})
    finally:
        feats.st_model, feats._dist = keep_model, keep
    return pd.DataFrame(rows).set_index("sigma (bins)")


def model_attention_figures(cfg: NotebookConfig, ds, models: Sequence[str] = ("mgwp", "lgeu", "jlpose"),
                            query_index: int = 0) -> dict:
    """The models' own attention for one query image, from the runs of 03-05 (trained
    here if missing): MGWP's TSA maps and non-local affinity, LGEU's part x channel
    weights, jlpose's landmark boxes. Returns ``{title: Figure}``."""
    from reidlab import viz
    from reidlab.viz import attention

    out = {}
    rec = ds.query[query_index]
    for name in models:
        run = ensure_run(cfg, name)
        x, kp = model_input(run, rec)
        if name == "mgwp":
            out["MGWP: tiny spatial attention (TSA) of the four branches"] = attention.plot_tsa_maps(run.model, x)
            out["MGWP: non-local affinity of one position"] = attention.plot_nonlocal_affinity(run.model, x)
        elif name == "lgeu":
            out["LGEU: part x channel weights"] = attention.plot_lgeu_weights(run.model, x)
        elif name == "jlpose":
            import torch

            with torch.no_grad():
                boxes = run.model.explain(x[None].to(cfg.device), keypoints=None if kp is None else kp[None].to(cfg.device))
            out["jlpose: landmarks and the pooled boxes"] = attention.plot_pose_boxes(
                x, kp if kp is not None else torch.zeros(18, 3), boxes.get("part_boxes", [None])[0])
        elif name in ("pfn", "pcb"):
            g = ds.gallery[best_gallery(extract(cfg, run, ds), query_index)]
            out[f"{name}: per-stripe contribution to the best match"] = viz.attention.plot_stripe_contribution(
                run.model, x, model_input(run, g)[0])
    return out


def curve_metrics(run) -> tuple[str, ...]:
    """The columns of a run's ``metrics.csv`` worth plotting: ``loss``, the loss groups
    ``id`` / ``metric`` when they are non-zero, ``lr``, and ``rank1`` when the run was
    evaluated during training."""
    import pandas as pd

    m = run.metrics
    if m is None or not len(m):
        return ("loss",)
    cols = ["loss"]
    for c in ("id", "metric"):  # the loss groups (identification, metric learning)
        if c in m.columns and (pd.to_numeric(m[c], errors="coerce").fillna(0) > 0).any():
            cols.append(c)
    if "lr" in m.columns:
        cols.append("lr")
    if "rank1" in m.columns and pd.to_numeric(m["rank1"], errors="coerce").notna().any():
        cols.append("rank1")
    return tuple(cols)


def pose_boxes(keypoints, size: tuple[int, int]):
    """Head / trunk / lower-limb boxes ``[3, 4]`` (x1, y1, x2, y2 pixels) from ``[18, 3]``
    landmarks of an image of ``size`` (H, W), as the pose-guided model computes them
    (its own function, so the figure shows exactly what the model pools); ``None`` when
    the installed model code does not expose one."""
    import importlib

    import numpy as np
    import torch

    try:
        mod = importlib.import_module("reidlab.models.jlpose")
    except ModuleNotFoundError:
        return None
    for name in ("keypoints_to_boxes", "part_boxes_from_keypoints", "body_part_boxes", "pose_boxes", "landmark_boxes"):
        fn = getattr(mod, name, None)
        if callable(fn):
            kp = torch.as_tensor(np.asarray(keypoints, dtype=np.float32))[None]
            try:
                out = fn(kp, size)
            except TypeError:
                out = fn(kp, *size)
            out = out[0] if hasattr(out, "dim") and out.dim() == 3 else out
            return np.asarray(out.detach().cpu() if hasattr(out, "detach") else out, dtype=np.float32)
    return None
