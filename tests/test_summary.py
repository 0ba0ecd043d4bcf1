"""sim/summary.py: t-based intervals over replicates, the long summary table, the final table."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.summary import (
    SUMMARY_METRICS,
    final_table,
    replicate_summary,
    swept_keys,
    t_interval,
)

T_975_DF1 = 12.706204736174694  # Student t quantile 0.975, 1 degree of freedom
T_975_DF2 = 4.302652729749462  # ... 2 degrees of freedom


def rows(values_by_run, firm="A", step=0, metric="customers", **extra):
    return pd.DataFrame(
        {
            "run_id": [f"p0000-r{i:03d}" for i in range(len(values_by_run))],
            "firm": firm,
            "step": step,
            metric: values_by_run,
            **extra,
        }
    )


def test_t_interval_of_one_two_three_is_mean_plus_minus_t_times_standard_error():
    low, high = t_interval(np.array([3]), np.array([2.0]), np.array([1.0]))
    half = T_975_DF2 / math.sqrt(3)
    assert low[0] == pytest.approx(2.0 - half, rel=1e-12)
    assert high[0] == pytest.approx(2.0 + half, rel=1e-12)
    assert high[0] == pytest.approx(4.48413771175033, rel=1e-12)


def test_t_interval_is_nan_for_one_replicate_and_a_point_for_no_spread():
    low, high = t_interval(np.array([1, 4]), np.array([5.0, 7.0]), np.array([np.nan, 0.0]))
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert low[1] == high[1] == 7.0


def test_replicate_summary_of_known_numbers():
    ts = pd.concat([rows([1.0, 2.0, 3.0], step=0), rows([10.0, 20.0, np.nan], step=1)])
    out = replicate_summary(ts, by=["firm", "step"], metrics=["customers"])
    assert list(out.columns) == ["firm", "step", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
    first, second = out.iloc[0], out.iloc[1]
    assert (first["step"], first["n"], first["mean"], first["sd"]) == (0, 3, 2.0, 1.0)
    assert first["ci_low"] == pytest.approx(2.0 - T_975_DF2 / math.sqrt(3), rel=1e-12)
    # the missing value is left out: n = 2, half-width = t(1) * sd / sqrt(2) = t(1) * 5
    assert (second["n"], second["mean"]) == (2, 15.0)
    assert second["ci_low"] == pytest.approx(15.0 - 5 * T_975_DF1, rel=1e-12)
    assert second["ci_high"] == pytest.approx(15.0 + 5 * T_975_DF1, rel=1e-12)


def test_replicate_summary_with_one_replicate_has_nan_interval():
    out = replicate_summary(rows([4.0]), by=["firm", "step"], metrics=["customers"])
    assert out["mean"].tolist() == [4.0]
    assert out[["sd", "ci_low", "ci_high"]].isna().all(axis=None)


def test_replicate_summary_keeps_firm_and_month_order_and_metric_order():
    ts = pd.concat(
        [
            rows([1.0, 1.0], firm="Zed", step=0, revenue=[0.0, 0.0]),
            rows([2.0, 2.0], firm="Alpha", step=0, revenue=[0.0, 0.0]),
            rows([3.0, 3.0], firm="Zed", step=1, revenue=[5.0, 7.0]),
            rows([4.0, 4.0], firm="Alpha", step=1, revenue=[1.0, 1.0]),
        ]
    )
    out = replicate_summary(ts, by=["firm", "step"], metrics=["revenue", "customers"])
    assert list(zip(out["firm"], out["step"], out["metric"], strict=True)) == [
        ("Zed", 0, "revenue"),
        ("Zed", 0, "customers"),
        ("Alpha", 0, "revenue"),
        ("Alpha", 0, "customers"),
        ("Zed", 1, "revenue"),
        ("Zed", 1, "customers"),
        ("Alpha", 1, "revenue"),
        ("Alpha", 1, "customers"),
    ]
    assert out.loc[(out["firm"] == "Zed") & (out["metric"] == "revenue"), "mean"].tolist() == [
        0.0,
        6.0,
    ]


def test_default_grouping_is_swept_keys_firm_step_and_default_metrics():
    ts = pd.concat(
        [
            rows([1.0, 3.0], **{m: 0.0 for m in SUMMARY_METRICS[1:]}, **{"churn.rule": "tarp"}),
            rows([5.0, 7.0], **{m: 0.0 for m in SUMMARY_METRICS[1:]}, **{"churn.rule": "fixed"}),
        ]
    )
    assert swept_keys(ts) == ["churn.rule"]
    out = replicate_summary(ts)
    assert list(out.columns[:3]) == ["churn.rule", "firm", "step"]
    customers = out[out["metric"] == "customers"]
    assert customers["churn.rule"].tolist() == ["tarp", "fixed"]
    assert customers["mean"].tolist() == [2.0, 6.0]
    assert set(out["metric"]) == set(SUMMARY_METRICS)


def test_replicate_summary_names_missing_columns():
    with pytest.raises(KeyError, match="profit"):
        replicate_summary(rows([1.0]), by=["firm", "step"], metrics=["profit"])


def test_final_table_means_last_month_and_clv_over_replicates():
    # Two runs, one firm, fee 10, rate 0: CLV = 10 * sum of cohort retention over months >= 1.
    ts = pd.DataFrame(
        {
            "run_id": ["r0", "r0", "r0", "r1", "r1", "r1"],
            "firm": "A",
            "step": [0, 1, 2, 0, 1, 2],
            "customers": [10, 8, 6, 10, 9, 8],
            "retention_rate": [np.nan, 0.8, 0.75, np.nan, 0.9, 8 / 9],
            "revenue": [0.0, 80.0, 60.0, 0.0, 90.0, 80.0],
            "cohort_retention": [1.0, 0.8, 0.6, 1.0, 0.9, 0.8],
        }
    )
    table = final_table(ts, {"A": 10.0}, 0.0)
    assert table.columns.tolist() == [
        "firm",
        "replicates",
        "month",
        "customers",
        "retention_rate",
        "revenue",
        "clv_per_initial_customer",
    ]
    row = table.iloc[0]
    assert (row["replicates"], row["month"], row["customers"], row["revenue"]) == (2, 2, 7.0, 70.0)
    assert row["retention_rate"] == pytest.approx((0.75 + 8 / 9) / 2)
    assert row["clv_per_initial_customer"] == pytest.approx((14.0 + 17.0) / 2)
