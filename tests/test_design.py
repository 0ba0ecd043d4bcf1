"""Sweep designs and run seeds (`sim/design.py`). The ``[sweep]`` table's checks and the Latin
hypercube through scenario files are in test_sweep_design.py."""

from __future__ import annotations

import numpy as np

from sim.design import Sweep, replicate_seeds, spawn_seeds
from sim.scenario import load_scenario


def test_spawned_seeds_are_reproducible_distinct_and_63_bit():
    a, b = spawn_seeds(42, 50), spawn_seeds(42, 50)
    assert a == b and len(set(a)) == 50
    assert all(0 <= s < 2**63 for s in a)
    assert spawn_seeds(42, 60)[:50] == a  # more runs do not change the first ones
    assert spawn_seeds(43, 5) != a[:5]
    child = np.random.SeedSequence(42).spawn(1)[0]
    assert a[0] == int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


def test_replicate_seeds_without_a_sweep_are_common_to_every_point():
    scenario = load_scenario(
        {
            "scenario": {"seed": 7, "replicates": 3},
            "firms": [{"name": "A", "service_level": "good"}],
        }
    )
    assert replicate_seeds(scenario, 2) == [spawn_seeds(7, 3), spawn_seeds(7, 3)]


def test_grid_points_vary_the_first_key_slowest():
    sweep = Sweep("grid", (("a", (1, 2)), ("b", ("x", "y", "z"))))
    assert [tuple(p.values()) for p in sweep.points()] == [
        (1, "x"),
        (1, "y"),
        (1, "z"),
        (2, "x"),
        (2, "y"),
        (2, "z"),
    ]
    assert sweep.to_dict() == {
        "design": "grid",
        "seeds": "common",
        "a": [1, 2],
        "b": ["x", "y", "z"],
    }


def test_latin_hypercube_puts_one_point_in_each_stratum_of_a_whole_range():
    sweep = Sweep("latin_hypercube", (("n", (1, 10)), ("p", (0.0, 1.0))), samples=10, seed=3)
    points = sweep.points()
    assert sorted(p["n"] for p in points) == list(range(1, 11))
    assert sorted(int(p["p"] * 10) for p in points) == list(range(10))
    assert sweep.points() == points  # seeded: the same points every time
