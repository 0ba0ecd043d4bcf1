"""Operational service levels in the model, on every engine: a firm's contact centre (an Erlang C
queue every interaction goes through) and its inventory (stock-outs), docs/model.md step 2.

Where the rules make the answer exact (every call late in an unstable queue, staffing cost in
profit, common random numbers across staffing levels) the assertions are exact; elsewhere they are
binomial z bounds at a level of 0.001 with fixed seeds, as in tests/test_behaviour.py. Also here:
the scenario keys of the two sub-tables.
"""

import copy
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from test_behaviour import TWO_RUNGS, assert_stock_flow

from conftest import build_scenario
from sim import load_scenario, simulate
from sim.operations import average_speed_of_answer, erlang_c, fill_rate, service_level
from sim.scenario import (
    CONTACT_CENTRE_SCHEMA,
    INVENTORY_SCHEMA,
    ContactCentre,
    Inventory,
    ScenarioError,
)

Z = float(stats.norm.ppf(1 - 0.001 / 2))
CENTRE = {
    "agents": 6,
    "aht_seconds": 300.0,
    "open_hours_per_month": 100.0,
    "cost_per_agent_month": 2500.0,
    "patience_seconds": 60.0,
}


def market(
    *,
    size=4000,
    months=1,
    centre=None,
    inventory=None,
    rung="great",
    seed=11,
    rungs=TWO_RUNGS,
    **sections,
):
    """One firm on the two-rung ladder of test_behaviour ('great' always delights at expectation 5,
    'bad' always disappoints), everyone in contact every month, nobody leaving unless a rule says
    so; a contact centre and an inventory as given."""
    firm = {"name": "A", "service_level": rung, "monthly_fee": 30.0}
    if centre is not None:
        firm["contact_centre"] = centre
    if inventory is not None:
        firm["inventory"] = inventory
    quiet = {
        "churn": {"leave_prob": 0.0, "base_prob": 0.0},
        "acquisition": {"prob": 0.0},
        "referrals": {"refer_prob": 0.0},
    }
    for section, values in sections.items():
        quiet[section] = {**quiet.get(section, {}), **values}
    return build_scenario(
        [firm], seed=seed, months=months, size=size, rungs=rungs, exact=True, **quiet
    )


def within_binomial(successes, trials, p):
    """Whether a binomial count lies within Z standard errors of its mean."""
    return abs(successes - trials * p) <= Z * math.sqrt(trials * p * (1 - p)) + 1e-9


# --- scenario keys ------------------------------------------------------------------------------

MINIMAL = {"scenario": {"seed": 1}, "firms": [{"name": "A", "service_level": "good"}]}


def with_firm(**keys):
    doc = copy.deepcopy(MINIMAL)
    doc["firms"][0].update(keys)
    return doc


def test_contact_centre_and_inventory_are_frozen_tables_with_defaults():
    sc = load_scenario(with_firm(contact_centre=CENTRE, inventory={"fill_rate": 0.97}))
    firm = sc.firms[0]
    assert firm.contact_centre == ContactCentre(6, 300.0, 20.0, 100.0, 2500.0, 60.0)
    assert firm.contact_centre.staffing_cost == 6 * 2500.0
    assert firm.inventory == Inventory(0.97)
    with pytest.raises(AttributeError):
        firm.contact_centre.agents = 7
    plain = load_scenario(MINIMAL).firms[0]
    assert plain.contact_centre is None and plain.inventory is None


def test_an_inventory_policy_gets_its_fill_rate_once_and_round_trips_as_given():
    policy = {
        "demand_mean": 100,
        "demand_sd": 30,
        "lead_time": 2,
        "reorder_point": 230,
        "order_quantity": 400,
    }
    sc = load_scenario(with_firm(inventory=policy))
    assert sc.firms[0].inventory.fill_rate == fill_rate(100, 30, 2, 230, 400)
    assert sc.to_dict()["firms"][0]["inventory"] == {k: float(v) for k, v in policy.items()}
    assert load_scenario(sc.to_dict()) == sc


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"contact_centre": {**CENTRE, "agents": 0}}, "firms.0.contact_centre.agents: must be"),
        ({"contact_centre": {**CENTRE, "agents": 2.5}}, "firms.0.contact_centre.agents: must be"),
        ({"contact_centre": {**CENTRE, "aht_seconds": 0}}, "aht_seconds: must be a number > 0"),
        ({"contact_centre": {**CENTRE, "target_seconds": -1}}, "target_seconds: must be"),
        ({"contact_centre": {**CENTRE, "patience_seconds": 0}}, "patience_seconds: must be"),
        ({"contact_centre": {**CENTRE, "open_hours_per_month": -5}}, "open_hours_per_month"),
        ({"contact_centre": {**CENTRE, "cost_per_agent_month": -1}}, "cost_per_agent_month"),
        ({"contact_centre": {**CENTRE, "agent": 6}}, "unknown key 'agent' (did you mean"),
        ({"contact_centre": {"agents": 6}}, "firms.0.contact_centre.aht_seconds: is required"),
        ({"contact_centre": 6}, "firms.0.contact_centre: must be a table"),
        ({"inventory": {"fill_rate": 1.2}}, "firms.0.inventory.fill_rate: must be a probability"),
        ({"inventory": {}}, "give fill_rate (0-1) or every key of the reorder-point policy"),
        ({"inventory": {"fill_rate": 0.9, "lead_time": 2}}, "not both"),
        ({"inventory": {"demand_mean": 5, "demand_sd": 1}}, "inventory.lead_time: is required"),
        ({"inventory": {"fill_rat": 0.9}}, "unknown key 'fill_rat' (did you mean 'fill_rate'?)"),
    ],
)
def test_bad_operational_keys_are_refused_naming_the_key(keys, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario(with_firm(**keys))
    assert message in str(err.value)


def test_dotted_overrides_and_sweeps_reach_into_the_sub_tables():
    doc = with_firm(contact_centre=CENTRE, inventory={"fill_rate": 0.9})
    sc = load_scenario(doc, ["firms.0.contact_centre.agents=9", "firms.0.inventory.fill_rate=0.99"])
    assert sc.firms[0].contact_centre.agents == 9 and sc.firms[0].inventory.fill_rate == 0.99
    doc["sweep"] = {
        "firms.0.contact_centre.agents": [5, 6, 7],
        "firms.0.inventory.fill_rate": [0.9, 0.95],
    }
    sc = load_scenario(doc)
    assert [
        (p.firms[0].contact_centre.agents, p.firms[0].inventory.fill_rate) for _, p in sc.points()
    ] == [(5, 0.9), (5, 0.95), (6, 0.9), (6, 0.95), (7, 0.9), (7, 0.95)]
    assert load_scenario(sc.to_dict()) == sc
    with pytest.raises(ScenarioError, match=r"firms\.0\.contact_centre\.agents: must be"):
        load_scenario({**doc, "sweep": {"firms.0.contact_centre.agents": [0, 1]}})


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=3),
)
_sub_keys = st.sampled_from(
    [f"contact_centre.{k}" for k in CONTACT_CENTRE_SCHEMA]
    + [f"inventory.{k}" for k in INVENTORY_SCHEMA]
)
POLICY = {
    "demand_mean": 100,
    "demand_sd": 30,
    "lead_time": 2,
    "reorder_point": 230,
    "order_quantity": 400,
}


@settings(
    derandomize=True, max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None
)
@given(key=_sub_keys, value=_values, policy=st.booleans())
def test_any_value_for_any_operational_key_gives_a_scenario_or_a_scenario_error(key, value, policy):
    """Property: never a traceback; a valid result round-trips through to_dict."""
    doc = with_firm(contact_centre=CENTRE, inventory=POLICY if policy else {"fill_rate": 0.9})
    try:
        sc = load_scenario(doc, {f"firms.0.{key}": value})
    except ScenarioError as err:
        assert f"firms.0.{key.split('.')[0]}" in str(err)
        return
    assert load_scenario(sc.to_dict()) == sc


# --- the month: Erlang C figures, late calls, stock-outs, staffing cost ------------------------


def test_share_of_late_calls_is_the_erlang_c_tail_and_the_figures_are_erlang_cs(engine):
    # 2,000 customers call every month: A = 2000 x 300 / 360,000 = 5/3 Erlangs on 3 agents.
    centre = {**CENTRE, "agents": 3, "open_hours_per_month": 100.0}
    frame = simulate(market(months=6, centre=centre), seed=4, engine=engine)
    months = frame[frame["step"] > 0]
    assert (months["interactions"] == 2000).all()  # nobody leaves: the traffic is constant
    traffic = 2000 * 300.0 / (100.0 * 3600.0)
    c = erlang_c(traffic, 3)
    late_prob = c * math.exp(-(3 - traffic) * 60.0 / 300.0)
    assert months["answered_within_target"].to_numpy() == pytest.approx(
        service_level(traffic, 3, 300.0, 20.0), rel=1e-12
    )
    assert months["mean_wait_seconds"].to_numpy() == pytest.approx(
        average_speed_of_answer(traffic, 3, 300.0), rel=1e-12
    )
    assert not months["queue_unstable"].any()
    # 'great' always delights: every bad experience is a call that waited past the patience
    late = int(months["bad_experiences"].sum())
    assert within_binomial(late, 12_000, late_prob), (late, 12_000 * late_prob)
    assert (months["delighted"] + months["bad_experiences"] == months["interactions"]).all()


def test_an_unstable_queue_makes_every_call_late_and_the_report_says_so(engine):
    # 2,000 calls of 300 s over 100 hours = 5/3 Erlangs on 1 agent: unstable
    frame = simulate(market(months=3, centre={**CENTRE, "agents": 1}), seed=5, engine=engine)
    months = frame[frame["step"] > 0]
    assert months["queue_unstable"].all() and (months["answered_within_target"] == 0).all()
    assert months["mean_wait_seconds"].isna().all()
    assert (months["bad_experiences"] == months["interactions"]).all()
    assert (months["interactions"] > 0).all()
    start = frame[frame["step"] == 0]
    assert not start["queue_unstable"].any() and start["answered_within_target"].isna().all()


def test_stockouts_meet_one_minus_the_fill_rate_and_are_bad(engine):
    frame = simulate(market(months=5, inventory={"fill_rate": 0.8}), seed=6, engine=engine)
    months = frame[frame["step"] > 0]
    stockouts, interactions = int(months["stockouts"].sum()), int(months["interactions"].sum())
    assert interactions == 10_000
    assert within_binomial(stockouts, interactions, 0.2), stockouts
    assert (months["bad_experiences"] == months["stockouts"]).all()  # the only bad ones
    assert months["answered_within_target"].isna().all()  # no contact centre
    assert not months["queue_unstable"].any() and (months["staffing_cost"] == 0).all()


def test_late_calls_and_stockouts_are_independent(engine):
    centre = {**CENTRE, "agents": 3}
    sc = market(months=6, centre=centre, inventory={"fill_rate": 0.7})
    months = simulate(sc, seed=7, engine=engine).query("step > 0")
    traffic = 2000 * 300.0 / (100.0 * 3600.0)
    late_prob = erlang_c(traffic, 3) * math.exp(-(3 - traffic) * 60.0 / 300.0)
    bad_prob = 1 - (1 - late_prob) * 0.7  # late or stock-out, independently
    assert within_binomial(int(months["bad_experiences"].sum()), 12_000, bad_prob)
    assert within_binomial(int(months["stockouts"].sum()), 12_000, 0.3)


def test_staffing_cost_is_paid_every_month_from_month_1_and_comes_out_of_profit(engine):
    sc = load_scenario(
        "scenarios/competition.toml",
        {
            "market.size": 1000,
            "scenario.months": 12,
            "firms.0.contact_centre": {**CENTRE, "agents": 4, "cost_per_agent_month": 1250.5},
            "firms.0.inventory": {"fill_rate": 0.9},
        },
    )
    f = simulate(sc, seed=3, engine=engine)
    budget, premium = f[f["firm"] == "Budget"], f[f["firm"] == "Premium"]
    assert budget["staffing_cost"].tolist() == [0.0] + [4 * 1250.5] * 12
    assert (premium["staffing_cost"] == 0).all() and (premium["stockouts"] == 0).all()
    assert premium["answered_within_target"].isna().all()
    assert (
        f["profit"] == f["revenue"] - f["service_cost"] - f["acquisition_cost"] - f["staffing_cost"]
    ).all()
    disc = (f["profit"] / 1.01 ** f["step"]).groupby(f["firm"]).cumsum()
    assert np.allclose(f["discounted_profit"], disc)
    assert_stock_flow(f)
    assert budget["stockouts"].sum() > 0 and budget["answered_within_target"].iloc[1:].notna().all()


# --- common random numbers: more agents never hurt, from the same state --------------------------


def staffing_month(agents, engine, seed=21):
    """One month of a market where quality, the queue and stock-outs all make bad experiences:
    ~1,800 calls of 300 s over 100 hours, 1.5 Erlangs (1 agent: unstable; 7: nearly idle)."""
    sc = market(
        size=6000,
        rungs=[{**r, "quality_sd": 2.0} for r in TWO_RUNGS],
        centre={**CENTRE, "agents": agents},
        inventory={"fill_rate": 0.9},
        customers={
            "expectation_mean": 7.0,
            "expectation_sd": 1.0,
            "tolerance": 1.0,
            "adapt_rate": 0.3,
            "contact_prob": 0.6,
        },
        churn={"rule": "tarp", "base_prob": 0.005},
        referrals={"refer_prob": 0.25},
        acquisition={"prob": 0.01},
    )
    return simulate(sc, seed=seed, engine=engine).query("step == 1").iloc[0]


def test_more_agents_never_lower_the_service_level_nor_raise_the_share_of_bad_experiences(engine):
    rows = [staffing_month(n, engine) for n in range(1, 8)]
    interactions = [r["interactions"] for r in rows]
    assert len(set(interactions)) == 1  # the same state and seed: the same calls
    assert len({r["stockouts"] for r in rows}) == 1  # and the same stock-outs
    answered = [r["answered_within_target"] for r in rows]
    bad_share = [r["bad_experiences"] / r["interactions"] for r in rows]
    assert all(a <= b for a, b in itertools.pairwise(answered))
    assert all(a >= b for a, b in itertools.pairwise(bad_share))
    assert rows[0]["queue_unstable"] and not any(r["queue_unstable"] for r in rows[1:])
    assert bad_share[0] == 1.0 and bad_share[1] > bad_share[-1] > 0  # the queue matters here
    assert answered[0] == 0.0 and answered[-1] > 0.99
