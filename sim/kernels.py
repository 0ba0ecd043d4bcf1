"""Compiled loops of the population engine: each phase's work over people in one loop.

The population engine (`sim.population`) spends a month in a few dozen calls. Numpy calls cost a
microsecond or more each whatever their size, which dominates small markets, and a chain of them
over the same people (gather, arithmetic, compare, count) reads and writes a temporary array at
each link, which dominates large ones. The functions here do such a chain in one compiled loop
(numba, ``cache=True``: the machine code is written beside this file the first time and loaded by
every later process, sweep workers included; the first import on a fresh checkout compiles for a
few seconds, see `warm_up`).

They draw no random numbers: each phase draws its own with the run's numpy ``Generator``, in one
call per kind (uniforms, normals, geometric gaps), and passes them in. (Numba can take a
``Generator`` as an argument, but unboxing it costs about 7 microseconds a call, more than most
phases' whole work in a market of a thousand people.) Where a loop replaces numpy code it
computes exactly what that code did: the same float32 and float64 arithmetic, operation by
operation (numba, like numpy, rounds every float32 operation and contracts nothing into fused
multiply-adds unless asked), the same sums in the same order (``tests/test_kernels.py`` compares
each with its numpy counterpart). The rule formulas are `sim.rules`'s own functions, compiled
here (`rules.move_toward`, `rules.experience_outcome`, `rules.streak_after`,
`rules.recognised_after`): one source of truth for both engines.

What does not live here: the phases and their random draws (`population.py`), the rules
(`rules.py`).
"""

from __future__ import annotations

import time

import numba
import numpy as np

from sim import rules

_move_toward = numba.njit(cache=True)(rules.move_toward)
_experience_outcome = numba.njit(cache=True)(rules.experience_outcome)
_streak_after = numba.njit(cache=True)(rules.streak_after)
_recognised_after = numba.njit(cache=True)(rules.recognised_after)
_tarp_case = numba.njit(cache=True)(rules.tarp_case)
_in_window = numba.njit(cache=True)(rules.in_window)
_strikes_reached = numba.njit(cache=True)(rules.strikes_reached)


@numba.njit(cache=True)
def tarp_leaves(
    u: np.ndarray,
    firm_of: np.ndarray,
    department: np.ndarray,
    complain_prob: float,
    resolve_prob: np.ndarray,
    quick_resolve_prob: np.ndarray,
    stay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 3 under the ``tarp`` rule for each bad experience, from four uniforms each.

    Args:
        u: (4, bad experiences) uniforms: whether it is reported (``u[0] < complain_prob``), then
            resolved (``u[1]`` below the rung's ``resolve_prob``), then quickly (``u[2]``), and
            whether the customer leaves (``u[3]`` at least the case's ``stay`` chance).
        firm_of, department: the firm and department of each (``department`` empty: every firm
            has one department).
        resolve_prob, quick_resolve_prob: (firms, departments) the rungs' chances.
        stay: the four ``tarp_stay`` chances, by `rules.tarp_case`.

    Returns:
        ``(leaves, complaints, resolved)``: whether each leaves (bool) and the complaints and
        resolved complaints per firm (int64).
    """
    n = firm_of.size
    leaves = np.empty(n, np.bool_)
    complaints = np.zeros(resolve_prob.shape[0], np.int64)
    resolved_per_firm = np.zeros(resolve_prob.shape[0], np.int64)
    departments = department.size > 0
    for i in range(n):
        f = firm_of[i]
        d = department[i] if departments else 0
        complained = u[0, i] < complain_prob
        resolved = complained and u[1, i] < resolve_prob[f, d]
        quick = resolved and u[2, i] < quick_resolve_prob[f, d]
        leaves[i] = u[3, i] >= stay[_tarp_case(complained, resolved, quick)]
        complaints[f] += complained
        resolved_per_firm[f] += resolved
    return leaves, complaints, resolved_per_firm


@numba.njit(cache=True)
def strikes_leave(
    bad_months: np.ndarray, people: np.ndarray, t: int, window_months: int, strikes: int
) -> np.ndarray:
    """Step 3 under the ``strikes`` rule for each person with a bad experience in month t.

    Each leaves when this bad experience and those of ``bad_months[person]`` within the window
    (`rules.in_window`) reach ``strikes`` (`rules.strikes_reached`); then month t replaces the
    oldest of the person's kept months, in place (the latest ``strikes - 1`` are kept).

    Returns:
        Whether each leaves (bool).
    """
    leaves = np.empty(people.size, np.bool_)
    kept = bad_months.shape[1]
    for i in range(people.size):
        person = people[i]
        recent = 0
        oldest = 0
        for j in range(kept):
            month = bad_months[person, j]
            recent += _in_window(month, t, window_months)
            if month < bad_months[person, oldest]:
                oldest = j
        leaves[i] = _strikes_reached(1 + recent, strikes)
        if kept:
            bad_months[person, oldest] = t
    return leaves


@numba.njit(cache=True)
def update_reputation(
    streaks: np.ndarray, recognised: np.ndarray, delivered: np.ndarray, sustain: np.ndarray
) -> None:
    """Step 8 for every firm, in place (`sim.firms.Firms.update_reputation`).

    Args:
        streaks: (firms, rungs) int64 months in a row each rung has been delivered or bettered;
            each becomes `rules.streak_after` of itself.
        recognised: (firms,) int64 recognised rungs; each becomes `rules.recognised_after`, the
            rung above being judged on its new streak and its ``sustain`` (a firm recognised at
            the top rung gets a streak of 0 against a sustain of 1: it never rises).
        delivered: (firms,) int64 delivered rungs this month.
        sustain: (rungs,) int64 months of delivery each rung needs to be recognised.
    """
    n_firms, n_rungs = streaks.shape
    for f in range(n_firms):
        for r in range(n_rungs):
            streaks[f, r] = _streak_after(streaks[f, r], delivered[f] >= r)
        up = recognised[f] + 1
        next_streak = streaks[f, up] if up < n_rungs else 0
        next_sustain = sustain[up] if up < n_rungs else 1
        recognised[f] = _recognised_after(recognised[f], delivered[f], next_streak, next_sustain)


@numba.njit(cache=True)
def people_by_status(
    status: np.ndarray,
    firm: np.ndarray,
    expectation: np.ndarray,
    n_firms: int,
    customer: int,
    prospect: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The end-of-month pass over the market (step 9's counts, and the next month's start).

    Args:
        status: (people,) status codes.
        firm: (people,) firm index of each customer, ``n_firms`` for everyone else.
        expectation: (people,) expectations.
        n_firms: number of firms.
        customer, prospect: the status codes of a customer and a prospect.

    Returns:
        ``(customers, customer_firm, prospects, per_firm, expectation_sum)``: the indices of the
        customers (ascending, int64) and the firm of each (``firm``'s dtype), the indices of the
        prospects (ascending, int64), customers per firm (int64) and the sum of their
        expectations per firm (float64, added in ascending person order).
    """
    n = status.size
    n_customers = 0
    n_prospects = 0
    for i in range(n):  # branch-free: statuses come in no order
        s = status[i]
        n_customers += s == customer
        n_prospects += s == prospect
    customers = np.empty(n_customers + 1, np.int64)  # one spare slot for the last write
    customer_firm = np.empty(n_customers + 1, firm.dtype)
    prospects = np.empty(n_prospects + 1, np.int64)
    per_firm = np.zeros(n_firms + 1, np.int64)  # slot n_firms: people of no firm
    expectation_sum = np.zeros(n_firms + 1, np.float64)
    one_firm = 0.0  # with one firm, its sum in a register (adding 0.0 for the others is exact)
    c = 0
    p = 0
    for i in range(n):
        s = status[i]
        is_customer = s == customer
        f = firm[i]  # n_firms for everyone but customers
        customers[c] = i
        customer_firm[c] = f
        c += is_customer
        prospects[p] = i
        p += s == prospect
        if n_firms == 1:
            one_firm += np.float64(expectation[i]) * is_customer
        else:
            per_firm[f] += 1
            expectation_sum[f] += np.float64(expectation[i])
    if n_firms == 1:
        per_firm[0] = n_customers
        expectation_sum[0] = one_firm
    customers = customers[:n_customers]
    customer_firm = customer_firm[:n_customers]
    prospects = prospects[:n_prospects]
    per_firm = per_firm[:n_firms]
    expectation_sum = expectation_sum[:n_firms]
    return customers, customer_firm, prospects, per_firm, expectation_sum


@numba.njit(cache=True)
def market_pull(
    expectation: np.ndarray, firm: np.ndarray, reference: np.ndarray, rate: np.float32
) -> None:
    """Step 5's market pull, in place: ``e <- e + rate (s - e)`` for every person, with s the
    reference of the person's firm (``reference[n_firms]`` for people of no firm)."""
    for i in range(expectation.size):
        expectation[i] = _move_toward(expectation[i], reference[firm[i]], rate)


@numba.njit(cache=True)
def sort_outcomes(
    outcome: np.ndarray, firm_of: np.ndarray, n_firms: int, bad: int, delighted: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 3's start: which interactions were bad, and the bad and delighted ones per firm.

    Returns:
        ``(bad_at, bad_per_firm, delighted_per_firm)``: positions of the bad interactions
        (ascending, int64) and the counts per firm (int64).
    """
    n_bad = 0
    for i in range(outcome.size):
        n_bad += outcome[i] == bad
    bad_at = np.empty(n_bad + 1, np.int64)  # one spare slot for the last write
    bad_per_firm = np.zeros(n_firms, np.int64)
    delighted_per_firm = np.zeros(n_firms, np.int64)
    b = 0
    for i in range(outcome.size):
        o = outcome[i]
        f = firm_of[i]
        is_bad = o == bad
        bad_at[b] = i
        b += is_bad
        bad_per_firm[f] += is_bad
        delighted_per_firm[f] += o == delighted
    return bad_at[:n_bad], bad_per_firm, delighted_per_firm


@numba.njit(cache=True)
def adapt(
    expectation: np.ndarray,
    people: np.ndarray,
    quality: np.ndarray,
    stays: np.ndarray,
    rate: np.float32,
) -> None:
    """Step 5's own experience, in place: ``e <- e + rate (x - e)`` for the person of every
    interaction whose customer stays (``stays``), x being that interaction's quality."""
    for i in range(people.size):
        if stays[i]:
            person = people[i]
            expectation[person] = _move_toward(expectation[person], quality[i], rate)


@numba.njit(cache=True)
def experiences(
    normal: np.ndarray,
    firm_of: np.ndarray,
    department: np.ndarray,
    quality_mean: np.ndarray,
    quality_sd: np.ndarray,
    expectation: np.ndarray,
    people: np.ndarray,
    tolerance: np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2's quality and outcome of each interaction, from its standard normal draw.

    Args:
        normal: (interactions,) float32 standard normal draws, turned into the qualities in place.
        firm_of, department: (interactions,) the firm and department of each (``department``
            empty: every firm has one department).
        quality_mean, quality_sd: (firms, departments) float32 rung values.
        expectation: (people,) float32 expectations; ``people`` the person of each interaction.
        tolerance: the zone of tolerance's half-width.

    Returns:
        ``(quality, outcome, per_firm)``: ``normal`` itself, now x = clip(mean + sd z, 0, 10),
        the outcome per interaction (`rules.experience_outcome`, int64) and the interactions
        per firm (int64).
    """
    outcome = np.empty(normal.size, np.int64)
    per_firm = np.zeros(quality_mean.shape[0], np.int64)
    zero = np.float32(0.0)
    ten = np.float32(10.0)
    departments = department.size > 0
    for i in range(normal.size):
        f = firm_of[i]
        per_firm[f] += 1
        d = department[i] if departments else 0
        x = normal[i] * quality_sd[f, d]
        x = x + quality_mean[f, d]
        if x < zero:
            x = zero
        elif x > ten:
            x = ten
        normal[i] = x
        outcome[i] = _experience_outcome(x, expectation[people[i]], tolerance)
    return normal, outcome, per_firm


@numba.njit(cache=True)
def _pick(weights: np.ndarray, u: float) -> int:
    """Step 6's draw for one person: the column whose cumulative weight first exceeds
    ``u * total`` (``u`` uniform in [0, 1)), never a column of zero weight; -1 if all are zero."""
    total = 0.0
    last_open = -1
    for j in range(weights.size):
        total += weights[j]
        if weights[j] > 0:
            last_open = j
    if total <= 0:
        return -1
    x = u * total
    cumulative = 0.0
    below = 0  # columns whose cumulative weight is at most x
    for j in range(weights.size):
        cumulative += weights[j]
        below += cumulative <= x
    # Rounding can push x to the total: fall back on the last column with a positive weight.
    return min(below, last_open)


@numba.njit(cache=True)
def choose_firm(
    weight: np.ndarray,
    u: np.ndarray,
    people: np.ndarray,
    closed_until: np.ndarray,
    t: int,
    exclude: np.ndarray,
) -> np.ndarray:
    """Step 6's choice of a firm for each person, from one uniform each (`_pick`).

    Args:
        weight: (columns,) float64 logit weight of each firm, then, if there is one, of the rest
            of the market (the outside column).
        u: (people,) uniforms in [0, 1).
        people: (people,) the persons choosing.
        closed_until: (market, firms) last month each person is closed to each firm (a firm is
            open in month t when this is below t), or an array with no rows: nobody is closed.
        t: the month.
        exclude: (people,) per person a firm left out, or an empty array: none.

    Returns:
        The chosen firm per person (int64); -1 where no column is open or the person picks the
        rest of the market.
    """
    n_firms = closed_until.shape[1]
    closures = closed_until.shape[0] > 0
    excluding = exclude.size > 0
    row = np.empty(weight.size, np.float64)
    out = np.empty(people.size, np.int64)
    for i in range(people.size):
        for j in range(weight.size):
            row[j] = weight[j]
        if closures:
            person = people[i]
            for j in range(n_firms):
                if closed_until[person, j] >= t:
                    row[j] = 0.0
        if excluding:
            row[exclude[i]] = 0.0
        column = _pick(row, u[i])
        out[i] = column if column < n_firms else -1  # the outside column: the rest of the market
    return out


@numba.njit(cache=True)
def whole_rows(sizes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The start of `sim.population.distinct_ranks`: rows whose population is at most ``k``
    take all of it.

    Returns:
        ``(rows, ranks, partial)``: every (row, rank) pair of those rows, rows and ranks
        ascending (int64), and the other rows, ascending (int64).
    """
    total = 0
    n_partial = 0
    for i in range(sizes.size):
        if sizes[i] <= k:
            total += sizes[i]
        else:
            n_partial += 1
    rows = np.empty(total, np.int64)
    ranks = np.empty(total, np.int64)
    partial = np.empty(n_partial, np.int64)
    a = 0
    p = 0
    for i in range(sizes.size):
        if sizes[i] <= k:
            for r in range(sizes[i]):
                rows[a] = i
                ranks[a] = r
                a += 1
        else:
            partial[p] = i
            p += 1
    return rows, ranks, partial


@numba.njit(cache=True)
def sort_rows_find_repeats(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of ``draws`` (rows, k) in place; return the (row, column) of every entry
    equal to the one before it in its row, in row-major order (int64)."""
    n_rows, k = draws.shape
    n_repeats = 0
    for i in range(n_rows):
        draws[i].sort()
        for c in range(1, k):
            n_repeats += draws[i, c] == draws[i, c - 1]
    rows = np.empty(n_repeats, np.int64)
    cols = np.empty(n_repeats, np.int64)
    n = 0
    for i in range(n_rows):
        for c in range(1, k):
            if draws[i, c] == draws[i, c - 1]:
                rows[n] = i
                cols[n] = c
                n += 1
    return rows, cols


@numba.njit(cache=True)
def settle_leaving(
    n_customers: int,
    attrition_at: np.ndarray,
    bad_at: np.ndarray,
    contact_at: np.ndarray,
    customer_firm: np.ndarray,
    n_firms: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 3's end: who leaves this month, by which route, and who stays among those with an
    interaction. A customer who leaves after a bad experience is not counted under attrition.

    Args:
        n_customers: customers at the start of the month.
        attrition_at: ascending positions (in the customers) drawn to leave through attrition.
        bad_at: positions of those who leave after a bad experience.
        contact_at: position of the customer of each interaction.
        customer_firm: (customers,) firm of each.
        n_firms: number of firms.

    Returns:
        ``(leaving_at, stays_at, left_attrition, left_bad_experience)``: the ascending positions
        of every leaver (int64), per interaction whether its customer stays (bool), and the
        leavers per firm by route (int64).
    """
    leaving = np.zeros(n_customers, np.bool_)
    for i in range(attrition_at.size):
        leaving[attrition_at[i]] = True
    left_attrition = np.zeros(n_firms, np.int64)
    left_bad = np.zeros(n_firms, np.int64)
    for i in range(bad_at.size):
        c = bad_at[i]
        left_bad[customer_firm[c]] += 1
        leaving[c] = False  # they leave after the bad experience instead
    for i in range(attrition_at.size):
        c = attrition_at[i]
        left_attrition[customer_firm[c]] += leaving[c]
    for i in range(bad_at.size):
        leaving[bad_at[i]] = True
    n_leaving = 0
    for c in range(n_customers):
        n_leaving += leaving[c]
    leaving_at = np.empty(n_leaving, np.int64)
    k = 0
    for c in range(n_customers):
        if leaving[c]:
            leaving_at[k] = c
            k += 1
    stays_at = np.empty(contact_at.size, np.bool_)
    for i in range(contact_at.size):
        stays_at[i] = not leaving[contact_at[i]]
    return leaving_at, stays_at, left_attrition, left_bad


@numba.njit(cache=True)
def below(u: np.ndarray, prob: np.floating) -> np.ndarray:
    """Ascending positions i where ``u[i] < prob`` (int64): ``np.flatnonzero(u < prob)``, in
    the precision of ``prob`` (the population engine compares float32 uniforms with a float32
    chance, as numpy does with a Python float)."""
    n = 0
    for i in range(u.size):
        n += u[i] < prob
    out = np.empty(n + 1, np.int64)  # one spare slot for the last write
    k = 0
    for i in range(u.size):
        out[k] = i
        k += u[i] < prob
    return out[:n]


@numba.njit(cache=True)
def successes(gaps: np.ndarray, start: int, n: int) -> np.ndarray:
    """The positions of successes among trials ``0..n-1`` from the gaps between them: the
    first success is trial ``start + gaps[0] - 1``, each next one ``gaps[i]`` trials later
    (geometric draws). Returns those below n (ascending int64); when even the last lies below
    n, all of them, and the caller draws more gaps from there."""
    out = np.empty(gaps.size, np.int64)
    at = start - 1
    k = 0
    for i in range(gaps.size):
        at += gaps[i]
        if at >= n:
            break
        out[k] = at
        k += 1
    return out[:k]


@numba.njit(cache=True)
def positions_of(outcome: np.ndarray, wanted: int, keep: np.ndarray) -> np.ndarray:
    """Ascending positions i where ``outcome[i] == wanted`` and ``keep[i]`` (int64)."""
    n = 0
    for i in range(outcome.size):
        n += (outcome[i] == wanted) & keep[i]
    out = np.empty(n, np.int64)
    k = 0
    for i in range(outcome.size):
        if (outcome[i] == wanted) & keep[i]:
            out[k] = i
            k += 1
    return out


@numba.njit(cache=True)
def first_per_target(
    targets: np.ndarray, firms: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Step 4's conflict rule: of several successful referrals to one person, the first in a
    uniformly random order wins: the one with the smallest uniform ``u``.

    Returns:
        (person, winning firm), one pair per distinct person, persons ascending (int64).
    """
    by_u = np.argsort(u, kind="mergesort")
    order = by_u[np.argsort(targets[by_u], kind="mergesort")]  # by target, then by u
    n = 0
    for i in range(order.size):
        n += i == 0 or targets[order[i]] != targets[order[i - 1]]
    person = np.empty(n, np.int64)
    firm = np.empty(n, np.int64)
    k = 0
    for i in range(order.size):
        if i == 0 or targets[order[i]] != targets[order[i - 1]]:
            person[k] = targets[order[i]]
            firm[k] = firms[order[i]]
            k += 1
    return person, firm


@numba.njit(cache=True)
def referrals(
    target: np.ndarray,
    referrer_firm: np.ndarray,
    status: np.ndarray,
    closed_until: np.ndarray,
    t: int,
    conversion: float,
    u: np.ndarray,
    prospect: int,
    n_firms: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 4's referrals after their targets are drawn: which are made, which convert, and
    who wins each person referred by several firms (`first_per_target`).

    A referral is made when it has a target (``target[i] >= 0``); it converts when the target is
    a prospect, not closed to the referring firm in month t (``closed_until``: as in
    `choose_firm`) and ``u[0, i] < conversion``; ``u[1, i]`` orders conflicting conversions.

    Returns:
        ``(won_person, won_firm, made, joined)``: each person won (ascending) and the winning
        firm (int64), and the referrals made and the people won per firm (int64).
    """
    made = np.zeros(n_firms, np.int64)
    joined = np.zeros(n_firms, np.int64)
    closures = closed_until.shape[0] > 0
    converted = np.empty(target.size, np.int64)
    converted_firm = np.empty(target.size, np.int64)
    order_u = np.empty(target.size, np.float64)
    k = 0
    for i in range(target.size):
        person = target[i]
        if person < 0:
            continue
        f = referrer_firm[i]
        made[f] += 1
        if status[person] != prospect:
            continue
        if closures and closed_until[person, f] >= t:
            continue
        if u[0, i] < conversion:
            converted[k] = person
            converted_firm[k] = f
            order_u[k] = u[1, i]
            k += 1
    won_person, won_firm = first_per_target(converted[:k], converted_firm[:k], order_u[:k])
    for i in range(won_firm.size):
        joined[won_firm[i]] += 1
    return won_person, won_firm, made, joined


@numba.njit(cache=True)
def take_except(people: np.ndarray, at: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """``people[at]`` without the people in ``taken`` (``people``, ``at`` and ``taken``
    ascending), in order (int64)."""
    out = np.empty(at.size, np.int64)
    k = 0
    j = 0
    for i in range(at.size):
        person = people[at[i]]
        while j < taken.size and taken[j] < person:
            j += 1
        if j < taken.size and taken[j] == person:
            continue
        out[k] = person
        k += 1
    return out[:k]


@numba.njit(cache=True)
def leave(
    leavers: np.ndarray,
    leaver_firm: np.ndarray,
    switching: np.ndarray,
    cohort: np.ndarray,
    cohort_remaining: np.ndarray,
    firm: np.ndarray,
    status: np.ndarray,
    no_firm: int,
    departed: int,
) -> np.ndarray:
    """The end of the month for the leavers, in place: each leaves the month-0 cohort (its
    firm's ``cohort_remaining`` falls by one if it was in it), and those not ``switching`` to a
    competitor leave the market: firm ``no_firm``, status ``departed`` (away or gone).

    Returns:
        The people who left the market, in ``leavers`` order (int64).
    """
    departures = np.empty(leavers.size, np.int64)
    k = 0
    for i in range(leavers.size):
        person = leavers[i]
        if cohort[person]:
            cohort_remaining[leaver_firm[i]] -= 1
            cohort[person] = False
        if not switching[i]:
            firm[person] = no_firm
            status[person] = departed
            departures[k] = person
            k += 1
    return departures[:k]


@numba.njit(cache=True)
def join(
    people: np.ndarray, firms: np.ndarray, firm: np.ndarray, status: np.ndarray, customer: int
) -> None:
    """The end of the month for people who join a firm, in place: status ``customer`` and
    firm ``firms[i]`` for ``people[i]``."""
    for i in range(people.size):
        status[people[i]] = customer
        firm[people[i]] = firms[i]


def warm_up() -> float:
    """Compile (or load from the cache) every kernel on tiny inputs; return the seconds taken.

    The first call on a fresh checkout compiles (a few seconds); later calls, in any process,
    load the cached machine code in milliseconds.
    """
    started = time.perf_counter()
    status = np.zeros(2, np.int8)
    firm = np.zeros(2, np.int8)
    expectation = np.zeros(2, np.float32)
    people_by_status(status, firm, expectation, 1, 0, 1)
    one = np.zeros(1, np.int64)
    update_reputation(np.zeros((1, 2), np.int64), one, one, np.ones(2, np.int64))
    market_pull(expectation, firm, np.zeros(2, np.float32), np.float32(0.1))
    adapt(expectation, np.zeros(2, np.int64), expectation, np.ones(2, np.bool_), np.float32(0.3))
    sort_outcomes(np.zeros(2, np.int64), firm, 1, 0, 2)
    whole_rows(np.zeros(2, np.int64), 1)
    stay, chances = np.zeros(4), np.zeros((1, 1))
    for firm_dtype in (np.int8, np.int16):
        bad_firm = np.zeros(1, firm_dtype)
        for department in (np.zeros(0, np.int64), np.zeros(1, np.int64)):
            tarp_leaves(np.zeros((4, 1)), bad_firm, department, 0.5, chances, chances, stay)
    for months in (np.zeros((2, 2), np.int16), np.zeros((2, 2), np.int32)):
        strikes_leave(months, np.zeros(1, np.int64), 1, 3, 3)
    positions_of(np.zeros(2, np.int64), 2, np.ones(2, np.bool_))
    below(np.zeros(2, np.float32), np.float32(0.5))
    successes(np.ones(2, np.int64), 0, 2)
    take_except(np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))
    for closed in (np.zeros((2, 1), np.int16), np.zeros((2, 1), np.int32)):
        for referrer in (np.zeros(2, np.int8), np.zeros(2, np.int16)):
            two = np.zeros(2, np.int64)
            referrals(two, referrer, np.zeros(2, np.int8), closed, 1, 0.5, np.zeros((2, 2)), 1, 1)
    for firm_dtype in (np.int8, np.int16):
        no = np.zeros(0, np.int64)
        cohort, remaining = np.zeros(2, np.bool_), np.zeros(1, np.int64)
        f, st = np.zeros(2, firm_dtype), np.zeros(2, np.int8)
        leave(no, np.zeros(0, firm_dtype), np.zeros(0, np.bool_), cohort, remaining, f, st, 1, 2)
        for joining_firm in (np.zeros(0, firm_dtype), no):
            join(no, joining_firm, f, st, 0)
    one = np.zeros(1, np.int64)
    for firm_dtype in (np.int8, np.int16):
        settle_leaving(2, one, one, one, np.zeros(2, firm_dtype), 1)
    sort_rows_find_repeats(np.zeros((2, 2), np.int64))
    weights, u = np.ones((2, 2)), np.zeros(2)
    for closed in (np.zeros((2, 2), np.int16), np.zeros((2, 2), np.int32)):
        choose_firm(weights[0], u, np.zeros(2, np.int64), closed, 1, np.zeros(2, np.int64))
    experiences(
        np.zeros(2, np.float32),
        firm,
        np.zeros(0, np.int64),
        np.zeros((1, 1), np.float32),
        np.zeros((1, 1), np.float32),
        expectation,
        np.zeros(2, np.int64),
        np.float32(1.0),
    )
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"numba kernels ready in {warm_up():.1f} s")
