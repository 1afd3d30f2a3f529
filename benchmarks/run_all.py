"""Run every benchmark in sequence (``make bench``), each in its own process.

Each script prints its own table with ratios against a reference measured in the same
process; see benchmarks/README.md for the latest recorded numbers. The evaluation benchmark
compares against torchreid when ``benchmarks/setup_torchreid.sh`` has been run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_pipeline.py", "bench_train_loop.py", "bench_eval.py")


def main() -> int:
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
