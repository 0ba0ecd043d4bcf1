"""The report of a results folder: ``figures/*.png|svg``, ``report.md`` and ``report.html``.

`write_report` is what ``retention-sim plot DIR`` (and ``run``) call: it reads the folder, draws
every figure that suits it (`sim.plots.figures_for`), saves each as PNG and SVG into
``DIR/figures/`` and writes two reports with the same content:

- ``report.md``: the scenario, the sweep, a summary table per rung (customers, cohort retention
  at 12 and 60 months and at the horizon, revenue, CLV, discounted profit, break-even month, the
  best rung by discounted profit; `sim.summary.rung_table`), when the results have a contact
  centre a "Staffing" section (per fill rate, the profit-maximising agents against the fewest
  meeting the 80/20 standard, with a warning when the optimum is at the edge of the sweep or a
  queue was unstable; `sim.summary.staffing_table`), and every figure, linked as
  ``figures/<name>.png``;
- ``report.html``: the same, self-contained: the figures are embedded as base64 PNG and the
  style sheet is inline, so it opens anywhere with nothing fetched.

Both are built from one list of blocks (headings, paragraphs, tables, figures, code), rendered
twice, so they cannot drift apart. Files are written atomically (temporary file, then rename).

What does not live here: the statistics (`summary.py`), drawing (`plots.py`), reading the
folder (`store.py`), the command line (`cli.py`).
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import plots
from sim.formatting import interval
from sim.summary import (
    CONFIDENCE,
    RETENTION_MONTHS,
    SERVICE_GOAL,
    answered_share,
    best_by_condition,
    rung_table,
    staffing_answer,
    staffing_keys,
    staffing_table,
    swept_keys,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES = "figures"
FORMATS = ("png", "svg")
DPI = 150
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


def _write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; these are for sharing
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def figure_bytes(figure: Any, fmt: str, dpi: int | None = None) -> bytes:
    """A matplotlib Figure rendered to PNG or SVG bytes (Agg, no pyplot); default dpi `DPI`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi or DPI)
    return buffer.getvalue()


def save_figures(
    figures: Mapping[str, Any], folder: str | Path, formats: Sequence[str] = FORMATS
) -> dict[str, dict[str, bytes]]:
    """Save each figure as ``<folder>/<name>.<format>``; return the bytes written, by name.

    The folder is created if needed; existing files of the same names are replaced.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, bytes]] = {}
    for name, figure in figures.items():
        written[name] = {}
        for fmt in formats:
            data = figure_bytes(figure, fmt)
            _write_atomic(folder / f"{name}.{fmt}", data)
            written[name][fmt] = data
    return written


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
        ("monthly discount rate", get(finance, "finance.discount_rate")),
    ]
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


def _number(value: float, kind: str) -> str:
    if kind == plots.SHARE:
        return f"{100 * value:.1f}%"
    return f"{value:,.0f}"


def _pm(mean: float, low: float, high: float, kind: str) -> str:
    """``mean ± half-width`` in the table's format: shares to 0.1 %, the rest to units."""
    if mean is None or not np.isfinite(mean):
        return "-"
    text = _number(mean, kind)
    if np.isfinite(high):
        text += f" ± {_number(high - mean, kind)}"
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
                f"{rows['staffing_cost'].mean():,.0f}",
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
    return name, name


def report_blocks(
    results: Any,
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
    blocks += _staffing_blocks(timeseries, manifest)

    blocks.append(Heading("Figures"))
    horizon = int(timeseries["step"].max())
    metric_titles = {}
    for metric in metrics or [plots.DEFAULT_MAP_METRIC]:
        for x, y in plots.map_pairs(timeseries):
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
    results: Any,
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
    figures = plots.figures_for(results, by=by, metrics=metrics, fixed=fixed)
    blocks = report_blocks(results, list(figures), by=by, metrics=metrics, fixed=fixed)
    written = save_figures(figures, folder / FIGURES)
    paths = [folder / FIGURES / f"{name}.{fmt}" for name in figures for fmt in FORMATS]
    title = next((b.text for b in blocks if isinstance(b, Heading)), "results")
    _write_atomic(folder / REPORT_MD, to_markdown(blocks).encode("utf-8"))
    images = {name: data["png"] for name, data in written.items()}
    _write_atomic(folder / REPORT_HTML, to_html(blocks, images, title).encode("utf-8"))
    return [*paths, folder / REPORT_MD, folder / REPORT_HTML]
