"""The workshop app's page: Solara components and their CSS, around one `Controller` per session.

The page owns its play loop (`sim.app.model.Controller`) instead of Mesa's `SolaraViz`: with
SolaraViz (Mesa 3.3) the controls greyed out after a finished run, Reset rebuilt the start-up
settings, a change during play raced its play thread ("Too many renders triggered"), and the
fastest interval could step a model while the page drew it. Here every control is a method of
the controller, which takes one lock, and the page only draws frozen `View`s.

- the sidebar: Controls first (play/pause, Step, Run to end, Reset, the pause between months with
  its value, the workshop blocks' presets), then the Market settings;
- the month, what is compared, and a notice when a change restarted the run or moved a rung;
- one card per firm: its rung as a row of buttons (a change mid-run is a schedule entry from
  next month), its numbers this month and (side by side) its market's people as dots;
- the plots with their legend and the events marked, the ladder table and the hand-outs.

The settings live in the URL query (``?rungs=good,excellent&seed=1...``), so a reload or a
bookmark comes back to the same settings. The session's run is closed when the page goes away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import solara

from sim.app.figures import (
    _years,
    dots_figure,
    figure_png,
    handout_csv,
    handout_png,
    handout_stem,
    ladder_table,
    plots_figure,
)
from sim.app.model import (
    AS_DELIVERED,
    CATEGORIES,
    CATEGORY_COLOURS,
    CATEGORY_HELP,
    CHURN_LABELS,
    COMPETING,
    FASTEST_INTERVAL_MS,
    FIRM_LETTERS,
    LAYOUT_LABELS,
    MAX_FIRMS,
    PRESETS,
    SIDE_BY_SIDE,
    SLOWEST_INTERVAL_MS,
    Controller,
    Settings,
    View,
)
from sim.formatting import money
from sim.ladder import BUILTIN_LADDERS
from sim.plots import COLOURS
from sim.scenario import CHURN_RULES

_MARKER_GLYPHS = ("●", "■", "▲", "◆", "▼")  # the shapes of sim.plots.MARKERS
_SVG_DASHES = ("", "12,6", "12,5,3,5")  # the plots' first line styles: solid, dashed, dash-dot

# Projector-sized type; firm cards share the width and wrap their rung buttons, so nothing runs
# off a 1280x800 screen.
CSS = """
.rs-banner { font-size: 30px; font-weight: 700; }
.rs-sub { font-size: 18px; color: #333; }
.rs-nowrap { white-space: nowrap; }
.rs-notice { font-size: 17px; background: #fff1c9; padding: 2px 8px; border-radius: 4px; }
.rs-cards { display: flex; gap: 8px; width: 100%; }
.rs-cards > * { flex: 1 1 0; min-width: 0; }
.rs-card-title { font-size: 22px; font-weight: 700; color: #111; }
.rs-numbers { font-size: 17px; line-height: 1.45; }
.rs-numbers b { font-size: 18px; }
.rs-rungs { display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0 6px 0; }
.rs-rungs .v-btn { text-transform: none; font-size: 15px; letter-spacing: 0; min-width: 0 !important;
  padding: 0 8px !important; }
.rs-legend { font-size: 16px; display: flex; flex-wrap: wrap; gap: 2px 16px; }
.rs-legend .dot { display: inline-block; width: 14px; height: 14px; border-radius: 50%;
  margin-right: 5px; vertical-align: -2px; }
.rs-table table { font-size: 16px; border-collapse: collapse; width: 100%; }
.rs-table th, .rs-table td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; }
.rs-table tr.rs-used td { background: #fff1c9; font-weight: 700; }
.rs-caption { font-size: 16px; margin-top: 4px; color: rgba(0, 0, 0, 0.75); }
.rs-controls .v-btn { text-transform: none; font-size: 16px; }
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection,
.v-navigation-drawer input { font-size: 16px !important; }
"""


def _caption(text: str, id_: str | None = None) -> None:
    attrs = f" id='{id_}'" if id_ else ""
    solara.HTML(tag="div", unsafe_innerHTML=f"<span{attrs}>{text}</span>", classes=["rs-caption"])


def _year(month: int) -> str:
    return "start" if month == 0 else f"year {math.ceil(month / 12)}"


@solara.component
def Controls(controller: Controller, view: View, version: int):
    """Play/pause, Step, Run to end, Reset and the pause between months (with its value)."""
    finished = view.finished
    playing = controller.playing
    with solara.Card("Controls", classes=["rs-controls"]):
        with solara.Row(gap="6px", style={"flex-wrap": "wrap"}):
            if playing:
                solara.Button("⏸ Pause", on_click=controller.pause, color="primary")
            else:
                solara.Button(
                    "▶ Play", on_click=controller.play, color="primary", disabled=finished
                )
            solara.Button("Step", on_click=controller.step, disabled=finished)
            solara.Button("Run to end", on_click=controller.run_to_end, disabled=finished)
            solara.Button("Reset", on_click=controller.reset)
        _caption(f"pause between months: {controller.interval_ms} ms", "rs-interval")
        solara.SliderInt(
            label="",
            value=controller.interval_ms,
            min=FASTEST_INTERVAL_MS,
            max=SLOWEST_INTERVAL_MS,
            step=50,
            on_value=controller.set_interval,
        )


@solara.component
def Presets(on_settings: Callable[[Settings], None]):
    """One button per workshop block (docs/workshop.md): every setting as the block says."""
    with solara.Card("Workshop blocks"), solara.Column(gap="4px"):
        for name, preset in PRESETS.items():
            solara.Button(
                name,
                on_click=lambda p=preset: on_settings(p),
                text=True,
                style={"text-transform": "none", "justify-content": "start"},
            )


def _choice(label: str, labels: dict[str, str], current: str, pick: Callable[[str], None]) -> None:
    """A drop-down showing ``labels``' values; ``pick`` gets the chosen value's key."""
    solara.Select(
        label=label,
        value=labels[current],
        values=list(labels.values()),
        on_value=lambda text: pick(next(k for k, v in labels.items() if v == text)),
    )


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
        _choice("set-up", LAYOUT_LABELS, s.layout, setter("layout"))
        _caption(f"number of firms: {len(s.rungs)}")
        solara.SliderInt(
            label="",
            value=len(s.rungs),
            min=1,
            max=MAX_FIRMS,
            on_value=lambda n: on_settings(s.with_firms(n)),
        )
        _choice(
            "churn rule",
            {k: CHURN_LABELS[k] for k in CHURN_RULES},
            s.churn_rule,
            setter("churn_rule"),
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
            label="", value=s.refer_prob, min=0.0, max=1.0, step=0.05, on_value=setter("refer_prob")
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
        _caption(f"months: {s.months} ({_years(s.months)})")
        solara.SliderInt(
            label="", value=s.months, min=12, max=240, step=12, on_value=setter("months")
        )
        ladder = s.ladder_obj
        solara.Select(
            label="recognised in month 0 as",
            value=s.rung_label(s.recognised_start) if s.recognised_start else AS_DELIVERED,
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
            label="seed", value=s.seed, on_value=lambda v: on_settings(replace(s, seed=max(0, v)))
        )


@solara.component
def MonthBanner(view: View, notice: str):
    """The month counter in big type, what is compared, the notice and the dots' legend."""
    s = view.settings
    rule = CHURN_LABELS[s.churn_rule] + (
        f" (leave {s.leave_prob:.0%})" if s.churn_rule == "fixed" else ""
    )
    parts = [
        _year(view.month),
        f"{LAYOUT_LABELS[s.layout].lower()}, {s.market_size:,} people"
        + (" per market" if s.layout == SIDE_BY_SIDE and len(s.rungs) > 1 else ""),
        rule,
        f"referrals {s.refer_prob:.0%}",
        f"seed {s.seed}",
    ]
    sub = " · ".join(f"<span class='rs-nowrap'>{p}</span>" for p in parts)
    note = f"<div class='rs-notice' id='rs-notice'>{notice}</div>" if notice else ""
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f"<span class='rs-banner' id='rs-month'>Month {view.month} of {s.months}</span>"
            f"&nbsp; <span class='rs-sub'>{sub}</span>{note}"
        ),
    )
    legend = "".join(
        f"<span title='{help_}'><span class='dot' style='background:{colour}'></span>{name}</span>"
        for name, help_, colour in zip(CATEGORIES, CATEGORY_HELP, CATEGORY_COLOURS, strict=True)
    )
    solara.HTML(tag="div", unsafe_innerHTML=f"<div class='rs-legend'>{legend}</div>")


@solara.component
def FirmCard(view: View, k: int, on_rung: Callable[[int, str], None]):
    """Firm ``k``: its rung as buttons up the ladder, its numbers, and (side by side) its dots."""
    ladder = view.settings.ladder_obj
    st = view.firms[k]
    retention = "–" if math.isnan(st.retention) else f"{st.retention:.1%}"
    reputation = f"recognised as <b>{st.recognised}</b>"
    if st.delivered != st.recognised:
        reputation = "still " + reputation
        if st.next is not None:
            reputation += f", {st.next} in {st.months_to_next} months"
    colour = COLOURS[k % len(COLOURS)]
    dash = _SVG_DASHES[k % len(_SVG_DASHES)]
    swatch = (
        "<svg width='54' height='14' style='margin-left: 10px'><line x1='2' y1='7' x2='52' "
        f"y2='7' stroke='{colour}' stroke-width='5' stroke-dasharray='{dash}'/></svg>"
    )
    with solara.Card(style={"border-top": f"8px solid {colour}", "margin": "0"}):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<div class='rs-card-title'>Firm {FIRM_LETTERS[k]}{swatch}</div>",
        )
        with solara.Div(classes=["rs-rungs", f"rs-rungs-{k}"]):
            for rung in ladder:
                chosen = rung.id == st.rung
                solara.Button(
                    rung.label,
                    on_click=lambda r=rung.id: on_rung(k, r),
                    small=True,
                    depressed=chosen,
                    outlined=not chosen,
                    color=colour if chosen else None,
                    classes=["rs-rung-btn"],
                    style={"color": "white"} if chosen else {},
                )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=(
                "<div class='rs-numbers'>"
                f"<span class='rs-nowrap'>customers <b>{st.customers:,}</b></span> · "
                f"<span class='rs-nowrap'>kept this month <b>{retention}</b></span> · "
                f"<span class='rs-nowrap'>profit so far "
                f"<b>{money(st.cumulative_profit)}</b></span><br>"
                f"delivers <b>{st.delivered}</b>, {reputation}</div>"
            ),
        )
        if view.settings.layout == SIDE_BY_SIDE:
            DotsImage(view, k)


@solara.component
def DotsImage(view: View, market: int):
    """The dots of one market, as an image as wide as its container."""
    side = view.settings.layout == SIDE_BY_SIDE
    n = len(view.firms) if side else 1
    aspect, width = {1: (3.0, 11.0), 2: (2.0, 5.5), 3: (1.4, 3.6)}[n]
    png = solara.use_memo(
        lambda: figure_png(dots_figure(view, market, aspect=aspect, width=width)), [id(view)]
    )
    solara.Image(png, width="100%")


@solara.component
def PlotsView(view: View):
    """The three live plots with their legend and the events."""
    png = solara.use_memo(lambda: figure_png(plots_figure(view)), [id(view)])
    solara.Image(png, width="100%", classes=["rs-plots"])


@solara.component
def LadderTable(view: View):
    """The rung ladder as a table, the rungs in use highlighted."""
    ladder = view.settings.ladder_obj
    table = ladder_table(ladder)
    used = {ladder.index(f.rung) for f in view.firms}
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
def Downloads(view: View):
    """The hand-outs: the run so far as CSV and the plots as PNG, both carrying the settings."""
    stem = handout_stem(view)
    with solara.Column():
        solara.FileDownload(
            lambda: handout_csv(view),
            filename=f"{stem}.csv",
            label="Run as CSV",
            mime_type="text/csv",
        )
        solara.FileDownload(
            lambda: handout_png(view),
            filename=f"{stem}.png",
            label="Plots as PNG",
            mime_type="image/png",
        )


def settings_from_url(search: str | None) -> tuple[Settings, str]:
    """The settings a page's URL query asks for, and a notice if it could not be read."""
    try:
        return Settings.from_query(dict(parse_qsl(search or ""))), ""
    except ValueError as error:
        return Settings(), f"the address asked for settings the app cannot use ({error}): defaults"


@solara.component
def WorkshopApp(settings: Settings | None = None, search: str | None = None):
    """The whole page around one `Controller`.

    Args:
        settings: the settings to start from; default: those in ``search``, else `Settings()`.
        search: the URL query of the page (without ``?``).
    """
    router = solara.use_router()
    version = solara.use_reactive(0)

    def make() -> Controller:
        start, notice = (settings, "") if settings else settings_from_url(search)
        controller = Controller(start, on_change=lambda: version.set(controller.version))
        controller.notice = notice
        return controller

    controller = solara.use_memo(make, [])
    solara.use_effect(lambda: controller.close, [])  # the session closed: stop and let go

    def on_settings(new: Settings) -> None:
        controller.apply(new)
        if router.set_path is not None:
            router.push(f"{router.path}?{urlencode(controller.settings.to_query())}")

    def on_rung(k: int, rung: str) -> None:
        on_settings(controller.settings.with_rung(k, rung))

    view = controller.view
    v = version.value
    with solara.Sidebar():
        Controls(controller, view, v)
        Presets(on_settings)
        SettingsPanel(controller.settings, on_settings)
    with solara.Column(style={"padding": "4px 12px", "width": "100%"}, gap="8px"):
        MonthBanner(view, controller.notice)
        with solara.Div(classes=["rs-cards"]):
            for k in range(len(view.firms)):
                FirmCard(view, k, on_rung).key(f"firm-{k}")
        if view.settings.layout == COMPETING:
            shapes = " · ".join(
                f"{_MARKER_GLYPHS[k % len(_MARKER_GLYPHS)]} {FIRM_LETTERS[k]}"
                for k in range(len(view.firms))
            )
            with solara.Card(f"Everyone in the market (shape = firm: {shapes})"):
                DotsImage(view, 0)
        with solara.Card():
            PlotsView(view)
        with solara.Columns([4, 1], gutters_dense=True):
            with solara.Card("The ladder"):
                LadderTable(view)
            with solara.Card("Hand-outs"):
                Downloads(view)
    solara.Style(CSS)


@solara.component
def Page():
    """The page ``solara run sim.app:Page`` serves (``retention-sim app``)."""
    router = solara.use_router()
    solara.Title("retention-sim · the service ladder")
    WorkshopApp(search=router.search)
