"""sim/rules.py: the monthly rules, exact values on scalars and arrays alike."""

import math

import numpy as np
import pytest

from sim import rules


def test_adaptive_expectation_after_five_months_matches_hand_computation():
    e = 3.0
    for _ in range(5):
        e = rules.move_toward(e, 4.0, 0.3)
    assert round(e, 4) == 3.8319
    assert e == pytest.approx(4.0 - (4.0 - 3.0) * 0.7**5, abs=1e-12)


def test_move_toward_works_elementwise_on_arrays():
    e = rules.move_toward(np.array([0.0, 10.0, 5.0]), np.array([10.0, 0.0, 5.0]), 0.25)
    assert e.tolist() == [2.5, 7.5, 5.0]


@pytest.mark.parametrize(
    ("quality", "outcome"),
    [
        (4.4999, rules.BAD),
        (4.5, rules.MET),  # exactly at the lower edge: not bad (strict)
        (6.0, rules.MET),
        (7.5, rules.MET),  # exactly at the upper edge: not delighted (strict)
        (7.5001, rules.DELIGHTED),
    ],
)
def test_outcome_at_zone_of_tolerance_edges(quality, outcome):
    assert rules.experience_outcome(quality, 6.0, 1.5) == outcome


def test_outcome_is_the_same_for_scalars_and_arrays():
    q = np.array([4.4999, 4.5, 6.0, 7.5, 7.5001])
    scalar = [rules.experience_outcome(float(x), 6.0, 1.5) for x in q]
    assert rules.experience_outcome(q, 6.0, 1.5).tolist() == scalar == [0, 1, 1, 1, 2]


def test_zero_tolerance_delights_anything_above_expectation():
    assert rules.experience_outcome(0.001, 0.0, 0.0) == rules.DELIGHTED
    assert rules.experience_outcome(0.0, 0.0, 0.0) == rules.MET


@pytest.mark.parametrize(
    ("complained", "resolved", "quick", "case"),
    [
        (False, False, False, 0),
        (False, True, True, 0),  # resolution without a complaint cannot happen: silent
        (True, False, False, 1),
        (True, False, True, 1),
        (True, True, False, 2),
        (True, True, True, 3),
    ],
)
def test_tarp_case_indexes_the_stay_table(complained, resolved, quick, case):
    assert rules.tarp_case(complained, resolved, quick) == case
    arr = rules.tarp_case(np.array([complained]), np.array([resolved]), np.array([quick]))
    assert arr.tolist() == [case]


def test_tarp_leave_chance_by_case_from_default_table():
    stay = (0.09, 0.19, 0.54, 0.82)
    leave = [
        1 - stay[rules.tarp_case(c, r, q)]
        for c, r, q in [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1)]
    ]
    assert leave == pytest.approx([0.91, 0.81, 0.46, 0.18])


def test_strikes_window_counts_this_month_and_the_previous_window_minus_one():
    # window 12, month 20: months 9..20 count, month 8 does not
    assert rules.in_window(9, 20, 12)
    assert not rules.in_window(8, 20, 12)
    assert rules.strikes_reached(3, 3) and not rules.strikes_reached(2, 3)
    months = np.array([8, 9, 15])
    assert rules.in_window(months, 20, 12).tolist() == [False, True, True]


def test_market_reference_is_the_higher_of_standard_and_best_quality():
    assert rules.market_reference(6.5, 8.0) == 8.0
    assert rules.market_reference(6.5, 5.0) == 6.5
    assert rules.market_reference(6.5, np.array([5.0, 9.0])).tolist() == [6.5, 9.0]


def test_choice_weight_is_exp_of_weighted_rung_index():
    assert rules.choice_weight(3, 0.5) == pytest.approx(math.exp(1.5))
    w = rules.choice_weight(np.array([0, 1, 4]), 0.5)
    assert w == pytest.approx(np.exp([0.0, 0.5, 2.0]))


def test_recognised_rung_rises_once_streak_reaches_sustain_and_drops_at_once():
    # rising: delivered above, next rung's streak long enough
    assert rules.recognised_after(1, 4, next_streak=12, next_sustain=12) == 2
    assert rules.recognised_after(1, 4, next_streak=11, next_sustain=12) == 1
    # dropping to the delivered rung at once, whatever the streaks
    assert rules.recognised_after(3, 1, next_streak=100, next_sustain=0) == 1
    # delivering exactly the recognised rung: no change, even with sustain 0 above
    assert rules.recognised_after(2, 2, next_streak=0, next_sustain=0) == 2


def test_streak_counts_months_in_a_row_and_resets():
    s = 0
    for delivering in [True, True, True, False, True]:
        s = rules.streak_after(s, delivering)
    assert s == 1
    assert rules.streak_after(np.array([0, 5]), np.array([True, False])).tolist() == [1, 0]


def test_discount_factor():
    assert rules.discount_factor(12, 0.01) == pytest.approx(1 / 1.01**12)
    assert rules.discount_factor(0, 0.05) == 1.0


@pytest.mark.parametrize(
    ("total", "shares", "expected"),
    [
        (10, [1, 1, 1], [4, 3, 3]),
        (5000, [1.0], [5000]),
        (7, [0.5, 0.25, 0.25], [3, 2, 2]),  # remainders .5,.75,.75: the two .75 get the spares
        (0, [1, 2], [0, 0]),
        (3, [0, 1], [0, 3]),
    ],
)
def test_largest_remainder_split(total, shares, expected):
    counts = rules.largest_remainder(total, shares)
    assert counts == expected and sum(counts) == total


# --- operations (step 2): the contact centre's queue and stock-outs ----------------------------


def test_offered_traffic_is_calls_times_handling_time_over_open_seconds():
    # 36,000 calls of 5 minutes over 300 open hours: 10.8e6 s of work in 1.08e6 s = 10 Erlangs
    assert rules.offered_traffic(36_000, 300.0, 300.0) == pytest.approx(10.0)
    assert rules.offered_traffic(np.array([0, 3_600]), 300.0, 300.0).tolist() == [0.0, 1.0]


def test_queue_is_stable_only_below_the_agents():
    assert rules.queue_stable(9.99, 10) and not rules.queue_stable(10.0, 10)
    assert rules.queue_stable(np.array([1.0, 5.0, 6.0]), 5).tolist() == [True, False, False]


def test_late_probability_is_the_erlang_c_tail():
    # C = 0.5, 12 agents, 10 Erlangs, AHT 200 s, patience 100 s: 0.5 exp(-2 x 100 / 200)
    assert rules.late_probability(0.5, 10.0, 12, 200.0, 100.0) == pytest.approx(0.5 / math.e)
    assert rules.late_probability(0.5, 10.0, 12, 200.0, 0.0) == pytest.approx(0.5)  # any wait
    tails = rules.late_probability(np.array([0.5, 0.2]), np.array([10.0, 8.0]), 12, 200.0, 100.0)
    assert tails == pytest.approx([0.5 * math.exp(-1.0), 0.2 * math.exp(-2.0)])


def test_a_late_call_or_a_stockout_is_bad_whatever_the_quality():
    for outcome in (rules.BAD, rules.MET, rules.DELIGHTED):
        assert rules.bad_after_operations(outcome, False, False) == outcome
        assert rules.bad_after_operations(outcome, True, False) == rules.BAD
        assert rules.bad_after_operations(outcome, False, True) == rules.BAD
        assert rules.bad_after_operations(outcome, True, True) == rules.BAD
    outcome = np.array([rules.DELIGHTED, rules.MET, rules.DELIGHTED, rules.MET])
    late = np.array([False, True, False, False])
    stockout = np.array([False, False, True, True])
    assert rules.bad_after_operations(outcome, late, stockout).tolist() == [2, 0, 0, 0]
    assert rules.bad_after_operations(outcome, late, False).tolist() == [2, 0, 2, 1]
