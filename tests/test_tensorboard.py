"""TensorBoard logs (optional extra): the event file read back agrees with metrics.csv, and
asking for it without the package is a one-line error before anything is written."""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import pandas as pd
import pytest

from reidlab.cli import main
from reidlab.engine.tblog import NullLogger, make_logger
from reidlab.errors import ConfigError
from test_engine import tiny_dataset

TINY = {"input_size": [64, 32], "model_options.backbone_width": 0.125, "amp": None}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp())


def _scalars(logdir) -> dict[str, dict[int, float]]:
    """tag -> {step: value} from the event files (the later value of a repeated step wins)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for tag in acc.Tags()["scalars"]:
        for ev in acc.Scalars(tag):
            out[tag][ev.step] = ev.value
    return dict(out)


def test_event_file_agrees_with_metrics_csv(data, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    assert main(["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(out), "--tensorboard",
                 "--epochs", "2", "--set", "iters_per_epoch=3", "--set", "eval_every=1", "--no-progress", *sets]) == 0
    capsys.readouterr()
    csv = pd.read_csv(out / "metrics.csv")
    assert list(csv["iters"]) == [3, 6] and csv["mAP"].notna().all()
    assert json.loads((out / "config.json").read_text())["preset"]["tensorboard"] is True
    tb = _scalars(out / "tb")
    terms = [c for c in csv.columns if c not in ("epoch", "iters", "complete", "loss", "lr", "img_s", "time_s",
                                                 "cpu_s", "rank1", "mAP")]
    assert terms, csv.columns                       # bot-smoke has named loss terms (id, triplet...)
    assert set(tb) == {"train/loss", "train/lr", "eval/rank1", "eval/mAP", *(f"train/{t}" for t in terms)}
    for tag in ["train/loss", "train/lr", *(f"train/{t}" for t in terms)]:
        assert sorted(tb[tag]) == [1, 2, 3, 4, 5, 6], tag          # one point per iteration
    for _, row in csv.iterrows():
        steps = range(int(row["iters"]) - 2, int(row["iters"]) + 1)   # this epoch's 3 iterations
        for col in ["loss", *terms]:                                 # the CSV holds the epoch means
            mean = sum(tb[f"train/{col}"][s] for s in steps) / 3
            assert mean == pytest.approx(row[col], rel=1e-5, abs=1e-6), col
        assert tb["train/lr"][int(row["iters"])] == pytest.approx(row["lr"], rel=1e-6)
        assert tb["eval/mAP"][int(row["iters"])] == pytest.approx(row["mAP"], rel=1e-6)
        assert tb["eval/rank1"][int(row["iters"])] == pytest.approx(row["rank1"], rel=1e-6)
    assert sorted(tb["eval/mAP"]) == [3, 6]


def test_only_rank_0_writes_and_nothing_by_default(tmp_path):
    pytest.importorskip("tensorboard")
    assert isinstance(make_logger(False, tmp_path), NullLogger)
    assert isinstance(make_logger(True, tmp_path, is_main=False), NullLogger)     # other DDP ranks
    assert not (tmp_path / "tb").exists()
    logger = make_logger(True, tmp_path)
    logger.log_iteration(1, {"loss": 2.5})
    logger.close()
    assert _scalars(tmp_path / "tb") == {"train/loss": {1: 2.5}}


def test_asking_without_the_package_is_one_line_naming_the_extra(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)      # import tensorboard -> ImportError
    with pytest.raises(ConfigError, match=r"reidlab\[tensorboard\]"):
        make_logger(True, tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(out), "--tensorboard",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'reidlab[tensorboard]'" in err, err
    assert not out.exists() or not any(out.iterdir())            # nothing written
