"""Verdicts on the papers' ablation claims, computed from seed-repeated numbers.

**The rule.** A claim "A beats B" (on one metric, one evaluation setting) is decided by
**Welch's two-sided t-test at the 5 % level** on the per-seed values of A and B (each seed
is one independent training; Welch's test does not assume equal variances):

* ``holds``: p < 0.05 and mean(A) > mean(B);
* ``reversed``: p < 0.05 and mean(A) < mean(B);
* ``inconclusive``: p >= 0.05, or the test is undefined: fewer than two seeds on either side
  (no estimate of the seed-to-seed spread -- two single runs never decide), or no spread at all
  on both sides (identical values on every seed: the t statistic is 0/0 or x/0; we refuse to
  call a difference between two deterministic constants significant);
* ``not run``: a side has no numbers.

The statistic, from the means ``m``, sample standard deviations ``s`` (ddof 1) and seed
counts ``n``::

    se^2 = s_a^2 / n_a + s_b^2 / n_b
    t    = (m_a - m_b) / se
    df   = se^4 / ((s_a^2 / n_a)^2 / (n_a - 1) + (s_b^2 / n_b)^2 / (n_b - 1))   (Welch-Satterthwaite)
    p    = 2 * P(T_df > |t|)                                                  (scipy.stats.t.sf)

which is what ``scipy.stats.ttest_ind(a, b, equal_var=False)`` computes (a test checks it).
With 3 seeds per side ``df`` is between 2 and 4: a difference must be about 3-4 standard
errors to be called, so three seeds decide only large effects, and two seeds (``df`` <= 2)
hardly anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

__all__ = ["ALPHA", "Summary", "WelchTest", "summarize", "welch_test", "claim_verdict", "claim_test", "VERDICT_RULE",
           "format_p"]

#: Significance level of the two-sided test.
ALPHA = 0.05

#: The rule in one sentence (shown by notebook 06 and the report).
VERDICT_RULE = ("Welch's two-sided t-test at 5 % on the per-seed values: 'holds' when p < 0.05 and A's mean is "
                "higher, 'reversed' when p < 0.05 and it is lower, otherwise 'inconclusive' -- also with fewer "
                "than 2 seeds on a side or no seed-to-seed spread on both sides (the test is undefined).")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof 1; NaN for n < 2) and count of per-seed values."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class WelchTest:
    """Welch's t-test of "A > B": ``t`` statistic, Welch-Satterthwaite degrees of freedom
    ``df`` and the two-sided p-value ``p`` (all NaN when the test is undefined)."""

    t: float
    df: float
    p: float


SummaryLike = Union[Summary, Sequence[float], tuple]


def summarize(values: Sequence[float]) -> Summary:
    """:class:`Summary` of ``values`` (NaN entries dropped)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return Summary(math.nan, math.nan, 0)
    mean = math.fsum(vals) / n
    if n < 2:
        std = math.nan
    elif max(vals) == min(vals):
        std = 0.0   # exactly: rounding in the mean must not invent a spread
    else:
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    return Summary(mean, std, n)


def _as_summary(x: SummaryLike) -> Summary:
    """A :class:`Summary` from a Summary, a ``(mean, std, n)`` tuple or a list of values."""
    if isinstance(x, Summary):
        return x
    if isinstance(x, tuple) and len(x) == 3 and isinstance(x[2], int) and not isinstance(x[2], bool):
        return Summary(float(x[0]), float(x[1]), int(x[2]))
    return summarize(list(x))


def welch_test(a: SummaryLike, b: SummaryLike) -> WelchTest:
    """Welch's two-sided t-test of mean(a) vs mean(b).

    Args:
        a, b: per-seed values, or their ``(mean, std, n)`` / :class:`Summary` (std with ddof 1).

    Returns:
        :class:`WelchTest`; NaN fields when either side has fewer than two values or both
        standard deviations are zero (the statistic is undefined there).
    """
    from scipy.stats import t as t_dist

    sa, sb = _as_summary(a), _as_summary(b)
    nan = WelchTest(math.nan, math.nan, math.nan)
    if sa.n < 2 or sb.n < 2 or math.isnan(sa.std) or math.isnan(sb.std):
        return nan
    va, vb = sa.std ** 2 / sa.n, sb.std ** 2 / sb.n
    se2 = va + vb
    if se2 <= 0.0:
        return nan
    t = (sa.mean - sb.mean) / math.sqrt(se2)
    df = se2 ** 2 / (va ** 2 / (sa.n - 1) + vb ** 2 / (sb.n - 1))
    p = float(2.0 * t_dist.sf(abs(t), df))
    return WelchTest(float(t), float(df), min(p, 1.0))


def claim_test(a: SummaryLike, b: SummaryLike, alpha: float = ALPHA) -> dict:
    """The verdict on "A > B" with its numbers.

    Returns:
        dict with ``mean_a``, ``std_a``, ``n_a``, ``mean_b``, ``std_b``, ``n_b``, ``diff``
        (mean_a - mean_b, same unit as the inputs), ``t``, ``df``, ``p``, ``verdict``
        (``holds`` / ``reversed`` / ``inconclusive`` / ``not run``) and ``why`` (one short
        phrase: the p-value, or why the test is undefined).
    """
    sa, sb = _as_summary(a), _as_summary(b)
    w = welch_test(sa, sb)
    out = {"mean_a": sa.mean, "std_a": sa.std, "n_a": sa.n, "mean_b": sb.mean, "std_b": sb.std, "n_b": sb.n,
           "diff": sa.mean - sb.mean, "t": w.t, "df": w.df, "p": w.p}
    if sa.n == 0 or sb.n == 0 or math.isnan(sa.mean) or math.isnan(sb.mean):
        return {**out, "verdict": "not run", "why": "a side has no results"}
    if min(sa.n, sb.n) < 2:
        return {**out, "verdict": "inconclusive", "why": f"{min(sa.n, sb.n)} seed on a side: no spread estimate"}
    if math.isnan(w.p):
        return {**out, "verdict": "inconclusive", "why": "no seed-to-seed spread on either side"}
    if w.p < alpha:
        verdict = "holds" if sa.mean > sb.mean else "reversed"
        return {**out, "verdict": verdict, "why": f"p = {w.p:.3f} < {alpha:g}"}
    return {**out, "verdict": "inconclusive", "why": f"p = {w.p:.2f} >= {alpha:g}"}


def claim_verdict(a: SummaryLike, b: SummaryLike, alpha: float = ALPHA) -> str:
    """``holds`` / ``reversed`` / ``inconclusive`` / ``not run`` for "A > B" by the module's
    rule (:data:`VERDICT_RULE`); ``a`` and ``b`` are per-seed values or ``(mean, std, n)``."""
    return claim_test(a, b, alpha)["verdict"]


def format_p(p: Optional[float]) -> str:
    """A p-value for display: ``p = 0.012``, ``p < 0.001`` or ``-`` (undefined)."""
    if p is None or math.isnan(p):
        return "-"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
