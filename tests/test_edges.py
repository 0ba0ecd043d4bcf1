"""Numerical edges on every engine: empty markets, full markets, certain and impossible events,
a single month, a one-rung ladder. Sensible results, no NaN where a number is due."""

import functools

import numpy as np

from conftest import build_scenario
from sim import load_scenario, simulate
from sim.metrics import COLUMNS

MAY_BE_MISSING = {
    "retention_rate",
    "cohort_retention",
    "mean_expectation",
    "csat",
    "answered_within_target",  # firms without a contact centre, months without calls
    "mean_wait_seconds",  # the same, and months with an unstable queue
}


scenario = functools.partial(
    build_scenario,
    firms=[{"name": "A", "service_level": "good"}, {"name": "B", "service_level": "poor"}],
    size=200,
)


def assert_sane(frame, months, n_firms):
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == (months + 1) * n_firms
    numbers = frame.drop(columns=["firm", "delivered_rung", "recognised_rung", *MAY_BE_MISSING])
    assert not numbers.isna().any().any()
    assert np.isfinite(numbers.to_numpy(dtype=float)).all()
    assert (frame[["customers", "prospects", "away", "gone"]] >= 0).all().all()


def test_an_empty_market_runs_and_reports_missing_rates(engine):
    frame = simulate(scenario(market={"size": 0}), seed=1, engine=engine)
    assert_sane(frame, 12, 2)
    assert (frame["customers"] == 0).all() and (frame["revenue"] == 0).all()
    assert frame["retention_rate"].isna().all() and frame["csat"].isna().all()
    assert frame["cohort_retention"].isna().all()


def test_everyone_a_customer_at_the_start(engine):
    frame = simulate(
        scenario(market={"size": 200, "initial_customers": 200}), seed=2, engine=engine
    )
    assert_sane(frame, 12, 2)
    assert frame.loc[frame.step == 0, "customers"].sum() == 200
    assert frame.loc[frame.step == 0, "prospects"].iloc[0] == 0


def test_certain_events(engine):
    sc = scenario(
        customers={"contact_prob": 1.0},
        churn={"leave_prob": 1.0, "base_prob": 1.0, "switch_prob": 1.0, "leavers_return_after": 0},
        referrals={"refer_prob": 1.0, "conversion": 1.0},
        acquisition={"prob": 1.0},
    )
    frame = simulate(sc, seed=3, engine=engine)
    assert_sane(frame, 12, 2)
    # everybody leaves every month (attrition is certain) and every leaver switches
    later = frame[frame.step > 0]
    assert (later["retention_rate"].fillna(0) == 0).all()
    assert (later["left_bad_experience"] + later["left_attrition"] == later["switched_out"]).all()


def test_impossible_events(engine):
    sc = scenario(
        customers={"contact_prob": 0.0},
        churn={"base_prob": 0.0},
        referrals={"refer_prob": 0.0},
        acquisition={"prob": 0.0},
    )
    frame = simulate(sc, seed=4, engine=engine)
    assert_sane(frame, 12, 2)
    assert (frame.groupby("firm")["customers"].nunique() == 1).all()  # nothing ever changes
    assert frame.loc[frame.step > 0, "csat"].isna().all()  # no interaction, no satisfaction
    assert (frame.loc[frame.step > 0, "retention_rate"] == 1.0).all()


def test_a_single_month_and_a_one_rung_ladder(engine):
    rung = {
        "id": "only",
        "quality_mean": 6.0,
        "quality_sd": 1.0,
        "resolve_prob": 0.5,
        "quick_resolve_prob": 0.5,
        "cost_per_customer": 2.0,
        "sustain_months": 0,
    }
    sc = load_scenario(
        {
            "scenario": {"seed": 1, "months": 1},
            "rungs": [rung],
            "market": {"size": 300},
            "firms": [{"name": "A", "service_level": "only"}],
        }
    )
    frame = simulate(sc, seed=5, engine=engine)
    assert_sane(frame, 1, 1)
    assert frame["recognised_rung"].tolist() == ["only", "only"]


def test_a_firm_with_no_initial_customers(engine):
    sc = scenario(
        firms=[
            {"name": "A", "service_level": "good"},
            {"name": "B", "service_level": "poor", "share": 0},
        ]
    )
    frame = simulate(sc, seed=6, engine=engine)
    assert_sane(frame, 12, 2)
    b = frame[frame.firm == "B"]
    assert b["customers"].iloc[0] == 0 and b["cohort_retention"].isna().all()
    assert (
        b["retention_rate"].iloc[1] != b["retention_rate"].iloc[1]
    )  # NaN: started the month empty
