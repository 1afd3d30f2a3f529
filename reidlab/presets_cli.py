"""``reidlab presets list|show``: the recipes with their iterations on a dataset size.

A recipe's epochs only mean something next to the iterations an epoch has on the data it
will run on; these commands print both, so a schedule can be checked before a long GPU run::

    reidlab presets list                              # every preset, on Market-1501
    reidlab presets list --dataset msmt17             # ... on MSMT17's training split
    reidlab presets list --ids 500 --images 9000      # ... on any size
    reidlab presets show jlpose-paper                 # one preset as YAML + its iterations
    reidlab presets show pfn-paper > run.yaml         # ... a config file for reidlab train --config
    reidlab presets show pfn-paper --data data/market1501   # exact, from a dataset folder

Sizes come from :data:`reidlab.presets.DATASET_SIZES` (published training splits). With
totals only, the "images" PK epoch is an estimate (marked ``~``); ``--data`` counts the
images of every identity and is exact. ``reidlab train --list-presets`` prints the same list.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Optional, Sequence

from reidlab.errors import ConfigError
from reidlab.presets import (DATASET_SIZES, LEGACY_PRESETS, Preset, get_preset, iterations_per_epoch,
                             list_presets)

__all__ = ["main", "preset_table", "preset_yaml", "schedule_table", "resolve_size"]


def resolve_size(dataset: Optional[str] = None, ids: Optional[int] = None, images: Optional[int] = None,
                 data: Optional[str] = None) -> tuple[str, int, int, Optional[list[int]]]:
    """``(label, ids, images, counts)`` of the training split to size recipes on.

    ``data`` (a dataset folder) gives exact per-identity counts; else ``ids`` + ``images``;
    else a name of :data:`DATASET_SIZES` (default ``market1501``).
    """
    if data is not None:
        from collections import Counter

        from reidlab.data import load_dataset

        ds = load_dataset("auto", data, keypoints=None)
        counts = sorted(Counter(r.pid for r in ds.train).values())
        return str(data), len(counts), sum(counts), counts
    if ids is not None or images is not None:
        if ids is None or images is None:
            raise ConfigError("give both --ids and --images (training identities and images), or --dataset NAME")
        return f"{ids} ids / {images} images", int(ids), int(images), None
    name = dataset or "market1501"
    if name not in DATASET_SIZES:
        raise ConfigError(f"--dataset {name!r} has no published size; expected one of {', '.join(DATASET_SIZES)} "
                          "(or --ids N --images M, or --data FOLDER)")
    n_ids, n_images = DATASET_SIZES[name]
    return name, n_ids, n_images, None


def _fmt_int(n: int, exact: bool) -> str:
    return f"{'' if exact else '~'}{n:,}"


def _batch(p: Preset) -> str:
    return f"{p.p}x{p.k}" if p.sampler == "pk" else f"{p.batch_size}"


def _epoch(p: Preset) -> str:
    return p.pk_epoch if p.sampler == "pk" else "random"


def preset_table(names: Sequence[str], ids: int, images: int, counts: Optional[list[int]] = None) -> str:
    """One line per preset: input, optimiser/lr, epochs, batch (P x K or size), epoch
    definition, iterations per epoch and in total on the given training split."""
    head = ("preset", "input", "optimiser/lr", "epochs", "batch", "epoch", "it/epoch", "total it")
    rows = []
    for name in names:
        p = get_preset(name)
        it, exact = iterations_per_epoch(p, ids, images, counts)
        rows.append((name, "x".join(map(str, p.input_size)), f"{p.optimizer} {p.lr:g}", str(p.epochs), _batch(p),
                     _epoch(p), _fmt_int(it, exact), _fmt_int(it * p.epochs, exact)))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3, 6, 7}
    lines = []
    for r in [head, *rows]:
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(line.rstrip() for line in lines)


def schedule_table(p: Preset, sizes: Sequence[tuple[str, int, int, Optional[list[int]]]]) -> str:
    """One line per training split: iterations per epoch, in total, at the end of warm-up and
    at each learning-rate milestone."""
    head = ("dataset", "ids", "images", "it/epoch", "total it", "warm-up it", "lr steps at it")
    rows = []
    for label, ids, images, counts in sizes:
        it, exact = iterations_per_epoch(p, ids, images, counts)
        steps = ", ".join(_fmt_int(m * it, exact) for m in p.milestones) or "-"
        warm = _fmt_int(round(p.warmup_epochs * it), exact) if p.warmup_epochs else "-"
        rows.append((label, f"{ids:,}", f"{images:,}", _fmt_int(it, exact), _fmt_int(it * p.epochs, exact), warm, steps))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in [head, *rows])


def preset_yaml(p: Preset) -> str:
    """The preset as YAML: one ``field: value`` line per field, values in JSON form (JSON is
    a subset of YAML 1.2, so any YAML reader loads it back to :meth:`Preset.to_dict`)."""
    return "\n".join(f"{k}: {json.dumps(v)}" for k, v in p.to_dict().items())


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="reidlab presets",
        description="List the training recipes, or show one, with their iterations per epoch and in total "
                    "on a training split (published sizes, or counted from a dataset folder).",
        epilog="examples:\n"
               "  reidlab presets list --dataset market1501\n"
               "  reidlab presets list --ids 1041 --images 32621\n"
               "  reidlab presets show jlpose-paper\n"
               "  reidlab presets show pfn-paper --data data/synthreid\n"
               f"dataset sizes: {', '.join(f'{k} {v[0]}/{v[1]}' for k, v in DATASET_SIZES.items())}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="action", required=True)
    for action, help_ in (("list", "every preset with its iterations"), ("show", "one preset as YAML + its schedule")):
        sp = sub.add_parser(action, help=help_)
        if action == "show":
            sp.add_argument("name", help="preset name, e.g. pfn-paper")
        else:
            sp.add_argument("--model", default=None, help="only the presets of this model (e.g. jlpose)")
            sp.add_argument("--legacy", action="store_true", help="also the legacy jlpose names")
        sp.add_argument("--dataset", default=None, choices=list(DATASET_SIZES),
                        help="published training-split size (list default: market1501; show default: all)")
        sp.add_argument("--ids", type=int, default=None, help="training identities (with --images)")
        sp.add_argument("--images", type=int, default=None, help="training images (with --ids)")
        sp.add_argument("--data", default=None, help="dataset folder: count its training images per identity (exact)")
    return ap


def list_text(dataset: Optional[str] = None, ids: Optional[int] = None, images: Optional[int] = None,
              data: Optional[str] = None, model: Optional[str] = None, legacy: bool = False) -> str:
    """The text ``reidlab presets list`` (and ``reidlab train --list-presets``) prints."""
    label, n_ids, n_images, counts = resolve_size(dataset, ids, images, data)
    names = list_presets(model)
    note = "exact" if counts is not None else "~ = estimated from the totals"
    out = [f"iterations on {label} ({n_ids:,} identities, {n_images:,} training images; {note})",
           preset_table(names, n_ids, n_images, counts)]
    old = [n for n in list_presets(model, include_legacy=True) if n not in names]
    if old:
        if legacy:
            out += ["", "legacy names (resolve, not listed above):", preset_table(old, n_ids, n_images, counts)]
        else:
            now = "; ".join(f"{k}: {v[3]}" for k, v in LEGACY_PRESETS.items())
            out += ["", f"legacy names (still resolve): {' '.join(old)}", f"  ({now})"]
    return "\n".join(out)


def show_text(name: str, dataset: Optional[str] = None, ids: Optional[int] = None, images: Optional[int] = None,
              data: Optional[str] = None) -> str:
    """The text ``reidlab presets show NAME`` prints: YAML, then the schedule per split."""
    p = get_preset(name)
    if dataset is None and ids is None and images is None and data is None:
        sizes = [resolve_size(d) for d in DATASET_SIZES if d != "cuhk03np-detected"]
    else:
        sizes = [resolve_size(dataset, ids, images, data)]
    table = schedule_table(p, sizes)
    return "\n".join([preset_yaml(p), "",
                      f"# as a config file: reidlab presets show {p.name} > run.yaml, edit it, then",
                      "#   reidlab train --config run.yaml --data DATA --out RUN   (reidlab.engine.runconfig)",
                      f"# schedule ({p.epochs} epochs; {_epoch(p)} epochs of {_batch(p)}; ~ = estimated from totals)",
                      *("# " + line for line in table.splitlines())])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``reidlab presets`` entry point; returns the process exit code."""
    args: Any = _parser().parse_args(argv)
    if args.action == "list":
        print(list_text(args.dataset, args.ids, args.images, args.data, args.model, args.legacy))
    else:
        print(show_text(args.name, args.dataset, args.ids, args.images, args.data))
    return 0
