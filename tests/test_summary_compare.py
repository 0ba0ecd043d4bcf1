"""sim/summary.py `compare`: differences against a reference level, paired or Welch, by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from sim.summary import compare

KEY = "firms.0.service_level"
T975_2 = 4.302652729749462  # Student t quantile, 2 degrees of freedom, 97.5 %


def table(values: dict[str, list[float]], seeds: dict[str, list[int]], rule: str = "fixed"):
    """One firm, months 0 and 1; per level one value per replicate at month 1 (0 at month 0)."""
    rows = []
    for p, (level, xs) in enumerate(values.items()):
        for r, x in enumerate(xs):
            for step in (0, 1):
                rows.append(
                    {
                        "run_id": f"{rule}-p{p}-r{r}",
                        "replicate": r,
                        "seed": seeds[level][r],
                        "step": step,
                        "firm": "Firm",
                        "discounted_profit": x if step else 0.0,
                        KEY: level,
                        "churn.rule": rule,
                    }
                )
    return pd.DataFrame(rows)


A, B = [10.0, 12.0, 11.0], [13.0, 16.0, 12.0]


def test_paired_difference_when_the_levels_share_seeds():
    rows = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [1, 2, 3]})
    out = compare(rows, by=KEY, reference="good")
    assert len(out) == 1
    row = out.iloc[0]
    assert row[KEY] == "excellent" and row["reference"] == "good" and row["test"] == "paired"
    assert row["churn.rule"] == "fixed" and row["firm"] == "Firm" and row["month"] == 1
    # differences 3, 4, 1: mean 8/3, variance ((1/3)^2 + (4/3)^2 + (5/3)^2) / 2 = 7/3
    half = T975_2 * math.sqrt(7 / 3) / math.sqrt(3)
    assert row["n"] == 3 and row["df"] == 2
    assert row["difference"] == pytest.approx(8 / 3, rel=1e-12)
    assert row["ci_low"] == pytest.approx(8 / 3 - half, rel=1e-12)
    assert row["ci_high"] == pytest.approx(8 / 3 + half, rel=1e-12)
    assert row["mean"] == pytest.approx(41 / 3) and row["reference_mean"] == pytest.approx(11.0)


def test_welch_interval_when_the_seeds_differ_or_pairing_is_off():
    # excellent: mean 41/3, variance 13/3; good: mean 11, variance 1; n = 3 each
    se2 = (13 / 3) / 3 + 1 / 3
    df = se2**2 / (((13 / 3) / 3) ** 2 / 2 + (1 / 3) ** 2 / 2)
    half = student_t.ppf(0.975, df) * math.sqrt(se2)
    independent = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [4, 5, 6]})
    shared = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [1, 2, 3]})
    for out in (
        compare(independent, by=KEY),
        compare(shared, by=KEY, paired=False),
    ):
        row = out.iloc[0]
        assert row["test"] == "welch" and row["reference"] == "good"
        assert row["df"] == pytest.approx(df, rel=1e-9)
        assert row["difference"] == pytest.approx(8 / 3, rel=1e-12)
        assert row["ci_low"] == pytest.approx(8 / 3 - half, rel=1e-9)
        assert row["ci_high"] == pytest.approx(8 / 3 + half, rel=1e-9)


def test_one_row_per_condition_and_pooling_keeps_pairs_on_common_seeds():
    seeds = {"good": [1, 2, 3], "excellent": [1, 2, 3]}
    fixed = table({"good": A, "excellent": B}, seeds, rule="fixed")
    strikes = table({"good": B, "excellent": A}, seeds, rule="strikes")  # the ranking flips
    rows = pd.concat([fixed, strikes], ignore_index=True)
    out = compare(rows, by=KEY, reference="good")
    assert out["churn.rule"].tolist() == ["fixed", "strikes"]
    assert out["difference"].to_numpy() == pytest.approx([8 / 3, -8 / 3])
    assert (out["test"] == "paired").all()
    pooled = compare(rows, by=KEY, reference="good", within=[])
    assert pooled.columns[:2].tolist() == [KEY, "reference"]
    row = pooled.iloc[0]
    assert row["test"] == "paired" and row["difference"] == pytest.approx(0.0)
    # per replicate, the average over both rules is equal for both levels
    assert row["ci_low"] == pytest.approx(0.0) and row["ci_high"] == pytest.approx(0.0)


def test_reference_default_is_the_first_level_and_at_month_reads_that_month():
    rows = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [1, 2, 3]})
    out = compare(rows, by=KEY, at_month=0)
    assert out.iloc[0]["reference"] == "good" and out.iloc[0]["month"] == 0
    assert out.iloc[0]["difference"] == 0.0
    rev = compare(rows, by=KEY, reference="excellent")
    assert rev.iloc[0][KEY] == "good"
    assert rev.iloc[0]["difference"] == pytest.approx(-8 / 3)


def test_cumulative_profit_is_summed_from_month_0():
    rows = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [1, 2, 3]})
    rows["profit"] = rows["discounted_profit"]
    out = compare(rows, by=KEY, metric="cumulative_profit")
    assert out.iloc[0]["difference"] == pytest.approx(8 / 3)


def test_one_replicate_gives_no_interval():
    rows = table({"good": [1.0], "excellent": [2.0]}, {"good": [1], "excellent": [1]})
    row = compare(rows, by=KEY).iloc[0]
    assert row["difference"] == 1.0 and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])


def test_bad_arguments_say_what_is_allowed():
    rows = table({"good": A, "excellent": B}, {"good": [1, 2, 3], "excellent": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"reference 'poor' is not a value of .*'good'"):
        compare(rows, by=KEY, reference="poor")
    with pytest.raises(ValueError, match="at_month 7: no run has that month"):
        compare(rows, by=KEY, at_month=7)
    with pytest.raises(KeyError, match="not_a_metric"):
        compare(rows, by=KEY, metric="not_a_metric")
    with pytest.raises(KeyError, match="nope"):
        compare(rows, by="nope")
    with pytest.raises(TypeError, match="results must be"):
        compare([1, 2], by=KEY)
