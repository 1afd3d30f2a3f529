"""``reidlab report``: execute the notebooks with papermill in one profile and build the report."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any, Optional, Sequence

from reidlab.errors import ConfigError
from reidlab.lab.config import PROFILES, report_dir, resolve_path, resolve_profile, short_path
from reidlab.report.index import build_index
from reidlab.report.runner import NOTEBOOKS, execute_notebooks

__all__ = ["main", "select_notebooks"]


def select_notebooks(spec: str) -> list[str]:
    """The notebooks named by a comma-separated list of prefixes (``"01,02"``), in report
    order; all of them for an empty ``spec``."""
    if not spec:
        return list(NOTEBOOKS)
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    names = [n for n in NOTEBOOKS if any(n.startswith(w) for w in wanted)]
    if not names:
        raise ConfigError(f"--notebooks {spec!r} matches none of {', '.join(NOTEBOOKS)}")
    return names


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="reidlab report",
        description="Execute the numbered notebooks with papermill in one profile and write "
                    "executed notebooks, HTML and index.html (results of every model with and "
                    "without re-ranking / spatial-temporal scoring).")
    ap.add_argument("--profile", default=os.environ.get("REIDLAB_PROFILE", "demo"), choices=list(PROFILES),
                    help="smoke | demo | full | ablations | paper (default: demo)")
    ap.add_argument("--dataset", default="", help="dataset name (default: the profile's, e.g. synthreid)")
    ap.add_argument("--data", default="", help="dataset folder (needed for real datasets)")
    ap.add_argument("--device", default="", help="auto | cpu | cuda[:N] (default: the profile's)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--out", default="", help="report folder (default: reports/ for demo, reports/<profile>/ otherwise)")
    ap.add_argument("--notebooks", default="", help="comma-separated subset, e.g. 01,02 (default: all nine)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML conversion")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``reidlab report``; prints one progress line per notebook.

    Returns 0 when every notebook ran, 1 otherwise (the report is written either way).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.profile == "paper" and not args.data:
        raise ConfigError("profile 'paper' needs a real dataset: pass --dataset market1501 --data /path/to/Market-1501 "
                          "(make report PROFILE=paper DATASET=market1501 DATA=/path)")
    names = select_notebooks(args.notebooks)
    out = resolve_path(args.out) if args.out else report_dir(args.profile)
    params: dict[str, Any] = {"seed": args.seed}
    if args.dataset:
        params["dataset"] = args.dataset
    if args.data:
        params["data_root"] = short_path(resolve_path(args.data))
    if args.device:
        params["device"] = args.device
    print(f"reidlab report: profile {args.profile} ({resolve_profile(args.profile).description}), "
          f"{len(names)} notebooks -> {short_path(out)}/", flush=True)
    t0 = time.monotonic()
    status = execute_notebooks(args.profile, out, names, params, html_export=not args.no_html,
                               log=lambda line: print(line, flush=True))
    index = build_index(out, status, title=f"reidlab report ({args.profile})", profile=args.profile)
    failed = [s["notebook"] for s in status if not s["ok"]]
    print(f"reidlab report: {len(names) - len(failed)}/{len(names)} notebooks ok in "
          f"{(time.monotonic() - t0) / 60:.1f} min; open {short_path(index)}"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
