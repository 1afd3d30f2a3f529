"""Faults a hostile but realistic user meets (issue 15): nothing lost, nothing silently wrong.

Every case runs the real command line in a subprocess where the exit code and the stderr
line are the point (one line, no traceback; exit 1 for errors, 2 for usage errors, 130 for
Ctrl-C), and the library where the point is the state left on disk. Data: a ``reidlab synth
--small`` set (8 + 8 identities, 3 cameras) generated once, copied where a test breaks it;
training: ``bot-smoke`` at 64x32 with a 1/8-width ResNet18, a few iterations.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from reidlab.engine import checkpoint as ckpt_io
from reidlab.engine.trainer import train
from reidlab.errors import CheckpointError, ConfigError, DatasetError, ReIDLabError

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")

#: Command-line settings that make bot-smoke tiny and deterministic (fp32, 64x32, 1/8 width).
FAST = ["--set", "input_size=[64,32]", "--set", "model_options.backbone_width=0.125", "--set", "amp=none",
        "--set", "channels_last=false"]
#: The same for library calls.
TINY = {"input_size": (64, 32), "amp": None, "channels_last": False, "model_options.backbone_width": 0.125}


def cli(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    """``reidlab ARGS`` in a fresh interpreter (stdout/stderr captured as text)."""
    return subprocess.run([sys.executable, "-m", "reidlab", *map(str, args)], env=ENV, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """The error a user sees: exit ``code``, no traceback; for exit 1 exactly one stderr line
    (argparse usage errors, exit 2, print the usage first: their last line is returned)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if code == 1:
        assert len(lines) == 1, proc.stderr
    return lines[-1]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) -> sha256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def state_hash(sd: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(k.encode())
        h.update(sd[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    """``reidlab synth --small`` with 8 + 8 identities on 3 cameras (never modified)."""
    root = tmp_path_factory.getbasetemp() / "faults-small"
    if not (root / ".complete").is_file():
        proc = cli("synth", "--small", "--ids", "8", "--cameras", "3", "--out", root)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def copy_of(small: Path, dst: Path) -> Path:
    shutil.copytree(small, dst)
    return dst


# ----------------------------------------------------------------------------- --resume
def test_resume_without_a_readable_last_pt_fails_and_changes_nothing(small, tmp_path):
    out = tmp_path / "r"
    proc = cli("train", "--preset", "bot-smoke", "--data", small, "--out", out, "--max-iters", 2, *FAST, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert {"config.json", "metrics.csv", "last.pt", "last.prev.pt", "best.pt"} <= {p.name for p in out.iterdir()}
    (out / "last.pt").unlink()
    (out / "last.prev.pt").write_bytes(b"PK\x03\x04 torn")       # neither checkpoint is readable
    before = snapshot(out)
    line = error_line(cli("train", "--out", out, "--resume"))
    assert str(out) in line and "best.pt" in line and "new --out" in line and "delete" not in line.lower()
    assert snapshot(out) == before                                 # best.pt, metrics.csv, config.json intact
    # the choice the message offers works: resume from the named checkpoint
    proc = cli("train", "--out", out, "--resume", out / "best.pt", "--epochs", 2, "--max-iters", 3, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert ckpt_io.load_checkpoint(out / "last.pt")["global_iter"] == 3


def test_resume_into_a_new_folder_says_it_starts_fresh(small, tmp_path):
    out = tmp_path / "typo"
    proc = cli("train", "--preset", "bot-smoke", "--data", small, "--out", out, "--resume", "--max-iters", 1,
               *FAST, "--no-eval", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "starting a fresh run" in proc.stderr and str(out) in proc.stderr
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    line = error_line(cli("train", "--preset", "bot-smoke", "--data", small, "--out", other, "--resume"))
    assert "not a run folder" in line and "todo.txt" in line
    assert snapshot(other) == {"todo.txt": hashlib.sha256(b"mine").hexdigest()}


def test_checkpoint_errors_never_advise_deleting_the_file(tmp_path):
    torn = tmp_path / "last.pt"
    ckpt_io.atomic_save({"format": ckpt_io.CHECKPOINT_FORMAT, "w": torch.arange(1000.0)}, torn)
    torn.write_bytes(torn.read_bytes()[:300])
    with pytest.raises(CheckpointError) as err:
        ckpt_io.load_checkpoint(torn)
    msg = str(err.value)
    assert str(torn) in msg and "\n" not in msg and "delete" not in msg.lower() and "keep the file" in msg


# ----------------------------------------------------------------------------- validation before training
@pytest.mark.parametrize("kind", ["huge-id", "zero-byte"])
def test_bad_test_split_is_found_before_anything_is_written(small, tmp_path, kind):
    data = copy_of(small, tmp_path / "data")
    query = sorted((data / "query").iterdir())
    if kind == "huge-id":
        bad = data / "query" / "99999999999999999999999_c3s1_010466_01.jpg"
        shutil.copy(query[0], bad)
        needles = [bad.name, "out of range"]
        info = error_line(cli("info", "--data", data))            # `reidlab info` catches it too
        assert bad.name in info
    else:
        for q in query[:5]:
            q.write_bytes(b"")
        needles = [f"5 of {len(query)} images cannot be read", query[0].name, "zero-byte", "and 2 more"]
    out = tmp_path / "run"
    line = error_line(cli("train", "--preset", "bot-smoke", "--data", data, "--out", out, *FAST))
    for n in needles:
        assert n in line, line
    assert not out.exists()                                       # no training, no folder


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_permission_denied_image_is_not_called_corrupt():
    from fixtures import write_image

    from reidlab.data import decode_image

    tmp = Path(tempfile.mkdtemp(prefix="reidlab-perm-"))
    try:
        os.chmod(tmp, 0o755)
        img = write_image(tmp / "0001_c1s1_000001_00.jpg")
        os.chmod(img, 0o000)
        if os.geteuid() != 0:
            with pytest.raises(DatasetError) as err:
                decode_image(img)
            msg = str(err.value)
        else:   # root reads through mode bits: read as uid 65534 in a forked child
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                msg = "decoded"
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    decode_image(img)
                except BaseException as e:  # noqa: BLE001 - report anything to the parent
                    msg = str(e)
                finally:
                    os.write(w, msg.encode())
                    os._exit(0)
            os.close(w)
            msg = os.read(r, 65536).decode()
            os.waitpid(pid, 0)
        assert msg.startswith(str(img)) and "permission denied" in msg and "chmod" in msg, msg
        assert "corrupt" not in msg and "delete" not in msg
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_failed_evaluation_loses_no_training(small, tmp_path, monkeypatch):
    """The checkpoint is written before the evaluation: when the evaluation crashes, last.pt
    holds the trained iterations and marks the evaluation pending; a resume runs it."""
    import reidlab.engine.trainer as trainer

    out = tmp_path / "r"

    def crash(*a, **k):
        raise RuntimeError("evaluation crashed")

    monkeypatch.setattr(trainer, "_evaluate", crash)
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        train("bot-smoke", data=small, out=out, max_iters=2, progress=False, **TINY)
    ck = ckpt_io.load_checkpoint(out / "last.pt")
    assert ck["global_iter"] == 2 and ck["eval_pending"]
    rows = pd.read_csv(out / "metrics.csv")
    assert rows["iters"].tolist() == [2] and rows["mAP"].isna().all()
    weights = state_hash(ck["model"])
    monkeypatch.undo()
    run = train("bot-smoke", data=small, out=out, max_iters=2, resume=True, progress=False, **TINY)
    ck = ckpt_io.load_checkpoint(out / "last.pt")
    assert ck["global_iter"] == 2 and not ck["eval_pending"] and state_hash(ck["model"]) == weights
    assert run.metrics["mAP"].notna().all() and (out / "best.pt").is_file()
    assert pd.read_csv(out / "metrics.csv")["mAP"].notna().all()


def test_failed_resume_leaves_the_run_untouched(small, tmp_path):
    """Another identity count, another model, another width: refused before config.json
    (or anything else) is written."""
    from reidlab.data.synthetic import SynthConfig, generate

    out = tmp_path / "r"
    train("bot-smoke", data=small, out=out, max_iters=1, progress=False, evaluate=False, **TINY)
    other = generate(tmp_path / "other", SynthConfig.small(num_train_ids=6, num_test_ids=6, num_cameras=3))
    before = snapshot(out)
    mtime = (out / "config.json").stat().st_mtime_ns
    for args, needle in ((["--data", other], "trained on 8 identities"),
                         (["--set", "model=pfn"], "model='pfn'"),
                         (["--set", "model_options.backbone_width=0.25"], "0.25")):
        line = error_line(cli("train", "--out", out, "--resume", *args))
        assert needle in line and str(out / "last.pt") in line, line
        assert snapshot(out) == before and (out / "config.json").stat().st_mtime_ns == mtime


# ----------------------------------------------------------------------------- synth --out
def test_synth_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "D"
    args = ["synth", "--small", "--ids", "4", "--cameras", "2", "--out", out]
    assert cli(*args).returncode == 0
    (out / "my_annotations").mkdir()
    (out / "my_annotations" / "boxes.csv").write_text("mine\n")
    (out / "README.user").write_text("notes\n")
    proc = cli(*args, "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert (out / "my_annotations" / "boxes.csv").read_text() == "mine\n" and (out / "README.user").is_file()
    assert json.loads((out / "synthreid.json").read_text())["seed"] == 1
    stray = out / "query" / "extra_photo.jpg"
    stray.write_bytes(b"not the generator's")
    before = snapshot(out)
    line = error_line(cli(*args, "--seed", "2"))
    assert "query/extra_photo.jpg" in line and "not written by reidlab synth" in line
    assert snapshot(out) == before
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file" in error_line(cli("synth", "--small", "--out", afile))
    assert afile.read_text() == "x"


# ----------------------------------------------------------------------------- one-line errors
_BAD = [
    (["--set", "lr=abc"], "lr='abc'"),
    (["--set", "milestones=abc"], "milestones='abc'"),
    (["--set", "milestones=[1,2"], "milestones=[1,2"),
    (["--set", "batch_size=1.5"], "batch_size=1.5 is invalid; expected an integer"),
    (["--set", "p=1"], "p=1 is invalid"),
    (["--device", "tpu"], "device 'tpu'"),
    pytest.param(["--device", "cuda"], "CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
]


@pytest.mark.parametrize("args, needle", _BAD)
def test_bad_settings_fail_in_one_line_before_writing(small, tmp_path, args, needle):
    out = tmp_path / "run"
    line = error_line(cli("train", "--preset", "bot-smoke", "--data", small, "--out", out, *args))
    assert line.startswith("reidlab train: error:") and needle in line, line
    assert not out.exists()


def test_out_below_a_file_and_nonpositive_max_iters(small, tmp_path):
    (tmp_path / "afile").write_text("x")
    line = error_line(cli("train", "--preset", "bot-smoke", "--data", small, "--out", tmp_path / "afile" / "sub"))
    assert str(tmp_path / "afile") in line and "is a file" in line
    for n in ("0", "-5"):   # a usage error (exit 2), as argparse reports it
        line = error_line(cli("train", "--preset", "bot-smoke", "--data", small, "--out", tmp_path / "r",
                              "--max-iters", n), code=2)
        assert "--max-iters" in line and repr(n) in line
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ConfigError, match=f"max_iters={bad!r} is invalid"):
            train("bot-smoke", data=small, out=tmp_path / "lib", max_iters=bad)
    assert not (tmp_path / "r").exists() and not (tmp_path / "lib").exists()


def test_one_identity_cannot_train_and_one_query_identity_warns(small, tmp_path, caplog):
    from reidlab.engine.preflight import check_test_splits

    data = copy_of(small, tmp_path / "one")
    keep = sorted((data / "bounding_box_train").iterdir())[0].name.split("_")[0]
    for f in (data / "bounding_box_train").iterdir():
        if not f.name.startswith(keep + "_"):
            f.unlink()
    line = error_line(cli("train", "--preset", "bot-smoke", "--data", data, "--out", tmp_path / "r", "--set", "p=1"))
    assert "p=1" in line and "p >= 2" in line
    line = error_line(cli("train", "--preset", "lgeu-smoke", "--data", data, "--out", tmp_path / "r"))
    assert "1 identity" in line and "at least 2" in line
    assert not (tmp_path / "r").exists()
    R = SimpleNamespace
    ds = R(root="d", distractor_pids=(0,),
           query=[R(pid=5, camid=0), R(pid=-1, camid=1), R(pid=0, camid=1)],
           gallery=[R(pid=5, camid=1), R(pid=5, camid=0), R(pid=7, camid=2), R(pid=0, camid=0)])
    with caplog.at_level(logging.WARNING, logger="reidlab"):
        assert check_test_splits(ds) == 1
    assert "meaningless" in caplog.text
    ds.gallery = [R(pid=5, camid=0)]                                # only a same-camera match: junk
    with pytest.raises(DatasetError, match="no query has a true match"):
        check_test_splits(ds)


def test_keypoints_far_outside_the_image_are_rejected(small, tmp_path):
    from reidlab.data import load_dataset
    from reidlab.engine.extract import records_keypoints

    recs = load_dataset("auto", small).train[:2]
    h, w = 128, 64                                                   # the stored images' size
    for x, ok in ((w + 5.0, True), (-0.5 * w, True), (1.6 * w, False), (1e30, False)):
        kp = recs[0].keypoints.copy()
        kp[0] = (x, 10.0, 1.0)
        rec = dataclasses.replace(recs[0], keypoints=kp)
        if ok:
            assert records_keypoints([rec, recs[1]], (h, w))[1] == 2
        else:
            with pytest.raises(DatasetError, match="outside the image"):
                records_keypoints([rec, recs[1]], (h, w))
    data = copy_of(small, tmp_path / "kp")
    blob = json.loads((data / "keypoints.json").read_text())
    name = sorted(k for k in blob["keypoints"] if k.startswith("bounding_box_train/"))[0]
    blob["keypoints"][name][0:3] = [1e30, 5.0, 1.0]
    (data / "keypoints.json").write_text(json.dumps(blob))
    line = error_line(cli("train", "--preset", "jlpose-smoke", "--data", data, "--out", tmp_path / "r", *FAST))
    assert "outside the image" in line and name.split("/")[1] in line and "1e+30" in line
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- interruptions
def _default_sigint() -> None:
    """In the child: Ctrl-C's default action, even when the test runs in a background job whose
    shell set SIGINT to "ignore" (Python then keeps ignoring it and the run never stops)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_names_the_checkpoint_and_the_run_resumes(small, tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "reidlab", "train", "--preset", "bot-smoke", "--data", str(small),
                             "--out", str(out), *FAST, "--epochs", "100000", "--set", "ckpt_every_iters=1",
                             "--no-eval", "--no-progress"], env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (out / "last.pt").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    done = SimpleNamespace(returncode=proc.returncode, stderr=err, stdout="")
    line = error_line(done, code=130)
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    assert str(out / "last.pt") in line and f"reidlab train --out {out} --resume" in line
    g = ckpt_io.load_checkpoint(out / "last.pt")["global_iter"]
    assert f"iteration {g} of the run" in line
    proc2 = cli("train", "--out", out, "--resume", "--max-iters", g + 2, "--no-eval", "--no-progress")
    assert proc2.returncode == 0, proc2.stderr
    assert ckpt_io.load_checkpoint(out / "last.pt")["global_iter"] == g + 2


#: 2 epochs of 2 iterations, a checkpoint after every iteration, no evaluation.
RESUMABLE = dict(TINY, epochs=2, iters_per_epoch=2, ckpt_every_iters=1)

_CHILD = """
import io, os, signal, sys, torch
torch.set_num_threads(1)
from reidlab.engine.trainer import train
real_save, calls = torch.save, [0]

def save(obj, f, *args, **kwargs):   # the 3rd checkpoint write dies half-way with SIGKILL
    calls[0] += 1
    if calls[0] == 3:
        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 3])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
train("bot-smoke", data=sys.argv[1], out=sys.argv[2], progress=False, evaluate=False, **{kw!r})
"""


@pytest.fixture(scope="module")
def reference(small, tmp_path_factory):
    """Weights of the uninterrupted run (one thread: bit-reproducible across processes)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = train("bot-smoke", data=small, out=tmp_path_factory.mktemp("ref") / "r", progress=False,
                    evaluate=False, **RESUMABLE)
    finally:
        torch.set_num_threads(n)
    return state_hash(run.model.state_dict()), run.metrics["loss"].tolist()


def test_kill_during_a_checkpoint_write_resumes_from_the_previous_one(small, tmp_path, reference, one_thread, caplog):
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(kw=RESUMABLE), str(small), str(out)],
                          env=ENV, cwd=REPO, timeout=240)
    assert proc.returncode == -signal.SIGKILL
    assert ckpt_io.load_checkpoint(out / "last.pt")["global_iter"] == 2              # the write before the kill
    assert ckpt_io.load_checkpoint(out / "last.prev.pt")["global_iter"] == 1
    # worse than a torn temporary file: last.pt itself damaged (e.g. a disk error) -> last.prev.pt
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="reidlab"):
        resumed = train("bot-smoke", data=small, out=out, progress=False, evaluate=False, resume=True, **RESUMABLE)
    assert "last.prev.pt" in caplog.text
    assert state_hash(resumed.model.state_dict()) == reference[0]
    assert resumed.metrics["loss"].tolist() == reference[1]


def test_disk_full_during_a_checkpoint_keeps_the_run_consistent(small, tmp_path, reference, one_thread, monkeypatch):
    out = tmp_path / "full"
    real_save, calls = torch.save, [0]

    def save(obj, f, *args, **kwargs):   # the 3rd checkpoint write runs out of space half-way
        calls[0] += 1
        if calls[0] == 3:
            import io

            buf = io.BytesIO()
            real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(CheckpointError) as err:
        train("bot-smoke", data=small, out=out, progress=False, evaluate=False, **RESUMABLE)
    msg = str(err.value)
    assert "No space left on device" in msg and "--resume" in msg and "\n" not in msg
    assert isinstance(err.value, ReIDLabError)
    monkeypatch.undo()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]            # no torn temporary file
    ck = ckpt_io.load_checkpoint(out / "last.pt")
    assert ck["global_iter"] == 2 and ck["epoch"] == 1
    rows = pd.read_csv(out / "metrics.csv")                                           # = what last.pt holds
    assert rows["iters"].tolist() == [r["iters"] for r in ck["history"]] == [2]
    resumed = train("bot-smoke", data=small, out=out, progress=False, evaluate=False, resume=True, **RESUMABLE)
    assert state_hash(resumed.model.state_dict()) == reference[0]
