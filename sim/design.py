"""Sweep designs and run seeds: which points a scenario's sweep has, and each run's seed.

A `Sweep` (read and checked from a scenario's ``[sweep]`` table by `sim.scenario.load_scenario`)
lists its points: a full-factorial grid of dotted keys, or a Latin hypercube sample of numeric
ranges (`scipy.stats.qmc.LatinHypercube`). Run seeds are spawned from the scenario's master seed
with `numpy.random.SeedSequence`, in a fixed (point, replicate) order, so that a run is
reproduced from its seed alone (docs/model.md, "Scales").

What does not live here: validating the ``[sweep]`` table and building each point's scenario
(`scenario.py`), running the points (`sweep.py`), run ids (`runner.py`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from sim.scenario import Scenario

SWEEP_DESIGNS = ("grid", "latin_hypercube")
# How replicate seeds are shared across a sweep's points (docs/model.md, D70): "common" gives
# replicate r of every point the same seed (common random numbers, so points are compared on the
# same random draws); "independent" spawns a fresh seed for every (point, replicate).
SWEEP_SEEDS = ("common", "independent")


@dataclass(frozen=True)
class Sweep:
    """The points of a sweep: a full-factorial grid, or a Latin hypercube sample.

    ``design = "grid"``: each key takes each of its values (``parameters`` holds the values).
    ``design = "latin_hypercube"``: ``samples`` points, each key drawn from its ``[low, high]``
    range (``parameters`` holds the range) by `scipy.stats.qmc.LatinHypercube`, seeded from
    ``seed`` (the scenario's seed); a range of two whole numbers gives whole numbers.

    ``seeds`` (one of `SWEEP_SEEDS`): ``"common"`` (the default) runs replicate r of every point
    with the same seed, ``"independent"`` gives every run its own (`replicate_seeds`).

    ``base`` is the scenario document as given (after overrides, before defaults, without the
    ``[sweep]`` table). Each point is built from it (`sim.scenario.Scenario.at_point`), so a
    default derived from a swept key (a firm's ``recognised_start``,
    ``market.initial_customers``) is derived again at every point, exactly as when the point's
    values are written into the file.
    """

    TABLE: ClassVar[str] = "sweep"  # the scenario table it is read from and written to

    design: str
    parameters: tuple[tuple[str, tuple[Any, ...]], ...]
    samples: int | None = None
    seed: int = 0
    seeds: str = "common"
    base: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept dotted keys, in file order."""
        return tuple(k for k, _ in self.parameters)

    def points(self) -> list[dict[str, Any]]:
        """Every point, in a fixed order: for a grid, first key varying slowest."""
        if self.design == "latin_hypercube":
            return self._latin_hypercube()
        values = [v for _, v in self.parameters]
        return [dict(zip(self.keys, combo, strict=True)) for combo in itertools.product(*values)]

    def _latin_hypercube(self) -> list[dict[str, Any]]:
        unit = latin_hypercube_unit(len(self.parameters), self.samples or 0, self.seed)
        points = []
        for row in unit:
            point: dict[str, Any] = {}
            for u, (key, (low, high)) in zip(row, self.parameters, strict=True):
                point[key] = scale_unit(float(u), low, high)
            points.append(point)
        return points

    def to_dict(self) -> dict[str, Any]:
        """The ``[sweep]`` table that `load_scenario` reads back into this sweep."""
        out: dict[str, Any] = {"design": self.design}
        if self.samples is not None:
            out["samples"] = self.samples
        out["seeds"] = self.seeds
        out.update({k: list(v) for k, v in self.parameters})
        return out


def latin_hypercube_unit(d: int, n: int, seed: int) -> np.ndarray:
    """``n`` points of a ``d``-dimensional Latin hypercube on the unit cube
    (`scipy.stats.qmc.LatinHypercube`), seeded from the scenario's seed."""
    from scipy.stats import qmc

    # The root SeedSequence itself; run seeds are its spawned children, so they never meet.
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return qmc.LatinHypercube(d=d, rng=rng).random(n)


def scale_unit(u: float, low: Any, high: Any) -> Any:
    """A unit-interval draw as a value of ``[low, high]``: two whole numbers give equal strata
    over low..high, both included; otherwise a real number, linearly."""
    if _is_whole_range(low, high):
        return min(int(low + math.floor(u * (high - low + 1))), high)
    return float(low + u * (high - low))


def _is_whole_range(low: Any, high: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))


def spawn_seeds(root_seed: int, n: int) -> list[int]:
    """`n` run seeds spawned from `root_seed`, in a fixed order.

    Each is a non-negative 63-bit integer; `simulate(seed=s)` reproduces a run from it alone.
    """
    children = np.random.SeedSequence(root_seed).spawn(n)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


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
