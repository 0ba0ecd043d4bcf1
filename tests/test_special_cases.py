"""The special cases with known answers at the end of MODEL.md, on every engine.

Each case is set up exactly as MODEL.md says (adaptation, pull, switching and negative word of mouth
off, one firm), with a one-rung inline ladder of fixed quality (sd 0) so that every interaction has
the named outcome. Seeds are fixed, so every test is deterministic; each bound is a z bound on the
sampling error at a family-wise level of 0.001 (Bonferroni over the months compared).
"""

import numpy as np
import pytest
from scipy import stats

from conftest import ENGINES
from sim import load_scenario, simulate
from sim.validation import (
    cohort_clv,
    cohort_clv_variance,
    word_of_mouth_equilibrium,
    word_of_mouth_path,
    word_of_mouth_step,
)

FAMILY_ALPHA = 0.001


def z_bound(comparisons: int, alpha: float = FAMILY_ALPHA) -> float:
    """Two-sided z critical value for `comparisons` tests at family-wise level `alpha`."""
    return float(stats.norm.ppf(1 - alpha / (2 * comparisons)))


def known_answer_scenario(
    *,
    size,
    initial,
    expectation,
    contact,
    churn,
    acquisition=0.0,
    refer=0.0,
    conversion=0.0,
    months=24,
    fee=30.0,
    rate=0.01,
):
    return load_scenario(
        {
            "scenario": {"seed": 1, "months": months, "replicates": 1},
            "rungs": [
                {
                    "id": "only",
                    "quality_mean": 5.0,
                    "quality_sd": 0.0,
                    "resolve_prob": 0.5,
                    "quick_resolve_prob": 0.5,
                    "cost_per_customer": 1.0,
                    "sustain_months": 0,
                }
            ],
            "market": {"size": size, "initial_customers": initial},
            "customers": {
                "expectation_mean": expectation,
                "expectation_sd": 0.0,
                "tolerance": 0.0,
                "adapt_rate": 0.0,
                "market_pull": 0.0,
                "contact_prob": contact,
            },
            "churn": {"switch_prob": 0.0, **churn},
            "referrals": {"refer_prob": refer, "conversion": conversion, "negative_reach": 0},
            "acquisition": {"prob": acquisition},
            "finance": {"discount_rate": rate},
            "firms": [{"name": "F", "service_level": "only", "monthly_fee": fee}],
        }
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_every_interaction_bad_fixed_rule_decays_by_one_minus_contact_times_leave(engine):
    n, contact, leave = 20000, 0.5, 0.91
    sc = known_answer_scenario(
        size=n,
        initial=n,
        expectation=10.0,
        contact=contact,
        months=6,
        churn={"rule": "fixed", "leave_prob": leave, "base_prob": 0.0},
    )
    frame = simulate(sc, seed=11, engine=engine)
    factor = 1 - contact * leave
    months = np.arange(1, 7)
    expected = n * factor**months
    observed = frame["customers"].to_numpy()[1:]
    sd = np.sqrt(n * factor**months * (1 - factor**months))  # customers_t ~ Binomial(N, factor^t)
    assert np.all(np.abs(observed - expected) <= z_bound(len(months)) * sd), (observed, expected)
    assert (frame["bad_experiences"][1:] == frame["interactions"][1:]).all()
    assert (frame["delighted"] == 0).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_constant_retention_cohort_and_discounted_revenue_per_customer(engine):
    n, r, fee, rate, months = 20000, 0.9, 30.0, 0.01, 60
    sc = known_answer_scenario(
        size=n,
        initial=n,
        expectation=5.0,
        contact=0.0,
        months=months,
        fee=fee,
        rate=rate,
        churn={"base_prob": 1 - r},
    )
    frame = simulate(sc, seed=12, engine=engine)
    checked = [1, 6, 12, 24, 48, 60]
    z = z_bound(len(checked) + 1)
    for t in checked:
        expected = n * r**t
        sd = np.sqrt(n * r**t * (1 - r**t))
        assert abs(frame["customers"][t] - expected) <= z * sd, t
        assert frame["cohort_retention"][t] == frame["customers"][t] / n
    clv = frame["discounted_revenue"].iloc[-1] / n
    expected = cohort_clv(fee, r, rate, months)
    assert abs(clv - expected) <= z * np.sqrt(cohort_clv_variance(fee, r, rate, months) / n)
    assert frame["retention_rate"][1:].mean() == pytest.approx(r, abs=0.01)


def test_cohort_clv_closed_form_equals_the_lifetime_distribution_mean():
    # m a (1 - a^T)/(1 - a) is the mean of the discounted value of a geometric lifetime
    fee, r, rate, months = 30.0, 0.9, 0.01, 120
    d = (1 + rate) ** -np.arange(1, months + 1)
    assert cohort_clv(fee, r, rate, months) == pytest.approx(
        fee * np.sum(r ** np.arange(1, months + 1) * d)
    )
    assert cohort_clv(fee, r, rate, 10**6) == pytest.approx(
        fee * r / (1 + rate - r)
    )  # Gupta-Lehmann limit


WOM = dict(
    size=5000, initial=0, expectation=0.0, contact=0.5, acquisition=0.03, refer=0.76, conversion=1.0
)
P, Q = 0.03, 0.5 * 0.76 * 1.0  # Sultan, Farley & Lehmann (1990) averages, used per month


@pytest.mark.parametrize("engine", ENGINES)
def test_word_of_mouth_one_month_ahead_matches_the_recursion(engine):
    """Conditional on the share at the start of a month, the month's joiners have the mean the
    recursion gives exactly; the count of independent prospects' joins is (at most) binomial."""
    sc = known_answer_scenario(**WOM, months=15, churn={"leave_prob": 0.0, "base_prob": 0.0})
    frame = simulate(sc, seed=13, engine=engine)
    n = WOM["size"]
    share = frame["customers"].to_numpy() / n
    months = np.arange(1, 16)
    z = z_bound(len(months))
    for t in months:
        prospects = n * (1 - share[t - 1])
        p_join = (word_of_mouth_step(share[t - 1], P, Q, n) - share[t - 1]) / (1 - share[t - 1])
        joined = frame["joined_marketing"][t] + frame["joined_referral"][t]
        assert abs(joined - prospects * p_join) <= z * np.sqrt(prospects * p_join * (1 - p_join)), t
    assert (frame["delighted"][1:] == frame["interactions"][1:]).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_word_of_mouth_path_follows_the_bass_like_curve(engine):
    sc = known_answer_scenario(**WOM, months=24, churn={"leave_prob": 0.0, "base_prob": 0.0})
    n, reps = WOM["size"], 8
    shares = np.array(
        [simulate(sc, seed=100 + i, engine=engine)["customers"].to_numpy() / n for i in range(reps)]
    )
    path = word_of_mouth_path(0.0, P, Q, n, 24)
    checked = [3, 6, 9, 12, 18]
    t_crit = stats.t.ppf(1 - FAMILY_ALPHA / (2 * len(checked)), reps - 1)
    for t in checked:
        mean, se = shares[:, t].mean(), shares[:, t].std(ddof=1) / np.sqrt(reps)
        # sampling bound plus the recursion's mean-field error (Jensen), tiny at N = 5000
        assert abs(mean - path[t]) <= t_crit * se + 0.002, (t, mean, path[t])
    assert path[24] > 0.9 and path[6] < 0.6  # the S-shape is really being tested


@pytest.mark.parametrize("engine", ENGINES)
def test_word_of_mouth_with_churn_settles_where_inflow_equals_outflow(engine):
    delta, n, burn_in, months = 0.05, 20000, 80, 200
    sc = known_answer_scenario(
        **{**WOM, "size": n},
        months=months,
        churn={"leave_prob": 0.0, "base_prob": delta, "leavers_return_after": 0},
    )
    frame = simulate(sc, seed=14, engine=engine)
    share = frame["customers"].to_numpy()[burn_in:] / n
    f_star = word_of_mouth_equilibrium(P, Q, n, delta)
    # Bound on the mean of the share over T months around F*: linearised, the share relaxes to F*
    # at rate lam = 1 - d(step)/dF per month, with monthly noise of variance ~ 2 delta F* / N
    # (binomial outflow and inflow, equal at F*), so the T-month mean has sd ~ noise / (lam sqrt T).
    h = 1e-6
    lam = 1 - (
        word_of_mouth_step(f_star + h, P, Q, n, delta)
        - word_of_mouth_step(f_star - h, P, Q, n, delta)
    ) / (2 * h)
    sd_mean = np.sqrt(2 * delta * f_star / n) / (lam * np.sqrt(len(share)))
    assert abs(share.mean() - f_star) <= z_bound(1) * sd_mean, (share.mean(), f_star, sd_mean)
    assert 0.7 < f_star < 0.95
