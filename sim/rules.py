"""The monthly rules of MODEL.md as small pure functions.

Every function here is written with arithmetic and comparison operators only, so the same function
serves a Python float in the agent engine and a numpy array in the population engine: one source of
truth for the behaviour, two schedulers. Random draws, clipping and bookkeeping belong to the
engines; nothing here draws a random number or knows about agents, arrays or firms.

Codes used by both engines:

- experience outcome: ``BAD`` (0), ``MET`` (1), ``DELIGHTED`` (2);
- TARP case: 0 silent, 1 complained and unresolved, 2 resolved slowly, 3 resolved quickly (the
  index into ``churn.tarp_stay``);
- person status: ``CUSTOMER``, ``PROSPECT``, ``AWAY``, ``GONE``.

The operational rules at the end (a firm's contact-centre queue and stock-outs; step 2) take the
Erlang C probability of waiting as an argument: computing it (a recursion over agents) belongs to
`sim.operations`.
"""

from __future__ import annotations

import math
from typing import TypeVar

T = TypeVar("T")  # float, int, bool or a numpy array of them

BAD, MET, DELIGHTED = 0, 1, 2
CUSTOMER, PROSPECT, AWAY, GONE = 0, 1, 2, 3
STATUS_NAMES = {CUSTOMER: "customer", PROSPECT: "prospect", AWAY: "away", GONE: "gone"}


def experience_outcome(quality: T, expectation: T, tolerance: float) -> T:
    """Step 2: classify an experience against the zone of tolerance.

    Bad if ``quality < expectation - tolerance``, delighted if ``quality > expectation + tolerance``
    (both strict), otherwise met.

    Returns:
        ``BAD`` (0), ``MET`` (1) or ``DELIGHTED`` (2), elementwise.
    """
    return (quality >= expectation - tolerance) + (quality > expectation + tolerance) * 1


def tarp_case(complained: T, resolved: T, quick: T) -> T:
    """Step 3 (`tarp`): which ``tarp_stay`` entry applies.

    Args:
        complained: whether the bad experience was reported.
        resolved: whether the complaint was resolved (ignored if not complained).
        quick: whether the resolution was quick (ignored if not resolved).

    Returns:
        0 silent, 1 complained but unresolved, 2 resolved slowly, 3 resolved quickly.
    """
    return complained * (1 + resolved * (1 + quick * 1))


def strikes_reached(bad_in_window: T, strikes: int) -> T:
    """Step 3 (`strikes`): leave when the bad experiences in the window (this one included) reach
    ``strikes``."""
    return bad_in_window >= strikes


def in_window(bad_month: T, month: int, window_months: int) -> T:
    """Whether a bad experience of ``bad_month`` lies within the last ``window_months`` months of
    ``month`` (``month`` itself included)."""
    return bad_month > month - window_months


def move_toward(value: T, target: T, rate: float) -> T:
    """Step 5: exponential smoothing, ``value + rate * (target - value)``.

    Serves both adaptive expectations (target = experienced quality, rate = lambda) and the market
    pull (target = the reference quality, rate = kappa).
    """
    return value + rate * (target - value)


def market_reference(standard: float, best_quality: T) -> T:
    """Step 5: the quality a person compares with: the higher of the market standard and the best
    delivered quality among the firms that count for that person."""
    return standard + (best_quality > standard) * (best_quality - standard)


def choice_weight(rung_index: T, rung_weight: float) -> T:
    """Step 6: the unnormalised logit weight ``exp(rung_weight * rung_index)`` of a firm."""
    return math.e ** (rung_weight * rung_index)


def recognised_after(recognised: int, delivered: int, next_streak: int, next_sustain: int) -> int:
    """Step 8: the recognised rung at the end of a month.

    Drops to the delivered rung at once when delivery falls below it; otherwise rises one rung
    when the next rung up has been delivered (or bettered) for its ``sustain_months`` months in a
    row. ``next_streak``/``next_sustain`` describe the rung above ``recognised`` (when there is none,
    pass a streak of 0 and a sustain of 1, so that it never rises).
    """
    drop = delivered < recognised
    rise = (1 - drop) * (next_streak >= next_sustain) * (delivered > recognised)
    return recognised - drop * (recognised - delivered) + rise


def streak_after(streak: T, delivering: T) -> T:
    """Step 8: months in a row a rung has been delivered (or bettered): +1, or 0 when not."""
    return (streak + 1) * delivering


def discount_factor(month: T, rate: float) -> T:
    """Step 9: ``1 / (1 + rate) ** month``."""
    return (1.0 + rate) ** -month


def beta_parameters(mean: T, polarization: T) -> tuple[T, T]:
    """Setup (`churn.base_polarization`): the Beta(a, b) of people's own attrition chances.

    The mean is ``a / (a + b)`` and the polarization index of Fader & Hardie (2007) is
    ``phi = 1 / (a + b + 1)``, so ``a = m (1 - phi) / phi`` and ``b = (1 - m)(1 - phi) / phi``.

    Args:
        mean: m, the mean monthly attrition chance (``churn.base_prob``), strictly between 0 and 1.
        polarization: phi, strictly between 0 and 1 (0 would be everyone alike: no Beta at all).

    Returns:
        (a, b), both positive.
    """
    spread = (1 - polarization) / polarization
    return mean * spread, (1 - mean) * spread


def attrition_polarized(mean: float, polarization: float) -> bool:
    """Setup: whether people's own attrition chances are drawn from a Beta (docs/model.md D50).

    Only when ``polarization > 0`` and ``0 < mean < 1``; otherwise (a Beta with mean 0 or 1 is a
    point mass) everyone's chance is ``mean`` and no random number is drawn.
    """
    return polarization > 0 and 0 < mean < 1


def largest_remainder(total: int, shares: list[float]) -> list[int]:
    """Initialisation: split ``total`` people over firms in proportion to ``shares``.

    Each firm gets the floor of its quota; the people left over go one each to the largest
    remainders (ties to the earlier firm). The counts always add up to ``total``.
    """
    weight = sum(shares)
    if total == 0 or weight <= 0:
        return [0 for _ in shares]
    quotas = [total * s / weight for s in shares]
    counts = [int(q // 1) for q in quotas]
    order = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


SECONDS_PER_HOUR = 3600.0


def offered_traffic(calls: T, aht_seconds: float, open_hours_per_month: float) -> T:
    """Step 2 (contact centre): the month's offered traffic in Erlangs.

    The month's calls arrive evenly over the centre's open hours, so the traffic is the work they
    bring per second open: ``calls x aht_seconds / (open_hours_per_month x 3600)``.

    Args:
        calls: calls in the month (the firm's interactions), >= 0.
        aht_seconds: average handling time, seconds (> 0).
        open_hours_per_month: hours the centre is open in the month (> 0).

    Returns:
        The offered traffic A, in Erlangs (busy agents needed on average).
    """
    return calls * aht_seconds / (open_hours_per_month * SECONDS_PER_HOUR)


def queue_stable(traffic_erlangs: T, agents: int) -> T:
    """Step 2 (contact centre): whether an Erlang C queue settles, ``traffic < agents``.

    At or above it calls arrive at least as fast as the agents can answer them, and the wait
    grows without bound.
    """
    return traffic_erlangs < agents


def late_probability(
    wait_probability: T, traffic_erlangs: T, agents: int, aht_seconds: float, wait_seconds: float
) -> T:
    """Step 2 (contact centre): the chance a call waits longer than ``wait_seconds`` (Erlang C).

    ``P(wait > w) = C x e^(-(agents - traffic) w / aht)``, with ``C`` = P(wait > 0), the Erlang C
    probability of waiting. Valid for a stable queue (``traffic < agents``).

    Args:
        wait_probability: ``C``, the Erlang C probability that a call waits at all, 0-1.
        traffic_erlangs: offered traffic A, Erlangs (< agents).
        agents: agents answering calls.
        aht_seconds: average handling time, seconds (> 0).
        wait_seconds: the wait w, seconds (>= 0): the customer's patience, or the answer-time
            target (then ``1 - late_probability`` is the share answered within the target).

    Returns:
        ``P(wait > w)``, 0-1.
    """
    return wait_probability * math.e ** (-(agents - traffic_erlangs) * wait_seconds / aht_seconds)


def bad_after_operations(outcome: T, late: T, stockout: T) -> T:
    """Step 2 (operations): a call that waits past the customer's patience, or an interaction
    that meets a stock-out, is a bad experience whatever its quality; otherwise the outcome
    stands.

    Args:
        outcome: the zone-of-tolerance outcome (``BAD``, ``MET`` or ``DELIGHTED``).
        late: whether the call waited past the customer's patience (bool).
        stockout: whether the interaction met a stock-out (bool).

    Returns:
        ``BAD`` (0) where ``late`` or ``stockout``, else ``outcome``, elementwise.
    """
    return outcome * (1 - ((late + stockout) > 0))
