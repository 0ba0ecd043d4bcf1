"""sim/scenario.py's sweep designs: the full-factorial grid and the Latin hypercube, and how every
point is built and validated before any run starts."""

import math

import numpy as np
import pytest

from sim.scenario import ScenarioError, load_scenario
from sim.sweep import Plan, run_sweep


def doc(sweep: dict, **scenario) -> dict:
    return {
        "scenario": {"seed": 11, "months": 3, "replicates": 2, **scenario},
        "market": {"size": 100},
        "firms": [{"name": "A", "service_level": "poor"}],
        "sweep": sweep,
    }


HYPERCUBE = {
    "design": "latin_hypercube",
    "samples": 8,
    "referrals.refer_prob": [0.1, 0.3],
    "market.size": [100, 107],
}


def test_latin_hypercube_points_stratify_each_range_and_keep_whole_numbers_whole():
    scenario = load_scenario(doc(HYPERCUBE))
    points = scenario.sweep.points()
    assert len(points) == 8 and [list(p) for p in points] == [list(HYPERCUBE)[2:]] * 8
    prob = np.array([p["referrals.refer_prob"] for p in points])
    sizes = [p["market.size"] for p in points]
    # one sample in each eighth of the range: a Latin hypercube
    strata = np.floor((prob - 0.1) / 0.2 * 8).astype(int)
    assert sorted(strata.tolist()) == list(range(8))
    assert all(isinstance(s, int) for s in sizes)
    assert sorted(sizes) == list(range(100, 108))  # 8 whole numbers in 8 strata: each once
    assert all(isinstance(p, float) for p in prob)


def test_latin_hypercube_is_seeded_by_the_scenario_seed():
    first = load_scenario(doc(HYPERCUBE)).sweep.points()
    assert load_scenario(doc(HYPERCUBE)).sweep.points() == first
    assert load_scenario(doc(HYPERCUBE, seed=12)).sweep.points() != first


def test_latin_hypercube_points_are_validated_scenarios_and_round_trip():
    scenario = load_scenario(doc(HYPERCUBE))
    for values, point in scenario.points():
        assert point.sweep is None
        assert point.referrals.refer_prob == values["referrals.refer_prob"]
        assert point.market.size == values["market.size"]
        assert point.market.initial_customers == values["market.size"] // 2  # derived per point
    table = scenario.to_dict()["sweep"]
    assert table == {**HYPERCUBE, "seeds": "common"}
    plan = Plan(scenario)
    assert plan.describe() == {
        "design": "latin_hypercube",
        "keys": ["referrals.refer_prob", "market.size"],
        "samples": 8,
    }
    assert str(plan.columns["market.size"].dtype) == "int64"


def test_defaults_derived_from_a_swept_key_are_derived_at_each_point():
    # A firm's recognised_start defaults to its rung at month 0: at each point, as if the point's
    # value had been written into the file.
    scenario = load_scenario(doc({"firms.0.service_level": ["poor", "world_class"]}))
    written = {k: v for k, v in doc({}).items() if k != "sweep"}
    written["firms"] = [{"name": "A", "service_level": "world_class"}]
    direct = load_scenario(written)
    (_, poor), (_, world) = scenario.points()
    assert poor.firms[0].recognised_start == "poor"
    assert world.firms[0].recognised_start == "world_class"
    assert world == direct


def test_to_dict_leaves_derived_defaults_out_so_points_built_from_it_derive_them_again():
    # Rebuilding a sweep from the resolved scenario (manifest["scenario"]) must not freeze the
    # base point's recognised_start and initial_customers into every point.
    scenario = load_scenario(
        doc({"firms.0.service_level": ["poor", "world_class"], "market.size": [100, 300]})
    )
    resolved = scenario.to_dict()
    assert "recognised_start" not in resolved["firms"][0]
    assert "initial_customers" not in resolved["market"]
    rebuilt = load_scenario(resolved)
    assert rebuilt == scenario
    assert [p for _, p in rebuilt.points()] == [p for _, p in scenario.points()]
    world = scenario.with_values({"firms.0.service_level": "world_class", "market.size": 300})
    assert world.firms[0].recognised_start == "world_class"
    assert world.market.initial_customers == 150
    # given explicitly, they are kept
    given = doc({"market.size": [100, 300]})
    given["firms"][0]["recognised_start"] = "poor"
    given["market"]["initial_customers"] = 40
    kept = load_scenario(given).to_dict()
    assert kept["firms"][0]["recognised_start"] == "poor"
    assert kept["market"]["initial_customers"] == 40


@pytest.mark.parametrize(
    ("sweep", "key", "problem"),
    [
        ({"design": "latin_hypercube", "x.y": [0, 1]}, "sweep.samples", "is required"),
        (
            {"design": "latin_hypercube", "samples": 0, "churn.leave_prob": [0, 1]},
            "sweep.samples",
            ">= 1",
        ),
        ({"samples": 4, "churn.leave_prob": [0.1, 0.2]}, "sweep.samples", "latin_hypercube"),
        (
            {"design": "latin_hypercube", "samples": 4, "churn.rule": ["fixed", "tarp"]},
            "sweep.churn.rule",
            "[low, high] range of numbers",
        ),
        (
            {"design": "latin_hypercube", "samples": 4, "churn.leave_prob": [0.1, 0.2, 0.3]},
            "sweep.churn.leave_prob",
            "[low, high]",
        ),
        (
            {"design": "latin_hypercube", "samples": 4, "churn.leave_prob": [0.5, 0.1]},
            "sweep.churn.leave_prob",
            "low must not exceed high",
        ),
        ({"design": "random", "churn.leave_prob": [0.1]}, "sweep.design", "grid, latin_hypercube"),
        ({"churn.leave_prob": [0.1, 0.1]}, "sweep.churn.leave_prob", "distinct"),
        ({}, "sweep", "names no keys"),
        ({"seeds": "shared", "churn.leave_prob": [0.1]}, "sweep.seeds", "common, independent"),
    ],
    ids=[
        "samples missing",
        "samples zero",
        "samples with a grid",
        "range of text",
        "three numbers",
        "low above high",
        "unknown design",
        "repeated value",
        "no keys",
        "unknown seeds",
    ],
)
def test_bad_sweep_tables_name_the_key_and_what_is_allowed(sweep, key, problem):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(doc(sweep))
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_a_hypercube_range_reaching_invalid_values_fails_naming_the_point():
    bad = {"design": "latin_hypercube", "samples": 4, "churn.leave_prob": [0.5, 1.5]}
    with pytest.raises(ScenarioError, match=r"sweep \(churn\.leave_prob=1\.[0-9]+\): churn"):
        load_scenario(doc(bad))


def test_a_latin_hypercube_sweep_runs_samples_times_replicates(tmp_path):
    sweep = {"design": "latin_hypercube", "samples": 3, "customers.tolerance": [0.5, 2.5]}
    out = run_sweep(load_scenario(doc(sweep)), tmp_path / "out", executor="serial")
    assert out.counts["runs"] == 3 * 2 and out.status == "done"
    m = out.manifest
    assert m["design"]["design"] == "latin_hypercube" and len(m["points"]) == 3
    assert out.summary["point"].unique().tolist() == [0, 1, 2]
    tolerances = out.runs.drop_duplicates("point")["customers.tolerance"].tolist()
    assert tolerances == [p["customers.tolerance"] for p in m["points"]]
    assert all(0.5 <= t <= 2.5 and not math.isnan(t) for t in tolerances)
