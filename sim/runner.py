"""Running the model once: `simulate`, and the seeds and ids of a sweep's runs.

A run is a plain function of a validated scenario and an integer seed, returning the frame of
docs/model.md section 7.9; the CLI, notebooks, the app, sweeps and tests all call `simulate`.
Also here: run ids (`run_id`) and `simulate_replicates`, a scenario's replicates run in turn (for
notebooks), with the run seeds of `sim.design.replicate_seeds`.

What does not live here: running many runs (`sweep.py`: executors, batching, resume), writing
files (`store.py`), drawing figures (`plots.py`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.design import replicate_seeds
from sim.metrics import Tallies, build_frame, metric_values
from sim.scenario import ENGINES, Scenario, load_scenario


def engine_function(name: str) -> Callable[[Scenario, int], Tallies]:
    """The function ``(scenario, seed) -> tallies`` of an engine (a whole run, counted; the
    frame is `sim.metrics.build_frame` of them), importing the engine.

    Raises:
        ValueError: not one of `sim.scenario.ENGINES`.
    """
    if name == "agents":
        from sim.model import RetentionModel

        def run_agents(scenario: Scenario, seed: int) -> Tallies:
            model = RetentionModel(scenario, seed)
            try:
                for _ in range(scenario.months):
                    model.step()
                return model.tallies
            finally:
                model.release()

        return run_agents
    if name == "population":
        from sim.population import PopulationModel

        def run_population(scenario: Scenario, seed: int) -> Tallies:
            model = PopulationModel(scenario, seed)
            while model.steps < scenario.months:
                model.step()
            return model.tallies

        return run_population
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")


def simulate(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    seed: int,
    engine: str | None = None,
    point: int | None = None,
) -> pd.DataFrame:
    """One run of the model.

    Args:
        scenario: a `Scenario`, or anything `load_scenario` accepts. One with a ``[sweep]``
            needs ``point``.
        seed: the run seed: a non-negative integer of any integer type (``int``, numpy
            integers such as a results folder's ``seed`` column); the same seed gives an
            identical frame.
        engine: ``"agents"`` or ``"population"``; default: the scenario's ``engine``.
        point: which point of the scenario's ``[sweep]`` to run (0 is the first, as in run ids).

    Returns:
        One row per (month, firm) from month 0, with the columns of `sim.metrics.COLUMNS`.

    Raises:
        ValueError: a bad seed; a scenario with a ``[sweep]`` and no ``point`` (or ``point``
            without a sweep, or out of range).
    """
    return build_frame(*_run(scenario, seed, engine, point))


def simulate_columns(
    scenario: Scenario, *, seed: int, engine: str | None = None
) -> dict[str, np.ndarray]:
    """One run, as the frame's columns (`sim.metrics.COLUMNS` -> arrays, in frame order) without
    the DataFrame: what a sweep's workers send (`simulate` is the DataFrame of the same
    arrays). Arguments as for `simulate`."""
    return metric_values(*_run(scenario, seed, engine, None))


def _run(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int,
    engine: str | None,
    point: int | None,
) -> tuple[Tallies, Scenario]:
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    scenario = point_scenario(scenario, point)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool | np.bool_) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return engine_function(engine or scenario.engine)(scenario, int(seed)), scenario


def point_scenario(scenario: Scenario, point: int | None) -> Scenario:
    """The scenario of one point of ``scenario``'s sweep (``scenario`` itself if it has none).

    Raises:
        ValueError: a sweep and no ``point``, a ``point`` out of range, or a ``point`` other than
            0 without a sweep.
    """
    if scenario.sweep is None:
        if point not in (None, 0):
            raise ValueError(f"point={point!r}: {scenario.name} has no [sweep] (only point 0)")
        return scenario
    points = scenario.sweep.points()
    if point is None:
        raise ValueError(
            f"{scenario.name} has a [sweep] of {len(points)} points: give point= (0 to "
            f"{len(points) - 1}) to run one, or run them all with sim.run_sweep"
        )
    if isinstance(point, bool) or not isinstance(point, numbers.Integral):
        raise ValueError(f"point must be an integer, got {point!r}")
    if not 0 <= point < len(points):
        raise ValueError(f"point={point}: {scenario.name} has points 0 to {len(points) - 1}")
    return scenario.at_point(points[int(point)])


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
        scenario: a `Scenario`, or anything `load_scenario` accepts; with a ``[sweep]``, the
            point ``point`` of it is run.
        point: the point: written into the run ids, and the sweep point run, if there is one.
        engine: as for `simulate`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if isinstance(point, bool) or not isinstance(point, numbers.Integral) or point < 0:
        raise ValueError(f"point must be a non-negative integer, got {point!r}")
    one = point_scenario(scenario, point) if scenario.sweep is not None else scenario
    return pd.concat(
        [
            simulate(one, seed=seed, engine=engine).assign(
                run_id=run_id(point, r), replicate=r, seed=seed
            )
            for r, seed in enumerate(replicate_seeds(scenario, point + 1)[point])
        ],
        ignore_index=True,
    )


def run_id(point: int, replicate: int) -> str:
    """Stable, readable run id: ``p0007-r012``."""
    return f"p{point:04d}-r{replicate:03d}"
