"""sim/ladder.py: the built-in ladders as data."""

import itertools

import pytest

from sim.ladder import BUILTIN_LADDERS, get_ladder


def test_five_ladder_has_model_md_values():
    five = get_ladder("five")
    assert five.ids == ("poor", "acceptable", "good", "excellent", "world_class")
    wc = five[five.index("world_class")]
    assert (wc.quality_mean, wc.quality_sd, wc.resolve_prob, wc.quick_resolve_prob) == (
        9.0,
        0.6,
        0.9,
        0.75,
    )
    assert (wc.cost_per_customer, wc.sustain_months) == (8.0, 60)
    assert [r.sustain_months for r in five.rungs] == [0, 6, 12, 24, 60]


@pytest.mark.parametrize("name", sorted(BUILTIN_LADDERS))
def test_every_builtin_ladder_rises_in_quality_cost_and_recovery(name):
    rungs = get_ladder(name).rungs
    for lower, higher in itertools.pairwise(rungs):
        assert higher.quality_mean > lower.quality_mean
        assert higher.quality_sd <= lower.quality_sd
        assert higher.resolve_prob > lower.resolve_prob
        assert higher.quick_resolve_prob > lower.quick_resolve_prob
        assert higher.cost_per_customer > lower.cost_per_customer
        assert higher.sustain_months >= lower.sustain_months
    assert rungs[0].sustain_months == 0


def test_six_and_three_ladders_have_the_seed_material_rungs():
    assert get_ladder("six").ids == (
        "criminal",
        "basic",
        "expected",
        "desired",
        "surprising",
        "unbelievable",
    )
    assert get_ladder("three").ids == ("expected", "desired", "unanticipated")


def test_unknown_ladder_names_the_known_ones():
    with pytest.raises(KeyError, match="five, six, three"):
        get_ladder("seven")
