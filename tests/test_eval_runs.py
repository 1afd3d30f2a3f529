"""Evaluating a run folder: one table through every door (CLI, evaluate_run, run_evaluation), the
content-keyed feature cache (stale never used, concurrent evaluations), CLI errors."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch

from reidlab.cli import main as cli_main
from reidlab.engine import feature_cache, runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_run_fixtures import run_dir, trained  # noqa: E402,F401  (pytest fixtures)

REPO = Path(__file__).resolve().parents[1]
ALL = ["single-query", "rerank", "st", "st+rerank", "qe", "multi-query", "multi-query+rerank"]


def count_extractions(monkeypatch) -> list:
    calls = []
    real = feature_cache.extract_features

    def spy(model, records, **kw):
        calls.append(len(records))
        return real(model, records, **kw)

    monkeypatch.setattr(feature_cache, "extract_features", spy)
    return calls


def test_cli_evaluate_run_and_run_evaluation_give_identical_tables(run_dir, tmp_path, capsys):
    csv = tmp_path / "out.csv"
    assert cli_main(["eval", "--run", str(run_dir), "--rerank", "--st", "--qe", "--multi-query", "--csv", str(csv)]) == 0
    shown = capsys.readouterr().out
    cli = pd.read_csv(csv, index_col="setting")
    via_api = runs.evaluate_run(run_dir, rerank=True, st=True, qe=True, multi_query=True)
    via_eval = runs.run_evaluation(run_dir, multi_query=True).table(ALL)
    assert list(cli.index) == ALL and list(cli.columns) == ["rank1", "rank5", "rank10", "mAP", "mINP", "queries", "skipped"]
    pd.testing.assert_frame_equal(cli, via_api, check_exact=True)
    pd.testing.assert_frame_equal(via_api, via_eval, check_exact=True)
    # the CLI shows percent of the same numbers
    r1 = via_api.loc["st+rerank", "rank1"]
    assert f"{100 * r1:.2f}" in [ln for ln in shown.splitlines() if ln.startswith("st+rerank")][0]
    # explicit settings, any token order, mixed with flags
    df = runs.evaluate_run(run_dir, ["rerank+qe", "multi-query+st"], st=True)
    assert list(df.index) == ["qe+rerank", "multi-query+st", "single-query", "st"]


def test_feature_cache_is_reused_and_keyed_by_content(run_dir, trained, tmp_path, monkeypatch):
    _, data = trained
    calls = count_extractions(monkeypatch)
    first = runs.evaluate_run(run_dir)
    assert len(calls) == 2                                   # query and gallery extracted
    n = len(calls)
    again = runs.evaluate_run(run_dir)
    assert len(calls) == n                                   # cache hit: nothing extracted
    pd.testing.assert_frame_equal(first, again, check_exact=True)

    # same files, relabelled (two query images swap names: same count, other identities) -> stale
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    q = sorted((copy / "query").glob("*.jpg"))
    a, b = next((x, y) for x in q for y in q if x.name[:4] != y.name[:4])
    tmp = a.with_name("tmp.jpg")
    a.rename(tmp), b.rename(a), tmp.rename(b)
    fresh = runs.evaluate_run(run_dir, data=copy)
    assert len(calls) > n                                    # recomputed, not read from the cache
    pd.testing.assert_frame_equal(fresh, runs.evaluate_run(run_dir, data=copy, use_cache=False), check_exact=True)
    n = len(calls)

    # the same checkpoint file with other weights -> stale
    run = runs.load_run(run_dir)
    with torch.no_grad():
        next(run.model.parameters()).add_(0.5)
    changed = runs.evaluate_run(run)
    assert len(calls) == n + 2
    pd.testing.assert_frame_equal(changed, runs.evaluate_run(run, use_cache=False), check_exact=True)

    # a torn cache file is recomputed, not an error
    for f in (run_dir / "features").glob("query-*.pt"):
        f.write_bytes(f.read_bytes()[:100])
    pd.testing.assert_frame_equal(runs.evaluate_run(run_dir), first, check_exact=True)
    assert len(list((run_dir / "features").glob("query-*.pt"))) <= feature_cache.KEEP_PER_SPLIT


def test_checkpoint_hash_is_memoised_by_size_and_mtime(tmp_path, monkeypatch):
    f = tmp_path / "w.pt"
    f.write_bytes(b"abc" * 1000)
    h1 = feature_cache.file_sha256(f, tmp_path)
    opened = []
    real_open = open

    def spy_open(path, *a, **k):
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", spy_open)
    assert feature_cache.file_sha256(f, tmp_path) == h1 and str(f.resolve()) not in opened
    monkeypatch.undo()
    f.write_bytes(b"abd" * 1000)                              # same size, new mtime and content
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10_000))
    assert feature_cache.file_sha256(f, tmp_path) != h1


