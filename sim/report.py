"""The report of a results folder: ``figures/*.png|svg``, ``report.md`` and ``report.html``.

`write_report` is what ``retention-sim plot DIR`` (and ``run``) call: it reads the folder, draws
every figure that suits it (`sim.plots.figures_for`), saves each as PNG and SVG into
``DIR/figures/`` (half of them drawn in a forked process while this one writes the report:
`draw_figures`) and writes two reports with the same content:

- ``report.md``: the scenario, the sweep, a summary table per rung (customers, cohort retention
  at 12 and 60 months and at the horizon, revenue, CLV, discounted profit, break-even month, the
  best rung by discounted profit; `sim.summary.rung_table`), when the results have a contact
  centre a "Staffing" section (per fill rate, the profit-maximising agents against the fewest
  meeting the 80/20 standard, with a warning when the optimum is at the edge of the sweep or a
  queue was unstable; `sim.summary.staffing_table`), when the rungs compared are climbs that
  paid an investment a "Climbing the ladder" section (per target rung: the investment, the
  payback month and the paired discounted profit gain over staying; `sim.summary.climb_table`),
  and every figure, linked as
  ``figures/<name>.png``;
- ``report.html``: the same, self-contained: the figures are embedded as base64 PNG and the
  style sheet is inline, so it opens anywhere with nothing fetched.

Both are built from one list of blocks (headings, paragraphs, tables, figures, code), rendered
twice, so they cannot drift apart. Numbers are written by `sim.formatting` (money to three
significant figures: 1.25M, 30.2k). Files are written with `sim.store.write_bytes_atomic`
(a temporary file synced to disk, then a rename).

What does not live here: the statistics (`summary.py`), drawing (`plots.py`), reading the
folder (`store.py`), the command line (`cli.py`).
"""

from __future__ import annotations

import base64
import html
import io
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim import formatting, plots
from sim.formatting import interval, money
from sim.store import FIGURES, Results, write_bytes_atomic
from sim.summary import (
    CONFIDENCE,
    RETENTION_MONTHS,
    SERVICE_GOAL,
    answered_share,
    best_by_condition,
    climb_table,
    outcomes_kept,
    rung_table,
    staffing_answer,
    staffing_keys,
    staffing_table,
    swept_keys,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FORMATS = ("png", "svg")
DPI = 150
MAX_PIXELS = (1920, 1200)  # no figure larger than a projector's screen (width, height)
MAX_FAILED_LISTED = 10


# --------------------------------------------------------------------------------------------
# Blocks: the report's content, rendered to Markdown and to HTML.


@dataclass(frozen=True)
class Heading:
    """A section heading (level 1-3)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Running text; ``**bold**`` and ```code``` spans are kept in both renderings."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table; ``numeric`` columns are right-aligned."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FigureBlock:
    """A figure saved as ``figures/<name>.png`` (and ``.svg``), with a title and a caption."""

    name: str
    title: str
    caption: str


@dataclass(frozen=True)
class Code:
    """A preformatted block, folded away under a summary line."""

    summary: str
    text: str


Block = Heading | Paragraph | Table | FigureBlock | Code


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown; figures link ``figures/<name>.png|svg``."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Table):
            align = ["---:" if i in block.numeric else ":---" for i in range(len(block.header))]
            lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |"]
            lines.append("| " + " | ".join(align) + " |")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, FigureBlock):
            png, svg = f"{FIGURES}/{block.name}.png", f"{FIGURES}/{block.name}.svg"
            out.append(f"### {block.title}")
            out.append(f"![{_md_cell(block.title)}]({png})")
            out.append(f"{block.caption} ([PNG]({png}), [SVG]({svg}))")
        elif isinstance(block, Code):
            out.append(
                f"<details><summary>{html.escape(block.summary)}</summary>\n\n"
                f"```\n{block.text}\n```\n\n</details>"
            )
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; color: #1a1a1a; line-height: 1.5; }
h1 { border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: .95em; }
th, td { border: 1px solid #ccc; padding: .35em .6em; vertical-align: top; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: .4em; }
code { background: #f4f4f4; padding: 0 .2em; }
pre { background: #f4f4f4; padding: 1em; overflow-x: auto; }
"""


def to_html(blocks: Sequence[Block], images: Mapping[str, bytes], title: str) -> str:
    """The blocks as one self-contained HTML page; figures embedded from ``images`` (PNG bytes)."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.header)
            rows = []
            for row in block.rows:
                cells = "".join(
                    f'<td class="num">{_inline_html(c)}</td>'
                    if i in block.numeric
                    else f"<td>{_inline_html(c)}</td>"
                    for i, c in enumerate(row)
                )
                rows.append(f"<tr>{cells}</tr>")
            body.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        elif isinstance(block, FigureBlock):
            data = base64.b64encode(images[block.name]).decode("ascii")
            body.append(
                f'<figure id="{html.escape(block.name)}"><h3>{_inline_html(block.title)}</h3>'
                f'<img alt="{html.escape(block.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline_html(block.caption)}</figcaption></figure>"
            )
        elif isinstance(block, Code):
            body.append(
                f"<details><summary>{html.escape(block.summary)}</summary>"
                f"<pre>{html.escape(block.text)}</pre></details>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------
# Files.


def figure_bytes(figure: Figure, fmt: str, dpi: int | None = None) -> bytes:
    """A matplotlib Figure rendered to PNG or SVG bytes (Agg, no pyplot); default dpi `DPI`,
    lowered if need be so that a PNG fits `MAX_PIXELS` (a projector's screen)."""
    width, height = figure.get_size_inches()
    fit = min(MAX_PIXELS[0] / width, MAX_PIXELS[1] / height)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=min(dpi or DPI, fit))
    return buffer.getvalue()


def save_figures(
    figures: Mapping[str, Any], folder: str | Path, formats: Sequence[str] = FORMATS
) -> dict[str, dict[str, bytes]]:
    """Save each figure as ``<folder>/<name>.<format>``; return the bytes written, by name.

    The folder is created if needed; existing files of the same names are replaced. The layout
    of a figure (its layout engine's placing of axes and labels) is worked out for the first
    format only and kept for the others: laying a figure out costs about as much as drawing it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, bytes]] = {}
    for name, figure in figures.items():
        written[name] = {}
        engine = figure.get_layout_engine()
        try:
            for i, fmt in enumerate(formats):
                if i == 1 and engine is not None:
                    figure.set_layout_engine("none")  # keep the axes where the first draw put them
                data = figure_bytes(figure, fmt)
                write_bytes_atomic(folder / f"{name}.{fmt}", data)
                written[name][fmt] = data
        finally:
            if engine is not None and figure.get_layout_engine() is not engine:
                figure.set_layout_engine(engine)
    return written


def _can_fork() -> bool:
    """Whether figures can be drawn in a forked process beside this one (`draw_figures`): on a
    machine with a second CPU, where fork exists, from a process running one thread (a fork
    copies no other thread, so a lock another thread holds would stay held in the child)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return (
        cpus > 1
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _draw_and_exit(makers: Mapping[str, Callable[[], Figure]], folder: Path) -> None:
    """A forked process's work: draw and save some figures; exit 1 (quietly) if any fails."""
    try:
        save_figures({name: make() for name, make in makers.items()}, folder)
    except BaseException:
        os._exit(1)  # the parent draws them again itself, and reports the error


def draw_figures(
    makers: Mapping[str, Callable[[], Figure]],
    folder: str | Path,
    alongside: Callable[[], Any] = lambda: None,
    *,
    parallel: bool = True,
) -> tuple[dict[str, dict[str, bytes]], Any]:
    """Draw the figures of `sim.plots.figure_makers` and save them (`save_figures`), sharing
    the work with a forked process when this machine has a second CPU, while ``alongside()``
    runs here.

    Every other figure (the first, the third, ...) is drawn in a child process made by fork (it
    shares this process's data, nothing is copied or pickled); this process draws the rest after
    ``alongside()``. The figures are the same as if drawn here: the same functions, the same
    data. If fork is not available (`_can_fork`), ``parallel`` is false or the child fails, this
    process draws them all (and an error is raised here, as without the child).

    Returns:
        ``(written, alongside())``: the bytes written by name and format, in the order of
        ``makers``, and what ``alongside`` returned.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(makers)
    theirs = names[0::2] if parallel and len(names) > 1 and _can_fork() else []
    child = None
    if theirs:
        context = multiprocessing.get_context("fork")
        child = context.Process(
            target=_draw_and_exit, args=({n: makers[n] for n in theirs}, folder), daemon=True
        )
        child.start()
    try:
        extra = alongside()
        written = save_figures({n: makers[n]() for n in names if n not in theirs}, folder)
        if child is not None:
            child.join()
            if child.exitcode == 0:
                for name in theirs:
                    written[name] = {f: (folder / f"{name}.{f}").read_bytes() for f in FORMATS}
            else:
                written.update(save_figures({n: makers[n]() for n in theirs}, folder))
    finally:
        if child is not None and child.is_alive():
            child.terminate()
            child.join()
    return {name: written[name] for name in names}, extra


# --------------------------------------------------------------------------------------------
# Content.


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} = {_value(v)}" for k, v in value.items())
    return str(value)


def _scenario_table(scenario: Mapping[str, Any], ladder: Any, swept: Sequence[str]) -> Table:
    """The main settings; a swept key's value reads "swept" (the sweep table lists its values)."""
    head = scenario.get("scenario", {})
    market = scenario.get("market", {})
    customers = scenario.get("customers", {})
    churn = scenario.get("churn", {})
    referrals = scenario.get("referrals", {})
    acquisition = scenario.get("acquisition", {})
    finance = scenario.get("finance", {})

    def get(section: Mapping[str, Any], dotted: str) -> str:
        if dotted in swept:
            return "swept (see the sweep)"
        return _value(section.get(dotted.split(".")[-1], "-"))

    rows: list[tuple[str, str]] = [
        ("months (horizon)", get(head, "scenario.months")),
        ("replicates per point", _value(head.get("replicates", "-"))),
        ("seed", _value(head.get("seed", "-"))),
        ("engine", get(head, "scenario.engine")),
    ]
    if head.get("warmup_months") or "scenario.warmup_months" in swept:
        rows.append(("warm-up before month 0 (months)", get(head, "scenario.warmup_months")))
    if ladder is not None:
        rows.append((f"ladder ({ladder.name})", ", ".join(ladder.labels)))
    rows += [
        ("market size", get(market, "market.size")),
        ("initial customers", get(market, "market.initial_customers")),
        ("network", get(market, "market.network")),
        ("zone of tolerance (half-width)", get(customers, "customers.tolerance")),
        ("monthly contact probability", get(customers, "customers.contact_prob")),
        ("churn rule", get(churn, "churn.rule")),
        ("monthly attrition", get(churn, "churn.base_prob")),
        ("polarization of attrition", get(churn, "churn.base_polarization")),
        ("chance a leaver switches", get(churn, "churn.switch_prob")),
        ("referral probability", get(referrals, "referrals.refer_prob")),
        ("monthly marketing reach", get(acquisition, "acquisition.prob")),
        ("cost per customer won by marketing", get(acquisition, "acquisition.cost")),
    ]
    if acquisition.get("outside_rung") or "acquisition.outside_rung" in swept:
        rows.append(
            ("rest of the market (outside rung)", get(acquisition, "acquisition.outside_rung"))
        )
    if "annual_discount_rate" in finance or "finance.annual_discount_rate" in swept:
        rows.append(("annual discount rate", get(finance, "finance.annual_discount_rate")))
    else:
        rows.append(("monthly discount rate", get(finance, "finance.discount_rate")))
    for i, firm in enumerate(scenario.get("firms", [])):
        if f"firms.{i}.service_level" in swept:
            delivers = "service level swept (see the sweep)"
        elif firm.get("departments"):
            delivers = "departments: " + _value(firm["departments"])
        else:
            delivers = _value(firm.get("service_level", "-"))
        if firm.get("schedule"):
            delivers += f"; schedule of {len(firm['schedule'])} change(s)"
        rows.append(
            (
                f"firm {firm.get('name', '?')}",
                f"{delivers}; monthly fee {get(firm, f'firms.{i}.monthly_fee')}",
            )
        )
        centre, stock = firm.get("contact_centre"), firm.get("inventory")
        if centre:
            c = f"firms.{i}.contact_centre"
            rows.append(
                (
                    f"firm {firm.get('name', '?')}: contact centre",
                    f"agents {get(centre, f'{c}.agents')}; handling time "
                    f"{get(centre, f'{c}.aht_seconds')} s; target "
                    f"{get(centre, f'{c}.target_seconds')} s; callers' patience "
                    f"{get(centre, f'{c}.patience_seconds')} s; open "
                    f"{get(centre, f'{c}.open_hours_per_month')} hours a month; cost per "
                    f"agent-month {get(centre, f'{c}.cost_per_agent_month')}",
                )
            )
        if stock:
            v = f"firms.{i}.inventory"
            text = ", ".join(f"{k.replace('_', ' ')} {get(stock, f'{v}.{k}')}" for k in stock)
            rows.append((f"firm {firm.get('name', '?')}: inventory", text))
    return Table(("setting", "value"), tuple(rows))


def _pm(mean: float, low: float, high: float, kind: str) -> str:
    """``mean ± half-width`` as `sim.formatting` writes them: shares to 0.1 %, money to three
    significant figures, counts to units."""
    if mean is None or not np.isfinite(mean):
        return "-"
    text = plots.format_value(mean, kind, share_digits=1)
    if np.isfinite(high):
        text += f" ± {plots.format_value(high - mean, kind, share_digits=1)}"
    return text


def _summary_blocks(
    timeseries: pd.DataFrame, manifest: Mapping[str, Any], g: plots.Grouping
) -> list[Block]:
    rows = g.rows(timeseries)
    fees, rate = plots.finance_of(manifest, timeseries)
    table = rung_table(rows, g.column, fees, rate, order=list(g.values))
    horizon = int(rows["step"].max())
    columns = [
        ("customers", f"customers at month {horizon}", plots.PEOPLE),
        *((f"retention_{m}", f"retention after {m} months", plots.SHARE) for m in RETENTION_MONTHS),
        ("retention_end", f"retention after {horizon} months", plots.SHARE),
        ("revenue", f"monthly revenue at month {horizon}", plots.MONEY),
        ("clv", "CLV per initial customer", plots.MONEY),
        ("discounted_profit", f"discounted profit to month {horizon}", plots.MONEY),
    ]
    reference = g.labels[0]
    several = len(table) > 1
    conditions = int(table["conditions"].max()) if len(table) else 1
    header = [g.title, "runs", *(c[1] for c in columns)]
    if several:
        header.append(f"discounted profit minus {reference}'s [{CONFIDENCE:.0%} interval]")
        if conditions > 1:
            header.append(f"best in (of {conditions} conditions)")
        header.append(f"break-even month (against {reference})")
    body = []
    for row in table.to_dict("records"):
        label = g.label(row[g.column])
        if several and row["best"]:
            label = f"**{label}** (best)"
        cells = [label, str(int(row["runs"]))]
        cells += [_pm(row[n], row[f"{n}_low"], row[f"{n}_high"], kind) for n, _, kind in columns]
        if several:
            cells.append(
                _difference(row["difference"], row["difference_low"], row["difference_high"])
            )
            if conditions > 1:
                cells.append(str(int(row["best_in"])))
            month = row["break_even_month"]
            if row[g.column] == g.values[0]:
                cells.append("reference")
            elif not np.isfinite(month):
                cells.append(f"not by month {horizon}")
            elif month <= 0:
                cells.append("never behind")
            else:
                cells.append(f"{month:.0f}")
        body.append(tuple(cells))
    n = int(table["replicates"].max()) if len(table) else 0
    text = (
        f"Means over {n} replicate{'s' * (n != 1)} with the half-width of the t-based "
        f"{CONFIDENCE:.0%} confidence interval of the mean (±). Retention is the share of the "
        "firm's month-0 customers who have never left it. Revenue is per month; CLV is the "
        "month-0 cohort's discounted revenue per initial customer; discounted profit is "
        "cumulative."
    )
    if g.note:
        text += f" Rows: {g.note}."
    blocks: list[Block] = [
        Table(tuple(header), tuple(body), frozenset(range(1, len(header)))),
        Paragraph(text),
    ]
    if several:
        blocks.append(
            Paragraph(
                f"Break-even month: the first month from which the mean cumulative "
                f"(undiscounted) profit stays at or above {reference}'s for the rest of the "
                f"{horizon} months."
            )
        )
        tests = set(table["difference_test"]) - {""}
        pairing = (
            "paired replicate by replicate (every point ran replicate r with the same seed: "
            "common random numbers)"
            if tests == {"paired"}
            else "Welch's interval (the points' seeds differ)"
            if tests == {"welch"}
            else "paired where the points share seeds, Welch's interval otherwise"
        )
        blocks.append(
            Paragraph(
                f"Difference: the mean cumulative discounted profit to month {horizon} minus "
                f"{reference}'s, with its {CONFIDENCE:.0%} confidence interval, {pairing}."
            )
        )
        blocks += _best_blocks(rows, g, horizon, conditions)
    return blocks


def _climb_blocks(timeseries: pd.DataFrame, g: plots.Grouping) -> list[Block]:
    """The "Climbing the ladder" section: per target rung against staying at the reference,
    the investment, the payback month and the paired discounted profit gain.

    Shown when the series are rungs, at least two of them, and some climb paid an investment.
    """
    if not g.rung_valued or len(g.values) < 2 or "investment" not in timeseries:
        return []
    rows = g.rows(timeseries)
    if not (rows["investment"] > 0).any():
        return []
    table = climb_table(rows, g.column, list(g.values))
    horizon = int(rows["step"].max())
    reference = g.labels[0]
    header = (
        f"climb to ({g.title})",
        "investment",
        f"payback month (against staying at {reference})",
        f"discounted profit gain over staying, to month {horizon}",
        "replicates",
    )
    body = []
    for row in table.to_dict("records"):
        month = row["payback_month"]
        payback = (
            f"not by month {horizon}"
            if not np.isfinite(month)
            else "never behind"
            if month <= 0
            else f"{month:.0f}"
        )
        gain = interval(row["gain"], row["gain_low"], row["gain_high"], "difference")
        if row["gain_low"] > 0 or row["gain_high"] < 0:
            gain += " (excludes 0)"
        body.append(
            (
                g.label(row[g.column]),
                formatting.money(row["investment"]),
                payback,
                gain,
                str(row["n"]),
            )
        )
    paired = set(table["test"]) == {"paired"}
    how = (
        "paired replicate by replicate (replicate r of a climb ran with the same seed as "
        "replicate r of staying: common random numbers), with the t-based "
        f"{CONFIDENCE:.0%} confidence interval of the mean paired difference in brackets"
        if paired
        else f"with Welch's {CONFIDENCE:.0%} confidence interval of the difference of means in "
        "brackets (the runs had independent seeds)"
    )
    text = (
        f"Each climb against staying at {reference}. **Investment**: the one-off cost of the "
        "rungs climbed (each rung's `investment`, weighted by department), charged in the month "
        "the new rung is first delivered and included in profit. **Payback month**: the first "
        "month from which the mean cumulative profit, investment included, stays at or above "
        f"staying's. **Gain**: the cumulative discounted profit at month {horizon} minus "
        f"staying's, {how}. Money is in the unit of `monthly_fee`."
    )
    return [
        Heading("Climbing the ladder"),
        Paragraph(text),
        Table(header, tuple(body), frozenset({1, 2, 3, 4})),
    ]


def _difference(mean: float, low: float, high: float) -> str:
    """A difference with its interval, the three written alike: ``+1.25M [0.98M, 1.52M]``;
    blank for none (the reference)."""
    if mean is None or not np.isfinite(mean):
        return ""
    return interval(mean, low, high, "difference")


def _best_blocks(
    rows: pd.DataFrame, g: plots.Grouping, horizon: int, conditions: int
) -> list[Block]:
    """The best series in each condition (`best_by_condition`), against the next best."""
    winners = best_by_condition(rows, g.column)
    within = [c for c in winners.columns if c in rows.columns and c != g.column]
    if winners.empty or winners["runner_up"].isna().all():
        return []
    header = (
        *(plots.key_name(k) for k in within),
        f"best {g.title}",
        f"next best {g.title}",
        f"best minus next [{CONFIDENCE:.0%} interval]",
    )
    body = []
    for row in winners.to_dict("records"):
        body.append(
            (
                *(plots.value_text(row[k]) for k in within),
                g.label(row["best"]),
                g.label(row["runner_up"]) if row["runner_up"] is not None else "",
                _difference(row["difference"], row["ci_low"], row["ci_high"]),
            )
        )
    if conditions > 1:
        names = sorted({g.label(b) for b in winners["best"]})
        lead = (
            f"The most profitable {g.title} (cumulative discounted profit to month {horizon}) "
            f"differs between conditions: {', '.join(names)}; none is best on average over "
            "them. Per condition:"
            if len(names) > 1
            else f"{names[0]} is the most profitable {g.title} in every condition:"
        )
    else:
        lead = f"The most profitable {g.title} (cumulative discounted profit to month {horizon}):"
    text = (
        " An interval that excludes 0 tells the two apart; one that holds 0 does not (more "
        "replicates would)."
    )
    return [
        Paragraph(lead + text),
        Table(header, tuple(body), frozenset(range(len(within), len(header)))),
    ]


def _firm_spec(manifest: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    firms = ((manifest.get("scenario") or {}).get("firms")) or []
    return firms[index] if index < len(firms) else {}


def _agents(value: float) -> str:
    return f"{value:.0f}" if value is not None and np.isfinite(value) else "-"


def _staffing_blocks(timeseries: pd.DataFrame, manifest: Mapping[str, Any]) -> list[Block]:
    """The "Staffing" section: per fill rate, the profit-maximising agents against 80/20.

    With a contact centre but no sweep over its agents: the service level it achieved.
    """
    if (
        "answered_within_target" not in timeseries
        or timeseries["answered_within_target"].isna().all()
    ):
        return []
    blocks: list[Block] = [Heading("Staffing")]
    horizon = int(timeseries["step"].max())
    goal = f"{SERVICE_GOAL:.0%}"
    keys = staffing_keys(timeseries)
    if keys is None:
        return blocks + _contact_centre_blocks(timeseries, manifest, horizon)
    agents_key, fill_key = keys
    index = int(agents_key.split(".")[1])
    firm = plots.firm_names(manifest, timeseries)[index]
    centre = _firm_spec(manifest, index).get("contact_centre") or {}
    target = centre.get("target_seconds", 20.0)
    patience = centre.get("patience_seconds")
    by = fill_key if fill_key and timeseries[fill_key].nunique() > 1 else None
    table = staffing_table(timeseries, agents_key, by, firm=firm)
    answer = staffing_answer(table, by)
    others = [
        plots.key_name(k)
        for k in swept_keys(timeseries)
        if k not in (agents_key, by) and timeseries[k].nunique(dropna=False) > 1
    ]
    waits = f"longer than the callers' patience ({_value(patience)} s) " if patience else ""
    text = (
        f"Firm **{firm}**'s contact centre: every service interaction is a call, and a call "
        f"that waits {waits}or an interaction that meets a stock-out is a bad experience. "
        f"**Profit-maximising agents**: the highest mean cumulative discounted profit to month "
        f"{horizon} (± the half-width of its t-based {CONFIDENCE:.0%} confidence interval). "
        f"**80/{_value(target)}**: the fewest agents that answer at least {goal} of the calls "
        f"within {_value(target)} s in every month (each month's share averaged over the runs; "
        f"a month with an unstable queue answers none in time)."
    )
    if others:
        text += f" Averaged over {', '.join(others)}."
    blocks.append(Paragraph(text))
    label = "fill rate" if by else "scenario"
    header = (
        label,
        "profit-maximising agents",
        f"discounted profit to month {horizon}",
        "next best",
        f"fewest agents meeting 80/{_value(target)} every month",
        f"fewest agents answering {goal} of all calls in {_value(target)} s",
    )
    smallest = int(table["agents"].min())
    rows = []
    for row in answer.to_dict("records"):
        goal_all = row["goal_agents_all_calls"]
        rows.append(
            (
                _value(row[by]) if by else "as given",
                str(row["best_agents"]),
                _pm(
                    row["best_profit"],
                    row["best_profit_low"],
                    row["best_profit_high"],
                    plots.MONEY,
                ),
                _agents(row["runner_up"]),
                _agents(row["goal_agents"]) if np.isfinite(row["goal_agents"]) else "none swept",
                (f"{smallest} or fewer" if goal_all == smallest else _agents(goal_all))
                if np.isfinite(goal_all)
                else "none swept",
            )
        )
    blocks.append(Table(header, tuple(rows), frozenset(range(1, len(header)))))
    blocks += _staffing_verdicts(answer, table, by, target)
    blocks += _staffing_detail(table, answer, by, target, horizon)
    return blocks


def _staffing_verdicts(
    answer: pd.DataFrame, table: pd.DataFrame, by: str | None, target: Any
) -> list[Block]:
    """Sentences on the answer: how it differs from 80/20, and every warning."""
    out: list[Block] = []
    standard = f"80/{_value(target)}"
    more, fewer, same, none = [], [], [], []
    for row in answer.to_dict("records"):
        where = f"at fill rate {_value(row[by])}" if by else "here"
        best, needed = row["best_agents"], row["goal_agents"]
        if not np.isfinite(needed):
            none.append(f"{best} agents {where}")
        elif best > needed:
            more.append(f"{best} agents {where} ({best - needed:.0f} more than {needed:.0f})")
        elif best < needed:
            fewer.append(f"{best} agents {where} ({needed - best:.0f} fewer than {needed:.0f})")
        else:
            same.append(f"{best} agents {where}")
    sentences = []
    if more:
        sentences.append(
            f"Profit is highest with more agents than {standard} needs: {'; '.join(more)}. The "
            "extra agents cost less than the customers that calls waiting past their patience "
            "would drive away."
        )
    if fewer:
        sentences.append(
            f"Profit is highest with fewer agents than {standard} needs: {'; '.join(fewer)}. "
            "Meeting the standard costs more in agents than the customers it keeps are worth."
        )
    if same:
        sentences.append(
            f"The most profitable staffing is also the fewest meeting {standard}: "
            f"{'; '.join(same)}."
        )
    if none:
        sentences.append(
            f"No swept staffing meets {standard} in every month; the most profitable is "
            f"{'; '.join(none)}."
        )
    out.append(Paragraph(" ".join(sentences)))
    for row in answer.to_dict("records"):
        where = f"fill rate {_value(row[by])}" if by else "this sweep"
        if row["at_edge"]:
            out.append(
                Paragraph(
                    f"**Warning:** at {where} the most profitable staffing ({row['best_agents']} "
                    f"agents) is the {row['at_edge']} number of agents swept: the optimum may lie "
                    "outside the sweep. Widen the sweep before reading it as the answer."
                )
            )
    close = [
        _value(row[by]) if by else "this sweep"
        for row in answer.to_dict("records")
        if row["overlap"]
    ]
    if close:
        out.append(
            Paragraph(
                f"The confidence intervals of the best and the next best staffing overlap "
                f"({'fill rate ' if by else ''}{', '.join(close)}): the profit is flat near the "
                "optimum, and more replicates would tell them apart."
            )
        )
    unstable = table[table["unstable_months"] > 0]
    if len(unstable):
        cases = [
            (f"fill rate {_value(r[by])}, " if by else "")
            + f"{r['agents']:.0f} agents: {r['unstable_months']:.1f} months per run"
            for r in unstable.to_dict("records")
        ]
        out.append(
            Paragraph(
                "**Unstable queue:** the month's traffic reached the agents (calls arrived at "
                "least as fast as they could be answered), so every call of those months waited "
                f"past the callers' patience and was a bad experience. {'; '.join(cases)}."
            )
        )
    else:
        out.append(
            Paragraph("No month had an unstable queue (traffic at or above the agents) in any run.")
        )
    return out


def _staffing_detail(
    table: pd.DataFrame, answer: pd.DataFrame, by: str | None, target: Any, horizon: int
) -> list[Block]:
    """Per number of agents (rows) and fill rate (column pairs): profit and the worst month."""
    groups = list(pd.unique(table[by])) if by else [None]
    best = dict(zip(answer[by] if by else [None], answer["best_agents"], strict=True))
    header = ["agents"]
    for g in groups:
        prefix = f"fill rate {_value(g)}: " if by else ""
        header += [
            f"{prefix}discounted profit to month {horizon}",
            f"{prefix}answered in {_value(target)} s, worst month",
        ]
    rows = []
    for agents in sorted(pd.unique(table["agents"])):
        cells = [f"{agents:.0f}"]
        for g in groups:
            one = table[(table["agents"] == agents) & ((table[by] == g) if by else True)]
            if one.empty:
                cells += ["-", "-"]
                continue
            r = one.iloc[0]
            profit = _pm(
                r["discounted_profit"],
                r["discounted_profit_low"],
                r["discounted_profit_high"],
                plots.MONEY,
            )
            if agents == best[g]:
                profit = f"**{profit}**"
            cells += [profit, _pm(r["answered_worst_month"], np.nan, np.nan, plots.SHARE)]
        rows.append(tuple(cells))
    return [
        Table(tuple(header), tuple(rows), frozenset(range(len(header)))),
        Paragraph(
            "Per number of agents: the mean cumulative discounted profit (the highest in bold) "
            f"and the share of calls answered within {_value(target)} s in the worst month."
        ),
    ]


def _contact_centre_blocks(
    timeseries: pd.DataFrame, manifest: Mapping[str, Any], horizon: int
) -> list[Block]:
    """Without a sweep over agents: each contact centre's service level over the run."""
    rows_out = []
    names = plots.firm_names(manifest, timeseries)
    share = answered_share(timeseries).reset_index()
    for firm in names:
        rows = timeseries[(timeseries["firm"] == firm) & (timeseries["step"] > 0)]
        if rows.empty or rows["answered_within_target"].isna().all():
            continue
        runs = (
            share[share["firm"] == firm]["answered_all"]
            if "firm" in share
            else share["answered_all"]
        )
        worst = rows.groupby("step")["answered_within_target"].mean().min()
        unstable = rows.groupby("run_id" if "run_id" in rows else "firm")["queue_unstable"].sum()
        rows_out.append(
            (
                firm,
                _pm(runs.mean(), np.nan, np.nan, plots.SHARE),
                _pm(worst, np.nan, np.nan, plots.SHARE),
                f"{rows['mean_wait_seconds'].mean():.1f}"
                if rows["mean_wait_seconds"].notna().any()
                else "-",
                f"{unstable.mean():.1f}",
                money(rows["staffing_cost"].mean()),
            )
        )
    return [
        Table(
            (
                "firm",
                "calls answered within target",
                "worst month",
                "mean wait (s)",
                "months with an unstable queue, per run",
                "staffing cost per month",
            ),
            tuple(rows_out),
            frozenset(range(1, 6)),
        ),
        Paragraph(
            f"Over months 1 to {horizon}, means over the runs. Sweep "
            "`firms.<i>.contact_centre.agents` (and `firms.<i>.inventory.fill_rate`) to find the "
            "profit-maximising staffing."
        ),
    ]


def _caption(name: str, g: plots.Grouping, metric_titles: Mapping[str, str]) -> tuple[str, str]:
    """Title and caption of a figure by its file stem."""
    band = f"mean and t-based {CONFIDENCE:.0%} confidence band over replicates"
    per = f"per {g.title}"
    if name == "customers_and_revenue":
        return (
            "Customers and revenue per firm",
            f"Customers (end of month) and monthly revenue of each firm: {band}.",
        )
    if name == "retention":
        return (
            "How long customers stay",
            "The share of the month-0 customers still with the firm (cohort retention) and the "
            f"number of customers, month by month, {per}: {band}.",
        )
    if name == "revenue_and_profit":
        return (
            f"What each {g.title} earns, and when it pays off",
            f"Monthly revenue and cumulative (undiscounted) profit, {per}: {band}. A large "
            f"marker and a dotted line mark the month from which a series' cumulative profit "
            f"stays at or above {g.labels[0]}'s; the legend gives it.",
        )
    if name == "ladder":
        return (
            "The ladder chart",
            "One bar "
            + per
            + ": the share of month-0 customers still there after 12 months and at the horizon, "
            "the CLV per initial customer and the cumulative discounted profit, with 95% "
            "confidence intervals; the most profitable bar is outlined.",
        )
    if name == "flows":
        return (
            "Where customers come from and why they leave",
            f"Joiners (marketing, referral, switching in) above zero and leavers (after a bad "
            f"experience, attrition) below, people per month, {per}; means over replicates, net "
            f"change as a black line. Each panel has its own scale.",
        )
    if name.startswith("map_"):
        title = metric_titles.get(name, "Two-parameter map")
        return (
            title,
            f"{title}: each cell the mean over replicates ± the half-width of its 95% "
            "confidence interval, averaged over the other swept parameters.",
        )
    if name.startswith("scatter_"):
        return (
            "The outcome against each swept parameter",
            "One dot per parameter point (its mean over replicates), against each swept key in "
            "turn; the other keys vary too, so the spread at one value is their effect.",
        )
    return name, name


def report_blocks(
    results: Results,
    figure_names: Sequence[str],
    *,
    by: str | None = None,
    metrics: Sequence[str] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> list[Block]:
    """The report's content for a results folder whose figures are ``figure_names``.

    Args:
        results: a `sim.store.Results` (``path``, ``manifest``, ``runs``, ``timeseries``).
        figure_names: the figures saved in ``figures/`` (stems, in reading order).
        by, metrics, fixed: as given to `sim.plots.figures_for`.
    """
    manifest = results.manifest or {}
    timeseries, runs = results.timeseries, results.runs
    scenario = manifest.get("scenario") or {}
    head = scenario.get("scenario") or {}
    name = head.get("name") or Path(results.path).name
    blocks: list[Block] = [Heading(f"{name}: results", 1)]
    if head.get("description"):
        blocks.append(Paragraph(head["description"]))
    facts = [f"Results folder `{Path(results.path).name}`"]
    if manifest.get("command"):
        facts.append(f"written by `{manifest['command']}`")
    if manifest.get("created_at"):
        facts.append(f"on {manifest['created_at']}")
    status = manifest.get("status")
    git = manifest.get("git") or {}
    text = " ".join(facts) + (f"; status **{status}**." if status else ".")
    if git.get("commit"):
        text += f" Code at git commit `{git['commit'][:10]}`" + (
            " (with uncommitted changes)." if git.get("dirty") else "."
        )
    blocks.append(Paragraph(text))
    note = plots.runs_note(results)
    if note:
        blocks.append(
            Paragraph(
                f"**Missing runs: {note}.** The figures and tables use the runs that finished."
            )
        )
        failed = runs[runs["status"] == "failed"] if "status" in runs else runs.iloc[0:0]
        if len(failed):
            keys = [k for k in manifest.get("swept_keys") or [] if k in failed.columns]
            listed = failed.head(MAX_FAILED_LISTED)
            blocks.append(
                Table(
                    ("run", *keys, "error"),
                    tuple(
                        (
                            str(r["run_id"]),
                            *(_value(r[k]) for k in keys),
                            str(r.get("error", "")).splitlines()[0][:160]
                            if str(r.get("error", ""))
                            else "",
                        )
                        for r in listed.to_dict("records")
                    ),
                )
            )
            if len(failed) > MAX_FAILED_LISTED:
                blocks.append(
                    Paragraph(f"… and {len(failed) - MAX_FAILED_LISTED} more in `runs.parquet`.")
                )

    blocks.append(Heading("The scenario"))
    ladder = plots.ladder_of(manifest, timeseries)
    keys = swept_keys(timeseries) if not timeseries.empty else []
    varying = [k for k in keys if timeseries[k].nunique(dropna=False) > 1]
    blocks.append(_scenario_table(scenario, ladder, varying))
    if scenario:
        blocks.append(Code("The resolved scenario, every key (JSON)", _json(scenario)))

    blocks.append(Heading("The sweep"))
    if varying:
        points = len(manifest.get("points") or []) or int(
            timeseries[varying].drop_duplicates().shape[0]
        )
        replicates = head.get("replicates", "?")
        blocks.append(
            Paragraph(
                f"{points} parameter points × {replicates} replicates. Each swept key and its "
                "values:"
            )
        )
        listed = (scenario.get("sweep") or {}) if scenario else {}
        rows = []
        for key in varying:
            values = listed.get(key) if isinstance(listed.get(key), list) else None
            if values is None:
                values = list(pd.unique(timeseries[key]))
            rows.append((f"`{key}`", plots.key_name(key), ", ".join(_value(v) for v in values)))
        blocks.append(Table(("key", "meaning", "values"), tuple(rows)))
    else:
        fixed_text = ", ".join(
            f"`{k}` = {_value(v)}" for k in keys for v in pd.unique(timeseries[k])
        )
        blocks.append(
            Paragraph(
                "One parameter point"
                + (f" ({fixed_text})" if fixed_text else "")
                + f" × {head.get('replicates', '?')} replicates; no sweep."
            )
        )

    if timeseries.empty:
        blocks.append(Heading("Summary"))
        blocks.append(Paragraph("No run finished: there is nothing to summarise or plot."))
        return blocks
    g = plots.grouping_for(timeseries, manifest, by, fixed=fixed)
    blocks.append(Paragraph(_series_text(g)))
    blocks.append(Heading(f"Summary per {g.title}"))
    blocks += _summary_blocks(timeseries, manifest, g)
    blocks += _climb_blocks(timeseries, g)
    blocks += _staffing_blocks(timeseries, manifest)

    blocks.append(Heading("Figures"))
    horizon = int(timeseries["step"].max())
    metric_titles = {}
    for metric in metrics or [plots.DEFAULT_MAP_METRIC]:
        for x, y in plots.map_pairs(timeseries, manifest):
            title = plots.outcome_label(metric, horizon)[0]
            metric_titles[plots.map_name(metric, x, y)] = (
                f"{title} by {plots.key_name(x)} and {plots.key_name(y)}"
            )
    for figure in figure_names:
        title, caption = _caption(figure, g, metric_titles)
        blocks.append(FigureBlock(figure, title, caption))
    return blocks


def _series_text(g: plots.Grouping) -> str:
    what = "the firms" if g.column == "firm" else f"the values of `{g.column}`"
    text = f"Tables and figures compare {what}, in this order: {', '.join(g.labels)}."
    if g.note:
        text += f" Series: {g.note}."
    return text


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, default=str)


# --------------------------------------------------------------------------------------------
# The entry point.


def write_report(
    results: Results,
    *,
    by: str | None = None,
    metrics: Sequence[str] | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Draw and save every figure of a results folder and write ``report.md`` and ``report.html``.

    Args:
        results: a results folder's path, or a `sim.store.Results`.
        by: what a series is (`sim.plots.grouping_for`): ``"firm"`` or a swept key.
        metrics: outcomes for the two-parameter maps (`sim.summary.outcome_names`).
        fixed: swept keys to hold at one value.

    Returns:
        The files written: ``figures/<name>.png`` and ``.svg`` for each figure, then
        ``report.md`` and ``report.html``.

    Raises:
        FileNotFoundError: not a results folder.
        ValueError: ``by``, a metric or a fixed key is unknown (checked before anything is
            written).
    """
    if isinstance(results, str | Path):
        from sim.store import load_results

        results = load_results(results)
    folder = Path(results.path)
    with outcomes_kept():  # the figures and the tables ask for the same runs' outcomes
        figures = plots.figure_makers(results, by=by, metrics=metrics, fixed=fixed)
        written, blocks = draw_figures(
            figures,
            folder / FIGURES,
            lambda: report_blocks(results, list(figures), by=by, metrics=metrics, fixed=fixed),
        )
    paths = [folder / FIGURES / f"{name}.{fmt}" for name in figures for fmt in FORMATS]
    title = next((b.text for b in blocks if isinstance(b, Heading)), "results")
    write_bytes_atomic(folder / REPORT_MD, to_markdown(blocks).encode("utf-8"))
    images = {name: data["png"] for name, data in written.items()}
    write_bytes_atomic(folder / REPORT_HTML, to_html(blocks, images, title).encode("utf-8"))
    return [*paths, folder / REPORT_MD, folder / REPORT_HTML]


# --------------------------------------------------------------------------------------------
# The report of an exploration (`sim.explore.analyse` calls it).


def format_number(value: Any, kind: str) -> str:
    """A number with `sim.formatting` by kind (`sim.plots` money, share or people)."""
    from sim import formatting

    if value is None:
        return formatting.MISSING
    if kind == plots.SHARE:
        return formatting.share(value)
    if kind == plots.MONEY:
        return formatting.money(value)
    return formatting.count(value)


def _index(value: Any, conf: Any) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.2f} ± {conf:.2f}" if conf is not None and np.isfinite(conf) else f"{value:.2f}"


def explore_blocks(
    path: Path,
    analysis: Mapping[str, Any],
    manifest: Mapping[str, Any],
    figure_names: Sequence[str],
) -> list[Block]:
    """The report's content for an exploration: the design, the choice, what decides it."""
    scenario = manifest.get("scenario") or {}
    head = scenario.get("scenario") or {}
    explore = (manifest.get("scenario_input") or {}).get("explore") or {}
    horizon = int(head.get("months", 0))
    title, _, kind = plots.outcome_label(analysis["outcome"], horizon)
    blocks: list[Block] = [
        Heading(f"{head.get('name', path.name)}: which choice, in which future", 1)
    ]
    if head.get("description"):
        blocks.append(Paragraph(head["description"]))
    text = f"Results folder `{path.name}`"
    if manifest.get("command"):
        text += f", written by `{manifest['command']}`"
    git = manifest.get("git") or {}
    if git.get("commit"):
        text += f" at git commit `{git['commit'][:10]}`" + (" (dirty)" if git.get("dirty") else "")
    blocks.append(Paragraph(text + f"; status **{manifest.get('status', '?')}**."))

    blocks.append(Heading("The exploration"))
    blocks.append(
        Paragraph(
            f"Design **{analysis['design']}** (N = {analysis['samples']}): "
            f"{analysis['futures']} futures × {len(analysis['lever_values'])} choices × "
            f"{analysis['replicates']} replicates = {analysis['runs']} runs. Every choice is run "
            "in every future with the same seeds, so choices are compared within a future. "
            f"Outcome: {title.lower()} of firm {analysis['firm']} (`{analysis['outcome']}`), "
            "each future's value the mean of its replicates."
        )
    )
    rows = []
    for key, values in (explore.get("levers") or {}).items():
        rows.append(("lever", f"`{key}`", plots.key_name(key), ", ".join(map(_value, values))))
    for key, value in (explore.get("uncertainties") or {}).items():
        drawn = (
            f"uniform on [{_value(value[0])}, {_value(value[1])}]"
            if isinstance(value, list)
            else _value(value)
        )
        rows.append(("uncertainty", f"`{key}`", plots.key_name(key), drawn))
    blocks.append(Table(("kind", "key", "meaning", "values"), tuple(rows)))

    blocks.append(Heading("Which choice wins"))
    from sim.explore import summary_text

    blocks.append(Paragraph(summary_text(analysis)[0] + "."))
    blocks.append(
        Table(
            ("choice", "mean", "5%", "median", "95%", "best in", "mean regret", "largest regret"),
            tuple(
                (
                    str(r["lever"]),
                    *(format_number(r[c], kind) for c in ("mean", "p05", "p50", "p95")),
                    format_number(r["win_share"], plots.SHARE),
                    format_number(r["mean_regret"], kind),
                    format_number(r["max_regret"], kind),
                )
                for r in analysis["levers"]
            ),
            numeric=frozenset(range(1, 8)),
        )
    )
    blocks.append(
        Paragraph(
            "Regret in a future is the best choice's outcome there minus the choice's own; the "
            f"minimax-regret choice, **{analysis['minimax_regret']}**, has the smallest largest "
            "regret: the choice a manager who wants never to be far from the best would make."
        )
    )

    blocks.append(Heading("What decides it"))
    from sim.explore import sensitivity_frame

    sensitivity = sensitivity_frame(analysis)
    method = analysis["method"]
    for group in [*analysis["differences"], *analysis["lever_values"]]:
        rows_of = sensitivity[sensitivity["lever"] == group]
        if rows_of.empty:
            continue
        noise = rows_of["noise_share"].iloc[0]
        noise_text = (
            f" Simulation noise is {format_number(noise, plots.SHARE)} of its variance across "
            "futures (replicates within a future against the spread across futures)."
            if noise is not None and np.isfinite(noise)
            else " With one replicate, noise cannot be told apart from influence."
        )
        what = "the difference" if group in analysis["differences"] else "the outcome"
        blocks.append(Paragraph(f"**{group}**: {what}.{noise_text}"))
        if method == "morris":
            header: tuple[str, ...] = ("uncertainty", "mu*", "mu* interval ±", "sigma")
            cells: tuple[tuple[str, ...], ...] = tuple(
                (
                    plots.key_name(r["uncertainty"]),
                    format_number(r["mu_star"], kind),
                    format_number(r["mu_star_conf"], kind),
                    format_number(r["sigma"], kind),
                )
                for r in rows_of.sort_values("mu_star", ascending=False).to_dict("records")
            )
        else:
            order = "ST" if method == "sobol" else "S1"
            header = ("uncertainty", "first order S1", "total order ST")
            cells = tuple(
                (
                    plots.key_name(r["uncertainty"]),
                    _index(r["S1"], r["S1_conf"]),
                    _index(r["ST"], r["ST_conf"]),
                )
                for r in rows_of.sort_values(order, ascending=False).to_dict("records")
            )
        blocks.append(Table(header, cells, numeric=frozenset(range(1, len(header)))))
    blocks.append(
        Paragraph(
            f"Intervals are {CONFIDENCE:.0%} bootstrap intervals (SALib). An index whose interval "
            "reaches zero, or one smaller than the noise share, is not evidence of influence."
        )
    )

    regions = analysis.get("win_regions") or []
    if regions:
        a, b = analysis["decisive"]
        blocks.append(Heading("Where each choice wins"))
        blocks.append(
            Paragraph(
                "The futures in thirds of the two uncertainties that most decide the choice, "
                "and the choice that is best in most of each ninth:"
            )
        )
        blocks.append(
            Table(
                (plots.key_name(a), plots.key_name(b), "best choice", "best in", "futures"),
                tuple(
                    (
                        f"{r[a][0]:.3g} to {r[a][1]:.3g}",
                        f"{r[b][0]:.3g} to {r[b][1]:.3g}",
                        str(r["winner"]),
                        format_number(r["share"], plots.SHARE),
                        str(r["futures"]),
                    )
                    for r in regions
                ),
                numeric=frozenset({3, 4}),
            )
        )

    captions = {
        "explore_levers": ("Each choice across futures", "Outcome range and regret per choice."),
        "explore_sensitivity": (
            "What decides the choice",
            "Sensitivity indices of the differences between choices.",
        ),
        "explore_sensitivity_levers": (
            "What each choice's outcome depends on",
            "Sensitivity indices of each choice's outcome.",
        ),
        "explore_win_map": ("Where each choice wins", "The best choice in every future."),
    }
    for name in figure_names:
        blocks.append(FigureBlock(name, *captions.get(name, (name, ""))))
    if scenario:
        blocks.append(Code("The resolved scenario, every key (JSON)", _json(scenario)))
    return blocks


def write_explore_report(
    path: str | Path,
    analysis: Mapping[str, Any],
    means: np.ndarray,
    futures: pd.DataFrame,
    won: Sequence[str],
    scenario: Any,
) -> list[Path]:
    """Draw an exploration's figures and write its ``report.md`` and ``report.html``.

    Args:
        path: the results folder.
        analysis: `sim.explore.analyse`'s dictionary.
        means: ``means[future, lever value]``.
        futures: the futures' uncertainty values.
        won: each future's best lever value.
        scenario: the explored `sim.scenario.Scenario` (for its ladder and horizon).

    Returns:
        The files written.
    """
    from sim.store import read_manifest

    folder = Path(path)
    manifest = read_manifest(folder)
    labels = list(analysis["lever_values"])
    styles = plots.lever_styles(labels, scenario.ladder)
    from sim.explore import sensitivity_frame

    sensitivity = sensitivity_frame(analysis)
    table = pd.DataFrame(analysis["levers"])
    figures = {
        "explore_levers": plots.lever_chart(
            means, labels, table, analysis["outcome"], scenario.months, styles=styles
        ),
        "explore_sensitivity": plots.sensitivity_chart(sensitivity, analysis["differences"]),
    }
    if len(labels) <= plots.MAX_SENSITIVITY_PANELS:
        figures["explore_sensitivity_levers"] = plots.sensitivity_chart(sensitivity, labels)
    if len(analysis.get("decisive") or []) == 2:
        figures["explore_win_map"] = plots.win_map(
            futures, won, analysis["decisive"], labels, styles=styles
        )
    written = save_figures(figures, folder / FIGURES)
    blocks = explore_blocks(folder, analysis, manifest, list(figures))
    title = next((b.text for b in blocks if isinstance(b, Heading)), "exploration")
    write_bytes_atomic(folder / REPORT_MD, to_markdown(blocks).encode("utf-8"))
    images = {name: data["png"] for name, data in written.items()}
    write_bytes_atomic(folder / REPORT_HTML, to_html(blocks, images, title).encode("utf-8"))
    paths = [folder / FIGURES / f"{name}.{fmt}" for name in figures for fmt in FORMATS]
    return [*paths, folder / REPORT_MD, folder / REPORT_HTML]
