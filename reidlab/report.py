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
import hashlib
import html
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from reidlab.errors import ConfigError, DatasetError

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
#:   ablation_iters: iterations per ablation variant; ablation_seeds: seeds per variant.
#:   seeds: seeds the notebooks use; device: default device ("auto" = cuda if available).
#:   topk: galleries' top-k; max_queries: queries shown/used by the heavy per-query plots.
#:   eval_batch: feature-extraction batch size.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        dataset="synthreid", data_root="data/synthreid-small", synth_args=["--small"],
        preset_scale="smoke", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=2, ablation_seeds=[0], ablation_scope="smoke",
        seeds=[0], device="cpu", topk=5, max_queries=4, eval_batch=128,
        description="tiny synthetic set, a few iterations: checks that every notebook runs (nbval)",
    ),
    "demo": dict(
        dataset="synthreid", data_root="data/synthreid", synth_args=[],
        preset_scale="cpu-demo", max_iters=150, max_iters_by_model={"mgwp": 110},
        epochs=None, ablation_iters=60, ablation_seeds=[0], ablation_scope="demo",
        seeds=[0], device="cpu", topk=8, max_queries=8, eval_batch=256,
        description="embedded synthetic set, CPU presets, short schedules: make demo (<= 20 min on 2 cores)",
    ),
    "full": dict(
        dataset="synthreid", data_root="data/synthreid", synth_args=[],
        preset_scale="cpu-demo", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=None, ablation_seeds=[0, 1, 2], ablation_scope="full",
        seeds=[0, 1, 2], device="auto", topk=10, max_queries=12, eval_batch=256,
        description="embedded synthetic set, CPU presets' full schedules, 3 seeds (mean +- std)",
    ),
    "paper": dict(
        dataset="market1501", data_root=None, synth_args=[],
        preset_scale="paper", max_iters=None, max_iters_by_model={}, epochs=None,
        ablation_iters=None, ablation_seeds=[0, 1, 2], ablation_scope="full",
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

def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, fsync,
    then ``os.replace``. A reader sees the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


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
    return piv[order]


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
                      log=None) -> list[dict[str, Any]]:
    """Execute ``notebooks`` in order with papermill (kernel ``python3`` = this Python),
    write each executed notebook and its HTML into ``out_dir``, print one progress line per
    notebook, and return the per-notebook status list for :func:`build_index`.

    Every notebook gets ``profile``, ``output_dir`` (= ``<out_dir>/results``) and the given
    ``parameters`` (e.g. ``dataset``, ``data_root``, ``device``, ``seed``). A failing
    notebook is recorded (its partly executed copy is kept) and the next one runs.
    """
    import papermill as pm

    log = log or (lambda msg: print(msg, flush=True))
    root = project_root()
    nb_dir = root / "notebooks"
    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "output_dir": str(out / "results"), **dict(parameters or {})}
    status = []
    t_all = time.monotonic()
    for i, name in enumerate(notebooks, 1):
        src = _notebook_path(name, nb_dir)
        dst = out / src.name
        t0 = time.monotonic()
        rec: dict[str, Any] = {"notebook": src.stem, "ok": True, "seconds": 0.0}
        try:
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
        params["data_root"] = str(resolve_path(args.data, root))
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
    }})
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
