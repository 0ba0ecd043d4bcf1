"""Shared test fixtures: the engines, the one scenario builder, and environment hygiene.

- ``engine``: a test that takes it runs once per engine of `sim.scenario.ENGINES`.
- `build_scenario` (and the ``scenario_builder`` fixture that hands it out): every test's scenario
  is built here, from a few keyword arguments; files keep only their own presets (e.g.
  test_behaviour's two-rung exact market) as `functools.partial` of it.
- ``exact_customers``: the customers of the exact markets, for tests that need the table itself.
- ``scenario_file``: writes a TOML scenario into the test's temporary folder.
"""

from __future__ import annotations

import os

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before anything imports solara
os.environ.setdefault("MPLBACKEND", "Agg")

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sim.scenario import ENGINES, Scenario, load_scenario

# Customers with expectation exactly 5, no zone of tolerance, no learning and an interaction every
# month: a rung of quality above 5 (sd 0) always delights, one below always disappoints.
_EXACT_CUSTOMERS = {
    "expectation_mean": 5.0,
    "expectation_sd": 0.0,
    "tolerance": 0.0,
    "adapt_rate": 0.0,
    "market_pull": 0.0,
    "contact_prob": 1.0,
}
_DEFAULT_FIRMS = ({"name": "Firm", "service_level": "good"},)


def build_scenario(
    firms: Sequence[Mapping[str, Any]] | None = None,
    *,
    seed: int = 1,
    months: int = 12,
    size: int = 300,
    initial: int | None = None,
    replicates: int = 1,
    rungs: Sequence[Mapping[str, Any]] | None = None,
    exact: bool = False,
    **sections: Any,
) -> Scenario:
    """A validated scenario from a few keywords: the one builder the tests share.

    Args:
        firms: the ``[[firms]]`` tables (default: one firm at "good").
        seed, months, replicates: the ``[scenario]`` keys.
        size, initial: ``market.size`` and ``market.initial_customers`` (default: size // 2).
        rungs: inline ``[[rungs]]`` (default: the built-in ladder).
        exact: customers with expectation exactly 5, no tolerance, no learning and an interaction
            every month (a rung above 5 with sd 0 always delights, one below always disappoints).
        sections: other tables; a dict is merged into the table, anything else replaces it.
    """
    doc: dict[str, Any] = {
        "scenario": {"seed": seed, "months": months, "replicates": replicates},
        "market": {"size": size},
        "firms": [dict(f) for f in (firms or _DEFAULT_FIRMS)],
    }
    if initial is not None:
        doc["market"]["initial_customers"] = initial
    if rungs is not None:
        doc["rungs"] = [dict(r) for r in rungs]
    if exact:
        doc["customers"] = dict(_EXACT_CUSTOMERS)
    for section, values in sections.items():
        if isinstance(values, dict):
            doc.setdefault(section, {}).update(values)
        else:
            doc[section] = values
    return load_scenario(doc)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return request.param


@pytest.fixture
def scenario_builder() -> Callable[..., Scenario]:
    """`build_scenario`."""
    return build_scenario


@pytest.fixture
def exact_customers() -> dict[str, float]:
    """The ``[customers]`` table of the exact markets (a fresh copy)."""
    return dict(_EXACT_CUSTOMERS)


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write(name, toml_text) -> path``: a scenario file in the test's temporary folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        return path

    return write


def interrupt_at(monkeypatch, seed: int, scenario=None) -> None:
    """Make the run with this seed (and, if given, this point's scenario: with common random
    numbers a seed is every point's) raise KeyboardInterrupt, what Ctrl-C does mid-sweep, in this
    process; ``monkeypatch.undo()`` lifts it."""
    import sim.runner

    real, stop, point = sim.runner.simulate_columns, seed, scenario

    def interrupted(scenario, *, seed, engine=None):
        if seed == stop and (point is None or scenario == point):
            raise KeyboardInterrupt
        return real(scenario, seed=seed, engine=engine)

    monkeypatch.setattr(sim.runner, "simulate_columns", interrupted)
