"""The population engine (`sim/population.py`): its own guarantees and its sampling helpers.

Behaviour shared with the agent engine (rules, known answers) is tested on both engines in
test_behaviour.py and validation/test_cases.py; agreement in distribution in test_docking.py. Here:
reproducibility, the state's dtypes, the samplers' exactness (uniform, distinct, never oneself,
never a gone person). The firm-level bookkeeping both engines share is tested in test_firms.py.
Statistical checks use fixed seeds and a two-sided level of 0.001 (Bonferroni where several).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from conftest import build_scenario
from sim import kernels, rules, simulate
from sim.metrics import COLUMNS
from sim.population import (
    PopulationModel,
    distinct_ranks,
    run_population,
)

WATTS_STROGATZ = {"generator": "watts_strogatz", "k": 6, "p": 0.2}


market = build_scenario  # seed 1, 12 months, 300 people, one firm at "good"


def two_firms(**sections):
    firms = [
        {"name": "A", "service_level": "acceptable", "monthly_fee": 20.0},
        {"name": "B", "service_level": "excellent", "monthly_fee": 40.0},
    ]
    return market(firms=firms, **sections)


def chi2_p(counts: np.ndarray) -> float:
    return float(stats.chisquare(counts).pvalue)


# ----------------------------------------------------------------------------------------------
# Reproducibility and the frame.


def test_same_seed_gives_identical_frames_and_different_seeds_differ():
    scenario = two_firms(
        churn={"switch_prob": 0.3, "leavers_return_after": -1},
        referrals={"negative_reach": 3},
    )
    a, b, c = (run_population(scenario, s) for s in (11, 11, 12))
    assert a.equals(b)
    assert not a.equals(c)


def test_same_seed_gives_identical_frames_on_a_network_with_strikes():
    scenario = market(market={"network": WATTS_STROGATZ}, churn={"rule": "strikes"})
    assert run_population(scenario, 5).equals(run_population(scenario, 5))


def test_simulate_dispatches_to_the_population_engine_with_the_metrics_columns():
    frame = simulate(market(months=3), seed=1, engine="population")
    assert list(frame.columns) == list(COLUMNS)
    assert frame["step"].tolist() == [0, 1, 2, 3]


def test_population_is_the_default_engine():
    assert market().engine == "population"


# ----------------------------------------------------------------------------------------------
# State: one small array per variable, optional ones only when a rule needs them.


def test_state_arrays_use_small_dtypes():
    model = PopulationModel(market(size=100), seed=1)
    assert model.status.dtype == np.int8
    assert model.firm.dtype == np.int8
    assert model.expectation.dtype == np.float32
    assert model.cohort.dtype == np.bool_
    assert model.bad_months is None  # fixed rule: no strikes history
    assert model.closed_until is None  # no negative word of mouth: no closures


def test_strikes_history_and_closures_are_int16_and_sized_by_the_rule():
    scenario = two_firms(churn={"rule": "strikes", "strikes": 4}, referrals={"negative_reach": 2})
    model = PopulationModel(scenario, seed=1)
    assert model.bad_months.shape == (300, 3)
    assert model.bad_months.dtype == np.int16
    assert model.closed_until.shape == (300, 2)
    assert model.closed_until.dtype == np.int16


def test_initial_customers_are_split_by_share_with_largest_remainder():
    firms = [
        {"name": "A", "service_level": "good", "share": 1.0},
        {"name": "B", "service_level": "good", "share": 2.0},
    ]
    model = PopulationModel(market(size=101, firms=firms, market={"initial_customers": 100}), 1)
    assert np.bincount(model.firm, minlength=3).tolist() == [33, 67, 1]
    assert (model.status == rules.CUSTOMER).sum() == 100
    assert model.cohort.sum() == 100


# ----------------------------------------------------------------------------------------------
# Firms: delivery, reference quality and reputation equal the agent engine's, month by month.


# ----------------------------------------------------------------------------------------------
# Sampling helpers.


def test_chance_has_the_law_of_one_trial_per_person_sparse_and_dense():
    """`_chance` draws gaps between successes below `SPARSE_PROB` and a uniform each above: the
    count of successes is binomial(n, p) and each trial succeeds alike (uniform positions)."""
    model = PopulationModel(market(), 5)
    n, reps, bins = 400, 3_000, 8
    for prob in (0.01, 0.3):  # gaps, then uniforms
        counts = np.zeros(reps)
        where = np.zeros(bins)
        for r in range(reps):
            at = model._chance(n, prob)
            assert np.all(np.diff(at) > 0) and (at.size == 0 or 0 <= at[0] <= at[-1] < n)
            counts[r] = at.size
            where += np.bincount(at * bins // n, minlength=bins)
        mean, var = n * prob, n * prob * (1 - prob)
        assert abs(counts.mean() - mean) < 4 * np.sqrt(var / reps)
        assert stats.chisquare(where).pvalue > 0.001 / 2


def test_chance_draws_more_gaps_until_the_trials_run_out():
    """If the first batch of gaps ends within the n trials, more are drawn from the last one."""

    class OneTrialApart:  # every trial succeeds: the gaps never reach past n in one batch
        def geometric(self, prob: float, size: int) -> np.ndarray:
            return np.ones(size, np.int64)

    model = PopulationModel(market(), 5)
    model.rng = OneTrialApart()  # type: ignore[assignment]
    assert model._chance(1_000, 0.01).tolist() == list(range(1_000))


def test_distinct_ranks_takes_everyone_when_there_are_too_few():
    rng = np.random.default_rng(1)
    rows, ranks = distinct_ranks(rng, np.array([0, 2, 3]), 3)
    assert rows.tolist() == [1, 1, 2, 2, 2]
    assert ranks.tolist() == [0, 1, 0, 1, 2]


def test_distinct_ranks_are_distinct_in_range_and_uniform_subsets():
    rng = np.random.default_rng(2)
    n_rows, size, k = 30_000, 5, 3
    rows, ranks = distinct_ranks(rng, np.full(n_rows, size), k)
    assert np.bincount(rows).tolist() == [k] * n_rows
    per_row = np.sort(ranks.reshape(n_rows, k), axis=1)
    assert (np.diff(per_row, axis=1) > 0).all()
    assert per_row.min() >= 0 and per_row.max() < size
    # Each of the C(5, 3) = 10 subsets equally likely.
    code = (1 << per_row).sum(axis=1)
    _, counts = np.unique(code, return_counts=True)
    assert counts.size == 10
    assert chi2_p(counts) > 0.001


def test_distinct_ranks_terminates_when_drawing_almost_everyone():
    rng = np.random.default_rng(3)
    rows, ranks = distinct_ranks(rng, np.array([1000, 50]), 49)
    assert np.unique(ranks[rows == 0]).size == 49
    assert sorted(ranks[rows == 1].tolist()) == sorted(set(ranks[rows == 1].tolist()))


def test_first_per_target_keeps_one_referral_per_person_chosen_uniformly():
    """Step 4's conflict rule (`kernels.first_per_target`, the smallest of one uniform each)."""
    rng = np.random.default_rng(4)
    # Person 7 got successful referrals from firm 0 twice and firm 1 once: firm 0 wins 2/3.
    reps = 30_000
    wins = 0
    targets = np.array([7, 7, 7, 3])
    firms = np.array([0, 1, 0, 1])
    for _ in range(reps // 100):
        batch_t = np.concatenate([targets + 10 * i for i in range(100)])
        batch_f = np.tile(firms, 100)
        person, firm = kernels.first_per_target(batch_t, batch_f, rng.random(batch_t.size))
        assert person.tolist() == sorted(set(batch_t.tolist()))
        wins += int((firm[person % 10 == 7] == 0).sum())
        assert (firm[person % 10 == 3] == 1).all()
    z = (wins - reps * 2 / 3) / np.sqrt(reps * 2 / 9)
    assert abs(z) < stats.norm.isf(0.0005)


def test_the_firm_choice_follows_the_weights_and_skips_closed_firms():
    """Step 6 (`kernels.choose_firm` from one uniform each): firm 2 of weight 3 against firm 0 of
    weight 1 wins 3 in 4; a firm closed to a person is never chosen; with all closed, none."""
    rng = np.random.default_rng(5)
    n, t = 40_000, 5
    closed_until = np.zeros((n, 3), np.int16)
    closed_until[:, 1] = t  # firm 1 is closed to everyone this month
    closed_until[:10] = t  # and the first ten are closed to every firm
    weight = np.array([1.0, 5.0, 3.0])
    choice = kernels.choose_firm(
        weight, rng.random(n), np.arange(n), closed_until, t, np.zeros(0, np.int64)
    )
    assert (choice[:10] == -1).all()
    rest = choice[10:]
    assert not (rest == 1).any()
    share = (rest == 2).mean()
    assert abs(share - 0.75) < stats.norm.isf(0.0005) * np.sqrt(0.75 * 0.25 / rest.size)


def _gone_model(network=None, size=60):
    sections = {"market": {"network": network}} if network else {}
    model = PopulationModel(market(size=size, **sections), seed=7)
    gone = np.arange(0, size, 3)  # every third person has left for good
    model.status[gone] = rules.GONE
    model.reachable = np.flatnonzero(model.status != rules.GONE).astype(np.int32)
    return model, gone


def test_well_mixed_referral_targets_are_uniform_over_the_others_not_gone():
    model, gone = _gone_model()
    people = np.repeat(np.array([1, 2, 4]), 20_000)
    target = model._one_other(people)
    assert (target != people).all()
    assert not np.isin(target, gone).any()
    counts = np.bincount(target[people == 1], minlength=60)
    eligible = np.setdiff1d(model.reachable, [1])
    assert chi2_p(counts[eligible]) > 0.001


def test_well_mixed_word_of_mouth_tells_distinct_others_not_gone():
    model, gone = _gone_model()
    people = np.array([1, 2, 4, 5])
    row, told = model._others_without_replacement(np.repeat(people, 500), 3)
    assert np.bincount(row).tolist() == [3] * 2000
    assert (told != np.repeat(people, 500)[row]).all()
    assert not np.isin(told, gone).any()
    assert (np.diff(np.sort(told.reshape(-1, 3), axis=1), axis=1) > 0).all()


def test_network_targets_are_neighbours_who_are_not_gone():
    model, gone = _gone_model(network=WATTS_STROGATZ, size=200)
    people = np.repeat(np.arange(1, 200, 3), 300)
    target = model._one_other(people)
    for person in (1, 4, 100):
        neighbours = model.neighbours[model.indptr[person] : model.indptr[person + 1]]
        eligible = np.setdiff1d(neighbours, gone)
        got = target[people == person]
        if eligible.size == 0:
            assert (got == -1).all()
            continue
        assert np.isin(got, eligible).all()
        assert chi2_p(np.unique(got, return_counts=True)[1]) > 0.001 or eligible.size == 1
        assert np.unique(got).size == eligible.size
    row, told = model._others_without_replacement(np.array([1, 4, 100]), 50)
    for i, person in enumerate((1, 4, 100)):
        neighbours = model.neighbours[model.indptr[person] : model.indptr[person + 1]]
        assert sorted(told[row == i].tolist()) == sorted(np.setdiff1d(neighbours, gone).tolist())


def test_a_market_of_one_has_nobody_to_refer():
    model = PopulationModel(market(size=1, market={"initial_customers": 1}), seed=1)
    assert model._one_other(np.array([0])).tolist() == [-1]
    frame = model.run()
    assert frame["referrals_made"].sum() == 0


# ----------------------------------------------------------------------------------------------
# Month-level bookkeeping.


def test_strikes_history_keeps_the_latest_months_and_restarts_on_joining():
    scenario = market(
        size=50,
        months=1,
        churn={"rule": "strikes", "strikes": 3, "window_months": 12, "base_prob": 0.0},
    )
    model = PopulationModel(scenario, seed=1)
    history = model.bad_months
    assert (history == np.iinfo(np.int16).min).all()
    counts: dict = {}
    people = np.flatnonzero(model.status == rules.CUSTOMER)[:2]
    zeros = np.zeros(2, np.int64)
    for month in (5, 9, 18):  # 5 has left the 12-month window by month 18: two in it
        assert not model._leaves_after_bad(people, zeros, zeros, month, counts).any()
    assert sorted(history[people[0]].tolist()) == [9, 18]  # the latest strikes - 1 months
    assert model._leaves_after_bad(people, zeros, zeros, 20, counts).all()  # 9, 18, 20
    assert not model._leaves_after_bad(people, zeros, zeros, 40, counts).any()  # 18, 20 are out


def test_returning_leavers_and_stocks_add_up_to_the_market():
    scenario = two_firms(churn={"switch_prob": 0.4, "leavers_return_after": 2})
    frame = run_population(scenario, 3)
    by_step = frame.groupby("step")
    people = by_step["customers"].sum() + by_step[["prospects", "away", "gone"]].first().sum(axis=1)
    assert (people == 300).all()
    assert frame["gone"].max() == 0


def test_strikes_history_restarts_when_a_switcher_joins_the_competitor():
    # Every interaction is bad; two strikes within 12 months make a customer leave, and every
    # leaver switches. At the new firm the count starts afresh: two more months, not one.
    always_bad = {
        "id": "bad",
        "quality_mean": 2.0,
        "quality_sd": 0.0,
        "resolve_prob": 0.0,
        "quick_resolve_prob": 0.0,
        "cost_per_customer": 1.0,
        "sustain_months": 0,
    }
    scenario = build_scenario(
        [
            {"name": "A", "service_level": "bad", "share": 1.0},
            {"name": "B", "service_level": "bad", "share": 0.0},
        ],
        months=6,
        size=100,
        initial=100,
        rungs=[always_bad],
        exact=True,
        churn={"rule": "strikes", "strikes": 2, "base_prob": 0.0, "switch_prob": 1.0},
        acquisition={"prob": 0.0},
    )
    frame = run_population(scenario, 1)
    b = frame[frame["firm"] == "B"]
    assert b["customers"].tolist() == [0, 0, 100, 100, 0, 0, 100]


def test_a_million_people_run_a_few_months_with_the_stocks_adding_up():
    scenario = market(size=1_000_000, months=3)
    frame = run_population(scenario, 1)
    stocks = frame[["customers", "prospects", "away", "gone"]].sum(axis=1)
    assert (stocks == 1_000_000).all()
    c = frame["customers"].to_numpy()
    inflow = (frame["joined_marketing"] + frame["joined_referral"]).to_numpy()[1:]
    outflow = (frame["left_bad_experience"] + frame["left_attrition"]).to_numpy()[1:]
    assert np.array_equal(c[1:], c[:-1] + inflow - outflow)
