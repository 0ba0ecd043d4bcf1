"""The population engine's compiled loops compute exactly what the numpy code they replace did."""

from __future__ import annotations

import numpy as np

from sim import kernels, rules

N_FIRMS = 3


def market(n: int = 5_000, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random statuses, firms (``N_FIRMS`` for everyone but customers) and expectations."""
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 4, n).astype(np.int8)
    firm = np.where(status == rules.CUSTOMER, rng.integers(0, N_FIRMS, n), N_FIRMS)
    expectation = (rng.random(n) * 10).astype(np.float32)
    return status, firm.astype(np.int8), expectation


def test_people_by_status_matches_the_numpy_counts_bit_for_bit():
    status, firm, expectation = market()
    customers, prospects, per_firm, expectation_sum = kernels.people_by_status(
        status, firm, expectation, N_FIRMS, rules.CUSTOMER, rules.PROSPECT
    )
    expected_customers = np.flatnonzero(status == rules.CUSTOMER)
    np.testing.assert_array_equal(customers, expected_customers)
    np.testing.assert_array_equal(prospects, np.flatnonzero(status == rules.PROSPECT))
    of = firm[expected_customers]
    np.testing.assert_array_equal(per_firm, np.bincount(of, minlength=N_FIRMS))
    weights = expectation[expected_customers]
    assert expectation_sum.tolist() == np.bincount(of, weights=weights, minlength=N_FIRMS).tolist()


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
    got_quality, got_outcome = kernels.experiences(
        normal.copy(), firm_of, department, mean, sd, expectation, people, np.float32(1.5)
    )
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
