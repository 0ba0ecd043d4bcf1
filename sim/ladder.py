"""The service ladder as data: `Rung`, `Ladder` and the built-in ladders.

A ladder is an ordered tuple of rungs, lowest first. Everything the model needs to know about a
service level lives on its rung: the quality customers experience (0-10 scale), how well complaints
are resolved, what a customer-month of service costs, and how many months a firm must deliver the
rung before the market recognises it. Nothing here runs a model or reads a file.

The `five` ladder is the one in MODEL.md. The `six` and `three` ladders follow the same spirit
(quality rising, variability falling, recovery improving, cost rising steeply and recognition taking
longer at the top); their values are this project's choice and are documented in docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNG_FIELDS = (
    "id",
    "label",
    "quality_mean",
    "quality_sd",
    "resolve_prob",
    "quick_resolve_prob",
    "cost_per_customer",
    "sustain_months",
)


@dataclass(frozen=True)
class Rung:
    """One service level.

    Attributes:
        id: short identifier used in scenario files (``"world_class"``).
        label: human-readable name shown in tables and plots (``"World class"``).
        quality_mean: mean experienced quality of an interaction, 0-10.
        quality_sd: standard deviation of experienced quality, >= 0.
        resolve_prob: chance a complaint is resolved, 0-1.
        quick_resolve_prob: chance a resolved complaint is resolved quickly, 0-1.
        cost_per_customer: service cost per customer-month, in currency units, >= 0.
        sustain_months: months of delivering this rung (or better) in a row before the market
            recognises it; 0 means recognised in the month it is first delivered.
    """

    id: str
    label: str
    quality_mean: float
    quality_sd: float
    resolve_prob: float
    quick_resolve_prob: float
    cost_per_customer: float
    sustain_months: int


@dataclass(frozen=True)
class Ladder:
    """An ordered list of rungs, lowest first.

    Attributes:
        name: the built-in ladder's name (``"five"``), or ``"inline"`` for a scenario's own.
        rungs: the `Rung` s, lowest first.
        ids: the rung ids, lowest first.
        labels: the rung labels, lowest first.
    """

    name: str
    rungs: tuple[Rung, ...]

    def __len__(self) -> int:
        return len(self.rungs)

    def __getitem__(self, index: int) -> Rung:
        return self.rungs[index]

    @property
    def ids(self) -> tuple[str, ...]:
        """The rung ids, lowest first."""
        return tuple(r.id for r in self.rungs)

    @property
    def labels(self) -> tuple[str, ...]:
        """The rung labels, lowest first."""
        return tuple(r.label for r in self.rungs)

    def index(self, rung_id: str) -> int:
        """Position of a rung on the ladder (0 = lowest). Raises KeyError for unknown ids."""
        for i, rung in enumerate(self.rungs):
            if rung.id == rung_id:
                return i
        raise KeyError(rung_id)

    def to_records(self) -> list[dict]:
        """The rungs as plain dicts (for manifests, tables and inline scenario ladders)."""
        return [{f: getattr(r, f) for f in RUNG_FIELDS} for r in self.rungs]


def _ladder(name: str, rows: list[tuple]) -> Ladder:
    return Ladder(name, tuple(Rung(*row) for row in rows))


# id, label, quality mean, quality sd, resolve, quick resolve, cost per customer-month, sustain
BUILTIN_LADDERS: dict[str, Ladder] = {
    "five": _ladder(
        "five",
        [
            ("poor", "Poor", 3.0, 1.5, 0.10, 0.02, 1.0, 0),
            ("acceptable", "Acceptable", 5.0, 1.2, 0.30, 0.10, 2.0, 6),
            ("good", "Good", 6.5, 1.0, 0.50, 0.25, 3.5, 12),
            ("excellent", "Excellent", 8.0, 0.8, 0.70, 0.50, 5.5, 24),
            ("world_class", "World class", 9.0, 0.6, 0.90, 0.75, 8.0, 60),
        ],
    ),
    "six": _ladder(
        "six",
        [
            ("criminal", "Criminal", 2.0, 1.5, 0.05, 0.01, 0.5, 0),
            ("basic", "Basic", 4.0, 1.3, 0.20, 0.05, 1.5, 3),
            ("expected", "Expected", 5.5, 1.1, 0.40, 0.15, 2.5, 6),
            ("desired", "Desired", 7.0, 0.9, 0.60, 0.35, 4.0, 12),
            ("surprising", "Surprising", 8.2, 0.7, 0.75, 0.55, 6.0, 24),
            ("unbelievable", "Unbelievable", 9.2, 0.5, 0.90, 0.80, 9.0, 60),
        ],
    ),
    "three": _ladder(
        "three",
        [
            ("expected", "Expected", 5.5, 1.1, 0.40, 0.15, 2.5, 0),
            ("desired", "Desired", 7.0, 0.9, 0.60, 0.35, 4.0, 12),
            ("unanticipated", "Unanticipated", 8.7, 0.6, 0.85, 0.65, 7.0, 36),
        ],
    ),
}

DEFAULT_LADDER = "five"


def get_ladder(name: str) -> Ladder:
    """A built-in ladder by name. Raises KeyError naming the known ladders."""
    try:
        return BUILTIN_LADDERS[name]
    except KeyError:
        raise KeyError(
            f"unknown ladder {name!r}; built-in ladders: {', '.join(BUILTIN_LADDERS)}"
        ) from None
