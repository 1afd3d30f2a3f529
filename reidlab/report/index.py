"""``index.html``: the report's front page, rendered from a jinja2 template
(``reidlab/report/templates/index.html.j2``)."""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from markupsafe import Markup

from reidlab.fileio import atomic_write_text
from reidlab.lab.config import PathLike, short_path
from reidlab.lab.results import SETTING_NAMES, ablation_tables, load_results, main_table, percent

__all__ = ["build_index", "render_index"]

PAPERS: tuple[str, ...] = ("pfn", "mgwp", "lgeu", "jlpose")


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _html_table(df, index: bool = True) -> Markup:
    """A DataFrame as an HTML table, cells formatted with one decimal; pandas escapes the
    text, so the result is marked safe for the template."""
    return Markup(df.map(_fmt).to_html(escape=True, index=index))


def render_index(folder: Path, status: Sequence[Mapping[str, Any]], payloads: Sequence[Mapping[str, Any]],
                 title: str, profile: str, results_folder: Path) -> str:
    """The HTML text of ``index.html`` (see :func:`build_index`)."""
    from reidlab import paper_results

    notebooks = [{"name": str(s["notebook"]), "ok": s.get("ok"), "seconds": s.get("seconds"),
                  "error": str(s.get("error") or ""),
                  "links": [ext for ext in ("html", "ipynb") if (folder / f"{s['notebook']}.{ext}").exists()]}
                 for s in status]
    total = sum(float(s.get("seconds") or 0) for s in status)
    main = main_table(payloads)
    observations = [n if isinstance(n, list) else [n]
                    for pl in payloads if (n := (pl.get("extra") or {}).get("observations"))]
    # notes about the main results (e.g. lab.st_rerank_note), Markdown bold kept, the rest escaped
    notes = [Markup(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", str(Markup.escape(n))))
             for pl in payloads for n in ((pl.get("extra") or {}).get("notes") or [])]
    verdicts = _verdicts(payloads)
    csvs = sorted(p.name for p in Path(results_folder).glob("ablation-*.csv")) if Path(results_folder).is_dir() else []
    try:
        csv_prefix = Path(results_folder).resolve().relative_to(folder.resolve()).as_posix() + "/"
    except ValueError:
        csv_prefix = Path(results_folder).resolve().as_uri() + "/"
    return _environment().get_template("index.html.j2").render(
        title=title, profile=profile, built=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), minutes=total / 60,
        notebooks=notebooks, settings=list(SETTING_NAMES.items()),
        main_table=_html_table(percent(main)) if not main.empty else "", results_folder=short_path(results_folder),
        ablations=[(g, _html_table(t, index=False)) for g, t in ablation_tables(payloads).items()],
        observations=observations, notes=notes, verdicts=verdicts, csvs=csvs, csv_prefix=csv_prefix,
        papers=[(p, _html_table(paper_results.headline(p).drop(columns=["dataset"]))) for p in PAPERS],
    )


def _verdicts(payloads: Sequence[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """The ablation verdicts stored by 06 (``extra``: ``verdict_table`` rows, ``verdict_rule``,
    ``n_seeds``, ``seeds_note``) as ``{"table", "rule", "note"}``; None when there are none."""
    import pandas as pd

    for pl in payloads:
        extra = pl.get("extra") or {}
        rows = extra.get("verdict_table")
        if rows:
            return {"table": _html_table(pd.DataFrame(rows), index=False), "rule": str(extra.get("verdict_rule", "")),
                    "note": str(extra.get("seeds_note", ""))}
    return None


def build_index(report_folder: PathLike, status: Optional[Sequence[Mapping[str, Any]]] = None,
                title: str = "reidlab report", profile: str = "", results_folder: Optional[PathLike] = None) -> Path:
    """Write ``<report_folder>/index.html`` (atomically) and return its path.

    Args:
        report_folder: folder of the executed notebooks (``NN_name.ipynb`` / ``.html``).
        status: per notebook ``{"notebook", "ok", "seconds", "error"}`` (from
            :func:`reidlab.report.runner.execute_notebooks`); when None, every
            ``NN_*.ipynb`` found in ``report_folder`` is listed with an unknown status.
        title, profile: page title and profile name shown at the top.
        results_folder: where the ``*.results.json`` files are (default ``<report>/results``).

    The page holds: the notebook list (status, time, links to HTML and ipynb), the main
    results table (every model x setting, rank-1 / mAP in %), the ablation tables and
    observations, and the papers' own numbers for reference (clearly labelled).
    """
    folder = Path(report_folder)
    res_dir = Path(results_folder) if results_folder else folder / "results"
    payloads = load_results(res_dir) if res_dir.is_dir() else []
    if status is None:
        status = [{"notebook": p.stem, "ok": None, "seconds": None} for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    text = render_index(folder, status, payloads, title, profile, res_dir)
    return atomic_write_text(folder / "index.html", text)
