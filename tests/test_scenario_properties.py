"""Properties of scenario loading over generated TOML files (issue 7).

Whatever a scenario file holds, `load_scenario` gives a valid Scenario or the project's own
ScenarioError naming the key; never another exception. A valid scenario round-trips: written back
as TOML from `Scenario.to_dict()`, it loads to the same scenario.

The files are written with tomli_w, the TOML writer that pairs with `tomllib` (a test dependency).
"""

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.scenario import FIRM_SCHEMA, SCHEMA, TOP_LEVEL, ScenarioError, load_scenario
from sim.sweep import scenario_input

PROPERTY = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def without_none(v: Any) -> Any:
    """TOML has no null: drop None values from tables and arrays."""
    if isinstance(v, dict):
        return {k: without_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list | tuple):
        return [without_none(x) for x in v if x is not None]
    return v


# --------------------------------------------------------------------------------------------
# Documents.

BASE = {
    "scenario": {"seed": 3, "months": 6, "replicates": 2},
    "market": {"size": 40},
    "firms": [
        {"name": "A", "service_level": "good"},
        {"name": "B", "service_level": "poor", "monthly_fee": 20.0},
    ],
}
DEPARTMENTS_FIRM = {
    "name": "D",
    "departments": {"sales": "good", "support": "excellent"},
    "department_weights": {"sales": 1, "support": 3},
    "schedule": [{"month": 2, "departments": {"sales": "world_class"}}],
}
RUNG = {
    "id": "low",
    "quality_mean": 4.0,
    "quality_sd": 1.0,
    "resolve_prob": 0.2,
    "quick_resolve_prob": 0.1,
    "cost_per_customer": 1.0,
    "sustain_months": 0,
}

scalars = st.one_of(
    st.booleans(),
    st.integers(-5, 10**6),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, 2, "good", "excellent", "world_class", "tarp", "six", ""]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=6) | st.sampled_from(["month", "sales", "generator"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)
# Values often valid for some key, so that many documents load and are round-tripped.
plausible = st.one_of(
    st.integers(0, 60),
    st.floats(0, 1),
    st.sampled_from(
        [
            *("good", "poor", "excellent", "world_class", "tarp", "strikes", "fixed"),
            *("population", "agents", "five", "three", "well_mixed", "x"),
        ]
    ),
)
sweep_values = st.one_of(
    values,
    st.lists(plausible, min_size=1, max_size=3, unique=True),
    st.lists(scalars, min_size=1, max_size=3),
    st.lists(st.integers(0, 5), min_size=2, max_size=2),  # a hypercube range
)

SECTION_KEYS = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys]
FIRM_KEYS = [f"firms.{i}.{k}" for i in (0, 1) for k in FIRM_SCHEMA] + ["firms.2.name"]
RUNG_KEYS = [f"rungs.0.{k}" for k in RUNG] + ["rungs.0.label"]
SWEEPABLE = [k for k in SECTION_KEYS if k != "scenario.seed"] + [
    "firms.0.service_level",
    "firms.1.monthly_fee",
    "firms.0.share",
]


def set_path(doc: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``doc[a][b]...`` (list items by index), making tables on the way."""
    node: Any = doc
    for part in path[:-1]:
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append({})
            node = node[index]
        else:
            nxt = node.get(part)
            if not isinstance(nxt, dict | list):
                nxt = node[part] = {}
            node = nxt
    last = path[-1]
    if isinstance(node, list):
        index = int(last)
        if index < len(node):
            node[index] = value
        else:
            node.append(value)
    else:
        node[last] = value


@st.composite
def documents(draw) -> tuple[dict[str, Any], str]:
    """A near-valid document with one key set to an arbitrary value; and that key."""
    doc = copy.deepcopy(BASE)
    shape = draw(st.sampled_from(["plain", "departments", "rungs"]))
    if shape == "departments":
        doc["firms"][1] = copy.deepcopy(DEPARTMENTS_FIRM)
    elif shape == "rungs":
        doc["rungs"] = [copy.deepcopy(RUNG), {**RUNG, "id": "good", "sustain_months": 3}]
        doc["firms"][1]["service_level"] = "low"
    kind = draw(st.sampled_from(["section", "firm", "rung", "sweep", "top"]))
    if kind == "section":
        key = draw(st.sampled_from(SECTION_KEYS))
    elif kind == "firm":
        key = draw(st.sampled_from(FIRM_KEYS))
    elif kind == "rung":
        key = draw(st.sampled_from(RUNG_KEYS))
        doc.setdefault("rungs", [copy.deepcopy(RUNG)])
    elif kind == "sweep":
        sweep: dict[str, Any] = {}
        for swept in draw(
            st.lists(st.sampled_from(SWEEPABLE), min_size=1, max_size=2, unique=True)
        ):
            sweep[swept] = draw(sweep_values)
        if draw(st.booleans()):
            sweep["design"] = draw(
                st.sampled_from(["grid", "latin_hypercube"]) | st.text(max_size=4)
            )
            sweep["samples"] = draw(st.integers(-2, 6) | scalars)
        doc["sweep"] = sweep
        return without_none(doc), "sweep"
    else:
        key = draw(st.sampled_from([*TOP_LEVEL, "extra", "firm"]))
    set_path(doc, key.split("."), draw(plausible | values))
    return without_none(doc), key


def load_file(tmp_path: Path, text: str):
    path = tmp_path / "generated.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path, source_name="generated.toml")


def assert_round_trips(tmp_path: Path, scenario) -> None:
    """Written back as TOML, the resolved scenario loads to the same scenario.

    A sweep is written back as the document as given (`scenario_input`, what a results folder
    stores to resume from), and reloads to the same points; `to_dict` would fix defaults derived
    from swept keys (``market.initial_customers``, ``recognised_start``) at the base scenario's
    values, so its round trip is checked without the ``[sweep]`` table.
    """
    resolved = scenario.to_dict()
    if scenario.sweep is not None:
        rebuilt = load_file(tmp_path, tomli_w.dumps(scenario_input(scenario)))
        assert rebuilt == scenario
        assert rebuilt.points() == scenario.points()
        resolved.pop(scenario.sweep.TABLE)
        scenario = dataclasses.replace(scenario, sweep=None)
    again = load_file(tmp_path, tomli_w.dumps(resolved))
    assert again == scenario
    assert again.to_dict() == resolved


@given(case=documents())
@PROPERTY
def test_any_value_for_any_key_in_a_file_gives_a_scenario_or_a_scenario_error_naming_it(
    case, tmp_path
):
    doc, key = case
    try:
        scenario = load_file(tmp_path, tomli_w.dumps(doc))
    except ScenarioError as err:
        event("scenario error")
        message = str(err)
        assert message.startswith("generated.toml: ")
        assert err.key and err.key in message, message
        # the key named is a key of the document's sections (the one set, or one it governs)
        named = err.key.removeprefix("sweep (").split(")")[-1].strip(": ")
        section = (named or err.key).split(".")[0]
        assert section in (*TOP_LEVEL, key.split(".")[0]) or key == "sweep", message
        return
    event("valid: round trip")
    assert_round_trips(tmp_path, scenario)


@given(
    doc=st.dictionaries(
        st.sampled_from([*TOP_LEVEL, "firm", "Scenario"]) | st.text(max_size=5),
        values,
        max_size=5,
    ).map(without_none)
)
@PROPERTY
def test_arbitrary_toml_documents_never_raise_anything_but_a_scenario_error(doc, tmp_path):
    if "scenario" in doc and isinstance(doc["scenario"], dict):
        doc["scenario"].setdefault("seed", 1)  # get past the first required key more often
    try:
        scenario = load_file(tmp_path, tomli_w.dumps(doc))
    except ScenarioError as err:
        event("scenario error")
        assert str(err).startswith("generated.toml: ") and err.problem
        return
    event("valid: round trip")
    assert_round_trips(tmp_path, scenario)


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).resolve().parents[1].glob("scenarios/*.toml"))
)
def test_every_shipped_scenario_round_trips_through_a_toml_file(path, tmp_path):
    assert_round_trips(tmp_path, load_scenario(path))
