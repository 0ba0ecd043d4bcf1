"""docs/workshop.md's numbers are the app's: each block's preset (`sim.app.PRESETS`, seed 1) and
the variations the doc asks the trainer to make are run in the app's own model, and every number
the doc quotes must appear in it as computed here.

Run ``python tests/test_workshop_doc.py`` to print the sentences with the current numbers (to
paste into the doc after a model change).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from sim import app, rules
from sim.formatting import money, share

DOC = Path(__file__).resolve().parents[1] / "docs" / "workshop.md"
BLOCK1, BLOCK2, BLOCK3 = app.PRESETS.values()


def about(n: float) -> str:
    """A count as the doc writes it: to the nearest 10 from 100 on, else whole."""
    n = float(n)
    return f"{round(n, -1):,.0f}" if n >= 100 else f"{n:,.0f}"


@cache
def run(settings: app.Settings) -> app.WorkshopModel:
    """The app's model of ``settings``, run to its horizon."""
    model = app.WorkshopModel(settings)
    for _ in range(settings.months):
        model.step()
    return model


def value(settings: app.Settings, firm: int, month: int, column: str) -> float:
    frame = run(settings).frame()
    label = run(settings).labels[firm]
    row = frame[(frame["series"] == label) & (frame["step"] == month)]
    return float(row[column].iloc[0])


def customers(settings: app.Settings, firm: int, month: int) -> str:
    return about(value(settings, firm, month, "customers"))


def profit(settings: app.Settings, firm: int, month: int) -> str:
    return money(value(settings, firm, month, "cumulative_profit"))


def delight(settings: app.Settings, firm: int, month: int) -> str:
    return share(
        value(settings, firm, month, "delighted") / value(settings, firm, month, "interactions")
    )


def block3_expectations() -> tuple[str, str]:
    """Mean expectation of the world-class firm's customers in month 0 and month 12."""
    model = app.WorkshopModel(BLOCK3)
    out = []
    for month in range(13):
        if month in (0, 12):
            market = model.markets[0]
            values = [
                p.expectation
                for p in market.people
                if p.status == rules.CUSTOMER and p.firm.index == 2
            ]
            out.append(f"{np.mean(values):.1f}")
        if month < 12:
            model.step()
    return out[0], out[1]


def level_month() -> int:
    """Block 2: the first month from which World class's cumulative profit stays ahead."""
    frame = run(BLOCK2).frame()
    labels = run(BLOCK2).labels
    e = frame[frame["series"] == labels[1]]["cumulative_profit"].to_numpy()
    w = frame[frame["series"] == labels[2]]["cumulative_profit"].to_numpy()
    behind = np.nonzero(w < e)[0]
    return int(behind[-1] + 1)


def sentences() -> list[str]:
    """Every sentence (or part of one) of docs/workshop.md that quotes a number of the app."""
    leave50 = replace(BLOCK1, leave_prob=0.5)
    tarp = replace(BLOCK1, churn_rule="tarp")
    strikes = replace(BLOCK1, churn_rule="strikes")
    short = replace(BLOCK2, months=36)
    delivered = replace(BLOCK3, recognised_start="", months=12)
    level = level_month()
    e0, e12 = block3_expectations()
    return [
        f"**Acceptable** falls from 1,000 customers to about {customers(BLOCK1, 0, 12)} in one "
        f"year and about {customers(BLOCK1, 0, 120)} by year ten.",
        f"**Good** keeps about {customers(BLOCK1, 1, 24)} after two years and about "
        f"{customers(BLOCK1, 1, 120)} after ten.",
        f"**Excellent** ends year ten with about {customers(BLOCK1, 2, 120)} customers and "
        f"{profit(BLOCK1, 2, 120)} cumulative profit, against {profit(BLOCK1, 1, 120)} for Good.",
        f"Good ends with about {customers(leave50, 1, 120)} customers instead of "
        f"{customers(BLOCK1, 1, 120)}.",
        f"Good ends year ten with about {customers(tarp, 1, 120)} customers",
        f"Now Acceptable keeps about {customers(strikes, 0, 120)} customers after ten years, and "
        f"Good about {customers(strikes, 1, 120)} against {customers(strikes, 2, 120)} for "
        "Excellent.",
        f"about {profit(BLOCK2, 2, 12)} against {profit(BLOCK2, 1, 12)} at month 12.",
        f"World class stays ahead from month {level}. By month 120 it leads with about "
        f"{profit(BLOCK2, 2, 120)} against {profit(BLOCK2, 1, 120)}, and about "
        f"{customers(BLOCK2, 2, 120)} customers against {customers(BLOCK2, 1, 120)}",
        f"Shorten *months* to 36: Excellent ends with {profit(short, 1, 36)} against "
        f"{profit(short, 2, 36)}.",
        f"At month 12 it has about {customers(BLOCK3, 2, 12)} customers. It would have about "
        f"{customers(delivered, 2, 12)} if the market recognised its rung from the start",
        f"In month 1 about {delight(BLOCK3, 2, 1)} of the world-class firm's interactions "
        f"delight. By month 12 only about {delight(BLOCK3, 2, 12)} do, and by month 24 about "
        f"{delight(BLOCK3, 2, 24)}.",
        f"their expectation rises from about {e0} to {e12} within a year",
        f"about {customers(BLOCK3, 2, 120)} customers at month 120, against "
        f"{customers(BLOCK3, 1, 120)} for Excellent and {customers(BLOCK3, 0, 120)} for Good",
    ]


def test_the_workshop_docs_numbers_are_the_apps():
    text = " ".join(DOC.read_text().split())
    missing = [s for s in sentences() if s not in text]
    assert not missing, "docs/workshop.md lacks (run this file to print them all):\n" + "\n".join(
        missing
    )


if __name__ == "__main__":
    print("\n".join(sentences()))
