"""Figures: DataFrames in, matplotlib Figures out. Nothing here runs a model or writes a file.

Every function takes monthly rows (a results folder's time series, or concatenated `simulate`
frames) and returns a `matplotlib.figure.Figure` built without pyplot, so it works the same in
the CLI (saved to PNG and SVG with the Agg renderer), in notebooks and in tests, and leaves no
global state behind. Bands and error bars are the t-based 95 % confidence interval of the mean
over replicates from `sim.summary.replicate_summary` (via `sim.summary.pooled_summary`), the same
numbers as in ``summary.csv`` and the report's table.

The figures answer the questions users bring, one series per rung (or firm, or swept value):

- `retention_curves`: how long customers stay (cohort retention) and how many there are;
- `revenue_and_profit`: monthly revenue and cumulative profit, with the break-even month against
  the lowest rung marked;
- `ladder_chart`: one bar per rung for retention after 12 months and at the horizon, CLV per
  initial customer and cumulative discounted profit (the trainer's picture);
- `parameter_map`: a heatmap of one outcome over two swept parameters, averaged over the rest;
- `customer_flows`: where customers come from and why they leave, month by month, per rung;
- `customers_and_revenue`: customers and revenue per firm of one parameter point.

`grouping` decides, once, what a series is and in which order and style it is drawn: the swept
key that is a firm's service level when there is one (ladder order, the ladder's labels), else
the firms (lowest rung first), or whatever ``by`` names. Other swept keys are averaged over,
replicate by replicate, and the figure's subtitle says so. A series keeps its colour, line style
and marker in every figure (for rungs: by its place on the ladder). `figures_for` builds every
figure that suits a results folder; the CLI (``run``, ``plot``) and `sim.report` use it.

Figures are made to be read on a projector: large type, thick lines, and series told apart by
line style and marker as well as by colour (Okabe-Ito palette), so they survive greyscale and
colour blindness.

What does not live here: statistics (`summary.py`), saving and the report (`report.py`),
running (`runner.py`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sim.formatting import count, money, money_alike, share
from sim.ladder import BUILTIN_LADDERS, DEFAULT_LADDER, RUNG_FIELDS, Ladder, Rung
from sim.rules import monthly_rate
from sim.summary import (
    CONFIDENCE,
    RETENTION_MONTHS,
    cumulative_profit,
    outcome_names,
    pooled_summary,
    replicate_summary,
    run_outcomes,
    rung_table,
    swept_keys,
)

if TYPE_CHECKING:
    from sim.store import Results

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


def _count_tick(value: float, _pos: int | None = None) -> str:
    return count(value)


def _money_tick(value: float, _pos: int | None = None) -> str:
    return money(value)


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
    styles: Sequence[dict] | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    rows = summary[(summary["metric"] == metric) & (summary["step"] >= first_step)]
    span = max(int(rows["step"].max()), 1) if not rows.empty else 1
    for i, firm in enumerate(firms):
        one = rows[rows["firm"] == firm]
        step = one["step"].to_numpy(dtype=float)
        style = styles[i] if styles is not None else _style(i)
        ax.plot(
            step,
            one["mean"].to_numpy(dtype=float),
            label=labels[i] if labels is not None else firm,
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
    ax.yaxis.set_major_formatter(FuncFormatter(_count_tick))
    ax.set_xlim(first_step, span)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)


def customers_and_revenue(
    timeseries: pd.DataFrame,
    title: str | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Figure:
    """Customers and monthly revenue per firm over the months, mean and 95 % band.

    Args:
        timeseries: monthly rows of the replicates of one parameter point (columns ``run_id``,
            ``firm``, ``step``, ``customers``, ``revenue``).
        title: figure title; the default names the number of replicates.
        manifest: the results folder's manifest (firm order and ladder); firms are ordered,
            labelled and styled as in every other figure (`grouping_for` by firm).

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
    g = grouping_for(timeseries, manifest, by="firm")
    firms, styles, labels = list(g.values), g.styles, g.labels
    replicates = timeseries["run_id"].nunique() if "run_id" in timeseries else 1
    fig = Figure(figsize=(15, 6.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    band = f"mean and {CONFIDENCE:.0%} confidence band"
    _panel(
        left,
        summary,
        "customers",
        firms,
        "Customers",
        "customers (people, end of month)",
        styles=styles,
        labels=labels,
    )
    _panel(
        right,
        summary,
        "revenue",
        firms,
        "Monthly revenue",
        "revenue (currency units per month)",
        first_step=1,
        styles=styles,
        labels=labels,
    )
    left.legend(fontsize=FONT_SIZE - 1, title="firm", title_fontsize=FONT_SIZE - 1)
    fig.suptitle(
        title or f"Customers and revenue per firm: {band} over {replicates} replicates",
        fontsize=FONT_SIZE + 3,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Shared pieces: number formats, titles, the ladder and the firms of a results folder.

SHARE, MONEY, PEOPLE = "share", "money", "people"
# A firm's service level, or the service level of one of its schedule's entries.
RUNG_KEY = re.compile(r"^firms\.(\d+)\.(?:schedule\.\d+\.)?service_level$")
_SCHEDULE_RUNG_KEY = re.compile(r"^firms\.\d+\.schedule\.\d+\.service_level$")
_FIRM_KEY = re.compile(r"^firms\.(\d+)\.")
KEY_NAMES = {
    "churn.rule": "churn rule",
    "churn.leave_prob": "chance to leave after a bad experience",
    "churn.base_prob": "monthly attrition",
    "churn.base_polarization": "polarization of attrition",
    "churn.switch_prob": "chance a leaver switches",
    "referrals.refer_prob": "referral probability",
    "referrals.conversion": "referral conversion",
    "referrals.negative_reach": "people told after a bad experience",
    "acquisition.prob": "monthly marketing reach",
    "acquisition.rung_weight": "weight of reputation in acquisition",
    "customers.tolerance": "zone of tolerance",
    "customers.contact_prob": "monthly contact probability",
    "market.size": "market size",
    "finance.discount_rate": "monthly discount rate",
    "finance.annual_discount_rate": "annual discount rate",
    "acquisition.outside_rung": "rest of the market (outside rung)",
    "scenario.warmup_months": "warm-up months",
}
# A firm's operational keys (``firms.<i>.contact_centre.agents``): by their last part.
_OPERATIONS_KEY = re.compile(r"^firms\.\d+\.(?:contact_centre|inventory)\.(\w+)$")
OPERATIONS_KEY_NAMES = {
    "agents": "contact-centre agents",
    "aht_seconds": "average handling time (s)",
    "target_seconds": "answer-time target (s)",
    "open_hours_per_month": "contact-centre hours a month",
    "cost_per_agent_month": "cost per agent-month",
    "patience_seconds": "callers' patience (s)",
    "fill_rate": "fill rate",
    "reorder_point": "reorder point",
    "order_quantity": "order quantity",
}
DEFAULT_MAP_METRIC = "discounted_profit"
MAX_MAPS = 6  # two-parameter maps per metric that `figures_for` draws at most
MAX_MAP_VALUES = 12  # a key with more values (a sampled design) gets scatter plots, not maps
MAX_SCATTER_PANELS = 6
SUBTITLE_WIDTH = 110


def key_name(key: str) -> str:
    """A swept key as a reader would say it (``"churn.rule"`` -> ``"churn rule"``)."""
    if _SCHEDULE_RUNG_KEY.match(key):
        return "scheduled service level"
    if RUNG_KEY.match(key):
        return "service level"
    m = _OPERATIONS_KEY.match(key)
    if m and m.group(1) in OPERATIONS_KEY_NAMES:
        return OPERATIONS_KEY_NAMES[m.group(1)]
    return KEY_NAMES.get(key, key)


def outcome_label(name: str, horizon: int) -> tuple[str, str, str]:
    """What an outcome of `sim.summary.run_outcomes` is called: (title, axis label, kind).

    Kind is ``"share"``, ``"money"`` or ``"people"`` (how its numbers are written).
    """
    if name == "customers":
        return f"Customers at month {horizon}", "customers (people)", PEOPLE
    if name == "retention_end" or name.startswith("retention_"):
        month = horizon if name == "retention_end" else int(name.split("_")[1])
        return (
            f"Month-0 customers still there after {month} months",
            "share of month-0 customers",
            SHARE,
        )
    titles = {
        "revenue": (f"Monthly revenue at month {horizon}", "currency units per month"),
        "cumulative_profit": (f"Cumulative profit to month {horizon}", "currency units"),
        "discounted_revenue": (
            f"Cumulative discounted revenue to month {horizon}",
            "currency units (discounted)",
        ),
        "discounted_profit": (
            f"Cumulative discounted profit to month {horizon}",
            "currency units (discounted)",
        ),
        "clv": ("CLV per initial customer", "currency units per customer (discounted)"),
    }
    if name not in titles:
        raise KeyError(f"unknown outcome {name!r}; choose from {', '.join(outcome_names())}")
    return (*titles[name], MONEY)


def format_value(value: float, kind: str, share_digits: int = 0) -> str:
    """A number of the given kind as `sim.formatting` writes it: 45% (shares to
    ``share_digits`` decimals), 1.25M (money), 1,234 (counts)."""
    if kind == SHARE:
        return share(value, share_digits)
    if kind == MONEY:
        return money(value)
    return count(value)


def _format_axis(axis: Axis, kind: str) -> None:
    if kind == SHARE:
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif kind == MONEY:
        axis.set_major_formatter(FuncFormatter(_money_tick))
    else:
        axis.set_major_formatter(FuncFormatter(_count_tick))


def value_text(value: Any) -> str:
    """A swept value as a label: numbers with ``g``, tables (a network, stored as JSON text in
    the rows) as ``watts_strogatz k=10 p=0.1``, arrays as ``0.09, 0.19``."""
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, dict):
        head = [value_text(value["generator"])] if "generator" in value else []
        rest = [f"{k}={value_text(v)}" for k, v in value.items() if k != "generator"]
        return " ".join(head + rest)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def _subtitle(*parts: str | None, width: int = SUBTITLE_WIDTH) -> str:
    import textwrap

    text = "; ".join(p for p in parts if p)
    return textwrap.fill(text, width)


def _title(fig: Figure, title: str, *subtitle: str | None) -> None:
    # about 7.3 characters per inch at the title's size
    sub = _subtitle(*subtitle, width=min(SUBTITLE_WIDTH, int(7.3 * fig.get_figwidth())))
    fig.suptitle(f"{title}\n{sub}" if sub else title, fontsize=FONT_SIZE + 3)


def ladder_of(
    manifest: Mapping[str, Any] | None = None, timeseries: pd.DataFrame | None = None
) -> Ladder | None:
    """The ladder behind a results folder.

    Args:
        manifest: the folder's manifest: its resolved scenario names a built-in ladder
            (``scenario.ladder``) or holds inline ``rungs``.
        timeseries: without a manifest, the built-in ladder (``five`` first) holding every rung
            id in the rows' ``delivered_rung``, ``recognised_rung`` and swept service levels.

    Returns:
        The ladder, or None if neither tells.
    """
    scenario = (manifest or {}).get("scenario") or {}
    if scenario.get("rungs"):
        rungs = tuple(Rung(**{f: r[f] for f in RUNG_FIELDS if f in r}) for r in scenario["rungs"])
        return Ladder(scenario.get("scenario", {}).get("ladder") or "inline", rungs)
    name = (scenario.get("scenario") or {}).get("ladder")
    if name in BUILTIN_LADDERS:
        return BUILTIN_LADDERS[name]
    if manifest and scenario:
        return BUILTIN_LADDERS[DEFAULT_LADDER]
    if timeseries is None or timeseries.empty:
        return None
    columns = [c for c in ("delivered_rung", "recognised_rung") if c in timeseries.columns]
    columns += [k for k in swept_keys(timeseries) if RUNG_KEY.match(k)]
    ids: set[str] = set()
    for c in columns:
        ids.update(str(v) for v in pd.unique(timeseries[c]))
    names = [DEFAULT_LADDER, *(n for n in BUILTIN_LADDERS if n != DEFAULT_LADDER)]
    return next((BUILTIN_LADDERS[n] for n in names if ids <= set(BUILTIN_LADDERS[n].ids)), None)


def firm_names(manifest: Mapping[str, Any] | None, timeseries: pd.DataFrame) -> list[str]:
    """The firms in scenario order: the manifest's, then any others the rows hold."""
    firms = ((manifest or {}).get("scenario") or {}).get("firms") or []
    names = [str(f["name"]) for f in firms if "name" in f]
    seen = [str(n) for n in pd.unique(timeseries["firm"])] if "firm" in timeseries else []
    return names + [n for n in seen if n not in names]


def finance_of(
    manifest: Mapping[str, Any] | None, timeseries: pd.DataFrame
) -> tuple[dict[str, float], float]:
    """Each firm's monthly fee (scenario order) and the monthly discount rate.

    From the manifest's resolved scenario; without one, read off the rows: the fee is revenue
    per paying customer (customers at the start of the month who did not leave) and the rate
    comes from month 1's discounted revenue (revenue / (1 + rate)).
    """
    scenario = (manifest or {}).get("scenario") or {}
    firms, finance = scenario.get("firms"), scenario.get("finance") or {}
    if firms and ("discount_rate" in finance or "annual_discount_rate" in finance):
        fees = {str(f["name"]): float(f.get("monthly_fee", 30.0)) for f in firms}
        if "annual_discount_rate" in finance:
            return fees, monthly_rate(float(finance["annual_discount_rate"]))
        return fees, float(finance["discount_rate"])
    keys = [k for k in ("run_id", "firm") if k in timeseries.columns]
    rows = timeseries.sort_values("step", kind="stable")
    start = rows.groupby(keys, sort=False)["customers"].shift(1)
    paying = start - rows["left_bad_experience"] - rows["left_attrition"]
    fee = (rows["revenue"] / paying.where(paying > 0)).groupby(rows["firm"], sort=False).median()
    fees = {
        n: float(fee.get(n, 0.0)) if np.isfinite(fee.get(n, np.nan)) else 0.0 for n in fee.index
    }
    first = rows[(rows["step"] == 1) & (rows["discounted_revenue"] > 0)]
    ratio = (first["revenue"] / first["discounted_revenue"] - 1.0).median()
    return fees, float(ratio) if np.isfinite(ratio) else 0.01


def runs_note(results: Results) -> str | None:
    """``"3 of 40 runs failed and are missing"`` for a results folder with missing runs, else None.

    Args:
        results: a `sim.store.Results` (or anything with ``manifest``, ``runs`` and
            ``timeseries``).
    """
    manifest, runs, timeseries = results.manifest or {}, results.runs, results.timeseries
    counts = manifest.get("counts") or {}
    expected = counts.get("runs")
    if expected is None:
        points = manifest.get("points") or [{}]
        replicates = (manifest.get("scenario") or {}).get("scenario", {}).get("replicates")
        expected = len(points) * replicates if replicates else len(runs)
    present = timeseries["run_id"].nunique() if "run_id" in timeseries else 0
    missing = int(expected) - int(present)
    if missing <= 0:
        return None
    failed = int((runs["status"] == "failed").sum()) if "status" in runs else 0
    if failed >= missing:
        verb = "failed and is missing" if missing == 1 else "failed and are missing"
        return f"{missing} of {expected} runs {verb}"
    return f"{missing} of {expected} runs missing ({failed} failed, {missing - failed} not run)"


# --------------------------------------------------------------------------------------------
# What a series is: one grouping, decided once, used by every figure.


@dataclass(frozen=True)
class Grouping:
    """Which rows form each series of a figure, in which order, with which label and style.

    Attributes:
        column: the column the series differ in: a swept key or ``"firm"``.
        values: its values in display order (ladder order for rungs); the first is the
            reference (the lowest rung) for break-even months.
        labels: what the legend and axes call each value (the ladder's labels for rungs).
        styles: colour, line style and marker of each value (for rungs: by ladder position, so
            a rung looks the same whichever rungs a sweep holds).
        title: what a series is, for legends and titles (``"service level"``, ``"firm"``).
        firm: the firm whose rows are used when the series are not firms (None: all firms).
        averaged: swept keys averaged over, with their number of values.
        fixed: swept keys held at one value, with that value.
        several_firms: whether the results hold more than one firm (then ``note`` names it).
    """

    column: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    styles: tuple[dict[str, Any], ...]
    title: str
    firm: str | None = None
    averaged: tuple[tuple[str, int], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    several_firms: bool = False
    rung_valued: bool = field(default=False)

    def rows(self, timeseries: pd.DataFrame) -> pd.DataFrame:
        """The rows the figures use: fixed keys applied, one firm (if set), known values."""
        rows = timeseries
        for key, value in self.fixed:
            rows = rows[rows[key] == value]
        if self.firm is not None:
            rows = rows[rows["firm"] == self.firm]
        rows = rows[rows[self.column].isin(list(self.values))]
        if rows.empty:
            raise ValueError("no rows to plot")
        return rows

    def label(self, value: Any) -> str:
        """The display label of a value of `column`."""
        return self.labels[self.values.index(value)]

    def style(self, value: Any) -> dict[str, Any]:
        """Colour, line style and marker of a value of `column`."""
        return self.styles[self.values.index(value)]

    @property
    def note(self) -> str:
        """What the series hold besides their value: the firm, fixed and averaged keys."""
        parts = []
        if self.firm is not None and self.several_firms:
            parts.append(f"firm {self.firm}")
        parts += [f"{key_name(k)} = {value_text(v)}" for k, v in self.fixed]
        if self.averaged:
            over = [f"{key_name(k)} ({n} values)" for k, n in self.averaged]
            text = over[0] if len(over) == 1 else ", ".join(over[:-1]) + " and " + over[-1]
            parts.append(f"averaged over {text}")
        return "; ".join(parts)


def _ordered(
    key: str, values: Sequence[Any], ladder: Ladder | None, manifest: Mapping[str, Any] | None
) -> tuple[list[Any], list[str], list[int], bool]:
    """Values of a swept key in display order, their labels and style indices, rung-valued?"""
    values = list(values)
    if (
        ladder is not None
        and values
        and all(isinstance(v, str) and v in ladder.ids for v in values)
    ):
        values.sort(key=ladder.index)
        positions = [ladder.index(v) for v in values]
        return values, [ladder[i].label for i in positions], positions, True
    listed = (((manifest or {}).get("scenario") or {}).get("sweep") or {}).get(key)
    if isinstance(listed, list):
        rank = {value_text(v): i for i, v in enumerate(listed)}
        values.sort(key=lambda v: rank.get(value_text(v), len(rank)))
    else:
        with contextlib.suppress(TypeError):
            values.sort()
    return values, [value_text(v) for v in values], list(range(len(values))), False


def _firm_order(
    rows: pd.DataFrame, names: Sequence[str], ladder: Ladder | None
) -> tuple[list[str], list[str], list[int]]:
    """Firms lowest rung first (scenario order among equals), labelled with that rung.

    Style indices are the firms' rung positions when every firm stands on its own rung (so a
    firm looks like its rung in a sweep's figures), else the firms' positions.
    """
    present = set(rows["firm"].astype(str))
    firms = [n for n in names if n in present]
    start = rows[rows["step"] == rows["step"].min()]
    if "delivered_rung" not in start.columns:
        start = start.iloc[0:0].assign(delivered_rung=pd.Series(dtype=object))
    rung: dict[str, str | None] = {}
    for firm in firms:
        ids = pd.unique(start.loc[start["firm"] == firm, "delivered_rung"]) if len(start) else []
        rung[firm] = str(ids[0]) if len(ids) == 1 else None
    if ladder is not None and all(r in ladder.ids for r in rung.values() if r is not None):
        firms.sort(key=lambda f: len(ladder) if (r := rung[f]) is None else ladder.index(r))
    labels, positions = [], []
    for firm in firms:
        r = rung[firm]
        if ladder is not None and r is not None and r in ladder.ids:
            labels.append(f"{firm} ({ladder[ladder.index(r)].label})")
            positions.append(ladder.index(r))
        else:
            labels.append(firm)
            positions.append(-1)
    if -1 in positions or len(set(positions)) < len(positions):
        positions = list(range(len(firms)))
    return firms, labels, positions


def grouping_for(
    timeseries: pd.DataFrame,
    manifest: Mapping[str, Any] | None = None,
    by: str | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    firm: str | None = None,
) -> Grouping:
    """Decide what the series of every figure are (see `Grouping`).

    Args:
        timeseries: monthly rows of a results folder (or concatenated `simulate` frames).
        manifest: the folder's manifest, for the ladder, the firms and the sweep's value order.
        by: ``"firm"`` or a swept key; default: the first swept key that is a firm's service
            level and takes several values, else ``"firm"``.
        fixed: swept keys to hold at one value (rows with other values are left out).
        firm: the firm whose rows are used when the series are not firms; default: the firm the
            ``by`` key belongs to (``firms.1.…`` -> the second firm), else the first.

    Raises:
        ValueError: ``by``, a ``fixed`` key or ``firm`` is unknown, or nothing is left to plot.
    """
    if timeseries.empty:
        raise ValueError("no rows to plot")
    keys = swept_keys(timeseries)
    if by is not None and by != "firm" and by not in keys:
        raise ValueError(
            f"cannot group by {by!r}: choose 'firm' or a swept key "
            f"({', '.join(keys) if keys else 'these results have none'})"
        )
    rows = timeseries
    for key, value in (fixed or {}).items():
        if key not in keys:
            raise ValueError(f"cannot fix {key!r}: not a swept key ({', '.join(keys) or 'none'})")
        rows = rows[rows[key] == value]
        if rows.empty:
            raise ValueError(f"no rows with {key} = {value!r}")
    all_firms = firm_names(manifest, timeseries)
    ladder = ladder_of(manifest, timeseries)
    varying = [k for k in keys if rows[k].nunique(dropna=False) > 1]
    if by is None:
        by = next((k for k in varying if RUNG_KEY.match(k)), "firm")
    chosen = None
    if by != "firm":
        if firm is not None:
            if firm not in all_firms:
                raise ValueError(f"unknown firm {firm!r}; firms: {', '.join(all_firms)}")
            chosen = firm
        else:
            m = _FIRM_KEY.match(by)
            index = int(m.group(1)) if m else 0
            chosen = all_firms[index] if index < len(all_firms) else all_firms[0]
        rows = rows[rows["firm"] == chosen]
        if rows.empty:
            raise ValueError(f"no rows of firm {chosen!r}")
        values, labels, positions, rung_valued = _ordered(by, pd.unique(rows[by]), ladder, manifest)
        title = "service level" if rung_valued else key_name(by)
    else:
        values, labels, positions = _firm_order(rows, all_firms, ladder)
        rung_valued, title = False, "firm"
    averaged = tuple((k, int(rows[k].nunique(dropna=False))) for k in varying if k != by)
    return Grouping(
        column=by,
        values=tuple(values),
        labels=tuple(labels),
        styles=tuple(_style(i) for i in positions),
        title=title,
        firm=chosen,
        averaged=averaged,
        fixed=tuple((fixed or {}).items()),
        several_firms=rows is not None and len(all_firms) > 1,
        rung_valued=rung_valued,
    )


def _series(rows: pd.DataFrame, g: Grouping, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and band per series and month, other sweep points averaged replicate by replicate."""
    return pooled_summary(rows, [g.column, "step"], list(metrics))


def _replicates(summary: pd.DataFrame) -> int:
    return int(summary["n"].max()) if len(summary) else 0


def _band_text(n: int) -> str:
    return f"mean and {CONFIDENCE:.0%} confidence band over {n} replicate{'s' * (n != 1)}"


def _lines(
    ax: Any,
    summary: pd.DataFrame,
    metric: str,
    g: Grouping,
    first_step: int = 0,
    labels: Mapping[Any, str] | None = None,
) -> list[Any]:
    """One mean line with its band per series; returns the line handles."""
    rows = summary[(summary["metric"] == metric) & (summary["step"] >= first_step)]
    span = max(int(rows["step"].max()), 1) if not rows.empty else 1
    handles = []
    for value in g.values:
        one = rows[rows[g.column] == value]
        if one.empty:
            continue
        style = g.style(value)
        step = one["step"].to_numpy(dtype=float)
        (line,) = ax.plot(
            step,
            one["mean"].to_numpy(dtype=float),
            label=(labels or {}).get(value, g.label(value)),
            linewidth=2.5,
            markevery=max(span // 8, 1),
            markersize=8,
            **style,
        )
        handles.append(line)
        low, high = one["ci_low"].to_numpy(dtype=float), one["ci_high"].to_numpy(dtype=float)
        if np.isfinite(low).any():
            ax.fill_between(step, low, high, color=style["color"], alpha=BAND_ALPHA, linewidth=0)
    ax.set_xlim(first_step, span)
    return handles


def _dress(ax: Axes, title: str, ylabel: str, kind: str, xlabel: str | None = "month") -> None:
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 2)
    _format_axis(ax.yaxis, kind)
    ax.grid(True, alpha=0.3)


def _legend(ax: Any, handles: Sequence[Any], title: str, **kwargs: Any) -> None:
    ax.legend(
        handles=handles,
        title=title,
        fontsize=FONT_SIZE - 2,
        title_fontsize=FONT_SIZE - 1,
        framealpha=0.9,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------
# The figures.


def retention_curves(
    timeseries: pd.DataFrame,
    grouping: Grouping | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    by: str | None = None,
    note: str | None = None,
) -> Figure:
    """How long customers stay: cohort retention and customers over the months, per series.

    Args:
        timeseries: monthly rows (``run_id`` or ``replicate``, ``firm``, ``step``,
            ``cohort_retention``, ``customers`` and any swept keys).
        grouping: what a series is (default: `grouping_for` of the rows, manifest and ``by``).
        manifest: the results folder's manifest (ladder, firms, sweep order).
        by: see `grouping_for`.
        note: a line added to the subtitle (e.g. missing runs).

    Returns:
        Two panels: the share of the month-0 customers still with the firm, and customers (people,
        end of month), one mean line with a t-based 95 % band per series.
    """
    g = grouping or grouping_for(timeseries, manifest, by)
    summary = _series(g.rows(timeseries), g, ["cohort_retention", "customers"])
    fig = Figure(figsize=(15, 7), layout="constrained")
    left, right = fig.subplots(1, 2)
    handles = _lines(left, summary, "cohort_retention", g)
    _lines(right, summary, "customers", g)
    _dress(left, "Month-0 customers still with the firm", "share of month-0 customers", SHARE)
    _dress(right, "Customers", "customers (people, end of month)", PEOPLE)
    left.set_ylim(0, 1.02)
    right.set_ylim(bottom=0)
    _legend(left, handles, g.title, loc="upper right")
    _title(
        fig,
        f"How long customers stay, per {g.title}",
        _band_text(_replicates(summary)),
        g.note,
        note,
    )
    return fig


def revenue_and_profit(
    timeseries: pd.DataFrame,
    grouping: Grouping | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    by: str | None = None,
    note: str | None = None,
) -> Figure:
    """What each series earns: monthly revenue and cumulative profit, with break-even months.

    The break-even month of a series is the first month from which its mean cumulative
    (undiscounted) profit stays at or above the first series' (the lowest rung's):
    `sim.summary.break_even_months`. It is marked on the profit panel with a large marker and a
    dotted vertical line, and given in the legend.

    Args:
        timeseries: monthly rows (``revenue``, ``profit`` and the columns of
            `retention_curves`).
        grouping, manifest, by, note: as for `retention_curves`.

    Returns:
        Two panels: revenue (currency units per month, from month 1) and cumulative profit
        (currency units), mean lines with t-based 95 % bands.
    """
    from sim.summary import break_even_months

    g = grouping or grouping_for(timeseries, manifest, by)
    rows = g.rows(timeseries).reset_index(drop=True)
    rows = rows.assign(cumulative_profit=cumulative_profit(rows))
    summary = _series(rows, g, ["revenue", "cumulative_profit"])
    profit = summary[summary["metric"] == "cumulative_profit"]
    horizon = int(rows["step"].max())
    labels: dict[Any, str] = {}
    months = pd.Series(dtype=float)
    if len(g.values) > 1:
        months = break_even_months(profit, g.column, g.values[0])
        for value in g.values:
            month = months.get(value, np.nan)
            if value == g.values[0]:
                text = "reference"
            elif not np.isfinite(month):
                text = f"still behind at month {horizon}"
            elif month <= 0:
                text = "never behind"
            else:
                text = f"pays off from month {month:.0f}"
            labels[value] = f"{g.label(value)}: {text}"
    fig = Figure(figsize=(15, 7), layout="constrained")
    left, right = fig.subplots(1, 2)
    _lines(left, summary, "revenue", g, first_step=1)
    handles = _lines(right, summary, "cumulative_profit", g, labels=labels)
    right.axhline(0, color="black", linewidth=1)
    for value, month in months.items():
        if value == g.values[0] or not np.isfinite(month) or month <= 0:
            continue
        style = g.style(value)
        at = profit[(profit[g.column] == value) & (profit["step"] == month)]["mean"]
        right.axvline(month, color=style["color"], linestyle=":", linewidth=2)
        right.plot(
            [month],
            at.to_numpy(dtype=float),
            marker=style["marker"],
            color=style["color"],
            markersize=16,
            markeredgecolor="black",
            markeredgewidth=1.5,
            zorder=5,
        )
    _dress(left, "Monthly revenue", "revenue (currency units per month)", MONEY)
    _dress(right, "Cumulative profit", "cumulative profit (currency units)", MONEY)
    left.set_ylim(bottom=0)
    legend_title = g.title
    if len(g.values) > 1:
        legend_title += f", break-even against {g.labels[0]}"
    _legend(right, handles, legend_title, loc="upper left")
    _title(
        fig,
        f"What each {g.title} earns: revenue and cumulative profit",
        _band_text(_replicates(summary)),
        g.note,
        note,
    )
    return fig


LADDER_PANELS = (
    f"retention_{RETENTION_MONTHS[0]}",
    "retention_end",
    "clv",
    "discounted_profit",
)


def ladder_chart(
    timeseries: pd.DataFrame,
    grouping: Grouping | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    by: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> Figure:
    """The ladder chart: one bar per rung (or series) for four outcomes, with 95 % intervals.

    Panels: cohort retention after 12 months and at the horizon, CLV per initial customer, and
    cumulative discounted profit at the horizon; bars in ladder order with the ladder's labels,
    each with its t-based 95 % confidence interval over replicates
    (`sim.summary.rung_table`, the numbers of the report's table). The most profitable bar is
    outlined and named.

    Args:
        timeseries: monthly rows of a results folder.
        grouping: what a bar is (default: `grouping_for` of the rows, manifest, ``by`` and
            ``fixed``).
        manifest: the folder's manifest (also gives the fees and discount rate for the CLV;
            without it they are read off the rows, see `finance_of`).
        by: see `grouping_for`.
        fixed: swept keys to hold at one value instead of averaging over them.
        note: a line added to the subtitle.
    """
    g = grouping or grouping_for(timeseries, manifest, by, fixed=fixed)
    rows = g.rows(timeseries)
    fees, rate = finance_of(manifest, timeseries)
    table = rung_table(rows, g.column, fees, rate, order=list(g.values))
    conditions = int(table["conditions"].max()) if len(table) else 1
    wins = table["best_in"].to_numpy(dtype=np.int64)
    horizon = int(rows["step"].max())
    fig = Figure(figsize=(15, 11), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    positions = np.arange(len(table))
    labels = [g.label(v) for v in table[g.column]]
    colours = [g.style(v)["color"] for v in table[g.column]]
    for ax, name in zip(axes, LADDER_PANELS, strict=True):
        title, ylabel, kind = outcome_label(name, horizon)
        mean = table[name].to_numpy(dtype=float)
        low = table[f"{name}_low"].to_numpy(dtype=float)
        high = table[f"{name}_high"].to_numpy(dtype=float)
        errors = np.vstack([mean - low, high - mean])
        has_band = np.isfinite(errors).all(axis=0)
        bars = ax.bar(
            positions,
            np.nan_to_num(mean),
            color=colours,
            edgecolor="black",
            linewidth=1.2,
            width=0.7,
        )
        if has_band.any():
            ax.errorbar(
                positions[has_band],
                mean[has_band],
                yerr=errors[:, has_band],
                fmt="none",
                ecolor="black",
                elinewidth=2,
                capsize=8,
                capthick=2,
            )
        best = table["best"].to_numpy(dtype=bool) if name == "discounted_profit" else None
        tops = np.where(np.isfinite(high), np.fmax(high, mean), mean)
        bottoms = np.where(np.isfinite(low), np.fmin(low, mean), mean)
        extent = np.nanmax(np.abs(np.concatenate([tops, bottoms, [0.0]])))
        pad = 0.02 * (extent if np.isfinite(extent) and extent > 0 else 1.0)
        # the numbers one compares across bars are written alike (8.70M beside 8.67M)
        texts = (
            money_alike(mean.tolist()) if kind == MONEY else [format_value(v, kind) for v in mean]
        )
        for i, bar in enumerate(bars):
            text = texts[i]
            bold = best is not None and best[i]
            if bold:
                text += "\nbest" if conditions == 1 else f"\nbest in all {conditions}"
                bar.set_linewidth(3.5)
            elif best is not None and wins[i] > 0:
                text += f"\nbest in {wins[i]} of {conditions}"
            up = not np.isfinite(mean[i]) or mean[i] >= 0
            ax.text(
                positions[i],
                (tops[i] + pad) if up else (bottoms[i] - pad),
                text if np.isfinite(mean[i]) else "n/a",
                ha="center",
                va="bottom" if up else "top",
                fontsize=FONT_SIZE - 1,
                fontweight="bold" if bold else "normal",
            )
        ax.set_xticks(positions, labels, fontsize=FONT_SIZE - 1)
        _dress(ax, title, ylabel, kind, xlabel=None)
        ax.grid(False)
        ax.grid(True, axis="y", alpha=0.3)
        ax.axhline(0, color="black", linewidth=1)
        if kind == SHARE:
            ax.set_ylim(0, 1.15)
        else:
            ax.margins(y=0.18)
        if not np.isfinite(mean).any():
            ax.text(
                0.5,
                0.5,
                "the runs end before this month",
                transform=ax.transAxes,
                ha="center",
                fontsize=FONT_SIZE,
            )
    n = int(table["replicates"].max()) if len(table) else 0
    title = (
        "The service ladder: what each rung keeps and earns"
        if g.rung_valued
        else f"What each {g.title} keeps and earns"
    )
    split = None
    if conditions > 1 and not table["best"].any():
        over = " x ".join(key_name(k) for k, _ in g.averaged)
        split = (
            f"no single best: the most profitable {g.title} differs between the {conditions} "
            f"conditions ({over}); each bar says in how many it is best"
        )
    _title(
        fig,
        title,
        f"mean and {CONFIDENCE:.0%} confidence interval over {n} replicate{'s' * (n != 1)}",
        g.note,
        split,
        note,
    )
    return fig


def _key_firm(
    keys: Sequence[str], all_firms: Sequence[str], firm: str | None, varying: Sequence[str]
) -> str:
    if firm is not None:
        if firm not in all_firms:
            raise ValueError(f"unknown firm {firm!r}; firms: {', '.join(all_firms)}")
        return firm
    for key in [*keys, *varying]:
        m = _FIRM_KEY.match(key)
        if m and int(m.group(1)) < len(all_firms):
            return all_firms[int(m.group(1))]
    return all_firms[0]


def parameter_map(
    timeseries: pd.DataFrame,
    x: str,
    y: str,
    metric: str = DEFAULT_MAP_METRIC,
    *,
    manifest: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    firm: str | None = None,
    note: str | None = None,
) -> Figure:
    """A heatmap of one outcome over two swept parameters, averaged over the other swept keys.

    Each cell is the mean over replicates (after averaging over the other sweep points,
    replicate by replicate) with its 95 % interval's half-width below it.

    Args:
        timeseries: monthly rows of a sweep.
        x: the swept key across (columns); rung-valued keys are in ladder order.
        y: the swept key up (rows).
        metric: one of `sim.summary.outcome_names` (e.g. ``"discounted_profit"``, ``"clv"``,
            ``"retention_end"``), at each run's last month.
        manifest: the folder's manifest (ladder, firms, sweep order, fees).
        fixed: swept keys to hold at one value instead of averaging over them.
        firm: the firm whose outcome is mapped; default: the firm a swept ``firms.<i>.…`` key
            belongs to, else the first.
        note: a line added to the subtitle.

    Raises:
        ValueError: ``x`` or ``y`` is not a swept key, they are the same, or ``metric`` is unknown.
    """
    keys = swept_keys(timeseries)
    for key in (x, y):
        if key not in keys:
            raise ValueError(f"{key!r} is not a swept key ({', '.join(keys) or 'none'})")
    if x == y:
        raise ValueError("a map needs two different swept keys")
    if metric not in outcome_names():
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(outcome_names())}")
    rows = timeseries
    for key, value in (fixed or {}).items():
        rows = rows[rows[key] == value]
    varying = [k for k in keys if rows[k].nunique(dropna=False) > 1]
    all_firms = firm_names(manifest, timeseries)
    chosen = _key_firm([x, y], all_firms, firm, varying)
    rows = rows[rows["firm"] == chosen]
    if rows.empty:
        raise ValueError("no rows to plot")
    fees, rate = finance_of(manifest, timeseries)
    outcomes = run_outcomes(rows, fees, rate)
    stats = pooled_summary(outcomes, [y, x], [metric])
    ladder = ladder_of(manifest, timeseries)
    xs, x_labels, _, _ = _ordered(x, pd.unique(rows[x]), ladder, manifest)
    ys, y_labels, _, _ = _ordered(y, pd.unique(rows[y]), ladder, manifest)
    mean = stats.pivot_table(index=y, columns=x, values="mean", dropna=False)
    half = (stats["ci_high"] - stats["mean"]).rename("half")
    half = stats.assign(half=half).pivot_table(index=y, columns=x, values="half", dropna=False)
    mean = mean.reindex(index=ys, columns=xs)
    half = half.reindex(index=ys, columns=xs)
    horizon = int(rows["step"].max())
    title, label, kind = outcome_label(metric, horizon)
    grid = mean.to_numpy(dtype=float)
    fig = Figure(figsize=(max(12.0, 2.2 * len(xs) + 4), max(6.5, 1.3 * len(ys) + 3.5)))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    # numbers grow upwards; named values read top to bottom in sweep order
    numeric = all(isinstance(v, int | float | np.number) for v in ys)
    image = ax.imshow(grid, cmap="cividis", aspect="auto", origin="lower" if numeric else "upper")
    finite = grid[np.isfinite(grid)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    for i in range(len(ys)):
        for j in range(len(xs)):
            value = grid[i, j]
            if not np.isfinite(value):
                continue
            text = format_value(value, kind)
            h = half.to_numpy(dtype=float)[i, j]
            if np.isfinite(h):
                text += f"\n± {format_value(h, kind, share_digits=1)}"
            shade = (value - lo) / (hi - lo) if hi > lo else 0.5
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=FONT_SIZE - 1,
                color="white" if shade < 0.55 else "black",
            )
    ax.set_xticks(range(len(xs)), x_labels, fontsize=FONT_SIZE - 1)
    ax.set_yticks(range(len(ys)), y_labels, fontsize=FONT_SIZE - 1)
    ax.set_xlabel(key_name(x), fontsize=FONT_SIZE)
    ax.set_ylabel(key_name(y), fontsize=FONT_SIZE)
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label(label, fontsize=FONT_SIZE - 1)
    bar.ax.tick_params(labelsize=FONT_SIZE - 3)
    _format_axis(bar.ax.yaxis, kind)
    others = [(k, int(rows[k].nunique(dropna=False))) for k in varying if k not in (x, y)]
    averaged = ""
    if others:
        over = [f"{key_name(k)} ({n} values)" for k, n in others]
        averaged = "averaged over " + (
            over[0] if len(over) == 1 else ", ".join(over[:-1]) + " and " + over[-1]
        )
    n = int(stats["n"].max()) if len(stats) else 0
    _title(
        fig,
        f"{title}\nby {key_name(x)} and {key_name(y)}",
        f"mean ± half-width of the {CONFIDENCE:.0%} confidence interval over {n} replicates",
        f"firm {chosen}" if len(all_firms) > 1 else None,
        *(f"{key_name(k)} = {value_text(v)}" for k, v in (fixed or {}).items()),
        averaged,
        note,
    )
    return fig


FLOWS_IN = (
    ("joined_marketing", "joined through marketing", "#0072B2", ""),
    ("joined_referral", "joined through a referral", "#009E73", "//"),
    ("switched_in", "switched in from a competitor", "#56B4E9", ".."),
)
FLOWS_OUT = (
    ("left_bad_experience", "left after a bad experience", "#D55E00", "xx"),
    ("left_attrition", "left for other reasons (attrition)", "#E69F00", "\\\\"),
)


def customer_flows(
    timeseries: pd.DataFrame,
    grouping: Grouping | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    by: str | None = None,
    note: str | None = None,
) -> Figure:
    """Where customers come from and why they leave, month by month, one panel per series.

    Joiners (marketing, referral, switching in) are stacked above zero, leavers (after a bad
    experience, attrition; switchers to a competitor are among them) below, each a mean over
    replicates in people per month, with the net change as a black line. Flow kinds that are
    zero throughout are left out. Kinds differ by hatching as well as colour. Panels share the
    month axis but each has its own scale (a low rung loses hundreds in its first months, a high
    one a handful); each panel's top edge has its series' colour.

    Args:
        timeseries: monthly rows (the flow columns of docs/model.md section 7.9).
        grouping, manifest, by, note: as for `retention_curves`.
    """
    g = grouping or grouping_for(timeseries, manifest, by)
    rows = g.rows(timeseries)
    names = [f[0] for f in (*FLOWS_IN, *FLOWS_OUT)]
    summary = _series(rows[rows["step"] >= 1], g, names)
    totals = summary.groupby("metric")["mean"].apply(lambda s: s.abs().sum())
    inflows = [f for f in FLOWS_IN if totals.get(f[0], 0) > 0]
    outflows = [f for f in FLOWS_OUT if totals.get(f[0], 0) > 0]
    n = len(g.values)
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig = Figure(figsize=(15 if n > 1 else 11, 4.8 * nrows + 2.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, sharex=True, squeeze=False))
    flat = axes.ravel()
    span = max(int(rows["step"].max()), 1)
    for i, value in enumerate(g.values):
        ax = flat[i]
        one = summary[summary[g.column] == value]
        step = one.loc[one["metric"] == names[0], "step"].to_numpy(dtype=float)
        net = np.zeros(len(step))
        for direction, flows in ((1, inflows), (-1, outflows)):
            base = np.zeros(len(step))
            for name, label, colour, hatch in flows:
                values = one.loc[one["metric"] == name, "mean"].to_numpy(dtype=float)
                values = np.nan_to_num(values) * direction
                ax.fill_between(
                    step,
                    base,
                    base + values,
                    color=colour,
                    alpha=0.85,
                    hatch=hatch,
                    edgecolor="white",
                    linewidth=0,
                    label=label,
                )
                base = base + values
                net = net + values
        ax.plot(step, net, color="black", linewidth=2, label="net change")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(g.label(value), fontsize=FONT_SIZE + 1)
        ax.spines["top"].set_color(g.style(value)["color"])
        ax.spines["top"].set_linewidth(6)
        ax.tick_params(labelsize=FONT_SIZE - 2)
        ax.yaxis.set_major_formatter(FuncFormatter(_count_tick))
        ax.grid(True, alpha=0.3)
        ax.set_xlim(1, span)
        if i % cols == 0:
            ax.set_ylabel("people per month\n(joining + / leaving −)", fontsize=FONT_SIZE - 1)
        if i >= n - cols:
            ax.set_xlabel("month", fontsize=FONT_SIZE)
            ax.xaxis.set_tick_params(labelbottom=True)
    handles: list[Patch | Line2D] = [
        Patch(facecolor=colour, hatch=hatch, edgecolor="white", label=label, alpha=0.85)
        for _, label, colour, hatch in (*inflows, *outflows)
    ]
    handles.append(Line2D([], [], color="black", linewidth=2, label="net change"))
    spare = flat[n:]
    for ax in spare:
        ax.set_axis_off()
    if len(spare):
        _legend(spare[0], handles, "flow", loc="center")
    else:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=3,
            fontsize=FONT_SIZE - 2,
        )
    _title(
        fig,
        f"Where customers come from and why they leave, per {g.title}",
        f"mean over {_replicates(summary)} replicates, people per month",
        g.note,
        note,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Every figure a results folder calls for.


def map_name(metric: str, x: str, y: str) -> str:
    """The file stem of a two-parameter map: ``map_<metric>__<x>__<y>``, dots as underscores."""

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")

    return f"map_{clean(metric)}__{clean(x)}__{clean(y)}"


def _grid_design(manifest: Mapping[str, Any] | None) -> bool:
    """Was the sweep a full-factorial grid (or is its design unknown)?"""
    design = ((manifest or {}).get("design") or {}).get("design", "grid")
    return design in ("grid", "none")


def _varying(timeseries: pd.DataFrame) -> list[str]:
    return [k for k in swept_keys(timeseries) if timeseries[k].nunique(dropna=False) > 1]


def map_pairs(
    timeseries: pd.DataFrame, manifest: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The pairs of swept keys that `figures_for` maps: only in a grid design (per the
    manifest), only keys with several but at most `MAX_MAP_VALUES` values (a map of a sampled
    design would be a huge, mostly empty grid), at most `MAX_MAPS` pairs."""
    if not _grid_design(manifest):
        return []
    few = [k for k in _varying(timeseries) if timeseries[k].nunique(dropna=False) <= MAX_MAP_VALUES]
    return list(itertools.combinations(few, 2))[:MAX_MAPS]


def scatter_keys(timeseries: pd.DataFrame, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """The swept keys `figures_for` draws as scatter plots instead of maps: every varying key of
    a sampled design, or of a grid with a key of more than `MAX_MAP_VALUES` values (at most
    `MAX_SCATTER_PANELS`)."""
    varying = _varying(timeseries)
    many = any(timeseries[k].nunique(dropna=False) > MAX_MAP_VALUES for k in varying)
    if _grid_design(manifest) and not many:
        return []
    return varying[:MAX_SCATTER_PANELS]


def scatter_name(metric: str) -> str:
    """The file stem of the scatter plots of one outcome: ``scatter_<metric>``."""
    return f"scatter_{metric}"


def outcome_scatter(
    timeseries: pd.DataFrame,
    keys: Sequence[str],
    metric: str = DEFAULT_MAP_METRIC,
    *,
    manifest: Mapping[str, Any] | None = None,
    firm: str | None = None,
    note: str | None = None,
) -> Figure:
    """One outcome against each swept key: a dot per parameter point (its mean over
    replicates), one panel per key; for sampled designs, where a map would be mostly empty.

    Args:
        timeseries: monthly rows of a sweep.
        keys: the swept keys, one panel each (at most `MAX_SCATTER_PANELS`).
        metric: one of `sim.summary.outcome_names`.
        manifest: the folder's manifest (firms, fees).
        firm: the firm whose outcome is drawn; default as in `parameter_map`.
        note: a line added to the subtitle.
    """
    keys = list(keys)[:MAX_SCATTER_PANELS]
    all_firms = firm_names(manifest, timeseries)
    chosen = _key_firm(keys, all_firms, firm, keys)
    rows = timeseries[timeseries["firm"] == chosen]
    fees, rate = finance_of(manifest, timeseries)
    outcomes = run_outcomes(rows, fees, rate)
    points = outcomes.groupby(keys, dropna=False, sort=False)[metric].mean().reset_index()
    title, label, kind = outcome_label(metric, int(rows["step"].max()))
    columns = min(3, len(keys))
    lines = math.ceil(len(keys) / columns)
    fig = Figure(figsize=(min(12.0, 4.5 * columns + 1), min(7.5, 3.6 * lines + 1.5)))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(lines, columns, sharey=True, squeeze=False).ravel())
    for ax, key in zip(axes, keys, strict=False):
        numeric = pd.api.types.is_numeric_dtype(points[key])
        x = points[key] if numeric else points[key].astype(str)
        ax.scatter(x, points[metric], s=22, color=COLOURS[0], alpha=0.75)
        ax.set_xlabel(key_name(key), fontsize=FONT_SIZE - 2)
        ax.tick_params(labelsize=FONT_SIZE - 4)
        ax.grid(alpha=0.3)
        _format_axis(ax.yaxis, kind)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(label, fontsize=FONT_SIZE - 2)
    _title(
        fig,
        f"{title} at each of {len(points)} parameter points",
        f"mean over replicates; every other swept key varies too; firm {chosen}"
        if len(all_firms) > 1
        else "mean over replicates; every other swept key varies too",
        note,
    )
    return fig


def figures_for(
    results: Results,
    *,
    by: str | None = None,
    metrics: Sequence[str] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> dict[str, Figure]:
    """Every figure that suits a results folder, by file stem, in reading order.

    A single parameter point gets ``customers_and_revenue``, ``retention``,
    ``revenue_and_profit``, ``flows`` (and ``ladder`` when it holds several firms); a sweep gets
    ``retention``, ``revenue_and_profit``, ``ladder``, ``flows`` and, per metric, a map for each
    pair of swept keys of a grid with a few values each (`map_pairs`, `map_name`) or, for a
    sampled design, scatter plots against the swept keys (`scatter_keys`, `scatter_name`).
    Missing runs are named in every subtitle. The figures are those of `figure_makers`, drawn.

    Args:
        results: a `sim.store.Results` (``manifest``, ``runs``, ``timeseries``), e.g. from
            `sim.store.load_results`.
        by: what a series is (`grouping_for`).
        metrics: outcomes to map (default ``["discounted_profit"]``).
        fixed: swept keys to hold at one value.

    Returns:
        ``{name: Figure}``; empty when no run finished.

    Raises:
        ValueError: ``by``, ``fixed`` or a metric is unknown.
    """
    makers = figure_makers(results, by=by, metrics=metrics, fixed=fixed)
    return {name: make() for name, make in makers.items()}


def figure_makers(
    results: Results,
    *,
    by: str | None = None,
    metrics: Sequence[str] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> dict[str, Callable[[], Figure]]:
    """The figures of `figures_for`, not drawn yet: name -> a function that draws it.

    Which figures there are, and every argument, are settled here (the time series is read and
    ``by``, ``fixed`` and ``metrics`` are checked); each function then draws one figure alone, so
    that several processes can share the figures of one folder (`sim.report.write_report`).

    Raises:
        ValueError: ``by``, ``fixed`` or a metric is unknown.
    """
    metrics = list(metrics) if metrics else [DEFAULT_MAP_METRIC]
    for metric in metrics:
        if metric not in outcome_names():
            raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(outcome_names())}")
    timeseries, manifest = results.timeseries, results.manifest or {}
    if timeseries is None or timeseries.empty:
        return {}
    note = runs_note(results)
    g = grouping_for(timeseries, manifest, by, fixed=fixed)
    rows = timeseries
    for key, value in (fixed or {}).items():
        rows = rows[rows[key] == value]
    makers: dict[str, Callable[[], Figure]] = {}
    varying = [k for k in swept_keys(rows) if rows[k].nunique(dropna=False) > 1]
    if not varying:
        name = ((manifest.get("scenario") or {}).get("scenario") or {}).get("name")
        point = ", ".join(
            f"{k} = {value_text(v)}" for k in swept_keys(rows) for v in pd.unique(rows[k])
        )
        n = rows["run_id"].nunique() if "run_id" in rows else 1
        title = f"{name + ': ' if name else ''}customers and revenue per firm"
        title += f" ({point})" if point else ""
        title += "\n" + _subtitle(_band_text(n), note)
        makers["customers_and_revenue"] = functools.partial(
            customers_and_revenue, rows, title, manifest
        )
    makers["retention"] = functools.partial(retention_curves, timeseries, g, note=note)
    makers["revenue_and_profit"] = functools.partial(revenue_and_profit, timeseries, g, note=note)
    if len(g.values) > 1:
        makers["ladder"] = functools.partial(
            ladder_chart, timeseries, g, manifest=manifest, note=note
        )
    makers["flows"] = functools.partial(customer_flows, timeseries, g, note=note)
    scattered = scatter_keys(rows, manifest)
    for metric in metrics:
        for x, y in map_pairs(rows, manifest):
            makers[map_name(metric, x, y)] = functools.partial(
                parameter_map, timeseries, x, y, metric, manifest=manifest, fixed=fixed, note=note
            )
        if scattered:
            makers[scatter_name(metric)] = functools.partial(
                outcome_scatter, rows, scattered, metric, manifest=manifest, note=note
            )
    return makers


# --------------------------------------------------------------------------------------------
# Calibration (sim.calibrate).


def calibration_fit(fit: pd.DataFrame, holdout_from: int | None) -> Figure:
    """Observed against fitted cohort retention: the data, the calibrated agent model and the
    shifted-beta-geometric fit, with the holdout months shaded.

    Args:
        fit: one row per observed month: ``month``, ``observed``, ``simulated``, ``sbg``.
        holdout_from: the first holdout month, or None.
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if holdout_from is not None:
        ax.axvspan(holdout_from, fit["month"].max(), color="0.9", label="holdout (not fitted)")
    ax.plot(fit["month"], fit["observed"], "ko", label="observed")
    ax.plot(fit["month"], fit["simulated"], "-", color="C0", label="agent model (best trial)")
    ax.plot(fit["month"], fit["sbg"], "--", color="C1", label="shifted-beta-geometric")
    _dress(ax, "Cohort retention: observed and fitted", "share of the cohort retained", "share")
    ax.legend(frameon=False)
    return fig


def calibration_keys(trials: pd.DataFrame, keys: Sequence[str], cut: float) -> Figure:
    """Each trial's log-likelihood against each fitted key; a line marks the best minus ``cut``
    (the likelihood-ratio cut of the ranges)."""
    fig = Figure(figsize=(4 * len(keys), 3.8), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    best = trials["loglik"].max()
    floor = best - max(50.0, 20 * cut)  # hide the hopeless trials, keep the shape near the top
    shown = trials[trials["loglik"] >= floor]
    for ax, key in zip(axes, keys, strict=True):
        near = shown["loglik"] >= best - cut
        ax.scatter(shown[key], shown["loglik"], s=10, color="0.6")
        ax.scatter(shown.loc[near, key], shown.loc[near, "loglik"], s=14, color="C0")
        ax.axhline(best - cut, color="C3", lw=1)
        ax.set_xlabel(key_name(key))
        ax.set_ylabel("log-likelihood")
        ax.grid(alpha=0.3)
    fig.suptitle("Fit against each key (blue: within the 95% cut)")
    return fig


# --------------------------------------------------------------------------------------------
# Exploration: lever values against uncertain futures (`sim.explore`).

EXPLORE_FIGSIZE = (12.0, 7.0)  # inches: 1800 x 1050 pixels at the report's 150 dpi
MAX_SENSITIVITY_PANELS = 4


def lever_styles(labels: Sequence[str], ladder: Ladder | None) -> list[int]:
    """Style indices of lever values: a rung's ladder position when every value is a rung (a
    rung looks the same in every figure), else the values' positions."""
    if ladder is not None and labels and all(v in ladder.ids for v in labels):
        return [ladder.index(v) for v in labels]
    return list(range(len(labels)))


def sensitivity_chart(
    sensitivity: pd.DataFrame, groups: Sequence[str], *, note: str | None = None
) -> Figure:
    """Sensitivity indices with their intervals, one panel per lever value or difference.

    Sobol: total-order (ST) and first-order (S1) bars; RBD-FAST: S1 bars; Morris: mu* bars,
    sigma as diamonds. Error bars are the bootstrap intervals (``*_conf`` half-widths).

    Args:
        sensitivity: `sim.explore.SENSITIVITY_COLUMNS` rows.
        groups: the ``lever`` groups to draw (at most `MAX_SENSITIVITY_PANELS`).
        note: a line added to the subtitle.
    """
    groups = list(groups)[:MAX_SENSITIVITY_PANELS]
    fig = Figure(figsize=EXPLORE_FIGSIZE)
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True, squeeze=False)[0])
    method = str(sensitivity["method"].iloc[0]) if len(sensitivity) else "sobol"
    bars = (
        [("mu_star", "mu_star_conf", "mu* (mean |elementary effect|)")]
        if method == "morris"
        else [("ST", "ST_conf", "total order (ST)"), ("S1", "S1_conf", "first order (S1)")]
        if method == "sobol"
        else [("S1", "S1_conf", "first order (S1)")]
    )
    for ax, group in zip(axes, groups, strict=True):
        rows = sensitivity[sensitivity["lever"] == group]
        y = np.arange(len(rows))
        height = 0.8 / len(bars)
        for i, (column, conf, label) in enumerate(bars):
            ax.barh(
                y - 0.4 + height * (i + 0.5),
                rows[column],
                height,
                xerr=rows[conf].fillna(0),
                color=COLOURS[i],
                label=label,
                capsize=3,
            )
        if method == "morris":
            ax.plot(rows["sigma"], y, "D", color=COLOURS[2], label="sigma (spread of effects)")
            _format_axis(ax.xaxis, MONEY)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, [key_name(k) for k in rows["uncertainty"]], fontsize=FONT_SIZE - 2)
        noise = rows["noise_share"].iloc[0] if len(rows) else np.nan
        subtitle = (
            f"\nnoise: {format_value(noise, SHARE)} of variance" if np.isfinite(noise) else ""
        )
        ax.set_title(f"{group}{subtitle}", fontsize=FONT_SIZE - 1)
        ax.tick_params(labelsize=FONT_SIZE - 3)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=FONT_SIZE - 4, loc="lower right")
    _title(
        fig,
        "What the outcome depends on",
        f"{method} indices with {CONFIDENCE:.0%} bootstrap intervals",
        note,
    )
    return fig


def lever_chart(
    means: np.ndarray,
    labels: Sequence[str],
    table: pd.DataFrame,
    outcome: str,
    horizon: int,
    *,
    styles: Sequence[int] | None = None,
    note: str | None = None,
) -> Figure:
    """Each lever value's outcome across futures and its regret.

    Left: the 5-95% range of the outcome across futures, its median (marker) and mean (cross);
    right: mean and maximum regret, with the share of futures in which the value is best.

    Args:
        means: ``means[future, lever value]``.
        labels: the lever values.
        table: `sim.explore.lever_table` of ``means``.
        outcome: the outcome's name (`sim.summary.outcome_names`).
        horizon: the last month (for the outcome's title).
        styles: style index per lever value (`lever_styles`).
        note: a line added to the subtitle.
    """
    styles = list(styles) if styles is not None else list(range(len(labels)))
    title, label, kind = outcome_label(outcome, horizon)
    fig = Figure(figsize=EXPLORE_FIGSIZE)
    fig.set_layout_engine("constrained")
    left, right = fig.subplots(1, 2)
    x = np.arange(len(labels))
    for i, row in table.reset_index(drop=True).iterrows():
        style = _style(styles[i])
        left.plot([i, i], [row["p05"], row["p95"]], color=style["color"], linewidth=6, alpha=0.5)
        left.plot(i, row["p50"], marker=style["marker"], color=style["color"], markersize=11)
        left.plot(i, row["mean"], marker="x", color="black", markersize=10)
        right.bar(i - 0.2, row["mean_regret"], 0.4, color=style["color"])
        right.bar(i + 0.2, row["max_regret"], 0.4, color=style["color"], alpha=0.45, hatch="//")
        right.annotate(
            f"best in\n{format_value(row['win_share'], SHARE)}",
            (i, row["max_regret"]),
            ha="center",
            va="bottom",
            fontsize=FONT_SIZE - 4,
        )
    for ax in (left, right):
        ax.set_xticks(x, labels, fontsize=FONT_SIZE - 2, rotation=15)
        ax.tick_params(labelsize=FONT_SIZE - 3)
        ax.grid(axis="y", alpha=0.3)
        _format_axis(ax.yaxis, kind)
    left.set_title("across futures: 5-95% range, median, mean (x)", fontsize=FONT_SIZE - 1)
    left.set_ylabel(label, fontsize=FONT_SIZE - 1)
    right.set_title("regret: mean (solid) and largest (hatched)", fontsize=FONT_SIZE - 1)
    right.set_ylabel(f"best in the future minus own ({label})", fontsize=FONT_SIZE - 2)
    right.set_ylim(0, max(1e-9, float(table["max_regret"].max())) * 1.25)
    _title(fig, f"{title}: each choice across {len(means)} futures", note)
    return fig


def win_map(
    futures: pd.DataFrame,
    won: Sequence[str],
    keys: Sequence[str],
    labels: Sequence[str],
    *,
    styles: Sequence[int] | None = None,
    note: str | None = None,
) -> Figure:
    """Which lever value wins in each future, over the two most influential uncertainties.

    Args:
        futures: the futures' uncertainty values (a column per key).
        won: each future's winning lever value.
        keys: the two uncertainties (across, up).
        labels: every lever value, in order (for colours and the legend).
        styles: style index per lever value (`lever_styles`).
        note: a line added to the subtitle.
    """
    styles = list(styles) if styles is not None else list(range(len(labels)))
    fig = Figure(figsize=EXPLORE_FIGSIZE)
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    winners = np.asarray(list(won), dtype=object)
    for i, label in enumerate(labels):
        chosen: np.ndarray = winners == label
        if not chosen.any():
            continue
        style = _style(styles[i])
        ax.scatter(
            futures.loc[chosen, keys[0]],
            futures.loc[chosen, keys[1]],
            s=36,
            color=style["color"],
            marker=style["marker"],
            label=f"{label} ({format_value(chosen.mean(), SHARE)})",
            alpha=0.8,
        )
    ax.set_xlabel(key_name(keys[0]), fontsize=FONT_SIZE)
    ax.set_ylabel(key_name(keys[1]), fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 3)
    ax.legend(title="best choice (share of futures)", fontsize=FONT_SIZE - 3)
    ax.grid(alpha=0.3)
    _title(
        fig,
        "Where each choice wins",
        f"{len(winners)} futures over the two most influential uncertainties; the others vary too",
        note,
    )
    return fig
