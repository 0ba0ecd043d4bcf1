"""The population engine's compiled loops compute exactly what the numpy code they replace did."""

from __future__ import annotations

import numpy as np
import pytest

from sim import kernels, rules

N_FIRMS = 3


def market(n: int = 5_000, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random statuses, firms (``N_FIRMS`` for everyone but customers) and expectations."""
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 4, n).astype(np.int8)
    firm = np.where(status == rules.CUSTOMER, rng.integers(0, N_FIRMS, n), N_FIRMS)
    expectation = (rng.random(n) * 10).astype(np.float32)
    return status, firm.astype(np.int8), expectation


@pytest.mark.parametrize("n_firms", [N_FIRMS, 1])
def test_people_by_status_matches_the_numpy_counts_bit_for_bit(n_firms):
    status, firm, expectation = market()
    if n_firms == 1:  # one firm: its sum is kept apart from the others'
        firm = np.where(status == rules.CUSTOMER, 0, 1).astype(np.int8)
    customers, customer_firm, prospects, per_firm, expectation_sum = kernels.people_by_status(
        status, firm, expectation, n_firms, rules.CUSTOMER, rules.PROSPECT
    )
    expected_customers = np.flatnonzero(status == rules.CUSTOMER)
    np.testing.assert_array_equal(customers, expected_customers)
    np.testing.assert_array_equal(customer_firm, firm[expected_customers])
    assert customer_firm.dtype == firm.dtype
    np.testing.assert_array_equal(prospects, np.flatnonzero(status == rules.PROSPECT))
    of = firm[expected_customers]
    np.testing.assert_array_equal(per_firm, np.bincount(of, minlength=n_firms))
    weights = expectation[expected_customers]
    assert expectation_sum.tolist() == np.bincount(of, weights=weights, minlength=n_firms).tolist()


def test_market_pull_matches_move_toward_in_float32():
    _, firm, expectation = market()
    reference = np.array([6.5, 7.25, 8.0, 6.9], np.float32)  # per firm, then everyone else
    expected = rules.move_toward(expectation, reference[firm], 0.05)
    kernels.market_pull(expectation, firm, reference, np.float32(0.05))
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(expectation, expected)


def test_experiences_match_the_numpy_quality_and_outcome():
    status, firm, expectation = market()
    rng = np.random.default_rng(3)
    people = np.flatnonzero(status == rules.CUSTOMER)
    firm_of = firm[people]
    department = rng.integers(0, 2, people.size)
    mean = np.array([[3.0, 5.0], [6.5, 8.0], [9.0, 9.0]], np.float32)
    sd = np.array([[1.5, 1.2], [1.0, 0.8], [0.6, 0.6]], np.float32)
    normal = rng.standard_normal(people.size, dtype=np.float32) * np.float32(3)  # reach 0 and 10
    quality = normal * sd[firm_of, department] + mean[firm_of, department]
    np.clip(quality, 0.0, 10.0, out=quality)
    outcome = rules.experience_outcome(quality, expectation[people], 1.5)
    got_quality, got_outcome, interactions = kernels.experiences(
        normal.copy(), firm_of, department, mean, sd, expectation, people, np.float32(1.5)
    )
    np.testing.assert_array_equal(interactions, np.bincount(firm_of, minlength=N_FIRMS))
    np.testing.assert_array_equal(got_quality, quality)
    np.testing.assert_array_equal(got_outcome, outcome)
    assert {0.0, 10.0} <= set(got_quality.tolist())  # both clips were exercised
    one = kernels.experiences(
        normal.copy(),
        firm_of,
        np.zeros(0, np.int64),
        mean,
        sd,
        expectation,
        people,
        np.float32(1.5),
    )[0]  # no departments: department 0 of each firm
    np.testing.assert_array_equal(one, np.clip(normal * sd[firm_of, 0] + mean[firm_of, 0], 0, 10))


def test_adapt_matches_move_toward_for_the_stayers_only():
    status, _, expectation = market()
    rng = np.random.default_rng(5)
    people = rng.permutation(np.flatnonzero(status == rules.CUSTOMER))  # each at most once
    quality = (rng.random(people.size) * 10).astype(np.float32)
    stays = rng.random(people.size) < 0.8
    expected = expectation.copy()
    expected[people[stays]] = rules.move_toward(expected[people[stays]], quality[stays], 0.3)
    kernels.adapt(expectation, people, quality, stays, np.float32(0.3))
    np.testing.assert_array_equal(expectation, expected)


def test_sort_outcomes_matches_the_numpy_selection_and_counts():
    rng = np.random.default_rng(11)
    outcome = rng.integers(0, 3, 4_000)
    firm_of = rng.integers(0, N_FIRMS, outcome.size).astype(np.int8)
    bad_at, bad, delighted = kernels.sort_outcomes(
        outcome, firm_of, N_FIRMS, rules.BAD, rules.DELIGHTED
    )
    expected = np.flatnonzero(outcome == rules.BAD)
    np.testing.assert_array_equal(bad_at, expected)
    np.testing.assert_array_equal(bad, np.bincount(firm_of[expected], minlength=N_FIRMS))
    is_delighted = outcome == rules.DELIGHTED
    np.testing.assert_array_equal(delighted, np.bincount(firm_of[is_delighted], minlength=N_FIRMS))


def test_update_reputation_streaks_rises_one_rung_and_drops_at_once():
    sustain = np.array([0, 0, 2, 3, 5])  # poor .. world class
    streaks = np.zeros((3, 5), np.int64)
    recognised = np.array([0, 4, 2])  # rising, at the top, about to drop
    delivered = np.array([3, 4, 1])
    history = []
    for _ in range(4):
        kernels.update_reputation(streaks, recognised, delivered, sustain)
        history.append(recognised.tolist())
    # firm 0 delivers rung 3: rung 1 (sustain 0) at once, rung 2 after 2 months, rung 3 after 3
    # (one rung a month at most); firm 1 stays at the top; firm 2 drops to 1 in month 1
    assert history == [[1, 4, 1], [2, 4, 1], [3, 4, 1], [3, 4, 1]]
    assert streaks[0].tolist() == [4, 4, 4, 4, 0]
    assert streaks[2].tolist() == [4, 4, 0, 0, 0]


def test_choose_firm_picks_by_cumulative_weight_among_the_open_columns():
    weight = np.array([1.0, 2.0, 1.0])
    firms_only = np.zeros((0, 3), np.int16)  # three firms, nobody closed, no outside column
    u = np.array([0.5, 0.99, 0.0])
    # u x total = 2.0 -> cumulative [1, 3, 4]: one column at most 2 -> column 1
    got = kernels.choose_firm(weight, u, np.arange(3), firms_only, 5, np.zeros(0, np.int64))
    assert got.tolist() == [1, 2, 0]
    # every firm closed: no choice; only firm 0 open: firm 0; firms 0 and 1 open and u at its
    # largest value: the last open firm, never the closed firm 2 after it
    closed = np.array([[9, 9, 9], [0, 9, 9], [0, 0, 9]], np.int16)
    u = np.array([0.3, 0.99, 1.0 - 2.0**-53])
    got = kernels.choose_firm(weight, u, np.arange(3), closed, 5, np.zeros(0, np.int64))
    assert got.tolist() == [-1, 0, 1]
    closed = np.array([[0, 5], [9, 0]], np.int16)  # person 0 closed to firm 1, person 1 to 0
    people = np.array([0, 1, 0])
    got = kernels.choose_firm(
        weight, np.array([0.5, 0.1, 0.5]), people, closed, 5, np.zeros(0, np.int64)
    )
    # person 0 (firm 1 closed in month 5): weights [1, 0, 1], u x 2 = 1 -> column 2 (outside)
    # person 1 (firm 0 closed): weights [0, 2, 1], 0.3 -> column 1
    assert got.tolist() == [-1, 1, -1]  # column 2 is the outside column: the rest of the market
    no_one = np.zeros((0, 2), np.int16)
    excluded = kernels.choose_firm(
        weight, np.array([0.1, 0.1]), people[:2], no_one, 5, np.array([0, 1])
    )
    assert excluded.tolist() == [1, 0]


def test_settle_leaving_counts_each_leaver_once_under_the_bad_route():
    rng = np.random.default_rng(13)
    n = 3_000
    customer_firm = rng.integers(0, N_FIRMS, n).astype(np.int8)
    attrition_at = np.flatnonzero(rng.random(n) < 0.05)
    contact_at = np.flatnonzero(rng.random(n) < 0.5)
    bad_at = contact_at[rng.random(contact_at.size) < 0.1]
    leaving_at, stays_at, left_attrition, left_bad = kernels.settle_leaving(
        n, attrition_at, bad_at, contact_at, customer_firm, N_FIRMS
    )
    leaving = np.zeros(n, bool)
    leaving[attrition_at] = True
    leaving[bad_at] = False
    np.testing.assert_array_equal(
        left_attrition, np.bincount(customer_firm[leaving], minlength=N_FIRMS)
    )
    np.testing.assert_array_equal(left_bad, np.bincount(customer_firm[bad_at], minlength=N_FIRMS))
    leaving[bad_at] = True
    np.testing.assert_array_equal(leaving_at, np.flatnonzero(leaving))
    np.testing.assert_array_equal(stays_at, ~leaving[contact_at])
    assert np.intersect1d(attrition_at, bad_at).size > 0  # the overlap was exercised


def test_positions_of_and_take_except_match_numpy():
    rng = np.random.default_rng(17)
    outcome = rng.integers(0, 3, 2_000)
    keep = rng.random(outcome.size) < 0.7
    np.testing.assert_array_equal(
        kernels.positions_of(outcome, rules.DELIGHTED, keep),
        np.flatnonzero((outcome == rules.DELIGHTED) & keep),
    )
    people = np.sort(rng.choice(10_000, 2_000, replace=False))
    at = np.flatnonzero(rng.random(people.size) < 0.2)
    taken = np.sort(rng.choice(people, 300, replace=False))
    expected = np.setdiff1d(people[at], taken)
    got = kernels.take_except(people, at, taken)
    np.testing.assert_array_equal(got, expected)
    assert got.size < at.size  # some were taken


def test_referrals_make_convert_and_settle_conflicts_like_numpy():
    rng = np.random.default_rng(19)
    n, n_refs, t = 400, 3_000, 7
    status = rng.integers(0, 4, n).astype(np.int8)
    target = rng.integers(-1, n, n_refs)  # -1: no one to refer
    referrer_firm = rng.integers(0, N_FIRMS, n_refs).astype(np.int8)
    closed_until = rng.integers(0, 10, (n, N_FIRMS)).astype(np.int16)
    u = rng.random((2, n_refs))
    won_person, won_firm, made, joined = kernels.referrals(
        target, referrer_firm, status, closed_until, t, 0.5, u, rules.PROSPECT, N_FIRMS
    )
    has = target >= 0
    np.testing.assert_array_equal(made, np.bincount(referrer_firm[has], minlength=N_FIRMS))
    safe = np.where(has, target, 0)
    converts = (
        has
        & (status[safe] == rules.PROSPECT)
        & (closed_until[safe, referrer_firm] < t)
        & (u[0] < 0.5)
    )
    order = np.lexsort((u[1][converts], target[converts]))
    tc, fc = target[converts][order], referrer_firm[converts][order]
    first = np.r_[True, tc[1:] != tc[:-1]]
    np.testing.assert_array_equal(won_person, tc[first])
    np.testing.assert_array_equal(won_firm, fc[first])
    np.testing.assert_array_equal(joined, np.bincount(fc[first], minlength=N_FIRMS))
    assert first.sum() < first.size  # conflicts were exercised


def test_leave_and_join_move_people_in_place():
    status = np.full(6, rules.CUSTOMER, np.int8)
    firm = np.array([0, 1, 0, 1, 0, 2], np.int8)  # 2: no firm
    cohort = np.array([True, True, False, True, False, False])
    remaining = np.array([5, 7])
    leavers = np.array([0, 1, 2, 3])
    departures = kernels.leave(
        leavers,
        firm[leavers],
        np.array([False, True, False, False]),
        cohort,
        remaining,
        firm,
        status,
        2,
        rules.AWAY,
    )
    assert departures.tolist() == [0, 2, 3]  # person 1 switches: stays a customer
    assert remaining.tolist() == [4, 5] and not cohort[:4].any()
    assert firm.tolist() == [2, 1, 2, 2, 0, 2]
    assert (
        status.tolist()
        == [rules.AWAY, rules.CUSTOMER, rules.AWAY, rules.AWAY] + [rules.CUSTOMER] * 2
    )
    kernels.join(np.array([2, 5]), np.array([1, 0]), firm, status, rules.CUSTOMER)
    assert firm.tolist() == [2, 1, 1, 2, 0, 0]
    assert status[[2, 5]].tolist() == [rules.CUSTOMER, rules.CUSTOMER]


def test_whole_rows_and_repeats_match_numpy():
    sizes = np.array([0, 5, 2, 9, 3])
    rows, ranks, partial = kernels.whole_rows(sizes, 3)
    assert rows.tolist() == [2, 2, 4, 4, 4] and ranks.tolist() == [0, 1, 0, 1, 2]
    assert partial.tolist() == [1, 3]
    draws = np.array([[4, 1, 4, 4], [3, 2, 1, 0], [7, 7, 2, 2]])
    r, c = kernels.sort_rows_find_repeats(draws)
    assert draws.tolist() == [[1, 4, 4, 4], [0, 1, 2, 3], [2, 2, 7, 7]]
    assert list(zip(r.tolist(), c.tolist(), strict=True)) == [(0, 2), (0, 3), (2, 1), (2, 3)]


def test_tarp_leaves_matches_the_numpy_cases():
    rng = np.random.default_rng(23)
    n = 4_000
    firm_of = rng.integers(0, N_FIRMS, n).astype(np.int8)
    department = rng.integers(0, 2, n)
    resolve = np.array([[0.3, 0.6], [0.5, 0.7], [0.8, 0.9]])
    quick = np.array([[0.2, 0.4], [0.5, 0.5], [0.6, 0.9]])
    stay = np.array([0.09, 0.19, 0.54, 0.82])
    u = rng.random((4, n))
    leaves, complaints, resolved = kernels.tarp_leaves(
        u, firm_of, department, 0.4, resolve, quick, stay
    )
    complained = u[0] < 0.4
    is_resolved = complained & (u[1] < resolve[firm_of, department])
    is_quick = is_resolved & (u[2] < quick[firm_of, department])
    case = rules.tarp_case(complained, is_resolved, is_quick)
    np.testing.assert_array_equal(leaves, u[3] >= stay[case])
    np.testing.assert_array_equal(complaints, np.bincount(firm_of[complained], minlength=N_FIRMS))
    np.testing.assert_array_equal(resolved, np.bincount(firm_of[is_resolved], minlength=N_FIRMS))
    assert set(case.tolist()) == {0, 1, 2, 3}


def test_strikes_leave_counts_the_window_and_keeps_the_latest_months():
    no = np.iinfo(np.int16).min
    months = np.array([[no, no], [8, 9], [3, 9], [9, no]], np.int16)  # 3 strikes: keep 2
    leaves = kernels.strikes_leave(months, np.array([0, 1, 2, 3]), 10, 6, 3)
    # window of 6 months at t = 10: months 5..10. Person 1 has 8 and 9: its third strike.
    assert leaves.tolist() == [False, True, False, False]
    # month 10 replaces each person's oldest kept month (an empty slot counts as oldest)
    assert months.tolist() == [[10, no], [10, 9], [10, 9], [9, 10]]


def test_below_matches_flatnonzero_in_float32():
    u = np.random.default_rng(29).random(3_000, dtype=np.float32)
    chance = np.float32(0.3)
    np.testing.assert_array_equal(kernels.below(u, chance), np.flatnonzero(u < 0.3))
    assert kernels.below(u, np.float32(0.0)).size == 0


def test_successes_are_the_running_sums_of_the_gaps_below_n():
    gaps = np.array([3, 1, 4, 1, 5])
    assert kernels.successes(gaps, 0, 100).tolist() == [2, 3, 7, 8, 13]  # all: draw more
    assert kernels.successes(gaps, 0, 8).tolist() == [2, 3, 7]
    assert kernels.successes(gaps, 14, 100).tolist() == [16, 17, 21, 22, 27]  # after trial 13
