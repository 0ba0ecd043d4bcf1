"""Reproducible from the folder: every run of a results folder reruns to its stored rows.

`sim.rerun` rebuilds a run from the manifest's resolved scenario (`Results.scenario_for`) and the
seed in ``runs.parquet``, so a folder alone reproduces its runs: derived defaults (a firm's
``recognised_start``, ``market.initial_customers``) are derived again at each point.
"""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
# A small sweep for the shipped scenarios that have none, over a key whose change moves a derived
# default (or the market) at each point.
EXTRA_SWEEP = {
    "baseline": {"firms.0.service_level": ["poor", "world_class"]},
    "competition": {"firms.1.service_level": ["acceptable", "world_class"]},
}
# for any other shipped scenario without a sweep
DEFAULT_SWEEP = {"churn.rule": ["fixed", "strikes"]}


def small(name: str) -> dict:
    """The shipped scenario, made small (400 people, 24 months, 2 replicates)."""
    doc = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    doc["scenario"].update(months=24, replicates=2)
    doc["market"]["size"] = 400
    doc["market"].pop("initial_customers", None)
    if "sweep" not in doc:
        doc["sweep"] = EXTRA_SWEEP.get(name, DEFAULT_SWEEP)
    return doc


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_every_run_of_a_shipped_scenarios_sweep_reruns_to_identical_rows(name, tmp_path):
    results = sim.run_sweep(small(name), tmp_path / "out", executor="serial")
    stored = results.timeseries
    assert results.counts["done"] == len(results.runs) >= 4
    for run_id, rows in stored.groupby("run_id", sort=False):
        again = sim.rerun(tmp_path / "out", run_id)
        pd.testing.assert_frame_equal(again, rows.reset_index(drop=True))


def test_a_rung_sweep_rebuilt_from_the_resolved_scenario_derives_recognised_start(tmp_path):
    doc = small("ladder")
    results = sim.run_sweep(doc, tmp_path / "out", executor="serial")
    world = results.runs[results.runs["firms.0.service_level"] == "world_class"].iloc[0]
    scenario = results.scenario_for(world["run_id"])
    assert scenario.firms[0].recognised_start == "world_class"
    assert scenario.market.initial_customers == 200
    assert scenario.sweep is None
    # the resolved scenario reloads with the same points as the input
    rebuilt = load_scenario(results.manifest["scenario"])
    assert [p for _, p in rebuilt.points()] == [p for _, p in load_scenario(doc).points()]


def test_rerun_of_an_unknown_run_names_the_folder_and_its_runs(tmp_path):
    sim.run_sweep(small("baseline"), tmp_path / "out", executor="serial")
    with pytest.raises(
        KeyError, match=r"no run 'p0009-r000' \(its runs: p0000-r000 ... p0001-r001"
    ):
        sim.rerun(tmp_path / "out", "p0009-r000")


def test_any_integer_type_is_a_seed():
    scenario = load_scenario(_no_sweep(small("baseline")))
    expected = sim.simulate(scenario, seed=7)
    for seed in (np.int64(7), np.uint64(7), np.int32(7)):
        pd.testing.assert_frame_equal(sim.simulate(scenario, seed=seed), expected)
    for bad in (True, np.bool_(True), 7.0, -1, np.int64(-1), "7"):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            sim.simulate(scenario, seed=bad)


def _no_sweep(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "sweep"}
