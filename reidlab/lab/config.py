"""Profiles, project paths and a notebook's resolved configuration.

Profiles (the one table is :data:`PROFILES`; :func:`resolve_profile` returns one entry):

=========  ==============================================================================
smoke      tiny synthetic set (``data/synthreid-small``), a few iterations: for nbval / CI.
demo       the embedded synthetic set (``data/synthreid``), CPU-sized presets, a few minutes
           per model: what ``make demo`` runs (one 2-core machine, <= 20 minutes in all).
full       as demo but the presets' full schedules and three seeds (mean +- std in the
           ablations): a CPU night.
ablations  every paper's ablation table (06 only: ``make ablations``), three seeds, the demo's
           warm-started CPU recipes on short budgets: about 60-66 minutes on 2 cores (the
           estimate is written above :data:`ABLATION_ITERS`).
paper      the papers' recipes (ResNet50, paper input sizes and schedules), three seeds,
           for a GPU and a real benchmark (``--dataset market1501 --data /path``).
=========  ==============================================================================

Paths given to the notebooks (``data_root``, ``output_dir``) may be relative: they are
resolved against the project root (the folder holding ``pyproject.toml`` and ``reidlab/``),
so a notebook runs the same from JupyterLab (cwd ``notebooks/``), papermill or nbval.

Importing this module is light (no torch); :func:`configure` imports torch to seed it.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from reidlab.errors import ConfigError

PathLike = Union[str, os.PathLike]

__all__ = [
    "Profile", "PROFILES", "ABLATION_ITERS", "DATASET_READERS", "PRESET_SCALES", "resolve_profile", "NotebookConfig", "configure",
    "project_root", "resolve_path", "short_path", "report_dir", "run_root", "resolve_device", "seed_everything",
    "profile_table",
]

#: The scales of :mod:`reidlab.presets` a profile can pick (``pfn`` -> ``pfn-cpu-demo``).
PRESET_SCALES: tuple[str, ...] = ("smoke", "cpu-demo", "paper")


@dataclass
class Profile:
    """One profile's settings (a row of :data:`PROFILES`).

    Attributes:
        name, description: the profile's name and one line saying what it is for.
        dataset / data_root: default dataset name and folder (``synthreid`` = the embedded
            synthetic set read with the Market-1501 reader, generated on first use with
            ``reidlab synth`` plus ``synth_args``); ``None``: the user passes ``--data``.
        preset_scale: the scale of :mod:`reidlab.presets` used (one of :data:`PRESET_SCALES`).
        max_iters: training iterations per model (None = the preset's own schedule);
            ``max_iters_by_model`` overrides it per model (slower models get fewer).
        epochs: epochs per model (None = the preset's), used when ``max_iters`` is None.
        ablation_iters: iterations per ablation variant (None: the main run's budget of that
            model, so the full-model variant reuses the 02-05 run).
        ablation_num_seeds: seeds per ablation variant (the notebook's ``seed``, ``seed + 1``...).
        ablation_scope: which variants run (see :mod:`reidlab.lab.ablations`: each variant
            lists the scopes it runs in).
        ablation_studies: the studies 06 runs by default.
        train_overrides: preset overrides applied to every training of the profile.
        seeds: seeds the notebooks use; device: default device (``auto`` = CUDA if available).
        topk: galleries' top-k; max_queries: queries shown by the per-query plots.
        eval_batch: feature-extraction batch size.
    """

    name: str
    description: str
    dataset: str
    data_root: Optional[str]
    preset_scale: str
    synth_args: tuple[str, ...] = ()
    max_iters: Optional[int] = None
    max_iters_by_model: dict[str, int] = field(default_factory=dict)
    epochs: Optional[int] = None
    ablation_iters: Optional[int] = None
    ablation_num_seeds: int = 1
    ablation_scope: str = "full"
    ablation_studies: tuple[str, ...] = ("pfn", "mgwp", "mgwp-branches", "mgwp-size", "lgeu", "jlpose")
    train_overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    topk: int = 10
    max_queries: int = 12
    eval_batch: int = 256

    def iters_for(self, model: str) -> Optional[int]:
        """The profile's training iterations for ``model`` (``None``: the preset's schedule)."""
        return self.max_iters_by_model.get(model, self.max_iters)

    def as_dict(self) -> dict[str, Any]:
        """The profile as a plain dict (a deep copy)."""
        return dataclasses.asdict(self)


# Demo budgets = the cpu-demo presets' own schedules on the default SynthReID (image epochs:
# 40 iterations per epoch at P=16, 81 at P=8, 95 for random batches of 32), so each demo run ends
# with its learning-rate drop; a test checks they agree. The presets start warm (ImageNet
# MobileNetV2, jlpose lab-pretrained; see reidlab.presets). Quiet 2-core training times: pfn ~60 s,
# mgwp ~95 s, lgeu / se / baseline ~40 s, jlpose ~90 s; the ablations reuse these budgets.
#: Training iterations per model of the ``ablations`` profile (``make ablations``: notebook 06
#: alone, every study, 3 seeds, the cpu-demo presets = the demo's warm-started recipes).
#:
#: Time estimate = sum over runs of (iterations x seconds per iteration x 1.15) + evaluation.
#: Seconds per iteration and extraction speeds were measured on 2 cores (PRELIMINARY: machine
#: shared, load 1.2-1.5, under the heavy-job lock; random data, 2 warm-up + 4 timed Adam steps,
#: /tmp/ablate/bench.py): MobileNetV2 backbones -- pfn 0.302 s/it (P16xK4, fp32), lgeu / se /
#: baseline 0.098 (batch 32, fp32), mgwp (P8xK4, bf16) 0.366 at 128x64, 0.549 at 192x64, 0.732 at
#: 192x96, without MSG 0.197 / 0.274 / 0.397; jlpose (Inception w0.5, bf16, 64) 0.216 global only,
#: 0.589 with the local branches. The factor 1.15 is the trainer's data pipeline (the trainer ran
#: ~0.43 s/it where this bench gives 0.37 for MGWP, /work/wt/MEASUREMENTS-warm.md). Evaluation per
#: run = 3,852 images / extraction speed (pfn twice: flip TTA) + ~5 s (load, ranking, ST).
#:
#: ====================  =====  ==========================================================  =======
#: study                 runs   distinct trainings x seeds x iterations                      seconds
#: ====================  =====  ==========================================================  =======
#: pfn                   9      3 x 3 x 100 it (train 313 s + evaluation 120 s)               432
#: mgwp, -branches,      45     15 configurations x 3 x 70 it: 10 with MSG at 128x64, w/o     2122
#: -size                        MSG at 128x64 (shared by three studies), 192x64 and 192x96
#:                              each with and without MSG; 128x64 with MSG = the full model
#:                              (train 1403 s + evaluation 719 s)
#: lgeu                  9      3 x 3 x 190 it (train 193 s + evaluation 72 s)                265
#: jlpose (Table IV)     18     6 x 3 x 80 it: 4 global only, 2 with the local branches       743
#:                              (train 564 s + evaluation 179 s)
#: total                 81                                                                  3562
#: ====================  =====  ==========================================================  =======
#:
#: In all: training 2,473 s + evaluation 1,090 s = 3,562 s, about 59 minutes; plus, once, the
#: lab pretraining of jlpose's Inception backbone when it is not cached (2-6.5 min; ``make demo``
#: caches it) and the notebook's start (~1 min): 60-66 minutes, within 75 with some margin for
#: a machine that is not quiet. Measured 2026-12-03 (fresh clone, quiet): notebook 06 63.6 min,
#: ``make ablations`` 66.5 min wall including the dataset and the jlpose pretraining.
ABLATION_ITERS: dict[str, int] = {"pfn": 100, "mgwp": 70, "lgeu": 190, "se": 190, "baseline": 190, "jlpose": 80}

#: Every profile, by name: THE table.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile(
        name="smoke", description="tiny synthetic set, a few iterations: checks that every notebook runs (nbval)",
        dataset="synthreid", data_root="data/synthreid-small", synth_args=("--small",), preset_scale="smoke",
        ablation_scope="smoke", train_overrides={"model_options.backbone_width": 0.25},
        device="cpu", topk=5, max_queries=4, eval_batch=128,
    ),
    Profile(
        name="demo", description=("embedded synthetic set, warm-started CPU presets (ImageNet MobileNetV2; "
                                 "jlpose lab-pretrained), 1-2 min of fine-tuning each: make demo (<= 20 min on 2 cores)"),
        dataset="synthreid", data_root="data/synthreid", preset_scale="cpu-demo", max_iters=None,
        max_iters_by_model={"pfn": 200, "bot": 200, "mgwp": 243, "lgeu": 380, "se": 380, "baseline": 380,
                            "pcb": 188, "jlpose": 160},
        ablation_scope="demo", ablation_studies=("lgeu",), ablation_num_seeds=2, device="cpu", topk=8, max_queries=8,
    ),
    Profile(
        name="full", description="embedded synthetic set, CPU presets' full schedules, 3 seeds (mean +- std)",
        dataset="synthreid", data_root="data/synthreid", preset_scale="cpu-demo",
        ablation_num_seeds=3, seeds=(0, 1, 2),
    ),
    Profile(
        name="ablations", description="every paper's ablation table, 3 seeds, warm-started CPU recipes: make ablations "
                                      "(~66 min on 2 cores)",
        dataset="synthreid", data_root="data/synthreid", preset_scale="cpu-demo",
        max_iters_by_model=dict(ABLATION_ITERS), ablation_num_seeds=3, ablation_scope="full",
        ablation_studies=("pfn", "mgwp", "mgwp-branches", "mgwp-size", "lgeu", "jlpose"),
        seeds=(0, 1, 2), device="cpu", topk=8, max_queries=8,
    ),
    Profile(
        name="paper", description="the papers' recipes (ResNet50, paper schedules) on a real benchmark; for a GPU",
        dataset="market1501", data_root=None, preset_scale="paper", ablation_num_seeds=3, seeds=(0, 1, 2),
    ),
)}

#: dataset name -> reader name of :func:`reidlab.data.load_dataset`.
DATASET_READERS: dict[str, str] = {
    "synthreid": "market1501",
    "market1501": "market1501",
    "dukemtmc": "dukemtmc",
    "msmt17": "msmt17",
    "cuhk03np": "cuhk03np",
    "folder": "folder",
}


def resolve_profile(name: str) -> Profile:
    """A deep copy of :data:`PROFILES` ``[name]`` (changing it leaves the table alone).

    Raises:
        ConfigError: unknown profile name.
    """
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)} "
                          "(set it with -p profile NAME or REIDLAB_PROFILE)")
    return copy.deepcopy(PROFILES[name])


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
    return Path(__file__).resolve().parents[2]


def resolve_path(p: PathLike, root: Optional[Path] = None) -> Path:
    """``p`` made absolute: ``~`` expanded, relative paths taken from the project root."""
    q = Path(os.path.expanduser(str(p)))
    return q if q.is_absolute() else (root or project_root()) / q


def short_path(p: PathLike) -> str:
    """``p`` relative to the project root when inside it (keeps outputs free of local paths;
    symbolic links are not followed, so ``data/x`` linked elsewhere stays ``data/x``)."""
    try:
        return str(Path(os.path.abspath(p)).relative_to(project_root()))
    except ValueError:
        return str(p)


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
        profile: profile name; ``prof`` its :class:`Profile`.
        seed: training / sampling seed.
        dataset: dataset name (``synthreid``, ``market1501`` ...); ``reader`` its reader.
        data_root: absolute dataset folder.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        output_dir: absolute folder for results files and figures.
        runs_dir: absolute folder of this profile's training runs.
        preset / epochs / max_iters: the notebook's own training parameters (resolved).
        params: every other notebook parameter, as given.
    """

    notebook: str
    profile: str
    prof: Profile
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
        if model_preset.endswith(tuple(f"-{s}" for s in PRESET_SCALES)):
            return model_preset
        return f"{model_preset}-{self.prof.preset_scale}"

    def iters_for(self, model: str) -> Optional[int]:
        """Training iterations for ``model`` (the notebook's ``max_iters`` beats the profile)."""
        if self.max_iters is not None:
            return int(self.max_iters)
        return self.prof.iters_for(model)

    def param(self, name: str) -> Any:
        """A notebook parameter, or the profile's default when it is None / empty
        (``topk`` -> profile ``topk``; ``n_queries`` -> profile ``max_queries``)."""
        v = self.params.get(name)
        if v not in (None, ""):
            return v
        alias = {"n_queries": "max_queries"}.get(name, name)
        if not hasattr(self.prof, alias):
            raise ConfigError(f"no parameter {name!r} and no profile default for it")
        return getattr(self.prof, alias)

    def summary(self):
        """A one-column DataFrame of the resolved settings (shown under the parameters)."""
        import pandas as pd

        rows = {
            "notebook": self.notebook, "profile": f"{self.profile} -- {self.prof.description}",
            "dataset": f"{self.dataset} (reader {self.reader})", "data_root": short_path(self.data_root),
            "device": self.device, "seed": self.seed, "output_dir": short_path(self.output_dir),
            "runs": short_path(self.runs_dir),
        }
        if self.preset:
            iters = self.iters_for(self.preset.split("-")[0])
            rows["preset"] = self.preset_name(self.preset)
            rows["training"] = f"{iters} iterations" if iters else f"{self.epochs or 'preset'} epochs"
        return pd.DataFrame({"value": rows})


def resolve_device(device: Optional[str] = "auto") -> str:
    """:func:`reidlab.device.resolve_device` as a string, for notebook parameters: ``"auto"`` /
    empty -> ``"cuda"`` if available else ``"cpu"``; a device this machine does not have, or a
    string that names no device, raises :class:`ConfigError`."""
    from reidlab.device import resolve_device as torch_device

    return str(torch_device(device))


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and CUDA) with ``seed``."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _data_root(profile: Profile, dataset: str, data_root: PathLike, root: Path) -> Path:
    if data_root:
        return resolve_path(data_root, root)
    if dataset == profile.dataset and profile.data_root:
        return resolve_path(profile.data_root, root)
    if dataset == "synthreid":
        return resolve_path("data/synthreid", root)
    raise ConfigError(f"profile {profile.name!r} with dataset {dataset!r} needs a dataset folder; "
                      f"pass -p data_root /path/to/{dataset} (or DATA=/path with make report)")


def configure(notebook: str, profile: Optional[str] = None, seed: int = 0, dataset: str = "",
              data_root: PathLike = "", device: str = "", output_dir: PathLike = "",
              preset: Optional[str] = None, epochs: Optional[int] = None,
              max_iters: Optional[int] = None, **params: Any) -> NotebookConfig:
    """Resolve a notebook's parameters against its profile (empty values = profile default).

    Also seeds python / numpy / torch with ``seed``, limits torch's CPU threads to
    ``REIDLAB_THREADS`` when set, and creates ``output_dir``. (Notebooks call
    :func:`reidlab.lab.setup`, which does this and loads the dataset.)

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
    dataset = dataset or prof.dataset
    if dataset not in DATASET_READERS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASET_READERS)}")
    root = project_root()
    droot = _data_root(prof, dataset, data_root, root)
    out = resolve_path(output_dir, root) if output_dir else report_dir(profile, root) / "results"
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device or prof.device)
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


def profile_table(profiles: Optional[Mapping[str, Profile]] = None):
    """:data:`PROFILES` as a DataFrame (one row per profile, one column per field)."""
    import pandas as pd

    rows = [p.as_dict() for p in (profiles or PROFILES).values()]
    return pd.DataFrame(rows).set_index("name")
