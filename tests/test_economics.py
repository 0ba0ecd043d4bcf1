"""The ladder's economics (issue 13): the warm-up, rung investment, the outside rung and the
annual discount rate, on every engine.

Where the rules make the answer exact (same seed, deterministic schedules) the assertions are
exact; the outside rung's logit share is checked against its closed form in
`sim.validation` (``outside_rung_share``, run in tests/validation/).
"""

from pathlib import Path

import numpy as np
import pytest

from conftest import ENGINES
from sim import load_scenario, simulate
from sim.scenario import ScenarioError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
BASELINE = SCENARIOS / "baseline.toml"
SMALL = {"market.size": 600, "scenario.months": 24}

# Values the engines gave before issue 13 (commit 88ef6cb), for a scenario that exercises
# strikes, switching, closures and the two-firm choice: the defaults must reproduce them. (The
# population engine's were recomputed when its draws changed for speed in issue 16, the law
# unchanged: docs/model.md D27.)
GOLDEN_OVERRIDES = {
    "market.size": 600,
    "scenario.months": 24,
    "referrals.negative_reach": 2,
    "churn.switch_prob": 0.2,
    "churn.rule": "strikes",
    "churn.leavers_return_after": 3,
}
# engine -> firm -> (customers at months 6, 12, 18 and 24, customer-months over 0..24,
# discounted profit to month 24)
GOLDEN = {
    "agents": {
        "Budget": (146, 106, 80, 61, 2702, 51845.1066907978),
        "Premium": (157, 172, 189, 196, 4331, 122623.03559332973),
    },
    "population": {
        "Budget": (138, 102, 76, 60, 2626, 50411.24063419109),
        "Premium": (167, 187, 207, 220, 4637, 130615.58277729373),
    },
}

# An inline five-rung ladder with investments (the built-in ones have none).
INVESTMENT = {"good": 1000.0, "excellent": 20000.0, "world_class": 50000.0}


def ladder_with_investment() -> list[dict]:
    from sim.ladder import get_ladder

    return [
        {**r, "investment": INVESTMENT.get(r["id"], 0.0)} for r in get_ladder("five").to_records()
    ]


def stock_flow_holds(frame) -> bool:
    for _, rows in frame.groupby("firm"):
        c = rows["customers"].to_numpy()
        inflow = rows[["joined_marketing", "joined_referral", "switched_in"]].sum(axis=1)
        outflow = rows[["left_bad_experience", "left_attrition"]].sum(axis=1)
        if not np.array_equal(c[1:], c[:-1] + inflow.to_numpy()[1:] - outflow.to_numpy()[1:]):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Defaults


@pytest.mark.parametrize("engine", ENGINES)
def test_defaults_reproduce_the_frames_from_before_the_economics(engine):
    scenario = load_scenario(SCENARIOS / "competition.toml", GOLDEN_OVERRIDES)
    frame = simulate(scenario, seed=7, engine=engine)
    for firm, rows in frame.groupby("firm"):
        customers = rows["customers"].to_numpy()
        found = (*customers[[6, 12, 18, 24]], customers.sum(), rows["discounted_profit"].iloc[-1])
        assert found == GOLDEN[engine][firm]
    assert (frame["investment"] == 0).all()


# --------------------------------------------------------------------------------------------
# Warm-up


@pytest.mark.parametrize("engine", ENGINES)
def test_a_warm_up_of_k_months_then_n_is_a_run_of_k_plus_n_from_its_month_k(engine):
    k, n = 9, 15
    overrides = {"market.size": 600, "referrals.negative_reach": 2, "churn.rule": "strikes"}
    warm = simulate(
        load_scenario(BASELINE, {**overrides, "scenario.months": n, "scenario.warmup_months": k}),
        seed=5,
        engine=engine,
    )
    long = simulate(
        load_scenario(BASELINE, {**overrides, "scenario.months": k + n}), seed=5, engine=engine
    )
    assert warm["step"].tolist() == list(range(n + 1))  # no rows before month 0
    tail = long[long["step"] >= k].reset_index(drop=True)
    stocks = ["customers", "prospects", "away", "gone", "mean_expectation", "recognised_rung"]
    assert warm[stocks].equals(tail[stocks])  # month 0 = the end of the warm-up
    flows = [
        "interactions", "bad_experiences", "delighted", "referrals_made", "joined_marketing",
        "joined_referral", "left_bad_experience", "left_attrition", "revenue", "service_cost",
        "acquisition_cost", "profit", "retention_rate", "csat",
    ]  # fmt: skip
    assert warm[flows].iloc[1:].equals(tail[flows].iloc[1:])
    assert (warm[flows].iloc[0].fillna(0) == 0).all()  # month 0 counts nothing
    assert warm["discounted_revenue"].iloc[0] == 0
    # the month-0 cohort is the customers at the end of the warm-up
    assert warm["cohort_retention"].iloc[0] == 1.0
    # every month-0 customer is in it: those who did not leave in month 1 are its month-1 size
    start = warm["customers"].iloc[0]
    stayed = start - warm["left_bad_experience"].iloc[1] - warm["left_attrition"].iloc[1]
    assert warm["cohort_retention"].iloc[1] * start == pytest.approx(stayed, abs=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_reputation_is_earned_during_the_warm_up_at_the_month_0_rungs(engine):
    # Delivers world class from month 0 (a month-0 schedule entry), recognised as poor at the
    # start of a 30-month warm-up: acceptable after 6, good after 12, excellent after 24.
    scenario = load_scenario(
        BASELINE,
        {
            **SMALL,
            "scenario.warmup_months": 30,
            "firms.0.recognised_start": "poor",
            "firms.0.schedule": [{"month": 0, "service_level": "world_class"}],
        },
    )
    frame = simulate(scenario, seed=3, engine=engine)
    assert frame["delivered_rung"].iloc[0] == "world_class"
    assert frame["recognised_rung"].iloc[0] == "excellent"
    assert (frame["investment"] == 0).all()  # month-0 rungs cost nothing, warm-up or not


@pytest.mark.parametrize("engine", ENGINES)
def test_world_class_is_recognised_after_sixty_months_counted_from_the_warm_up(engine):
    scenario = load_scenario(
        BASELINE,
        {
            "market.size": 300,
            "scenario.months": 40,
            "scenario.warmup_months": 30,
            "firms.0.service_level": "world_class",
            "firms.0.recognised_start": "poor",
        },
    )
    recognised = simulate(scenario, seed=3, engine=engine)["recognised_rung"].tolist()
    assert recognised.index("world_class") == 30  # month 60 of the market, month 30 reported


# --------------------------------------------------------------------------------------------
# Investment


@pytest.mark.parametrize("engine", ENGINES)
def test_investment_is_charged_once_per_rung_climbed_weighted_by_department(engine):
    scenario = load_scenario(
        {
            "scenario": {"seed": 1, "months": 10, "warmup_months": 4},
            "rungs": ladder_with_investment(),
            "market": {"size": 300},
            "firms": [
                {
                    "name": "Firm",
                    "departments": {"sales": "acceptable", "support": "acceptable"},
                    "department_weights": {"sales": 1.0, "support": 3.0},
                    "schedule": [
                        {"month": 0, "departments": {"sales": "good"}},  # month 0: free
                        {"month": 2, "departments": {"support": "world_class"}},
                        {"month": 4, "departments": {"support": "good"}},  # descent: free
                        {"month": 6, "departments": {"support": "excellent"}},  # again
                        {"month": 8, "departments": {"sales": "excellent"}},
                    ],
                }
            ],
        }
    )
    frame = simulate(scenario, seed=2, engine=engine)
    support = 0.75 * (INVESTMENT["good"] + INVESTMENT["excellent"] + INVESTMENT["world_class"])
    expected = [0.0] * 11
    expected[2] = support  # acceptable -> world class: good, excellent and world class
    expected[6] = 0.75 * INVESTMENT["excellent"]  # good -> excellent, paid again
    expected[8] = 0.25 * INVESTMENT["excellent"]  # sales good -> excellent
    assert frame["investment"].tolist() == pytest.approx(expected, abs=1e-9)
    others = frame["revenue"] - frame["service_cost"] - frame["acquisition_cost"]
    assert np.allclose(frame["profit"], others - frame["staffing_cost"] - frame["investment"])
    discounted = (frame["profit"] / 1.01 ** frame["step"]).cumsum()
    assert np.allclose(frame["discounted_profit"], discounted)
    assert stock_flow_holds(frame)


def test_built_in_ladders_invest_nothing_and_inline_rungs_may_leave_it_out():
    from sim.ladder import BUILTIN_LADDERS

    assert all(r.investment == 0 for ladder in BUILTIN_LADDERS.values() for r in ladder.rungs)
    rungs = [{k: v for k, v in r.items() if k != "investment"} for r in ladder_with_investment()]
    scenario = load_scenario(
        {"scenario": {"seed": 1}, "rungs": rungs, "firms": [{"name": "F", "service_level": "good"}]}
    )
    assert scenario.ladder.cumulative_investment == (0.0,) * 5
    with pytest.raises(ScenarioError, match=r"rungs\.0\.investment: must be a number >= 0"):
        load_scenario(
            {
                "scenario": {"seed": 1},
                "rungs": [{**r, "investment": -1.0} for r in ladder_with_investment()],
                "firms": [{"name": "F", "service_level": "good"}],
            }
        )


# --------------------------------------------------------------------------------------------
# Outside rung


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lone_firm_wins_more_prospects_recognised_above_the_outside_rung(engine):
    def joined(level: str, outside: str | None) -> int:
        overrides = {
            "market.size": 4000,
            "market.initial_customers": 0,
            "scenario.months": 1,
            "acquisition.prob": 1.0,
            "firms.0.service_level": level,
        }
        if outside is not None:
            overrides["acquisition.outside_rung"] = outside
        frame = simulate(load_scenario(BASELINE, overrides), seed=4, engine=engine)
        return int(frame["joined_marketing"].iloc[1])

    assert joined("poor", None) == joined("world_class", None) == 4000  # no outside: all join
    below, level, above = (joined(r, "good") for r in ("poor", "good", "world_class"))
    assert below < level < above
    share = 1 / (1 + np.exp(-0.5 * 2))  # two rungs above: e^1 / (e^1 + 1)
    assert abs(above / 4000 - share) < 5 * np.sqrt(share * (1 - share) / 4000)


def test_the_outside_rung_must_be_a_rung_of_the_ladder():
    with pytest.raises(ScenarioError, match=r"acquisition\.outside_rung: must be a rung"):
        load_scenario(BASELINE, {"acquisition.outside_rung": "superb"})


# --------------------------------------------------------------------------------------------
# Annual discount rate


def test_an_annual_discount_rate_gives_the_equivalent_monthly_rate():
    scenario = load_scenario(BASELINE, {"finance.annual_discount_rate": 0.1})
    assert scenario.finance.discount_rate == pytest.approx(1.1 ** (1 / 12) - 1)
    assert (1 + scenario.finance.discount_rate) ** 12 == pytest.approx(1.1)
    again = load_scenario(scenario.to_dict())
    assert again == scenario
    small = load_scenario(BASELINE, {**SMALL, "finance.annual_discount_rate": 0.1})
    frame = simulate(small, seed=1)
    discount = (1 + scenario.finance.discount_rate) ** -frame["step"]
    assert np.allclose(frame["discounted_revenue"], (frame["revenue"] * discount).cumsum())


def test_giving_both_discount_rates_is_an_error():
    with pytest.raises(ScenarioError, match=r"discount_rate .* or annual_discount_rate, not both"):
        load_scenario(
            BASELINE, {"finance.annual_discount_rate": 0.1, "finance.discount_rate": 0.01}
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_the_stock_flow_identity_holds_with_warm_up_investment_and_outside_rung(engine):
    frame = simulate(
        load_scenario(SCENARIOS / "climb.toml", {"market.size": 800, "scenario.months": 30}),
        seed=11,
        engine=engine,
        point=2,  # the climb to world class
    )
    assert stock_flow_holds(frame)
    assert frame["investment"].tolist() == [0.0, 600000.0] + [0.0] * 29


def test_the_climb_report_gives_investment_payback_and_paired_gain(tmp_path, monkeypatch):
    import sim.report
    from sim.cli import main

    monkeypatch.setattr(sim.report, "DPI", 40)
    out = tmp_path / "climb"
    small = ["market.size=400", "scenario.months=24", "scenario.warmup_months=12"]
    args = ["sweep", str(SCENARIOS / "climb.toml"), "--out", str(out), "--replicates", "3"]
    args += ["--executor", "serial", "--quiet", *(a for s in small for a in ("--set", s))]
    assert main(args) == 0
    assert main(["plot", str(out)]) == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    section = text.split("## Climbing the ladder", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(("| Excellent", "| World"))]
    assert len(rows) == 2
    assert rows[0].startswith("| Excellent | 150k | ") and rows[0].endswith("| 3 |")
    assert rows[1].startswith("| World class | 600k | ") and rows[1].endswith("| 3 |")
    assert "paired replicate by replicate" in section
