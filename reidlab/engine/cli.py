"""``reidlab train`` and ``reidlab eval``: thin argparse front ends of
:func:`reidlab.engine.train` and :func:`reidlab.engine.evaluate_run`.

Errors a user can act on (:class:`~reidlab.errors.ReIDLabError`) propagate to
:func:`reidlab.cli.main`, which prints them as one line without a traceback.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

__all__ = ["train_main", "eval_main", "format_results"]


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reidlab train",
        description="Train a model from a preset on a dataset folder; writes config.json, metrics.csv, "
                    "last.pt and best.pt to --out.",
        epilog="examples:\n"
               "  reidlab train --preset pfn-cpu-demo --data data/synthreid --out runs/pfn\n"
               "  reidlab train --preset pfn-cpu-demo --data data/synthreid --out runs/pfn --resume\n"
               "  reidlab train --preset bot-smoke --data data/synthreid --out runs/t --max-iters 5 --set lr=1e-3\n"
               "  torchrun --nproc_per_node 2 -m reidlab train --preset bot-cpu-demo --data data/synthreid --out runs/ddp\n"
               "presets: reidlab train --list-presets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", help="recipe name, e.g. pfn-cpu-demo (see --list-presets)")
    p.add_argument("--data", help="dataset root folder (e.g. data/synthreid)")
    p.add_argument("--out", help="run folder (must be empty unless --resume)")
    p.add_argument("--dataset", default="auto", help="dataset layout (default: auto-detect)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    p.add_argument("--max-iters", type=int, default=None, help="stop after N iterations in total (quick runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--cache-dir", default=None, help="keep decoded training images memory-mapped here")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset field (repeatable), e.g. --set lr=0.001 --set model_options.backbone_width=0.25")
    p.add_argument("--no-eval", action="store_true", help="skip the periodic and final evaluation")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no per-epoch lines")
    p.add_argument("--list-presets", action="store_true",
                   help="print the presets with their iterations per epoch and in total on --dataset's published "
                        "size (default market1501) or on --data's training split, and exit (see reidlab presets)")
    return p


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab train`` entry point; returns the process exit code."""
    from reidlab.errors import ConfigError
    from reidlab.presets import parse_override

    args = _train_parser().parse_args(argv)
    if args.list_presets:
        from reidlab.presets_cli import list_text

        print(list_text(None if args.dataset == "auto" else args.dataset, data=args.data))
        return 0
    for name in ("preset", "data", "out"):
        if getattr(args, name) is None:
            raise ConfigError(f"--{name} is required (see reidlab train --help)")
    overrides = dict(parse_override(s) for s in args.overrides)
    epochs = args.epochs if args.epochs is not None else overrides.pop("epochs", None)
    overrides.pop("epochs", None)
    from reidlab.engine.trainer import train

    run = train(args.preset, data=args.data, out=args.out, seed=args.seed, epochs=epochs,
                max_iters=args.max_iters, device=args.device, resume=args.resume,
                progress=not args.no_progress, dataset=args.dataset, cache_dir=args.cache_dir,
                evaluate=not args.no_eval, **overrides)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        m = run.metrics
        if m is not None and len(m) and "mAP" in m and m["mAP"].notna().any():
            last = m[m["mAP"].notna()].iloc[-1]
            print(f"{run.path}: epoch {int(last['epoch'])}  rank1 {100 * last['rank1']:.2f}%  mAP {100 * last['mAP']:.2f}%")
        print(f"run folder: {run.path}  (evaluate: reidlab eval --run {run.path})")
    return 0


def format_results(df, title: str = "") -> str:
    """Results table in percent, one row per variant (as ``reidlab eval`` prints it)."""
    cols = [c for c in ("rank1", "rank5", "rank10", "mAP", "mINP") if c in df.columns]
    width = max([len("variant")] + [len(str(i)) for i in df.index])
    lines = [title] if title else []
    lines.append(f"{'variant':<{width}}  " + "  ".join(f"{c:>7}" for c in cols))
    for name, row in df.iterrows():
        lines.append(f"{str(name):<{width}}  " + "  ".join(f"{100 * row[c]:>7.2f}" for c in cols))
    return "\n".join(lines)


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reidlab eval",
        description="Evaluate a run folder on its dataset's query/gallery split and print a results table "
                    "(CMC rank-1/5/10, mAP, mINP in %; standard AP; Market junk rule). Extracted features are "
                    "cached in the run folder (features.pt).",
        epilog="example:\n  reidlab eval --run runs/pfn --rerank --st",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, help="run folder written by reidlab train")
    p.add_argument("--rerank", action="store_true", help="add k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--st", action="store_true", help="add spatial-temporal scoring (ST model fitted on train)")
    p.add_argument("--qe", action="store_true", help="add average query expansion")
    p.add_argument("--multi-query", action="store_true", help="add Market's multi-query (gt_bbox) setting")
    p.add_argument("--preset-defaults", action="store_true",
                   help="also enable the variants the preset reports (e.g. MGWP: re-ranking + multi-query)")
    p.add_argument("--checkpoint", default="auto", choices=("auto", "best", "last"),
                   help="weights to evaluate (default: best if present, else last)")
    p.add_argument("--data", default=None, help="dataset folder (default: the run's)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write features.pt")
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")
    return p


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab eval`` entry point; returns the process exit code."""
    args = _eval_parser().parse_args(argv)
    from reidlab.engine.runs import evaluate_run, load_run

    run = load_run(args.run, checkpoint=args.checkpoint, device=args.device or "cpu")
    p = run.preset
    rerank, st, qe, mq = args.rerank, args.st, args.qe, args.multi_query
    if args.preset_defaults:
        rerank, st, qe, mq = rerank or p.eval_rerank, st or p.eval_st, qe or p.eval_qe, mq or p.eval_multi_query
    import sys

    df = evaluate_run(run, rerank=rerank, st=st, qe=qe, multi_query=mq, data=args.data,
                      progress=sys.stderr.isatty(), use_cache=not args.no_cache)
    title = (f"{run.path}  preset {p.name}  ({run.checkpoint}.pt, metric {p.metric}, "
             f"flip TTA {p.test_flip or 'off'})")
    print(format_results(df, title))
    if args.csv:
        df.to_csv(args.csv)
    return 0
