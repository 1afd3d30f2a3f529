"""reidlab.report and reidlab.paper_results: profiles, paper tables, results files, index.html."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reidlab import paper_results, report
from reidlab.errors import ConfigError

PAPERS_DIR = Path("/work/shared/papers")


# ----------------------------------------------------------------------------- profiles

def test_every_profile_has_the_same_keys_and_sane_values(tmp_path):
    keys = None
    for name in report.PROFILES:
        prof = report.resolve_profile(name)
        assert prof["name"] == name
        k = set(prof) - {"name"}
        keys = k if keys is None else keys
        assert k == keys, f"profile {name} differs in keys: {k ^ keys}"
        assert prof["preset_scale"] in ("smoke", "cpu-demo", "paper")
        assert prof["seeds"] and all(isinstance(s, int) for s in prof["seeds"])
        assert prof["ablation_scope"] in ("smoke", "demo", "full")
        assert set(prof["ablation_studies"].split(",")) <= set(report.ABLATIONS)
    assert report.resolve_profile("smoke")["data_root"] == "data/synthreid-small"
    assert report.resolve_profile("demo")["data_root"] == "data/synthreid"
    assert report.resolve_profile("paper")["data_root"] is None
    assert report.resolve_profile("full")["ablation_num_seeds"] >= 3
    assert report.ablation_seeds(report.setup("06", profile="full", seed=3, output_dir=str(tmp_path))) == [3, 4, 5]


def test_resolve_profile_returns_a_copy_and_rejects_unknown_names():
    p = report.resolve_profile("demo")
    p["seeds"].append(99)
    assert 99 not in report.PROFILES["demo"]["seeds"]
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'; expected one of smoke, demo, full, paper"):
        report.resolve_profile("fast")


def test_setup_resolves_paths_against_the_project_root(tmp_path, monkeypatch):
    root = report.project_root()
    assert (root / "pyproject.toml").is_file() and (root / "reidlab").is_dir()
    monkeypatch.chdir(root / "notebooks")  # as JupyterLab / nbval run a notebook
    cfg = report.setup("02_pfn", profile="smoke", seed=3, output_dir=str(tmp_path / "out"), preset="pfn")
    assert cfg.data_root == root / "data" / "synthreid-small"
    assert cfg.reader == "market1501" and cfg.dataset == "synthreid"
    assert cfg.output_dir == tmp_path / "out" and cfg.output_dir.is_dir()
    assert cfg.runs_dir == root / "runs" / "smoke"
    assert cfg.device == "cpu" and cfg.seed == 3
    assert cfg.preset_name("pfn") == "pfn-smoke"
    assert cfg.preset_name("jlpose-0.5-1") == "jlpose-0.5-1-smoke"
    assert cfg.preset_name("lgeu-paper") == "lgeu-paper"
    cfg2 = report.setup("02_pfn", profile="demo", data_root="data/elsewhere", output_dir=str(tmp_path), max_iters=7)
    assert cfg2.data_root == root / "data" / "elsewhere"
    assert cfg2.preset_name("pfn") == "pfn-cpu-demo"
    assert cfg2.iters_for("pfn") == 7  # the notebook parameter beats the profile
    cfg3 = report.setup("03_mgwp", profile="demo", output_dir=str(tmp_path))
    assert cfg3.iters_for("mgwp") == report.PROFILES["demo"]["max_iters_by_model"]["mgwp"]
    assert cfg3.iters_for("bot") == report.PROFILES["demo"]["max_iters"]  # no per-model entry


def test_setup_profile_from_environment_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("REIDLAB_PROFILE", "smoke")
    assert report.setup("01", output_dir=str(tmp_path)).profile == "smoke"
    with pytest.raises(ConfigError, match="unknown dataset 'market'"):
        report.setup("01", dataset="market", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="needs a dataset folder; pass -p data_root"):
        report.setup("01", profile="paper", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="CUDA is not available|not a torch device"):
        if not __import__("torch").cuda.is_available():
            report.setup("01", device="cuda", output_dir=str(tmp_path))
        else:  # pragma: no cover - GPU machines
            report.setup("01", device="nonsense", output_dir=str(tmp_path))


def test_random_rank1_matches_a_hand_computed_case():
    # query 1 (cam 0): gallery pid 1 cam 0 is junk, pid 1 cam 1 valid, pid 2, pid -1 junk, pid 0 distractor
    # -> candidates: (1,c1), (2,c0), (0,c1) = 3, positives 1 -> 1/3
    # query 2 (cam 1): candidates all but junk -1: (1,c0),(1,c1),(2,c0),(0,c1) = 4, positives (2,c0) -> 1/4
    q = ([1, 2], [0, 1], [1, 1, 2, -1, 0], [0, 1, 0, 1, 1])
    assert report.random_rank1(q) == pytest.approx(100 * (1 / 3 + 1 / 4) / 2)


# ----------------------------------------------------------------------------- paper tables

def test_every_paper_table_parses_with_its_row_count():
    for key, t in paper_results.TABLES.items():
        df = paper_results.paper_table(key)
        n_lines = len([ln for ln in t.tsv.strip().splitlines() if ln.strip()])
        assert len(df) == n_lines - 1, key
        assert df.index.is_unique, key
        assert df.attrs["table"] == t.table
    lg = paper_results.paper_table("lgeu/table1")
    assert isinstance(lg.columns, pd.MultiIndex)
    assert lg.loc["LGEU", ("Market", "R1")] == 90.0 and lg.loc["Baseline", ("Duke", "mAP")] == 57.4
    pfn = paper_results.paper_table("pfn/table1")
    assert math.isnan(pfn.loc["KLFDA", "mAP"])  # printed '-'
    assert pfn.loc["Ours+ST", "R1"] == 98.0


def test_headline_rows_per_setting():
    h = paper_results.headline("pfn")
    assert list(h.index) == ["plain", "st"]
    assert h.loc["plain", "R1"] == 95.0 and h.loc["plain", "mAP"] == 87.4 and h.loc["st", "mAP"] == 89.0
    h = paper_results.headline("lgeu")
    assert h.loc["rerank", "mAP"] == 88.0
    assert paper_results.headline("jlpose").loc["plain", "R1"] == 86.10
    with pytest.raises(ConfigError, match="unknown paper 'pcb'"):
        paper_results.headline("pcb")
    with pytest.raises(ConfigError, match="unknown table 'lgeu/table9'"):
        paper_results.paper_table("lgeu/table9")


def test_ordering_of_published_rows():
    assert paper_results.ordering("lgeu/table1", ["Baseline", "SE", "LGEU"], "R1", group="Market") == ["LGEU", "SE", "Baseline"]
    assert paper_results.ordering("jlpose/table4", ["Softmax+Triplet 1:0.5", "Softmax+Triplet 1:1", "Softmax+Triplet 0.5:1"],
                                  "R1") == ["Softmax+Triplet 0.5:1", "Softmax+Triplet 1:1", "Softmax+Triplet 1:0.5"]


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason="paper texts not on this machine")
def test_transcribed_numbers_appear_in_the_paper_texts():
    """Every transcribed row's numbers occur, in order, on one line of its paper's text."""
    files = {"pfn": "pfn-part-based-fusion-network.md", "lgeu": "lgeu-local-global-extraction-unit.md",
             "jlpose": "jlpose-joint-loss-pose-guided.md", "mgwp": "mgwp-multiscale-global-weight-driven-part.md"}
    for key, t in paper_results.TABLES.items():
        if key.startswith("st/"):
            text = (PAPERS_DIR / "README.md").read_text()
        else:
            text = (PAPERS_DIR / files[t.paper]).read_text()
        lines = [re.sub(r"</?[bu]>", "", ln) for ln in text.splitlines()]
        for row in t.tsv.strip().splitlines()[1:]:
            nums = [c for c in row.split("\t")[1:] if re.fullmatch(r"\d+\.\d+", c)]
            pattern = r".*?".join(re.escape(n) for n in nums)
            assert any(re.search(pattern, ln) for ln in lines), f"{key}: row {row!r} not found in the paper text"


# ----------------------------------------------------------------------------- atomic files

def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "sub" / "a.json"
    report.atomic_write_text(p, "one")
    report.atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.json"]


def test_atomic_write_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "a.json"
    report.atomic_write_text(p, "old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        report.atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]


def _cfg(tmp_path, notebook="02_pfn", seed=0):
    return report.setup(notebook, profile="smoke", seed=seed, output_dir=str(tmp_path / "results"))


def test_save_and_load_results_round_trip(tmp_path):
    cfg = _cfg(tmp_path)
    df = pd.DataFrame({"R1": [50.0, 55.5], "mAP": [30.0, float("nan")]}, index=pd.Index(["plain", "rerank"], name="setting"))
    path = report.save_results(cfg, df.assign(model="pfn", group="main"))
    assert path.name == "02_pfn.results.json"
    assert (path.parent / "02_pfn.results.csv").is_file()
    loaded = report.load_results(path.parent)
    assert len(loaded) == 1 and loaded[0]["profile"] == "smoke" and loaded[0]["notebook"] == "02_pfn"
    rows = loaded[0]["rows"]
    assert [r["setting"] for r in rows] == ["plain", "rerank"]
    assert rows[1]["R1"] == 55.5 and rows[1]["mAP"] is None  # NaN -> null, valid JSON
    json.loads(path.read_text())  # strict JSON


def test_load_results_names_a_corrupt_file(tmp_path):
    (tmp_path / "x.results.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"x\.results\.json: not a readable results file"):
        report.load_results(tmp_path)


# ----------------------------------------------------------------------------- index.html

def _fake_report(tmp_path):
    res = tmp_path / "results"
    c2 = report.setup("02_pfn", profile="smoke", output_dir=str(res))
    report.save_results(c2, [
        {"model": "pfn", "setting": "plain", "R1": 40.0, "mAP": 20.0, "group": "main"},
        {"model": "pfn", "setting": "rerank", "R1": 44.0, "mAP": 30.0, "group": "main"},
        {"model": "pfn", "setting": "st", "R1": 60.0, "mAP": 25.0, "group": "main"},
    ])
    c4 = report.setup("04_lgeu", profile="smoke", output_dir=str(res))
    report.save_results(c4, [
        {"model": "<lgeu>", "setting": "plain", "R1": 30.0, "mAP": 15.0, "group": "main"},
    ])
    c6 = report.setup("06_ablations", profile="smoke", output_dir=str(res))
    report.save_results(c6, [
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "plain", "seed": 0, "R1": 10.0, "mAP": 5.0},
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "plain", "seed": 1, "R1": 14.0, "mAP": 7.0},
        {"group": "ablation:lgeu", "variant": "lgeu", "setting": "plain", "seed": 0, "R1": 20.0, "mAP": 9.0},
    ], extra={"observations": ["LGEU beats the baseline by 8.0 rank-1 points"]})
    (tmp_path / "02_pfn.ipynb").write_text("{}")
    (tmp_path / "02_pfn.html").write_text("<html></html>")
    return tmp_path


def test_main_table_pivots_models_by_setting(tmp_path):
    folder = _fake_report(tmp_path)
    t = report.main_table(report.load_results(folder / "results"))
    assert list(t.index) == ["pfn", "<lgeu>"]  # notebook order
    assert list(t.columns)[:4] == [("plain", "R1"), ("plain", "mAP"), ("rerank", "R1"), ("rerank", "mAP")]
    assert t.loc["pfn", ("st", "R1")] == 60.0
    assert math.isnan(t.loc["<lgeu>", ("rerank", "R1")])


def test_ablation_tables_report_mean_and_std():
    payloads = [{"notebook": "06", "rows": [
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "plain", "R1": 10.0, "mAP": 5.0},
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "plain", "R1": 14.0, "mAP": 7.0},
        {"group": "ablation:lgeu", "variant": "lgeu", "setting": "plain", "R1": 20.0, "mAP": 9.0}]}]
    t = report.ablation_tables(payloads)["ablation:lgeu"]
    base = t[t["variant"] == "baseline"].iloc[0]
    # mean 12, sample std sqrt(((10-12)^2 + (14-12)^2) / 1) = 2.83
    assert base["R1"] == "12.0 ± 2.8 (n=2)"
    assert t[t["variant"] == "lgeu"].iloc[0]["R1"] == "20.0"


def test_build_index_gathers_results_links_and_status(tmp_path):
    folder = _fake_report(tmp_path)
    status = [{"notebook": "02_pfn", "ok": True, "seconds": 61.0},
              {"notebook": "03_mgwp", "ok": False, "seconds": 3.0, "error": "ValueError: <bad>"}]
    index = report.build_index(folder, status, title="t", profile="smoke")
    html_text = index.read_text()
    assert index == folder / "index.html"
    assert "<a href='02_pfn.html'>html</a>" in html_text and "<a href='02_pfn.ipynb'>ipynb</a>" in html_text
    assert "03_mgwp.html" not in html_text  # no link to a file that does not exist
    assert "failed" in html_text and "ValueError: &lt;bad&gt;" in html_text
    assert "&lt;lgeu&gt;" in html_text and "<lgeu>" not in html_text  # escaped
    main = html_text.split("<h2>Results")[1].split("<h2>")[0]
    row = re.search(r"<th>pfn</th>(.*?)</tr>", main, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[:6] == ["40.0", "20.0", "44.0", "30.0", "60.0", "25.0"]
    assert "12.0 ± 2.8 (n=2)" in html_text
    assert "LGEU beats the baseline by 8.0 rank-1 points" in html_text
    assert "95.0" in html_text  # the paper's PFN rank-1, labelled as the paper's
    assert not list(folder.glob(".index.html.*"))  # atomic: no temporary left


def test_build_index_without_results(tmp_path):
    index = report.build_index(tmp_path, [], title="empty", profile="demo")
    assert "No results files found" in index.read_text()


# ----------------------------------------------------------------------------- ablations

def test_ablation_plan_per_profile(tmp_path):
    smoke = report.ablation_plan(report.setup("06", profile="smoke", output_dir=str(tmp_path)))
    assert smoke.groupby("study").size().to_dict() == {"jlpose": 2, "lgeu": 2, "mgwp": 2, "pfn": 2}
    demo = report.ablation_plan(report.setup("06", profile="demo", output_dir=str(tmp_path)))
    assert set(demo["study"]) == {"lgeu"}
    # every variant trains as long as its model's main run (so the full model reuses it)
    by_model = report.PROFILES["demo"]["max_iters_by_model"]
    assert list(demo["iterations"]) == [by_model["baseline"], by_model["se"], by_model["lgeu"]]
    pfn = report.ablation_plan(report.setup("06", profile="demo", output_dir=str(tmp_path), studies="pfn"))
    assert list(pfn["variant"]) == ["global only", "local only", "global + local"]
    assert set(pfn["iterations"]) == {by_model["pfn"]}
    full = report.ablation_plan(report.setup("06", profile="full", output_dir=str(tmp_path)))
    assert len(full) == sum(len(s["variants"]) for s in report.ABLATIONS.values())
    with pytest.raises(ConfigError, match="unknown study 'pcb'"):
        report.ablation_plan(report.setup("06", profile="demo", output_dir=str(tmp_path), studies="pfn,pcb"))


def test_every_ablation_override_is_a_real_model_option():
    from reidlab.models import model_options
    from reidlab.presets import get_preset

    for study, spec in report.ABLATIONS.items():
        names = {v["variant"] for v in spec["variants"]}
        for better, worse, _ in spec["claims"]:
            assert better.split("|")[0] in names and worse.split("|")[0] in names, (study, better, worse)
        for v in spec["variants"]:
            p = get_preset(f"{v['preset']}-cpu-demo", **v["overrides"])  # raises on an unknown field
            opts = model_options(p.model)
            for key in v["overrides"]:
                assert key.split(".", 1)[1] in opts, f"{study}/{v['variant']}: {key} is not an option of {p.model}"


def test_claim_verdicts():
    # one seed: differences within SINGLE_SEED_NOISE points are inconclusive
    assert report.claim_verdict((30.0, math.nan, 1), (27.0, math.nan, 1)) == "holds"
    assert report.claim_verdict((30.0, math.nan, 1), (29.0, math.nan, 1)) == "inconclusive"
    assert report.claim_verdict((25.0, math.nan, 1), (29.0, math.nan, 1)) == "reversed"
    # several seeds: the difference must exceed the larger standard deviation
    assert report.claim_verdict((30.0, 1.0, 3), (28.5, 2.0, 3)) == "inconclusive"
    assert report.claim_verdict((30.0, 1.0, 3), (27.5, 2.0, 3)) == "holds"
    assert report.claim_verdict((30.0, 1.0, 3), (0.0, 0.0, 0)) == "not run"


def test_ablation_observations_are_computed_from_the_numbers():
    rows = []
    for seed, (b, s, l) in enumerate([(10.0, 12.0, 20.0), (12.0, 12.0, 22.0)]):
        for variant, r1 in (("baseline", b), ("SE", s), ("LGEU", l)):
            rows.append({"study": "lgeu", "variant": variant, "seed": seed, "setting": "plain",
                         "R1": r1, "R5": r1, "R10": r1, "mAP": r1 / 2, "mINP": 1.0})
    df = pd.DataFrame(rows)
    lines = report.ablation_observations(df, "lgeu", as_list=True)
    assert len(lines) == 3
    lgeu_se = next(ln for ln in lines if "'LGEU > SE'" in ln)
    assert "R1 21.0 vs 12.0 (+9.0)" in lgeu_se and "2 seeds: holds." in lgeu_se
    se_base = next(ln for ln in lines if "'SE > baseline'" in ln)
    # SE 12 +- 0 vs baseline 11 +- 1.41: difference 1.0 < 1.41 -> inconclusive
    assert "R1 12.0 vs 11.0 (+1.0)" in se_base and "inconclusive" in se_base
    tab = report.ablation_table(df)
    assert tab.loc[("lgeu", "baseline", "plain"), "R1"] == "11.0 ± 1.4"
    df.loc[df.variant == "LGEU", "R1"] = 5.0
    assert "reversed" in next(ln for ln in report.ablation_observations(df, "lgeu", as_list=True) if "'LGEU > SE'" in ln)


# ----------------------------------------------------------------------------- the runner

def _tiny_notebook(path, body):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell('profile = "demo"\noutput_dir = ""\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, str(path))


def test_execute_notebooks_runs_in_order_records_failures_and_builds_the_index(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _tiny_notebook(nbs / "01_ok.ipynb", (
        "import json, pathlib\n"
        "p = pathlib.Path(output_dir) / '01_ok.results.json'\n"
        "p.write_text(json.dumps({'notebook': '01_ok', 'rows': [{'model': 'm', 'setting': 'plain', "
        "'group': 'main', 'R1': float(seed), 'mAP': 1.0}]}))\n"
        "print(profile)"))
    _tiny_notebook(nbs / "02_bad.ipynb", "raise ValueError('broken on purpose')")
    lines = []
    status = report.execute_notebooks("smoke", tmp_path / "out", ["01_ok", "02_bad"], {"seed": 7},
                                      log=lines.append, nb_dir=nbs)
    assert [s["notebook"] for s in status] == ["01_ok", "02_bad"]
    assert status[0]["ok"] is True and status[1]["ok"] is False
    assert "broken on purpose" in status[1]["error"]
    assert len(lines) == 2 and lines[0].startswith("[1/2] 01_ok") and " ok in " in lines[0] and "FAILED" in lines[1]
    out = tmp_path / "out"
    assert (out / "01_ok.ipynb").is_file() and (out / "01_ok.html").is_file() and (out / "02_bad.ipynb").is_file()
    executed = (out / "01_ok.ipynb").read_text()
    assert "smoke" in executed  # papermill injected the profile after the parameters cell
    index = report.build_index(out, status, profile="smoke").read_text()
    assert re.search(r"<th>m</th>\s*<td>7.0</td>", index)  # the injected seed reached the results
    assert "ValueError: broken on purpose" in index


def test_report_main_rejects_paper_without_data():
    with pytest.raises(ConfigError, match="profile 'paper' needs a real dataset: pass --dataset market1501 --data"):
        report.main(["--profile", "paper"])
    with pytest.raises(ConfigError, match="matches none of"):
        report.main(["--profile", "smoke", "--notebooks", "99"])


def test_check_results_and_figures(tmp_path):
    from matplotlib.figure import Figure

    cfg = report.setup("02_pfn", profile="smoke", output_dir=str(tmp_path))
    ok = pd.DataFrame({"R1": [10.0], "R5": [20.0], "R10": [30.0], "mAP": [8.0], "mINP": [2.0]}, index=["plain"])
    report.check_results(ok, cfg)
    with pytest.raises(AssertionError, match="plain: CMC not monotone"):
        report.check_results(ok.assign(R5=5.0), cfg)
    with pytest.raises(AssertionError, match=r"plain: mAP=120.0 outside \[0, 100\]"):
        report.check_results(ok.assign(mAP=120.0), cfg)
    blank = Figure()
    blank.subplots().set_axis_off()
    drawn = Figure()
    drawn.subplots().plot([0, 1], [0, 1])
    report.check_figures(drawn)
    with pytest.raises(AssertionError, match="figure 1: rendered image is uniform"):
        report.check_figures(drawn, blank)
    with pytest.raises(AssertionError, match="expected a matplotlib Figure"):
        report.check_figures(None)


def test_describe_settings_is_computed_from_the_table():
    t = pd.DataFrame({"R1": [20.0, 19.0, 35.0], "mAP": [10.0, 14.0, 18.0]}, index=["plain", "rerank", "st"])
    text = report.describe_settings(t)
    assert "**rerank** (k-reciprocal re-ranking): rank-1 19.0 % (down 1.0 points), mAP 14.0 % (up 4.0 points)" in text
    assert "rank-1 35.0 % (up 15.0 points), mAP 18.0 % (up 8.0 points) -- a larger gain on rank-1 than on mAP" in text
    assert "Best mAP here: **st**; best rank-1: **st**" in text
