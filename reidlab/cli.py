"""``reidlab`` command line: one sub-command per pipeline step.

Each sub-command lives next to the code it drives and exposes ``main(argv) -> int``; this
file only dispatches (imports are lazy so ``reidlab --help`` is instant). Exit codes: 0 done,
1 a user-facing error (:class:`~reidlab.errors.ReIDLabError`, printed as one line), 2 a usage
error (argparse), 130 Ctrl-C (one line saying what was kept and how to continue).
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

from reidlab.errors import ReIDLabError

#: sub-command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "synth": ("reidlab.data.cli", "synth_main", "generate the embedded SynthReID dataset"),
    "info": ("reidlab.data.cli", "info_main", "print a dataset's summary table"),
    "presets": ("reidlab.presets_cli", "main", "list the recipes (or show one) with their iterations per epoch"),
    "train": ("reidlab.engine.cli", "train_main", "train a model from a preset"),
    "pretrain": ("reidlab.engine.pretrain", "main", "pretrain a backbone on a SynthReID set of its own (warm start)"),
    "eval": ("reidlab.engine.cli", "eval_main", "evaluate a run folder (optionally --rerank --st --qe)"),
    "report": ("reidlab.report.cli", "main", "execute the notebooks with papermill and build reports/"),
    "keypoints": ("reidlab.engine.pose", "keypoints_main", "body landmarks for a dataset from a pose model (ONNX)"),
    "export": ("reidlab.engine.export", "export_main", "export a run's test-time feature to ONNX / TorchScript"),
}


def _usage() -> str:
    lines = ["usage: reidlab <command> [options]   (reidlab <command> --help for details; reidlab --version)", "",
             "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``reidlab`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from reidlab._version import __version__

        print(f"reidlab {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"reidlab: unknown command {name!r}; expected one of {', '.join(COMMANDS)} (see reidlab --help)", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    fn = getattr(importlib.import_module(module), func)
    try:
        return int(fn(rest) or 0)
    except ReIDLabError as err:
        print(f"reidlab {name}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:   # Ctrl-C: one line (what was kept, how to continue), no traceback
        print(f"reidlab {name}: {err or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
