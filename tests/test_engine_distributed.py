"""The training entry point under ``torchrun --nproc_per_node 2`` (gloo on CPU): DDP with a
distributed PK sampler; every rank must end with the same weights, only rank 0 writes."""

from __future__ import annotations

import os
import subprocess
import sys

from test_engine import REPO, TINY, tiny_dataset

_SCRIPT = """
import hashlib, os, sys, torch
torch.set_num_threads(1)
from reidlab.engine.trainer import train
run = train("bot-smoke", data=sys.argv[1], out=sys.argv[2], progress=False, **{kw!r})

def digest(named):
    h = hashlib.sha256()
    for k, v in sorted(named):
        h.update(k.encode()); h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()

params = digest(run.model.named_parameters())            # kept equal by DDP's gradient all-reduce
buffers = digest(run.model.named_buffers())              # BN statistics, taken from rank 0 at the end
rank = os.environ["RANK"]
with open(os.path.join(sys.argv[3], "rank" + rank + ".txt"), "w") as f:
    f.write(" ".join([params, buffers, str(len(run.metrics)), os.environ["WORLD_SIZE"]]))
"""


def test_torchrun_two_gloo_processes_end_with_identical_weights(tmp_path_factory, tmp_path):
    data = tiny_dataset(tmp_path_factory.getbasetemp())
    kw = dict(TINY, epochs=2, iters_per_epoch=2)
    script = tmp_path / "ddp_train.py"
    script.write_text(_SCRIPT.format(kw=kw))
    out, marks = tmp_path / "run", tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(data), str(out), str(marks)],
                          env=env, cwd=REPO, timeout=240, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = (marks / "rank0.txt").read_text().split()
    r1 = (marks / "rank1.txt").read_text().split()
    assert r0[0] == r1[0]                      # synchronised parameters after 4 DDP steps
    assert r0[1] == r1[1]                      # and BN buffers
    assert r0[2:] == r1[2:] == ["2", "2"]      # both ranks logged 2 epochs; world size 2

    from reidlab.engine import checkpoint as ckpt_io

    state = ckpt_io.load_checkpoint(out / "last.pt")
    assert state["config"]["world_size"] == 2 and state["global_iter"] == 4
    import pandas as pd

    m = pd.read_csv(out / "metrics.csv")
    assert m["epoch"].tolist() == [1, 2] and m["mAP"].notna().iloc[-1]
    # only rank 0 writes: exactly one set of run files, no stray temporary files
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "last.prev.pt", "last.pt", "metrics.csv"]
