"""The verdict rule of the ablations (reidlab.lab.verdicts): Welch's t-test at 5 %, on numbers
checked by hand."""

import math

import pandas as pd
import pytest
from scipy import stats

from reidlab.lab import ablations, verdicts
from reidlab.lab.verdicts import claim_test, claim_verdict, summarize, welch_test

A = [0.30, 0.32, 0.34]   # mean 0.32, std 0.02
B = [0.25, 0.26, 0.27]   # mean 0.26, std 0.01


def test_welch_statistic_and_degrees_of_freedom_by_hand():
    w = welch_test(A, B)
    # se^2 = 0.02^2/3 + 0.01^2/3 = 0.0005/3; t = 0.06 / sqrt(0.0005/3) = 0.06 * sqrt(6000)
    assert w.t == pytest.approx(0.06 * math.sqrt(6000), rel=1e-9)           # 4.6476
    # df = se^4 / ((0.0004/3)^2/2 + (0.0001/3)^2/2) = (25e-8/9) / (17e-8/18 / ... ) = 50/17
    assert w.df == pytest.approx(50 / 17, rel=1e-9)                           # 2.941
    ref = stats.ttest_ind(A, B, equal_var=False)
    assert w.p == pytest.approx(float(ref.pvalue), rel=1e-9) and w.p == pytest.approx(0.0196, abs=5e-4)
    # the same from summaries, and symmetric
    assert welch_test((0.32, 0.02, 3), (0.26, 0.01, 3)).p == pytest.approx(w.p, rel=1e-9)
    assert welch_test(B, A).t == pytest.approx(-w.t) and welch_test(B, A).p == pytest.approx(w.p)


def test_p_value_with_two_degrees_of_freedom_has_a_closed_form():
    # one side without spread: df = n_b - 1 = 2, and for df = 2 the two-sided p is 1 - |t| / sqrt(t^2 + 2)
    w = welch_test([0.30, 0.30, 0.30], B)
    t = 0.04 / math.sqrt(0.0001 / 3)
    assert w.t == pytest.approx(t) and w.df == pytest.approx(2.0)
    assert w.p == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)        # 0.0202
    assert claim_verdict([0.30, 0.30, 0.30], B) == "holds"


def test_verdicts_holds_reversed_inconclusive():
    assert claim_verdict(A, B) == "holds"                      # p = 0.0196 < 0.05
    assert claim_verdict(B, A) == "reversed"
    near = [0.29, 0.31, 0.30]                                   # mean 0.30 vs 0.32: t = 1.549, p = 0.221
    r = claim_test(A, near)
    assert r["t"] == pytest.approx(1.5491933, rel=1e-6) and r["p"] == pytest.approx(0.2209, abs=1e-3)
    assert r["verdict"] == "inconclusive" and r["why"] == "p = 0.22 >= 0.05"
    assert r["diff"] == pytest.approx(0.02) and (r["n_a"], r["n_b"]) == (3, 3)
    # the same means with 10 seeds each decide
    many_a = [0.32 + d for d in (-0.02, 0.0, 0.02) * 3 + (0.0,)]
    many_b = [0.30 + d for d in (-0.01, 0.0, 0.01) * 3 + (0.0,)]
    assert claim_verdict(many_a, many_b) == "holds"
    # alpha is a parameter: p = 0.0196 is not significant at 1 %
    assert claim_verdict(A, B, alpha=0.01) == "inconclusive"


def test_one_seed_or_no_spread_is_inconclusive_and_missing_is_not_run():
    # n = 1: a 20-point difference between two single runs decides nothing
    r = claim_test([0.50], [0.30])
    assert r["verdict"] == "inconclusive" and "1 seed" in r["why"] and math.isnan(r["p"])
    assert claim_verdict((0.50, math.nan, 1), (0.30, 0.01, 3)) == "inconclusive"
    # zero variance on both sides: t undefined -> inconclusive, whatever the means
    r = claim_test([0.40, 0.40, 0.40], [0.30, 0.30, 0.30])
    assert r["verdict"] == "inconclusive" and r["why"] == "no seed-to-seed spread on either side"
    assert math.isnan(welch_test([0.4, 0.4], [0.4, 0.4]).t)
    assert claim_verdict([], B) == "not run" and claim_verdict((0.3, 0.01, 3), (math.nan, math.nan, 0)) == "not run"


def test_summarize_uses_the_sample_standard_deviation():
    s = summarize([0.30, 0.32, 0.34, float("nan")])
    assert (s.mean, s.n) == (pytest.approx(0.32), 3) and s.std == pytest.approx(0.02)
    assert math.isnan(summarize([0.3]).std) and summarize([]).n == 0
    assert "Welch" in verdicts.VERDICT_RULE and "5 %" in verdicts.VERDICT_RULE


def _lgeu_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"group": "ablation:lgeu", "study": "lgeu", "variant": v, "seed": i, "setting": "single-query",
             "rank1": r, "rank5": r, "rank10": r, "mAP": r / 2, "mINP": 0.01}
            for v, vals in values.items() for i, r in enumerate(vals)]
    return pd.DataFrame(rows)


def test_claims_frame_and_summary_from_seed_rows(tmp_path):
    df = _lgeu_frame({"baseline": B, "SE": [0.29, 0.31, 0.30], "LGEU": A})
    cf = ablations.claims_frame(df)
    assert list(cf["claim"].unique()) == ["LGEU > SE", "SE > baseline", "LGEU > baseline"]
    row = cf[(cf["claim"] == "LGEU > baseline") & (cf["metric"] == "rank1")].iloc[0]
    assert row["verdict"] == "holds" and row["p"] == pytest.approx(0.0196, abs=5e-4)
    assert cf[(cf["claim"] == "LGEU > SE") & (cf["metric"] == "rank1")]["verdict"].item() == "inconclusive"
    summ = ablations.summary_frame(df)
    r = summ[(summ["variant"] == "LGEU") & (summ["metric"] == "rank1")].iloc[0]
    assert (r["mean"], r["std"], r["n"]) == (pytest.approx(0.32), pytest.approx(0.02), 3)
    lines = ablations.ablation_observations(df, "lgeu", as_list=True)
    lb = next(ln for ln in lines if "'LGEU > baseline'" in ln)
    assert "rank1 32.0 vs 26.0 (+6.0, p = 0.020)" in lb and "3 seeds: holds." in lb
    vt = ablations.verdict_table(df)
    assert vt.loc[("lgeu", "LGEU > baseline"), "rank1 A"] == "32.0 ± 2.0"
    assert vt.loc[("lgeu", "LGEU > baseline"), "rank1 verdict"] == "holds"
    paths = ablations.write_ablation_csvs(df, tmp_path)
    assert sorted(p.name for p in paths) == ["ablation-lgeu.csv", "ablation-summary.csv", "ablation-verdicts.csv"]
    back = pd.read_csv(tmp_path / "ablation-lgeu.csv")
    assert len(back) == 9 and back["rank1"].tolist() == pytest.approx(df["rank1"].tolist())
    ver = pd.read_csv(tmp_path / "ablation-verdicts.csv")
    assert set(ver["verdict"]) == {"holds", "inconclusive"} and {"t", "df", "p", "n_a", "std_b"} <= set(ver.columns)
    assert pd.read_csv(tmp_path / "ablation-summary.csv")["n"].eq(3).all()


def test_few_seeds_note_says_two_seeds_decide_little():
    assert "decide little" in ablations.few_seeds_note(2)
    assert "nothing can be decided" in ablations.few_seeds_note(1)
    assert "3 seeds" in ablations.few_seeds_note(3)
    assert ablations.few_seeds_note(2, markdown=False).startswith("Only 2 seeds per variant: they decide little.")
