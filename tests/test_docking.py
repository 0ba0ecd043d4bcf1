"""Docking: the agent engine and the population engine agree in distribution.

Following Axtell et al. (1996) and Rand & Rust (2011), both engines run the same scenarios with the
same fixed run seeds (``REPLICATES`` each, markets of ``SIZE`` people). For every scenario, firm,
metric (customers, revenue, bad experiences) and chosen month, a Welch z statistic compares the
two engines' replicate means:

    z = (mean_agents - mean_population) / sqrt(var_agents / n + var_population / n)

and the engines dock when every |z| stays below the two-sided normal quantile at a family-wise
level of ``FAMILY_ALPHA`` = 0.001, Bonferroni-corrected over all comparisons (about a hundred, so
|z| < 4.4). The seeds are fixed, so the test is deterministic: it either always passes or always
fails. The bound is approximate for the smallest counts (a mean of a few bad experiences is not
quite normal over 40 replicates), which is why the level is strict.

The test can fail: `test_docking_rejects_a_rule_changed_in_one_engine_only` runs the population
engine with one rule changed (``churn.leave_prob`` 0.80 instead of 0.91, and others) against the
unchanged agent engine and asserts that the same comparison rejects.

The runs go through a pool of two worker processes (the whole module takes about a minute on two
cores); each run is a pure function of (scenario, seed, engine), so the pool changes nothing in
the results.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import stats

from sim import load_scenario, simulate
from sim.scenario import Scenario, spawn_seeds

SCENARIO_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios")
REPLICATES = 40
SIZE = 2000
MONTHS = (12, 36, 60, 120)
METRICS = ("customers", "revenue", "bad_experiences")
FAMILY_ALPHA = 0.001
ROOT_SEED = 20261126
WATTS_STROGATZ = {"generator": "watts_strogatz", "k": 10, "p": 0.1}

# name -> (scenario file, overrides). Together they cover every rule of MODEL.md: each churn rule,
# attrition (alike and polarized), away and gone leavers, referrals (well mixed and on a network, with gone people and
# conflicting referrals from two firms), negative word of mouth, the logit choice, switching,
# the market pull, departments and schedules, the recognised rung, and a firm's contact centre
# and stock-outs.
DOCKING_SCENARIOS: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline", {}),
    "tarp": ("churn_rules", {"churn.rule": "tarp"}),
    "strikes": ("churn_rules", {"churn.rule": "strikes"}),
    "network": (
        "baseline",
        {
            "market.network": WATTS_STROGATZ,
            "churn.leavers_return_after": -1,
            "referrals.negative_reach": 2,
            "referrals.refer_prob": 0.5,
        },
    ),
    "competition": ("competition", {}),
    "world_class": ("world_class", {}),
    "word_of_mouth": (
        "competition",
        {
            "market.initial_customers": 200,
            "market.standard": 5.0,
            "customers.expectation_mean": 4.0,
            "customers.adapt_rate": 0.05,
            "customers.market_pull": 0.02,
            "churn.base_prob": 0.01,
            "churn.leavers_return_after": -1,
            "churn.switch_prob": 0.2,
            "referrals.refer_prob": 0.6,
            "referrals.conversion": 0.5,
            "referrals.negative_months": 6,
            "acquisition.prob": 0.003,
            "firms.0.service_level": "good",
        },
    ),
    # heterogeneous attrition: each person's own chance drawn from a Beta (mean 0.03, phi 0.4)
    "polarized": (
        "baseline",
        {"churn.base_prob": 0.03, "churn.base_polarization": 0.4},
    ),
    # a contact centre (~1 Erlang on 2 agents at the start: about 3 calls in 10 wait past the
    # patience) and stock-outs; the queue lightens as the late calls thin the customers
    "operations": (
        "baseline",
        {
            "firms.0.contact_centre": {
                "agents": 2,
                "aht_seconds": 300.0,
                "open_hours_per_month": 40.0,
                "cost_per_agent_month": 1000.0,
                "patience_seconds": 60.0,
            },
            "firms.0.inventory": {"fill_rate": 0.95},
        },
    ),
}

# Rules changed in the population engine only; each must make the docking comparison reject.
PERTURBATIONS = {
    "leave_prob 0.80 instead of 0.91": ("baseline", {"churn.leave_prob": 0.80}),
    "strikes 2 instead of 3": ("strikes", {"churn.strikes": 2}),
    "conversion 0.4 instead of 0.5": ("word_of_mouth", {"referrals.conversion": 0.4}),
    "polarization 0.1 instead of 0.4": ("polarized", {"churn.base_polarization": 0.1}),
    "fill rate 0.90 instead of 0.95": (
        "operations",
        {"firms.0.inventory.fill_rate": 0.90},
    ),
}


def docking_scenario(name: str, extra: dict | None = None) -> Scenario:
    """A docking scenario at ``SIZE`` people (``extra``: further overrides), as the file sets
    it with the overrides: a file's ``[sweep]`` is dropped (the overrides name the point)."""
    file, overrides = DOCKING_SCENARIOS[name]
    values = {"market.size": SIZE, **overrides, **(extra or {})}
    scenario = load_scenario(os.path.join(SCENARIO_DIR, f"{file}.toml"), values)
    return dataclasses.replace(scenario, sweep=None)


def compared_values(frame) -> np.ndarray:
    """(months, firms, metrics) values of one run at the compared months."""
    rows = frame[frame["step"].isin(MONTHS)]
    n_firms = rows["firm"].nunique()
    return rows[list(METRICS)].to_numpy(dtype=float).reshape(len(MONTHS), n_firms, len(METRICS))


def run_replicates(pool, scenario: Scenario, engine: str) -> np.ndarray:
    """(replicates, months, firms, metrics) over the fixed docking seeds.

    Workers run `sim.simulate` itself (an importable package function, as spawned processes
    need); the compared values are taken from the frames here.
    """
    seeds = spawn_seeds(ROOT_SEED, REPLICATES)
    futures = [pool.submit(simulate, scenario, seed=seed, engine=engine) for seed in seeds]
    return np.stack([compared_values(f.result()) for f in futures])


def welch_z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Welch z statistics of the replicate means of ``a`` and ``b`` (replicates on axis 0).

    A comparison where both samples are constant gives 0 if the constants agree, else +-inf.
    """
    diff = a.mean(axis=0) - b.mean(axis=0)
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    z = np.zeros_like(diff)
    np.divide(diff, se, out=z, where=se > 0)
    z[(se == 0) & (diff != 0)] = np.inf * np.sign(diff[(se == 0) & (diff != 0)])
    return z


def comparisons_in_family() -> int:
    """How many comparisons the docking family holds (Bonferroni's m)."""
    return sum(
        len(docking_scenario(name).firms) * len(MONTHS) * len(METRICS) for name in DOCKING_SCENARIOS
    )


def critical_z() -> float:
    """Two-sided Bonferroni bound: |z| above it rejects at family-wise level ``FAMILY_ALPHA``."""
    return float(stats.norm.isf(FAMILY_ALPHA / (2 * comparisons_in_family())))


def rejections(z: np.ndarray, firms: tuple[str, ...]) -> list[str]:
    """The comparisons whose |z| reaches the bound, readably."""
    bound = critical_z()
    out = []
    for m, f, k in zip(*np.nonzero(np.abs(z) >= bound), strict=True):
        out.append(f"month {MONTHS[m]} {firms[f]} {METRICS[k]}: z = {z[m, f, k]:+.2f}")
    return out


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as executor:
        yield executor


@pytest.fixture(scope="module")
def agent_runs(pool) -> dict[str, np.ndarray]:
    return {
        name: run_replicates(pool, docking_scenario(name), "agents") for name in DOCKING_SCENARIOS
    }


@pytest.fixture(scope="module")
def population_runs(pool) -> dict[str, np.ndarray]:
    return {
        name: run_replicates(pool, docking_scenario(name), "population")
        for name in DOCKING_SCENARIOS
    }


def test_the_bound_is_bonferroni_over_every_comparison():
    m = comparisons_in_family()
    assert m == 11 * len(MONTHS) * len(METRICS)  # seven one-firm and two two-firm scenarios
    assert 4.0 < critical_z() < 5.0
    assert stats.norm.sf(critical_z()) * 2 * m == pytest.approx(FAMILY_ALPHA)


def test_welch_z_is_the_difference_of_means_over_its_standard_error():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 2.0, 2.0, 3.0])
    se = np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 4)
    assert welch_z(a, b) == pytest.approx((2.5 - 2.25) / se)
    assert welch_z(np.zeros(3), np.zeros(3)) == 0
    assert welch_z(np.ones(3), np.zeros(3)) == np.inf


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DOCKING_SCENARIOS))
def test_engines_dock(name, agent_runs, population_runs):
    z = welch_z(agent_runs[name], population_runs[name])
    assert np.isfinite(z).all()
    bad = rejections(z, docking_scenario(name).firm_names)
    assert not bad, f"{name}: the engines differ (|z| >= {critical_z():.2f}):\n" + "\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("change", list(PERTURBATIONS))
def test_docking_rejects_a_rule_changed_in_one_engine_only(change, pool, agent_runs):
    name, overrides = PERTURBATIONS[change]
    perturbed = run_replicates(pool, docking_scenario(name, overrides), "population")
    z = welch_z(agent_runs[name], perturbed)
    assert rejections(z, docking_scenario(name).firm_names), (
        f"{change}: docking did not notice (max |z| = {np.abs(z).max():.2f})"
    )


def test_both_engines_report_the_same_frame_column_for_column():
    scenario = docking_scenario("competition", {"scenario.months": 6, "market.size": 200})
    agents = simulate(scenario, seed=3, engine="agents")
    population = simulate(scenario, seed=3, engine="population")
    assert list(agents.columns) == list(population.columns)
    assert agents.dtypes.to_dict() == population.dtypes.to_dict()
    assert agents.shape == population.shape
    for column in ("step", "firm", "delivered_rung", "recognised_rung"):  # no randomness
        assert agents[column].tolist() == population[column].tolist()
    deterministic_at_start = ["customers", "prospects", "away", "gone", "cohort_retention"]
    month0 = agents["step"] == 0
    assert agents.loc[month0, deterministic_at_start].equals(
        population.loc[month0, deterministic_at_start]
    )
