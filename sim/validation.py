"""Known answers: the closed forms that MODEL.md's special cases must reproduce.

Each function is the expected value the simulation is checked against in tests/ (and, later, by
`retention-sim check`). Derivations are in docs/model.md. Nothing here runs a model.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq


def word_of_mouth_step(share: float, p: float, q: float, size: int, churn: float = 0.0) -> float:
    """Expected customer share next month in the word-of-mouth special case.

    Every interaction delights, so each customer who stays (chance ``1 - churn``) refers a given
    other person with chance ``q / (size - 1)`` (q = contact x refer x conversion, counting only
    successful referrals); a prospect not won by a referral joins through marketing with ``p``.
    With ``churn = 0`` this is MODEL.md's recursion
    ``F' = F + (1 - F)(1 - (1 - p)(1 - q/(N - 1))^(N F))``; with churn (leavers returning at once
    as prospects next month) the customers who leave neither refer nor stay.
    """
    not_won = (1.0 - p) * (1.0 - q * (1.0 - churn) / (size - 1)) ** (size * share)
    return share * (1.0 - churn) + (1.0 - share) * (1.0 - not_won)


def word_of_mouth_path(
    share0: float, p: float, q: float, size: int, months: int, churn: float = 0.0
) -> np.ndarray:
    """The recursion iterated: shares at months 0..months."""
    path = [share0]
    for _ in range(months):
        path.append(word_of_mouth_step(path[-1], p, q, size, churn))
    return np.array(path)


def word_of_mouth_equilibrium(p: float, q: float, size: int, churn: float) -> float:
    """The long-run share where inflow equals outflow (Libai, Muller & Peres 2009)."""
    return brentq(lambda f: word_of_mouth_step(f, p, q, size, churn) - f, 1e-12, 1.0)


def cohort_clv(monthly_fee: float, retention: float, rate: float, months: int) -> float:
    """Discounted revenue per initial customer of a cohort keeping monthly retention ``r`` for
    ``months`` months (Gupta & Lehmann 2003): ``m a (1 - a^T) / (1 - a)``, ``a = r / (1 + i)``."""
    a = retention / (1.0 + rate)
    if a == 1.0:
        return monthly_fee * months
    return monthly_fee * a * (1.0 - a**months) / (1.0 - a)


def cohort_clv_variance(monthly_fee: float, retention: float, rate: float, months: int) -> float:
    """Variance of one customer's discounted revenue in that cohort (lifetimes geometric), for
    stating sampling bounds: the CLV per initial customer of N people has variance this / N."""
    d = (1.0 + rate) ** -np.arange(1, months + 1)
    value = monthly_fee * np.concatenate([[0.0], np.cumsum(d)])  # value of a lifetime of L months
    lifetimes = np.arange(months + 1)
    prob = retention**lifetimes * (1.0 - retention)
    prob[-1] = retention**months  # still a customer at the horizon
    mean = float(prob @ value)
    return float(prob @ value**2 - mean**2)
