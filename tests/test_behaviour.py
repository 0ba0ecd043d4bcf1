"""What the model does, on every engine: seeds, the stock-flow identity, each rule's effect.

Where the rules make the answer exact (fixed quality, probabilities of 0 or 1) the assertions are
exact; elsewhere they are binomial z bounds at a level of 0.001 with fixed seeds.
"""

import functools
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from conftest import build_scenario
from sim import load_scenario, simulate
from sim.metrics import COLUMNS

SCENARIOS = sorted(Path(__file__).resolve().parents[1].glob("scenarios/*.toml"))
Z = float(stats.norm.ppf(1 - 0.001 / 2))
TWO_RUNGS = [
    {
        "id": "bad",
        "quality_mean": 2.0,
        "quality_sd": 0.0,
        "resolve_prob": 1.0,
        "quick_resolve_prob": 1.0,
        "cost_per_customer": 1.0,
        "sustain_months": 0,
    },
    {
        "id": "great",
        "quality_mean": 9.0,
        "quality_sd": 0.0,
        "resolve_prob": 1.0,
        "quick_resolve_prob": 1.0,
        "cost_per_customer": 6.0,
        "sustain_months": 0,
    },
]


# Expectation 5, no tolerance, no learning: rung 'bad' is always bad, 'great' always delights.
exact_market = functools.partial(
    build_scenario, rungs=TWO_RUNGS, exact=True, seed=5, size=2000, months=24
)


MAX_POINTS = 45


def assert_stock_flow(frame):
    for _, f in frame.groupby("firm"):
        c = f["customers"].to_numpy()
        inflow = (f["joined_marketing"] + f["joined_referral"] + f["switched_in"]).to_numpy()[1:]
        outflow = (f["left_bad_experience"] + f["left_attrition"]).to_numpy()[1:]
        assert np.array_equal(c[1:], c[:-1] + inflow - outflow)
    people = frame.groupby("step")["customers"].sum() + frame.groupby("step")[
        ["prospects", "away", "gone"]
    ].first().sum(axis=1)
    assert people.nunique() == 1  # nobody appears or disappears


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_stock_flow_identity_holds_exactly_in_every_row_of_every_shipped_scenario(path, engine):
    scenario = load_scenario(path, ["market.size=400"])
    points = scenario.points()
    # every point of a sweep of up to MAX_POINTS points, else MAX_POINTS spread evenly over it
    # (an exploration has thousands)
    for _, point in points[:: max(1, len(points) // MAX_POINTS)]:
        frame = simulate(point, seed=7, engine=engine)
        assert list(frame.columns) == list(COLUMNS)
        assert len(frame) == (point.months + 1) * len(point.firms)
        assert_stock_flow(frame)
        money = frame.loc[
            frame["step"] == 0,
            ["revenue", "service_cost", "acquisition_cost", "profit", "discounted_revenue"],
        ]
        assert (money == 0).all().all()


def test_same_seed_gives_identical_frames_and_different_seeds_differ(engine):
    sc = load_scenario("scenarios/competition.toml", ["market.size=1000", "scenario.months=24"])
    a, b, c = (simulate(sc, seed=s, engine=engine) for s in (1, 1, 2))
    assert a.equals(b)
    assert not a.equals(c)


def test_strikes_rule_every_interaction_bad_everyone_leaves_at_the_third_strike(engine):
    sc = exact_market(
        [{"name": "A", "service_level": "bad"}],
        initial=2000,
        churn={"rule": "strikes", "strikes": 3, "window_months": 12, "base_prob": 0.0},
        acquisition={"prob": 0.0},
    )
    frame = simulate(sc, seed=1, engine=engine)
    assert frame["customers"].tolist()[:5] == [2000, 2000, 2000, 0, 0]
    assert frame["left_bad_experience"][3] == 2000


def test_strikes_outside_the_window_never_add_up(engine):
    # three strikes needed within 2 months, one bad experience a month: nobody ever leaves
    sc = exact_market(
        [{"name": "A", "service_level": "bad"}],
        initial=500,
        size=500,
        churn={"rule": "strikes", "strikes": 3, "window_months": 2, "base_prob": 0.0},
    )
    frame = simulate(sc, seed=1, engine=engine)
    assert (frame["customers"] == 500).all()
    assert frame["bad_experiences"][1:].eq(500).all()


@pytest.mark.parametrize(("complain", "stay"), [(1.0, 0.82), (0.0, 0.09)])
def test_tarp_rule_stays_with_the_table_entry(engine, complain, stay):
    # every interaction bad; resolve and quick-resolve certain: stay chance 0.82 if complaining
    n = 5000
    sc = exact_market(
        [{"name": "A", "service_level": "bad"}],
        initial=n,
        size=n,
        months=3,
        churn={"rule": "tarp", "complain_prob": complain, "base_prob": 0.0},
    )
    frame = simulate(sc, seed=2, engine=engine)
    for t in (1, 2, 3):
        expected, sd = n * stay**t, np.sqrt(n * stay**t * (1 - stay**t))
        assert abs(frame["customers"][t] - expected) <= Z * sd
    assert frame["complaints"][1] == (n if complain else 0)
    assert frame["resolved"][1] == frame["complaints"][1]


def test_department_weights_set_how_often_each_department_is_met(engine):
    n = 4000
    firm = {
        "name": "A",
        "departments": {"shop": "bad", "help": "great"},
        "department_weights": {"shop": 1.0, "help": 3.0},
    }
    sc = exact_market(
        [firm],
        initial=n,
        size=n,
        months=2,
        churn={"leave_prob": 0.0, "base_prob": 0.0},
        referrals={"refer_prob": 0.0},
    )
    frame = simulate(sc, seed=3, engine=engine)
    assert frame["delivered_rung"][1] == "bad"  # a firm is as good as its weakest department
    bad = frame["bad_experiences"][1]
    assert abs(bad - n / 4) <= Z * np.sqrt(n * 0.25 * 0.75)
    assert frame["delighted"][1] == n - bad
    assert frame["service_cost"][1] == pytest.approx(n * (0.25 * 1.0 + 0.75 * 6.0))


def test_leavers_come_back_as_prospects_after_the_stated_months(engine):
    sc = exact_market(
        [{"name": "A", "service_level": "great"}],
        initial=300,
        size=1000,
        months=5,
        churn={"base_prob": 1.0, "leavers_return_after": 2},
        acquisition={"prob": 0.0},
        referrals={"refer_prob": 0.0},
    )
    frame = simulate(sc, seed=4, engine=engine)
    assert frame["away"].tolist() == [0, 300, 300, 0, 0, 0]  # leavers of month 1: prospects from 4
    assert frame["prospects"].tolist() == [700, 700, 700, 1000, 1000, 1000]
    gone = simulate(sc.with_values({"churn.leavers_return_after": -1}), seed=4, engine=engine)
    assert gone["gone"].tolist() == [0, 300, 300, 300, 300, 300]


def test_switchers_move_to_the_competitor_and_are_never_away(engine):
    firms = [{"name": "A", "service_level": "bad"}, {"name": "B", "service_level": "great"}]
    sc = exact_market(
        firms,
        size=2000,
        months=6,
        churn={"switch_prob": 1.0, "leave_prob": 1.0, "base_prob": 0.0},
        acquisition={"prob": 0.0},
        referrals={"refer_prob": 0.0},
    )
    frame = simulate(sc, seed=5, engine=engine)
    a, b = frame[frame.firm == "A"].reset_index(), frame[frame.firm == "B"].reset_index()
    assert a["customers"].tolist() == [500, 0, 0, 0, 0, 0, 0]
    assert b["customers"].tolist() == [500, 1000, 1000, 1000, 1000, 1000, 1000]
    assert a["switched_out"][1] == 500 == b["switched_in"][1]
    assert (frame["away"] == 0).all()


def test_negative_word_of_mouth_closes_prospects_to_the_firm_for_the_stated_months(engine):
    firms = [{"name": "A", "service_level": "bad"}, {"name": "B", "service_level": "great"}]
    sc = exact_market(
        firms,
        size=4000,
        initial=200,
        months=20,
        churn={"leave_prob": 1.0, "base_prob": 0.0, "leavers_return_after": -1},
        referrals={"refer_prob": 0.0, "negative_reach": 3999, "negative_months": 12},
        acquisition={"prob": 0.1, "rung_weight": 0.0},
    )
    frame = simulate(sc, seed=6, engine=engine)
    a = frame[frame.firm == "A"].set_index("step")
    b = frame[frame.firm == "B"].set_index("step")
    assert a.loc[1, "joined_marketing"] > 0  # closures start the month after the telling
    # A's customers of month 1 leave in month 2 and tell everyone: closed through month 14
    assert (a.loc[2:14, "joined_marketing"] == 0).all()
    assert a.loc[15:, "joined_marketing"].sum() > 0
    assert (b.loc[2:14, "joined_marketing"] > 0).all()


def test_no_referral_on_a_network_without_edges(engine):
    sc = exact_market(
        [{"name": "A", "service_level": "great"}],
        size=500,
        months=3,
        market={"network": {"generator": "erdos_renyi", "p": 0.0}},
        referrals={"refer_prob": 1.0, "conversion": 1.0},
    )
    frame = simulate(sc, seed=8, engine=engine)
    assert frame["delighted"][1] == 250 and frame["referrals_made"].sum() == 0


def test_referrals_in_a_well_mixed_market_reach_prospects_in_proportion(engine):
    # every customer delights and refers; a referral converts iff it reaches a prospect (conversion 1)
    n = 4000
    sc = exact_market(
        [{"name": "A", "service_level": "great"}],
        size=n,
        initial=1000,
        months=1,
        churn={"base_prob": 0.0},
        referrals={"refer_prob": 1.0, "conversion": 1.0},
        acquisition={"prob": 0.0},
    )
    frame = simulate(sc, seed=9, engine=engine)
    assert frame["referrals_made"][1] == 1000
    # each prospect is missed by all 1000 referrals with chance (1 - 1/(n-1))^1000
    p_join = 1 - (1 - 1 / (n - 1)) ** 1000
    joined = frame["joined_referral"][1]
    assert abs(joined - 3000 * p_join) <= Z * np.sqrt(3000 * p_join * (1 - p_join))
    assert frame["acquisition_cost"][1] == 0


def test_reputation_climbs_the_five_ladder_at_months_6_12_24_60(engine):
    sc = load_scenario(
        {
            "scenario": {"seed": 1, "months": 61},
            "market": {"size": 50},
            "firms": [{"name": "A", "service_level": "world_class", "recognised_start": "poor"}],
        }
    )
    frame = simulate(sc, seed=1, engine=engine)
    changes = frame[frame["recognised_rung"] != frame["recognised_rung"].shift()]
    assert changes["step"].tolist() == [0, 6, 12, 24, 60]
    assert changes["recognised_rung"].tolist() == [
        "poor",
        "acceptable",
        "good",
        "excellent",
        "world_class",
    ]


def test_world_class_is_recognised_only_after_every_department_delivers_it(engine):
    sc = load_scenario("scenarios/world_class.toml", ["market.size=300"])
    frame = simulate(sc, seed=1, engine=engine).set_index("step")
    assert (
        frame.loc[35, "delivered_rung"] == "good"
        and frame.loc[36, "delivered_rung"] == "world_class"
    )
    changes = frame[frame["recognised_rung"] != frame["recognised_rung"].shift()]
    assert changes.index.tolist() == [0, 59, 95]  # 24 and 60 months of delivery from month 36
    assert changes["recognised_rung"].tolist() == ["good", "excellent", "world_class"]
    # the upgrade is paid for from month 1: weights 1,2,1,1 -> cost 0.8*8 + 0.2*3.5 per customer
    per_customer = frame.loc[1:35, "service_cost"] / (frame.loc[1:35, "revenue"] / 30.0)
    assert np.allclose(per_customer, 0.8 * 8.0 + 0.2 * 3.5)


def test_accounts_follow_the_counts(engine):
    sc = load_scenario("scenarios/competition.toml", ["market.size=1000", "scenario.months=12"])
    f = simulate(sc, seed=3, engine=engine)
    stayed = f["customers"].shift(2) - f["left_bad_experience"] - f["left_attrition"]  # 2 firms
    m = f["step"] > 0
    fee = f["firm"].map({"Budget": 25.0, "Premium": 40.0})
    assert np.allclose(f.loc[m, "revenue"], (fee * stayed)[m])
    assert np.allclose(f["acquisition_cost"], 50.0 * f["joined_marketing"])
    assert np.allclose(f["profit"], f["revenue"] - f["service_cost"] - f["acquisition_cost"])
    disc = (f["revenue"] / 1.01 ** f["step"]).groupby(f["firm"]).cumsum()
    assert np.allclose(f["discounted_revenue"], disc)
    assert np.allclose(f.loc[m, "csat"], (1 - f["bad_experiences"] / f["interactions"])[m])
