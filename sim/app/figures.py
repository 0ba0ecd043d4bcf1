"""The workshop app's figures: a `View` in, matplotlib Figures and PNG/CSV bytes out (no pyplot,
no global state, never a model).

- `plots_figure`: customers, monthly revenue and cumulative profit per firm, with one legend and
  the run's events marked ("A moves to Excellent", "A recognised as Excellent");
- `dots_figure`: one market's people as dots coloured by what happened to them this month;
- `handout_png` and `handout_csv`: the hand-outs, each carrying the settings, month and seed;
- `ladder_table`: the rungs as a table for people.

Sizes are for a projector: the page shows the plots at about their pixel width, so text of
`FONT` points at `SCREEN_DPI` is at least 14 px on screen (tests/test_app_browser.py measures it).
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.app.model import (
    AWAY,
    CATEGORIES,
    CATEGORY_COLOURS,
    FIRM_LETTERS,
    PROSPECT,
    View,
)
from sim.formatting import count, money
from sim.ladder import Ladder
from sim.plots import COLOURS, LINE_STYLES, MARKERS

FONT = 14  # points: the smallest text on the plots (ticks, legend, event labels)
SCREEN_DPI = 80
PLOTS_WIDTH_IN = 9.5  # 760 px at SCREEN_DPI: the page's width beside the sidebar at 1280 px


def _years(months: int) -> str:
    """``12`` -> "1 year", ``30`` -> "2.5 years"."""
    years = months / 12
    return f"{years:g} year" + ("" if years == 1 else "s")


def _axis_money(value: float, _pos: int = 0) -> str:
    return money(0.0 if abs(value) < 1e-9 else value)


def _axis_count(value: float, _pos: int = 0) -> str:
    return count(0.0 if abs(value) < 1e-9 else value)


def plots_figure(view: View, dpi: int = SCREEN_DPI, caption: str | None = None) -> Figure:
    """Customers, monthly revenue and cumulative profit per firm, three panels in a row, one
    legend above them, the events as dotted vertical lines, and an optional caption below.

    Args:
        view: the run at any month.
        dpi: resolution (the figure is `PLOTS_WIDTH_IN` inches wide).
        caption: text under the plots (the hand-out's settings, month and seed).
    """
    frame = view.frame
    height = 4.3 + (0.6 if caption else 0.0)
    fig = Figure(figsize=(PLOTS_WIDTH_IN, height), dpi=dpi)  # fixed margins: no layout engine
    bottom = (0.6 + (0.6 if caption else 0.0)) / height
    axes = fig.subplots(
        1,
        3,
        gridspec_kw={
            "left": 0.075,
            "right": 0.99,
            "bottom": bottom,
            "top": 1 - 1.05 / height,
            "wspace": 0.32,
        },
    )
    panels = (
        ("customers", "Customers", _axis_count),
        ("revenue", "Monthly revenue", _axis_money),
        ("cumulative_profit", "Cumulative profit", _axis_money),
    )
    horizon = max(view.settings.months, 1)
    handles = []
    for ax, (column, title, fmt) in zip(axes, panels, strict=True):
        low, high = 0.0, 0.0
        for k, label in enumerate(view.labels):
            rows = frame[frame["series"] == label]
            if column == "revenue":
                rows = rows[rows["step"] >= 1]
            values = rows[column].to_numpy(dtype=float)
            (line,) = ax.plot(
                rows["step"].to_numpy(),
                values,
                color=COLOURS[k % len(COLOURS)],
                linestyle=LINE_STYLES[k % len(LINE_STYLES)],
                linewidth=3,
                marker=MARKERS[k % len(MARKERS)],
                markevery=[len(values) - 1] if len(values) else [],
                markersize=10,
                label=f"Firm {label}",
            )
            if column == "customers":
                handles.append(line)
            if len(values):
                low, high = min(low, values.min()), max(high, values.max())
        if high <= low:  # nothing to show yet (month 0): a range that labels clearly
            high = low + 1.0
        pad = 0.08 * (high - low)
        ax.set_ylim(low - pad if low < 0 else 0.0, high + pad)
        ax.set_title(title, fontsize=FONT + 3, loc="left")
        ax.set_xlabel("month", fontsize=FONT)
        ax.set_xlim(0, horizon)
        ax.tick_params(labelsize=FONT)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_formatter(FuncFormatter(fmt))
        ax.grid(True, alpha=0.3)
        if column == "cumulative_profit":
            ax.axhline(0, color="black", linewidth=1)
    for event in view.events:
        colour = COLOURS[event.firm % len(COLOURS)]
        for i, ax in enumerate(axes):
            ax.axvline(event.month, color=colour, linestyle=":", linewidth=2)
            if i == 0:
                ax.annotate(
                    event.text,
                    (event.month, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(4, -4 - 18 * (view.events.index(event) % 4)),
                    textcoords="offset points",
                    va="top",
                    fontsize=FONT,
                    color=colour,
                )
    if view.month == 0:
        axes[1].text(
            0.5, 0.5, "press Step or ▶", transform=axes[1].transAxes, ha="center", fontsize=FONT
        )
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.06, 1.0),
        ncols=len(handles),
        fontsize=FONT + 1,
        frameon=False,
    )
    if caption:
        fig.text(0.01, 0.02, caption, fontsize=FONT - 3, va="bottom", wrap=True)
    return fig


def _grid_shape(n: int, aspect: float) -> tuple[int, int]:
    """Columns and rows of a grid holding ``n`` dots, about ``aspect`` times wider than tall."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return cols, max(1, math.ceil(n / cols))


def dots_figure(view: View, market: int, aspect: float = 3.0, width: float = 8.0) -> Figure:
    """One market's people as a grid of dots coloured by what happened to them this month.

    Each person keeps their place, so you can watch one dot change colour. In a competing market
    each firm's customers (and those who left it this month) have their own marker shape.

    Args:
        view: the run at any month.
        market: which market (side by side: firm number; competing: 0).
        aspect: the grid's width over its height (narrow cards: smaller, for bigger dots).
        width: inches, at `SCREEN_DPI`.
    """
    categories, person_firm, n_firms = view.dots[market]
    n = len(categories)
    cols, rows = _grid_shape(n, aspect)
    fig = Figure(figsize=(width, width * rows / cols), dpi=SCREEN_DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(-0.7, cols - 0.3)
    ax.set_ylim(rows - 0.3, -0.7)
    if n == 0:
        return fig
    idx = np.arange(n)
    x, y = idx % cols, idx // cols
    cell = width * SCREEN_DPI / cols  # pixels per cell
    size = (0.85 * cell * 72 / SCREEN_DPI) ** 2  # marker area in points^2
    for category in range(len(CATEGORIES)):
        chosen = categories == category
        if not chosen.any():
            continue
        small = category in (PROSPECT, AWAY)
        groups = (
            [(chosen, "o")]
            if small or n_firms == 1
            else [(chosen & (person_firm == f), MARKERS[f % len(MARKERS)]) for f in range(n_firms)]
        )
        for mask, marker in groups:
            if mask.any():
                ax.scatter(
                    x[mask],
                    y[mask],
                    s=size * (0.45 if small else 1.0),
                    c=CATEGORY_COLOURS[category],
                    marker=marker,
                    linewidths=0,
                )
    return fig


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """A figure as PNG bytes: drawn once and lightly compressed (fast enough for every frame);
    with ``dpi``, through ``savefig`` at that resolution (for hand-outs)."""
    buf = io.BytesIO()
    if dpi is not None:
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).save(
        buf, format="png", compress_level=1
    )
    return buf.getvalue()


def handout_caption(view: View) -> str:
    """The hand-outs' caption: month, settings (seed included) and the rung changes made."""
    moves = "; ".join(e.text + f" (month {e.month})" for e in view.events if "moves" in e.text)
    return (
        f"Month {view.month} of {view.settings.months} · {view.settings.describe()}"
        + (f" · {moves}" if moves else "")
        + " · retention-sim workshop app"
    )


def handout_stem(view: View) -> str:
    """The hand-outs' file name without extension: the block's settings, month and seed
    (``workshop-side_by_side-acceptable-good-excellent-fixed-seed1-month024``)."""
    s = view.settings
    name = f"workshop-{s.layout}-{'-'.join(s.rungs)}-{s.churn_rule}-seed{s.seed}"
    return re.sub(r"[^A-Za-z0-9_.-]", "", f"{name}-month{view.month:03d}")


def handout_png(view: View) -> bytes:
    """The plots as a PNG hand-out (150 dpi), with one legend and the caption."""
    return figure_png(plots_figure(view, caption=handout_caption(view)), dpi=150)


def handout_csv(view: View) -> bytes:
    """The run as CSV: ``#`` comment lines with the settings and month (read it back with
    ``pandas.read_csv(..., comment="#")``), then one row per month and firm, months 0 to now,
    every column of a run's frame plus ``market``, ``series`` and ``cumulative_profit``."""
    s = view.settings
    header = f"# retention-sim workshop app, month {view.month} of {s.months}\n# {s.describe()}\n"
    query = "&".join(f"{k}={v}" for k, v in view.settings.to_query().items())
    header += f"# settings: {query}\n"
    for change in view.changes:
        header += f"# schedule: firm {FIRM_LETTERS[change.firm]} {change.rung} from month {change.month}\n"
    return (header + view.frame.to_csv(index=False)).encode()


def ladder_table(ladder: Ladder) -> pd.DataFrame:
    """The rungs as a table for people: quality, complaint handling, cost and time to be
    recognised."""
    return pd.DataFrame(
        {
            "rung": [r.label for r in ladder],
            "quality (0-10)": [f"{r.quality_mean:.1f} ± {r.quality_sd:.1f}" for r in ladder],
            "complaints resolved": [f"{r.resolve_prob:.0%}" for r in ladder],
            "resolved quickly": [f"{r.quick_resolve_prob:.0%}" for r in ladder],
            "cost per customer-month": [f"{r.cost_per_customer:.2f}" for r in ladder],
            "months to be recognised": [
                f"{r.sustain_months}"
                + (f" ({_years(r.sustain_months)})" if r.sustain_months >= 12 else "")
                for r in ladder
            ],
        }
    )
