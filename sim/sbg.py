"""The shifted-beta-geometric (sBG) model of cohort retention (Fader & Hardie 2007), and the
cohort likelihood both it and the calibration use.

Each customer leaves at the end of a period with a chance theta of their own, constant for life;
theta varies over customers as Beta(gamma, delta). A cohort then keeps the share
``S(t) = B(gamma, delta + t) / B(gamma, delta)`` after t periods, and its retention rate rises
with tenure, ``(delta + t - 1) / (gamma + delta + t - 1)`` in period t. It is the standard
statistical model of the same data the agent model is calibrated on, and the known answer of the
"heterogeneous retention" special case (`sim.validation`), in months.

The likelihood (`cohort_loglik`) is that of Fader & Hardie: the people who left in each interval
between observed months, and the people still active at the last one (right-censored), a product
of binomials, one per interval, conditional on the people active at its start. It takes any
spacing of the observed months. `fit_sbg` maximises it with scipy over (gamma, delta) on the
data's own period (the greatest common divisor of the gaps between observed months: years for
yearly data), since an sBG in months and one in years are different models.

Reference: Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. Journal of
Interactive Marketing 21(1), 76-90. doi:10.1002/dir.20074.

What does not live here: reading the data file and running the agent model (`calibrate.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import numpy as np

PROB_FLOOR = 1e-12  # a model chance of 0 for an observed event counts as this (docs/model.md D52)


def survival(t: np.ndarray | float, gamma: float, delta: float) -> np.ndarray:
    """The sBG share of a cohort still active after ``t`` periods, ``B(g, d + t) / B(g, d)``.

    Args:
        t: periods since the start (>= 0; need not be whole).
        gamma, delta: the Beta parameters (> 0).
    """
    from scipy.special import betaln  # here: every process imports this module, few call it

    t = np.asarray(t, dtype=float)
    return np.exp(betaln(gamma, delta + t) - betaln(gamma, delta))


def retention_rate(t: np.ndarray | float, gamma: float, delta: float) -> np.ndarray:
    """The sBG retention rate of period t (>= 1): ``(delta + t - 1) / (gamma + delta + t - 1)``."""
    t = np.asarray(t, dtype=float)
    return (delta + t - 1) / (gamma + delta + t - 1)


def cohort_loglik(active: np.ndarray, retained: np.ndarray) -> float:
    """Log-likelihood of an observed cohort under a model's retained shares (Fader & Hardie 2007).

    The people who left in each interval ``(t[i-1], t[i]]`` are binomial, out of the people active
    at its start, with the model's chance ``1 - S(t[i]) / S(t[i-1])`` of leaving in it; the
    product over intervals is the likelihood of the leavers of every interval and of the people
    still active at the end. Constants (binomial coefficients) are left out.

    Args:
        active: people active at each observed month, month 0 first (the cohort size), in
            order; need not be whole numbers (shares times a cohort size).
        retained: the model's share retained at the same months (``retained[0]`` is 1).

    Returns:
        The log-likelihood (<= 0); a model chance of 0 for something observed counts as
        `PROB_FLOOR`.
    """
    active = np.asarray(active, dtype=float)
    retained = np.asarray(retained, dtype=float)
    start, end = retained[:-1], retained[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        stay = np.where(start > 0, end / start, 0.0)
    stay = np.clip(stay, PROB_FLOOR, 1.0 - PROB_FLOOR)
    left = active[:-1] - active[1:]
    return float(np.sum(left * np.log1p(-stay) + active[1:] * np.log(stay)))


def data_period(months: np.ndarray) -> int:
    """The data's own period in months: the greatest common divisor of the observed months."""
    return int(reduce(math.gcd, (int(m) for m in months if m > 0), 0)) or 1


@dataclass(frozen=True)
class SBGFit:
    """A maximum-likelihood sBG fit.

    Attributes:
        gamma, delta: the Beta parameters of the per-period churn chance.
        period_months: the period the model is in (months per period).
        loglik: the maximised log-likelihood (binomial coefficients left out).
        points: observed months the fit used.
    """

    gamma: float
    delta: float
    period_months: int
    loglik: float
    points: int

    def retained(self, months: np.ndarray | float) -> np.ndarray:
        """The fitted share retained at ``months`` (months since the start; forecasts beyond
        the fitted points)."""
        return survival(
            np.asarray(months, dtype=float) / self.period_months, self.gamma, self.delta
        )

    @property
    def mean_churn(self) -> float:
        """The mean churn chance per period, ``gamma / (gamma + delta)``."""
        return self.gamma / (self.gamma + self.delta)

    @property
    def polarization(self) -> float:
        """The polarization index ``1 / (gamma + delta + 1)`` (Fader & Hardie 2007)."""
        return 1.0 / (self.gamma + self.delta + 1.0)


def fit_sbg(months: np.ndarray, active: np.ndarray, period_months: int | None = None) -> SBGFit:
    """Fit the sBG model by maximum likelihood (scipy, L-BFGS-B on log gamma and log delta).

    Args:
        months: observed months, 0 first, increasing.
        active: people active at each (month 0: the cohort size).
        period_months: the model's period; default `data_period` of ``months``.

    Returns:
        The fit.
    """
    from scipy.optimize import minimize  # here: importing scipy.optimize takes a second

    months = np.asarray(months, dtype=float)
    period = period_months or data_period(months)
    t = months / period

    def negative(x: np.ndarray) -> float:
        return -cohort_loglik(active, survival(t, math.exp(x[0]), math.exp(x[1])))

    best = None
    for start in ((0.0, 0.0), (-1.0, 1.0), (1.0, 2.0)):  # a few starts: the surface is flat-ish
        result = minimize(negative, np.array(start), method="L-BFGS-B", bounds=[(-12, 12)] * 2)
        if best is None or result.fun < best.fun:
            best = result
    assert best is not None  # three starts were tried
    gamma, delta = (math.exp(v) for v in best.x)
    return SBGFit(gamma, delta, period, -float(best.fun), int(months.size))
