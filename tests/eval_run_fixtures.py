"""A tiny trained run shared by the run-evaluation tests (trained once per session).

Import the fixtures into a test module: ``from eval_run_fixtures import trained, run_dir``.
"""

from __future__ import annotations

import shutil

import pytest

from test_engine import TINY, tiny_dataset


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``(run folder, dataset folder)`` of a one-epoch bot-smoke run on the tiny SynthReID set."""
    from reidlab.engine.trainer import train

    base = tmp_path_factory.mktemp("evalruns")
    data = tiny_dataset(tmp_path_factory.getbasetemp())
    train("bot-smoke", data=data, out=base / "run", progress=False, **dict(TINY, epochs=1))
    return base / "run", data


@pytest.fixture
def run_dir(trained, tmp_path):
    """A private copy of the trained run without its feature cache (tests write into it)."""
    src, _ = trained
    dst = tmp_path / "run"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("features"))
    return dst
