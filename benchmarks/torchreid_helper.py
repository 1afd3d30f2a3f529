"""Runs torchreid 0.2.5's evaluate_rank / re_ranking on arrays saved by bench_eval.py.

Executed with benchmarks/.venv-torchreid/bin/python (see setup_torchreid.sh). torchreid's package
__init__ imports its whole training stack (opencv, tensorboard, ...), which the benchmark does not
need, so the packages are registered as empty namespaces and only metrics/rank.py (with the
compiled rank_cy) and utils/rerank.py are loaded.

    python torchreid_helper.py eval   IN.npz OUT.npz [--python] [--repeats=N]   # evaluate_rank (Cython, or the Python one)
    python torchreid_helper.py rerank IN.npz OUT.npz              # re_ranking(q_g, q_q, g_g)

Prints one JSON line: {"seconds": ..., "maxrss_mb": ..., ...}.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import resource
import sys
import time
import types

import numpy as np


def _load_torchreid():
    spec = importlib.util.find_spec("torchreid")
    root = os.path.dirname(spec.origin)
    for name, path in (("torchreid", root), ("torchreid.reid", f"{root}/reid"),
                       ("torchreid.reid.metrics", f"{root}/reid/metrics"),
                       ("torchreid.reid.metrics.rank_cylib", f"{root}/reid/metrics/rank_cylib"),
                       ("torchreid.reid.utils", f"{root}/reid/utils")):
        mod = types.ModuleType(name)
        mod.__path__ = [path]
        sys.modules[name] = mod
    rank = importlib.import_module("torchreid.reid.metrics.rank")
    rerank = importlib.import_module("torchreid.reid.utils.rerank")
    return rank, rerank


def _peak_mb() -> float:
    """VmHWM (peak RSS of this process since exec; ru_maxrss would include the parent's at fork)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    mode, src, dst = argv[:3]
    rank, rerank = _load_torchreid()
    data = np.load(src)
    info: dict = {"cython": bool(rank.IS_CYTHON_AVAI)}
    if mode == "eval":
        use_cython = "--python" not in argv
        info["cython"] = info["cython"] and use_cython
        args = [data[k] for k in ("distmat", "q_pids", "g_pids", "q_camids", "g_camids")]
        repeats = next((int(a.split("=")[1]) for a in argv if a.startswith("--repeats=")), 1)
        best = float("inf")
        for _ in range(repeats):  # fastest of `repeats` runs (shared machine)
            t = time.perf_counter()
            cmc, mAP = rank.evaluate_rank(*args, max_rank=50, use_cython=use_cython)[:2]
            best = min(best, time.perf_counter() - t)
        info["seconds"] = best
        np.savez(dst, cmc=np.asarray(cmc), mAP=np.asarray(mAP))
    elif mode == "rerank":
        t = time.perf_counter()
        out = rerank.re_ranking(data["q_g"], data["q_q"], data["g_g"], k1=20, k2=6, lambda_value=0.3)
        info["seconds"] = time.perf_counter() - t
        np.save(dst, out)
    else:
        raise SystemExit(f"torchreid_helper: unknown mode {mode!r}; expected eval or rerank")
    info["maxrss_mb"] = _peak_mb()
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
