"""The papers' ablations as data, the runner that trains and evaluates them, and the
verdicts on each paper claim computed from the numbers (notebook 06).

A :class:`Study` is a list of :class:`Variant` s (a preset plus preset overrides, and the
profile scopes that run it), the evaluation settings, and the paper's :class:`Claim` s
("variant A beats variant B"). :data:`STUDIES` is the one table; :func:`studies_table`
shows it. Adding a study or a variant is adding a row there.

Results are long frames: one row per study, variant, seed and setting, with the metrics of
:data:`reidlab.lab.results.METRICS` as fractions.
"""

from __future__ import annotations

import gc
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from reidlab.errors import ConfigError
from reidlab.lab.config import NotebookConfig
from reidlab.lab.results import METRICS

__all__ = ["Variant", "Claim", "Study", "STUDIES", "SINGLE_SEED_NOISE", "studies_table", "selected_studies",
           "study_variants", "ablation_seeds", "variant_iters", "ablation_plan", "run_study", "ablation_table",
           "claim_verdict", "ablation_observations", "concat_ablations", "check_ablations"]

log = logging.getLogger("reidlab")

#: Profile scopes (``Profile.ablation_scope``) that run a variant.
ALL: tuple[str, ...] = ("smoke", "demo", "full")
DEMO: tuple[str, ...] = ("demo", "full")   # not in smoke (keeps nbval fast: two variants per study)
FULL: tuple[str, ...] = ("full",)

#: With one seed, differences below this (a fraction: 2 points) are called inconclusive.
SINGLE_SEED_NOISE = 0.02


@dataclass(frozen=True)
class Variant:
    """One trained configuration of a study: ``preset`` (without scale) plus ``overrides``
    (preset fields, e.g. ``{"model_options.tsa": False}``), run in the profile ``scopes``."""

    name: str
    preset: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] = ALL


@dataclass(frozen=True)
class Claim:
    """A paper's claim "``better`` beats ``worse``", each a variant name, optionally with
    an evaluation setting (``"global + local|st"``; default ``single-query``)."""

    better: str
    worse: str
    source: str

    @staticmethod
    def split(side: str) -> tuple[str, str]:
        """``"variant|setting"`` -> ``(variant, setting)`` (setting default ``single-query``)."""
        variant, _, setting = side.partition("|")
        return variant, setting or "single-query"


@dataclass(frozen=True)
class Study:
    """A paper's ablation: its variants, the settings they are evaluated in, its claims."""

    name: str
    title: str
    settings: tuple[str, ...]
    variants: tuple[Variant, ...]
    claims: tuple[Claim, ...]

    def variant(self, name: str) -> Variant:
        """The variant called ``name`` (ConfigError when there is none)."""
        for v in self.variants:
            if v.name == name:
                return v
        raise ConfigError(f"study {self.name!r} has no variant {name!r}; expected one of "
                          f"{', '.join(v.name for v in self.variants)}")


_COMPLEMENTARY = "PFN text: global and local features are complementary"

#: Every study, by name: THE table of what 06 ablates.
STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("pfn", "PFN: global / local / both", settings=("single-query", "st"), variants=(
        Variant("global only", "pfn", {"model_options.branches": "global"}),
        Variant("local only", "pfn", {"model_options.branches": "local"}, DEMO),
        Variant("global + local", "pfn"),
    ), claims=(
        Claim("global + local", "global only", _COMPLEMENTARY),
        Claim("global + local", "local only", _COMPLEMENTARY),
        Claim("global + local|st", "global + local", "PFN Table I: Ours+ST > Ours"),
    )),
    Study("mgwp", "MGWP: modules and number of parts", settings=("single-query",), variants=(
        Variant("full model", "mgwp"),
        Variant("without non-local", "mgwp", {"model_options.non_local": False}, DEMO),
        Variant("without multi-scale global", "mgwp", {"model_options.multi_scale": False}, DEMO),
        Variant("without TSA", "mgwp", {"model_options.tsa": False}),
        Variant("without weight-driven fusion", "mgwp", {"model_options.part_fusion": False}, DEMO),
        Variant("4 parts", "mgwp", {"model_options.num_parts": 4}, FULL),
        Variant("8 parts", "mgwp", {"model_options.num_parts": 8}, FULL),
    ), claims=(
        Claim("full model", "without non-local", "MGWP ablation: NL helps"),
        Claim("full model", "without multi-scale global", "MGWP ablation: MSG helps"),
        Claim("full model", "without TSA", "MGWP ablation: TSA helps"),
        Claim("full model", "without weight-driven fusion", "MGWP ablation: WDP helps"),
        Claim("full model", "4 parts", "MGWP: 6 parts is optimal"),
        Claim("full model", "8 parts", "MGWP: 6 parts is optimal"),
    )),
    Study("lgeu", "LGEU: baseline / SE / LGEU", settings=("single-query",), variants=(
        Variant("baseline", "baseline"),
        Variant("SE", "se", scopes=DEMO),
        Variant("LGEU", "lgeu"),
    ), claims=(
        Claim("LGEU", "SE", "LGEU Table 1"),
        Claim("SE", "baseline", "LGEU Table 1"),
        Claim("LGEU", "baseline", "LGEU Table 1"),
    )),
    Study("jlpose", "Joint loss: softmax only / three weightings; global vs global + local",
          settings=("single-query",), variants=(
        Variant("baseline (global, softmax)", "jlpose-softmax", {"model_options.local_branches": False}),
        Variant("global + local (softmax)", "jlpose-softmax", scopes=DEMO),
        Variant("joint 1:0.5", "jlpose-1-0.5", scopes=DEMO),
        Variant("joint 1:1", "jlpose"),
        Variant("joint 0.5:1", "jlpose-0.5-1", scopes=DEMO),
    ), claims=(
        Claim("global + local (softmax)", "baseline (global, softmax)", "Table IV: Global+Local > baseline"),
        Claim("joint 1:0.5", "global + local (softmax)", "Table IV: joint loss > softmax"),
        Claim("joint 1:1", "global + local (softmax)", "Table IV: joint loss > softmax"),
        Claim("joint 1:1", "baseline (global, softmax)", "Table IV: joint loss with the local branches > baseline"),
        Claim("joint 0.5:1", "baseline (global, softmax)", "Table IV: whole architecture (0.5:1) > baseline"),
        Claim("joint 0.5:1", "global + local (softmax)", "Table IV: joint loss > softmax"),
    )),
)}


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in overrides.items()) or "-"


def studies_table(studies: Optional[Sequence[str]] = None):
    """What the studies ablate: one row per study and variant with its preset, overrides,
    the profiles' scopes that run it, and the settings it is evaluated in."""
    import pandas as pd

    rows = []
    for name in studies or STUDIES:
        st = _study(name)
        for v in st.variants:
            rows.append({"study": name, "variant": v.name, "preset": v.preset, "overrides": _overrides_text(v.overrides),
                         "runs in": ", ".join(v.scopes), "settings": ", ".join(st.settings)})
    return pd.DataFrame(rows).set_index(["study", "variant"])


def _study(name: str) -> Study:
    if name not in STUDIES:
        raise ConfigError(f"unknown ablation study {name!r}; expected one of {', '.join(STUDIES)}")
    return STUDIES[name]


def selected_studies(cfg: NotebookConfig) -> list[str]:
    """The studies this notebook runs: the ``studies`` parameter (comma-separated), else the
    profile's ``ablation_studies``."""
    raw = cfg.params.get("studies") or ",".join(cfg.prof.ablation_studies) or ",".join(STUDIES)
    names = [s.strip() for s in str(raw).split(",") if s.strip()]
    for s in names:
        if s not in STUDIES:
            raise ConfigError(f"studies={raw!r}: unknown study {s!r}; expected a comma-separated subset of "
                              f"{', '.join(STUDIES)}")
    return names


def study_variants(cfg: NotebookConfig, study: str) -> list[Variant]:
    """The variants of ``study`` that the profile's ``ablation_scope`` runs."""
    return [v for v in _study(study).variants if cfg.prof.ablation_scope in v.scopes]


def ablation_seeds(cfg: NotebookConfig) -> list[int]:
    """Seeds of every variant: the notebook's ``seed``, ``seed + 1``, ... (the profile's
    ``ablation_num_seeds`` of them), so the first one is the seed of the main runs."""
    return [cfg.seed + i for i in range(int(cfg.prof.ablation_num_seeds))]


def variant_iters(cfg: NotebookConfig, preset: str) -> Optional[int]:
    """Iterations of a variant: the notebook's ``max_iters``, else the profile's
    ``ablation_iters``, else the main run's budget for that model."""
    if cfg.max_iters is not None:
        return int(cfg.max_iters)
    if cfg.prof.ablation_iters is not None:
        return int(cfg.prof.ablation_iters)
    return cfg.iters_for(preset.split("-")[0])


def ablation_plan(cfg: NotebookConfig):
    """DataFrame of what 06 will train: study, variant, preset, overrides, seeds, iterations."""
    import pandas as pd

    rows = []
    for study in selected_studies(cfg):
        for v in study_variants(cfg, study):
            iters = variant_iters(cfg, v.preset)
            rows.append({"study": study, "variant": v.name, "preset": cfg.preset_name(v.preset),
                         "overrides": _overrides_text(v.overrides), "seeds": ", ".join(map(str, ablation_seeds(cfg))),
                         "iterations": iters or "preset schedule"})
    return pd.DataFrame(rows)


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", "".join(ch if ch.isalnum() else "-" for ch in text.lower())).strip("-")


def _empty():
    import pandas as pd

    return pd.DataFrame(columns=["group", "study", "variant", "seed", "setting", *METRICS])


def run_variant(cfg: NotebookConfig, study: str, variant: Variant, seed: int, settings: Sequence[str]) -> list[dict]:
    """Train (or reuse) one variant with one seed and evaluate it: one row per setting.

    A variant identical to a main notebook run (no overrides, same iterations) reuses that
    run; the others live in ``runs/<profile>/ablation/<study>-<variant>-<preset>-seed<s>``.
    """
    from reidlab.lab.session import ensure_run, evaluation

    iters = variant_iters(cfg, variant.preset)
    same_as_main = not variant.overrides and iters == cfg.iters_for(variant.preset.split("-")[0])
    name = None if same_as_main else f"ablation/{study}-{_slug(variant.name)}-{cfg.preset_name(variant.preset)}"
    log.info("[%s] %s (seed %d)", study, variant.name, seed)
    run = ensure_run(cfg, variant.preset, seed=seed, max_iters=iters, overrides=variant.overrides, name=name,
                     progress=False)
    table = evaluation(cfg, run).table(list(settings))
    rows = [{"group": f"ablation:{study}", "study": study, "variant": variant.name, "seed": seed, "setting": s,
             **{m: float(r[m]) for m in METRICS}} for s, r in table.iterrows()]
    del run
    gc.collect()
    return rows


def run_study(cfg: NotebookConfig, study: str, ds=None):
    """Train (or reuse) and evaluate every variant of ``study`` for every ablation seed.

    Settings the dataset cannot support (``st`` without frame numbers) are left out. A
    study not among :func:`selected_studies` is skipped (an empty frame, logged).

    Returns:
        long DataFrame: ``group`` (``ablation:<study>``), ``study``, ``variant``, ``seed``,
        ``setting`` and the metrics (fractions).
    """
    import pandas as pd

    spec = _study(study)
    if study not in selected_studies(cfg):
        log.info("[%s] not among this run's studies (%s): skipped", study, ", ".join(selected_studies(cfg)))
        return _empty()
    if ds is None:
        from reidlab.lab.session import ensure_dataset

        ds = ensure_dataset(cfg)
    settings = [s for s in spec.settings if not (s.startswith("st") and ds.train[0].frame is None)]
    rows = [row for seed in ablation_seeds(cfg) for v in study_variants(cfg, study)
            for row in run_variant(cfg, study, v, seed, settings)]
    return pd.DataFrame(rows)


def ablation_table(df, metrics: Sequence[str] = ("rank1", "mAP", "mINP")):
    """Mean (and ``± std`` over seeds when there are several) per study, variant and
    setting, in percent as strings (a display table), in the order the variants ran."""
    import pandas as pd

    if df is None or len(df) == 0:
        return pd.DataFrame()
    keys = ["study", "variant", "setting"]
    out = []
    for key, s in df.groupby(keys, sort=False):
        rec = dict(zip(keys, key))
        for m in metrics:
            vals = s[m].astype(float) * 100
            rec[m] = f"{vals.mean():.1f} ± {vals.std(ddof=1):.1f}" if len(vals) > 1 else f"{vals.mean():.1f}"
        rec["seeds"] = len(s)
        out.append(rec)
    return pd.DataFrame(out).set_index(keys)


def _stat(df, study: str, variant: str, setting: str, metric: str) -> tuple[float, float, int]:
    """(mean, std, n) of ``metric`` over the seeds of one variant in one setting."""
    s = df[(df["study"] == study) & (df["variant"] == variant) & (df["setting"] == setting)][metric].astype(float)
    if len(s) == 0:
        return math.nan, math.nan, 0
    return float(s.mean()), float(s.std(ddof=1)) if len(s) > 1 else math.nan, len(s)


def claim_verdict(a: tuple[float, float, int], b: tuple[float, float, int],
                  single_seed_noise: float = SINGLE_SEED_NOISE) -> str:
    """``holds`` / ``reversed`` / ``inconclusive`` (or ``not run``) for "a > b", given
    (mean, std, n) of each.

    With several seeds the difference of the means must exceed the larger of the two
    standard deviations; with one seed it must exceed ``single_seed_noise`` (same unit as
    the means: fractions by default).
    """
    (ma, sa, na), (mb, sb, nb) = a, b
    if na == 0 or nb == 0 or math.isnan(ma) or math.isnan(mb):
        return "not run"
    noise = max(x for x in (sa, sb, 0.0) if not math.isnan(x)) if min(na, nb) > 1 else single_seed_noise
    d = ma - mb
    if d > noise:
        return "holds"
    if d < -noise:
        return "reversed"
    return "inconclusive"


def _claim_sentence(df, study: str, claim: Claim, metric: str) -> Optional[str]:
    va, sa = Claim.split(claim.better)
    vb, sb = Claim.split(claim.worse)
    ra, rb = _stat(df, study, va, sa, metric), _stat(df, study, vb, sb, metric)
    if ra[2] == 0 or rb[2] == 0:
        return None
    ma, mb = _stat(df, study, va, sa, "mAP"), _stat(df, study, vb, sb, "mAP")
    name_a = va + (f" ({sa})" if sa != "single-query" else "")
    name_b = vb + (f" ({sb})" if sb != "single-query" else "")
    v1, v2 = claim_verdict(ra, rb), claim_verdict(ma, mb)
    verdict = v1 if v1 == v2 else f"{v1} on {metric}, {v2} on mAP"
    n = min(ra[2], rb[2])
    pa, pb, qa, qb = 100 * ra[0], 100 * rb[0], 100 * ma[0], 100 * mb[0]
    return (f"[{study}] {claim.source} -- claim '{name_a} > {name_b}': here {metric} {pa:.1f} vs {pb:.1f} "
            f"({pa - pb:+.1f}), mAP {qa:.1f} vs {qb:.1f} ({qa - qb:+.1f}), {n} seed{'s' if n > 1 else ''}: {verdict}.")


def ablation_observations(df, study: Optional[str] = None, as_list: bool = False, metric: str = "rank1"):
    """What the numbers say about each paper claim of ``study`` (all studies run when None).

    Each claim "A > B" is tested on the mean ``metric`` and mAP over seeds with
    :func:`claim_verdict`; the sentence gives both values in percent, the difference and
    the verdict. Returns Markdown (a bullet list) or, with ``as_list``, the sentences.
    """
    run = set(df["study"]) if len(df) else set()
    studies = [study] if study else [s for s in STUDIES if s in run]
    lines = [ln for st in studies for c in _study(st).claims if (ln := _claim_sentence(df, st, c, metric))]
    if as_list:
        return lines
    if not lines:
        if study and study not in run:
            return (f"_Study `{study}` not run in this profile (parameter `studies`); run it with "
                    f"`-p studies {study}` or in the `full` profile._")
        return "_No claim could be tested (variants missing)._"
    return "\n".join(f"- {ln}" for ln in lines)


def concat_ablations(*frames):
    """The studies' result frames in one (empty frames of skipped studies are dropped)."""
    import pandas as pd

    frames = [f for f in frames if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def check_ablations(df, cfg: NotebookConfig) -> None:
    """Assert every planned variant has rows for every seed, with metrics in [0, 1]."""
    assert len(df) > 0 or not selected_studies(cfg), "no ablation results"
    for m in METRICS:
        assert df[m].astype(float).between(0, 1).all(), f"{m} outside [0, 1]"
    for study in selected_studies(cfg):
        for v in study_variants(cfg, study):
            got = df[(df["study"] == study) & (df["variant"] == v.name)]
            assert set(got["seed"]) == set(ablation_seeds(cfg)), f"{study}/{v.name}: seeds {set(got['seed'])}"
