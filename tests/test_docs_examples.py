"""Every TOML example in the README and docs/ is a scenario that loads.

A block that is a whole scenario (it has a ``[scenario]`` table) must load as written; a fragment
(a ``[sweep]`` table, a firm) must load once completed with the smallest scenario around it. Each
example is one test, named by its file and line, so a broken example says where it is.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)


def _examples():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield pytest.param(match.group(1), id=f"{path.relative_to(ROOT)}:{line}")


EXAMPLES = list(_examples())


def test_the_docs_have_examples():
    """The README's full example and the docs' firm example are among those found."""
    ids = [p.id for p in EXAMPLES]
    assert any(i.startswith("README.md:") for i in ids)
    assert any(i.startswith("docs/model.md:") for i in ids)


@pytest.mark.parametrize("block", EXAMPLES)
def test_example_loads(block):
    document = tomllib.loads(block)
    if "scenario" not in document:  # a fragment: give it the least a scenario needs
        document.setdefault("scenario", {"seed": 1})
        document.setdefault("firms", [{"name": "Firm", "service_level": "good"}])
    scenario = sim.load_scenario(document)
    if "sweep" in document:
        assert len(scenario.sweep.points()) >= 2
