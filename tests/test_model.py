"""sim/model.py and sim/agents.py: the Mesa agent engine itself; and sim/runner.py's replicates."""

import mesa
import pandas as pd

import sim
from sim import load_scenario, simulate
from sim.agents import FirmAgent, Person
from sim.design import replicate_seeds
from sim.model import RetentionModel
from sim.rules import CUSTOMER, PROSPECT

SMALL = {
    "scenario": {"seed": 1, "months": 6},
    "market": {"size": 300, "initial_customers": 120},
    "firms": [
        {"name": "A", "service_level": "good", "share": 1},
        {"name": "B", "service_level": "poor", "share": 2},
    ],
}


def test_people_and_firms_are_mesa_agents_and_the_initial_split_follows_shares():
    model = RetentionModel(load_scenario(SMALL), seed=3)
    people = model.agents_by_type[Person]
    assert len(people) == 300 and len(model.agents_by_type[FirmAgent]) == 2
    customers = [p for p in people if p.status == CUSTOMER]
    assert sum(p.firm.name == "A" for p in customers) == 40
    assert sum(p.firm.name == "B" for p in customers) == 80
    assert sum(p.status == PROSPECT for p in people) == 180
    assert all(p.cohort for p in customers)
    model.release()


def test_stepping_advances_mesa_time_and_the_frame_fills_month_by_month():
    model = RetentionModel(load_scenario(SMALL), seed=3)
    model.step()
    model.step()
    assert model.steps == 2
    frame = model.frame()
    assert frame.loc[frame.step == 2, "interactions"].sum() > 0
    assert frame.loc[frame.step == 3, "customers"].sum() == 0  # not run yet
    model.release()


def test_simulate_releases_mesa_agent_registry():
    before = len(mesa.Agent._ids)
    for seed in range(5):
        simulate(load_scenario(SMALL), seed=seed, engine="agents")
    assert len(mesa.Agent._ids) == before


def test_model_matches_simulate():
    sc = load_scenario(SMALL)
    model = RetentionModel(sc, seed=9)
    assert model.run().equals(simulate(sc, seed=9, engine="agents"))
    model.release()


def test_simulate_replicates_runs_each_replicate_seed_and_labels_the_rows():
    scenario = load_scenario("scenarios/competition.toml", ["market.size=300", "scenario.months=6"])
    seeds = replicate_seeds(scenario)[0]
    rows = sim.simulate_replicates(scenario, point=7)
    assert rows["run_id"].unique().tolist() == [f"p0007-r{r:03d}" for r in range(len(seeds))]
    for r, seed in enumerate(seeds):
        one = rows[rows["replicate"] == r]
        assert (one["seed"] == seed).all()
        expected = simulate(scenario, seed=seed)
        pd.testing.assert_frame_equal(
            one[expected.columns].reset_index(drop=True), expected, check_dtype=True
        )
    # A variant of the scenario is run on the same seeds, replicate by replicate.
    variant = sim.simulate_replicates(scenario.with_values({"churn.leave_prob": 0.5}))
    assert variant["seed"].tolist() == rows["seed"].tolist()
    assert not variant["customers"].equals(rows["customers"])
