"""Figures: DataFrames in, matplotlib Figures out. Nothing here runs a model or writes a file.

Every function takes monthly rows (a results folder's time series, or concatenated `simulate`
frames) and returns a `matplotlib.figure.Figure` built without pyplot, so it works the same in
the CLI (saved to PNG with the Agg renderer), in notebooks and in tests, and leaves no global
state behind. Bands are the t-based 95 % confidence interval of the mean over replicates from
`sim.summary.replicate_summary`, the same numbers as in ``summary.csv``.

Figures are made to be read on a projector: large type, thick lines, and firms told apart by line
style as well as by colour (Okabe-Ito palette), so they survive greyscale and colour blindness.

What does not live here: statistics (`summary.py`), saving (`store.py`), running (`runner.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.summary import CONFIDENCE, replicate_summary, swept_keys

# Okabe & Ito (2008) colour-blind-safe palette, black last.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FONT_SIZE = 15
BAND_ALPHA = 0.22


def _style(i: int) -> dict:
    """Colour, line style and marker of the i-th series (they cycle independently)."""
    return {
        "color": COLOURS[i % len(COLOURS)],
        "linestyle": LINE_STYLES[i % len(LINE_STYLES)],
        "marker": MARKERS[i % len(MARKERS)],
    }


def _thousands(value: float, _pos: int) -> str:
    return f"{value:,.0f}"


def _one_point(timeseries: pd.DataFrame) -> None:
    mixed = [k for k in swept_keys(timeseries) if timeseries[k].nunique(dropna=False) > 1]
    if mixed:
        raise ValueError(
            f"the rows hold several sweep points (varying {', '.join(mixed)}); "
            "select one point before plotting"
        )


def _panel(
    ax,
    summary: pd.DataFrame,
    metric: str,
    firms: Sequence[str],
    title: str,
    ylabel: str,
    first_step: int = 0,
) -> None:
    rows = summary[(summary["metric"] == metric) & (summary["step"] >= first_step)]
    span = max(int(rows["step"].max()), 1) if not rows.empty else 1
    for i, firm in enumerate(firms):
        one = rows[rows["firm"] == firm]
        step = one["step"].to_numpy(dtype=float)
        style = _style(i)
        ax.plot(
            step,
            one["mean"].to_numpy(dtype=float),
            label=firm,
            linewidth=2.5,
            markevery=max(span // 8, 1),
            markersize=7,
            **style,
        )
        low, high = one["ci_low"].to_numpy(dtype=float), one["ci_high"].to_numpy(dtype=float)
        if np.isfinite(low).any():
            ax.fill_between(
                step,
                low,
                high,
                color=style["color"],
                alpha=BAND_ALPHA,
                linewidth=0,
            )
    ax.set_title(title, fontsize=FONT_SIZE + 2)
    ax.set_xlabel("month", fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 2)
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlim(first_step, span)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)


def customers_and_revenue(timeseries: pd.DataFrame, title: str | None = None) -> Figure:
    """Customers and monthly revenue per firm over the months, mean and 95 % band.

    Args:
        timeseries: monthly rows of the replicates of one parameter point (columns ``run_id``,
            ``firm``, ``step``, ``customers``, ``revenue``).
        title: figure title; the default names the number of replicates.

    Returns:
        A Figure with two panels side by side: customers (people, end of month, from month 0)
        and revenue (currency units per month, from month 1; month 0 has no flows). Each firm is
        a mean line with a shaded t-based 95 % confidence band over replicates (no band with one
        replicate).

    Raises:
        ValueError: the rows hold more than one sweep point.
    """
    _one_point(timeseries)
    summary = replicate_summary(timeseries, by=["firm", "step"], metrics=["customers", "revenue"])
    firms = list(pd.unique(timeseries["firm"]))
    replicates = timeseries["run_id"].nunique() if "run_id" in timeseries else 1
    fig = Figure(figsize=(15, 6.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    band = f"mean and {CONFIDENCE:.0%} confidence band"
    _panel(left, summary, "customers", firms, "Customers", "customers (people, end of month)")
    _panel(
        right,
        summary,
        "revenue",
        firms,
        "Monthly revenue",
        "revenue (currency units per month)",
        first_step=1,
    )
    left.legend(fontsize=FONT_SIZE - 1, title="firm", title_fontsize=FONT_SIZE - 1)
    fig.suptitle(
        title or f"Customers and revenue per firm: {band} over {replicates} replicates",
        fontsize=FONT_SIZE + 3,
    )
    return fig
