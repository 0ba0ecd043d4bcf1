"""The ``[explore]`` table: levers against uncertainties, the futures to run and their seeds.

An exploration asks which value of a *lever* (a key the firm chooses: its rung, its contact-centre
agents, a schedule entry) does best across *futures*: draws of the *uncertainties* (keys the firm
does not control: ``referrals.refer_prob``, ``customers.tolerance``, ...). It is a sweep whose
points are (future, lever value) pairs, so it runs on the sweep machinery unchanged (executors,
the crash-safe results folder, resume, progress): `Exploration` offers what `sim.sweep.Plan`
asks of a `sim.design.Sweep` (``design``, ``keys``, ``samples``, ``points``,
``to_dict``, ``base``) and, in addition, the run seeds (`Exploration.run_seeds`).

Designs come from SALib and scipy, never hand-written: ``"sobol"`` (Saltelli's extension of the
Sobol sequence, `SALib.sample.sobol.sample`, without second-order terms: N x (D + 2) futures),
``"morris"`` (`SALib.sample.morris.sample`: N trajectories, N x (D + 1) futures) and
``"latin_hypercube"`` (the sweeps' own `sim.design.latin_hypercube_unit`). Each design draws a
unit sample; a ``[low, high]`` range maps it linearly (SALib's own scaling; two whole numbers give
whole numbers, as in a Latin hypercube sweep), a table ``{distribution = "triang", c = 0.5,
loc = 0.8, scale = 1.2}`` through the inverse distribution function of that `scipy.stats`
distribution.

Points are future-major: point ``f * L + l`` is future ``f`` under lever value ``l`` (L lever
values: every combination of the lever keys' values, first key slowest). Seeds are spawned from
``scenario.seed`` per (future, replicate), and every lever value of a future gets that future's
seeds (common random numbers), so lever differences are measured within a future, never across
noise. docs/model.md (D60-D62) records these choices.

What does not live here: running (`sim.sweep`), the analysis (`sim.explore`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sim.design import latin_hypercube_unit, scale_unit, spawn_seeds
from sim.scenario import UNSWEEPABLE, ScenarioError, load_scenario

DESIGNS = ("sobol", "morris", "latin_hypercube")
OUTCOMES = (
    "discounted_profit",
    "cumulative_profit",
    "discounted_revenue",
    "revenue",
    "customers",
    "retention_end",
    "clv",
)
TAIL = 0.001  # a distribution's draws are kept within its TAIL and 1 - TAIL quantiles
RBD_HARMONICS = 10  # RBD-FAST's M (SALib's default): a Latin hypercube needs 2M + 1 futures
MORRIS_LEVELS = 4  # grid levels of a Morris trajectory (SALib's default)
EXPLORE_KEYS = (
    "design",
    "samples",
    "outcome",
    "firm",
    "levels",
    "compare",
    "levers",
    "uncertainties",
)


@dataclass(frozen=True)
class Uncertainty:
    """One uncertain key and how it is drawn.

    Attributes:
        key: the dotted scenario key.
        low, high: the range (uniform), or the 0.1% and 99.9% quantiles of ``distribution``
            (draws from a distribution are kept within them, so that no future is infinite).
        distribution: ``"uniform"`` or the name of a `scipy.stats` continuous distribution.
        arguments: that distribution's arguments (``loc``, ``scale``, shapes), as pairs.
    """

    key: str
    low: float
    high: float
    distribution: str = "uniform"
    arguments: tuple[tuple[str, float], ...] = ()

    @property
    def whole(self) -> bool:
        """A uniform range of two whole numbers: its values are whole numbers."""
        return self.distribution == "uniform" and all(
            isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)
        )

    @property
    def salib_bounds(self) -> list[float]:
        """The bounds SALib samples between: the range itself for a uniform range of real
        numbers (SALib scales it), else the unit interval (mapped by `values`)."""
        if self.distribution == "uniform" and not self.whole:
            return [float(self.low), float(self.high)]
        return [0.0, 1.0]

    def frozen(self) -> Any:
        """The frozen `scipy.stats` distribution (not for ``"uniform"``)."""
        import scipy.stats

        return getattr(scipy.stats, self.distribution)(**dict(self.arguments))

    def values(self, column: np.ndarray) -> list[Any]:
        """The key's values for a column sampled within `salib_bounds`."""
        if self.distribution != "uniform":
            unit = np.clip(np.asarray(column, float), TAIL, 1.0 - TAIL)
            return [float(v) for v in self.frozen().ppf(unit)]
        if self.whole:
            return [scale_unit(float(u), self.low, self.high) for u in column]
        return [float(v) for v in column]

    def unit(self, column: np.ndarray) -> np.ndarray:
        """A column within `salib_bounds` back on the unit interval (Morris needs it)."""
        low, high = self.salib_bounds
        return (np.asarray(column, float) - low) / (high - low) if high > low else column * 0.0

    def to_value(self) -> Any:
        """The ``[explore.uncertainties]`` entry that reads back as this uncertainty."""
        if self.distribution == "uniform":
            return [self.low, self.high]
        return {"distribution": self.distribution, **dict(self.arguments)}


@dataclass(frozen=True)
class Exploration:
    """Levers against uncertainties: the points (future, lever value) and their seeds.

    Attributes:
        design: ``"sobol"``, ``"morris"`` or ``"latin_hypercube"``.
        samples: the base sample size N (Sobol: N x (D + 2) futures, N a power of two; Morris:
            N trajectories of D + 1 futures; Latin hypercube: N futures).
        outcome: the outcome analysed (`OUTCOMES`, at each run's last month).
        firm: the firm whose outcome is analysed (default: the first).
        levels: Morris grid levels.
        compare: pairs of lever labels ``(higher, lower)`` whose difference is analysed
            (default: each lever value against the one before it).
        levers: (key, values) pairs.
        uncertainties: the uncertain keys.
        seed: the scenario's seed (the design's and the run seeds' root).
        base: the scenario document as given, without ``[explore]`` (as `Sweep.base`).
    """

    TABLE: ClassVar[str] = "explore"

    design: str
    samples: int
    outcome: str
    firm: str | None
    levels: int
    compare: tuple[tuple[str, str], ...]
    levers: tuple[tuple[str, tuple[Any, ...]], ...]
    uncertainties: tuple[Uncertainty, ...]
    seed: int = 0
    base: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def lever_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.levers)

    @property
    def uncertainty_keys(self) -> tuple[str, ...]:
        return tuple(u.key for u in self.uncertainties)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a point sets: the levers', then the uncertainties'."""
        return (*self.lever_keys, *self.uncertainty_keys)

    def policies(self) -> list[dict[str, Any]]:
        """Every lever value (a combination of the lever keys' values, first key slowest)."""
        values = [v for _, v in self.levers]
        return [dict(zip(self.lever_keys, c, strict=True)) for c in itertools.product(*values)]

    def labels(self) -> list[str]:
        """A name per lever value: its values joined by " / " (one lever key: the value)."""
        return [" / ".join(str(v) for v in p.values()) for p in self.policies()]

    def differences(self) -> list[tuple[str, str]]:
        """The lever pairs ``(higher, lower)`` whose difference is analysed."""
        if self.compare:
            return list(self.compare)
        labels = self.labels()
        return list(zip(labels[1:], labels[:-1], strict=True))

    def problem(self) -> dict[str, Any]:
        """The SALib problem: one variable per uncertainty, sampled within its bounds."""
        return {
            "num_vars": len(self.uncertainties),
            "names": list(self.uncertainty_keys),
            "bounds": [u.salib_bounds for u in self.uncertainties],
        }

    def sample(self) -> np.ndarray:
        """The design's sample matrix (futures x uncertainties, within `problem`'s bounds),
        exactly as SALib (or scipy's Latin hypercube) draws it from the scenario's seed."""
        problem = self.problem()
        if self.design == "sobol":
            from SALib.sample import sobol

            return sobol.sample(problem, self.samples, calc_second_order=False, seed=self.seed)
        if self.design == "morris":
            from SALib.sample import morris

            return morris.sample(problem, self.samples, num_levels=self.levels, seed=self.seed)
        unit = latin_hypercube_unit(len(self.uncertainties), self.samples, self.seed)
        low = np.array([b[0] for b in problem["bounds"]])
        high = np.array([b[1] for b in problem["bounds"]])
        return unit * (high - low) + low

    def unit_sample(self) -> np.ndarray:
        """`sample` on the unit cube (what Morris and RBD-FAST analyses take as X)."""
        matrix = self.sample()
        return np.column_stack(
            [u.unit(matrix[:, j]) for j, u in enumerate(self.uncertainties)]
        ).reshape(matrix.shape)

    def futures(self) -> list[dict[str, Any]]:
        """Every future: the uncertain keys' values, in the design's order."""
        matrix = self.sample()
        columns = [u.values(matrix[:, j]) for j, u in enumerate(self.uncertainties)]
        return [
            dict(zip(self.uncertainty_keys, row, strict=True)) for row in zip(*columns, strict=True)
        ]

    def points(self) -> list[dict[str, Any]]:
        """Every point, future-major: point ``f * L + l`` is future f under lever value l."""
        return [{**p, **f} for f in self.futures() for p in self.policies()]

    def run_seeds(self, replicates: int) -> list[list[int]]:
        """``seeds[point][replicate]``: each future's seeds, spawned from the scenario's seed in
        (future, replicate) order, shared by every lever value of that future."""
        n_futures = len(self.futures())
        flat = spawn_seeds(self.seed, n_futures * replicates)
        per_future = [flat[f * replicates : (f + 1) * replicates] for f in range(n_futures)]
        return [list(s) for s in per_future for _ in self.policies()]

    def to_dict(self) -> dict[str, Any]:
        """The ``[explore]`` table that `load_scenario` reads back into this exploration."""
        out: dict[str, Any] = {
            "design": self.design,
            "samples": self.samples,
            "outcome": self.outcome,
        }
        if self.firm is not None:
            out["firm"] = self.firm
        if self.design == "morris":
            out["levels"] = self.levels
        if self.compare:
            out["compare"] = [list(pair) for pair in self.compare]
        out["levers"] = {k: list(v) for k, v in self.levers}
        out["uncertainties"] = {u.key: u.to_value() for u in self.uncertainties}
        return out


# --------------------------------------------------------------------------------------------
# Validation (called by `sim.scenario.load_scenario` for an ``[explore]`` table).


def _fail(source: str, key: str, problem: str) -> None:
    raise ScenarioError(source, key, problem)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _uncertainty(source: str, key: str, value: Any) -> Uncertainty:
    where = f"explore.uncertainties.{key}"
    if isinstance(value, list):
        if len(value) != 2 or not all(_number(v) for v in value):
            _fail(source, where, f"must be a [low, high] range of numbers, got {value!r}")
        if value[0] >= value[1]:
            _fail(source, where, f"low must be below high, got {value!r}")
        return Uncertainty(key, value[0], value[1])
    if not isinstance(value, dict):
        _fail(
            source,
            where,
            "must be a [low, high] range or a table {distribution = NAME, ...} naming a "
            f"scipy.stats distribution and its arguments, got {value!r}",
        )
    import scipy.stats

    args = dict(value)
    name = args.pop("distribution", None)
    if not isinstance(name, str) or not isinstance(
        getattr(scipy.stats, name, None), scipy.stats.rv_continuous
    ):
        _fail(
            source,
            f"{where}.distribution",
            f"must name a continuous scipy.stats distribution (uniform, norm, triang, beta, "
            f"lognorm, truncnorm, ...), got {name!r}",
        )
    bad = [k for k, v in args.items() if not _number(v)]
    if bad:
        _fail(source, f"{where}.{bad[0]}", f"must be a number, got {args[bad[0]]!r}")
    try:
        frozen = getattr(scipy.stats, name)(**args)
        low, high = (float(x) for x in frozen.ppf([TAIL, 1.0 - TAIL]))
    except Exception as err:  # scipy's own message names the bad argument
        _fail(source, where, f"not a valid {name} distribution: {err}")
    if not (math.isfinite(low) and math.isfinite(high)):
        _fail(source, where, f"the {name} distribution with {args} has no finite quantiles")
    return Uncertainty(key, low, high, name, tuple(sorted(args.items())))


def _check_key(source: str, table: str, key: str) -> None:
    if key in UNSWEEPABLE:
        _fail(source, f"explore.{table}.{key}", "cannot be explored (set it in the scenario)")


def validate(raw: Any, doc: Mapping[str, Any], source: str) -> Exploration:
    """The `Exploration` of a raw ``[explore]`` table, every point validated.

    Args:
        raw: the table as read.
        doc: the whole scenario document (for its seed and as the base of every point).
        source: the file name for errors.

    Raises:
        ScenarioError: naming the file, the key and what is allowed.
    """
    if not isinstance(raw, dict):
        _fail(source, "explore", f"must be a table, got {raw!r}")
    for key in raw:
        if key not in EXPLORE_KEYS:
            _fail(source, f"explore.{key}", f"unknown key; allowed: {', '.join(EXPLORE_KEYS)}")
    design = raw.get("design", "sobol")
    if design not in DESIGNS:
        _fail(source, "explore.design", f"must be one of {', '.join(DESIGNS)}, got {design!r}")
    samples = raw.get("samples")
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 2:
        _fail(source, "explore.samples", f"must be a whole number >= 2, got {samples!r}")
    if design == "latin_hypercube" and samples < 2 * RBD_HARMONICS + 1:
        _fail(
            source,
            "explore.samples",
            f'with design = "latin_hypercube", must be at least {2 * RBD_HARMONICS + 1} (the '
            f"RBD-FAST indices resolve {RBD_HARMONICS} harmonics), got {samples}",
        )
    if design == "sobol" and samples & (samples - 1):
        _fail(
            source,
            "explore.samples",
            f'with design = "sobol", must be a power of two (Sobol sequences), got {samples}',
        )
    outcome = raw.get("outcome", "discounted_profit")
    if outcome not in OUTCOMES:
        _fail(source, "explore.outcome", f"must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    levels = raw.get("levels", MORRIS_LEVELS)
    if "levels" in raw and design != "morris":
        _fail(source, "explore.levels", 'only goes with design = "morris"')
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 2 or levels % 2:
        _fail(source, "explore.levels", f"must be an even whole number >= 2, got {levels!r}")
    firm = raw.get("firm")
    names = [f.get("name") for f in doc.get("firms", []) if isinstance(f, dict)]
    if firm is not None and firm not in names:
        _fail(
            source, "explore.firm", f"must name a firm ({', '.join(map(str, names))}), got {firm!r}"
        )

    levers_raw = raw.get("levers")
    if not isinstance(levers_raw, dict) or not levers_raw:
        _fail(source, "explore.levers", "must be a table of at least one key = [values, ...]")
    levers = []
    for key, values in levers_raw.items():
        _check_key(source, "levers", key)
        if not isinstance(values, list) or len(values) < 2:
            _fail(source, f"explore.levers.{key}", f"must list at least two values, got {values!r}")
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            _fail(source, f"explore.levers.{key}", f"{repeated[0]!r} is listed twice")
        levers.append((key, tuple(values)))
    unc_raw = raw.get("uncertainties")
    if not isinstance(unc_raw, dict) or not unc_raw:
        _fail(source, "explore.uncertainties", "must be a table of at least one key = range")
    uncertainties = []
    for key, value in unc_raw.items():
        _check_key(source, "uncertainties", key)
        if key in levers_raw:
            _fail(source, f"explore.uncertainties.{key}", "is a lever too; a key is one or other")
        uncertainties.append(_uncertainty(source, key, value))
    if design == "sobol" and len(uncertainties) < 2:
        _fail(source, "explore.uncertainties", 'design = "sobol" needs at least two')

    labels = [" / ".join(str(v) for v in c) for c in itertools.product(*(v for _, v in levers))]
    compare_raw = raw.get("compare", [])
    compare = []
    if not isinstance(compare_raw, list):
        _fail(
            source,
            "explore.compare",
            f"must be a list of [higher, lower] pairs, got {compare_raw!r}",
        )
    for pair in compare_raw:
        ok = isinstance(pair, list) and len(pair) == 2 and all(p in labels for p in pair)
        if not ok or pair[0] == pair[1]:
            _fail(
                source,
                "explore.compare",
                f"each entry must be a pair of two different lever values ({', '.join(labels)}), "
                f"got {pair!r}",
            )
        compare.append((str(pair[0]), str(pair[1])))

    seed = doc.get("scenario", {}).get("seed", 0)
    base = copy.deepcopy({k: v for k, v in doc.items() if k != "explore"})
    exploration = Exploration(
        design,
        samples,
        outcome,
        firm,
        levels,
        tuple(compare),
        tuple(levers),
        tuple(uncertainties),
        seed=seed,
        base=base,
    )
    # Every lever value, and every uncertainty at both ends of its range, must validate before
    # any run starts (the futures lie between; `Plan` builds every point's scenario again).
    lows = {u.key: u.values(np.array([u.salib_bounds[0]]))[0] for u in uncertainties}
    highs = {u.key: u.values(np.array([u.salib_bounds[1]]))[0] for u in uncertainties}
    for policy in exploration.policies():
        for ends in (lows, highs):
            values = {**policy, **ends}
            try:
                load_scenario(base, overrides=values, source_name=source)
            except ScenarioError as err:
                point = ", ".join(f"{k}={v!r}" for k, v in values.items())
                raise ScenarioError(source, f"explore ({point}): {err.key}", err.problem) from None
    return exploration
