"""sim/sbg.py: the shifted-beta-geometric model, its likelihood, and the published fits."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import beta as beta_function

from sim import rules, sbg

DATA = Path(__file__).resolve().parent.parent / "data" / "fader_hardie_2007_table1.csv"


def three_figures(x: float) -> float:
    return float(f"{x:.3g}")


@pytest.mark.parametrize(
    ("segment", "gamma", "delta"), [("regular", 0.704, 1.182), ("high_end", 0.668, 3.806)]
)
def test_fit_reproduces_fader_hardie_2007_estimates_to_three_figures(segment, gamma, delta):
    table = pd.read_csv(DATA)
    rows = table[(table["segment"] == segment) & (table["month"] <= 84)]  # years 0-7
    fit = sbg.fit_sbg(rows["month"].to_numpy(), rows["active"].to_numpy())
    assert fit.period_months == 12
    assert three_figures(fit.gamma) == three_figures(gamma)
    assert three_figures(fit.delta) == three_figures(delta)


def test_published_loglikelihoods():
    # Fader & Hardie (2007) report LL = -1680.3 (regular) and -1611.2 (high end).
    table = pd.read_csv(DATA)
    ll = {}
    for segment, rows in table[table["month"] <= 84].groupby("segment"):
        ll[segment] = sbg.fit_sbg(rows["month"].to_numpy(), rows["active"].to_numpy()).loglik
    assert round(ll["regular"], 1) == -1680.3
    assert round(ll["high_end"], 1) == -1611.2


def test_survival_is_the_beta_ratio_and_the_product_of_retention_rates():
    g, d = 0.7, 1.2
    t = np.arange(0, 8)
    expected = beta_function(g, d + t) / beta_function(g, d)
    np.testing.assert_allclose(sbg.survival(t, g, d), expected, rtol=1e-12)
    product = np.cumprod(np.concatenate([[1.0], sbg.retention_rate(t[1:], g, d)]))
    np.testing.assert_allclose(sbg.survival(t, g, d), product, rtol=1e-12)


def test_cohort_loglik_is_the_binomial_leavers_per_interval():
    active = np.array([100.0, 80.0, 70.0])
    retained = np.array([1.0, 0.75, 0.6])
    p1, p2 = 0.75, 0.6 / 0.75
    expected = 20 * math.log(1 - p1) + 80 * math.log(p1) + 10 * math.log(1 - p2) + 70 * math.log(p2)
    assert sbg.cohort_loglik(active, retained) == pytest.approx(expected, rel=1e-12)


def test_cohort_loglik_floors_impossible_events():
    value = sbg.cohort_loglik(np.array([10.0, 9.0]), np.array([1.0, 1.0]))
    assert value == pytest.approx(math.log(sbg.PROB_FLOOR), rel=1e-6)


def test_data_period_is_the_gcd_of_the_months():
    assert sbg.data_period(np.array([0, 12, 24, 36])) == 12
    assert sbg.data_period(np.array([0, 3, 6, 12, 18])) == 3
    assert sbg.data_period(np.array([0])) == 1


def test_beta_parameters_have_the_mean_and_the_polarization():
    a, b = rules.beta_parameters(0.05, 0.3)
    assert a / (a + b) == pytest.approx(0.05)
    assert 1 / (a + b + 1) == pytest.approx(0.3)
    assert rules.attrition_polarized(0.05, 0.3)
    assert not rules.attrition_polarized(0.05, 0.0)
    assert not rules.attrition_polarized(0.0, 0.3)
