"""sim/validation.py's closed forms, against direct computation."""

import numpy as np
import pytest

from sim.validation import (
    bass_share,
    cohort_clv,
    cohort_clv_variance,
    word_of_mouth_equilibrium,
    word_of_mouth_path,
    word_of_mouth_step,
    z_bound,
)


def test_cohort_clv_is_the_mean_of_a_geometric_lifetimes_discounted_value():
    fee, r, rate, months = 30.0, 0.9, 0.01, 120
    d = (1 + rate) ** -np.arange(1, months + 1)
    assert cohort_clv(fee, r, rate, months) == pytest.approx(
        fee * np.sum(r ** np.arange(1, months + 1) * d)
    )
    assert cohort_clv(fee, r, rate, 10**6) == pytest.approx(fee * r / (1 + rate - r))  # the limit
    assert cohort_clv(fee, 1.0, 0.0, 12) == 360.0


def test_cohort_clv_variance_matches_a_monte_carlo_of_lifetimes():
    fee, r, rate, months = 30.0, 0.9, 0.01, 60
    rng = np.random.default_rng(1)
    lifetimes = np.minimum(rng.geometric(1 - r, 400_000) - 1, months)
    value = (
        fee * np.concatenate([[0.0], np.cumsum((1 + rate) ** -np.arange(1, months + 1))])[lifetimes]
    )
    assert value.mean() == pytest.approx(cohort_clv(fee, r, rate, months), rel=0.005)
    assert value.var() == pytest.approx(cohort_clv_variance(fee, r, rate, months), rel=0.02)


def test_word_of_mouth_recursion_by_hand():
    # N = 3, F = 1/3: one customer, a prospect is missed with (1 - p)(1 - q/2)
    f = word_of_mouth_step(1 / 3, 0.1, 0.5, 3)
    assert f == pytest.approx(1 / 3 + (2 / 3) * (1 - 0.9 * 0.75))
    path = word_of_mouth_path(0.0, 0.03, 0.38, 1000, 3)
    assert path[0] == 0 and path[1] == pytest.approx(0.03)
    assert np.all(np.diff(path) > 0)


def test_equilibrium_balances_inflow_and_outflow():
    f = word_of_mouth_equilibrium(0.03, 0.38, 5000, 0.05)
    assert word_of_mouth_step(f, 0.03, 0.38, 5000, 0.05) == pytest.approx(f, abs=1e-10)


def test_bass_curve_and_the_recursion_agree_for_small_steps():
    # the recursion with monthly p, q is Bass's discrete analogue: close for small p and q
    p, q = 0.003, 0.038
    path = word_of_mouth_path(0.0, p, q, 10**6, 120)
    assert path[120] == pytest.approx(bass_share(120, p, q), abs=0.01)
    assert bass_share(0, 0.03, 0.38) == 0


def test_z_bound_is_bonferroni():
    assert z_bound(1) == pytest.approx(3.2905, abs=1e-4)
    assert z_bound(5) == pytest.approx(3.7190, abs=1e-4)


def test_outside_rung_share_is_the_two_option_logit():
    from sim.validation import outside_rung_share

    e = np.exp
    assert outside_rung_share(4, 2, 0.5) == pytest.approx(e(2.0) / (e(2.0) + e(1.0)))
    assert outside_rung_share(2, 2, 0.5) == 0.5
    assert outside_rung_share(0, 2, 0.5) + outside_rung_share(4, 2, 0.5) == pytest.approx(1.0)
