"""Every known-answer case of sim/validation.py passes on every engine.

The cases run with fixed seeds (deterministic) and state their own bounds: Bonferroni within a
case at a family-wise level of 0.001 (see each case's docstring and sim/validation.py). The agent
engine runs the cases' quick sizes to keep the suite fast; the bounds are computed for the sizes
run, so quick only means less power, not a looser test.
"""

import dataclasses

import pytest

from sim import validation
from sim.validation import CASES, run_checks


@pytest.mark.parametrize("case", list(CASES))
def test_known_answer_case_passes(case, engine):
    checks = run_checks(engine, quick=engine == "agents", cases=[case])
    assert checks
    failed = [c for c in checks if not c.passed]
    assert not failed, failed


def test_a_check_fails_when_the_simulation_is_off():
    """The checks can fail: shift a simulated value just outside its interval."""
    check = run_checks("agents", quick=True, cases=["fixed_rule_decay"])[0]
    assert check.passed
    assert not dataclasses.replace(check, simulated=check.high + 1e-9).passed
    assert not dataclasses.replace(check, simulated=check.low - 1e-9).passed


def test_the_equilibrium_case_rejects_a_wrong_model_of_churn(monkeypatch):
    """A recursion that forgets that leavers do not refer puts F* about 0.005 higher: rejected."""
    right = validation.word_of_mouth_equilibrium(validation.WOM_P, validation.WOM_Q, 20000, 0.05)
    wrong_step = lambda f, p, q, n, d=0.0: (
        f * (1 - d) + (1 - f) * (1 - (1 - p) * (1 - q / (n - 1)) ** (n * f))
    )
    monkeypatch.setattr(validation, "word_of_mouth_step", wrong_step)
    wrong = validation.word_of_mouth_equilibrium(validation.WOM_P, validation.WOM_Q, 20000, 0.05)
    assert wrong - right > 0.004
    checks = validation.run_checks("agents", quick=True, cases=["word_of_mouth_with_churn"])
    assert not all(c.passed for c in checks)


def test_unknown_case_is_named():
    with pytest.raises(ValueError, match="unknown case 'nope'"):
        run_checks("agents", cases=["nope"])


def test_the_outside_rung_case_rejects_a_choice_without_the_outside_option(monkeypatch):
    """A firm that wins every reached prospect (the outside option forgotten) is rejected."""
    monkeypatch.setattr(validation, "outside_rung_share", lambda r, o, w: 1.0 / (1.0 + 0.0))
    checks = run_checks("population", quick=True, cases=["outside_rung_share"])
    assert not all(c.passed for c in checks)
