"""The firms' shared bookkeeping (`sim/firms.py`): delivery, reference quality, reputation.

Known answers from docs/model.md sections 7.1, 7.5 and 7.8, and the agent engine's firm agents
reading exactly the rows of the `Firms` the population engine reads.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import load_scenario
from sim.firms import Firms
from sim.model import RetentionModel


def scenario(firms, **scenario_keys):
    return load_scenario(
        {
            "scenario": {"seed": 1, "months": 80, **scenario_keys},
            "market": {"size": 50},
            "firms": firms,
        }
    )


def test_delivery_is_the_weakest_department_and_the_weighted_quality_and_cost():
    # five ladder: good = (6.5, cost 3.5), world class = (9.0, cost 8.0); weights 1:3.
    firms = Firms(
        scenario(
            [
                {
                    "name": "A",
                    "departments": {"sales": "good", "support": "world_class"},
                    "department_weights": {"sales": 1.0, "support": 3.0},
                }
            ]
        )
    )
    assert firms.delivered.tolist() == [2]
    assert firms.delivered_quality.tolist() == [0.25 * 6.5 + 0.75 * 9.0]
    assert firms.cost_per_customer.tolist() == [0.25 * 3.5 + 0.75 * 8.0]
    assert firms.cut.tolist() == [[0.25]]


def test_schedule_changes_delivery_from_its_month_and_reports_the_change():
    firms = Firms(
        scenario(
            [
                {
                    "name": "A",
                    "service_level": "poor",
                    "schedule": [{"month": 5, "service_level": "good"}],
                }
            ]
        )
    )
    assert firms.begin_month(4) is False and firms.delivered.tolist() == [0]
    assert firms.begin_month(5) is True and firms.delivered.tolist() == [2]
    assert firms.begin_month(6) is False


def test_reference_is_the_best_other_firm_or_the_standard():
    firms = Firms(
        scenario(
            [
                {"name": "Low", "service_level": "acceptable"},  # 5.0
                {"name": "High", "service_level": "excellent"},  # 8.0
                {"name": "Mid", "service_level": "good"},  # 6.5
            ]
        )
    )
    # Customers of each firm: the best *other* firm, if above the standard 7.0; others: the best.
    assert firms.references(7.0).tolist() == [8.0, 7.0, 8.0, 8.0]
    one = Firms(scenario([{"name": "Only", "service_level": "excellent"}]))
    assert one.references(7.0).tolist() == [7.0, 8.0]


def test_recognition_rises_one_rung_at_each_sustain_and_drops_at_once():
    # docs/model.md 7.8: world class from month 1, recognised poor at month 0 -> acceptable,
    # good, excellent, world class at the end of months 6, 12, 24 and 60; then a drop to poor.
    firms = Firms(
        scenario(
            [
                {
                    "name": "A",
                    "service_level": "poor",
                    "schedule": [
                        {"month": 1, "service_level": "world_class"},
                        {"month": 70, "service_level": "poor"},
                    ],
                }
            ]
        )
    )
    rises = {}
    for month in range(1, 71):
        firms.begin_month(month)
        before = int(firms.recognised[0])
        firms.update_reputation()
        if firms.recognised[0] != before:
            rises[month] = int(firms.recognised[0])
    assert rises == {6: 1, 12: 2, 24: 3, 60: 4, 70: 0}


def test_top_rung_has_no_rung_above_and_stays():
    firms = Firms(scenario([{"name": "A", "service_level": "world_class"}]))
    for month in range(1, 30):
        firms.begin_month(month)
        firms.update_reputation()
    assert firms.recognised.tolist() == [4]
    assert firms.streaks.tolist() == [[29] * 5]


def test_firm_agents_read_their_rows_of_the_shared_firms():
    sc = scenario(
        [
            {
                "name": "A",
                "departments": {"sales": "good", "support": "excellent"},
                "schedule": [{"month": 2, "departments": {"sales": "world_class"}}],
                "inventory": {"fill_rate": 0.9},
            },
            {"name": "B", "service_level": "poor", "monthly_fee": 20.0},
        ]
    )
    model = RetentionModel(sc, seed=3)
    try:
        for _ in range(3):
            model.step()
        firms = model.firms
        for i, agent in enumerate(model.firm_agents):
            assert agent.delivered == firms.delivered[i]
            assert agent.recognised == firms.recognised[i]
            assert agent.streaks == firms.streaks[i].tolist()
            assert agent.monthly_fee == firms.monthly_fee[i]
            assert agent.stockout_prob == pytest.approx(firms.stockout_prob[i])
            n = int(firms.n_departments[i])
            assert [r.quality_mean for r in agent.rungs] == [
                sc.ladder[r].quality_mean for r in firms.rung[i, :n]
            ]
        assert [r.id for r in model.firm_agents[0].rungs] == ["world_class", "excellent"]
        assert model.firm_agents[0].stockout_prob == pytest.approx(0.1)
    finally:
        model.release()


def test_population_engine_draws_from_float32_qualities():
    sc = scenario([{"name": "A", "service_level": "good"}])
    assert Firms(sc, quality_dtype=np.float32).quality_mean.dtype == np.float32
    assert Firms(sc).quality_mean.dtype == np.float64
