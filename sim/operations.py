"""Operational service levels: queueing (Erlang C) and stock-outs (reorder-point inventory).

"Service level" in the rest of the model is a rung on the service ladder; in operations it is also
a measurable figure. This module holds the pure operations-research formulas for two of them:

- a contact centre: the share of calls answered within a target time (the "80/20" of 80 % of
  calls answered within 20 seconds), from the Erlang C model of an M/M/c queue:
  `erlang_c`, `service_level`, `average_speed_of_answer`, `agents_needed`;
- a stock room: the share of replenishment cycles without a stock-out and the share of demand met
  from stock, for normally distributed demand under a reorder-point policy:
  `cycle_service_level`, `fill_rate` (with `standard_normal_loss`).

Everything here is a plain function of numbers: nothing runs or reads the model. The engines
call `queue_month` once per firm with a contact centre and month: from the month's calls it gives
the chance that a call waits past the customer's patience (a bad experience, step 2 of
docs/model.md) and the month's reported figures (answered within target, mean wait). The small
formulas it combines (offered traffic, the tail of the wait) are rules in `sim.rules`, shared with
nothing else; the scenario keys are in `sim.scenario` (`ContactCentre`, `Inventory`).

Erlang C is computed through the Erlang B recursion ``B(0) = 1``,
``B(k) = A B(k-1) / (k + A B(k-1))`` and ``C = n B / (n - A (1 - B))``: no factorials or powers,
so it is stable for thousands of agents.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Protocol, SupportsIndex, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sim import rules

__all__ = [
    "QueueMonth",
    "agents_needed",
    "average_speed_of_answer",
    "cycle_service_level",
    "erlang_c",
    "fill_rate",
    "queue_month",
    "service_level",
    "standard_normal_loss",
]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --- input checks -------------------------------------------------------------------------------


def _check_agents(agents: object) -> int:
    if isinstance(agents, bool) or not isinstance(agents, SupportsIndex):
        raise ValueError(f"agents must be a positive integer (1, 2, ...); got {agents!r}")
    try:
        n = operator.index(agents)  # int or numpy integer; refuses 13.0 and 13.5
    except TypeError:
        raise ValueError(f"agents must be a positive integer (1, 2, ...); got {agents!r}") from None
    if n < 1:
        raise ValueError(f"agents must be a positive integer (1, 2, ...); got {n}")
    return n


def _check_traffic(traffic_erlangs: ArrayLike) -> NDArray[np.float64]:
    try:
        a = np.asarray(traffic_erlangs, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"traffic_erlangs must be a number >= 0 (Erlangs); got {traffic_erlangs!r}"
        ) from None
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(
            f"traffic_erlangs must be finite and >= 0 (Erlangs); got {traffic_erlangs!r}"
        )
    return a


def _check_stable(a: NDArray[np.float64], n: int) -> None:
    if a.size and float(a.max()) >= n:
        worst = float(a.max())
        raise ValueError(
            f"with {n} agents and {worst:g} Erlangs of traffic the queue is unstable: calls "
            f"arrive at least as fast as they are answered; staff more than {worst:g} agents"
        )


def _check_real(name: str, value: object, *, low: float | None, strict: bool, unit: str) -> float:
    """A finite real number, optionally bounded below (``> low`` if strict, else ``>= low``)."""
    if low is None:
        allowed = f"a finite number ({unit})"
    else:
        allowed = f"a number {'>' if strict else '>='} {low:g} ({unit})"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}; got {value!r}") from None
    if not math.isfinite(x) or (low is not None and (x <= low if strict else x < low)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return x


def _as_output(x: NDArray[np.float64], like: NDArray[np.float64]) -> float | NDArray[np.float64]:
    return float(x) if like.ndim == 0 else x


# --- Erlang C -----------------------------------------------------------------------------------


def _erlang_c(a: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Erlang C for checked inputs (0 <= a < n, elementwise)."""
    b = np.ones_like(a)
    for k in range(1, n + 1):
        ab = a * b
        b = ab / (k + ab)
    return n * b / (n - a * (1.0 - b))


@overload
def erlang_c(traffic_erlangs: float, agents: int) -> float: ...
@overload
def erlang_c(traffic_erlangs: ArrayLike, agents: int) -> float | NDArray[np.float64]: ...
def erlang_c(traffic_erlangs: ArrayLike, agents: int) -> float | NDArray[np.float64]:
    """Probability that a call has to wait (Erlang C, the M/M/c queue).

    Args:
        traffic_erlangs: offered traffic ``A`` in Erlangs (arrival rate x average handling time,
            e.g. 100 calls per 30 minutes x 180 s = 10 Erlangs); ``>= 0``. A scalar or an array.
        agents: number of agents ``n``, a positive integer with ``n > A``.

    Returns:
        ``P(wait > 0)``, in [0, 1): a float for scalar traffic, else an array of its shape.

    Raises:
        ValueError: traffic negative or not finite, agents not a positive integer, or
            ``agents <= traffic`` (an unstable queue: the wait grows without bound).
    """
    n = _check_agents(agents)
    a = _check_traffic(traffic_erlangs)
    _check_stable(a, n)
    return _as_output(_erlang_c(a, n), a)


def service_level(
    traffic_erlangs: ArrayLike, agents: int, aht_seconds: float, target_seconds: float
) -> float | NDArray[np.float64]:
    """Share of calls answered within the target time (the "80/20" figure), Erlang C.

    ``P(wait <= t) = 1 - C exp(-(n - A) t / AHT)``.

    Args:
        traffic_erlangs: offered traffic ``A`` in Erlangs; ``>= 0``. A scalar or an array.
        agents: number of agents ``n``, a positive integer with ``n > A``.
        aht_seconds: average handling time in seconds; ``> 0``.
        target_seconds: the answer-time target in seconds; ``>= 0`` (0 gives the share answered
            at once, ``1 - C``).

    Returns:
        The share in [0, 1]: a float for scalar traffic, else an array.

    Raises:
        ValueError: an input out of range, or ``agents <= traffic`` (unstable queue).
    """
    n = _check_agents(agents)
    a = _check_traffic(traffic_erlangs)
    aht = _check_real("aht_seconds", aht_seconds, low=0.0, strict=True, unit="seconds")
    target = _check_real("target_seconds", target_seconds, low=0.0, strict=False, unit="seconds")
    _check_stable(a, n)
    c = _erlang_c(a, n)
    return _as_output(1.0 - c * np.exp(-(n - a) * target / aht), a)


def average_speed_of_answer(
    traffic_erlangs: ArrayLike, agents: int, aht_seconds: float
) -> float | NDArray[np.float64]:
    """Average time a call waits before it is answered (ASA), in seconds, Erlang C.

    ``ASA = C AHT / (n - A)``, averaged over all calls (those answered at once count as 0).

    Args:
        traffic_erlangs: offered traffic ``A`` in Erlangs; ``>= 0``. A scalar or an array.
        agents: number of agents ``n``, a positive integer with ``n > A``.
        aht_seconds: average handling time in seconds; ``> 0``.

    Returns:
        The mean wait in seconds: a float for scalar traffic, else an array.

    Raises:
        ValueError: an input out of range, or ``agents <= traffic`` (unstable queue).
    """
    n = _check_agents(agents)
    a = _check_traffic(traffic_erlangs)
    aht = _check_real("aht_seconds", aht_seconds, low=0.0, strict=True, unit="seconds")
    _check_stable(a, n)
    return _as_output(_erlang_c(a, n) * aht / (n - a), a)


def agents_needed(
    traffic_erlangs: float, aht_seconds: float, target_seconds: float, goal: float
) -> int:
    """Fewest agents whose service level meets the goal (e.g. 80 % answered within 20 s).

    The smallest integer ``n > A`` with ``service_level(A, n, aht, target) >= goal``; the Erlang B
    recursion is carried forward one agent at a time, so the search costs O(answer).

    Args:
        traffic_erlangs: offered traffic ``A`` in Erlangs; a scalar ``>= 0``.
        aht_seconds: average handling time in seconds; ``> 0``.
        target_seconds: the answer-time target in seconds; ``>= 0``.
        goal: the required share answered within the target, strictly between 0 and 1.

    Returns:
        The number of agents (at least 1).

    Raises:
        ValueError: an input out of range.
    """
    a = _check_traffic(traffic_erlangs)
    if a.ndim != 0:
        raise ValueError(f"traffic_erlangs must be a single number >= 0; got {traffic_erlangs!r}")
    a_ = float(a)
    aht = _check_real("aht_seconds", aht_seconds, low=0.0, strict=True, unit="seconds")
    target = _check_real("target_seconds", target_seconds, low=0.0, strict=False, unit="seconds")
    g = _check_real("goal", goal, low=0.0, strict=True, unit="a share")
    if not g < 1.0:
        raise ValueError(f"goal must be strictly between 0 and 1 (a share); got {goal!r}")

    b = 1.0  # Erlang B with k agents, carried forward
    k = 0
    while True:
        k += 1
        ab = a_ * b
        b = ab / (k + ab)
        if k <= a_:
            continue
        c = k * b / (k - a_ * (1.0 - b))
        if 1.0 - c * math.exp(-(k - a_) * target / aht) >= g:
            return k


# --- one month of a firm's contact centre -------------------------------------------------------


class QueueSpec(Protocol):
    """What `queue_month` reads of a contact centre (`sim.scenario.ContactCentre` has it)."""

    @property
    def agents(self) -> int: ...
    @property
    def aht_seconds(self) -> float: ...
    @property
    def target_seconds(self) -> float: ...
    @property
    def open_hours_per_month(self) -> float: ...
    @property
    def patience_seconds(self) -> float: ...


@dataclass(frozen=True)
class QueueMonth:
    """A contact centre's month, from its calls (Erlang C at the month's offered traffic).

    Attributes:
        calls: the month's calls (the firm's interactions).
        traffic_erlangs: offered traffic A, Erlangs.
        stable: whether ``A < agents``; if not, the queue is unstable (the wait grows without
            bound).
        late_prob: the chance a call waits longer than the customer's patience, 0-1 (1 when
            unstable, 0 without calls).
        answered_within_target: the share of the month's calls answered within the target time,
            0-1 (0 when unstable, NaN without calls).
        mean_wait_seconds: the mean wait before answer (ASA), seconds (NaN when unstable or
            without calls).
    """

    calls: int
    traffic_erlangs: float
    stable: bool
    late_prob: float
    answered_within_target: float
    mean_wait_seconds: float


def queue_month(calls: int, centre: QueueSpec) -> QueueMonth:
    """One month of a contact centre: its traffic and the Erlang C figures that follow.

    ``A = calls x aht / (open hours x 3600)`` (`sim.rules.offered_traffic`). With ``A < agents``:
    ``C = erlang_c(A, agents)``, the chance of waiting past the patience
    ``C exp(-(agents - A) patience / aht)`` (`sim.rules.late_probability`), the share answered
    within the target ``1 - C exp(-(agents - A) target / aht)`` and the mean wait
    ``C aht / (agents - A)``. With ``A >= agents`` the queue is unstable: every call waits past
    the patience, none is answered within the target and the mean wait is undefined (NaN).

    Args:
        calls: the month's calls (>= 0).
        centre: the contact centre (agents, aht_seconds, target_seconds, open_hours_per_month,
            patience_seconds).

    Returns:
        The month's `QueueMonth`.
    """
    n, aht = centre.agents, centre.aht_seconds
    traffic = float(rules.offered_traffic(calls, aht, centre.open_hours_per_month))
    if calls == 0:
        return QueueMonth(calls, traffic, True, 0.0, math.nan, math.nan)
    if not rules.queue_stable(traffic, n):
        return QueueMonth(calls, traffic, False, 1.0, 0.0, math.nan)
    c = float(erlang_c(traffic, n))
    late = float(rules.late_probability(c, traffic, n, aht, centre.patience_seconds))
    slow = float(rules.late_probability(c, traffic, n, aht, centre.target_seconds))
    return QueueMonth(
        calls=calls,
        traffic_erlangs=traffic,
        stable=True,
        late_prob=late,
        answered_within_target=1.0 - slow,
        mean_wait_seconds=c * aht / (n - traffic),
    )


# --- reorder-point inventory --------------------------------------------------------------------


def standard_normal_loss(z: float) -> float:
    """The standard normal loss function ``L(z) = E[(Z - z)+] = phi(z) - z (1 - Phi(z))``.

    Args:
        z: a standardised stock level (dimensionless).

    Returns:
        The expected shortfall of a standard normal beyond ``z`` (``>= 0``).
    """
    z = _check_real("z", z, low=None, strict=False, unit="standard deviations")
    upper_tail = 0.5 * math.erfc(z / _SQRT2)  # 1 - Phi(z), accurate in the far tail
    return max(_INV_SQRT_2PI * math.exp(-0.5 * z * z) - z * upper_tail, 0.0)


def _lead_time_demand(
    demand_mean: float, demand_sd: float, lead_time: float, reorder_point: float
) -> tuple[float, float, float]:
    mean = _check_real("demand_mean", demand_mean, low=0.0, strict=False, unit="units per period")
    sd = _check_real("demand_sd", demand_sd, low=0.0, strict=False, unit="units per period")
    lt = _check_real("lead_time", lead_time, low=0.0, strict=True, unit="periods")
    rop = _check_real("reorder_point", reorder_point, low=None, strict=False, unit="units")
    return mean * lt, sd * math.sqrt(lt), rop


def cycle_service_level(
    demand_mean: float, demand_sd: float, lead_time: float, reorder_point: float
) -> float:
    """Probability that a replenishment cycle ends without a stock-out (CSL).

    Demand per period is normal and independent between periods, so demand over the lead time is
    normal with mean ``demand_mean x lead_time`` and standard deviation
    ``demand_sd x sqrt(lead_time)``; a stock-out happens when it exceeds the reorder point:
    ``CSL = Phi((ROP - mean_L) / sd_L)``.

    Args:
        demand_mean: mean demand per period, in units; ``>= 0``.
        demand_sd: standard deviation of demand per period, in units; ``>= 0`` (0: demand is
            certain and CSL is 1 if the reorder point covers lead-time demand, else 0).
        lead_time: replenishment lead time, in periods; ``> 0``.
        reorder_point: inventory position (units) at which an order is placed.

    Returns:
        The cycle service level in [0, 1].

    Raises:
        ValueError: an input out of range.
    """
    mean_l, sd_l, rop = _lead_time_demand(demand_mean, demand_sd, lead_time, reorder_point)
    if sd_l == 0.0:
        return 1.0 if rop >= mean_l else 0.0
    z = (rop - mean_l) / sd_l
    return 0.5 * math.erfc(-z / _SQRT2)


def fill_rate(
    demand_mean: float,
    demand_sd: float,
    lead_time: float,
    reorder_point: float,
    order_quantity: float,
) -> float:
    """Share of demand met from stock (the product fill rate) under a reorder-point policy.

    Expected shortage per replenishment cycle ``ESC = sd_L L((ROP - mean_L) / sd_L)`` with ``L``
    the standard normal loss function; each cycle meets ``order_quantity`` units of demand, so
    ``fill rate = 1 - ESC / order_quantity`` (the textbook formula, e.g. Chopra and Meindl, with
    shortages backordered). Floored at 0 for reorder points so low that the formula would fall
    below it.

    Args:
        demand_mean: mean demand per period, in units; ``>= 0``.
        demand_sd: standard deviation of demand per period, in units; ``>= 0``.
        lead_time: replenishment lead time, in periods; ``> 0``.
        reorder_point: inventory position (units) at which an order is placed.
        order_quantity: units per replenishment order; ``> 0``.

    Returns:
        The fill rate in [0, 1].

    Raises:
        ValueError: an input out of range.
    """
    mean_l, sd_l, rop = _lead_time_demand(demand_mean, demand_sd, lead_time, reorder_point)
    q = _check_real("order_quantity", order_quantity, low=0.0, strict=True, unit="units")
    if sd_l == 0.0:
        shortage = max(mean_l - rop, 0.0)
    else:
        shortage = sd_l * standard_normal_loss((rop - mean_l) / sd_l)
    return max(1.0 - shortage / q, 0.0)
