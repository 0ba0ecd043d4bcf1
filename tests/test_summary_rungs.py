"""sim/summary.py: per-run outcomes, pooling over sweep points, break-even and the rung table."""

import numpy as np
import pandas as pd
import pytest

from sim.summary import (
    best_by_condition,
    break_even_months,
    climb_table,
    cumulative_profit,
    outcome_names,
    pool_replicates,
    pooled_summary,
    run_outcomes,
    rung_table,
)

RUNG = "firms.0.service_level"
T975_2 = 4.302652729749462  # Student t quantile, 2 degrees of freedom, 97.5 %


def frame(profits: dict[str, list[float]], replicates: int = 3, rule: str = "fixed"):
    """One firm, months 0..3; per rung a monthly profit path, shifted by the replicate number.

    Cohort retention halves each month; customers = 100 * retention + replicate.
    """
    rows = []
    for p, (rung, path) in enumerate(profits.items()):
        for r in range(replicates):
            disc = 0.0
            for step, profit in enumerate(path):
                profit = profit + r if step else 0.0
                disc += profit
                retention = 0.5**step
                rows.append(
                    {
                        "run_id": f"{rule}-p{p}-r{r}",
                        "replicate": r,
                        "seed": 100 * p + r,
                        "step": step,
                        "firm": "Firm",
                        "customers": 100 * retention + r,
                        "cohort_retention": retention,
                        "revenue": 10.0 * step,
                        "profit": profit,
                        "discounted_revenue": 0.0,
                        "discounted_profit": disc,
                        RUNG: rung,
                        "churn.rule": rule,
                    }
                )
    return pd.DataFrame(rows)


def test_outcome_names_follow_the_months():
    assert outcome_names((3,)) == [
        "customers",
        "retention_3",
        "retention_end",
        "revenue",
        "cumulative_profit",
        "discounted_revenue",
        "discounted_profit",
        "clv",
    ]


def test_cumulative_profit_runs_per_run_and_keeps_row_order():
    ts = frame({"poor": [0, 1, 2, 3]}, replicates=2)
    shuffled = ts.sample(frac=1.0, random_state=1)
    total = cumulative_profit(shuffled)
    assert total.index.equals(shuffled.index)
    back = total.sort_index()
    # replicate 0: 0, 1, 3, 6; replicate 1: profits 2, 3, 4 -> 0, 2, 5, 9
    assert back.tolist() == [0, 1, 3, 6, 0, 2, 5, 9]


def test_run_outcomes_one_row_per_run_with_exact_values():
    ts = frame({"poor": [0, 1, 2, 3], "good": [0, -5, 5, 20]}, replicates=2)
    out = run_outcomes(ts, {"Firm": 10.0}, 0.0, months=(1, 2, 12))
    assert list(out["run_id"]) == ["fixed-p0-r0", "fixed-p0-r1", "fixed-p1-r0", "fixed-p1-r1"]
    assert list(out.columns[:5]) == ["run_id", "replicate", "seed", RUNG, "churn.rule"]
    good_r1 = out.iloc[3]
    assert good_r1["month"] == 3
    assert good_r1["customers"] == 100 * 0.125 + 1
    assert good_r1["retention_1"] == 0.5 and good_r1["retention_2"] == 0.25
    assert np.isnan(good_r1["retention_12"])  # the run is shorter than 12 months
    assert good_r1["retention_end"] == 0.125
    assert good_r1["revenue"] == 30.0
    assert good_r1["cumulative_profit"] == (-5 + 1) + (5 + 1) + (20 + 1)
    assert good_r1["discounted_profit"] == 23.0
    # CLV at rate 0: fee * sum of cohort retention over months 1..3
    assert good_r1["clv"] == pytest.approx(10.0 * (0.5 + 0.25 + 0.125))


def test_run_outcomes_discount_the_clv_and_use_a_swept_fee():
    ts = frame({"poor": [0, 1, 2, 3]}, replicates=1)
    out = run_outcomes(ts, {"Firm": 10.0}, 0.1)
    expected = 10.0 * (0.5 / 1.1 + 0.25 / 1.1**2 + 0.125 / 1.1**3)
    assert out["clv"].iloc[0] == pytest.approx(expected)
    swept = ts.assign(**{"firms.0.monthly_fee": 20.0})
    assert run_outcomes(swept, {"Firm": 10.0}, 0.1)["clv"].iloc[0] == pytest.approx(2 * expected)


def test_pool_replicates_averages_other_points_replicate_by_replicate():
    ts = pd.concat(
        [frame({"poor": [0, 1, 1, 1]}, rule="fixed"), frame({"poor": [0, 3, 3, 3]}, rule="tarp")]
    )
    out = run_outcomes(ts, {"Firm": 10.0}, 0.0)
    pooled = pool_replicates(out, [RUNG], ["cumulative_profit"])
    # replicate r: fixed 3 * (1 + r), tarp 3 * (3 + r) -> mean 6 + 3r
    assert pooled["replicate"].tolist() == [0, 1, 2]
    assert pooled["cumulative_profit"].tolist() == [6.0, 9.0, 12.0]
    stats = pooled_summary(out, [RUNG], ["cumulative_profit"])
    row = stats.iloc[0]
    assert row["n"] == 3 and row["mean"] == 9.0 and row["sd"] == 3.0
    assert row["ci_high"] == pytest.approx(9.0 + T975_2 * 3.0 / np.sqrt(3))


def curves(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"rung": g, "step": step, "mean": v}
            for g, path in values.items()
            for step, v in enumerate(path)
        ]
    )


def test_break_even_month_is_where_a_curve_stays_at_or_above_the_reference():
    c = curves(
        {
            "ref": [0, 10, 20, 30, 40],
            "late": [0, -5, 15, 35, 45],  # behind in months 1 and 2
            "dips": [0, 20, 10, 40, 50],  # ahead, behind in month 2, ahead again
            "always": [0, 10, 25, 30, 41],  # never behind (ties count as level)
            "never": [0, 50, 50, 50, 39],  # behind at the end
        }
    )
    out = break_even_months(c, "rung")
    assert list(out.index) == ["ref", "late", "dips", "always", "never"]
    assert out["ref"] == 0 and out["late"] == 3 and out["dips"] == 3 and out["always"] == 0
    assert np.isnan(out["never"])
    assert break_even_months(c, "rung", reference="never")["ref"] == 4


def test_rung_table_in_ladder_order_with_intervals_break_even_and_best():
    ts = frame({"good": [0, -10, 5, 30], "poor": [0, 1, 2, 3], "excellent": [0, -20, -20, 50]})
    table = rung_table(ts, RUNG, {"Firm": 10.0}, 0.0, order=["poor", "good", "excellent"])
    assert table[RUNG].tolist() == ["poor", "good", "excellent"]
    assert table["runs"].tolist() == [3, 3, 3] and table["replicates"].tolist() == [3, 3, 3]
    # discounted profit at the end: path sum + 3r, r = 0, 1, 2 -> mean path sum + 3, sd 3
    assert table["discounted_profit"].tolist() == [9.0, 28.0, 13.0]
    half = T975_2 * 3.0 / np.sqrt(3)
    assert table["discounted_profit_low"].tolist() == pytest.approx(
        [9 - half, 28 - half, 13 - half]
    )
    # cumulative profit means: poor 0, 2, 5, 9; good 0, -9, -3, 28; excellent 0, -19, -38, 13
    # the reference (the first rung) has no break-even month of its own
    assert table["break_even_month"].tolist()[1:] == [3.0, 3.0]
    assert np.isnan(table["break_even_month"].iloc[0])
    assert table["best"].tolist() == [False, True, False]
    assert table["conditions"].tolist() == [1] * 3 and table["best_in"].tolist() == [0, 1, 0]
    # each rung against poor: seeds differ between rungs here, so Welch's interval
    assert np.isnan(table["difference"].iloc[0]) and table["difference_test"].iloc[0] == ""
    assert table["difference"].tolist()[1:] == pytest.approx([19.0, 4.0])
    assert table["difference_test"].tolist()[1:] == ["welch", "welch"]
    assert table["retention_12"].isna().all()
    assert table["retention_end"].tolist() == [0.125] * 3
    assert table["customers"].tolist() == [13.5] * 3


def test_rung_table_averages_other_sweep_points_and_drops_absent_rungs():
    ts = pd.concat(
        [
            frame({"poor": [0, 1, 1, 1], "good": [0, -9, 5, 9]}, rule="fixed"),
            frame({"poor": [0, 3, 3, 3], "good": [0, -1, 5, 9]}, rule="tarp"),
        ]
    )
    table = rung_table(ts, RUNG, {"Firm": 10.0}, 0.0, order=["poor", "acceptable", "good"])
    assert table[RUNG].tolist() == ["poor", "good"]
    assert table["runs"].tolist() == [6, 6] and table["replicates"].tolist() == [3, 3]
    assert table["cumulative_profit"].tolist() == [9.0, 12.0]
    # mean cumulative profit: poor 0, 3, 6, 9 (+r); good 0, -4, 1, 10 (+r) -> level from month 3
    assert np.isnan(table["break_even_month"].iloc[0]) and table["break_even_month"].iloc[1] == 3


def test_no_best_is_read_off_an_average_over_conditions_whose_ranking_flips():
    # discounted profit at the end (+3r): fixed: poor 3, good 19; tarp: poor 30, good 13. Poor
    # is ahead on the average over both rules (19.5 + 1.5r against 16 + 1.5r... per replicate),
    # but each rung wins one rule: neither is "best"
    ts = pd.concat(
        [
            frame({"poor": [0, 1, 1, 1], "good": [0, -1, 10, 10]}, rule="fixed"),
            frame({"poor": [0, 10, 10, 10], "good": [0, 1, 1, 11]}, rule="tarp"),
        ]
    )
    table = rung_table(ts, RUNG, {"Firm": 10.0}, 0.0, order=["poor", "good"])
    assert table["conditions"].tolist() == [2, 2]
    assert table["best_in"].tolist() == [1, 1]
    assert table["best"].tolist() == [False, False]
    winners = best_by_condition(ts, RUNG)
    assert winners["churn.rule"].tolist() == ["fixed", "tarp"]
    assert winners["best"].tolist() == ["good", "poor"]
    assert winners["runner_up"].tolist() == ["poor", "good"]
    assert winners["difference"].to_numpy() == pytest.approx(
        winners["best_mean"] - winners["runner_up_mean"]
    )


def test_share_intervals_are_clipped_to_0_and_1():
    ts = frame({"poor": [0, 1, 1, 1], "good": [0, 1, 1, 1]})
    ts["cohort_retention"] = np.where(ts["step"] == 3, ts["replicate"] * 0.0005, 1.0)
    table = rung_table(ts, RUNG, {"Firm": 10.0}, 0.0)
    assert (table["retention_end_low"] == 0.0).all()
    assert (table["retention_end_high"] <= 1.0).all()


def test_rung_table_of_nothing_is_empty():
    table = rung_table(frame({"poor": [0, 1]}).iloc[0:0], RUNG, {"Firm": 1.0}, 0.0)
    assert table.empty and "break_even_month" in table.columns


def test_climb_table_investment_payback_and_paired_gain():
    rows = frame({"good": [0, 5, 5, 5], "excellent": [0, -20, 30, 30]})
    climbed = (rows[RUNG] == "excellent") & (rows["step"] == 1)
    independent = rows["seed"]  # frame() gives every run its own seed
    # common random numbers: replicate r of both points ran with the same seed
    rows = rows.assign(investment=np.where(climbed, 25.0, 0.0), seed=rows["replicate"])
    table = climb_table(rows, RUNG, ["good", "excellent"]).set_index(RUNG)
    assert list(table.index) == ["excellent"]  # staying put is the reference, not a row
    row = table.loc["excellent"]
    assert row["investment"] == 25.0
    # mean cumulative profit: good 0, 6, 12, 18; excellent 0, -19, 12, 43: level at month 2
    assert row["payback_month"] == 2.0
    # both shift by the replicate number, so every pair differs by 40 - 15 = 25 at month 3
    assert (row["gain"], row["gain_low"], row["gain_high"]) == (25.0, 25.0, 25.0)
    assert (row["n"], row["test"]) == (3, "paired")
    # with independent seeds the same runs are compared as two samples (Welch)
    welch = climb_table(rows.assign(seed=independent), RUNG, ["good", "excellent"]).iloc[0]
    assert welch["test"] == "welch" and welch["gain"] == 25.0 and welch["gain_low"] < 25.0
    assert climb_table(rows[rows[RUNG] == "good"], RUNG, ["good", "excellent"]).empty


def test_outcomes_kept_computes_the_outcomes_of_the_same_rows_once(monkeypatch):
    import sim.summary

    calls = []
    compute = sim.summary._run_outcomes
    monkeypatch.setattr(
        sim.summary, "_run_outcomes", lambda *a: calls.append(len(a[0])) or compute(*a)
    )
    ts = frame({"poor": [0, 1, 2, 3], "good": [0, -5, 5, 20]}, replicates=2)
    alone = run_outcomes(ts, {"Firm": 10.0}, 0.0)
    with sim.summary.outcomes_kept():
        first = run_outcomes(ts, {"Firm": 10.0}, 0.0)
        first["clv"] = -1.0  # a copy: what is kept does not change
        again = run_outcomes(ts[ts["firm"] == "Firm"], {"Firm": 10.0}, 0.0)  # the same rows
        other_fee = run_outcomes(ts, {"Firm": 20.0}, 0.0)
        fewer = run_outcomes(ts[ts[RUNG] == "good"], {"Firm": 10.0}, 0.0)
    run_outcomes(ts, {"Firm": 10.0}, 0.0)  # outside the block: computed again
    assert calls == [len(ts), len(ts), len(ts), len(ts) // 2, len(ts)]
    pd.testing.assert_frame_equal(again, alone)
    assert (other_fee["clv"] == 2 * alone["clv"]).all()
    pd.testing.assert_frame_equal(fewer, alone[alone[RUNG] == "good"].reset_index(drop=True))
