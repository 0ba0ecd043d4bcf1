"""Known answers: the closed forms of the special cases of docs/model.md section 7.10, and the cases that check them.

Two layers:

- closed forms (`word_of_mouth_step`, `word_of_mouth_path`, `word_of_mouth_equilibrium`,
  `bass_share`, `cohort_clv`, `cohort_clv_variance`, `outside_rung_share`): expected values, no
  simulation;
- `CASES`: each runs the model on one engine with fixed seeds, set up exactly as docs/model.md
  section 7.10 says,
  and compares what it simulates with the known answer under a bound stated from the sampling
  error (family-wise level `FAMILY_ALPHA` within a case, Bonferroni). `run_checks` runs them all;
  `retention-sim check` prints the table and tests/validation/ asserts every row passes on every
  engine.

Derivations are in docs/model.md. Nothing here writes files; the CLI does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri, stdtrit

from sim import rules, sbg

FAMILY_ALPHA = 0.001

# --------------------------------------------------------------------------------------------
# Closed forms.


def word_of_mouth_step(share: float, p: float, q: float, size: int, churn: float = 0.0) -> float:
    """Expected customer share next month in the word-of-mouth special case.

    Every interaction delights, so each customer who stays (chance ``1 - churn``) refers a given
    other person with chance ``q / (size - 1)`` (q = contact x refer x conversion, counting only
    successful referrals); a prospect not won by a referral joins through marketing with ``p``.
    With ``churn = 0`` this is the recursion of docs/model.md section 7.10
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


def bass_share(t: float, p: float, q: float) -> float:
    """The Bass (1969) adoption curve ``F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t})``.

    For a large market the recursion above is a discrete-time relative of it: with
    ``(1 - q/(N-1))^(N F) ~ e^(-q F)`` the monthly gain is ``(1 - F)(1 - (1 - p) e^(-q F))``,
    which is ``(1 - F)(p + q F)`` to first order, Bass's hazard.
    """
    e = math.exp(-(p + q) * t)
    return (1.0 - e) / (1.0 + (q / p) * e)


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


# --------------------------------------------------------------------------------------------
# Bounds.


def z_bound(comparisons: int, alpha: float = FAMILY_ALPHA) -> float:
    """Two-sided normal critical value for ``comparisons`` tests at family-wise level ``alpha``."""
    return float(ndtri(1.0 - alpha / (2 * comparisons)))


def t_bound(comparisons: int, dof: int, alpha: float = FAMILY_ALPHA) -> float:
    """Two-sided Student-t critical value, Bonferroni over ``comparisons``."""
    return float(stdtrit(dof, 1.0 - alpha / (2 * comparisons)))


# --------------------------------------------------------------------------------------------
# The cases.


@dataclass(frozen=True)
class Check:
    """One comparison of a case: a simulated value against the known answer, with its bound."""

    case: str
    source: str
    quantity: str
    expected: float
    simulated: float
    low: float  # the interval the simulated value must fall in for the check to pass
    high: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.simulated <= self.high)


@dataclass(frozen=True)
class Case:
    """A known-answer case: ``run(engine, quick)`` returns its checks."""

    name: str
    source: str
    description: str
    run: Callable[[str, bool], list[Check]]


ONE_RUNG = {
    "id": "only",
    "label": "Only",
    "quality_mean": 5.0,
    "quality_sd": 0.0,
    "resolve_prob": 1.0,
    "quick_resolve_prob": 1.0,
    "cost_per_customer": 1.0,
    "sustain_months": 0,
}


def known_answer_scenario(
    *,
    size: int,
    initial: int,
    months: int,
    expectation: float,
    contact: float,
    churn: dict[str, Any],
    acquisition: float = 0.0,
    refer: float = 0.0,
    conversion: float = 0.0,
    network: Any = "well_mixed",
    rung: dict[str, Any] | None = None,
    fee: float = 30.0,
    rate: float = 0.01,
):
    """One firm on a one-rung ladder of fixed quality 5 (sd 0), adaptation, pull, switching and
    negative word of mouth off: with expectation 0 every interaction delights, with 10 every one
    is bad (the set-up of docs/model.md section 7.10)."""
    from sim.scenario import load_scenario

    return load_scenario(
        {
            "scenario": {"seed": 1, "months": months, "replicates": 1},
            "rungs": [{**ONE_RUNG, **(rung or {})}],
            "market": {"size": size, "initial_customers": initial, "network": network},
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
            "firms": [{"name": "Firm", "service_level": "only", "monthly_fee": fee}],
        },
        source_name="validation case",
    )


def _runs(scenario, engine: str, replicates: int, seed: int) -> list:
    from sim.runner import simulate

    return [simulate(scenario, seed=seed + r, engine=engine) for r in range(replicates)]


# Word of mouth: p and q of Sultan, Farley & Lehmann (1990), per month; q = contact x refer x conv.
WOM_P, WOM_CONTACT, WOM_REFER, WOM_CONVERSION = 0.03, 0.5, 0.76, 1.0
WOM_Q = WOM_CONTACT * WOM_REFER * WOM_CONVERSION


def _wom_scenario(size: int, months: int, churn: dict[str, Any], network: Any = "well_mixed"):
    return known_answer_scenario(
        size=size,
        initial=0,
        months=months,
        expectation=0.0,
        contact=WOM_CONTACT,
        churn=churn,
        acquisition=WOM_P,
        refer=WOM_REFER,
        conversion=WOM_CONVERSION,
        network=network,
    )


def _case_diffusion(engine: str, quick: bool) -> list[Check]:
    size, reps, months = (2000, 6, 18) if quick else (5000, 10, 24)
    scenario = _wom_scenario(size, months, {"leave_prob": 0.0, "base_prob": 0.0})
    shares = np.array(
        [f["customers"].to_numpy() / size for f in _runs(scenario, engine, reps, 100)]
    )
    path = word_of_mouth_path(0.0, WOM_P, WOM_Q, size, months)
    checked = [3, 6, 9, 12, 18]
    crit = t_bound(len(checked), reps - 1)
    checks = []
    for t in checked:
        mean, se = shares[:, t].mean(), shares[:, t].std(ddof=1) / math.sqrt(reps)
        # sampling bound, plus the recursion's own mean-field (Jensen) error: below 0.002 here
        half = crit * se + 0.002
        checks.append(
            Check(
                "word_of_mouth_diffusion",
                "Bass 1969; Sultan, Farley & Lehmann 1990",
                f"customer share at month {t}",
                float(path[t]),
                float(mean),
                float(path[t] - half),
                float(path[t] + half),
                f"Bass curve, same p and q: {bass_share(t, WOM_P, WOM_Q):.3f}",
            )
        )
    return checks


def _case_one_month_ahead(engine: str, quick: bool) -> list[Check]:
    """Given the share at the start of a month, the month's joiners have the recursion's mean
    exactly; prospects join (nearly) independently, so the count is at most binomially spread."""
    size, months = (2000, 12) if quick else (5000, 15)
    scenario = _wom_scenario(size, months, {"leave_prob": 0.0, "base_prob": 0.0})
    frame = _runs(scenario, engine, 1, 13)[0]
    share = frame["customers"].to_numpy() / size
    joined = (frame["joined_marketing"] + frame["joined_referral"]).to_numpy()
    z = z_bound(months)
    checks = []
    for t in range(1, months + 1):
        prospects = size * (1 - share[t - 1])
        p_join = (word_of_mouth_step(share[t - 1], WOM_P, WOM_Q, size) - share[t - 1]) / (
            1 - share[t - 1]
        )
        expected = prospects * p_join
        half = z * math.sqrt(prospects * p_join * (1 - p_join))
        checks.append(
            Check(
                "word_of_mouth_one_month_ahead",
                "docs/model.md 7.4 referral rule",
                f"joiners in month {t}",
                expected,
                float(joined[t]),
                expected - half,
                expected + half,
            )
        )
    return checks


def _case_networks(engine: str, quick: bool) -> list[Check]:
    """Diffusion on a ring lattice and on a small world is slower than in a well-mixed market with
    the same p and q (Fibich & Gibori 2010; ordering, not values): a referral to a neighbour is
    often wasted on someone already won."""
    size, reps, month = 2000, 10, 8
    churn = {"leave_prob": 0.0, "base_prob": 0.0}
    markets = {
        "ring lattice": {"generator": "watts_strogatz", "k": 4, "p": 0.0},
        "small world": {"generator": "watts_strogatz", "k": 4, "p": 0.1},
        "well mixed": "well_mixed",
    }
    means, ses = {}, {}
    for name, network in markets.items():
        scenario = _wom_scenario(size, month, churn, network)
        x = np.array(
            [f["customers"].iloc[month] / size for f in _runs(scenario, engine, reps, 200)]
        )
        means[name], ses[name] = x.mean(), x.std(ddof=1) / math.sqrt(reps)
    crit = t_bound(2, reps - 1)
    checks = []
    for slower in ("ring lattice", "small world"):
        gap = means["well mixed"] - means[slower]
        half = crit * math.hypot(ses["well mixed"], ses[slower])
        checks.append(
            Check(
                "word_of_mouth_on_networks",
                "Fibich & Gibori 2010",
                f"share at month {month}: well mixed minus {slower} (> 0)",
                float("nan"),
                float(gap),
                half,
                float("inf"),
                f"{slower} {means[slower]:.3f} < well mixed {means['well mixed']:.3f}",
            )
        )
    return checks


def _case_equilibrium(engine: str, quick: bool) -> list[Check]:
    size, burn_in, months = (5000, 60, 140) if quick else (20000, 80, 200)
    deltas = (0.02, 0.05, 0.1)
    z = z_bound(len(deltas))
    checks = []
    for i, delta in enumerate(deltas):
        scenario = _wom_scenario(
            size, months, {"leave_prob": 0.0, "base_prob": delta, "leavers_return_after": 0}
        )
        share = _runs(scenario, engine, 1, 14 + i)[0]["customers"].to_numpy()[burn_in:] / size
        f_star = word_of_mouth_equilibrium(WOM_P, WOM_Q, size, delta)
        # Linearised, the share relaxes to F* at rate lam per month, with monthly noise of
        # variance ~ 2 delta F* / N (binomial in- and outflow, equal at F*): the T-month mean
        # has sd ~ noise / (lam sqrt T).
        h = 1e-6
        up = word_of_mouth_step(f_star + h, WOM_P, WOM_Q, size, delta)
        down = word_of_mouth_step(f_star - h, WOM_P, WOM_Q, size, delta)
        lam = 1 - (up - down) / (2 * h)
        half = z * math.sqrt(2 * delta * f_star / size) / (lam * math.sqrt(len(share)))
        checks.append(
            Check(
                "word_of_mouth_with_churn",
                "Libai, Muller & Peres 2009",
                f"long-run share, churn {delta}",
                f_star,
                float(share.mean()),
                f_star - half,
                f_star + half,
            )
        )
    return checks


def _case_cohort(engine: str, quick: bool) -> list[Check]:
    size, r, fee, rate, months = (5000 if quick else 20000), 0.9, 30.0, 0.01, 60
    scenario = known_answer_scenario(
        size=size,
        initial=size,
        months=months,
        expectation=5.0,
        contact=0.0,
        churn={"base_prob": 1 - r},
        fee=fee,
        rate=rate,
    )
    frame = _runs(scenario, engine, 1, 12)[0]
    checked = [1, 12, 24, 60]
    z = z_bound(len(checked) + 1)
    checks = []
    for t in checked:
        expected = r**t
        half = z * math.sqrt(r**t * (1 - r**t) / size)
        checks.append(
            Check(
                "cohort_retention",
                "Gupta & Lehmann 2003",
                f"cohort retention at month {t} (r^t)",
                expected,
                float(frame["cohort_retention"].iloc[t]),
                expected - half,
                expected + half,
            )
        )
    expected = cohort_clv(fee, r, rate, months)
    half = z * math.sqrt(cohort_clv_variance(fee, r, rate, months) / size)
    checks.append(
        Check(
            "cohort_retention",
            "Gupta & Lehmann 2003",
            f"discounted revenue per initial customer, {months} months",
            expected,
            float(frame["discounted_revenue"].iloc[-1] / size),
            expected - half,
            expected + half,
            f"limit m r/(1+i-r) = {fee * r / (1 + rate - r):.2f}",
        )
    )
    return checks


def _case_heterogeneous(engine: str, quick: bool) -> list[Check]:
    """A cohort with Beta-distributed own attrition keeps N B(a, b + t) / B(a, b) (sBG, months).

    People's chances are drawn independently, so each month-0 customer is still there at month t
    with the sBG share S(t), independently of the others: the count is binomial(N, S(t)).
    """
    size, mean, phi = (5000 if quick else 20000), 0.05, 0.3
    scenario = known_answer_scenario(
        size=size,
        initial=size,
        months=60,
        expectation=5.0,
        contact=0.0,
        churn={"base_prob": mean, "base_polarization": phi},
    )
    frame = _runs(scenario, engine, 1, 14)[0]
    a, b = rules.beta_parameters(mean, phi)
    checked = [1, 6, 12, 24, 60]
    z = z_bound(len(checked) + 1)
    checks = []
    for t in checked:
        expected = float(sbg.survival(t, a, b))
        half = z * math.sqrt(expected * (1 - expected) / size)
        checks.append(
            Check(
                "heterogeneous_retention",
                "Fader & Hardie 2007",
                f"cohort retention at month {t} (B(a, b+t)/B(a, b))",
                expected,
                float(frame["cohort_retention"].iloc[t]),
                expected - half,
                expected + half,
            )
        )
    # The retention rate rises with tenure: month 60's against (b + 59) / (a + b + 59), from the
    # month-59 survivors (binomial given them).
    kept = frame["cohort_retention"].to_numpy() * size
    expected = float(sbg.retention_rate(60, a, b))
    half = z * math.sqrt(expected * (1 - expected) / kept[59])
    checks.append(
        Check(
            "heterogeneous_retention",
            "Fader & Hardie 2007",
            "cohort retention rate in month 60 ((b+59)/(a+b+59))",
            expected,
            float(kept[60] / kept[59]),
            expected - half,
            expected + half,
            f"month 1: {float(sbg.retention_rate(1, a, b)):.3f}",
        )
    )
    return checks


def _case_fixed_decay(engine: str, quick: bool) -> list[Check]:
    size, contact, leave = (5000 if quick else 20000), 0.5, 0.91
    scenario = known_answer_scenario(
        size=size,
        initial=size,
        months=6,
        expectation=10.0,
        contact=contact,
        churn={"rule": "fixed", "leave_prob": leave, "base_prob": 0.0},
    )
    frame = _runs(scenario, engine, 1, 11)[0]
    factor = 1 - contact * leave
    checks = []
    z = z_bound(3)
    for t in (1, 2, 3):
        expected = factor**t
        half = z * math.sqrt(factor**t * (1 - factor**t) / size)
        checks.append(
            Check(
                "fixed_rule_decay",
                "docs/model.md 7.3; '91% of unhappy customers leave'",
                f"customers left at month {t}, (1 - c L)^t",
                expected,
                float(frame["customers"].iloc[t] / size),
                expected - half,
                expected + half,
            )
        )
    return checks


TARP_CASES = {  # case -> (complain, resolve, quick resolve)
    "silent": (0.0, 0.0, 0.0),
    "complained, unresolved": (1.0, 0.0, 0.0),
    "resolved slowly": (1.0, 1.0, 0.0),
    "resolved quickly": (1.0, 1.0, 1.0),
}


def _case_tarp(engine: str, quick: bool) -> list[Check]:
    from sim.scenario import SCHEMA

    stay = SCHEMA["churn"]["tarp_stay"].default
    size = 4000 if quick else 20000
    z = z_bound(len(TARP_CASES))
    checks = []
    for i, (name, (complain, resolve, quick_resolve)) in enumerate(TARP_CASES.items()):
        scenario = known_answer_scenario(
            size=size,
            initial=size,
            months=1,
            expectation=10.0,
            contact=1.0,
            churn={"rule": "tarp", "complain_prob": complain, "base_prob": 0.0},
            rung={"resolve_prob": resolve, "quick_resolve_prob": quick_resolve},
        )
        frame = _runs(scenario, engine, 1, 30 + i)[0]
        expected = 1 - stay[i]
        half = z * math.sqrt(expected * (1 - expected) / size)
        checks.append(
            Check(
                "tarp_leave_probabilities",
                "TARP; Goodman 1999",
                f"leave chance after a bad experience: {name}",
                expected,
                float(frame["left_bad_experience"].iloc[1] / size),
                expected - half,
                expected + half,
            )
        )
    return checks


def outside_rung_share(firm_rung: int, outside_rung: int, rung_weight: float) -> float:
    """The share of the prospects marketing reaches that a lone firm wins against the rest of
    the market (step 6's logit with two options):
    ``e^(w r) / (e^(w r) + e^(w o))`` = ``1 / (1 + e^(-w (r - o)))``."""
    return 1.0 / (1.0 + math.exp(-rung_weight * (firm_rung - outside_rung)))


OUTSIDE_RUNG = "good"  # the rest of the market, index 2 of the `five` ladder
OUTSIDE_LEVELS = ("poor", "good", "excellent", "world_class")


def _case_outside_rung(engine: str, quick: bool) -> list[Check]:
    """One firm, every prospect reached by marketing in month 1 (``acquisition.prob`` = 1), no
    interactions and no attrition: month 1's marketing joiners are Binomial(N, share), share the
    closed-form logit against the outside rung, for a firm recognised below, at and above it."""
    from sim.ladder import get_ladder
    from sim.scenario import SCHEMA, load_scenario

    size = 4000 if quick else 20000
    weight = SCHEMA["acquisition"]["rung_weight"].default
    ladder = get_ladder("five")
    z = z_bound(len(OUTSIDE_LEVELS))
    checks = []
    for i, level in enumerate(OUTSIDE_LEVELS):
        scenario = load_scenario(
            {
                "scenario": {"seed": 1, "months": 1, "replicates": 1},
                "market": {"size": size, "initial_customers": 0},
                "customers": {"contact_prob": 0.0},
                "churn": {"base_prob": 0.0},
                "referrals": {"refer_prob": 0.0},
                "acquisition": {"prob": 1.0, "outside_rung": OUTSIDE_RUNG},
                "firms": [{"name": "Firm", "service_level": level}],
            },
            source_name="validation case",
        )
        frame = _runs(scenario, engine, 1, 40 + i)[0]
        share = outside_rung_share(ladder.index(level), ladder.index(OUTSIDE_RUNG), weight)
        half = z * math.sqrt(share * (1 - share) / size)
        checks.append(
            Check(
                "outside_rung_share",
                "docs/model.md 7.6 (logit choice)",
                f"share won, firm recognised {level}, outside {OUTSIDE_RUNG}",
                share,
                float(frame["joined_marketing"].iloc[1] / size),
                share - half,
                share + half,
                f"1 / (1 + e^(-{weight:g} x {ladder.index(level) - ladder.index(OUTSIDE_RUNG)}))",
            )
        )
    return checks


CASES: dict[str, Case] = {
    case.name: case
    for case in [
        Case(
            "word_of_mouth_diffusion",
            "Bass 1969; Sultan, Farley & Lehmann 1990",
            "customer share over time against the recursion the referral rule (docs/model.md 7.4) implies",
            _case_diffusion,
        ),
        Case(
            "word_of_mouth_one_month_ahead",
            "docs/model.md 7.4 referral rule",
            "each month's joiners against the recursion's exact conditional mean",
            _case_one_month_ahead,
        ),
        Case(
            "word_of_mouth_on_networks",
            "Fibich & Gibori 2010",
            "ring lattice and small world diffuse more slowly than a well-mixed market",
            _case_networks,
        ),
        Case(
            "word_of_mouth_with_churn",
            "Libai, Muller & Peres 2009",
            "long-run share against the inflow = outflow equilibrium",
            _case_equilibrium,
        ),
        Case(
            "cohort_retention",
            "Gupta & Lehmann 2003",
            "a cohort keeps N r^t; discounted revenue per customer m a(1-a^T)/(1-a)",
            _case_cohort,
        ),
        Case(
            "heterogeneous_retention",
            "Fader & Hardie 2007",
            "Beta-distributed own attrition: a cohort keeps N B(a, b+t)/B(a, b) (sBG, months)",
            _case_heterogeneous,
        ),
        Case(
            "fixed_rule_decay",
            "docs/model.md 7.10",
            "every interaction bad: customers fall by (1 - contact x leave_prob) a month",
            _case_fixed_decay,
        ),
        Case(
            "tarp_leave_probabilities",
            "TARP; Goodman 1999",
            "share leaving after a bad experience in each TARP case",
            _case_tarp,
        ),
        Case(
            "outside_rung_share",
            "docs/model.md 7.6",
            "a lone firm's share of reached prospects against the rest of the market: the logit",
            _case_outside_rung,
        ),
    ]
}


def run_checks(engine: str, *, quick: bool = False, cases: list[str] | None = None) -> list[Check]:
    """Run the known-answer cases (all, or those named) on one engine."""
    names = list(CASES) if cases is None else cases
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    return [check for name in names for check in CASES[name].run(engine, quick)]
