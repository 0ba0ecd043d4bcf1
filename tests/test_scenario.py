"""sim/scenario.py: loading, defaults, overrides, validation messages, sweeps, section classes."""

import copy
import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import (
    SCHEMA,
    SECTION_CLASSES,
    ScenarioError,
    load_scenario,
    parse_override,
)

SCENARIOS = sorted(Path(__file__).resolve().parents[1].glob("scenarios/*.toml"))
MINIMAL = {"scenario": {"seed": 1}, "firms": [{"name": "A", "service_level": "good"}]}


def doc(**sections):
    d = copy.deepcopy(MINIMAL)
    for section, values in sections.items():
        if isinstance(values, dict):
            d.setdefault(section, {}).update(values)
        else:
            d[section] = values
    return d


def test_defaults_are_filled_from_the_schema():
    sc = load_scenario(MINIMAL)
    assert (
        sc.months == 120
        and sc.replicates == 10
        and sc.engine == SCHEMA["scenario"]["engine"].default
    )
    assert sc.ladder.name == "five"
    assert sc.market.size == 10000 and sc.market.initial_customers == 5000
    assert sc.churn.leave_prob == 0.91 and sc.churn.tarp_stay == (0.09, 0.19, 0.54, 0.82)
    assert sc.customers.tolerance == 1.5 and sc.referrals.negative_reach == 0
    firm = sc.firms[0]
    assert firm.monthly_fee == 30.0 and firm.recognised_start == "good"
    assert firm.departments == (("service", "good"),) and firm.department_weights == (1.0,)


def test_initial_customers_default_is_half_the_market_rounded_down():
    assert load_scenario(doc(market={"size": 7})).market.initial_customers == 3


def test_scenario_is_frozen():
    sc = load_scenario(MINIMAL)
    with pytest.raises(AttributeError):
        sc.months = 3
    with pytest.raises(AttributeError):
        sc.churn.leave_prob = 0.1


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_shipped_scenario_validates_and_names_itself(path):
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert all(s.sweep is None for _, s in sc.points())


def test_overrides_are_typed_by_the_schema():
    sc = load_scenario(
        MINIMAL,
        [
            "churn.leave_prob=0.5",
            "churn.rule=tarp",
            "firms.0.service_level=excellent",
            "scenario.name=2024",
            "market.size=300",
            'market.network={generator="watts_strogatz", k=4, p=0.1}',
        ],
    )
    assert sc.churn.leave_prob == 0.5 and sc.churn.rule == "tarp"
    assert sc.firms[0].departments == (("service", "excellent"),)
    assert sc.name == "2024"
    assert sc.market.size == 300 and sc.market.initial_customers == 150
    assert sc.market.network == {"generator": "watts_strogatz", "k": 4, "p": 0.1}


def test_override_without_equals_is_an_error():
    with pytest.raises(ScenarioError, match="key=value"):
        parse_override("churn.leave_prob")


@pytest.mark.parametrize(
    ("document", "key", "allowed"),
    [
        (doc(churn={"leave_prob": 1.5}), "churn.leave_prob", "probability between 0 and 1"),
        (doc(churn={"leave_prob": "high"}), "churn.leave_prob", "probability"),
        (doc(churn={"leave_prb": 0.5}), "churn.leave_prb", "did you mean 'leave_prob'"),
        (doc(market={"size": -5}), "market.size", ">= 0"),
        (doc(market={"size": 10, "initial_customers": 11}), "market.initial_customers", "at most"),
        (doc(scenario={"months": 2.5}), "scenario.months", "whole number"),
        (doc(scenario={"months": True}), "scenario.months", "whole number"),
        (doc(churn={"rule": "sometimes"}), "churn.rule", "'fixed', 'tarp', 'strikes'"),
        (doc(churn={"tarp_stay": [0.1, 0.2]}), "churn.tarp_stay", "4 probabilities"),
        (
            doc(firms=[{"name": "A", "service_level": "superb"}]),
            "firms.0.service_level",
            "world_class",
        ),
        (doc(firms=[{"name": "A"}]), "firms.0", "exactly one of service_level or departments"),
        (doc(firms=[{"service_level": "good"}]), "firms.0.name", "required"),
        (doc(firms=[]), "firms", "non-empty"),
        (
            doc(
                firms=[
                    {"name": "A", "service_level": "good"},
                    {"name": "A", "service_level": "poor"},
                ]
            ),
            "firms",
            "unique",
        ),
        (
            doc(
                firms=[
                    {
                        "name": "A",
                        "departments": {"a": "good"},
                        "schedule": [{"month": 3, "departments": {"b": "poor"}}],
                    }
                ]
            ),
            "firms.0.schedule.0.departments.b",
            "allowed: a",
        ),
        (
            doc(
                firms=[
                    {
                        "name": "A",
                        "departments": {"a": "good", "b": "poor"},
                        "department_weights": {"a": 1},
                    }
                ]
            ),
            "firms.0.department_weights",
            "missing: b",
        ),
        (
            doc(market={"network": {"generator": "ring"}}),
            "market.network.generator",
            "watts_strogatz",
        ),
        (
            doc(market={"size": 10, "network": {"generator": "watts_strogatz", "k": 10, "p": 0.1}}),
            "market.network.k",
            "below",
        ),
        (doc(scenario={"ladder": "seven"}), "scenario.ladder", "unknown key 'seven'"),
        (doc(sweep={"churn.leave_prob": []}), "sweep.churn.leave_prob", "non-empty list"),
        (doc(sweep={"churn.leave_prob": [0.5, 2.0]}), "churn.leave_prob", "probability"),
        (doc(sweep={"churn.leave_pro": [0.5]}), "churn.leave_pro", "did you mean"),
        (doc(sweep={"scenario.seed": [1, 2]}), "sweep.scenario.seed", "cannot be swept"),
        ({"firms": [{"name": "A", "service_level": "good"}]}, "scenario.seed", "required"),
        (doc(extra={"x": 1}), "extra", "unknown key"),
    ],
)
def test_bad_input_names_the_key_and_what_is_allowed(document, key, allowed):
    with pytest.raises(ScenarioError) as err:
        load_scenario(document, source_name="my.toml")
    message = str(err.value)
    assert message.startswith("my.toml: ")
    assert key in message
    assert allowed in message


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\nseed = 1\nmonths = = 3\n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: TOML syntax error: .*line 3, column"):
        load_scenario(bad)


def test_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_departments_weights_are_normalised_and_schedule_overrides_named_departments():
    sc = load_scenario(
        doc(
            firms=[
                {
                    "name": "A",
                    "departments": {"sales": "good", "support": "excellent"},
                    "department_weights": {"sales": 1, "support": 3},
                    "schedule": [
                        {"month": 12, "departments": {"sales": "world_class"}},
                        {"month": 24, "service_level": "poor"},
                    ],
                }
            ]
        )
    )
    firm = sc.firms[0]
    assert firm.department_weights == (0.25, 0.75)
    assert firm.recognised_start == "good"  # the lowest department at month 0
    assert firm.rungs_at(11) == ("good", "excellent")
    assert firm.rungs_at(12) == ("world_class", "excellent")
    assert firm.rungs_at(24) == ("poor", "poor")


def test_inline_ladder(tmp_path):
    path = tmp_path / "inline.toml"
    path.write_text(
        """
[scenario]
seed = 3
[[rungs]]
id = "low"
quality_mean = 4.0
quality_sd = 1.0
resolve_prob = 0.2
quick_resolve_prob = 0.1
cost_per_customer = 1.0
sustain_months = 0
[[rungs]]
id = "high"
label = "High!"
quality_mean = 8.0
quality_sd = 0.5
resolve_prob = 0.8
quick_resolve_prob = 0.5
cost_per_customer = 4.0
sustain_months = 6
[[firms]]
name = "A"
service_level = "high"
"""
    )
    sc = load_scenario(path)
    assert sc.ladder.ids == ("low", "high") and sc.ladder.labels == ("Low", "High!")
    assert load_scenario(sc.to_dict()) == sc


def test_sweep_grid_is_full_factorial_first_key_slowest():
    sc = load_scenario(
        doc(
            sweep={
                "firms.0.service_level": ["poor", "good"],
                "churn.rule": ["fixed", "tarp", "strikes"],
            }
        )
    )
    points = sc.points()
    assert len(points) == 6
    assert [v for v, _ in points][:4] == [
        {"firms.0.service_level": "poor", "churn.rule": "fixed"},
        {"firms.0.service_level": "poor", "churn.rule": "tarp"},
        {"firms.0.service_level": "poor", "churn.rule": "strikes"},
        {"firms.0.service_level": "good", "churn.rule": "fixed"},
    ]
    assert points[4][1].churn.rule == "tarp" and points[4][1].firms[0].departments[0][1] == "good"


def test_to_dict_round_trips_every_shipped_scenario():
    for path in SCENARIOS:
        sc = load_scenario(path)
        assert load_scenario(sc.to_dict(), source_name=str(path)) == sc


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.floats(-1, 2), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
_keys = st.sampled_from([f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k != "seed"])


@settings(
    derandomize=True, max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None
)
@given(key=_keys, value=_values)
def test_any_value_for_any_key_gives_a_scenario_or_a_scenario_error(key, value):
    """Property: never a traceback; a valid result round-trips through to_dict."""
    try:
        sc = load_scenario(doc(market={"size": 50}), {key: value})
    except ScenarioError as err:
        assert key.split(".")[0] in str(err)
        return
    assert load_scenario(sc.to_dict()) == sc


def test_each_section_class_has_exactly_its_schema_keys_in_order():
    assert sorted(SECTION_CLASSES) == sorted(k for k in SCHEMA if k != "scenario")
    for section, cls in SECTION_CLASSES.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        assert fields == list(SCHEMA[section]), section
        assert cls.__dataclass_params__.frozen, section
        assert cls.__name__ == section.capitalize()
