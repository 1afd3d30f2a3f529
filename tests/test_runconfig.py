"""``reidlab train --config FILE``: config files (YAML / JSON / a run's config.json), their
precedence under command-line flags, the round trip from an earlier run, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reidlab.cli import main
from reidlab.engine.runconfig import load_run_config
from reidlab.errors import ConfigError
from reidlab.presets import get_preset, list_presets
from test_engine import tiny_dataset
from test_cli import _one_line_error

yaml = pytest.importorskip("yaml")

#: A quick CPU variant of bot-smoke (tiny net, fp32 so runs are bit-identical).
TINY = {"input_size": [64, 32], "model_options.backbone_width": 0.125, "amp": None}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.getbasetemp())


# ----------------------------------------------------------------------------- forms
@pytest.mark.parametrize("name", ["pfn-paper", "jlpose-cpu-demo", "mgwp-smoke", "lgeu-paper"])
def test_presets_show_output_is_a_config_file_of_the_same_preset(name, tmp_path, capsys):
    """``reidlab presets show NAME > run.yaml`` (YAML, then the schedule as comments) loads back
    to exactly that preset."""
    assert main(["presets", "show", name]) == 0
    f = tmp_path / "run.yaml"
    f.write_text(capsys.readouterr().out)
    cfg = load_run_config(f)
    assert cfg.preset == get_preset(name) and cfg.preset.to_dict() == get_preset(name).to_dict()
    assert cfg.train_args == {}


def test_name_plus_overrides_yaml_and_json(tmp_path):
    text = ("# my run\npreset: pfn-cpu-demo\noverrides:\n  lr: 0.002\n  milestones: [3, 5]\n"
            "  model_options.backbone_width: 0.25\n  tensorboard: true\n"
            "data: data/synthreid\nout: runs/x\nseed: 4\nmax_iters: null\nevaluate: false\n")
    (tmp_path / "a.yaml").write_text(text)
    cfg = load_run_config(tmp_path / "a.yaml")
    want = get_preset("pfn-cpu-demo", lr=0.002, milestones=(3, 5), tensorboard=True,
                      **{"model_options.backbone_width": 0.25})
    assert cfg.preset == want and cfg.preset.model_options["backbone_width"] == 0.25
    assert cfg.train_args == {"data": "data/synthreid", "out": "runs/x", "seed": 4, "max_iters": None, "evaluate": False}
    (tmp_path / "a.json").write_text(json.dumps(yaml.safe_load(text)))
    from_json = load_run_config(tmp_path / "a.json")
    assert (from_json.preset, from_json.train_args) == (want, cfg.train_args)


def test_every_preset_round_trips_through_a_yaml_file(tmp_path):
    for name in list_presets():
        f = tmp_path / f"{name}.yaml"
        f.write_text(yaml.safe_dump(get_preset(name).to_dict()))
        assert load_run_config(f).preset == get_preset(name), name


# ------------------------------------------------------------------- round trip / CLI
def _losses(run: Path) -> list[float]:
    return pd.read_csv(run / "metrics.csv")["loss"].tolist()


def test_train_from_an_earlier_runs_config_json_gives_the_same_run(data, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    assert main(["train", "--preset", "bot-smoke", "--data", str(data), "--out", str(a), "--seed", "3",
                 "--max-iters", "2", "--no-eval", "--no-progress", "--set", "lr=0.002", *sets]) == 0
    # no --data / --seed / --max-iters: all from the file
    assert main(["train", "--config", str(a / "config.json"), "--out", str(b), "--no-eval", "--no-progress"]) == 0
    ca, cb = (json.loads((r / "config.json").read_text()) for r in (a, b))
    assert cb["preset"] == ca["preset"] and ca["preset"]["lr"] == 0.002
    assert (cb["seed"], cb["max_iters"], cb["data"], cb["dataset"]) == (3, 2, ca["data"], ca["dataset"])
    assert _losses(b) == _losses(a) and len(_losses(a)) == 1        # the same run: same seed, same numbers
    capsys.readouterr()


def test_command_line_flags_override_the_file(data, tmp_path, capsys):
    f = tmp_path / "run.yaml"
    f.write_text(yaml.safe_dump({"preset": "bot-smoke", "overrides": {**TINY, "lr": 0.01, "margin": 0.5},
                                 "data": str(data), "out": str(tmp_path / "from-file"), "seed": 5, "max_iters": 2,
                                 "evaluate": False}))
    out = tmp_path / "from-flag"
    assert main(["train", "--config", str(f), "--out", str(out), "--seed", "7", "--set", "lr=0.02",
                 "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert not (tmp_path / "from-file").exists()                 # --out won over the file's out
    assert cfg["seed"] == 7 and cfg["max_iters"] == 2            # flag over file; file over default
    assert cfg["preset"]["lr"] == 0.02 and cfg["preset"]["margin"] == 0.5   # --set over overrides
    assert cfg["preset"]["input_size"] == [64, 32] and cfg["preset"]["amp"] is None
    assert pd.read_csv(out / "metrics.csv")["mAP"].isna().all()  # the file's evaluate: false
    capsys.readouterr()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, needles", [
    ("preset: bot-smoke\nseeed: 3\n", ["unknown key 'seeed'", "did you mean 'seed'"]),
    ("preset: bot-smoke\nlr: 0.1\n", ["'lr' is a preset field", "overrides:"]),
    ("preset: bot-smoke\noverrides:\n  lrr: 0.1\n", ["unknown preset field overrides.'lrr'", "did you mean 'lr'"]),
    ("preset: bot-smoke\noverrides:\n  lr: fast\n", ["key overrides.'lr' is 'fast'", "a finite number"]),
    ("preset: bot-smoke\noverrides:\n  milestones: 40\n", ["overrides.'milestones'", "a list of integers"]),
    ("preset: bot-smoke\nseed: three\n", ["key 'seed' is 'three'", "an integer", "seed: 0"]),
    ("preset: bot-smoke\nmax_iters: 0\n", ["key 'max_iters' is 0", "a whole number >= 1"]),
    ("preset: bot-smok\n", ["unknown preset 'bot-smok'", "did you mean 'bot-smoke'"]),
    ("preset: [1, 2]\n", ["key 'preset' is [1, 2]", "preset name"]),
    ("name: x\nmodel: bot\nlrr: 1\n", ["unknown preset field 'lrr'", "did you mean 'lr'"]),
    ("name: x\nmodel: bot\nepochs: 1.5\n", ["key 'epochs' is 1.5", "an integer"]),
    ("lr: 0.1\nmargin: 0.3\n", ["no 'preset' key", "overrides:"]),
    ("- preset: bot-smoke\n", ["expected a mapping", "got list"]),
    ("", ["an empty file"]),
    ("preset: bot-smoke\noverrides:\n  lr: 0.1\n   margin: 0.2\n", ["YAML syntax error at line 4", "column"]),
    ("preset: bot-smoke\noverrides: {lr: 0.1\n", ["YAML syntax error at line", "fix the file"]),
])
def test_bad_config_files_are_one_line_errors_naming_file_and_key(text, needles, tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_run_config(f)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"config file {f}: "), msg
    for n in needles:
        assert n in msg, msg
    # the same through the command line: one line, exit 1, nothing trained
    _one_line_error(capsys, ["train", "--config", str(f), "--data", str(tmp_path), "--out", str(tmp_path / "r")],
                    "reidlab train: error:", str(f))
    assert not (tmp_path / "r").exists()


def test_json_syntax_error_names_the_line(tmp_path):
    f = tmp_path / "run.json"
    f.write_text('{\n  "preset": "bot-smoke",\n  "overrides": {"lr": 0.1,}\n}\n')
    with pytest.raises(ConfigError, match=r"run\.json: JSON syntax error at line 3, column \d+"):
        load_run_config(f)


def test_config_excludes_preset_and_resume_and_needs_a_file(data, tmp_path, capsys):
    f = tmp_path / "run.yaml"
    f.write_text("preset: bot-smoke\n")
    _one_line_error(capsys, ["train", "--config", str(f), "--preset", "pfn-smoke", "--data", str(data),
                             "--out", str(tmp_path / "a")], "--config", "--preset", "give one")
    _one_line_error(capsys, ["train", "--config", str(f), "--out", str(tmp_path / "a"), "--resume"],
                    "--resume", "keeps its own config.json")
    _one_line_error(capsys, ["train", "--config", str(tmp_path / "nope.yaml"), "--data", str(data),
                             "--out", str(tmp_path / "a")], "nope.yaml", "not found")
    _one_line_error(capsys, ["train", "--config", str(f), "--out", str(tmp_path / "a")], "--data is required")
    _one_line_error(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "a")], "--preset (or --config")
