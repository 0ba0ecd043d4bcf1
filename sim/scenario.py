"""Scenario files -> a validated, frozen `Scenario`; sweep grids; run seeds.

This is the only place that reads raw user input about the model. `load_scenario` takes a TOML file
(or a dict of the same shape), applies dotted-key overrides, fills every default, checks every key,
type and range against `SCHEMA`, and returns a frozen `Scenario`. Any problem raises
`ScenarioError`, whose message names the file, the key and what is allowed. Nothing downstream
re-checks raw input.

Also here: a firm's operational sub-tables (``[firms.contact_centre]``, ``[firms.inventory]``,
checked against `CONTACT_CENTRE_SCHEMA` and `INVENTORY_SCHEMA`; an inventory given by its
reorder-point policy gets its fill rate from `sim.operations.fill_rate` once, here), the
`[sweep]` table (full-factorial grid of dotted keys -> lists of values), its expansion into
validated points, and the spawning of run seeds from the master seed.

What does not live here: the model's rules (`rules.py`), the ladders' values (`ladder.py`), running
anything (`runner.py`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.ladder import (
    BUILTIN_LADDERS,
    DEFAULT_LADDER,
    RUNG_FIELDS,
    Ladder,
    Rung,
    get_ladder,
)
from sim.operations import fill_rate

ENGINES = ("agents", "population")
CHURN_RULES = ("fixed", "tarp", "strikes")
NETWORK_GENERATORS = {
    # generator -> {argument: check}; every argument is required
    "watts_strogatz": {"k": "int>=2", "p": "prob"},
    "barabasi_albert": {"m": "int>=1"},
    "erdos_renyi": {"p": "prob"},
}
SINGLE_DEPARTMENT = "service"
UNSWEEPABLE = (
    "scenario.seed",
    "scenario.replicates",
    "scenario.name",
    "scenario.description",
)
SWEEP_DESIGNS = ("grid", "latin_hypercube")
# How replicate seeds are shared across a sweep's points (docs/model.md, D70): "common" gives
# replicate r of every point the same seed (common random numbers, so points are compared on the
# same random draws); "independent" spawns a fresh seed for every (point, replicate).
SWEEP_SEEDS = ("common", "independent")


class ScenarioError(ValueError):
    """Invalid scenario input. ``str(err)`` is the user-facing message: file, key, what is allowed."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}" if key else f"{where}{problem}")


# --------------------------------------------------------------------------------------------
# Value checks. Each returns (ok, converted value) or raises _Bad with what is allowed.


class _Bad(Exception):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _number(v: Any, lo: float | None, hi: float | None, what: str) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise _Bad(f"must be {what}, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _Bad(f"must be {what}, got {v!r}")
    return float(v)


def _integer(v: Any, lo: int | None, hi: int | None, what: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Bad(f"must be {what}, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _Bad(f"must be {what}, got {v!r}")
    return v


def prob(v: Any) -> float:
    return _number(v, 0.0, 1.0, "a probability between 0 and 1")


def nonneg(v: Any) -> float:
    return _number(v, 0.0, None, "a number >= 0")


def finite(v: Any) -> float:
    return _number(v, None, None, "a finite number")


def positive(v: Any) -> float:
    x = _number(v, 0.0, None, "a number > 0")
    if x <= 0.0:
        raise _Bad(f"must be a number > 0, got {v!r}")
    return x


def polarization(v: Any) -> float:
    """A polarization index: a number in [0, 1) (1 would make the Beta degenerate)."""
    x = _number(v, 0.0, 1.0, "a number in [0, 1)")
    if x >= 1.0:
        raise _Bad(f"must be a number in [0, 1), got {v!r}")
    return x


def quality(v: Any) -> float:
    return _number(v, 0.0, 10.0, "a number between 0 and 10")


def int_at_least(lo: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        return _integer(v, lo, None, f"a whole number >= {lo}")

    return check


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise _Bad(f"must be a string, got {v!r}")
    return v


def one_of(*allowed: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in allowed:
            raise _Bad(f"must be one of {', '.join(map(repr, allowed))}, got {v!r}")
        return v

    return check


def tarp_table(v: Any) -> tuple[float, ...]:
    if not isinstance(v, list | tuple) or len(v) != 4:
        raise _Bad(
            "must be a list of 4 probabilities [silent, complained unresolved, resolved slowly, "
            f"resolved quickly], got {v!r}"
        )
    return tuple(prob(x) for x in v)


_CHECKS = {"int>=1": int_at_least(1), "int>=2": int_at_least(2), "prob": prob}

REQUIRED = object()  # a key with no default
DERIVED = object()  # a default computed from other keys (documented next to the key)


@dataclass(frozen=True)
class Key:
    """One scenario key: how to check it, its default, and what it means (units and range)."""

    check: Callable[[Any], Any]
    default: Any
    doc: str


# section -> key -> Key. The single source of scenario keys, defaults and ranges.
SCHEMA: dict[str, dict[str, Key]] = {
    "scenario": {
        "name": Key(
            text,
            DERIVED,
            "name of result folders and report titles (default: file name)",
        ),
        "description": Key(text, "", "free text shown in reports"),
        "months": Key(int_at_least(1), 120, "horizon; one step = one month"),
        "replicates": Key(int_at_least(1), 10, "runs per parameter point"),
        "seed": Key(int_at_least(0), REQUIRED, "master seed; run seeds are spawned from it"),
        "ladder": Key(text, DEFAULT_LADDER, "built-in ladder name, or inline [[rungs]] tables"),
        "engine": Key(one_of(*ENGINES), "population", "simulation engine"),
    },
    "market": {
        "size": Key(int_at_least(0), 10000, "people in the market"),
        "initial_customers": Key(int_at_least(0), DERIVED, "customers at month 0 (default size/2)"),
        "standard": Key(quality, 6.5, "quality the market considers normal, 0-10"),
        "network": Key(lambda v: v, "well_mixed", "'well_mixed' or {generator = ..., ...}"),
    },
    "customers": {
        "expectation_mean": Key(quality, 6.0, "mean initial expectation, 0-10"),
        "expectation_sd": Key(nonneg, 1.0, "sd of initial expectation"),
        "tolerance": Key(nonneg, 1.5, "half-width of the zone of tolerance"),
        "adapt_rate": Key(prob, 0.3, "lambda: weight of the latest experience"),
        "market_pull": Key(prob, 0.05, "kappa: pull towards the market standard"),
        "contact_prob": Key(prob, 0.5, "monthly chance of a service interaction"),
    },
    "churn": {
        "rule": Key(one_of(*CHURN_RULES), "fixed", "what a bad experience does"),
        "leave_prob": Key(prob, 0.91, "fixed: chance to leave after a bad experience"),
        "complain_prob": Key(prob, 0.037, "tarp: chance a bad experience is reported"),
        "tarp_stay": Key(tarp_table, (0.09, 0.19, 0.54, 0.82), "tarp: chance to stay, by case"),
        "strikes": Key(int_at_least(1), 3, "strikes: bad experiences that make a customer leave"),
        "window_months": Key(int_at_least(1), 12, "strikes: months the strikes must fall within"),
        "base_prob": Key(prob, 0.005, "monthly attrition unrelated to service"),
        "base_polarization": Key(
            polarization,
            0.0,
            "phi in [0, 1): spread of people's own attrition chances (Beta, mean base_prob)",
        ),
        "leavers_return_after": Key(
            int_at_least(-1),
            12,
            "months a leaver is away before being a prospect; -1 = never",
        ),
        "switch_prob": Key(prob, 0.0, "chance a leaver joins a competitor at once"),
    },
    "referrals": {
        "refer_prob": Key(prob, 0.25, "chance a delighted customer refers someone that month"),
        "conversion": Key(prob, 0.2, "chance a referred prospect joins the referrer's firm"),
        "negative_reach": Key(int_at_least(0), 0, "people told by a customer leaving unhappy"),
        "negative_months": Key(int_at_least(0), 12, "months a told prospect is closed to the firm"),
    },
    "acquisition": {
        "prob": Key(prob, 0.01, "monthly chance a prospect joins some firm through marketing"),
        "rung_weight": Key(finite, 0.5, "logit weight on the recognised rung index"),
        "cost": Key(nonneg, 50.0, "cost per customer won by marketing"),
    },
    "finance": {
        "discount_rate": Key(nonneg, 0.01, "monthly discount rate"),
    },
}

FIRM_SCHEMA: dict[str, Key] = {
    "name": Key(text, REQUIRED, "unique firm name"),
    "service_level": Key(text, None, "rung id delivered by every department"),
    "monthly_fee": Key(nonneg, 30.0, "revenue per customer-month"),
    "departments": Key(lambda v: v, None, "{department = rung id, ...}"),
    "department_weights": Key(lambda v: v, None, "{department = weight, ...}; equal by default"),
    "share": Key(nonneg, 1.0, "relative share of the initial customers"),
    "recognised_start": Key(text, None, "rung id recognised at month 0 (default: delivered)"),
    "schedule": Key(lambda v: v, (), "[{month = M, service_level = ... | departments = {...}}]"),
    "contact_centre": Key(
        lambda v: v, None, "[firms.contact_centre] table (see below); none by default"
    ),
    "inventory": Key(lambda v: v, None, "[firms.inventory] table (see below); none by default"),
}
# [firms.contact_centre]: the firm's contact centre, an M/M/c (Erlang C) queue every interaction
# goes through (docs/model.md, section 7.2).
CONTACT_CENTRE_SCHEMA: dict[str, Key] = {
    "agents": Key(int_at_least(1), REQUIRED, "agents answering calls (whole number >= 1)"),
    "aht_seconds": Key(positive, REQUIRED, "average handling time of a call, seconds"),
    "target_seconds": Key(nonneg, 20.0, "answer-time target of the service level, seconds"),
    "open_hours_per_month": Key(positive, REQUIRED, "hours the centre is open in a month"),
    "cost_per_agent_month": Key(nonneg, REQUIRED, "staffing cost per agent and month"),
    "patience_seconds": Key(
        positive, REQUIRED, "wait beyond which a call is a bad experience, seconds"
    ),
}
# [firms.inventory]: either a fill rate, or the reorder-point policy it follows from.
INVENTORY_SCHEMA: dict[str, Key] = {
    "fill_rate": Key(prob, None, "share of interactions that meet no stock-out, 0-1"),
    "demand_mean": Key(nonneg, None, "mean demand per period, units"),
    "demand_sd": Key(nonneg, None, "sd of demand per period, units"),
    "lead_time": Key(positive, None, "replenishment lead time, periods"),
    "reorder_point": Key(finite, None, "inventory position that triggers an order, units"),
    "order_quantity": Key(positive, None, "units per replenishment order"),
}
REORDER_POLICY_KEYS = tuple(k for k in INVENTORY_SCHEMA if k != "fill_rate")
SCHEDULE_KEYS = ("month", "service_level", "departments")
RUNG_CHECKS: dict[str, Callable[[Any], Any]] = {
    "id": text,
    "label": text,
    "quality_mean": quality,
    "quality_sd": nonneg,
    "resolve_prob": prob,
    "quick_resolve_prob": prob,
    "cost_per_customer": nonneg,
    "sustain_months": int_at_least(0),
}
# [calibration] (data, keys to fit, holdout, trials) is read by `sim.calibrate`; running a
# scenario ignores it.
TOP_LEVEL = (*SCHEMA, "firms", "rungs", "sweep", "calibration")


# --------------------------------------------------------------------------------------------
# The frozen result.


def _section_class(section: str) -> type:
    cls = dataclasses.make_dataclass(section.capitalize(), list(SCHEMA[section]), frozen=True)
    cls.__module__ = __name__
    return cls


Market = _section_class("market")
Customers = _section_class("customers")
Churn = _section_class("churn")
Referrals = _section_class("referrals")
Acquisition = _section_class("acquisition")
Finance = _section_class("finance")
_SECTION_CLASSES = {
    "market": Market,
    "customers": Customers,
    "churn": Churn,
    "referrals": Referrals,
    "acquisition": Acquisition,
    "finance": Finance,
}


@dataclass(frozen=True)
class ScheduleEntry:
    """From `month` on, the named departments deliver the given rungs (others unchanged)."""

    month: int
    departments: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ContactCentre:
    """A firm's contact centre (``[firms.contact_centre]``): every interaction is a call to it.

    Attributes:
        agents: agents answering calls (>= 1), the same every month.
        aht_seconds: average handling time of a call, seconds (> 0).
        target_seconds: answer-time target of the reported service level, seconds (>= 0).
        open_hours_per_month: hours the centre is open in a month (> 0); the month's calls
            arrive evenly over them.
        cost_per_agent_month: staffing cost per agent and month, currency (>= 0).
        patience_seconds: a call that waits longer than this is a bad experience, seconds (> 0).
    """

    agents: int
    aht_seconds: float
    target_seconds: float
    open_hours_per_month: float
    cost_per_agent_month: float
    patience_seconds: float

    @property
    def staffing_cost(self) -> float:
        """Staffing cost per month: ``agents x cost_per_agent_month``."""
        return self.agents * self.cost_per_agent_month


@dataclass(frozen=True)
class Inventory:
    """A firm's stock (``[firms.inventory]``): an interaction meets a stock-out with 1 - fill rate.

    Attributes:
        fill_rate: share of interactions that meet no stock-out, 0-1; given, or computed once
            from the reorder-point policy with `sim.operations.fill_rate`.
        policy: the reorder-point keys as given (``demand_mean``, ``demand_sd``, ``lead_time``,
            ``reorder_point``, ``order_quantity``, in that order), or empty when the fill rate
            was given directly.
    """

    fill_rate: float
    policy: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, float]:
        """The ``[firms.inventory]`` table as given (a fill rate, or the policy)."""
        return dict(self.policy) if self.policy else {"fill_rate": self.fill_rate}


@dataclass(frozen=True)
class Firm:
    """A firm as configured. Department rungs are rung ids; weights are normalised to sum 1.

    ``contact_centre`` and ``inventory`` are None for a firm without them (no queue, no
    stock-outs).
    """

    name: str
    monthly_fee: float
    departments: tuple[tuple[str, str], ...]
    department_weights: tuple[float, ...]
    share: float
    recognised_start: str
    schedule: tuple[ScheduleEntry, ...]
    uses_departments: bool
    contact_centre: ContactCentre | None = None
    inventory: Inventory | None = None

    @property
    def department_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.departments)

    def rungs_at(self, month: int) -> tuple[str, ...]:
        """Rung id of each department (in `department_names` order) in the given month."""
        current = dict(self.departments)
        for entry in self.schedule:
            if entry.month <= month:
                current.update(entry.departments)
        return tuple(current[name] for name in self.department_names)


@dataclass(frozen=True)
class Sweep:
    """The points of a sweep: a full-factorial grid, or a Latin hypercube sample.

    ``design = "grid"``: each key takes each of its values (``parameters`` holds the values).
    ``design = "latin_hypercube"``: ``samples`` points, each key drawn from its ``[low, high]``
    range (``parameters`` holds the range) by `scipy.stats.qmc.LatinHypercube`, seeded from
    ``seed`` (the scenario's seed); a range of two whole numbers gives whole numbers.

    ``seeds`` (one of `SWEEP_SEEDS`): ``"common"`` (the default) runs replicate r of every point
    with the same seed, ``"independent"`` gives every run its own (`sim.runner.replicate_seeds`).

    ``base`` is the scenario document as given (after overrides, before defaults, without the
    ``[sweep]`` table). Each point is built from it, so a default derived from a swept key (a
    firm's ``recognised_start``, ``market.initial_customers``) is derived again at every point,
    exactly as when the point's values are written into the file.
    """

    design: str
    parameters: tuple[tuple[str, tuple[Any, ...]], ...]
    samples: int | None = None
    seed: int = 0
    seeds: str = "common"
    base: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.parameters)

    def points(self) -> list[dict[str, Any]]:
        """Every point, in a fixed order: for a grid, first key varying slowest."""
        if self.design == "latin_hypercube":
            return self._latin_hypercube()
        values = [v for _, v in self.parameters]
        return [dict(zip(self.keys, combo, strict=True)) for combo in itertools.product(*values)]

    def scenario_at(self, values: Mapping[str, Any], parent: Scenario) -> Scenario:
        """The validated scenario of one point (no sweep); raises ScenarioError.

        Args:
            values: the point's swept values (dotted keys).
            parent: the scenario this sweep belongs to (for its name and source).
        """
        if self.base is None:
            return parent.with_values(values)
        point = load_scenario(self.base, overrides=values, source_name=parent.source)
        return dataclasses.replace(point, name=parent.name, source=parent.source)

    def _latin_hypercube(self) -> list[dict[str, Any]]:
        from scipy.stats import qmc

        # The root SeedSequence itself; run seeds are its spawned children, so they never meet.
        rng = np.random.default_rng(np.random.SeedSequence(self.seed))
        unit = qmc.LatinHypercube(d=len(self.parameters), rng=rng).random(self.samples or 0)
        points = []
        for row in unit:
            point: dict[str, Any] = {}
            for u, (key, (low, high)) in zip(row, self.parameters, strict=True):
                if _is_whole_range(low, high):  # equal strata over low..high, both included
                    point[key] = min(int(low + math.floor(u * (high - low + 1))), high)
                else:
                    point[key] = float(low + u * (high - low))
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


def _is_whole_range(low: Any, high: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build with `load_scenario`; never mutate (it is frozen).

    Attributes:
        name, description: from ``[scenario]``; name results folders and reports.
        months: the horizon (one step = one month).
        replicates: runs per sweep point.
        seed: the master seed the run seeds are spawned from (`sim.runner.replicate_seeds`).
        engine: ``"population"`` or ``"agents"``.
        ladder: the service `Ladder`.
        market, customers, churn, referrals, acquisition, finance: the sections, as frozen
            dataclasses with one attribute per key (docs/model.md lists them).
        firms: one `Firm` per ``[[firms]]`` table, in file order.
        sweep: the `Sweep` of ``[sweep]``, or None.
        source: the file (or "scenario") it was read from, for messages.
        derived: dotted keys whose value was derived from other keys (`to_dict` leaves them out).
        firm_names: the firms' names, in order.
    """

    name: str
    description: str
    months: int
    replicates: int
    seed: int
    engine: str
    ladder: Ladder
    market: Any
    customers: Any
    churn: Any
    referrals: Any
    acquisition: Any
    finance: Any
    firms: tuple[Firm, ...]
    sweep: Sweep | None = None
    source: str = dataclasses.field(default="", compare=False)
    # Dotted keys whose value was derived from other keys because the input left them out
    # (``market.initial_customers``, ``firms.<i>.recognised_start``): `to_dict` leaves them out
    # too, so a point built from it derives them again from its own values (docs/model.md D71).
    derived: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)

    @property
    def firm_names(self) -> tuple[str, ...]:
        """The firms' names, in scenario order."""
        return tuple(f.name for f in self.firms)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain TOML/JSON-able data; `load_scenario` of it is equal.

        Defaults derived from other keys (`derived`) are left out, so that setting a key in the
        result (a sweep's point, an override) derives them again, as in the original input.
        """
        out: dict[str, Any] = {
            "scenario": {
                "name": self.name,
                "description": self.description,
                "months": self.months,
                "replicates": self.replicates,
                "seed": self.seed,
                "engine": self.engine,
            }
        }
        if self.ladder.name in BUILTIN_LADDERS and BUILTIN_LADDERS[self.ladder.name] == self.ladder:
            out["scenario"]["ladder"] = self.ladder.name
        else:
            out["rungs"] = self.ladder.to_records()
        for section in _SECTION_CLASSES:
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {
                k: _plain(v) for k, v in values.items() if f"{section}.{k}" not in self.derived
            }
        out["firms"] = [_firm_to_dict(f) for f in self.firms]
        for i, firm in enumerate(out["firms"]):
            if f"firms.{i}.recognised_start" in self.derived:
                del firm["recognised_start"]
        if self.sweep is not None:
            out["sweep"] = self.sweep.to_dict()
        return out

    def with_values(self, values: Mapping[str, Any]) -> Scenario:
        """A new validated scenario with dotted keys set (no sweep); raises ScenarioError."""
        doc = self.to_dict()
        doc.pop("sweep", None)
        return load_scenario(doc, overrides=values, source_name=self.source)

    def points(self) -> list[tuple[dict[str, Any], Scenario]]:
        """The sweep's points as (swept values, validated scenario); one point if no sweep."""
        if self.sweep is None:
            return [({}, self)]
        return [(values, self.sweep.scenario_at(values, self)) for values in self.sweep.points()]


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _firm_to_dict(firm: Firm) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": firm.name,
        "monthly_fee": firm.monthly_fee,
        "share": firm.share,
    }
    if firm.uses_departments:
        d["departments"] = dict(firm.departments)
        d["department_weights"] = dict(
            zip(firm.department_names, firm.department_weights, strict=True)
        )
    else:
        d["service_level"] = firm.departments[0][1]
    d["recognised_start"] = firm.recognised_start
    d["schedule"] = [
        {"month": e.month, "departments": dict(e.departments)}
        if firm.uses_departments
        else {"month": e.month, "service_level": e.departments[0][1]}
        for e in firm.schedule
    ]
    if firm.contact_centre is not None:
        d["contact_centre"] = dataclasses.asdict(firm.contact_centre)
    if firm.inventory is not None:
        d["inventory"] = firm.inventory.to_dict()
    return d


# --------------------------------------------------------------------------------------------
# Loading.


def load_scenario(
    src: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | list[str] | None = None,
    *,
    source_name: str | None = None,
) -> Scenario:
    """Read, complete and validate a scenario.

    Args:
        src: a TOML file path, or a dict shaped like one.
        overrides: dotted keys to set before validation, as a mapping
            (``{"churn.leave_prob": 0.5, "firms.0.service_level": "excellent"}``) or as a list of
            ``"key=value"`` strings (values parsed as TOML, typed by the schema).
        source_name: what to call the source in error messages (default: the path, or "scenario").

    Raises:
        ScenarioError: naming the source, the key and what is allowed.
        TypeError: ``overrides`` is one string instead of a list of them.
    """
    if isinstance(overrides, str | bytes):
        raise TypeError(
            f"overrides must be a list of 'key=value' strings or a mapping, got one string "
            f"{overrides!r}: write [{overrides!r}]"
        )
    if isinstance(src, Mapping):
        name = source_name or "scenario"
        doc = copy.deepcopy(dict(src))
        default_name = "scenario"
    else:
        path = Path(src)
        name = source_name or str(src)
        doc = read_toml(path, name)
        default_name = path.stem
    if overrides:
        pairs = (
            [parse_override(item, name) for item in overrides]
            if isinstance(overrides, list)
            else list(overrides.items())
        )
        for key, value in pairs:
            _set_dotted(doc, key, value, name)
    return _Validator(name).scenario(doc, default_name)


def read_toml(path: Path, name: str) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a ScenarioError."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(name, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(name, "", "is a directory, not a scenario file") from None
    except PermissionError:
        raise ScenarioError(name, "", "cannot be read (permission denied)") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(name, "", f"TOML syntax error: {err}") from None
    except UnicodeDecodeError:
        raise ScenarioError(name, "", "is not UTF-8 text") from None


def parse_override(item: str, source: str = "--set") -> tuple[str, Any]:
    """Split ``"key=value"``; the value is TOML unless the schema says the key is a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(source, item, "an override must look like key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string such as tarp or world_class
    if _expects_text(key) and not isinstance(value, str):
        value = raw
    return key, value


def _expects_text(key: str) -> bool:
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in SCHEMA and parts[1] in SCHEMA[parts[0]]:
        return SCHEMA[parts[0]][parts[1]].check in (text,) or parts[1] in (
            "rule",
            "engine",
        )
    if parts[0] == "firms" and len(parts) >= 3:
        return parts[2] in ("name", "service_level", "recognised_start") or (
            parts[2] == "departments" and len(parts) == 4
        )
    return False


def _set_dotted(doc: dict[str, Any], key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = node[_list_index(part, node, here, source)]
            continue
        if part not in node:
            if i == 0 and part not in TOP_LEVEL:
                raise ScenarioError(source, key, _unknown(part, TOP_LEVEL))
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict | list):
            raise ScenarioError(source, key, f"{here} is not a table")
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(last, node, key, source)] = value
    else:
        node[last] = value


def _list_index(part: str, node: list, key: str, source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(source, key, f"index must be 0..{len(node) - 1}, got {part!r}")
    return int(part)


def _unknown(key: str, allowed: Any) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}"


class _Validator:
    """Fills defaults and checks one raw document; raises ScenarioError at the first problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, problem: str) -> None:
        raise ScenarioError(self.source, key, problem)

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {value!r}")
        return value

    def check(self, check: Callable[[Any], Any], value: Any, key: str) -> Any:
        try:
            return check(value)
        except _Bad as bad:
            self.fail(key, str(bad))

    def keys(self, table: dict[str, Any], allowed: Any, prefix: str) -> None:
        for k in table:
            if k not in allowed:
                self.fail(f"{prefix}{k}", _unknown(k, allowed))

    def scenario(self, doc: Any, default_name: str) -> Scenario:
        doc = self.table(doc, "")
        self.keys(doc, TOP_LEVEL, "")
        sections = {}
        for section, keys in SCHEMA.items():
            sections[section] = self.checked_table(doc.get(section, {}), keys, section)
        head = sections.pop("scenario")
        ladder = self.ladder(
            head, doc.get("rungs"), "scenario" in doc and "ladder" in doc["scenario"]
        )
        market = sections["market"]
        derived = set()
        if market["initial_customers"] is DERIVED:
            market["initial_customers"] = market["size"] // 2
            derived.add("market.initial_customers")
        if market["initial_customers"] > market["size"]:
            self.fail(
                "market.initial_customers",
                f"must be at most market.size ({market['size']}), got {market['initial_customers']}",
            )
        market["network"] = self.network(market["network"], market["size"])
        firms = self.firms(doc.get("firms"), ladder)
        if market["initial_customers"] > 0 and sum(f.share for f in firms) <= 0:
            self.fail(
                "firms.share",
                "at least one firm needs a share > 0 to hold initial customers",
            )
        name = default_name if head["name"] is DERIVED else head["name"]
        derived.update(
            f"firms.{i}.recognised_start"
            for i, raw in enumerate(doc["firms"])
            if raw.get("recognised_start") is None
        )
        return Scenario(
            name=name,
            description=head["description"],
            months=head["months"],
            replicates=head["replicates"],
            seed=head["seed"],
            engine=head["engine"],
            ladder=ladder,
            firms=firms,
            sweep=self.sweep(doc.get("sweep"), doc),
            source=self.source,
            derived=frozenset(derived),
            **{s: _SECTION_CLASSES[s](**sections[s]) for s in _SECTION_CLASSES},
        )

    def ladder(self, head: dict[str, Any], rungs: Any, ladder_named: bool) -> Ladder:
        if rungs is None:
            if head["ladder"] not in BUILTIN_LADDERS:
                self.fail("scenario.ladder", _unknown(head["ladder"], BUILTIN_LADDERS))
            return get_ladder(head["ladder"])
        if ladder_named:
            self.fail("rungs", "give either scenario.ladder or inline [[rungs]], not both")
        if not isinstance(rungs, list) or not rungs:
            self.fail("rungs", "must be a non-empty array of [[rungs]] tables")
        out = []
        for i, raw in enumerate(rungs):
            raw = self.table(raw, f"rungs.{i}")
            self.keys(raw, RUNG_FIELDS, f"rungs.{i}.")
            values = {}
            for field in RUNG_FIELDS:
                if field not in raw:
                    if field == "label" and "id" in raw:
                        values[field] = str(raw["id"]).replace("_", " ").capitalize()
                        continue
                    self.fail(f"rungs.{i}.{field}", "is required")
                values[field] = self.check(RUNG_CHECKS[field], raw[field], f"rungs.{i}.{field}")
            out.append(Rung(**values))
        ids = [r.id for r in out]
        if len(set(ids)) != len(ids):
            self.fail("rungs", f"rung ids must be unique, got {ids}")
        return Ladder("inline", tuple(out))

    def network(self, value: Any, size: int) -> Any:
        key = "market.network"
        if value == "well_mixed":
            return value
        if not isinstance(value, dict):
            self.fail(
                key,
                f"must be 'well_mixed' or a table {{generator = ...}}, got {value!r}",
            )
        gen = value.get("generator")
        if gen not in NETWORK_GENERATORS:
            self.fail(
                f"{key}.generator",
                f"must be one of {', '.join(NETWORK_GENERATORS)}, got {gen!r}",
            )
        args = NETWORK_GENERATORS[gen]
        self.keys(value, ("generator", *args), f"{key}.")
        out: dict[str, Any] = {"generator": gen}
        for arg, check in args.items():
            if arg not in value:
                self.fail(f"{key}.{arg}", f"is required for {gen}")
            out[arg] = self.check(_CHECKS[check], value[arg], f"{key}.{arg}")
        degree = out.get("k", out.get("m"))
        if degree is not None and size > 0 and degree >= size:
            self.fail(
                f"{key}.{'k' if 'k' in out else 'm'}",
                f"must be below market.size ({size})",
            )
        return out

    def rung_id(self, value: Any, ladder: Ladder, key: str) -> str:
        if value not in ladder.ids:
            self.fail(
                key,
                f"must be a rung of the {ladder.name!r} ladder: {', '.join(ladder.ids)}; got {value!r}",
            )
        return value

    def firms(self, raw: Any, ladder: Ladder) -> tuple[Firm, ...]:
        if raw is None:
            self.fail("firms", "at least one [[firms]] table is required")
        if not isinstance(raw, list) or not raw:
            self.fail("firms", "must be a non-empty array of [[firms]] tables")
        firms = [self.firm(f, i, ladder) for i, f in enumerate(raw)]
        names = [f.name for f in firms]
        if len(set(names)) != len(names):
            self.fail("firms", f"firm names must be unique, got {names}")
        return tuple(firms)

    def firm(self, raw: Any, i: int, ladder: Ladder) -> Firm:
        p = f"firms.{i}"
        v = self.checked_table(raw, FIRM_SCHEMA, p)
        if (v["service_level"] is None) == (v["departments"] is None):
            self.fail(p, "give exactly one of service_level or departments")
        uses_departments = v["departments"] is not None
        if uses_departments:
            deps = self.table(v["departments"], f"{p}.departments")
            if not deps:
                self.fail(f"{p}.departments", "must name at least one department")
            departments = tuple(
                (str(d), self.rung_id(r, ladder, f"{p}.departments.{d}")) for d, r in deps.items()
            )
        else:
            departments = (
                (
                    SINGLE_DEPARTMENT,
                    self.rung_id(v["service_level"], ladder, f"{p}.service_level"),
                ),
            )
        names = [d for d, _ in departments]
        weights = self.weights(v["department_weights"], names, uses_departments, p)
        schedule = self.schedule(v["schedule"], names, uses_departments, ladder, p)
        firm = Firm(
            name=v["name"],
            monthly_fee=v["monthly_fee"],
            departments=departments,
            department_weights=weights,
            share=v["share"],
            recognised_start="",
            schedule=schedule,
            uses_departments=uses_departments,
            contact_centre=self.contact_centre(v["contact_centre"], f"{p}.contact_centre"),
            inventory=self.inventory(v["inventory"], f"{p}.inventory"),
        )
        if v["recognised_start"] is None:
            start = ladder.ids[min(ladder.index(r) for r in firm.rungs_at(0))]
        else:
            start = self.rung_id(v["recognised_start"], ladder, f"{p}.recognised_start")
        return dataclasses.replace(firm, recognised_start=start)

    def checked_table(self, raw: Any, schema: dict[str, Key], key: str) -> dict[str, Any]:
        """Check a table (a section, a firm, a firm's sub-table) against its schema.

        Unknown keys are refused, each value is checked, a missing required key is reported and
        any other missing key takes its default.
        """
        raw = self.table(raw, key)
        self.keys(raw, schema, f"{key}.")
        values = {}
        for k, spec in schema.items():
            if k in raw:
                values[k] = self.check(spec.check, raw[k], f"{key}.{k}")
            elif spec.default is REQUIRED:
                self.fail(f"{key}.{k}", "is required")
            else:
                values[k] = spec.default
        return values

    def contact_centre(self, raw: Any, key: str) -> ContactCentre | None:
        if raw is None:
            return None
        return ContactCentre(**self.checked_table(raw, CONTACT_CENTRE_SCHEMA, key))

    def inventory(self, raw: Any, key: str) -> Inventory | None:
        if raw is None:
            return None
        v = self.checked_table(raw, INVENTORY_SCHEMA, key)
        given = [k for k in REORDER_POLICY_KEYS if v[k] is not None]
        if v["fill_rate"] is not None:
            if given:
                self.fail(
                    key,
                    "give either fill_rate or the reorder-point policy "
                    f"({', '.join(REORDER_POLICY_KEYS)}), not both",
                )
            return Inventory(v["fill_rate"])
        missing = [k for k in REORDER_POLICY_KEYS if v[k] is None]
        if len(missing) == len(REORDER_POLICY_KEYS):
            self.fail(
                key,
                f"give fill_rate (0-1) or every key of the reorder-point policy: "
                f"{', '.join(REORDER_POLICY_KEYS)}",
            )
        if missing:
            self.fail(
                f"{key}.{missing[0]}",
                f"is required with a reorder-point policy (missing: {', '.join(missing)}; or "
                "give fill_rate alone)",
            )
        policy = tuple((k, float(v[k])) for k in REORDER_POLICY_KEYS)
        return Inventory(fill_rate(**dict(policy)), policy)

    def weights(
        self, raw: Any, names: list[str], uses_departments: bool, p: str
    ) -> tuple[float, ...]:
        key = f"{p}.department_weights"
        if raw is None:
            return tuple(1.0 / len(names) for _ in names)
        if not uses_departments:
            self.fail(key, "only goes with departments")
        raw = self.table(raw, key)
        self.keys(raw, names, f"{key}.")
        missing = [n for n in names if n not in raw]
        if missing:
            self.fail(key, f"give a weight for every department (missing: {', '.join(missing)})")
        w = [self.check(nonneg, raw[n], f"{key}.{n}") for n in names]
        if sum(w) <= 0:
            self.fail(key, "at least one weight must be > 0")
        return tuple(x / sum(w) for x in w)

    def schedule(
        self,
        raw: Any,
        names: list[str],
        uses_departments: bool,
        ladder: Ladder,
        p: str,
    ) -> tuple[ScheduleEntry, ...]:
        if not isinstance(raw, list | tuple):
            self.fail(f"{p}.schedule", "must be an array of {month = ..., ...} tables")
        entries = []
        for j, e in enumerate(raw):
            q = f"{p}.schedule.{j}"
            e = self.table(e, q)
            self.keys(e, SCHEDULE_KEYS, f"{q}.")
            if "month" not in e:
                self.fail(f"{q}.month", "is required")
            month = self.check(int_at_least(0), e["month"], f"{q}.month")
            if ("service_level" in e) == ("departments" in e):
                self.fail(q, "give exactly one of service_level or departments")
            if "service_level" in e:
                rung = self.rung_id(e["service_level"], ladder, f"{q}.service_level")
                changes = tuple((n, rung) for n in names)
            else:
                if not uses_departments:
                    self.fail(
                        f"{q}.departments",
                        "this firm has no departments; use service_level",
                    )
                deps = self.table(e["departments"], f"{q}.departments")
                self.keys(deps, names, f"{q}.departments.")
                changes = tuple(
                    (d, self.rung_id(r, ladder, f"{q}.departments.{d}")) for d, r in deps.items()
                )
            entries.append(ScheduleEntry(month, changes))
        months_seen = [e.month for e in entries]
        if months_seen != sorted(months_seen):
            self.fail(
                f"{p}.schedule",
                f"entries must be in month order, got months {months_seen}",
            )
        return tuple(entries)

    def sweep(self, raw: Any, doc: dict[str, Any]) -> Sweep | None:
        if raw is None:
            return None
        raw = self.table(raw, "sweep")
        design = raw.get("design", "grid")
        if design not in SWEEP_DESIGNS:
            self.fail(
                "sweep.design",
                f"must be one of {', '.join(SWEEP_DESIGNS)}, got {design!r}",
            )
        hypercube = design == "latin_hypercube"
        samples = None
        if hypercube:
            if "samples" not in raw:
                self.fail("sweep.samples", 'is required with design = "latin_hypercube"')
            samples = self.check(int_at_least(1), raw["samples"], "sweep.samples")
        elif "samples" in raw:
            self.fail("sweep.samples", 'only goes with design = "latin_hypercube"')
        seeds = raw.get("seeds", "common")
        if seeds not in SWEEP_SEEDS:
            self.fail("sweep.seeds", f"must be one of {', '.join(SWEEP_SEEDS)}, got {seeds!r}")
        params = []
        for key, values in raw.items():
            if key in ("design", "samples", "seeds"):
                continue
            if key in UNSWEEPABLE:
                self.fail(f"sweep.{key}", "cannot be swept (set it in the scenario instead)")
            if hypercube:
                ok = (
                    isinstance(values, list)
                    and len(values) == 2
                    and all(_is_number(v) and math.isfinite(v) for v in values)
                )
                if not ok:
                    self.fail(
                        f"sweep.{key}",
                        'with design = "latin_hypercube", must be a [low, high] range of '
                        f"numbers, got {values!r}",
                    )
                if values[0] > values[1]:
                    self.fail(f"sweep.{key}", f"low must not exceed high, got {values!r}")
            elif not isinstance(values, list) or not values:
                self.fail(
                    f"sweep.{key}",
                    f"must be a non-empty list of values, got {values!r}",
                )
            else:
                repeated = [v for i, v in enumerate(values) if v in values[:i]]
                if repeated:
                    self.fail(
                        f"sweep.{key}",
                        f"values must be distinct, got {values!r} ({repeated[0]!r} repeated)",
                    )
            params.append((key, tuple(values)))
        if not params:
            self.fail("sweep", "names no keys to sweep")
        seed = doc.get("scenario", {}).get("seed", 0)  # validated before the sweep is read
        base = copy.deepcopy({k: v for k, v in doc.items() if k != "sweep"})
        sweep = Sweep(design, tuple(params), samples=samples, seed=seed, seeds=seeds, base=base)
        for values in sweep.points():  # every point must validate before any run starts
            try:
                load_scenario(base, overrides=values, source_name=self.source)
            except ScenarioError as err:
                swept = ", ".join(f"{k}={v!r}" for k, v in values.items())
                raise ScenarioError(
                    self.source, f"sweep ({swept}): {err.key}", err.problem
                ) from None
        return sweep


# --------------------------------------------------------------------------------------------
# Seeds.


def spawn_seeds(root_seed: int, n: int) -> list[int]:
    """`n` run seeds spawned from `root_seed`, in a fixed order.

    Each is a non-negative 63-bit integer; `simulate(seed=s)` reproduces a run from it alone.
    """
    children = np.random.SeedSequence(root_seed).spawn(n)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
