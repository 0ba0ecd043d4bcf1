"""The workshop app: watch customers stay or leave as firms move up and down the service ladder.

Started by ``retention-sim app`` (a Solara server on 127.0.0.1:8765 by default); in Jupyter, show
`Page` in a cell. It is built on Mesa's `SolaraViz`, which owns the model and draws the play, step
and reset buttons; everything else on the page is drawn here:

- the settings (sidebar): ladder, side by side or competing, number of firms, churn rule and leave
  probability, referral probability, market size, months, the rung recognised in month 0, seed;
- one card per firm with its rung (a slider up the ladder), what it delivers and what the market
  recognises, and its numbers this month;
- the individual people as dots coloured by what happened to them this month (delighted, met, bad
  experience, no contact, joined, left, prospect, away), one grid per market;
- live plots of customers, monthly revenue and cumulative profit per firm;
- the ladder as a table, and downloads of the run as CSV and of the plots as PNG.

SolaraViz displays one model, so the comparison is a small model of its own: `WorkshopModel` steps
two or more markets together with the same seed ("the same market at different rungs", every market
starting from the same people), or one market with several competing firms. Each market is the
readable agent engine (`sim.model.RetentionModel`), at workshop sizes (a month per frame at 2,000
people per market). Any change of a setting starts a new model at month 0 with the new settings.

What happened to each person this month is not part of the model's frame, so `WatchedMarket`
records it: each person notes the outcome of its latest experience (`Person.outcome` and
`Person.outcome_month`), and the market compares everybody's status before and after each month.

What does not live here: the rules (`rules.py`), the engines (`model.py`, `population.py`), the
figures of results folders (`plots.py`).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before solara is imported (Mesa trips it)

import mesa
import numpy as np
import pandas as pd
import PIL.Image
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim import rules
from sim.ladder import BUILTIN_LADDERS, Ladder, get_ladder
from sim.model import RetentionModel
from sim.plots import COLOURS, LINE_STYLES, MARKERS
from sim.scenario import CHURN_RULES, Scenario, load_scenario

# --------------------------------------------------------------------------------------------
# Settings and the comparison model (no Solara needed).

SIDE_BY_SIDE = "side_by_side"  # the same market (same seed) once per firm, each alone in it
COMPETING = "competing"  # one market, the firms compete for the same people
LAYOUTS = (SIDE_BY_SIDE, COMPETING)
LAYOUT_LABELS = {SIDE_BY_SIDE: "Same market, side by side", COMPETING: "Competing in one market"}
CHURN_LABELS = {"fixed": "91% rule", "tarp": "TARP complaints", "strikes": "Strikes"}
FIRM_LETTERS = "ABC"
AS_DELIVERED = "the rung delivered"
MAX_FIRMS = len(FIRM_LETTERS)

# What happened to a person this month: the dots' categories, in legend order.
DELIGHTED, MET, BAD, QUIET, JOINED, LEFT, PROSPECT, AWAY = range(8)
CATEGORIES = ("delighted", "met", "bad", "no contact", "joined", "left", "prospect", "away")
CATEGORY_HELP = (
    "customer, delighted this month",
    "customer, experience as expected",
    "customer, bad experience but stayed",
    "customer, no contact this month",
    "joined this month",
    "left this month",
    "prospect: can be won",
    "left earlier (away or gone)",
)
# Okabe-Ito colours for customers' outcomes; greys for people who are not customers.
CATEGORY_COLOURS = (
    "#009E73",
    "#0072B2",
    "#E69F00",
    "#A6C8E0",
    "#CC79A7",
    "#D55E00",
    "#D9D9D9",
    "#8C8C8C",
)
_OUTCOME_CATEGORY = {rules.DELIGHTED: DELIGHTED, rules.MET: MET, rules.BAD: BAD}


def default_rungs(ladder: Ladder, n: int = MAX_FIRMS) -> tuple[str, ...]:
    """The rungs firms start on: the top three of the ladder, lowest first (``good``,
    ``excellent``, ``world_class`` on the five-rung ladder), repeated if it is shorter."""
    top = ladder.ids[-3:]
    return tuple(top[i % len(top)] for i in range(n))


@dataclass(frozen=True)
class Settings:
    """What the trainer sets; every change starts a new model.

    Attributes:
        ladder: a built-in ladder name (``five``, ``six``, ``three``).
        layout: ``side_by_side`` (one market per firm, same seed) or ``competing`` (one market).
        rungs: one rung id per firm (1 to 3 firms), firm A first.
        churn_rule: ``fixed`` (the 91% rule), ``tarp`` or ``strikes``.
        leave_prob: ``fixed`` rule: chance to leave after a bad experience, 0-1.
        refer_prob: chance a delighted customer refers someone that month, 0-1.
        market_size: people per market.
        months: the horizon; one step is one month.
        seed: the run seed, shared by every market.
        monthly_fee: what each customer pays a month, the same at every firm.
        switch_prob: competing firms: chance a leaver joins a competitor at once.
        recognised_start: the rung the market recognises every firm at in month 0 ("" = the
            rung it delivers). Below the delivered rung, the firm climbs one rung at a time as
            it sustains delivery (world class: five years); it matters to prospects choosing
            between competing firms.
        overrides: further scenario keys, dotted (``(("customers.tolerance", 1.0),)``).
    """

    ladder: str = "five"
    layout: str = SIDE_BY_SIDE
    rungs: tuple[str, ...] = ("good", "excellent")
    churn_rule: str = "fixed"
    leave_prob: float = 0.91
    refer_prob: float = 0.25
    market_size: int = 2000
    months: int = 120
    seed: int = 1
    monthly_fee: float = 30.0
    switch_prob: float = 0.3
    recognised_start: str = ""
    overrides: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def ladder_obj(self) -> Ladder:
        return get_ladder(self.ladder)

    def with_ladder(self, name: str) -> Settings:
        """These settings on another ladder; the firms move to that ladder's default rungs."""
        return replace(
            self,
            ladder=name,
            rungs=default_rungs(get_ladder(name), len(self.rungs)),
            recognised_start="",
        )

    def with_firms(self, n: int) -> Settings:
        """With ``n`` firms (1-3): new firms take the default rung for their position."""
        n = max(1, min(MAX_FIRMS, int(n)))
        defaults = default_rungs(self.ladder_obj, MAX_FIRMS)
        return replace(self, rungs=tuple([*self.rungs[:n], *defaults[len(self.rungs) : n]]))

    def with_rung(self, firm: int, rung: str) -> Settings:
        """Firm number ``firm`` (0 = A) on ``rung``."""
        rungs = list(self.rungs)
        rungs[firm] = rung
        return replace(self, rungs=tuple(rungs))

    def firm_label(self, firm: int) -> str:
        """``"A · Good"``: the firm's letter and its rung's label."""
        ladder = self.ladder_obj
        return f"{FIRM_LETTERS[firm]} · {ladder[ladder.index(self.rungs[firm])].label}"

    def scenario_doc(self, firms: Sequence[int]) -> dict[str, Any]:
        """The scenario (as a dict for `load_scenario`) of one market holding ``firms``."""
        return {
            "scenario": {
                "name": "workshop",
                "months": self.months,
                "replicates": 1,
                "seed": self.seed,
                "ladder": self.ladder,
                "engine": "agents",
            },
            "market": {"size": self.market_size},
            "churn": {
                "rule": self.churn_rule,
                "leave_prob": self.leave_prob,
                "switch_prob": self.switch_prob if len(firms) > 1 else 0.0,
            },
            "referrals": {"refer_prob": self.refer_prob},
            "firms": [
                {
                    "name": FIRM_LETTERS[i],
                    "service_level": self.rungs[i],
                    "monthly_fee": self.monthly_fee,
                    **(
                        {"recognised_start": self.recognised_start} if self.recognised_start else {}
                    ),
                }
                for i in firms
            ],
        }

    def scenarios(self) -> list[Scenario]:
        """One validated scenario per market: one per firm side by side, or one in all."""
        groups = (
            [[i] for i in range(len(self.rungs))]
            if self.layout == SIDE_BY_SIDE
            else [list(range(len(self.rungs)))]
        )
        overrides = dict(self.overrides) or None
        return [
            load_scenario(self.scenario_doc(g), overrides, source_name="workshop settings")
            for g in groups
        ]


class WatchedMarket(RetentionModel):
    """The agent engine, plus what happened to each person in the latest month.

    Attributes:
        categories: per person, the dots' category of the latest month (`CATEGORIES`).
        person_firm: per person, the index of the firm they are a customer of, or left this
            month (-1 for nobody).
    """

    def __init__(self, scenario: Scenario, seed: int):
        super().__init__(scenario, seed)
        # No agent is created after this, so Mesa 3.3's class-level reference to the model can go
        # now (otherwise every reset would keep its markets alive).
        self.release()
        n = len(self.people)
        self.categories = np.full(n, PROSPECT, dtype=np.int8)
        self.person_firm = np.full(n, -1, dtype=np.int8)
        for i, person in enumerate(self.people):
            if person.status == rules.CUSTOMER:
                self.categories[i] = QUIET
                self.person_firm[i] = person.firm.index

    def step(self) -> None:
        """One month, then each person's category for it."""
        before = [(p.status, p.firm) for p in self.people]
        super().step()
        t = self.steps
        categories, person_firm = self.categories, self.person_firm
        for i, (person, (status, firm)) in enumerate(zip(self.people, before, strict=True)):
            now = person.status
            if status == rules.CUSTOMER and (now != rules.CUSTOMER or person.firm is not firm):
                categories[i], person_firm[i] = LEFT, firm.index
            elif now == rules.CUSTOMER:
                person_firm[i] = person.firm.index
                if status != rules.CUSTOMER:
                    categories[i] = JOINED
                elif person.outcome_month == t:
                    categories[i] = _OUTCOME_CATEGORY[person.outcome]
                else:
                    categories[i] = QUIET
            else:
                categories[i] = PROSPECT if now == rules.PROSPECT else AWAY
                person_firm[i] = -1


class WorkshopModel(mesa.Model):
    """The model SolaraViz shows: one market per firm side by side, or one competing market.

    All markets share the seed, so side by side they start from the same people (the same
    expectations, the same initial customers): only the rung differs.

    Args:
        settings: the settings, or a holder of them with a ``value`` attribute (a
            ``solara.Reactive``), read when the model is made; default: `Settings()`.
    """

    def __init__(self, settings: Settings | Any = None):
        settings = getattr(settings, "value", settings) or Settings()
        super().__init__(rng=settings.seed)
        self.settings = settings
        self.markets = [WatchedMarket(sc, settings.seed) for sc in settings.scenarios()]
        # series: (market index, firm index within it, firm number 0 = A)
        if settings.layout == SIDE_BY_SIDE:
            self.series = [(i, 0, i) for i in range(len(self.markets))]
        else:
            self.series = [(0, i, i) for i in range(len(settings.rungs))]
        self.labels = [settings.firm_label(k) for _, _, k in self.series]
        self._frame: tuple[int, pd.DataFrame] | None = None
        self.running = settings.months > 0

    @property
    def month(self) -> int:
        """The months run so far (0 before the first step)."""
        return self.markets[0].steps

    def step(self) -> None:
        """One month in every market; stops (``running`` False) at the horizon."""
        if self.month >= self.settings.months:
            self.running = False
            return
        for market in self.markets:
            market.step()
        self.running = self.month < self.settings.months

    def frame(self) -> pd.DataFrame:
        """The monthly rows so far (months 0 to `month`), with the firm's label in ``series``."""
        if self._frame is not None and self._frame[0] == self.month:
            return self._frame[1]
        pieces = []
        for m, market in enumerate(self.markets):
            rows = market.frame()
            rows = rows[rows["step"] <= self.month].copy()
            rows.insert(0, "market", m)
            pieces.append(rows)
        frame = pd.concat(pieces, ignore_index=True)
        labels = {
            (m, self.markets[m].scenario.firms[f].name): label
            for (m, f, _), label in zip(self.series, self.labels, strict=True)
        }
        frame.insert(
            1, "series", [labels[k] for k in zip(frame["market"], frame["firm"], strict=True)]
        )
        frame["cumulative_profit"] = frame.groupby("series", sort=False)["profit"].cumsum()
        self._frame = (self.month, frame)
        return frame

    def firm_status(self, k: int) -> dict[str, Any]:
        """The numbers on firm ``k``'s card: this month's customers, retention, cumulative
        profit, delivered and recognised rung, and months until the next rung is recognised."""
        m, f, _ = self.series[k]
        market = self.markets[m]
        firm = market.firm_agents[f]
        ladder = firm.firms.ladder
        rows = self.frame()
        rows = rows[rows["series"] == self.labels[k]]
        last = rows.iloc[-1]
        nxt = firm.recognised + 1
        wait = None
        if nxt < len(ladder) and firm.delivered >= nxt:
            wait = max(ladder[nxt].sustain_months - firm.streaks[nxt], 0)
        return {
            "label": self.labels[k],
            "customers": int(last["customers"]),
            "retention": float(last["retention_rate"]),
            "cumulative_profit": float(last["cumulative_profit"]),
            "delivered": ladder[firm.delivered].label,
            "recognised": ladder[firm.recognised].label,
            "next": ladder[nxt].label if wait is not None else None,
            "months_to_next": wait,
        }


# --------------------------------------------------------------------------------------------
# Figures: the model in, matplotlib Figures out (no pyplot, no global state).

FONT = 15


def _money(value: float, _pos: int = 0) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def plots_figure(model: WorkshopModel, dpi: int = 80, legend: bool = False) -> Figure:
    """Customers, monthly revenue and cumulative profit per firm, three panels in a row.

    Args:
        model: the model, at any month.
        dpi: resolution of the figure (it is 18 x 4 inches).
        legend: whether to name the firms in the figure (the page shows their colours on the
            firm cards instead).
    """
    frame = model.frame()
    fig = Figure(figsize=(18, 4.0), dpi=dpi)  # fixed margins: a layout engine costs every frame
    axes = fig.subplots(
        1, 3, gridspec_kw={"left": 0.06, "right": 0.99, "bottom": 0.16, "top": 0.89, "wspace": 0.22}
    )
    panels = (
        ("customers", "Customers", "people", _thousands),
        ("revenue", "Monthly revenue", "per month", _money),
        ("cumulative_profit", "Cumulative profit", "since month 0", _money),
    )
    horizon = max(model.settings.months, 1)
    for ax, (column, title, unit, fmt) in zip(axes, panels, strict=True):
        for k, label in enumerate(model.labels):
            rows = frame[frame["series"] == label]
            if column == "revenue":
                rows = rows[rows["step"] >= 1]
            ax.plot(
                rows["step"].to_numpy(),
                rows[column].to_numpy(dtype=float),
                color=COLOURS[k % len(COLOURS)],
                linestyle=LINE_STYLES[k % len(LINE_STYLES)],
                linewidth=3,
                label=label,
            )
            if len(rows):
                ax.plot(
                    rows["step"].iloc[-1],
                    float(rows[column].iloc[-1]),
                    marker=MARKERS[k % len(MARKERS)],
                    markersize=10,
                    color=COLOURS[k % len(COLOURS)],
                )
        ax.set_title(title, fontsize=FONT + 4, loc="left")
        ax.set_xlabel("month", fontsize=FONT)
        ax.set_ylabel(unit, fontsize=FONT)
        ax.set_xlim(0, horizon)
        ax.tick_params(labelsize=FONT - 1)
        ax.yaxis.set_major_formatter(FuncFormatter(fmt))
        ax.grid(True, alpha=0.3)
        if column != "cumulative_profit":
            ax.set_ylim(bottom=0)
        else:
            ax.axhline(0, color="black", linewidth=1)
    if model.month == 0:
        axes[1].text(
            0.5, 0.5, "press Step or Play", transform=axes[1].transAxes, ha="center", fontsize=FONT
        )
    if legend:
        fig.legend(loc="upper right", ncols=len(model.labels), fontsize=FONT, frameon=False)
    return fig


def _thousands(value: float, _pos: int = 0) -> str:
    return f"{value:,.0f}"


def _grid_shape(n: int, aspect: float) -> tuple[int, int]:
    """Columns and rows of a grid holding ``n`` dots, about ``aspect`` times wider than tall."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return cols, max(1, math.ceil(n / cols))


def dots_figure(model: WorkshopModel, market: int, dpi: int = 80, width: float = 8.0) -> Figure:
    """One market's people as a grid of dots coloured by what happened to them this month.

    Each person keeps their place, so you can watch one dot change colour. In a competing market
    each firm's customers (and those who left it this month) have their own marker shape.
    """
    one = model.markets[market]
    n = len(one.people)
    aspect = 3.0
    cols, rows = _grid_shape(n, aspect)
    fig = Figure(figsize=(width, width * rows / cols), dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(-0.7, cols - 0.3)
    ax.set_ylim(rows - 0.3, -0.7)
    if n == 0:
        return fig
    idx = np.arange(n)
    x, y = idx % cols, idx // cols
    cell = width * dpi / cols  # pixels per cell
    size = (0.8 * cell * 72 / dpi) ** 2  # marker area in points^2
    competing = len(one.firm_agents) > 1
    for category in range(len(CATEGORIES)):
        chosen = one.categories == category
        if not chosen.any():
            continue
        small = category in (PROSPECT, AWAY)
        groups = (
            [(chosen, "o")]
            if small or not competing
            else [
                (chosen & (one.person_firm == f), MARKERS[f % len(MARKERS)])
                for f in range(len(one.firm_agents))
            ]
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
    with ``dpi``, through ``savefig`` at that resolution (for downloads)."""
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


def run_csv(model: WorkshopModel) -> bytes:
    """The current run as CSV: one row per month and firm, months 0 to now, every MODEL.md
    column plus ``market``, ``series`` (the firm's label) and ``cumulative_profit``."""
    return model.frame().to_csv(index=False).encode()


def plots_png(model: WorkshopModel) -> bytes:
    """The three plots as a PNG image (150 dpi)."""
    return figure_png(plots_figure(model, legend=True), dpi=150)


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
                + (f" ({r.sustain_months / 12:g} years)" * (r.sustain_months >= 24))
                for r in ladder
            ],
        }
    )


# --------------------------------------------------------------------------------------------
# The page (Solara components).

PLAY_INTERVAL_MS = 150
_MARKER_GLYPHS = ("●", "■", "▲", "◆", "▼")  # the shapes of sim.plots.MARKERS
_SVG_DASHES = ("", "12,6", "12,5,3,5")  # the plots' first line styles: solid, dashed, dash-dot

# Projector-sized type. Cards whose content is empty (Mesa's "Model Parameters": every setting
# here is in the "Market" card instead, because a change must start a new model at once) are hidden.
CSS = """
.rs-banner { font-size: 32px; font-weight: 700; }
.rs-sub { font-size: 19px; color: #333; }
.rs-nowrap { white-space: nowrap; }
.rs-card-title { font-size: 26px; font-weight: 700; margin-bottom: 2px; color: #111; }
.rs-numbers { font-size: 20px; line-height: 1.5; }
.rs-numbers b { font-size: 22px; }
.rs-legend { font-size: 19px; display: flex; flex-wrap: wrap; gap: 2px 20px; }
.rs-legend .dot { display: inline-block; width: 16px; height: 16px; border-radius: 50%;
  margin-right: 6px; vertical-align: -2px; }
.rs-table table { font-size: 18px; border-collapse: collapse; width: 100%; }
.rs-table th, .rs-table td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; }
.rs-table tr.rs-used td { background: #fff1c9; font-weight: 700; }
.rs-rung { margin: 4px 44px 26px 44px; }
.rs-rung .v-slider__tick-label { font-size: 15px; font-weight: 500; }
.rs-rung .v-slider__tick .v-slider__tick-label { transform: translateX(-50%) !important; }
@media (max-width: 1500px) {
  .rs-banner { font-size: 26px; } .rs-sub, .rs-legend { font-size: 16px; }
  .rs-card-title { font-size: 22px; } .rs-numbers { font-size: 16px; }
  .rs-numbers b { font-size: 18px; } .rs-rung .v-slider__tick-label { font-size: 13px; }
}
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection,
.v-navigation-drawer input { font-size: 17px !important; }
.v-navigation-drawer .v-card__title { font-size: 22px; }
.rs-caption { font-size: 17px; margin-top: 6px; color: rgba(0, 0, 0, 0.75); }
.v-card:has(> .v-card__text > .d-flex:empty) { display: none; }
"""


@solara.component
def MonthBanner(model: WorkshopModel):
    """The month counter, in big type, what is being compared, and the dots' legend."""
    update_counter.get()
    s = model.settings
    rule = CHURN_LABELS[s.churn_rule] + (
        f" (leave {s.leave_prob:.0%})" if s.churn_rule == "fixed" else ""
    )
    parts = [
        f"year {model.month // 12 + 1}",
        f"{LAYOUT_LABELS[s.layout].lower()}, {s.market_size:,} people"
        + (" per market" if s.layout == SIDE_BY_SIDE and len(s.rungs) > 1 else ""),
        rule,
        f"referrals {s.refer_prob:.0%}",
        f"seed {s.seed}",
    ]
    sub = " · ".join(f"<span class='rs-nowrap'>{p}</span>" for p in parts)
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f"<span class='rs-banner' id='rs-month'>Month {model.month} of {s.months}</span>"
            f"&nbsp; <span class='rs-sub'>{sub}</span>"
        ),
    )
    legend = "".join(
        f"<span title='{help_}'><span class='dot' style='background:{colour}'></span>{name}</span>"
        for name, help_, colour in zip(CATEGORIES, CATEGORY_HELP, CATEGORY_COLOURS, strict=True)
    )
    solara.HTML(tag="div", unsafe_innerHTML=f"<div class='rs-legend'>{legend}</div>")


@solara.component
def FirmCard(model: WorkshopModel, k: int, on_rung: Callable[[int, str], None]):
    """Firm ``k``: a slider up the ladder for its rung, its numbers this month, and (side by
    side) its market's people."""
    update_counter.get()
    ladder = model.settings.ladder_obj
    st = model.firm_status(k)
    retention = "–" if math.isnan(st["retention"]) else f"{st['retention']:.1%}"
    reputation = f"recognised as <b>{st['recognised']}</b>"
    if st["delivered"] != st["recognised"]:
        reputation = "still " + reputation
        if st["next"] is not None:
            reputation += f", {st['next']} in {st['months_to_next']} months"
    colour = COLOURS[k % len(COLOURS)]
    with solara.Card(style={"min-width": "280px", "border-top": f"8px solid {colour}"}):
        dash = _SVG_DASHES[k % len(_SVG_DASHES)]
        swatch = (
            "<svg width='54' height='14' style='margin-left: 12px'><line x1='2' y1='7' x2='52' "
            f"y2='7' stroke='{colour}' stroke-width='5' stroke-dasharray='{dash}'/></svg>"
        )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<div class='rs-card-title'>Firm {st['label']}{swatch}</div>",
        )
        with solara.Div(classes=["rs-rung"]):
            solara.SliderValue(
                label="",
                value=ladder.labels[ladder.index(model.settings.rungs[k])],
                values=list(ladder.labels),
                on_value=lambda label: on_rung(k, ladder.ids[ladder.labels.index(label)]),
            )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=(
                "<div class='rs-numbers'>"
                f"<span class='rs-nowrap'>customers <b>{st['customers']:,}</b></span> · "
                f"<span class='rs-nowrap'>kept this month <b>{retention}</b></span> · "
                f"<span class='rs-nowrap'>profit so far "
                f"<b>{_money(st['cumulative_profit'])}</b></span><br>"
                f"delivers <b>{st['delivered']}</b>, {reputation}</div>"
            ),
        )
        if model.settings.layout == SIDE_BY_SIDE:
            DotsImage(model, k)


@solara.component
def DotsImage(model: WorkshopModel, market: int):
    """The dots of one market, as an image as wide as its container."""
    update_counter.get()
    png = solara.use_memo(
        lambda: figure_png(dots_figure(model, market)), [id(model), model.month, market]
    )
    solara.Image(png, width="100%")


@solara.component
def PlotsView(model: WorkshopModel):
    """The three live plots."""
    update_counter.get()
    png = solara.use_memo(lambda: figure_png(plots_figure(model)), [id(model), model.month])
    solara.Image(png, width="100%")


@solara.component
def LadderTable(ladder: Ladder, rungs: Sequence[str]):
    """The rung ladder as a table, the rungs in use highlighted."""
    table = ladder_table(ladder)
    used = {ladder.index(r) for r in rungs}
    head = "".join(f"<th>{c}</th>" for c in table.columns)
    body = "".join(
        f"<tr class='{'rs-used' if i in used else ''}'>"
        + "".join(f"<td>{v}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(table.itertuples(index=False))
    )
    solara.HTML(
        tag="div",
        unsafe_innerHTML=f"<div class='rs-table'><table><tr>{head}</tr>{body}</table></div>",
    )


@solara.component
def Downloads(model: WorkshopModel):
    """Buttons: the run so far as CSV, the plots as PNG."""
    update_counter.get()
    stem = f"retention-workshop-month{model.month:03d}"
    with solara.Column():
        solara.FileDownload(
            lambda: run_csv(model),
            filename=f"{stem}.csv",
            label="Run as CSV",
            mime_type="text/csv",
        )
        solara.FileDownload(
            lambda: plots_png(model),
            filename=f"{stem}.png",
            label="Plots as PNG",
            mime_type="image/png",
        )


def _caption(text: str) -> None:
    solara.HTML(tag="div", unsafe_innerHTML=text, classes=["rs-caption"])


@solara.component
def SettingsPanel(settings: Settings, on_settings: Callable[[Settings], None]):
    """The "Market" card; every change calls ``on_settings`` with the new settings."""
    s = settings

    def setter(name: str) -> Callable[[Any], None]:
        return lambda value: on_settings(replace(s, **{name: value}))

    with solara.Card("Market"):
        solara.Select(
            label="ladder",
            value=s.ladder,
            values=list(BUILTIN_LADDERS),
            on_value=lambda name: on_settings(s.with_ladder(name)),
        )
        solara.Select(
            label="set-up",
            value=LAYOUT_LABELS[s.layout],
            values=[LAYOUT_LABELS[k] for k in LAYOUTS],
            on_value=lambda label: on_settings(
                replace(s, layout=next(k for k in LAYOUTS if LAYOUT_LABELS[k] == label))
            ),
        )
        _caption(f"number of firms: {len(s.rungs)}")
        solara.SliderInt(
            label="",
            value=len(s.rungs),
            min=1,
            max=MAX_FIRMS,
            on_value=lambda n: on_settings(s.with_firms(n)),
        )
        solara.Select(
            label="churn rule",
            value=CHURN_LABELS[s.churn_rule],
            values=[CHURN_LABELS[k] for k in CHURN_RULES],
            on_value=lambda label: on_settings(
                replace(s, churn_rule=next(k for k in CHURN_RULES if CHURN_LABELS[k] == label))
            ),
        )
        _caption(f"leave after a bad experience: {s.leave_prob:.0%}")
        solara.SliderFloat(
            label="",
            value=s.leave_prob,
            min=0.0,
            max=1.0,
            step=0.01,
            on_value=setter("leave_prob"),
            disabled=s.churn_rule != "fixed",
        )
        _caption(f"referral probability: {s.refer_prob:.0%}")
        solara.SliderFloat(
            label="",
            value=s.refer_prob,
            min=0.0,
            max=1.0,
            step=0.05,
            on_value=setter("refer_prob"),
        )
        _caption(f"market size: {s.market_size:,} people")
        solara.SliderInt(
            label="",
            value=s.market_size,
            min=200,
            max=5000,
            step=100,
            on_value=setter("market_size"),
        )
        _caption(f"months: {s.months} ({s.months / 12:g} years)")
        solara.SliderInt(
            label="",
            value=s.months,
            min=12,
            max=240,
            step=12,
            on_value=setter("months"),
        )
        ladder = s.ladder_obj
        solara.Select(
            label="recognised in month 0 as",
            value=ladder[ladder.index(s.recognised_start)].label
            if s.recognised_start
            else AS_DELIVERED,
            values=[AS_DELIVERED, *ladder.labels],
            on_value=lambda label: on_settings(
                replace(
                    s,
                    recognised_start=""
                    if label == AS_DELIVERED
                    else ladder.ids[ladder.labels.index(label)],
                )
            ),
        )
        solara.InputInt(
            label="seed",
            value=s.seed,
            on_value=lambda v: on_settings(replace(s, seed=max(0, int(v)))),
        )


@solara.component
def _SidebarAfterMesa(settings: Settings, on_settings: Callable[[Settings], None]):
    # The sidebar orders its pieces by how deep they are rendered: two components below
    # WorkshopApp, the settings come after SolaraViz's own cards (play, step and reset first).
    with solara.Sidebar():
        SettingsPanel(settings, on_settings)


@solara.component
def _Settings(settings: Settings, on_settings: Callable[[Settings], None]):
    _SidebarAfterMesa(settings, on_settings)


@solara.component
def WorkshopApp(settings: Settings | None = None):
    """The whole page: SolaraViz (the model, play, step and reset) and the workshop views.

    Any change of a setting (a firm's rung included) makes a new model at month 0 and a fresh
    SolaraViz (paused); Reset makes the same model again from the current settings.

    Args:
        settings: the settings to start from; default `Settings()`.
    """
    current = solara.use_reactive(settings or Settings())
    first = solara.use_memo(lambda: WorkshopModel(current.value), [])
    model = solara.use_reactive(first)
    generation = solara.use_reactive(0)

    def on_settings(new: Settings) -> None:
        if new == current.value:
            return
        current.set(new)
        model.set(WorkshopModel(new))
        generation.set(generation.value + 1)

    def on_rung(k: int, rung: str) -> None:
        on_settings(current.value.with_rung(k, rung))

    m = model.value
    with solara.Column(style={"padding": "4px 12px", "width": "100%"}, gap="8px"):
        MonthBanner(m)
        with solara.Columns([1] * len(m.labels), gutters_dense=True):
            for k in range(len(m.labels)):
                FirmCard(m, k, on_rung).key(f"firm-{k}-{generation.value}")
        if m.settings.layout == COMPETING:
            shapes = " · ".join(
                f"{_MARKER_GLYPHS[k % len(_MARKER_GLYPHS)]} {FIRM_LETTERS[k]}"
                for k in range(len(m.labels))
            )
            with solara.Card(f"Everyone in the market (shape = firm: {shapes})"):
                DotsImage(m, 0)
        with solara.Card():
            PlotsView(m)
        with solara.Columns([4, 1], gutters_dense=True):
            with solara.Card("The ladder"):
                LadderTable(m.settings.ladder_obj, m.settings.rungs)
            with solara.Card("Download"):
                Downloads(m)
    # Below the views, so that their empty places on the page add no gap above them.
    solara.Style(CSS)
    SolaraViz(
        model,
        components=[],
        model_params={"settings": current},  # what Reset passes to WorkshopModel
        name="retention-sim · the service ladder",
        play_interval=PLAY_INTERVAL_MS,
    ).key(f"viz-{generation.value}")
    _Settings(current.value, on_settings)


@solara.component
def Page():
    """The page ``solara run sim.app`` serves (``retention-sim app``)."""
    WorkshopApp()
