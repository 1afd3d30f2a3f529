"""reidlab.report: the papermill runner, HTML export, index.html and the ``reidlab report`` CLI."""

from __future__ import annotations

import re

import pytest

from reidlab import lab, report
from reidlab.errors import ConfigError


def _fake_report(tmp_path):
    """A report folder with results of 02, 04 and 06 (fractions) and one executed notebook."""
    res = tmp_path / "results"
    c2 = lab.configure("02_pfn", profile="smoke", output_dir=str(res))
    lab.save_results(c2, [
        {"model": "pfn", "setting": "single-query", "rank1": 0.40, "mAP": 0.20, "group": "main"},
        {"model": "pfn", "setting": "rerank", "rank1": 0.44, "mAP": 0.30, "group": "main"},
        {"model": "pfn", "setting": "st", "rank1": 0.60, "mAP": 0.25, "group": "main"},
    ])
    c4 = lab.configure("04_lgeu", profile="smoke", output_dir=str(res))
    lab.save_results(c4, [{"model": "<lgeu>", "setting": "single-query", "rank1": 0.30, "mAP": 0.15, "group": "main"}])
    c6 = lab.configure("06_ablations", profile="smoke", output_dir=str(res))
    lab.save_results(c6, [
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "single-query", "seed": 0, "rank1": 0.10, "mAP": 0.05},
        {"group": "ablation:lgeu", "variant": "baseline", "setting": "single-query", "seed": 1, "rank1": 0.14, "mAP": 0.07},
        {"group": "ablation:lgeu", "variant": "lgeu", "setting": "single-query", "seed": 0, "rank1": 0.20, "mAP": 0.09},
    ], extra={"observations": ["LGEU beats the baseline by 8.0 rank-1 points <b>"]})
    (tmp_path / "02_pfn.ipynb").write_text("{}")
    (tmp_path / "02_pfn.html").write_text("<html></html>")
    return tmp_path


def test_build_index_gathers_results_links_and_status(tmp_path):
    folder = _fake_report(tmp_path)
    status = [{"notebook": "02_pfn", "ok": True, "seconds": 61.0},
              {"notebook": "03_mgwp", "ok": False, "seconds": 3.0, "error": "ValueError: <bad>"},
              {"notebook": "04_lgeu", "ok": None, "seconds": None}]
    index = report.build_index(folder, status, title="t <1>", profile="smoke")
    html_text = index.read_text()
    assert index == folder / "index.html"
    assert "<title>t &lt;1&gt;</title>" in html_text  # the template escapes what it is given
    assert '<a href="02_pfn.html">html</a> · <a href="02_pfn.ipynb">ipynb</a>' in html_text
    assert "03_mgwp.html" not in html_text  # no link to a file that does not exist
    row3 = re.search(r"<td>03_mgwp</td>(.*?)</tr>", html_text, re.S).group(1)
    assert '<span class="fail">failed</span>: ValueError: &lt;bad&gt;' in row3 and "3 s" in row3
    row4 = re.search(r"<td>04_lgeu</td>(.*?)</tr>", html_text, re.S).group(1)
    assert "<td>?</td>" in row4
    assert "notebooks took 1.1 min" in html_text  # 64 s
    assert "&lt;lgeu&gt;" in html_text and "<lgeu>" not in html_text  # escaped
    main = html_text.split("<h2>Results")[1].split("<h2>")[0]
    row = re.search(r"<th>pfn</th>(.*?)</tr>", main, re.S).group(1)
    # percent on display, one decimal: single-query, rerank, st (the protocol's order)
    assert re.findall(r"<td>([^<]*)</td>", row)[:6] == ["40.0", "20.0", "44.0", "30.0", "60.0", "25.0"]
    assert "<i>single-query</i>: visual distance only" in main
    assert "12.0 ± 2.8 (n=2)" in html_text
    assert "LGEU beats the baseline by 8.0 rank-1 points &lt;b&gt;" in html_text
    assert "95.0" in html_text.split("The papers' own numbers")[1]  # the paper's PFN rank-1, labelled as the paper's
    assert not list(folder.glob(".index.html*")) and not list(folder.glob("*.tmp"))  # atomic: no temporary left


def test_build_index_without_results_or_status(tmp_path):
    (tmp_path / "01_data_exploration.ipynb").write_text("{}")
    text = report.build_index(tmp_path, None, title="empty", profile="demo").read_text()
    assert "No results files found" in text
    assert "<td>01_data_exploration</td>" in text  # listed from the folder, status unknown


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
        "p.write_text(json.dumps({'notebook': '01_ok', 'rows': [{'model': 'm', 'setting': 'single-query', "
        "'group': 'main', 'rank1': seed / 100, 'mAP': 0.01}]}))\n"
        "print(profile)"))
    _tiny_notebook(nbs / "02_bad.ipynb", "raise ValueError('broken on purpose')")
    lines = []
    status = report.execute_notebooks("smoke", tmp_path / "out", ["01_ok", "02"], {"seed": 7},
                                      log=lines.append, nb_dir=nbs)
    assert [s["notebook"] for s in status] == ["01_ok", "02_bad"]  # "02" found by prefix
    assert status[0]["ok"] is True and status[1]["ok"] is False
    assert "broken on purpose" in status[1]["error"]
    assert len(lines) == 2 and lines[0].startswith("[1/2] 01_ok") and " ok in " in lines[0] and "FAILED" in lines[1]
    out = tmp_path / "out"
    assert (out / "01_ok.ipynb").is_file() and (out / "01_ok.html").is_file() and (out / "02_bad.ipynb").is_file()
    assert "smoke" in (out / "01_ok.ipynb").read_text()  # papermill injected the profile after the parameters cell
    index = report.build_index(out, status, profile="smoke").read_text()
    assert re.search(r"<th>m</th>\s*<td>7.0</td>", index)  # the injected seed reached the results
    assert "ValueError: broken on purpose" in index
    with pytest.raises(ConfigError, match="notebook '99' not found"):
        report.execute_notebooks("smoke", tmp_path / "out", ["99"], nb_dir=nbs)


def test_report_cli_checks_its_arguments():
    with pytest.raises(ConfigError, match="profile 'paper' needs a real dataset: pass --dataset market1501 --data"):
        report.main(["--profile", "paper"])
    with pytest.raises(ConfigError, match="matches none of"):
        report.main(["--profile", "smoke", "--notebooks", "99"])
    assert report.select_notebooks("01,06") == ["01_data_exploration", "06_ablations"]
    assert report.select_notebooks("") == list(report.NOTEBOOKS)


def test_reidlab_report_is_the_package_cli():
    from reidlab.cli import COMMANDS

    module, func, _ = COMMANDS["report"]
    assert (module, func) == ("reidlab.report.cli", "main")
    assert report.main is __import__(module, fromlist=[func]).main


def test_index_shows_the_ablation_verdicts_rule_seed_note_and_csvs(tmp_path):
    import pandas as pd

    from reidlab.lab import ablations

    rows = [{"group": "ablation:lgeu", "study": "lgeu", "variant": v, "seed": i, "setting": "single-query",
             **{m: r for m in lab.METRICS}}
            for v, vals in (("baseline", [0.25, 0.26, 0.27]), ("SE", [0.29, 0.31, 0.30]), ("LGEU", [0.30, 0.32, 0.34]))
            for i, r in enumerate(vals)]
    df = pd.DataFrame(rows)
    res = tmp_path / "results"
    cfg = lab.configure("06_ablations", profile="smoke", output_dir=str(res))
    ablations.write_ablation_csvs(df, res)
    lab.save_results(cfg, df, extra={
        "verdict_table": ablations.verdict_table(df).reset_index().to_dict("records"),
        "verdict_rule": ablations.VERDICT_RULE, "seeds_note": ablations.few_seeds_note(2, markdown=False)})
    html_text = report.build_index(tmp_path, [], profile="ablations").read_text()
    part = html_text.split("Verdicts on the papers' claims")[1]
    row = re.search(r"<td>LGEU &gt; baseline</td>(.*?)</tr>", part, re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:5] == ["32.0 ± 2.0", "26.0 ± 1.0", "+6.0", "p = 0.020", "holds"]
    assert "Welch" in part and "Only 2 seeds per variant: they decide little" in html_text
    assert '<a href="results/ablation-verdicts.csv">ablation-verdicts.csv</a>' in html_text
    assert '<a href="results/ablation-lgeu.csv">' in html_text
