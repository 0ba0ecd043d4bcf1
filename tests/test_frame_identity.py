"""Frame identity: every shipped scenario gives, seed for seed, the frame it gave before.

A refactor of an engine (or a new model feature left at its defaults) must not move a single
number. For each scenario in ``scenarios/*.toml`` (its first sweep point, the market capped at
``SIZE`` people and the horizon at ``MONTHS`` months, so the whole module takes seconds) and each
engine, the run with seed ``SEED`` is written as CSV (pandas writes floats in their shortest
round-trip form, so the text is exact) and hashed with SHA-256. ``frame_hashes.json`` holds the
hashes the test compares against: the agent engine's as computed at commit 88ef6cb, before the
engines were split into named phases (docs/model.md, section 7), the population engine's as
recomputed when its draws changed for speed (issue 16: geometric gaps for small chances, two
uniforms per referral, ``floor(u m)`` ranks; docs/model.md D27), the law unchanged and docked.

To record new hashes after a change that is *meant* to move the numbers (never for a refactor),
run ``.venv/bin/python tests/test_frame_identity.py --write`` and say why in the commit message.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import load_scenario, simulate
from sim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
HASHES = Path(__file__).with_name("frame_hashes.json")
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
ENGINES = ("agents", "population")
SIZE = 2000
MONTHS = 120
SEED = 20261130


def capped(name: str) -> Scenario:
    """The scenario's first sweep point, its market capped at SIZE people, months at MONTHS."""
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    _, first = scenario.points()[0]
    return first.with_values(
        {
            "market.size": min(first.market.size, SIZE),
            "market.initial_customers": min(first.market.initial_customers, SIZE // 2),
            "scenario.months": min(first.months, MONTHS),
        }
    )


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the frame as CSV (columns, then rows in order; floats written exactly)."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode()).hexdigest()


def current_hashes() -> dict[str, str]:
    """``"scenario/engine" -> hash`` for every shipped scenario and engine."""
    return {
        f"{name}/{engine}": frame_hash(simulate(capped(name), seed=SEED, engine=engine))
        for name in SCENARIOS
        for engine in ENGINES
    }


def test_every_shipped_scenario_is_hashed():
    expected = json.loads(HASHES.read_text())
    assert sorted(expected) == sorted(f"{n}/{e}" for n in SCENARIOS for e in ENGINES)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_frame_is_identical_to_the_recorded_one(name, engine):
    expected = json.loads(HASHES.read_text())
    frame = simulate(capped(name), seed=SEED, engine=engine)
    assert frame_hash(frame) == expected[f"{name}/{engine}"], (
        f"{name} on the {engine} engine no longer gives the recorded frame (seed {SEED})"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_frame_identity.py --write")
    HASHES.write_text(json.dumps(current_hashes(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {HASHES}")
