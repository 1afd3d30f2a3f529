"""The four papers' own published numbers, as data.

Every table below is transcribed from the plain-text copies of the papers (the paper
files listed in ``DESIGN.md``; bold/underline markup removed, ``-`` = not reported). They are
**ResNet50-scale (or the paper's own backbone) results on the real benchmarks**
(Market-1501, DukeMTMC-reID, CUHK03) -- the notebooks show them *next to* reidlab's
results on the embedded synthetic dataset with a small CPU model, to compare orderings and
mechanisms (does re-ranking help? does the part branch help?), never absolute values.

Public API:

* :data:`TABLES` -- ``{key: PaperTable}``; keys look like ``"pfn/table1"``.
* :func:`paper_table` -- one table as a :class:`pandas.DataFrame` (numbers as floats, NaN
  where the paper prints ``-``).
* :func:`headline` -- the paper's own model, one row per evaluation setting, named as
  :data:`reidlab.eval.SETTINGS` names them (``single-query``, ``rerank``, ``st``,
  ``multi-query``, ...), in reidlab's column names.
* :func:`list_tables` -- an overview DataFrame of every stored table.
* :data:`TABLE_PRESETS` -- the preset that reproduces a published row (jlpose Table IV).

All metrics are percentages (0-100) as the papers print them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import pandas as pd

from reidlab.errors import ConfigError


@dataclass(frozen=True)
class PaperTable:
    """One published table.

    Attributes:
        paper: reidlab model name of the paper (``pfn``, ``mgwp``, ``lgeu``, ``jlpose``).
        title: the paper's short title (cite it by this).
        table: the table's label in the paper (e.g. ``"Table I"``).
        caption: what the table shows, in one line.
        dataset: benchmark(s) the numbers are on.
        tsv: the table body, tab-separated, first line = header, first column = row label.
            A header line may name a column group with ``Group:Metric`` (e.g. ``Market:R1``).
        note: caveats for readers (how the setting differs from reidlab's).
    """

    paper: str
    title: str
    table: str
    caption: str
    dataset: str
    tsv: str
    note: str = ""


_PFN = "Prakayaphun & Usanavasin, Part-based Fusion Feature Learning for Person Re-Identification"
_MGWP = ("Tang et al., Person Re-Identification Based on Multi-Scale Global Feature and "
         "Weight-Driven Part Feature (AI Communications 2022)")
_LGEU = "Wang et al., Local-Global Extraction Unit for Person Re-identification"
_JL = "Liu et al., Person Re-identification with Joint-loss"
_ST = "Wang et al., Spatial-Temporal Person Re-identification (AAAI 2019)"

TABLES: dict[str, PaperTable] = {
    "pfn/table1": PaperTable(
        "pfn", _PFN, "Table I",
        "Comparison with the state of the art on Market-1501 (RK = re-ranking, ST = spatial-temporal; * = reproduced by the authors).",
        "Market-1501",
        """method\tR1\tR5\tR10\tmAP
Bow+kissme\t44.4\t63.9\t72.2\t20.8
KLFDA\t46.5\t71.1\t79.9\t-
SVDNet\t82.3\t92.3\t95.2\t62.1
PAN\t82.8\t-\t-\t63.4
Triplet Loss\t84.9\t94.2\t-\t69.1
HydraPlus\t76.9\t91.3\t94.5\t-
PAR\t81.0\t92.0\t94.7\t63.4
MultiLoss\t85.1\t-\t-\t65.5
DuATM\t91.4\t-\t-\t76.6
MultiScale\t88.9\t-\t-\t73.1
GLAD\t89.9\t-\t-\t73.9
HPM\t94.2\t-\t-\t82.7
MFML\t92.5\t-\t-\t89.3
APR\t87.0\t95.1\t96.4\t66.8
PCB+RPP\t93.8\t97.2\t98.2\t77.4
GAN\t83.9\t-\t-\t66.0
Auto-ReID\t94.5\t-\t-\t85.1
BagofTricks\t94.5\t-\t-\t85.9
MLFN\t90.0\t-\t-\t74.3
DeepCRF\t93.5\t-\t-\t81.6
Mancs\t93.1\t-\t-\t82.3
MGN\t95.7\t-\t-\t86.9
OSNet\t94.8\t-\t-\t84.9
Ours\t95.0\t98.1\t98.8\t87.4
PCB+ST*\t97.5\t99.3\t99.5\t87.8
BagofTricks+RK\t95.4\t-\t-\t94.2
MGN+RK\t96.6\t-\t-\t94.2
Ours+ST\t98.0\t99.3\t99.7\t89.0""",
        "ResNet50, 384x192, ImageNet-pretrained, 160 epochs. 'Ours' is PFN.",
    ),
    "pfn/table2": PaperTable(
        "pfn", _PFN, "Table II",
        "Comparison on DukeMTMC-reID (* = reproduced by the authors).",
        "DukeMTMC-reID",
        """method\tR1\tmAP
BoW+kissme\t25.1\t12.2
GAN\t67.6\t47.1
PAN\t71.6\t51.5
APR\t73.9\t55.5
MFML\t84.0\t80.0
DeepCRF\t84.9\t69.5
MLFN\t81.0\t62.8
Mancs\t84.9\t71.8
DuATM\t81.8\t64.6
SVDNet\t76.7\t56.8
MultiScale\t79.2\t60.6
PCB+RPP\t83.3\t69.2
BagofTricks\t86.4\t76.4
MGN\t88.7\t78.4
OSNet\t88.6\t73.5
Ours\t86.8\t76.0
BagofTricks+RK\t90.3\t89.1
PCB+ST*\t94.4\t84.6
Ours+ST\t94.2\t83.9""",
        "ResNet50, 384x192, ImageNet-pretrained. 'Ours' is PFN.",
    ),
    "st/market": PaperTable(
        "pfn", _ST, "(text)",
        "The spatial-temporal method PFN builds on, its reported Market-1501 results.",
        "Market-1501",
        """method\tR1\tmAP
st-ReID (ST)\t98.1\t87.6
st-ReID (ST+RK)\t98.0\t95.5""",
        "PCB backbone of the st-ReID paper; quoted in the papers' README.",
    ),
    "mgwp/text": PaperTable(
        "mgwp", _MGWP, "(text, Sec. 'Comparison')",
        "The only result that survived text extraction: Market-1501, credited to multi-query "
        "(whether re-ranking is also on is ambiguous, see the note).",
        "Market-1501",
        """method\tR1\tR5\tR10\tmAP
Ours (MQ)\t96.1\t99.1\t99.3\t90.3""",
        "The sentence: 'With the help of multi-query, Rank-1, Rank-5, and Rank-10 are further, improved "
        "to 96.1%, 99.1%, and 99.3%, and the mAP has also reached 90.3%.' It credits multi-query; "
        "'further' refers to a result lost with the tables (the preceding ones are 'by using L2 distance "
        "and RK' and 'by using single-query and multi-query'), and the next sentence reads 'By using RK "
        "and the multi-query, our Rank-k and mAP are greatly improved.' So whether re-ranking is also "
        "applied is ambiguous; stored as multi-query (setting 'multi-query'), the one the sentence names. An mAP "
        "6 points below rank-1 is more typical of results without re-ranking, which lifts mAP close to "
        "rank-1 (e.g. BagofTricks+RK 95.4 / 94.2 in PFN's Table I) -- a hint, not proof. The paper's "
        "ablation tables (NL / MSG / TSA / WDP, C-P2 branches, image sizes, number of parts) were lost "
        "in the plain-text copy; only their captions remain, so 06_ablations reports our orderings alone "
        "for MGWP.",
    ),
    "lgeu/table1": PaperTable(
        "lgeu", _LGEU, "Table 1",
        "Baseline vs SE unit vs LGEU, without re-ranking (rank-1 and mAP).",
        "Market-1501 / CUHK03-detected / DukeMTMC-reID",
        """method\tMarket:R1\tMarket:mAP\tCUHK03:R1\tCUHK03:mAP\tDuke:R1\tDuke:mAP
Baseline\t86.5\t69.8\t46.5\t41.6\t73.9\t57.4
SE\t89.8\t74.3\t47.6\t43.9\t74.1\t57.5
LGEU\t90.0\t74.5\t50.7\t47.4\t77.4\t62.3""",
        "ResNet50, 256x128, softmax only, SGD 0.1 -> 0.01, cosine distance. Row 'Se-Unit' named SE, 'Ours' named LGEU.",
    ),
    "lgeu/table2": PaperTable(
        "lgeu", _LGEU, "Table 2",
        "Comparison with the state of the art on Market-1501.",
        "Market-1501",
        """method\tR1\tR5\tR10\tmAP
Bow+kissme\t44.4\t63.5\t72.2\t20.8
WARCA\t45.2\t68.1\t76.0\t-
KLFDA\t46.5\t71.1\t79.9\t-
SOMAnet\t73.9\t-\t-\t47.9
SVDNet\t82.3\t92.3\t95.2\t62.1
PAN\t82.8\t-\t-\t63.4
PAR\t81.0\t92.0\t94.7\t63.7
MultiLoss\t83.9\t-\t-\t64.4
PartLoss\t88.2\t-\t-\t69.3
DPFL\t88.9\t-\t-\t73.1
GLAD\t89.9\t-\t-\t79.3
Ours\t90.0\t96.2\t97.2\t74.5
Ours+RK\t91.8\t95.7\t96.9\t88.0""",
        "'Ours' is LGEU.",
    ),
    "lgeu/table3": PaperTable(
        "lgeu", _LGEU, "Table 3",
        "Comparison on CUHK03-detected (767/700 protocol).",
        "CUHK03-detected",
        """method\tR1\tR5\tR10\tmAP
Bow+kissme\t6.4\t-\t-\t6.4
LOMO+XQDA\t12.8\t-\t-\t11.5
SVDNet\t41.5\t-\t-\t37.5
PAN\t36.3\t-\t-\t34.0
DPFL\t40.7\t-\t-\t37.0
SVDNet+Era\t48.7\t-\t-\t43.7
Ours\t50.7\t71.6\t78.9\t47.4
Ours+RK\t57.7\t70.8\t79.8\t60.0""",
        "'Ours' is LGEU.",
    ),
    "lgeu/table4": PaperTable(
        "lgeu", _LGEU, "Table 4",
        "Comparison on DukeMTMC-reID.",
        "DukeMTMC-reID",
        """method\tR1\tR5\tR10\tmAP
Bow+kissme\t25.13\t-\t-\t12.17
LOMO+XQDA\t30.75\t-\t-\t17.04
LSRO\t67.68\t-\t-\t47.13
AttIDNet\t70.69\t-\t-\t51.88
PAN\t71.59\t-\t-\t51.59
ACRN\t72.58\t-\t-\t51.98
SVDNet\t76.70\t-\t-\t56.80
DPFL\t79.20\t-\t-\t60.60
Ours\t77.4\t88.11\t92.10\t62.35
Ours+RK\t81.96\t89.45\t92.37\t77.17""",
        "'Ours' is LGEU.",
    ),
    "jlpose/table3": PaperTable(
        "jlpose", _JL, "Table III (printed as 'Table 4' in the text)",
        "Comparison with the state of the art (CUHK03: rank-1/rank-5; Market and Duke: rank-1/mAP).",
        "CUHK03 / Market-1501 / DukeMTMC-reID",
        """method\tCUHK03:R1\tCUHK03:R5\tMarket:R1\tMarket:mAP\tDuke:R1\tDuke:mAP
BoW+KISSME\t24.30\t45.0\t44.42\t20.76\t25.13\t12.17
SDALF\t4.90\t21.0\t20.53\t8.20\t-\t-
S-LSTM\t57.3\t80.10\t61.60\t35.30\t-\t-
Gated\t61.80\t88.10\t65.88\t35.68\t-\t-
GAN\t73.1\t92.7\t78.06\t56.23\t67.68\t47.13
Quadruplet\t75.53\t95.15\t-\t-\t-\t-
SSM\t76.63\t94.59\t82.21\t68.80\t-\t-
OIM\t77.5\t-\t82.1\t-\t68.1\t17.04
SVDNet\t81.8\t-\t82.3\t62.1\t76.7\t56.8
ACRN\t62.63\t89.69\t83.61\t62.60\t72.58\t51.96
Ours\t83.31\t97.50\t86.10\t67.97\t72.62\t52.88""",
        "Inception-style backbone trained from scratch. 'Ours' is the whole joint-loss architecture.",
    ),
    "jlpose/table4": PaperTable(
        "jlpose", _JL, "Table IV (printed as 'Table 5' in the text)",
        "Effect of joint features and joint loss on Market-1501 (weight ratio = softmax : triplet).",
        "Market-1501",
        """method\tweights\tR1\tmAP
baseline\t-\t79.72\t58.94
Global+Local\t-\t83.13\t67.04
Softmax+Triplet 1:0.5\t1:0.5\t84.57\t67.71
Softmax+Triplet 1:1\t1:1\t84.78\t67.87
Softmax+Triplet 0.5:1\t0.5:1\t84.81\t67.23
Whole Architecture\t0.5:1\t86.10\t67.97""",
        "Baseline = backbone + identification loss only (global feature). The Softmax+Triplet rows are "
        "'optimization on the baseline setting' (Sec. IV-C): global feature only, with the joint loss; "
        "Whole Architecture = global + local branches with the joint loss 0.5:1. reidlab presets, one "
        "per row: TABLE_PRESETS['jlpose/table4'].",
    ),
}

#: Published rows reidlab reproduces with one preset each (model-level preset name: add
#: ``-paper``, ``-cpu-demo`` or ``-smoke``): ``{table key: {row label: preset}}``. The
#: joint-loss Table IV maps one to one (see :data:`reidlab.presets.JLPOSE_TABLE_IV`).
TABLE_PRESETS: dict[str, dict[str, str]] = {
    "jlpose/table4": {
        "baseline": "jlpose-baseline",
        "Global+Local": "jlpose-global-local",
        "Softmax+Triplet 1:0.5": "jlpose-triplet-1-0.5",
        "Softmax+Triplet 1:1": "jlpose-triplet-1-1",
        "Softmax+Triplet 0.5:1": "jlpose-triplet-0.5-1",
        "Whole Architecture": "jlpose",
    },
}

#: For each paper, the rows of its own model per evaluation setting:
#: ``{paper: [(table key, row label, setting), ...]}``. Settings are named as in
#: :data:`reidlab.eval.SETTINGS` (``single-query``, ``rerank``, ``st``, ``st+rerank``, ``qe``,
#: ``multi-query``, ``multi-query+rerank``; a test checks every name parses there).
_HEADLINE_ROWS: dict[str, list[tuple[str, str, str]]] = {
    "pfn": [("pfn/table1", "Ours", "single-query"), ("pfn/table1", "Ours+ST", "st")],
    "mgwp": [("mgwp/text", "Ours (MQ)", "multi-query")],
    "lgeu": [("lgeu/table2", "Ours", "single-query"), ("lgeu/table2", "Ours+RK", "rerank")],
    "jlpose": [("jlpose/table4", "Whole Architecture", "single-query")],
}


def _to_float(cell: str) -> float:
    cell = cell.strip()
    if cell in ("-", ""):
        return math.nan
    try:
        return float(cell)
    except ValueError as err:
        raise ConfigError(f"paper_results: cannot read number {cell!r}; expected a float or '-'") from err


def _parse_tsv(tsv: str) -> pd.DataFrame:
    lines = [ln for ln in tsv.strip().splitlines() if ln.strip()]
    header = lines[0].split("\t")
    rows, index = [], []
    for ln in lines[1:]:
        cells = ln.split("\t")
        if len(cells) != len(header):
            raise ConfigError(
                f"paper_results: row {cells[0]!r} has {len(cells)} cells, header has {len(header)}; fix the table text"
            )
        index.append(cells[0])
        rows.append([c if h == "weights" else _to_float(c) for h, c in zip(header[1:], cells[1:])])
    df = pd.DataFrame(rows, index=pd.Index(index, name=header[0]), columns=header[1:])
    if any(":" in h for h in header[1:]):
        df.columns = pd.MultiIndex.from_tuples([tuple(h.split(":", 1)) if ":" in h else (h, "") for h in header[1:]])
    return df


def list_tables() -> pd.DataFrame:
    """Overview of every stored table: key, paper, table label, dataset, caption."""
    return pd.DataFrame(
        [{"key": k, "paper": t.paper, "table": t.table, "dataset": t.dataset, "caption": t.caption} for k, t in TABLES.items()]
    ).set_index("key")


def paper_table(key: str) -> pd.DataFrame:
    """One published table as a DataFrame (metrics in %, NaN where the paper prints ``-``).

    Args:
        key: a key of :data:`TABLES`, e.g. ``"lgeu/table1"``.

    Columns with a dataset group (``Market:R1``) become a two-level column index.
    The frame's ``attrs`` hold ``title``, ``table``, ``caption``, ``dataset`` and ``note``.
    """
    if key not in TABLES:
        raise ConfigError(f"paper_results: unknown table {key!r}; expected one of {', '.join(TABLES)}")
    t = TABLES[key]
    df = _parse_tsv(t.tsv)
    df.attrs.update(title=t.title, table=t.table, caption=t.caption, dataset=t.dataset, note=t.note)
    return df


def headline(paper: str) -> pd.DataFrame:
    """The paper's own model per evaluation setting, in reidlab's column names.

    Returns a DataFrame indexed by ``setting`` (:data:`reidlab.eval.SETTINGS` names) with
    columns ``R1, R5, R10, mAP`` (those the paper reports; NaN otherwise) plus ``source``
    (table and row) and ``dataset``.
    """
    if paper not in _HEADLINE_ROWS:
        raise ConfigError(f"paper_results: unknown paper {paper!r}; expected one of {', '.join(_HEADLINE_ROWS)}")
    out = []
    for key, row, setting in _HEADLINE_ROWS[paper]:
        df = paper_table(key)
        if isinstance(df.columns, pd.MultiIndex):  # take the Market-1501 group
            df = df["Market"]
        rec = {m: float(df.loc[row, m]) if m in df.columns else math.nan for m in ("R1", "R5", "R10", "mAP")}
        rec.update(setting=setting, source=f"{TABLES[key].table}, row '{row}'", dataset="Market-1501")
        out.append(rec)
    return pd.DataFrame(out).set_index("setting")


def ordering(key: str, rows: list[str], metric: str, group: Optional[str] = None) -> list[str]:
    """Rows of a published table sorted by ``metric``, best first (ties keep input order).

    Used to compare *orderings* (e.g. Baseline < SE < LGEU) with ours.
    """
    df = paper_table(key)
    if group is not None:
        df = df[group]
    missing = [r for r in rows if r not in df.index]
    if missing:
        raise ConfigError(f"paper_results: rows {missing} not in {key}; expected some of {list(df.index)}")
    vals = df.loc[rows, metric].astype(float)
    return list(vals.sort_values(ascending=False, kind="stable").index)
