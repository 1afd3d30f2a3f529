"""The demo's trained-model reporting (issues 12 and 16): which run drew a figure and how good
it is, and the explanation written when ST + re-ranking falls below ST."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from reidlab import lab, report


def test_run_caption_names_the_run_its_warm_start_and_its_rank1(tmp_path):
    """07 / 08 / the README figures say which run drew them and how good it is."""
    run = SimpleNamespace(path=lab.project_root() / "runs" / "demo" / "pfn-cpu-demo-seed0", config={"max_iters": 200},
                          preset=SimpleNamespace(name="pfn-cpu-demo", init="imagenet"))
    ev = SimpleNamespace(result=lambda setting: {"single-query": SimpleNamespace(cmc=np.array([0.7125, 0.8]), mAP=0.6649)}[setting])
    assert lab.run_caption(run, ev) == ("Drawn from run `runs/demo/pfn-cpu-demo-seed0` (pfn-cpu-demo, warm start "
                                        "`imagenet`, 200 iterations): plain single-query rank-1 **71.2 %**, mAP 66.5 %.")


def test_neighbour_recall_counts_cross_camera_matches_among_the_k_nearest():
    # ids 1, 1, 2, 2 in cameras 0, 1, 0, 1 (one cross-camera match each) and a distractor (id 0)
    pids, camids = np.array([1, 1, 2, 2, 0]), np.array([0, 1, 0, 1, 1])
    gg = torch.tensor([[0, 5, 1, 6, 7],     # image 0: nearest is image 2 (another person): miss
                       [1, 0, 5, 6, 7],     # image 1: nearest is image 0, its match: hit
                       [5, 6, 0, 1, 7],     # image 2: image 3: hit
                       [5, 6, 1, 0, 7],     # image 3: image 2: hit
                       [1, 1, 1, 1, 0]], dtype=torch.float32)
    assert lab.neighbour_recall(gg, pids, camids, k=1) == pytest.approx(3 / 4)   # the distractor is not counted
    assert lab.neighbour_recall(gg, pids, camids, k=2) == pytest.approx(1.0)     # image 0 finds image 1 second
    # a same-camera image of the same identity is not a match (junk in the protocol)
    assert lab.neighbour_recall(gg, pids, np.array([0, 0, 0, 1, 1]), k=4) == pytest.approx(1.0)   # only ids 2 count


def _fake_ev(gg_plain, gg_st, pids, camids):
    blocks = {"rerank": (None, None, gg_plain), "st+rerank": (None, None, gg_st)}
    return SimpleNamespace(labels=lambda: (None, None, pids, camids), rerank_params={"k1": 1, "k2": 1, "lambda_value": 0.3},
                           rerank_inputs=lambda setting: blocks[setting])


def test_st_rerank_note_explains_a_drop_of_more_than_two_points_with_the_numbers():
    pids, camids = np.array([1, 1, 2, 2]), np.array([0, 1, 0, 1])
    good = torch.tensor([[0, 1, 5, 5], [1, 0, 5, 5], [5, 5, 0, 1], [5, 5, 1, 0]], dtype=torch.float32)  # recall 1
    half = torch.tensor([[0, 5, 1, 5], [1, 0, 5, 5], [1, 5, 0, 5], [5, 5, 1, 0]], dtype=torch.float32)  # recall 1/2
    ev = _fake_ev(half, good, pids, camids)
    table = pd.DataFrame({"rank1": [0.50, 0.80, 0.70], "mAP": [0.4, 0.7, 0.6]}, index=["single-query", "st", "st+rerank"])
    note = lab.st_rerank_note(ev, table)
    assert note.startswith("**Why ST + re-ranking is below ST here** (rank-1 80.0 % -> 70.0 %, 10.0 points)")
    assert "k-reciprocal re-ranking (k1=1) puts weight 0.7" in note
    assert "plain rank-1 is 50.0 %" in note and "50.0 % are among its 1 nearest gallery images by appearance and 100.0 %" in note
    within = table.assign(rank1=[0.50, 0.80, 0.785])              # 1.5 points below: nothing to explain
    assert lab.st_rerank_note(ev, within) == "" and lab.st_rerank_note(ev, table.drop(index="st")) == ""


def test_the_report_index_shows_the_notes_under_the_results_table(tmp_path):
    cfg = lab.configure("05_jlpose", profile="smoke", output_dir=str(tmp_path / "results"))
    lab.save_results(cfg, [{"model": "jlpose", "setting": "st", "rank1": 0.8, "mAP": 0.7, "group": "main"}],
                     extra={"notes": ["**Why ST + re-ranking is below ST here** <x> 7.9 points"]})
    text = report.build_index(tmp_path, None, title="t", profile="demo").read_text()
    main = text.split("<h2>Results")[1].split("<h2>")[0]
    assert "<li><b>Why ST + re-ranking is below ST here</b> &lt;x&gt; 7.9 points</li>" in main


def test_readme_figures_script_draws_every_figure_and_names_its_runs(tmp_path):
    """``python -m reidlab.report.examples``: every README figure, and which run drew it (here
    from the smoke runs, the same code path as the demo's)."""
    import json

    from reidlab.report import examples

    assert examples.main(["--profile", "smoke", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("viz_*.png")) == sorted(f"viz_{f}.png" for f in examples.FIGURES)
    sources = json.loads((tmp_path / "viz_sources.json").read_text())
    assert set(sources) == {"pfn", "mgwp", "lgeu", "jlpose"}
    assert sum((s["figures"] for s in sources.values()), []) and \
        sorted(sum((s["figures"] for s in sources.values()), [])) == sorted(examples.FIGURES)
    assert sources["mgwp"]["figures"] == ["tsa", "nonlocal"] and sources["jlpose"]["figures"] == ["pose_boxes"]
    for s in sources.values():
        assert s["run"].startswith("runs/smoke/") and s["init"] == "scratch" and 0.0 <= s["rank1"] <= 1.0
