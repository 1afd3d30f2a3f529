"""reidlab.paper_results: the papers' tables as transcribed, their headline rows and orderings."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reidlab import paper_results
from reidlab.errors import ConfigError

PAPERS_DIR = Path("/work/shared/papers")


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
    assert list(h.index) == ["single-query", "st"]
    assert h.loc["single-query", "R1"] == 95.0 and h.loc["single-query", "mAP"] == 87.4 and h.loc["st", "mAP"] == 89.0
    h = paper_results.headline("lgeu")
    assert h.loc["rerank", "mAP"] == 88.0
    assert paper_results.headline("jlpose").loc["single-query", "R1"] == 86.10
    mg = paper_results.headline("mgwp")
    assert list(mg.index) == ["multi-query"] and (mg.loc["multi-query", "R1"], mg.loc["multi-query", "mAP"]) == (96.1, 90.3)
    with pytest.raises(ConfigError, match="unknown paper 'pcb'"):
        paper_results.headline("pcb")
    with pytest.raises(ConfigError, match="unknown table 'lgeu/table9'"):
        paper_results.paper_table("lgeu/table9")


def test_headline_settings_are_the_evaluators_names():
    """One naming scheme: every headline setting is a canonical :data:`reidlab.eval.SETTINGS` name,
    so ``lab.compare_with_paper`` lines the paper's row up with the evaluator's row of that name."""
    from reidlab.eval.protocol import SETTINGS, parse_setting

    for paper in ("pfn", "mgwp", "lgeu", "jlpose"):
        for setting in paper_results.headline(paper).index:
            assert setting in SETTINGS and parse_setting(setting) == setting, (paper, setting)


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
