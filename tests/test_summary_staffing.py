"""sim/summary.py staffing figures and the report's "Staffing" section, against hand-computed
values; and the shipped staffing scenario's answer (its optimum lies inside the sweep)."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run_sweep
from sim.report import Heading, Paragraph, Table, _staffing_blocks
from sim.summary import answered_share, staffing_answer, staffing_keys, staffing_table

AGENTS = "firms.0.contact_centre.agents"
FILL = "firms.0.inventory.fill_rate"
OTHER = "customers.contact_prob"
T975_1 = 12.706204736174707  # Student t quantile, 1 degree of freedom, 97.5 %
PROFIT = {(0.9, 1): 10.0, (0.9, 2): 30.0, (0.9, 3): 20.0, (0.99, 1): 5.0, (0.99, 2): 15.0}
PROFIT[(0.99, 3)] = 40.0  # the best at 0.99 is the largest number of agents swept
ANSWERED = {1: (0.0, 0.5), 2: (0.7, 0.95), 3: (0.85, 0.95)}  # months 1 and 2
CALLS = {0: (100, 300), 1: (300, 100)}  # replicate -> calls in months 1 and 2


def staffing_frame():
    """Fill rate x agents x another swept key (two values) x 2 replicates, months 0-2.

    Discounted profit at month 2 = PROFIT + replicate + (2 for the second value of OTHER); with
    one agent the queue is unstable in month 1.
    """
    rows = []
    point = 0
    for fill in (0.9, 0.99):
        for agents in (1, 2, 3):
            for o, other in enumerate((0.2, 0.3)):
                for r in (0, 1):
                    for step in (0, 1, 2):
                        calls = CALLS[r][step - 1] if step else 0
                        rows.append(
                            {
                                "run_id": f"p{point:04d}-r{r:03d}",
                                "replicate": r,
                                "seed": r,
                                "step": step,
                                "firm": "Shop",
                                "customers": 1000 + 10 * agents + r,
                                "interactions": calls,
                                "discounted_profit": (PROFIT[(fill, agents)] + r + 2 * o)
                                if step == 2
                                else 0.0,
                                "answered_within_target": ANSWERED[agents][step - 1]
                                if step
                                else np.nan,
                                "queue_unstable": bool(agents == 1 and step == 1),
                                AGENTS: agents,
                                FILL: fill,
                                OTHER: other,
                            }
                        )
                point += 1
    return pd.DataFrame(rows)


def test_the_staffing_keys_are_the_swept_agents_and_the_same_firms_fill_rate():
    frame = staffing_frame()
    assert staffing_keys(frame) == (AGENTS, FILL)
    assert staffing_keys(frame.drop(columns=FILL)) == (AGENTS, None)
    assert staffing_keys(frame[frame[AGENTS] == 2]) is None  # one value: nothing to choose


def test_answered_share_weights_months_by_their_calls():
    share = answered_share(staffing_frame()).groupby(level=0).first()
    # one agent, replicate 0: (0 x 100 + 0.5 x 300) / 400; replicate 1: (0 x 300 + 0.5 x 100) / 400
    assert share["p0000-r000"] == pytest.approx(0.375)
    assert share["p0000-r001"] == pytest.approx(0.125)
    assert share["p0002-r000"] == pytest.approx((0.7 * 100 + 0.95 * 300) / 400)


def test_staffing_table_exact_values():
    table = staffing_table(staffing_frame(), AGENTS, FILL)
    assert list(table.columns[:3]) == [FILL, "agents", "runs"]
    assert table[[FILL, "agents"]].values.tolist() == [
        [0.9, 1],
        [0.9, 2],
        [0.9, 3],
        [0.99, 1],
        [0.99, 2],
        [0.99, 3],
    ]
    assert (table["runs"] == 4).all() and (table["replicates"] == 2).all()
    # pooled over OTHER replicate by replicate: PROFIT + r + 1 for r = 0, 1
    expected = [PROFIT[(f, a)] + 1.5 for f in (0.9, 0.99) for a in (1, 2, 3)]
    assert table["discounted_profit"].tolist() == pytest.approx(expected)
    half = T975_1 * math.sqrt(0.5) / math.sqrt(2)
    assert (table["discounted_profit_high"] - table["discounted_profit"]).tolist() == (
        pytest.approx([half] * 6)
    )
    all_calls = {
        1: (0.375 + 0.125) / 2,
        2: ((70 + 285) / 400 + (210 + 95) / 400) / 2,
        3: ((85 + 285) / 400 + (255 + 95) / 400) / 2,
    }
    assert table["answered_all"].tolist() == pytest.approx([all_calls[a] for a in (1, 2, 3)] * 2)
    assert table["answered_worst_month"].tolist() == pytest.approx([0.0, 0.7, 0.85] * 2)
    assert table["worst_month"].tolist() == [1.0] * 6
    assert table["unstable_months"].tolist() == [1.0, 0.0, 0.0] * 2
    assert table["customers"].tolist() == pytest.approx([1010.5, 1020.5, 1030.5] * 2)


def test_staffing_answer_names_the_best_the_80_20_staffing_and_the_edge():
    table = staffing_table(staffing_frame(), AGENTS, FILL)
    answer = staffing_answer(table, FILL).set_index(FILL)
    assert answer.loc[0.9, "best_agents"] == 2 and answer.loc[0.99, "best_agents"] == 3
    assert answer.loc[0.9, "runner_up"] == 3 and answer.loc[0.9, "at_edge"] == ""
    assert answer.loc[0.99, "at_edge"] == "largest"
    assert answer.loc[0.9, "best_profit"] == pytest.approx(31.5)
    assert answer.loc[0.9, "overlap"]  # 31.5 - 8.98 < 21.5 + 8.98
    assert answer.loc[0.9, "goal_agents"] == 3  # worst months 0, 0.7, 0.85
    assert answer.loc[0.9, "goal_agents_all_calls"] == 2  # 0.25, 0.825, 0.9
    one = staffing_answer(staffing_table(staffing_frame(), AGENTS), None)
    assert len(one) == 1 and one.loc[0, "best_agents"] == 3  # averaged over fill rates


def test_the_report_has_a_staffing_section_with_the_answer_and_its_warnings():
    manifest = {"scenario": {"firms": [{"name": "Shop", "contact_centre": {"agents": 2}}]}}
    blocks = _staffing_blocks(staffing_frame(), manifest)
    assert blocks[0] == Heading("Staffing")
    section = blocks[1:]
    answer = next(b for b in section if isinstance(b, Table))
    assert answer.header[:2] == ("fill rate", "profit-maximising agents")
    assert [row[:2] for row in answer.rows] == [("0.9", "2"), ("0.99", "3")]
    assert [row[4] for row in answer.rows] == ["3", "3"]  # the 80/20 staffing, worst month
    assert [row[5] for row in answer.rows] == ["2", "2"]
    text = " ".join(b.text for b in section if isinstance(b, Paragraph))
    assert "at fill rate 0.99 the most profitable staffing (3 agents) is the largest" in text
    assert "fewer agents than 80/20 needs: 2 agents at fill rate 0.9 (1 fewer than 3)" in text
    assert "**Unstable queue:**" in text and "1 agents: 1.0 months per run" in text


def test_without_a_sweep_over_agents_the_section_reports_the_service_level_achieved():
    frame = staffing_frame().assign(staffing_cost=100.0, mean_wait_seconds=4.0)
    blocks = _staffing_blocks(frame[frame[AGENTS] == 1], {})
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.rows == (("Shop", "25.0%", "0.0%", "4.0", "1.0", "100"),)
    assert "Sweep `firms.<i>.contact_centre.agents`" in blocks[-1].text


def test_no_staffing_section_without_a_contact_centre():
    frame = staffing_frame().assign(answered_within_target=np.nan)
    assert _staffing_blocks(frame, {}) == []
    assert _staffing_blocks(frame.drop(columns="answered_within_target"), {}) == []


# --- the shipped scenario ------------------------------------------------------------------------

STAFFING = Path(__file__).resolve().parents[1] / "scenarios" / "staffing.toml"
SCALE = 4  # the test runs the market at 1/SCALE of its size


@pytest.mark.slow
def test_the_staffing_scenarios_optimum_lies_inside_the_sweep_at_every_fill_rate(tmp_path):
    """The scenario at a quarter of its size, on every other number of agents (~6 s on two cores).

    Why the reduced market gives the same answer: every rule of the model is per person
    (contact, churn, referral and marketing chances, fees and costs per customer), so a market
    of N / k people has, in expectation, the same shares of customers, calls per customer and
    profit per person. The one quantity that is not per person is the queue: its traffic is
    calls x AHT / open seconds. Dividing the open hours by k too keeps the traffic in Erlangs,
    and so every Erlang C figure (late calls, answered within target) at a given number of
    agents, the same; dividing the cost per agent by k keeps staffing cost per person the same.
    So the expected discounted profit is the full scenario's divided by k at every number of
    agents, and its maximiser is the same. Only the noise grows (by sqrt(k)); four replicates
    still leave the edges of the sweep clearly below the best.

    Why a subset of the agents suffices: it keeps both ends of the sweep (17 and 32). If some
    number of agents between them earns more than both, the best of the full sweep is not at an
    end either.
    """
    full = load_scenario(STAFFING)
    swept = dict(full.sweep.parameters)[AGENTS]
    subset = [swept[0], *swept[2:-1:2], swept[-1]]  # 17, 19, 21, ..., 29, 32
    centre = full.firms[0].contact_centre
    doc = full.to_dict()
    doc["sweep"][AGENTS] = subset
    scenario = load_scenario(
        doc,
        {
            "market.size": full.market.size // SCALE,
            "market.initial_customers": full.market.initial_customers // SCALE,
            "firms.0.contact_centre.open_hours_per_month": centre.open_hours_per_month / SCALE,
            "firms.0.contact_centre.cost_per_agent_month": centre.cost_per_agent_month / SCALE,
            "scenario.replicates": 4,
        },
    )
    result = run_sweep(scenario, tmp_path / "staffing", workers=2)
    table = staffing_table(result.timeseries, AGENTS, FILL)
    assert sorted(table["agents"].unique()) == subset and subset[0] == 17 and subset[-1] == 32
    answer = staffing_answer(table, FILL)
    assert (answer["at_edge"] == "").all(), answer
    assert ((answer["best_agents"] > 17) & (answer["best_agents"] < 32)).all()
    # and it differs from the 80/20 staffing (19): profit wants more agents than the standard
    assert (answer["goal_agents"] == 19).all(), answer
    assert (answer["best_agents"] > answer["goal_agents"]).all(), answer
    # a higher fill rate keeps more customers, who call more: it never needs fewer agents
    assert answer["best_agents"].is_monotonic_increasing
