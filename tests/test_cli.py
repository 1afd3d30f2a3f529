"""``reidlab train`` / ``reidlab eval`` command lines: help, one-line errors, a real round trip."""

from __future__ import annotations

import pytest

from reidlab.cli import main
from reidlab.engine.cli import eval_main, train_main
from test_engine import tiny_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp())


@pytest.mark.parametrize("fn, options", [
    (train_main, ["--preset", "--data", "--out", "--seed", "--epochs", "--max-iters", "--resume", "--device", "--set"]),
    (eval_main, ["--run", "--rerank", "--st", "--qe", "--multi-query"]),
])
def test_help_lists_every_option(fn, options, capsys):
    with pytest.raises(SystemExit) as e:
        fn(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in options:
        assert opt in out


def test_list_presets(capsys):
    assert train_main(["--list-presets"]) == 0
    names = capsys.readouterr().out.split()
    assert "pfn-cpu-demo" in names and "jlpose-0.5-1-paper" in names


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_bad_configs_print_one_line_without_traceback(data, tmp_path, capsys):
    _one_line_error(capsys, ["train", "--preset", "pfn-cpu-dmeo", "--data", str(data), "--out", str(tmp_path / "a")],
                    "reidlab train: error:", "did you mean 'pfn-cpu-demo'")
    _one_line_error(capsys, ["train", "--preset", "bot-smoke", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "b")],
                    str(tmp_path / "missing"), "reidlab synth")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("")
    _one_line_error(capsys, ["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(tmp_path / "c")],
                    "not empty", "--resume")
    _one_line_error(capsys, ["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(tmp_path / "d"), "--set", "lr"],
                    "key=value")
    _one_line_error(capsys, ["eval", "--run", str(tmp_path / "nowhere")], "config.json not found")


def test_train_then_eval_round_trip(data, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(out), "--max-iters", "2",
            "--seed", "3", "--set", "input_size=[64, 32]", "--set", "model_options.backbone_width=0.125",
            "--set", "amp=none", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "rank1" in printed and str(out) in printed
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["preset"]["amp"] is None and cfg["preset"]["model_options"] == {"backbone_width": 0.125}
    assert main(["eval", "--run", str(out), "--rerank", "--multi-query"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["setting", "rank1", "rank5", "rank10", "mAP", "mINP", "queries", "(skipped)"]
    assert [ln.split()[0] for ln in table[2:]] == ["single-query", "rerank", "multi-query", "multi-query+rerank"]
    for ln in table[2:]:
        assert all(0.0 <= float(v) <= 100.0 for v in ln.split()[1:6])
