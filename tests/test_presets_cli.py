"""``reidlab presets list|show`` and ``reidlab train --list-presets``: recipes with their
iterations per epoch and in total on a dataset size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reidlab.cli import main
from reidlab.engine.cli import train_main
from reidlab.presets import get_preset, list_presets
from reidlab.presets_cli import preset_yaml

REPO = Path(__file__).resolve().parents[1]


def _row(out: str, name: str) -> list[str]:
    (line,) = [ln for ln in out.splitlines() if ln.split() and ln.split()[0] == name]
    return line.split()


def test_list_on_market_prints_iterations_per_epoch_and_total(capsys):
    assert main(["presets", "list"]) == 0
    out = capsys.readouterr().out
    assert "market1501 (751 identities, 12,936 training images" in out
    # pfn-paper: 384x192, adam 0.00035, 160 epochs, 16x4, images epoch, ~184 it/epoch, ~29,440 in total
    assert _row(out, "pfn-paper") == ["pfn-paper", "384x192", "adam", "0.00035", "160", "16x4", "images", "~184", "~29,440"]
    assert _row(out, "lgeu-paper")[-3:] == ["random", "404", "24,240"]              # 12,936 // 32, exact
    assert _row(out, "jlpose-paper")[1] == "219x103"
    for name in list_presets():
        assert _row(out, name)
    assert "jlpose-0.5-1-paper" in out.split()                                   # legacy names still shown


def test_list_on_other_sizes(capsys):
    assert main(["presets", "list", "--dataset", "msmt17", "--model", "pfn"]) == 0
    out = capsys.readouterr().out
    # round((32621 - 1041 * 1.5) / 4) = 7765 chunks -> 7765 // 16 = 485
    assert _row(out, "pfn-paper")[-2:] == ["~485", "~77,600"]
    assert "bot-paper" not in out
    assert main(["presets", "list", "--ids", "300", "--images", "3053", "--model", "mgwp"]) == 0
    assert _row(capsys.readouterr().out, "mgwp-cpu-demo")[-2:] == ["~81", "~243"]   # 3 epochs of 650 // 8
    assert train_main(["--list-presets", "--dataset", "dukemtmc"]) == 0
    out = capsys.readouterr().out
    assert "dukemtmc (702 identities, 16,522" in out and "pfn-cpu-demo" in out.split()


def test_show_prints_yaml_and_the_schedule(capsys):
    assert main(["presets", "show", "jlpose-paper"]) == 0
    out = capsys.readouterr().out
    yaml_part, _, table = out.partition("\n\n")
    assert yaml_part == preset_yaml(get_preset("jlpose-paper"))
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(yaml_part) == get_preset("jlpose-paper").to_dict()
    market = [ln for ln in table.splitlines() if ln.startswith("# market1501")][0].split()
    # 184 it/epoch, 18,400 in total, warm-up 5 epochs = 920 it, lr x0.1 at epochs 60 and 90
    assert market[2:] == ["751", "12,936", "~184", "~18,400", "~920", "~11,040,", "~16,560"]
    assert any(ln.startswith("# msmt17") for ln in table.splitlines())


def test_show_counts_a_dataset_folder_exactly(capsys):
    data = REPO / "data" / "synthreid-small"
    if not (data / "bounding_box_train").is_dir():
        pytest.skip("data/synthreid-small is not generated")
    from reidlab.data import PKSampler, load_dataset

    pids = [r.pid for r in load_dataset("auto", data, keypoints=None).train]
    expected = len(PKSampler(pids, p=8, k=4))
    assert main(["presets", "show", "mgwp-cpu-demo", "--data", str(data)]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[4] == str(expected) and "~" not in row[4]
    assert row[5] == f"{expected * get_preset('mgwp-cpu-demo').epochs:,}"


def test_errors_are_one_line(capsys):
    assert main(["presets", "list", "--ids", "5"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ids and --images" in err
    assert main(["presets", "show", "pfn-papr"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(r"did you mean 'pfn-paper'", err)
    assert main(["train", "--list-presets", "--dataset", "folder"]) == 1
    assert "has no published size" in capsys.readouterr().err
