"""Running the model: `simulate` (one run) and `run_replicates` (a scenario's replicates).

A run is a plain function of a validated scenario and an integer seed, returning the MODEL.md
frame; the CLI, notebooks, the app, sweeps and tests all call `simulate`. Nothing here writes
files (that is `store.py`) or draws figures (`plots.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.scenario import ENGINES, Scenario, load_scenario, spawn_seeds


def _engine(name: str) -> Callable[[Scenario, int], pd.DataFrame]:
    if name == "agents":
        from sim.model import RetentionModel

        def run_agents(scenario: Scenario, seed: int) -> pd.DataFrame:
            model = RetentionModel(scenario, seed)
            try:
                return model.run()
            finally:
                model.release()

        return run_agents
    if name == "population":
        from sim.population import run_population

        return run_population
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")


def simulate(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    seed: int,
    engine: str | None = None,
) -> pd.DataFrame:
    """One run of the model.

    Args:
        scenario: a `Scenario`, or anything `load_scenario` accepts.
        seed: the run seed (a non-negative integer); the same seed gives an identical frame.
        engine: ``"agents"`` or ``"population"``; default: the scenario's ``engine``.

    Returns:
        One row per (month, firm) from month 0, with the columns of `sim.metrics.COLUMNS`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return _engine(engine or scenario.engine)(scenario, seed)


def replicate_seeds(scenario: Scenario, n_points: int = 1) -> list[list[int]]:
    """Run seeds per (point, replicate), spawned from ``scenario.seed`` in (point, replicate)
    order: ``seeds[point][replicate]``."""
    flat = spawn_seeds(scenario.seed, n_points * scenario.replicates)
    r = scenario.replicates
    return [flat[p * r : (p + 1) * r] for p in range(n_points)]


def run_id(point: int, replicate: int) -> str:
    """Stable, readable run id: ``p0007-r012``."""
    return f"p{point:04d}-r{replicate:03d}"


def run_replicates(
    scenario: Scenario, *, engine: str | None = None
) -> Iterator[tuple[dict[str, Any], pd.DataFrame | None, str]]:
    """Run the replicates of a scenario's first point, one after another.

    Yields, per replicate, a run record (run_id, replicate, seed, status, error, duration_s),
    the run's frame with ``run_id``, ``replicate`` and ``seed`` in front (None if it failed), and
    the error text ("" if none). A failing run does not stop the others.
    """
    values, point = scenario.points()[0]
    run = _engine(engine or point.engine)  # imported once, outside the timed runs
    for replicate, seed in enumerate(replicate_seeds(scenario)[0]):
        record: dict[str, Any] = {
            "run_id": run_id(0, replicate),
            "replicate": replicate,
            "seed": seed,
        }
        record.update(values)
        started = time.perf_counter()
        try:
            frame = run(point, seed)
            error = ""
        except Exception as err:
            frame, error = None, f"{type(err).__name__}: {err}"
        record["status"] = "failed" if error else "done"
        record["error"] = error
        record["duration_s"] = time.perf_counter() - started
        if frame is not None:
            frame.insert(0, "seed", seed)
            frame.insert(0, "replicate", replicate)
            frame.insert(0, "run_id", record["run_id"])
            for key, value in values.items():
                frame[key] = value
        yield record, frame, error
