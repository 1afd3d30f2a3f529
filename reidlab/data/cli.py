"""``reidlab synth`` and ``reidlab info``: thin argparse front ends of
:func:`reidlab.data.synthetic.generate` and :func:`reidlab.data.load_dataset`.

The library functions log and return values; these entry points print the summaries.
Errors a user can act on propagate to :func:`reidlab.cli.main` (one line, exit 1).
Imports are lazy so ``import reidlab.data`` stays light.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Optional, Sequence

__all__ = ["synth_main", "info_main"]


def synth_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab synth --out DIR [--seed N] [--ids N] [--cameras N] [--small] [--progress]``."""
    from reidlab.data.synthetic import SynthConfig, generate, load_info
    from reidlab.log import log_to_console

    ap = argparse.ArgumentParser(
        prog="reidlab synth", description="Generate the SynthReID dataset (Market-1501 layout). An existing "
        "SynthReID folder is regenerated in place; files you added next to the split folders are kept.")
    ap.add_argument("--out", default="data/synthreid", help="output folder (default data/synthreid)")
    ap.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    ap.add_argument("--ids", type=int, default=None, help="identities per split (default 300; --small: 40)")
    ap.add_argument("--cameras", type=int, default=None, help="number of cameras, 2..9 (default 6)")
    ap.add_argument("--small", action="store_true", help="tiny preset for tests and smoke runs (40 + 40 ids)")
    ap.add_argument("--progress", action="store_true", help="print progress to stderr")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.progress:
        log_to_console(logging.INFO, sys.stderr)
    over: dict = {"seed": args.seed}
    if args.ids is not None:
        over.update(num_train_ids=args.ids, num_test_ids=args.ids)
    if args.cameras is not None:
        over["num_cameras"] = args.cameras
    cfg = SynthConfig.small(**over) if args.small else SynthConfig(**over)
    t0 = time.perf_counter()
    root = generate(args.out, cfg, progress=args.progress)
    dt = time.perf_counter() - t0
    c = load_info(root)["counts"]
    print(f"SynthReID -> {root}: {cfg.num_train_ids}+{cfg.num_test_ids} ids, {cfg.num_cameras} cameras, "
          f"train {c['bounding_box_train']} / query {c['query']} / gallery {c['bounding_box_test']} / "
          f"gt_bbox {c['gt_bbox']} images, seed {cfg.seed}, {dt:.1f} s")
    return 0


def info_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab info --data PATH [--name auto|market1501|...]``: print the dataset summary."""
    from reidlab.data.datasets import detect_layout, list_datasets, load_dataset

    parser = argparse.ArgumentParser(prog="reidlab info", description="print a dataset's summary table")
    parser.add_argument("--data", required=True, help="dataset root folder")
    parser.add_argument("--name", default="auto", help=f"layout: auto (default) or one of {', '.join(list_datasets())}")
    parser.add_argument("--version", default=None, help="msmt17 only: V1, V2 or auto")
    parser.add_argument("--variant", default=None, help="cuhk03np only: detected (default) or labeled")
    parser.add_argument("--keypoints", default="auto", help="keypoint file/folder, 'auto' (default) or 'none'")
    args = parser.parse_args(list(argv) if argv is not None else None)
    name = detect_layout(args.data) if args.name == "auto" else args.name
    options = {}
    if args.version is not None:
        options["version"] = args.version
    if args.variant is not None:
        options["variant"] = args.variant
    kp = None if args.keypoints.lower() == "none" else args.keypoints
    ds = load_dataset(name, args.data, keypoints=kp, **options)
    print(ds.summary())
    return 0
