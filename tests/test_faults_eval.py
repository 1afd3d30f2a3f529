"""Issue 15, evaluation side: bad input gives a one-line error or a correct result, never a silent
wrong number or a traceback (kernels, run evaluation, ``reidlab eval``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from reidlab.cli import main as cli_main
from reidlab.engine import runs
from reidlab.errors import ConfigError
from reidlab.eval import (Evaluation, average_query_expansion, k_reciprocal_rerank, pairwise_distance, rank_metrics,
                          rerank_from_features)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_run_fixtures import run_dir, trained  # noqa: E402,F401  (pytest fixtures)

REPO = Path(__file__).resolve().parents[1]


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------- distances
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pairwise_distance_with_a_large_common_offset(dtype):
    """Features near 1e4: |q|^2 + |g|^2 - 2 q.g cancelled every digit (a distance of 1 came out 0)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 16, generator=g, dtype=torch.float64)
    y = torch.randn(70, 16, generator=g, dtype=torch.float64)
    y[0] = x[0]
    y[0, 3] += 1.0                                      # true squared distance 1
    q, gal = (1e4 + x).to(dtype), (1e4 + y).to(dtype)
    ref = ((q.double()[:, None, :] - gal.double()[None, :, :]) ** 2).sum(-1)   # direct, float64
    d = pairwise_distance(q, gal)
    assert d.dtype == dtype                             # float64 in, float64 out (was cast to float32)
    tol = 1e-9 if dtype == torch.float64 else 2e-3
    torch.testing.assert_close(d.double(), ref, rtol=tol, atol=tol * ref.max().item())
    assert abs(d[0, 0].item() - 1.0) < (1e-9 if dtype == torch.float64 else 0.02)
    # chunked and float64-requested paths agree
    torch.testing.assert_close(pairwise_distance(q, gal, chunk_size=7, out_dtype=torch.float64), ref,
                               rtol=1e-9 if dtype == torch.float64 else 1e-3, atol=1e-3)


def test_nan_and_inf_features_name_the_input_and_the_rows():
    qf, gf = torch.randn(5, 4), torch.randn(9, 4)
    bad = gf.clone()
    bad[2, 1], bad[7, 0] = float("nan"), float("inf")
    for call in (lambda: pairwise_distance(qf, bad), lambda: rerank_from_features(qf, bad),
                 lambda: average_query_expansion(qf, bad),
                 lambda: Evaluation(qf, bad, {"pid": np.arange(5), "camid": np.zeros(5)},
                                    {"pid": np.arange(9), "camid": np.ones(9)})):
        with pytest.raises(ConfigError) as e:
            call()
        assert one_line(e).startswith("gallery features: 2 of 9 rows contain NaN or inf values (first: row 2)")
    with pytest.raises(ConfigError, match="query features: 1 of 5 rows"):
        pairwise_distance(torch.where(torch.arange(5)[:, None] == 3, float("nan"), qf), gf)
    with pytest.raises(ConfigError, match="q_q holds 1 NaN/inf"):
        d = torch.rand(5, 5)
        d[1, 2] = float("nan")
        k_reciprocal_rerank(torch.rand(5, 9), d, torch.rand(9, 9))


# ----------------------------------------------------------------------------- re-ranking parameters
@pytest.mark.parametrize("kw,match", [
    ({"lambda_value": float("nan")}, "lambda_value=nan must be a number in \\[0, 1\\]"),
    ({"lambda_value": 1.5}, "lambda_value=1.5 must be a number in \\[0, 1\\]"),
    ({"lambda_value": -0.1}, "lambda_value=-0.1"),
    ({"lambda_value": "0.3"}, "lambda_value='0.3'"),
    ({"k1": 2.5}, "k1=2.5 must be an integer >= 1"),
    ({"k1": 0}, "k1=0 must be an integer >= 1"),
    ({"k2": -3}, "k2=-3 must be an integer >= 1"),
    ({"k1": float("inf")}, "k1=inf"),
    ({"k1": True}, "k1=True"),
])
def test_rerank_rejects_bad_parameters(kw, match):
    q, g = torch.randn(6, 4), torch.randn(10, 4)
    d = pairwise_distance(q, g)
    for call in (lambda: k_reciprocal_rerank(d, pairwise_distance(q, q), pairwise_distance(g, g), **kw),
                 lambda: rerank_from_features(q, g, **kw)):
        with pytest.raises(ConfigError, match=match) as e:
            call()
        one_line(e)


def test_rerank_accepts_integral_floats_and_numpy_ints():
    q, g = torch.randn(6, 4), torch.randn(10, 4)
    a = rerank_from_features(q, g, k1=5, k2=2, lambda_value=0.3)
    b = rerank_from_features(q, g, k1=5.0, k2=np.int64(2), lambda_value=np.float32(0.3))
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize("pids,match", [
    (np.array(["a", "b", "c"]), "q_pids: expected numbers .* got dtype <U1, e.g. 'a'; convert string ids"),
    (["0001", "0002", "0003"], "q_pids: expected numbers"),
    ([10 ** 23, 1, 2], "keep ids within 64-bit integers"),
])
def test_non_numeric_pids_in_rank_metrics(pids, match):
    with pytest.raises(ConfigError, match=match) as e:
        rank_metrics(torch.rand(3, 4), pids, [1, 2, 3, 4], [0, 0, 0], [1, 1, 1, 1])
    one_line(e)


def test_string_pids_in_records_for_evaluation():
    from collections import namedtuple

    Rec = namedtuple("Rec", "path pid camid frame")
    q = [Rec("a", "x", 0, None), Rec("b", "y", 0, None)]
    g = [Rec("c", 1, 1, None)]
    with pytest.raises(ConfigError, match="query pids: expected numbers") as e:
        Evaluation(torch.randn(2, 3), torch.randn(1, 3), q, g)
    one_line(e)


# ----------------------------------------------------------------------------- run folders and the CLI

def test_two_evaluations_of_one_run_at_once(run_dir, tmp_path):
    cmd = [sys.executable, "-m", "reidlab", "eval", "--run", str(run_dir), "--rerank", "--csv"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd + [str(tmp_path / f"{i}.csv")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    a, b = (pd.read_csv(tmp_path / f"{i}.csv", index_col=0) for i in range(2))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    files = sorted((run_dir / "features").glob("*.pt"))
    assert [f.name.split("-")[0] for f in files] == ["gallery", "query"]   # one file per split, both complete
    for f in files:
        blob = torch.load(f, weights_only=True)
        assert blob["features"].shape[0] == blob["key"]["count"]
    assert not list((run_dir / "features").glob(".*.tmp"))
    pd.testing.assert_frame_equal(a, runs.evaluate_run(run_dir, rerank=True), check_exact=True)


def test_eval_cli_errors_are_one_line(run_dir, tmp_path, capsys):
    rc = cli_main(["eval", "--run", str(run_dir), "--csv", str(tmp_path / "nodir" / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 1 and "folder" in err and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (run_dir / "features").exists()                  # checked before the evaluation
    assert cli_main(["eval", "--run", str(run_dir), "--csv", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert cli_main(["eval", "--run", str(run_dir), "--setting", "plain"]) == 1
    assert "unknown token 'plain'" in capsys.readouterr().err
    (run_dir / "config.json").write_text("{not json", encoding="utf-8")
    assert cli_main(["eval", "--run", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "config.json is not readable JSON" in err and len(err.strip().splitlines()) == 1


def test_unwritable_feature_cache_is_not_an_error(run_dir, monkeypatch, caplog):
    """A read-only run folder or a full disk costs the cache, not the evaluation."""
    from reidlab.engine import feature_cache

    want = runs.evaluate_run(run_dir, use_cache=False)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feature_cache, "atomic_open", full_disk)
    with caplog.at_level("WARNING", logger="reidlab"):
        got = runs.evaluate_run(run_dir)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert "could not write the feature cache" in caplog.text
    assert not list((run_dir / "features").glob("*.pt"))
    monkeypatch.undo()
    monkeypatch.setattr(feature_cache.FileLock, "acquire", lambda self, *a, **k: full_disk())
    pd.testing.assert_frame_equal(runs.evaluate_run(run_dir), want, check_exact=True)
