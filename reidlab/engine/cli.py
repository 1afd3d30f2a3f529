"""``reidlab train`` and ``reidlab eval``: thin argparse front ends of
:func:`reidlab.engine.train` and :func:`reidlab.engine.evaluate_run`.

Errors a user can act on (:class:`~reidlab.errors.ReIDLabError`) propagate to
:func:`reidlab.cli.main`, which prints them as one line without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from reidlab.engine.runs import evaluate_run, load_run, settings_from_flags
from reidlab.errors import ConfigError
from reidlab.eval.protocol import QE_DEFAULTS, RERANK_DEFAULTS, parse_setting
from reidlab.fileio import atomic_open

__all__ = ["train_main", "eval_main", "format_results"]


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a whole number >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a whole number >= 1")
    return value


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reidlab train",
        description="Train a model from a preset on a dataset folder; writes config.json, metrics.csv, "
                    "last.pt (+ last.prev.pt, the checkpoint before it) and best.pt to --out.",
        epilog="examples:\n"
               "  reidlab train --preset pfn-cpu-demo --data data/synthreid --out runs/pfn\n"
               "  reidlab train --out runs/pfn --resume                   # continue from last.pt\n"
               "  reidlab train --out runs/pfn --resume runs/pfn/best.pt  # continue from a named checkpoint\n"
               "  reidlab train --preset bot-smoke --data data/synthreid --out runs/t --max-iters 5 --set lr=1e-3\n"
               "  reidlab train --config run.yaml --out runs/t2 --seed 1      # a config file; flags override it\n"
               "  reidlab train --config runs/pfn/config.json --out runs/pfn2  # again, from an earlier run's config\n"
               "  torchrun --nproc_per_node 2 -m reidlab train --preset bot-cpu-demo --data data/synthreid --out runs/ddp\n"
               "presets: reidlab train --list-presets\n"
               "precedence: preset < the --config file (its overrides, then its data/out/seed/...) < flags < --set",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", help="recipe name, e.g. pfn-cpu-demo (see --list-presets); default with --resume: the run's")
    p.add_argument("--config", metavar="FILE",
                   help="a config file (YAML or JSON): `preset: NAME` + `overrides:` (+ data, out, seed...), a full "
                        "preset (reidlab presets show NAME), or an earlier run's config.json; flags given with it "
                        "override it")
    p.add_argument("--data", help="dataset root folder (e.g. data/synthreid); default with --resume: the run's")
    p.add_argument("--out", help="run folder (must be empty unless --resume)")
    p.add_argument("--dataset", default=None, help="dataset layout (default: auto-detect)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="override the preset's number of epochs")
    p.add_argument("--max-iters", type=_positive_int, default=None, help="stop after N iterations in total (quick runs)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue the run in --out from last.pt (or from CHECKPOINT, e.g. runs/x/best.pt)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: auto = cuda if available)")
    p.add_argument("--cache-dir", default=None, help="keep decoded training images memory-mapped here")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset field (repeatable), e.g. --set lr=0.001 --set model_options.backbone_width=0.25")
    p.add_argument("--no-eval", action="store_true", help="skip the periodic and final evaluation")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no per-epoch lines")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log per-iteration losses and lr and per-evaluation metrics to <out>/tb/ "
                        "(preset field tensorboard=true; needs pip install 'reidlab[tensorboard]')")
    p.add_argument("--list-presets", action="store_true",
                   help="print the presets with their iterations per epoch and in total on --dataset's published "
                        "size (default market1501) or on --data's training split, and exit (see reidlab presets)")
    return p


#: ``train()`` arguments that have their own option: ``--set seed=3`` is refused with a pointer to it.
_OWN_OPTIONS = {"seed": "--seed", "max_iters": "--max-iters", "device": "--device",
                "data": "--data", "out": "--out", "resume": "--resume", "dataset": "--dataset",
                "cache_dir": "--cache-dir", "evaluate": "--no-eval", "progress": "--no-progress",
                "name": "--preset", "preset_or_config": "--preset"}


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab train`` entry point; returns the process exit code.

    Per-epoch lines (the ``reidlab`` logger) and warnings go to stderr, the final summary to
    stdout. Ctrl-C ends with one line naming the last checkpoint (exit 130, in
    :func:`reidlab.cli.main`).
    """
    import logging
    import os
    import sys

    from reidlab.errors import ConfigError
    from reidlab.log import log_to_console
    from reidlab.presets import parse_override

    args = _train_parser().parse_args(argv)
    if args.list_presets:
        from reidlab.presets_cli import list_text

        print(list_text(None if args.dataset in (None, "auto") else args.dataset, data=args.data))
        return 0
    overrides = dict(parse_override(s) for s in args.overrides)
    for key in overrides:
        if key in _OWN_OPTIONS:
            raise ConfigError(f"--set {key}=...: {key} is not a preset field; use {_OWN_OPTIONS[key]}")
    if args.tensorboard:
        overrides["tensorboard"] = True
    kwargs = _train_arguments(args)
    preset = args.preset
    if args.config is not None:
        if args.preset is not None:
            raise ConfigError(f"--config {args.config} and --preset {args.preset}: give one (the file names its "
                              "preset; --set key=value overrides single fields)")
        if args.resume:
            raise ConfigError(f"--config {args.config} with --resume: a resumed run keeps its own config.json; "
                              "drop --config (or train into a new --out from it)")
        from reidlab.engine.runconfig import load_run_config

        cfg = load_run_config(args.config)
        preset = cfg.preset
        kwargs = {**cfg.train_args, **kwargs}   # flags given on the command line win
    needed = ("out",) if args.resume else ("data", "out")
    for name in needed:
        if kwargs.get(name) is None:
            raise ConfigError(f"--{name} is required (see reidlab train --help)")
    if preset is None and not args.resume:
        raise ConfigError("--preset (or --config FILE) is required (see reidlab train --help)")
    if "epochs" in overrides:                  # --set epochs=N is --epochs N (which wins when both are given)
        epochs = overrides.pop("epochs")
        if args.epochs is None:
            kwargs["epochs"] = epochs
    log_to_console(logging.WARNING if args.no_progress else logging.INFO, sys.stderr)
    from reidlab.engine.trainer import train

    run = train(preset, resume=args.resume, progress=not args.no_progress, **kwargs, **overrides)
    if int(os.environ.get("RANK", "0")) == 0:
        m = run.metrics
        if m is not None and len(m) and "mAP" in m and m["mAP"].notna().any():
            last = m[m["mAP"].notna()].iloc[-1]
            print(f"{run.path}: epoch {int(last['epoch'])}  rank1 {100 * last['rank1']:.2f}%  mAP {100 * last['mAP']:.2f}%")
        print(f"run folder: {run.path}  (evaluate: reidlab eval --run {run.path})")
    return 0


def _train_arguments(args: argparse.Namespace) -> dict:
    """The ``train()`` arguments given on the command line (flags left out are absent, so a
    ``--config`` file's values stay)."""
    given = {"data": args.data, "out": args.out, "dataset": args.dataset, "seed": args.seed, "epochs": args.epochs,
             "max_iters": args.max_iters, "device": args.device, "cache_dir": args.cache_dir}
    kwargs = {k: v for k, v in given.items() if v is not None}
    if args.no_eval:
        kwargs["evaluate"] = False
    return kwargs


def format_results(df, title: str = "") -> str:
    """Results table for display: metrics in percent (two decimals), then the query counts.

    ``df`` is an :meth:`reidlab.eval.Evaluation.table` (fractions); only this display multiplies by 100.
    """
    cols = [c for c in ("rank1", "rank5", "rank10", "mAP", "mINP") if c in df.columns]
    width = max([len("setting")] + [len(str(i)) for i in df.index])
    lines = [title] if title else []
    counts = "queries" in df.columns and "skipped" in df.columns
    lines.append(f"{'setting':<{width}}  " + "  ".join(f"{c:>7}" for c in cols) + ("  queries (skipped)" if counts else ""))
    for name, row in df.iterrows():
        line = f"{str(name):<{width}}  " + "  ".join(f"{100 * row[c]:>7.2f}" for c in cols)
        if counts:
            line += f"  {int(row['queries']):>7} ({int(row['skipped'])})"
        lines.append(line)
    return "\n".join(lines)


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reidlab eval",
        description="Evaluate a run folder on its dataset's query/gallery split and print a results table "
                    "(CMC rank-1/5/10, mAP, mINP in %; standard AP; the junk rule). Extracted features are "
                    "cached in the run folder (features/, keyed by checkpoint, model, images and settings).",
        epilog="examples:\n  reidlab eval --run runs/pfn --rerank --st\n"
               "  reidlab eval --run runs/pfn --setting qe+rerank --setting multi-query+st --csv results.csv\n"
               "settings: single-query, or '+'-joined tokens of multi-query, qe, st, rerank",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, help="run folder written by reidlab train")
    p.add_argument("--rerank", action="store_true",
                   help="add k-reciprocal re-ranking (k1={k1}, k2={k2}, lambda={lambda_value})".format(**RERANK_DEFAULTS))
    p.add_argument("--st", action="store_true", help="add spatial-temporal scoring (ST model fitted on train)")
    p.add_argument("--qe", action="store_true", help="add alpha query expansion (top {top_k}, alpha {alpha:g})".format(**QE_DEFAULTS))
    p.add_argument("--multi-query", action="store_true", help="add Market's multi-query (gt_bbox) setting")
    p.add_argument("--setting", dest="settings", action="append", default=[], metavar="NAME",
                   help="evaluate this setting too (repeatable), e.g. st+rerank, qe+rerank, multi-query+st")
    p.add_argument("--preset-defaults", action="store_true",
                   help="also enable the variants the preset reports (e.g. MGWP: re-ranking + multi-query)")
    p.add_argument("--checkpoint", default="auto", choices=("auto", "best", "last"),
                   help="weights to evaluate (default: best if present, else last)")
    p.add_argument("--data", default=None, help="dataset folder (default: the run's)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the run's feature cache")
    p.add_argument("--csv", default=None, help="also write the table (fractions in [0, 1]) to this CSV file")
    return p


def _check_csv_destination(path: str) -> Path:
    """One-line ConfigError unless ``path`` can be written (checked before the evaluation)."""
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"--csv {path}: is a folder; give a file name such as {out / 'results.csv'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"--csv {path}: folder {parent} does not exist; create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ConfigError(f"--csv {path}: not writable; choose a path in a folder you can write to")
    return out


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab eval`` entry point; returns the process exit code."""
    args = _eval_parser().parse_args(argv)
    csv = _check_csv_destination(args.csv) if args.csv else None
    settings = [parse_setting(s) for s in args.settings]  # bad names fail before any work
    run = load_run(args.run, checkpoint=args.checkpoint, device=args.device or "cpu")
    p = run.preset
    rerank, st, qe, mq = args.rerank, args.st, args.qe, args.multi_query
    if args.preset_defaults:
        rerank, st, qe, mq = rerank or p.eval_rerank, st or p.eval_st, qe or p.eval_qe, mq or p.eval_multi_query
    names = settings_from_flags(rerank, st, qe, mq) if not settings or any((rerank, st, qe, mq)) else []
    names += [s for s in settings if s not in names]
    df = evaluate_run(run, names, data=args.data, progress=sys.stderr.isatty(), use_cache=not args.no_cache)
    title = (f"{run.path}  preset {p.name}  ({run.checkpoint}.pt, metric {p.metric}, "
             f"flip TTA {p.test_flip or 'off'})")
    print(format_results(df, title))
    if csv is not None:
        with atomic_open(csv, "w") as fh:
            df.to_csv(fh)
    return 0
