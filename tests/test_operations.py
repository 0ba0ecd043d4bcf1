"""sim/operations.py: Erlang C and reorder-point stock-outs against worked examples, exact
arithmetic and a seeded queue simulation."""

import heapq
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.special import ndtr, stdtrit  # scipy.special: a lighter import than scipy.stats

from sim.operations import (
    agents_needed,
    average_speed_of_answer,
    cycle_service_level,
    erlang_c,
    fill_rate,
    queue_month,
    service_level,
    standard_normal_loss,
)
from sim.scenario import ContactCentre

# The contact-centre example: 100 calls per 30 minutes, 180 s handling = 10 Erlangs; 80/20 goal.
CALLS_PER_SECOND = 100 / 1800
AHT = 180.0
TRAFFIC = CALLS_PER_SECOND * AHT
TARGET = 20.0


def exact_erlang_c(traffic: int, agents: int) -> Fraction:
    """Erlang C in exact rational arithmetic, from the textbook formula with factorials:
    ``(A^n/n! n/(n-A)) / (sum_{k<n} A^k/k! + A^n/n! n/(n-A))``, everything multiplied by n!."""
    n_fact = math.factorial(agents)
    head = sum(traffic**k * (n_fact // math.factorial(k)) for k in range(agents))
    tail = Fraction(traffic**agents * agents, agents - traffic)
    return tail / (head + tail)


# --- Erlang C: worked example ------------------------------------------------------------------


def test_contact_centre_worked_example():
    assert math.isclose(TRAFFIC, 10.0)  # Erlangs
    assert service_level(TRAFFIC, 13, AHT, TARGET) == pytest.approx(0.796, abs=5e-4)
    assert service_level(TRAFFIC, 14, AHT, TARGET) == pytest.approx(0.888, abs=5e-4)
    assert agents_needed(TRAFFIC, AHT, TARGET, 0.8) == 14
    # the published intermediate figures: probability of waiting 28.5 % / 17.4 %, ASA 7.8 s at 14
    assert erlang_c(TRAFFIC, 13) == pytest.approx(0.2853, abs=5e-5)
    assert erlang_c(TRAFFIC, 14) == pytest.approx(0.1741, abs=5e-5)
    assert average_speed_of_answer(TRAFFIC, 14, AHT) == pytest.approx(7.84, abs=5e-3)


@pytest.mark.parametrize(("traffic", "agents"), [(10, 11), (10, 14), (2, 3), (50, 60), (400, 430)])
def test_erlang_c_matches_exact_rational_arithmetic(traffic, agents):
    exact = exact_erlang_c(traffic, agents)
    assert erlang_c(traffic, agents) == pytest.approx(float(exact), rel=1e-12)


def test_large_case_is_finite_and_exact():
    c = erlang_c(400, 430)
    assert math.isfinite(c) and 0.0 < c < 1.0
    exact = float(exact_erlang_c(400, 430))
    assert c == pytest.approx(exact, rel=1e-12)
    sl = service_level(400, 430, AHT, TARGET)
    assert sl == pytest.approx(1.0 - exact * math.exp(-30 * TARGET / AHT), rel=1e-12)
    assert average_speed_of_answer(400, 430, AHT) == pytest.approx(exact * AHT / 30, rel=1e-12)


def test_thousands_of_agents_stay_finite():
    c = erlang_c(3000.0, 3100)
    assert math.isfinite(c) and 0.0 < c < 1.0
    assert agents_needed(3000.0, AHT, TARGET, 0.8) > 3000


# --- Erlang C: properties -----------------------------------------------------------------------


@pytest.mark.parametrize("traffic", [0.3, 1.0, 10.0, 37.5, 400.0])
def test_erlang_c_is_a_probability_decreasing_in_agents(traffic):
    agents = range(math.floor(traffic) + 1, math.floor(traffic) + 60)
    c = np.array([erlang_c(traffic, n) for n in agents])
    assert np.all((c > 0.0) & (c < 1.0))
    assert np.all(np.diff(c) < 0.0)


@pytest.mark.parametrize("traffic", [0.3, 1.0, 10.0, 37.5, 400.0])
def test_service_level_increases_in_agents(traffic):
    agents = range(math.floor(traffic) + 1, math.floor(traffic) + 60)
    sl = np.array([service_level(traffic, n, AHT, TARGET) for n in agents])
    assert np.all((sl > 0.0) & (sl <= 1.0))
    # strictly increasing until it rounds to 1.0 in floating point, never decreasing after
    assert np.all(np.diff(sl) >= 0.0)
    assert np.all(np.diff(sl)[sl[:-1] < 1.0 - 1e-12] > 0.0)
    asa = np.array([average_speed_of_answer(traffic, n, AHT) for n in agents])
    assert np.all(np.diff(asa) < 0.0)


def test_single_agent_is_the_mm1_queue():
    rho = 0.6
    assert erlang_c(rho, 1) == pytest.approx(rho)  # an M/M/1 call waits with chance rho
    assert average_speed_of_answer(rho, 1, AHT) == pytest.approx(rho / (1 - rho) * AHT)


def test_no_traffic_never_waits():
    assert erlang_c(0.0, 1) == 0.0
    assert service_level(0.0, 3, AHT, TARGET) == 1.0
    assert average_speed_of_answer(0.0, 3, AHT) == 0.0
    assert agents_needed(0.0, AHT, TARGET, 0.8) == 1


def test_target_zero_is_the_share_answered_at_once():
    assert service_level(TRAFFIC, 14, AHT, 0.0) == pytest.approx(1.0 - erlang_c(TRAFFIC, 14))


def test_agents_needed_is_the_smallest_meeting_the_goal():
    for traffic, goal in [(10.0, 0.8), (10.0, 0.95), (2.5, 0.5), (123.4, 0.9), (0.5, 0.99)]:
        n = agents_needed(traffic, AHT, TARGET, goal)
        assert n > traffic
        assert service_level(traffic, n, AHT, TARGET) >= goal
        if n - 1 > traffic:
            assert service_level(traffic, n - 1, AHT, TARGET) < goal


def test_arrays_of_traffic_match_scalars():
    traffic = np.array([[0.0, 2.5], [10.0, 13.9]])
    c = erlang_c(traffic, 14)
    assert isinstance(c, np.ndarray) and c.shape == traffic.shape
    for idx in np.ndindex(traffic.shape):
        a = float(traffic[idx])
        assert c[idx] == erlang_c(a, 14)
        assert service_level(traffic, 14, AHT, TARGET)[idx] == service_level(a, 14, AHT, TARGET)
        assert average_speed_of_answer(traffic, 14, AHT)[idx] == average_speed_of_answer(a, 14, AHT)
    assert isinstance(erlang_c(10.0, 14), float)


# --- Erlang C: impossible inputs ----------------------------------------------------------------


@pytest.mark.parametrize(("traffic", "agents"), [(10.0, 10), (10.0, 9), (12.5, 12)])
def test_unstable_queue_is_refused_in_words(traffic, agents):
    with pytest.raises(ValueError, match=rf"with {agents} agents and {traffic:g} Erlangs") as err:
        erlang_c(traffic, agents)
    assert "unstable" in str(err.value)
    assert f"staff more than {traffic:g} agents" in str(err.value)
    with pytest.raises(ValueError, match="unstable"):
        service_level(traffic, agents, AHT, TARGET)
    with pytest.raises(ValueError, match="unstable"):
        average_speed_of_answer(traffic, agents, AHT)
    with pytest.raises(ValueError, match="unstable"):
        erlang_c(np.array([1.0, traffic]), agents)


@pytest.mark.parametrize("agents", [0, -3, 13.0, 13.5, "13", None, True])
def test_agents_must_be_a_positive_integer(agents):
    with pytest.raises(ValueError, match=r"agents must be a positive integer"):
        erlang_c(5.0, agents)


@pytest.mark.parametrize("traffic", [-1.0, math.nan, math.inf, "ten", [1.0, -0.5]])
def test_traffic_must_be_non_negative(traffic):
    with pytest.raises(ValueError, match=r"traffic_erlangs must be .*>= 0"):
        erlang_c(traffic, 20)


def test_times_and_goal_are_checked():
    with pytest.raises(ValueError, match=r"aht_seconds must be a number > 0"):
        service_level(TRAFFIC, 14, 0.0, TARGET)
    with pytest.raises(ValueError, match=r"aht_seconds must be a number > 0"):
        average_speed_of_answer(TRAFFIC, 14, -5.0)
    with pytest.raises(ValueError, match=r"target_seconds must be a number >= 0"):
        service_level(TRAFFIC, 14, AHT, -1.0)
    with pytest.raises(ValueError, match=r"target_seconds must be a number >= 0"):
        agents_needed(TRAFFIC, AHT, math.nan, 0.8)
    for goal in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=r"goal must be .*0"):
            agents_needed(TRAFFIC, AHT, TARGET, goal)
    with pytest.raises(ValueError, match=r"traffic_erlangs must be a single number"):
        agents_needed([1.0, 2.0], AHT, TARGET, 0.8)


# --- Erlang C against a discrete-event simulation -----------------------------------------------


def simulate_mmc_waits(
    rate: float, aht: float, agents: int, calls: int, seed: int, warmup: int
) -> np.ndarray:
    """Waits (seconds) of ``calls`` calls through an M/M/c queue served first come, first served,
    after ``warmup`` calls from an empty centre. With FIFO, each call starts with the agent who is
    free first, so a heap of the agents' free-from times is the whole state."""
    rng = np.random.default_rng(seed)
    total = warmup + calls
    arrivals = np.cumsum(rng.exponential(1.0 / rate, total)).tolist()
    handling = rng.exponential(aht, total).tolist()
    free_at = [0.0] * agents
    waits = [0.0] * total
    for i in range(total):
        t = arrivals[i]
        start = max(t, free_at[0])
        waits[i] = start - t
        heapq.heapreplace(free_at, start + handling[i])
    return np.array(waits[warmup:])


# 200,000 calls in 20 batches of 10,000. Waits of successive calls are correlated, so the
# binomial standard error would be too small; the bound is batch means: |simulated - Erlang C|
# < t(0.9995, 19 df) x (sd of the 20 batch means) / sqrt(20), a two-sided 0.001 level.
DES_CALLS, DES_BATCHES, DES_WARMUP = 200_000, 20, 2_000
DES_T = float(stdtrit(DES_BATCHES - 1, 1 - 0.001 / 2))


@pytest.mark.parametrize("agents", [13, 14])
def test_simulated_contact_centre_agrees_with_erlang_c(agents):
    waits = simulate_mmc_waits(CALLS_PER_SECOND, AHT, agents, DES_CALLS, 20240611, DES_WARMUP)
    batches = waits.reshape(DES_BATCHES, -1)
    for per_call, theory in [
        (batches <= TARGET, service_level(TRAFFIC, agents, AHT, TARGET)),
        (batches > 0.0, erlang_c(TRAFFIC, agents)),
        (batches, average_speed_of_answer(TRAFFIC, agents, AHT)),
    ]:
        means = per_call.mean(axis=1)
        bound = DES_T * means.std(ddof=1) / math.sqrt(DES_BATCHES)
        assert abs(means.mean() - theory) < bound, (means.mean(), theory, bound)


# --- reorder-point inventory --------------------------------------------------------------------


def test_reorder_point_worked_example():
    # Chopra and Meindl: weekly demand N(250, 150), lead time 2 weeks, Q = 1000, ROP = 600.
    # Lead-time demand N(500, 212.13); z = 0.4714; CSL = 0.68; ESC = 43.9 units; fill rate 0.96.
    csl = cycle_service_level(250, 150, 2, 600)
    fr = fill_rate(250, 150, 2, 600, 1000)
    assert csl == pytest.approx(0.68, abs=5e-3)
    assert fr == pytest.approx(0.96, abs=5e-3)
    assert csl == pytest.approx(ndtr(100 / (150 * math.sqrt(2))), rel=1e-12)
    esc = 150 * math.sqrt(2) * standard_normal_loss(100 / (150 * math.sqrt(2)))
    assert esc == pytest.approx(43.86, abs=0.01)
    assert fr == pytest.approx(1 - esc / 1000, rel=1e-12)


def test_standard_normal_loss():
    assert standard_normal_loss(0.0) == pytest.approx(1 / math.sqrt(2 * math.pi))
    for z in (-3.0, -0.7, 0.25, 1.5, 4.0):
        # E[(Z - z)+] by the trapezoidal rule on a fine grid, and L(z) - L(-z) = -z
        x = np.linspace(z, z + 14.0, 1_000_001)
        ref = np.trapezoid((x - z) * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), x)
        assert standard_normal_loss(z) == pytest.approx(ref, rel=1e-6, abs=1e-11)
        assert standard_normal_loss(z) - standard_normal_loss(-z) == pytest.approx(-z)
    assert 0.0 <= standard_normal_loss(40.0) < 1e-300
    assert standard_normal_loss(-40.0) == pytest.approx(40.0)


def test_inventory_properties():
    rops = np.linspace(0, 1200, 61)
    csl = np.array([cycle_service_level(250, 150, 2, r) for r in rops])
    fr = np.array([fill_rate(250, 150, 2, r, 1000) for r in rops])
    assert np.all(np.diff(csl) > 0) and np.all(np.diff(fr) > 0)
    assert np.all((csl >= 0) & (csl <= 1)) and np.all((fr >= 0) & (fr <= 1))
    assert cycle_service_level(250, 150, 2, 500) == pytest.approx(0.5)
    # a bigger order meets more demand per cycle from the same shortage
    assert fill_rate(250, 150, 2, 600, 2000) > fill_rate(250, 150, 2, 600, 1000)
    # floored at 0 when the reorder point is hopelessly low
    assert fill_rate(250, 150, 2, -5000, 100) == 0.0


def test_certain_demand():
    assert cycle_service_level(250, 0, 2, 500) == 1.0
    assert cycle_service_level(250, 0, 2, 499) == 0.0
    assert fill_rate(250, 0, 2, 500, 1000) == 1.0
    assert fill_rate(250, 0, 2, 400, 1000) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"demand_mean": -1}, r"demand_mean must be a number >= 0"),
        ({"demand_sd": -1}, r"demand_sd must be a number >= 0"),
        ({"lead_time": 0}, r"lead_time must be a number > 0"),
        ({"reorder_point": math.nan}, r"reorder_point must be a finite number"),
        ({"order_quantity": 0}, r"order_quantity must be a number > 0"),
        ({"demand_mean": "lots"}, r"demand_mean must be a number >= 0"),
    ],
)
def test_inventory_inputs_are_checked(kwargs, message):
    args = {
        "demand_mean": 250,
        "demand_sd": 150,
        "lead_time": 2,
        "reorder_point": 600,
        "order_quantity": 1000,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fill_rate(**args)
    if "order_quantity" not in kwargs:
        del args["order_quantity"]
        with pytest.raises(ValueError, match=message):
            cycle_service_level(**args)


# --- one month of a firm's contact centre (what the engines call) ------------------------------


def test_queue_month_gives_the_erlang_c_figures_at_the_months_traffic():
    # The worked example as a month: 10 Erlangs of 180 s calls over 100 open hours
    centre = ContactCentre(13, AHT, TARGET, 100.0, 3000.0, 60.0)
    calls = round(TRAFFIC * 100 * 3600 / AHT)  # 20,000 calls
    month = queue_month(calls, centre)
    assert month.stable and month.traffic_erlangs == pytest.approx(TRAFFIC)
    c = erlang_c(TRAFFIC, 13)
    assert month.late_prob == pytest.approx(c * math.exp(-(13 - TRAFFIC) * 60.0 / AHT))
    assert month.answered_within_target == pytest.approx(service_level(TRAFFIC, 13, AHT, TARGET))
    assert month.mean_wait_seconds == pytest.approx(average_speed_of_answer(TRAFFIC, 13, AHT))


def test_queue_month_at_or_beyond_the_agents_is_unstable_and_everyone_waits_too_long():
    centre = ContactCentre(10, AHT, TARGET, 100.0, 3000.0, 60.0)
    for calls in (20_000, 25_000):  # exactly 10 Erlangs, then 12.5
        month = queue_month(calls, centre)
        assert not month.stable and month.late_prob == 1.0
        assert month.answered_within_target == 0.0 and math.isnan(month.mean_wait_seconds)


def test_queue_month_without_calls_has_no_late_calls_and_no_service_level():
    month = queue_month(0, ContactCentre(1, AHT, TARGET, 100.0, 3000.0, 60.0))
    assert month.stable and month.late_prob == 0.0 and month.traffic_erlangs == 0.0
    assert math.isnan(month.answered_within_target) and math.isnan(month.mean_wait_seconds)


@pytest.mark.parametrize("calls", [5_000, 15_000, 19_000])
def test_queue_month_late_chance_falls_and_service_level_rises_with_agents(calls):
    months = [
        queue_month(calls, ContactCentre(n, AHT, TARGET, 100.0, 0.0, 60.0)) for n in range(1, 30)
    ]
    late = [m.late_prob for m in months]
    answered = [
        0.0 if math.isnan(m.answered_within_target) else m.answered_within_target for m in months
    ]
    assert all(a >= b for a, b in itertools.pairwise(late))
    assert all(a <= b for a, b in itertools.pairwise(answered))
