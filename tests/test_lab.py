"""reidlab.lab: profiles, notebook configuration, results files and tables, checks, ablations."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from reidlab import lab, paper_results
from reidlab.errors import ConfigError
from reidlab.lab import ablations

# ----------------------------------------------------------------------------- profiles


def test_profiles_are_one_table_with_sane_values(tmp_path):
    assert list(lab.PROFILES) == ["smoke", "demo", "full", "ablations", "paper"]
    for name, prof in lab.PROFILES.items():
        assert prof.name == name
        assert prof.preset_scale in ("smoke", "cpu-demo", "paper")
        assert prof.seeds and all(isinstance(s, int) for s in prof.seeds)
        assert prof.ablation_scope in ("smoke", "demo", "full")
        assert set(prof.ablation_studies) <= set(ablations.STUDIES), name
        assert prof.dataset in lab.DATASET_READERS
    assert lab.resolve_profile("smoke").data_root == "data/synthreid-small"
    assert lab.resolve_profile("demo").data_root == "data/synthreid"
    assert lab.resolve_profile("paper").data_root is None
    assert lab.resolve_profile("full").ablation_num_seeds >= 3
    abl = lab.resolve_profile("ablations")
    assert abl.ablation_num_seeds >= 3 and set(abl.ablation_studies) == set(ablations.STUDIES)
    assert abl.preset_scale == "cpu-demo" and abl.ablation_scope == "full"
    assert lab.resolve_profile("demo").ablation_num_seeds >= 2
    demo = lab.resolve_profile("demo")
    assert demo.iters_for("mgwp") == demo.max_iters_by_model["mgwp"]
    assert demo.iters_for("other") == demo.max_iters is None  # no per-model entry: the preset's schedule
    table = lab.profile_table()
    assert list(table.index) == list(lab.PROFILES) and table.loc["demo", "topk"] == demo.topk
    cfg = lab.configure("06", profile="full", seed=3, output_dir=str(tmp_path))
    assert ablations.ablation_seeds(cfg) == [3, 4, 5]
    cfg = lab.configure("06", profile="full", seed=3, output_dir=str(tmp_path), n_seeds=5)
    assert ablations.ablation_seeds(cfg) == [3, 4, 5, 6, 7]
    for bad in (0, "two", 1.5):
        with pytest.raises(ConfigError, match="n_seeds=.* expected a positive integer"):
            ablations.num_seeds(lab.configure("06", profile="full", output_dir=str(tmp_path), n_seeds=bad))


def test_resolve_profile_returns_a_copy_and_rejects_unknown_names():
    p = lab.resolve_profile("demo")
    p.max_iters_by_model["pfn"] = 1
    p.train_overrides["x"] = 1
    assert lab.PROFILES["demo"].max_iters_by_model["pfn"] != 1 and "x" not in lab.PROFILES["demo"].train_overrides
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'; expected one of smoke, demo, full, ablations, paper"):
        lab.resolve_profile("fast")


def test_configure_resolves_paths_against_the_project_root(tmp_path, monkeypatch):
    root = lab.project_root()
    assert (root / "pyproject.toml").is_file() and (root / "reidlab").is_dir()
    monkeypatch.chdir(root / "notebooks")  # as JupyterLab / nbval run a notebook
    cfg = lab.configure("02_pfn", profile="smoke", seed=3, output_dir=str(tmp_path / "out"), preset="pfn")
    assert lab.project_root() == root
    assert cfg.data_root == root / "data" / "synthreid-small"
    assert cfg.reader == "market1501" and cfg.dataset == "synthreid"
    assert cfg.output_dir == tmp_path / "out" and cfg.output_dir.is_dir()
    assert cfg.runs_dir == root / "runs" / "smoke"
    assert cfg.device == "cpu" and cfg.seed == 3
    assert cfg.preset_name("pfn") == "pfn-smoke"
    assert cfg.preset_name("jlpose-0.5-1") == "jlpose-0.5-1-smoke"
    assert cfg.preset_name("lgeu-paper") == "lgeu-paper"
    assert lab.short_path(cfg.data_root) == "data/synthreid-small"  # the symlink is not followed
    summary = cfg.summary()["value"]
    assert summary["preset"] == "pfn-smoke" and summary["data_root"] == "data/synthreid-small"
    cfg2 = lab.configure("02_pfn", profile="demo", data_root="data/elsewhere", output_dir=str(tmp_path), max_iters=7)
    assert cfg2.data_root == root / "data" / "elsewhere"
    assert cfg2.preset_name("pfn") == "pfn-cpu-demo"
    assert cfg2.iters_for("pfn") == 7  # the notebook parameter beats the profile
    cfg3 = lab.configure("03_mgwp", profile="demo", output_dir=str(tmp_path), topk=None, n_queries=3)
    assert cfg3.iters_for("mgwp") == lab.PROFILES["demo"].max_iters_by_model["mgwp"]
    assert cfg3.param("topk") == lab.PROFILES["demo"].topk and cfg3.param("n_queries") == 3
    with pytest.raises(ConfigError, match="no parameter 'nope'"):
        cfg3.param("nope")


def test_configure_profile_from_environment_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDLAB_PROFILE", "smoke")
    assert lab.configure("01", output_dir=str(tmp_path)).profile == "smoke"
    with pytest.raises(ConfigError, match="unknown dataset 'market'"):
        lab.configure("01", dataset="market", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="needs a dataset folder; pass -p data_root"):
        lab.configure("01", profile="paper", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="is not valid"):
        lab.configure("01", device="nonsense", output_dir=str(tmp_path))
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            lab.configure("01", device="cuda", output_dir=str(tmp_path))


def test_random_rank1_matches_a_hand_computed_case():
    # query 1 (cam 0): gallery pid 1 cam 0 is junk, pid 1 cam 1 valid, pid 2, pid -1 junk, pid 0 distractor
    # -> candidates: (1,c1), (2,c0), (0,c1) = 3, positives 1 -> 1/3
    # query 2 (cam 1): candidates all but junk -1: (1,c0),(1,c1),(2,c0),(0,c1) = 4, positives (2,c0) -> 1/4
    q = ([1, 2], [0, 1], [1, 1, 2, -1, 0], [0, 1, 0, 1, 1])
    assert lab.random_rank1(q) == pytest.approx((1 / 3 + 1 / 4) / 2)
    # a query without a valid match is skipped, as evaluation skips it
    assert lab.random_rank1(([1, 3], [0, 0], [1, 1, 2, -1, 0], [0, 1, 0, 1, 1])) == pytest.approx(1 / 3)
    assert lab.random_rank1(([], [], [1], [0])) == 0.0


# ----------------------------------------------------------------------------- atomic files


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    from reidlab.fileio import atomic_write_text

    p = tmp_path / "sub" / "a.json"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.json"]


def test_a_failed_results_write_keeps_the_previous_file(tmp_path, monkeypatch):
    import reidlab.fileio

    cfg = _cfg(tmp_path)
    path = lab.save_results(cfg, [{"model": "m", "setting": "single-query", "rank1": 0.5}])
    before = path.read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(reidlab.fileio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        lab.save_results(cfg, [{"model": "m", "setting": "single-query", "rank1": 0.9}])
    assert path.read_text() == before
    assert sorted(x.name for x in path.parent.iterdir()) == ["02_pfn.results.csv", "02_pfn.results.json"]


# ----------------------------------------------------------------------------- results files and tables


def _cfg(tmp_path, notebook="02_pfn", seed=0):
    return lab.configure(notebook, profile="smoke", seed=seed, output_dir=str(tmp_path / "results"))


def test_save_and_load_results_round_trip(tmp_path):
    cfg = _cfg(tmp_path)
    df = pd.DataFrame({"rank1": [0.5, 0.555], "mAP": [0.3, float("nan")]},
                      index=pd.Index(["single-query", "rerank"], name="setting"))
    path = lab.save_results(cfg, df.assign(model="pfn", group="main"))
    assert path.name == "02_pfn.results.json"
    assert (path.parent / "02_pfn.results.csv").is_file()
    loaded = lab.load_results(path.parent)
    assert len(loaded) == 1 and loaded[0]["profile"] == "smoke" and loaded[0]["notebook"] == "02_pfn"
    rows = loaded[0]["rows"]
    assert [r["setting"] for r in rows] == ["single-query", "rerank"]
    assert rows[1]["rank1"] == 0.555 and rows[1]["mAP"] is None  # NaN -> null, valid JSON
    json.loads(path.read_text())  # strict JSON


def test_load_results_names_a_corrupt_file(tmp_path):
    (tmp_path / "x.results.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"x\.results\.json: not a readable results file"):
        lab.load_results(tmp_path)
    (tmp_path / "x.results.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"x\.results\.json: expected a JSON object with 'rows'"):
        lab.load_results(tmp_path)


def _payloads():
    return [
        {"notebook": "02_pfn", "rows": [
            {"model": "pfn", "setting": "single-query", "rank1": 0.40, "mAP": 0.20, "group": "main"},
            {"model": "pfn", "setting": "st", "rank1": 0.60, "mAP": 0.25, "group": "main"},
            {"model": "pfn", "setting": "rerank", "rank1": 0.44, "mAP": 0.30, "group": "main"}]},
        {"notebook": "04_lgeu", "rows": [
            {"model": "<lgeu>", "setting": "single-query", "rank1": 0.30, "mAP": 0.15, "group": "main"}]},
        {"notebook": "06_ablations", "rows": [
            {"group": "ablation:lgeu", "variant": "baseline", "setting": "single-query", "rank1": 0.10, "mAP": 0.05},
            {"group": "ablation:lgeu", "variant": "baseline", "setting": "single-query", "rank1": 0.14, "mAP": 0.07},
            {"group": "ablation:lgeu", "variant": "lgeu", "setting": "single-query", "rank1": 0.20, "mAP": 0.09}]},
    ]


def test_main_table_pivots_models_by_setting_in_table_order():
    t = lab.results.main_table(_payloads())
    assert list(t.index) == ["pfn", "<lgeu>"]  # notebook order
    # settings in the protocol's order (rerank before st), whatever the rows' order
    assert list(t.columns)[:4] == [("single-query", "rank1"), ("single-query", "mAP"), ("rerank", "rank1"), ("rerank", "mAP")]
    assert t.loc["pfn", ("st", "rank1")] == 0.60
    assert math.isnan(t.loc["<lgeu>", ("rerank", "rank1")])
    shown = lab.percent(t)
    assert shown.loc["pfn", ("st", "rank1")] == 60.0 and t.loc["pfn", ("st", "rank1")] == 0.60  # a copy


def test_ablation_tables_report_mean_and_std_in_percent():
    t = lab.results.ablation_tables(_payloads())["ablation:lgeu"]
    base = t[t["variant"] == "baseline"].iloc[0]
    # mean 12, sample std sqrt(((10-12)^2 + (14-12)^2) / 1) = 2.83
    assert base["rank1"] == "12.0 ± 2.8 (n=2)"
    assert t[t["variant"] == "lgeu"].iloc[0]["rank1"] == "20.0"


def test_percent_scales_only_metric_columns():
    t = pd.DataFrame({"rank1": [0.1234], "mAP": [0.5], "queries": [7]}, index=["st"])
    shown = lab.percent(t)
    assert shown.loc["st", "rank1"] == 12.3 and shown.loc["st", "mAP"] == 50.0 and shown.loc["st", "queries"] == 7


def test_compare_with_paper_puts_both_sides_in_fractions_under_one_setting_name():
    ours = pd.DataFrame({"rank1": [0.2, 0.6], "mAP": [0.1, 0.4]}, index=["single-query", "qe"])
    t = lab.compare_with_paper(ours, "pfn")
    assert list(t.index) == ["single-query", "qe", "st"]  # ours first, then the paper's others
    assert t.loc["single-query", ("paper (Market-1501)", "rank1")] == pytest.approx(0.95)   # PFN Table I: 95.0
    assert t.loc["st", ("paper (Market-1501)", "mAP")] == pytest.approx(0.89)
    assert t.loc["single-query", ("ours (this run)", "rank1")] == 0.2
    assert math.isnan(t.loc["st", ("ours (this run)", "rank1")])
    assert math.isnan(t.loc["qe", ("paper (Market-1501)", "rank1")])
    assert "Table I" in t.loc["single-query", ("paper (Market-1501)", "source")]


def test_describe_settings_is_computed_from_the_table():
    t = pd.DataFrame({"rank1": [0.20, 0.19, 0.35], "mAP": [0.10, 0.14, 0.18]}, index=["single-query", "rerank", "st"])
    text = lab.describe_settings(t)
    assert "**rerank** (k-reciprocal re-ranking): rank-1 19.0 % (down 1.0 points), mAP 14.0 % (up 4.0 points)" in text
    assert "rank-1 35.0 % (up 15.0 points), mAP 18.0 % (up 8.0 points) -- a larger gain on rank-1 than on mAP" in text
    assert "Best mAP here: **st**; best rank-1: **st**" in text
    assert lab.describe_settings(t.drop(index="single-query")) == "_No single-query row to compare with._"


# ----------------------------------------------------------------------------- checks


def test_check_results_ranges_monotony_and_chance(tmp_path, caplog):
    cfg = lab.configure("02_pfn", profile="demo", output_dir=str(tmp_path))
    ok = pd.DataFrame({"rank1": [0.10], "rank5": [0.20], "rank10": [0.30], "mAP": [0.08], "mINP": [0.02],
                       "queries": [5]}, index=["single-query"])
    assert lab.check_results(ok, cfg) == "1 settings checked"
    with pytest.raises(AssertionError, match="single-query: CMC not monotone"):
        lab.check_results(ok.assign(rank5=0.05), cfg)
    with pytest.raises(AssertionError, match=r"single-query: mAP=1.2 outside \[0, 1\]"):
        lab.check_results(ok.assign(mAP=1.2), cfg)
    with pytest.raises(AssertionError, match="single-query: no valid query"):
        lab.check_results(ok.assign(queries=0), cfg)
    assert "rank-1 10.0 % vs 2.00 % for a random ranking" in lab.check_results(ok, cfg, chance=0.02)
    with caplog.at_level("WARNING", logger="reidlab"):
        msg = lab.check_results(ok, cfg, chance=0.5)
    assert "WARNING: single-query rank-1 10.0 % is not above a random ranking's 50.0 %" in msg
    assert "not above a random ranking" in caplog.text  # logged outside smoke, not printed


def test_check_figures():
    from matplotlib.figure import Figure

    blank = Figure()
    blank.subplots().set_axis_off()
    drawn = Figure()
    drawn.subplots().plot([0, 1], [0, 1])
    lab.check_figures(drawn)
    with pytest.raises(AssertionError, match="figure 1: rendered image is uniform"):
        lab.check_figures(drawn, blank)
    with pytest.raises(AssertionError, match="expected a matplotlib Figure"):
        lab.check_figures(None)


# ----------------------------------------------------------------------------- ablations


def test_studies_are_data_and_their_table_shows_them():
    t = ablations.studies_table()
    assert len(t) == sum(len(s.variants) for s in ablations.STUDIES.values())
    row = t.loc[("mgwp", "without TSA")]
    assert row["preset"] == "mgwp" and row["overrides"] == "tsa=False" and row["runs in"] == "smoke, demo, full"
    assert t.loc[("pfn", "global + local"), "settings"] == "single-query, st"
    assert ablations.STUDIES["lgeu"].variant("SE").preset == "se"
    with pytest.raises(ConfigError, match="study 'lgeu' has no variant 'XX'; expected one of baseline, SE, LGEU"):
        ablations.STUDIES["lgeu"].variant("XX")
    assert ablations.Claim.split("global + local|st") == ("global + local", "st")
    assert ablations.Claim.split("LGEU") == ("LGEU", "single-query")


def test_ablation_plan_per_profile(tmp_path):
    smoke = ablations.ablation_plan(lab.configure("06", profile="smoke", output_dir=str(tmp_path)))
    assert smoke.groupby("study").size().to_dict() == {"jlpose": 2, "lgeu": 2, "mgwp": 2, "pfn": 2,
                                                       "mgwp-branches": 3, "mgwp-size": 2}
    # identical trainings share one run folder: smoke trains 6 distinct new configurations
    shared = smoke.set_index(["study", "variant"])["run"]
    assert shared[("mgwp-size", "128x64 w/o MSG")] == shared[("mgwp-branches", "w/o MSG")] \
        == "ablation/mgwp-smoke-multi-scale-false"
    assert shared[("mgwp-size", "128x64 with MSG")] == shared[("mgwp", "full model")] == "mgwp-smoke"
    demo = ablations.ablation_plan(lab.configure("06", profile="demo", output_dir=str(tmp_path)))
    assert set(demo["study"]) == {"lgeu"}
    # every variant trains as long as its model's main run (so the full model reuses it)
    by_model = lab.PROFILES["demo"].max_iters_by_model
    assert list(demo["iterations"]) == [by_model["baseline"], by_model["se"], by_model["lgeu"]]
    pfn = ablations.ablation_plan(lab.configure("06", profile="demo", output_dir=str(tmp_path), studies="pfn"))
    assert list(pfn["variant"]) == ["global only", "local only", "global + local"]
    assert set(pfn["iterations"]) == {by_model["pfn"]}
    full = ablations.ablation_plan(lab.configure("06", profile="full", output_dir=str(tmp_path)))
    assert len(full) == sum(len(s.variants) for s in ablations.STUDIES.values())
    abl = ablations.ablation_plan(lab.configure("06", profile="ablations", output_dir=str(tmp_path)))
    assert len(abl) == len(full) and abl["run"].nunique() == 27   # 31 variants, 27 distinct trainings per seed
    jl = abl[abl["study"] == "jlpose"]
    assert list(jl["preset"]) == [f"{p}-cpu-demo" for p in paper_results.TABLE_PRESETS["jlpose/table4"].values()]
    with pytest.raises(ConfigError, match="unknown study 'pcb'"):
        ablations.ablation_plan(lab.configure("06", profile="demo", output_dir=str(tmp_path), studies="pfn,pcb"))


def test_a_study_not_selected_is_skipped_without_training(tmp_path):
    cfg = lab.configure("06", profile="demo", output_dir=str(tmp_path))  # demo runs lgeu only
    df = ablations.run_study(cfg, "pfn", ds=object())
    assert df.empty and {"study", "variant", "seed", "setting", "rank1"} <= set(df.columns)
    assert "not run in this profile" in ablations.ablation_observations(df, "pfn")
    with pytest.raises(ConfigError, match="unknown ablation study 'pcb'"):
        ablations.run_study(cfg, "pcb")


def test_every_ablation_override_is_a_real_model_option():
    from reidlab.models import model_options
    from reidlab.presets import get_preset

    for name, study in ablations.STUDIES.items():
        names = {v.name for v in study.variants}
        for claim in study.claims:
            assert ablations.Claim.split(claim.better)[0] in names and ablations.Claim.split(claim.worse)[0] in names
            for side in (claim.better, claim.worse):
                assert ablations.Claim.split(side)[1] in study.settings, (name, side)
        for v in study.variants:
            p = get_preset(f"{v.preset}-cpu-demo", **v.overrides)  # raises on an unknown field
            opts = model_options(p.model)
            for key in v.overrides:
                if key.startswith("model_options."):
                    assert key.split(".", 1)[1] in opts, f"{name}/{v.name}: {key} is not an option of {p.model}"
                else:
                    assert hasattr(p, key), f"{name}/{v.name}: {key} is not a preset field"


def test_mgwp_branch_and_size_studies_are_named_as_in_the_paper():
    br = ablations.STUDIES["mgwp-branches"]
    assert [v.name for v in br.variants] == ["C-P2 (branches 1-4)", "w/o branch 1", "w/o branch 2", "w/o branch 3",
                                             "w/o branch 4", "w/o MSG"]
    assert br.variant("w/o branch 1").overrides == {"model_options.ms_branches": [2, 3, 4]}
    assert br.variant("w/o MSG").overrides == {"model_options.multi_scale": False}
    size = ablations.STUDIES["mgwp-size"]
    assert [v.name for v in size.variants] == ["128x64 with MSG", "128x64 w/o MSG", "192x64 with MSG",
                                               "192x64 w/o MSG", "192x96 with MSG", "192x96 w/o MSG"]
    assert size.variant("192x96 w/o MSG").overrides == {"input_size": [192, 96], "model_options.multi_scale": False}
    jl = ablations.STUDIES["jlpose"]
    assert [(v.name, v.preset) for v in jl.variants] == list(paper_results.TABLE_PRESETS["jlpose/table4"].items())


def test_effective_overrides_drop_what_the_preset_already_has(tmp_path):
    cfg = lab.configure("06", profile="demo", output_dir=str(tmp_path))
    size = ablations.STUDIES["mgwp-size"]
    assert ablations.effective_overrides(cfg, size.variant("128x64 with MSG")) == {}
    assert ablations.effective_overrides(cfg, size.variant("128x64 w/o MSG")) == {"model_options.multi_scale": False}
    assert ablations.effective_overrides(cfg, size.variant("192x64 with MSG")) == {"input_size": [192, 64]}


def test_claim_verdicts_use_welch_not_single_runs():
    # the rule itself is tested in test_lab_verdicts.py; here: one seed never decides
    assert ablations.claim_verdict((0.30, math.nan, 1), (0.20, math.nan, 1)) == "inconclusive"
    assert ablations.claim_verdict((0.30, 0.01, 3), (0.20, 0.01, 3)) == "holds"
    assert ablations.claim_verdict((0.30, 0.01, 3), (0.0, 0.0, 0)) == "not run"


def test_ablation_observations_are_computed_from_the_numbers():
    rows = []
    for seed, (b, s, g) in enumerate([(0.10, 0.12, 0.20), (0.12, 0.13, 0.22)]):
        for variant, r1 in (("baseline", b), ("SE", s), ("LGEU", g)):
            rows.append({"study": "lgeu", "variant": variant, "seed": seed, "setting": "single-query",
                         "rank1": r1, "rank5": r1, "rank10": r1, "mAP": r1 / 2, "mINP": 0.01})
    df = pd.DataFrame(rows)
    lines = ablations.ablation_observations(df, "lgeu", as_list=True)
    assert len(lines) == 3
    lgeu_se = next(ln for ln in lines if "'LGEU > SE'" in ln)
    # LGEU 0.20, 0.22 vs SE 0.12, 0.13: t = 0.085 / sqrt(0.0002/2 + 0.00005/2) = 7.60, df = 1.47, p = 0.038
    assert "rank1 21.0 vs 12.5 (+8.5, p = 0.037)" in lgeu_se and "2 seeds: holds." in lgeu_se
    se_base = next(ln for ln in lines if "'SE > baseline'" in ln)
    assert "rank1 12.5 vs 11.0 (+1.5, p = 0.350)" in se_base and "inconclusive" in se_base
    tab = ablations.ablation_table(df)
    assert tab.loc[("lgeu", "baseline", "single-query"), "rank1"] == "11.0 ± 1.4"
    assert ablations.ablation_observations(df).startswith("- [lgeu] LGEU Table 1")
    df.loc[df.variant == "LGEU", "rank1"] = [0.05, 0.06]
    assert "reversed" in next(ln for ln in ablations.ablation_observations(df, "lgeu", as_list=True) if "'LGEU > SE'" in ln)


def test_check_ablations_wants_every_planned_variant_and_seed(tmp_path):
    cfg = lab.configure("06", profile="smoke", output_dir=str(tmp_path), studies="lgeu")
    rows = [{"study": "lgeu", "variant": v.name, "seed": 0, "setting": "single-query",
             **{m: 0.1 for m in lab.METRICS}} for v in ablations.study_variants(cfg, "lgeu")]
    ablations.check_ablations(pd.DataFrame(rows), cfg)
    with pytest.raises(AssertionError, match=re.escape("lgeu/LGEU: seeds set()")):
        ablations.check_ablations(pd.DataFrame(rows[:1]), cfg)
    with pytest.raises(AssertionError, match=r"mAP outside \[0, 1\]"):
        ablations.check_ablations(pd.DataFrame(rows).assign(mAP=12.0), cfg)


# ----------------------------------------------------------------------------- layers


def _reidlab_imports(path) -> set[str]:
    """Every ``reidlab.*`` module a file imports (``from reidlab import lab`` -> ``reidlab.lab``)."""
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("reidlab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reidlab"):
            out.add(node.module)
            if node.module == "reidlab":
                out |= {f"reidlab.{a.name}" for a in node.names}
    return out


def test_layers_viz_below_lab_below_report():
    from pathlib import Path

    import reidlab

    pkg = Path(reidlab.__file__).parent
    for layer, forbidden in (("viz", ("reidlab.lab", "reidlab.report")), ("lab", ("reidlab.report",))):
        for f in sorted((pkg / layer).glob("*.py")):
            bad = [m for m in _reidlab_imports(f) if m.startswith(forbidden)]
            assert not bad, f"{f.relative_to(pkg.parent)} imports {bad}: {layer} must not import a layer above it"


def test_report_cli_and_lab_config_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, reidlab.report.cli, reidlab.lab.config; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lab_names_the_evaluators_settings_and_columns():
    """lab's display names follow reidlab.eval (kept light: lab.results does not import torch)."""
    from reidlab.eval import SETTINGS, TABLE_COLUMNS

    assert tuple(lab.SETTING_NAMES) == tuple(SETTINGS)
    assert lab.METRICS == tuple(TABLE_COLUMNS[:5])

