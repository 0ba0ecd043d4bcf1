"""Running the model once: `simulate`, and the seeds and ids of a sweep's runs.

A run is a plain function of a validated scenario and an integer seed, returning the frame of
docs/model.md section 7.9; the CLI, notebooks, the app, sweeps and tests all call `simulate`.
Also here: run ids (`run_id`) and `simulate_replicates`, a scenario's replicates run in turn (for
notebooks), with the run seeds of `sim.design.replicate_seeds`.

What does not live here: running many runs (`sweep.py`: executors, batching, resume), writing
files (`store.py`), drawing figures (`plots.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sim.design import replicate_seeds
from sim.scenario import ENGINES, Scenario, load_scenario


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


def run_id(point: int, replicate: int) -> str:
    """Stable, readable run id: ``p0007-r012``."""
    return f"p{point:04d}-r{replicate:03d}"
