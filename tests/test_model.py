"""sim/model.py and sim/agents.py: the Mesa agent engine itself; and sim/runner.py's replicates."""

import mesa
import numpy as np
import pandas as pd
import pytest
import tomli_w

import sim
from sim import load_scenario, simulate
from sim.agents import FirmAgent, Person
from sim.model import REPORTED_METRICS, RetentionModel
from sim.rules import CUSTOMER, PROSPECT
from sim.runner import replicate_seeds

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


# --------------------------------------------------------------------------------------------
# Mesa's conventions: rng=, running, a DataCollector of the declared metrics, batch_run.

ONE_FIRM = {
    "scenario": {"seed": 1, "months": 4},
    "market": {"size": 200},
    "firms": [{"name": "A", "service_level": "good"}],
}


def test_running_turns_false_at_the_horizon_and_a_step_past_it_is_refused():
    model = RetentionModel(load_scenario(ONE_FIRM), rng=5)
    months = 0
    while model.running:
        model.step()
        months += 1
    assert months == 4 and model.steps == 4
    try:
        model.step()
    except RuntimeError as err:
        assert "ended at month 4" in str(err)
    else:
        raise AssertionError("a step past the horizon ran")
    assert model.steps == 4
    model.release()


def test_rng_is_the_run_seed_and_the_datacollector_reports_the_declared_metrics():
    sc = load_scenario(SMALL)
    model = RetentionModel(sc, rng=np.int64(9))
    assert model.seed == 9
    frame = model.run()
    pd.testing.assert_frame_equal(frame, simulate(sc, seed=9, engine="agents"))
    collected = model.datacollector.get_model_vars_dataframe()
    assert len(collected) == sc.months + 1  # month 0, then every month
    assert list(collected.columns) == [
        f"{firm}: {name}" for firm in ("A", "B") for name in REPORTED_METRICS
    ]
    for firm in ("A", "B"):
        mine = frame[frame["firm"] == firm].reset_index(drop=True)
        for name in ("customers", "revenue", "discounted_profit", "recognised_rung"):
            assert collected[f"{firm}: {name}"].tolist() == mine[name].tolist()
    model.release()
    with pytest.raises(ValueError, match="not both"):
        RetentionModel(sc, 1, rng=1)
    with pytest.raises(ValueError, match="non-negative integer"):
        RetentionModel(sc, rng=-3)
    with pytest.raises(TypeError, match="a Scenario or a scenario file"):
        RetentionModel(SMALL, rng=1)


def test_mesa_batch_run_runs_the_model_as_any_mesa_model(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(tomli_w.dumps(ONE_FIRM))
    rows = mesa.batch_run(
        RetentionModel,
        parameters={"scenario": str(path), "rng": [11, 12]},
        iterations=1,
        max_steps=100,
        data_collection_period=1,
        number_processes=1,
        display_progress=False,
    )
    out = pd.DataFrame(rows)
    # batch_run reads the collected values up to steps - 1: months 0 to 3 of a 4-month run
    assert out.groupby("rng")["Step"].apply(list).to_dict() == {11: [0, 1, 2, 3], 12: [0, 1, 2, 3]}
    assert {"RunId", "iteration", "scenario", *REPORTED_METRICS} <= set(out.columns)
    sc = load_scenario(path)
    for seed in (11, 12):
        mine = simulate(sc, seed=seed, engine="agents")
        got = out[out["rng"] == seed].sort_values("Step")
        for name in ("customers", "profit", "cohort_retention"):
            assert got[name].tolist() == mine.loc[mine["step"] < 4, name].tolist()
