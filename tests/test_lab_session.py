"""reidlab.lab.session: the dataset generated once under a lock, runs trained once then reused,
and the notebooks' evaluation door giving the same table as ``evaluate_run``."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from reidlab import lab
from reidlab.errors import ConfigError, DatasetError

#: A tiny recipe on top of bot-smoke (fp32, 1/8-width ResNet18, 64x32): seconds on a CPU.
TINY = {"input_size": (64, 32), "p": 4, "k": 4, "amp": None, "channels_last": False, "iters_per_epoch": 2,
        "eval_every": 0, "lr": 1e-3, "warmup_epochs": 0.0, "model_options.backbone_width": 0.125}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A 16 + 8 identity SynthReID set with frames, landmarks and a multi-query split."""
    from reidlab.data.synthetic import SynthConfig, generate

    root = tmp_path_factory.mktemp("lab") / "synth"
    generate(root, SynthConfig.small(num_train_ids=16, num_test_ids=8, num_distractors=5, num_junk=5))
    return root


def _cfg(tmp_path, data_root, notebook="02_pfn", **kw):
    cfg = lab.configure(notebook, profile="smoke", data_root=str(data_root), output_dir=str(tmp_path / "out"), **kw)
    return dataclasses.replace(cfg, runs_dir=tmp_path / "runs")


# ----------------------------------------------------------------------------- the dataset


def test_ensure_dataset_generates_once_under_a_lock(tmp_path, monkeypatch):
    from fixtures import make_market_tree

    from reidlab.data import cli as data_cli
    from reidlab.lab import session

    calls = []

    def fake_synth(argv):
        calls.append(list(argv))
        root = Path(argv[argv.index("--out") + 1])
        make_market_tree(root)
        (root / ".complete").write_text("")
        return 0

    monkeypatch.setattr(data_cli, "synth_main", fake_synth)
    monkeypatch.setattr(session, "_DATASETS", {})
    cfg = _cfg(tmp_path, tmp_path / "data" / "synth")
    errors = []

    def load():
        try:
            session.ensure_dataset(cfg)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert calls == [["--out", str(tmp_path / "data" / "synth"), "--small"]]  # the smoke profile's synth_args
    ds = session.ensure_dataset(cfg)
    assert ds is session.ensure_dataset(cfg)  # cached per process
    assert len(ds.query) == 2 and (tmp_path / "data" / ".synth.lock").exists()


def test_ensure_dataset_errors_name_the_folder(tmp_path, monkeypatch):
    from reidlab.data import cli as data_cli
    from reidlab.lab import session

    monkeypatch.setattr(data_cli, "synth_main", lambda argv: 3)
    with pytest.raises(DatasetError, match=r"synthetic dataset generation failed \(exit 3\); run `reidlab synth --out"):
        session.ensure_dataset(_cfg(tmp_path, tmp_path / "nothing"))
    real = dataclasses.replace(_cfg(tmp_path, tmp_path / "market"), dataset="market1501")
    with pytest.raises(DatasetError, match=r"market: dataset folder not found; expected the market1501 layout"):
        session.ensure_dataset(real)


# ----------------------------------------------------------------------------- runs and the evaluation door


def test_ensure_run_trains_once_reuses_and_the_notebook_door_equals_evaluate_run(tiny_data, tmp_path, monkeypatch):
    import reidlab.engine.trainer as trainer
    from reidlab.engine.runs import evaluate_run

    cfg = _cfg(tmp_path, tiny_data)
    run = lab.ensure_run(cfg, "bot", max_iters=2, overrides=TINY, progress=False)
    folder = tmp_path / "runs" / "bot-smoke-seed0"
    assert Path(run.path) == folder
    stamp = json.loads((folder / lab.session.RUN_STAMP).read_text())
    assert stamp["preset"] == "bot-smoke" and stamp["max_iters"] == 2 and stamp["seed"] == 0
    assert stamp["overrides"]["model_options.backbone_width"] == 0.125  # the request, overrides included

    def no_training(*a, **k):
        raise AssertionError("the run should have been reused")

    monkeypatch.setattr(trainer, "train", no_training)
    again = lab.ensure_run(cfg, "bot", max_iters=2, overrides=TINY)
    assert Path(again.path) == folder
    with pytest.raises(AssertionError, match="should have been reused"):  # another request trains again
        lab.ensure_run(cfg, "bot", max_iters=3, overrides=TINY)
    assert not folder.exists()  # the stale folder was removed before training
    monkeypatch.undo()

    run = lab.ensure_run(cfg, "bot", max_iters=2, overrides=TINY, progress=False)
    settings = ["single-query", "rerank", "st", "st+rerank", "qe", "multi-query", "multi-query+rerank"]
    ev = lab.evaluation(cfg, run, multi_query=True)
    door = ev.table(settings)
    reference = evaluate_run(run.path, settings)  # the CLI's function, loading run and dataset itself
    pd.testing.assert_frame_equal(door, reference, check_exact=True)
    assert list(door.index) == settings and ((door[list(lab.METRICS)] >= 0) & (door[list(lab.METRICS)] <= 1)).all().all()
    print(lab.check_results(door, cfg, chance=lab.random_rank1(lab.ensure_dataset(cfg))))

    # evaluation access used by 07-09: best matches and per-query views come from the same evaluator
    ds = lab.ensure_dataset(cfg)
    g = lab.best_gallery(ev, 0)
    assert ds.gallery[g].pid == ds.query[0].pid and ds.gallery[g].camid != ds.query[0].camid
    w = lab.best_gallery(ev, 0, correct=False)
    assert ds.gallery[w].pid != ds.query[0].pid
    ranked = ev.ranking("single-query", 0, top_k=len(ds.gallery))
    assert g == ranked[ranked["correct"]]["gallery_index"].iloc[0]
    qi = lab.most_changed_query(ev, ["single-query", "st"])
    ap = ev.query_frame("single-query")["ap"] - ev.query_frame("st")["ap"]
    assert abs(ap.iloc[qi]) == pytest.approx(ap.abs().max())
    rows = lab.st_query_rows(ev, qi)
    assert rows["similarity_row"].shape == (len(ds.gallery),) and rows["query_pid"] == ds.query[qi].pid
    assert rows["valid"].sum() < len(ds.gallery)  # the junk rule removed something


def test_ensure_run_never_deletes_outside_the_runs_folder(tiny_data, tmp_path):
    cfg = _cfg(tmp_path, tiny_data)
    outside = tmp_path / "elsewhere-seed0"
    outside.mkdir()
    with pytest.raises(ConfigError, match="refusing to replace a folder outside"):
        lab.ensure_run(cfg, "bot", name="../elsewhere", max_iters=1, overrides=TINY)
    assert outside.is_dir()


def test_model_card_lists_outputs_losses_and_paper_modules(tiny_data, tmp_path):
    ds = lab.ensure_dataset(_cfg(tmp_path, tiny_data))
    card = lab.model_card(_cfg(tmp_path, tiny_data), "pfn", ds)
    assert card.loc["logits['global4']", "loss"].startswith("ce (x")
    assert sum(card.index.str.startswith("logits[")) == 8  # PFN: 2 global + 6 stripes
    assert sum(card["loss"].str.contains("triplet")) == 2
    assert card.loc["test feature (eval mode)", "shape"].endswith("(x2 with flip concatenation)")
    mgwp = lab.model_card(_cfg(tmp_path, tiny_data), "mgwp", ds)
    assert "module TinySpatialAttention x4" in mgwp.index
