"""Running the model once: `simulate`, and the seeds and ids of a sweep's runs.

A run is a plain function of a validated scenario and an integer seed, returning the MODEL.md
frame; the CLI, notebooks, the app, sweeps and tests all call `simulate`. Also here: the run seeds
of a scenario (`replicate_seeds`, spawned in a fixed (point, replicate) order), run ids
(`run_id`), and `simulate_replicates`, a scenario's replicates run in turn (for notebooks).

What does not live here: running many runs (`sweep.py`: executors, batching, resume), writing
files (`store.py`), drawing figures (`plots.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.scenario import ENGINES, Scenario, load_scenario, spawn_seeds


def engine_function(name: str) -> Callable[[Scenario, int], pd.DataFrame]:
    """The function ``(scenario, seed) -> frame`` of an engine, importing the engine.

    Raises:
        ValueError: not one of `sim.scenario.ENGINES`.
    """
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
    return engine_function(engine or scenario.engine)(scenario, seed)


def simulate_replicates(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    point: int = 0,
    engine: str | None = None,
) -> pd.DataFrame:
    """Every replicate of a scenario, one run after another in this process.

    The runs use the seeds `run_sweep` gives the runs of point ``point`` (`replicate_seeds`):
    with common random numbers (the default) every point's, so two variants of one scenario
    compared this way share their random numbers replicate by replicate. The rows carry
    ``run_id`` (with ``point`` in it, `run_id`), ``replicate`` and ``seed``, like a results
    folder's, so the summaries and plots take them as they are. For many points, in parallel and
    into a results folder, use `sim.run_sweep`.

    Args:
        scenario: a `Scenario`, or anything `load_scenario` accepts (its ``[sweep]``, if any, is
            ignored: this runs the scenario as given).
        point: the point number written into the run ids.
        engine: as for `simulate`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return pd.concat(
        [
            simulate(scenario, seed=seed, engine=engine).assign(
                run_id=run_id(point, r), replicate=r, seed=seed
            )
            for r, seed in enumerate(replicate_seeds(scenario, point + 1)[point])
        ],
        ignore_index=True,
    )


def replicate_seeds(scenario: Scenario, n_points: int = 1) -> list[list[int]]:
    """Run seeds per (point, replicate): ``seeds[point][replicate]``.

    By default (common random numbers, docs/model.md D70) replicate r of every point gets the
    same seed, the r-th spawned from ``scenario.seed``, so two points are compared on the same
    random draws. With ``[sweep] seeds = "independent"`` the seeds are spawned in (point,
    replicate) order, one per run. Point 0's seeds are the same either way. An exploration's
    (``[explore]``) are each future's, shared by its lever values (`Exploration.run_seeds`).
    """
    r = scenario.replicates
    explored = getattr(scenario.sweep, "run_seeds", None)
    if explored is not None:
        return explored(r)[:n_points]
    if scenario.sweep is None or scenario.sweep.seeds == "common":
        common = spawn_seeds(scenario.seed, r)
        return [list(common) for _ in range(n_points)]
    flat = spawn_seeds(scenario.seed, n_points * r)
    return [flat[p * r : (p + 1) * r] for p in range(n_points)]


def run_id(point: int, replicate: int) -> str:
    """Stable, readable run id: ``p0007-r012``."""
    return f"p{point:04d}-r{replicate:03d}"
