"""The workshop app's model wrapper: settings, the watched market, the comparison model and the
play loop that drives it (no Solara here, so that all of it can be tested without a page).

- `Settings`: what the trainer sets, as a frozen value that also reads and writes the page's URL
  query (a bookmark replays a block) and builds one validated scenario per market.
- `PRESETS`: one `Settings` per block of docs/workshop.md.
- `WatchedMarket`: the readable agent engine (`sim.model.RetentionModel`) plus what happened to
  each person in the latest month (the dots), and `schedule_rung`, which adds a schedule entry
  (docs/model.md, "Schedule entries") to a running market: a rung change mid-run.
- `WorkshopModel`: a `mesa.Model` that steps one market per firm side by side (same seed, same
  people) or one market with the firms competing, and records the events the plots mark ("A
  moves to Excellent", "A recognised as Excellent").
- `View`: an immutable snapshot of the model after a month; the page draws only views, so what
  is drawn never depends on when the screen redraws.
- `Controller`: one session's run. It owns the play loop (a thread per session that steps the
  model under a lock), so play, pause, step, reset and "run to end" behave the same in every
  state, and a run's numbers never depend on the play speed (docs/workshop.md, "Why the app owns
  its play loop").

What does not live here: the figures (`sim.app.figures`), the page (`sim.app.page`), the rules
and engines (`sim.rules`, `sim.model`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import rules
from sim.ladder import BUILTIN_LADDERS, Ladder, get_ladder
from sim.model import RetentionModel
from sim.scenario import CHURN_RULES, Scenario, ScheduleEntry, load_scenario

log = logging.getLogger(__name__)

__all__ = [
    "AS_DELIVERED",
    "AWAY",
    "BAD",
    "CATEGORIES",
    "CATEGORY_COLOURS",
    "CATEGORY_HELP",
    "CHURN_LABELS",
    "COMPETING",
    "DEFAULT_INTERVAL_MS",
    "DELIGHTED",
    "FASTEST_INTERVAL_MS",
    "FINISHED",
    "FIRM_LETTERS",
    "JOINED",
    "LAYOUTS",
    "LAYOUT_LABELS",
    "LEFT",
    "MAX_FIRMS",
    "MET",
    "PAUSED",
    "PLAYING",
    "PRESETS",
    "PROSPECT",
    "QUIET",
    "SIDE_BY_SIDE",
    "SLOWEST_INTERVAL_MS",
    "TO_END",
    "Controller",
    "Event",
    "FirmStatus",
    "RungChange",
    "Settings",
    "View",
    "WatchedMarket",
    "WorkshopModel",
    "default_rungs",
]

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

# The play interval's range (ms between months); the fastest steps as fast as the machine can.
FASTEST_INTERVAL_MS = 0
SLOWEST_INTERVAL_MS = 1000
DEFAULT_INTERVAL_MS = 300


def default_rungs(ladder: Ladder, n: int = MAX_FIRMS) -> tuple[str, ...]:
    """The rungs firms start on: the top three of the ladder, lowest first (``good``,
    ``excellent``, ``world_class`` on the five-rung ladder), repeated if it is shorter."""
    top = ladder.ids[-3:]
    return tuple(top[i % len(top)] for i in range(n))


# URL query key -> Settings field; the query is what a bookmark of the page keeps.
_QUERY_KEYS = {
    "ladder": "ladder",
    "layout": "layout",
    "rungs": "rungs",
    "rule": "churn_rule",
    "leave": "leave_prob",
    "refer": "refer_prob",
    "size": "market_size",
    "months": "months",
    "seed": "seed",
    "recognised": "recognised_start",
}


@dataclass(frozen=True)
class Settings:
    """What the trainer sets. A change of a firm's rung during a run is a schedule entry (see
    `Controller.apply`); any other change starts a new run at month 0, paused.

    Attributes:
        ladder: a built-in ladder name (``five``, ``six``, ``three``).
        layout: ``side_by_side`` (one market per firm, same seed) or ``competing`` (one market).
        rungs: one rung id per firm (1 to 3 firms), firm A first: the rungs the run starts on.
        churn_rule: ``fixed`` (the 91% rule), ``tarp`` or ``strikes``.
        leave_prob: ``fixed`` rule: chance to leave after a bad experience, 0-1.
        refer_prob: chance a delighted customer refers someone that month, 0-1.
        market_size: people per market (200-5000).
        months: the horizon (12-240); one step is one month.
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
        """The `Ladder` named by `ladder`."""
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

    def rung_label(self, rung: str) -> str:
        """A rung id's label on this ladder (``world_class`` -> ``World class``)."""
        ladder = self.ladder_obj
        return ladder[ladder.index(rung)].label

    def firm_label(self, firm: int) -> str:
        """``"A · Good"``: the firm's letter and the label of the rung it starts on."""
        return f"{FIRM_LETTERS[firm]} · {self.rung_label(self.rungs[firm])}"

    def describe(self) -> str:
        """One line naming every setting (the hand-outs' caption)."""
        rule = CHURN_LABELS[self.churn_rule] + (
            f" (leave {self.leave_prob:.0%})" if self.churn_rule == "fixed" else ""
        )
        firms = ", ".join(self.firm_label(k) for k in range(len(self.rungs)))
        start = (
            f"; recognised in month 0 as {self.rung_label(self.recognised_start)}"
            if self.recognised_start
            else ""
        )
        return (
            f"{LAYOUT_LABELS[self.layout]}: {firms}; {self.ladder} ladder; {rule}; "
            f"referrals {self.refer_prob:.0%}; {self.market_size:,} people"
            f"{' per market' if self.layout == SIDE_BY_SIDE and len(self.rungs) > 1 else ''}; "
            f"fee {self.monthly_fee:g}{start}; seed {self.seed}"
        )

    def to_query(self) -> dict[str, str]:
        """The settings as URL query parameters (`from_query` reads them back)."""
        values = {
            key: ",".join(getattr(self, name))
            if name == "rungs"
            else f"{getattr(self, name):g}"
            if isinstance(getattr(self, name), float)
            else str(getattr(self, name))
            for key, name in _QUERY_KEYS.items()
        }
        return {k: v for k, v in values.items() if not (k == "recognised" and v == "")}

    @classmethod
    def from_query(cls, query: Mapping[str, str], base: Settings | None = None) -> Settings:
        """Settings from URL query parameters, on top of ``base`` (default `Settings()`).

        Raises:
            ValueError: a parameter that is not a setting, or a value out of its range (the
                message names the parameter and the allowed values).
        """
        base = base or cls()
        unknown = sorted(set(query) - set(_QUERY_KEYS))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(_QUERY_KEYS)})")
        given: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for key, value in query.items():
            name = _QUERY_KEYS[key]
            try:
                if name == "rungs":
                    given[name] = tuple(r for r in value.split(",") if r)
                elif types[name] == "int":
                    given[name] = int(value)
                elif types[name] == "float":
                    given[name] = float(value)
                else:
                    given[name] = value
            except ValueError:
                raise ValueError(f"{key}={value!r} is not a number") from None
        settings = replace(base, **given)
        if "ladder" in given and "rungs" not in given:
            settings = replace(settings, rungs=default_rungs(settings.ladder_obj, len(base.rungs)))
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming the first setting out of its range (the URL is user input)."""
        if self.ladder not in BUILTIN_LADDERS:
            raise ValueError(f"ladder={self.ladder!r}: one of {', '.join(BUILTIN_LADDERS)}")
        ids = self.ladder_obj.ids
        ranges = {
            "layout": (self.layout in LAYOUTS, ", ".join(LAYOUTS)),
            "rungs": (
                1 <= len(self.rungs) <= MAX_FIRMS and all(r in ids for r in self.rungs),
                f"1-{MAX_FIRMS} of {', '.join(ids)}, comma-separated",
            ),
            "rule": (self.churn_rule in CHURN_RULES, ", ".join(CHURN_RULES)),
            "leave": (0.0 <= self.leave_prob <= 1.0, "0 to 1"),
            "refer": (0.0 <= self.refer_prob <= 1.0, "0 to 1"),
            "size": (200 <= self.market_size <= 5000, "200 to 5000"),
            "months": (12 <= self.months <= 240, "12 to 240"),
            "seed": (self.seed >= 0, "0 or more"),
            "recognised": (self.recognised_start in ("", *ids), ", ".join(ids)),
        }
        for key, (ok, allowed) in ranges.items():
            if not ok:
                value = getattr(self, _QUERY_KEYS[key])
                raise ValueError(f"{key}={value!r} is out of range (allowed: {allowed})")

    def scenario_doc(
        self, firms: Sequence[int], changes: Sequence[RungChange] = ()
    ) -> dict[str, Any]:
        """The scenario (as a dict for `load_scenario`) of one market holding ``firms``; each
        of ``changes`` that concerns one of them is a schedule entry of that firm."""
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
                    **(
                        {
                            "schedule": [
                                {"month": c.month, "service_level": c.rung}
                                for c in changes
                                if c.firm == i
                            ]
                        }
                        if any(c.firm == i for c in changes)
                        else {}
                    ),
                }
                for i in firms
            ],
        }

    def markets(self) -> list[list[int]]:
        """The firms (numbers, 0 = A) of each market: one per firm side by side, or one in all."""
        if self.layout == SIDE_BY_SIDE:
            return [[i] for i in range(len(self.rungs))]
        return [list(range(len(self.rungs)))]

    def scenarios(self, changes: Sequence[RungChange] = ()) -> list[Scenario]:
        """One validated scenario per market (`markets`), ``changes`` as schedule entries."""
        overrides = dict(self.overrides) or None
        return [
            load_scenario(self.scenario_doc(g, changes), overrides, source_name="workshop settings")
            for g in self.markets()
        ]


def _preset(**kw: Any) -> Settings:
    return replace(Settings(), **kw)


# One click per block of docs/workshop.md: every control as the block says (seed 1, ten years).
PRESETS: dict[str, Settings] = {
    "Block 1 · the 91% rule": _preset(rungs=("acceptable", "good", "excellent")),
    "Block 2 · what world class costs": _preset(rungs=("good", "excellent", "world_class")),
    "Block 3 · why world class takes years": _preset(
        layout=COMPETING, rungs=("good", "excellent", "world_class"), recognised_start="good"
    ),
}


@dataclass(frozen=True)
class RungChange:
    """Firm ``firm`` (0 = A) delivers ``rung`` from month ``month`` on: one schedule entry."""

    month: int
    firm: int
    rung: str


@dataclass(frozen=True)
class Event:
    """Something the plots mark: a rung change or a new recognised rung, in ``month``."""

    month: int
    firm: int
    text: str


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
        # now (otherwise every run would stay in memory until the server stops).
        self.release()
        n = len(self.people)
        self.categories = np.full(n, PROSPECT, dtype=np.int8)
        self.person_firm = np.full(n, -1, dtype=np.int8)
        for i, person in enumerate(self.people):
            if person.status == rules.CUSTOMER:
                assert person.firm is not None  # a customer has a firm
                self.categories[i] = QUIET
                self.person_firm[i] = person.firm.index

    def schedule_rung(self, firm: int, month: int, rung: str) -> None:
        """Add a schedule entry: firm index ``firm`` delivers ``rung`` from ``month`` on.

        The same as a ``schedule = [{month, service_level}]`` entry in the scenario file
        (docs/model.md, "Schedule entries"): the firm reads its schedule at the start of each
        month, so an entry for a month not yet run changes nothing that has happened.
        """
        if month <= self.steps:
            raise ValueError(f"month {month}: a schedule entry must be after month {self.steps}")
        agent = self.firm_agents[firm]
        spec = agent.spec
        entry = ScheduleEntry(month, tuple((name, rung) for name in spec.department_names))
        spec = replace(spec, schedule=(*spec.schedule, entry))
        firms = list(self.scenario.firms)
        firms[firm] = spec
        self.scenario = replace(self.scenario, firms=tuple(firms))
        self.firms.specs = self.scenario.firms  # the firms' table reads each month's schedule
        agent.spec = spec

    def step(self) -> None:
        """One month, then each person's category for it."""
        before = [(p.status, p.firm) for p in self.people]
        super().step()
        t = self.steps
        categories, person_firm = self.categories, self.person_firm
        for i, (person, (status, firm)) in enumerate(zip(self.people, before, strict=True)):
            now = person.status
            if status == rules.CUSTOMER and (now != rules.CUSTOMER or person.firm is not firm):
                assert firm is not None  # a customer has a firm
                categories[i], person_firm[i] = LEFT, firm.index
            elif now == rules.CUSTOMER:
                assert person.firm is not None
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


@dataclass(frozen=True)
class FirmStatus:
    """What firm ``k``'s card shows after a month.

    Attributes:
        label: ``"A · Good"`` (the rung it started on).
        rung: the rung id it delivers next month (the card's selected rung).
        customers: customers at the end of the month.
        retention: share of the month's customers who stayed (NaN in month 0).
        cumulative_profit: profit since month 0, currency.
        delivered, recognised: labels of the rung it delivered this month and is recognised at.
        next: the label of the next rung to be recognised, if it is climbing; else None.
        months_to_next: months until then, or None.
    """

    label: str
    rung: str
    customers: int
    retention: float
    cumulative_profit: float
    delivered: str
    recognised: str
    next: str | None
    months_to_next: int | None


@dataclass(frozen=True)
class View:
    """The model after a month, frozen: everything the page and the hand-outs draw.

    Attributes:
        settings: the settings the run started from.
        month: months run so far (0 before the first step).
        frame: the monthly rows, months 0 to `month` (see `WorkshopModel.frame`).
        labels: one series label per firm (``"A · Good"``).
        firms: one `FirmStatus` per firm.
        dots: per market, (categories, person_firm, number of firms in it), copies.
        events: the rung changes and recognitions so far.
        changes: the rung changes made during the run (schedule entries).
    """

    settings: Settings
    month: int
    frame: pd.DataFrame
    labels: tuple[str, ...]
    firms: tuple[FirmStatus, ...]
    dots: tuple[tuple[np.ndarray, np.ndarray, int], ...]
    events: tuple[Event, ...]
    changes: tuple[RungChange, ...]

    @property
    def finished(self) -> bool:
        """Whether the run has reached its horizon."""
        return self.month >= self.settings.months


class WorkshopModel(mesa.Model):
    """One market per firm side by side, or one competing market, stepped together.

    All markets share the seed, so side by side they start from the same people (the same
    expectations, the same initial customers): only the rung differs.

    Args:
        settings: the settings; default `Settings()`.
        changes: rung changes given from the start (schedule entries); `change_rung` adds one
            to a running model. The two give the same run.
    """

    def __init__(self, settings: Settings | None = None, changes: Sequence[RungChange] = ()):
        settings = settings or Settings()
        super().__init__(rng=settings.seed)
        self.settings = settings
        self.changes: list[RungChange] = list(changes)
        self.markets = [WatchedMarket(sc, settings.seed) for sc in settings.scenarios(changes)]
        # series: (market index, firm index within it, firm number 0 = A)
        if settings.layout == SIDE_BY_SIDE:
            self.series = [(i, 0, i) for i in range(len(self.markets))]
        else:
            self.series = [(0, i, i) for i in range(len(settings.rungs))]
        self.labels = [settings.firm_label(k) for _, _, k in self.series]
        self.events: list[Event] = [
            Event(c.month, c.firm, self._moves_text(c)) for c in self.changes
        ]
        self._frame: tuple[int, pd.DataFrame] | None = None
        self.running = settings.months > 0
        release = getattr(mesa.Agent, "_ids", None)  # Mesa 3.3 keeps every model: not this one
        if isinstance(release, dict):
            release.pop(self, None)

    @property
    def month(self) -> int:
        """The months run so far (0 before the first step)."""
        return self.markets[0].steps

    def _firm(self, k: int) -> Any:
        m, f, _ = self.series[k]
        return self.markets[m].firm_agents[f]

    def _moves_text(self, change: RungChange) -> str:
        return f"{FIRM_LETTERS[change.firm]} moves to {self.settings.rung_label(change.rung)}"

    def planned_rung(self, k: int) -> str:
        """The rung firm ``k`` delivers next month (its start rung, or its latest change)."""
        rung = self.settings.rungs[k]
        for change in self.changes:
            if change.firm == k:
                rung = change.rung
        return rung

    def change_rung(self, k: int, rung: str) -> RungChange | None:
        """Firm ``k`` delivers ``rung`` from next month on: a schedule entry in its market.
        Returns the change, or None if the firm already delivers that rung next month."""
        if rung == self.planned_rung(k) or self.month >= self.settings.months:
            return None
        change = RungChange(self.month + 1, k, rung)
        m, f, _ = self.series[k]
        self.markets[m].schedule_rung(f, change.month, rung)
        self.changes = [c for c in self.changes if (c.month, c.firm) != (change.month, k)]
        self.changes.append(change)
        self.events = [e for e in self.events if not (e.month == change.month and e.firm == k)]
        self.events.append(Event(change.month, k, self._moves_text(change)))
        return change

    def step(self) -> None:
        """One month in every market; stops (``running`` False) at the horizon."""
        if self.month >= self.settings.months:
            self.running = False
            return
        before = [self._firm(k).recognised for k in range(len(self.series))]
        for market in self.markets:
            market.step()
        for k, was in enumerate(before):
            firm = self._firm(k)
            if firm.recognised != was:
                label = firm.firms.ladder[firm.recognised].label
                self.events.append(Event(self.month, k, f"{FIRM_LETTERS[k]} recognised as {label}"))
        self.running = self.month < self.settings.months

    def frame(self) -> pd.DataFrame:
        """The monthly rows so far (months 0 to `month`), with the firm's label in ``series``
        and ``cumulative_profit``; the same rows as `sim.simulate` of each market's scenario."""
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

    def firm_status(self, k: int) -> FirmStatus:
        """The numbers on firm ``k``'s card: this month's customers, retention, cumulative
        profit, delivered and recognised rung, and months until the next rung is recognised."""
        firm = self._firm(k)
        ladder = firm.firms.ladder
        rows = self.frame()
        last = rows[rows["series"] == self.labels[k]].iloc[-1]
        nxt = firm.recognised + 1
        wait = None
        if nxt < len(ladder) and firm.delivered >= nxt:
            wait = max(ladder[nxt].sustain_months - firm.streaks[nxt], 0)
        return FirmStatus(
            label=self.labels[k],
            rung=self.planned_rung(k),
            customers=int(last["customers"]),
            retention=float(last["retention_rate"]),
            cumulative_profit=float(last["cumulative_profit"]),
            delivered=ladder[firm.delivered].label,
            recognised=ladder[firm.recognised].label,
            next=ladder[nxt].label if wait is not None else None,
            months_to_next=wait,
        )

    def view(self) -> View:
        """A frozen snapshot of the model now (copies of everything that changes)."""
        return View(
            settings=self.settings,
            month=self.month,
            frame=self.frame(),  # a new frame every month; nobody writes to it
            labels=tuple(self.labels),
            firms=tuple(self.firm_status(k) for k in range(len(self.series))),
            dots=tuple(
                (m.categories.copy(), m.person_firm.copy(), len(m.firm_agents))
                for m in self.markets
            ),
            events=tuple(sorted(self.events, key=lambda e: (e.month, e.firm))),
            changes=tuple(self.changes),
        )


# --------------------------------------------------------------------------------------------
# The play loop.

PAUSED, PLAYING, TO_END, FINISHED = "paused", "playing", "to_end", "finished"
# The settings a notice names when a change restarts the run (every one but the rungs, D81).
_RESTARTING = (
    "ladder",
    "layout",
    "rungs",
    "churn_rule",
    "leave_prob",
    "refer_prob",
    "market_size",
    "months",
    "seed",
    "recognised_start",
)


class Controller:
    """One session's run: the model, the play state and the thread that plays it.

    Every method may be called from any thread; they take one lock, so a month is never stepped
    twice at once nor drawn half-way (the page draws `view`, a snapshot taken after each month).
    The play loop steps one month, publishes the view, calls ``on_change`` and waits
    ``interval_ms``; "run to end" steps without waiting and publishes about five times a
    second. The numbers therefore never depend on the play speed: the same settings and the
    same rung changes at the same months give the same run as a headless replay.

    Args:
        settings: the settings to start from.
        on_change: called (from whichever thread made the change, never under the lock) after
            every change the page must show.
        interval_ms: milliseconds between months while playing.
    """

    def __init__(
        self,
        settings: Settings,
        on_change: Callable[[], None] | None = None,
        interval_ms: int = DEFAULT_INTERVAL_MS,
    ):
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self.on_change = on_change
        self.interval_ms = interval_ms
        self.settings = settings
        self.model: WorkshopModel | None = WorkshopModel(settings)
        self.mode = PAUSED
        self.notice = ""
        self.closed = False
        self.version = 0
        self._view = self.model.view()
        self._thread: threading.Thread | None = None
        self._painter: threading.Thread | None = None
        self._paint = threading.Condition(self._lock)
        self._dirty = False

    # -- what the page reads ------------------------------------------------------------------

    @property
    def view(self) -> View:
        """The latest snapshot of the run."""
        return self._view

    @property
    def playing(self) -> bool:
        """Whether the play loop is stepping (play or run to end)."""
        return self.mode in (PLAYING, TO_END)

    @property
    def finished(self) -> bool:
        """Whether the run has reached its horizon."""
        return self._view.finished

    # -- controls ---------------------------------------------------------------------------

    def play(self) -> None:
        """Play from here, one month every `interval_ms` (nothing if the run is finished)."""
        self._start(PLAYING)

    def run_to_end(self) -> None:
        """Step to the horizon as fast as possible, showing a frame about five times a second."""
        self._start(TO_END)

    def pause(self) -> None:
        """Stop after the month being stepped, if any."""
        with self._lock:
            if self.playing:
                self.mode = PAUSED
                self._publish()
        self._notify()

    def step(self) -> None:
        """One month (pauses play first; nothing if the run is finished)."""
        with self._lock:
            if self.closed or self.model is None:
                return
            self.mode = PAUSED
            self._step()
            self._publish()
        self._notify()

    def reset(self) -> None:
        """Start again at month 0 from the settings shown (rungs as shown), paused."""
        self.restart(self.settings, "")

    def set_interval(self, interval_ms: int) -> None:
        """Milliseconds between months while playing (applies from the next month)."""
        with self._lock:
            self.interval_ms = max(FASTEST_INTERVAL_MS, min(SLOWEST_INTERVAL_MS, interval_ms))
            self._wake.notify_all()
            self._publish()
        self._notify()

    def restart(self, settings: Settings, notice: str) -> None:
        """A new run of ``settings`` at month 0, paused, with ``notice`` shown on the page."""
        with self._lock:
            if self.closed:
                return
            self.settings = settings
            self.model = WorkshopModel(settings)
            self.mode = PAUSED
            self.notice = notice
            self._publish()
        self._notify()

    def apply(self, settings: Settings) -> None:
        """Show new settings. If only firms' rungs changed and the run has started (and is not
        finished), each change is a schedule entry from next month and the run goes on as it
        was (playing or paused); any other change restarts at month 0, paused, saying so."""
        with self._lock:
            if self.closed or settings == self.settings or self.model is None:
                return
            old, model = self.settings, self.model
            only_rungs = replace(settings, rungs=old.rungs) == old and len(settings.rungs) == len(
                old.rungs
            )
            if only_rungs and 0 < model.month < old.months:
                for k, rung in enumerate(settings.rungs):
                    change = model.change_rung(k, rung)
                    if change is not None:
                        self.notice = (
                            f"month {model.month}: {model._moves_text(change)} from month "
                            f"{change.month}; the run goes on"
                        )
                self.settings = replace(old, rungs=settings.rungs)  # Reset starts from these
                self._publish()
                changed = True
            else:
                changed = False
        if changed:
            self._notify()
            return
        what = [name for name in _RESTARTING if getattr(settings, name) != getattr(old, name)]
        self.restart(settings, f"{', '.join(what).replace('_', ' ')} changed: new run, paused")

    def close(self) -> None:
        """The session closed: stop the play loop and let the model go."""
        with self._lock:
            self.closed = True
            self.mode = PAUSED
            self.model = None
            self.on_change = None
            self._wake.notify_all()
            self._paint.notify_all()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the play loop to end (after `close`), for tests and shutdown."""
        for thread in (self._thread, self._painter):
            if thread is not None:
                thread.join(timeout)

    # -- the loop ---------------------------------------------------------------------------

    def _start(self, mode: str) -> None:
        with self._lock:
            if self.closed or self.finished:
                return
            self.mode = mode
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="workshop-play", daemon=True
                )
                self._thread.start()
            if self._painter is None or not self._painter.is_alive():
                self._painter = threading.Thread(
                    target=self._paint_loop, name="workshop-paint", daemon=True
                )
                self._painter.start()
            self._wake.notify_all()
            self._publish()
        self._notify()

    def _step(self) -> bool:
        assert self.model is not None
        if self.model.month >= self.settings.months:
            return False
        self.model.step()
        return True

    def _publish(self) -> None:
        if self.model is None:
            return
        if self.model.month >= self.settings.months and self.playing:
            self.mode = FINISHED
        if self.mode == FINISHED and self.model.month < self.settings.months:
            self.mode = PAUSED
        self._view = self.model.view()
        self.version += 1

    def _notify(self) -> None:
        callback = self.on_change
        if callback is None:
            return
        try:
            callback()
        except Exception:  # a page that went away: stop computing for it
            log.exception("the page could not be updated; closing its run")
            self.close()

    def _paint_loop(self) -> None:
        # The page is redrawn here, not in the play loop: a slow redraw then skips months (it
        # always draws the latest view) instead of slowing the play or queueing frames.
        while True:
            with self._lock:
                while not self.closed and not self._dirty:
                    self._paint.wait()
                if self.closed:
                    return
                self._dirty = False
            self._notify()

    def _loop(self) -> None:
        import time

        last_shown = 0.0
        while True:
            with self._lock:
                while not self.closed and not self.playing:
                    self._wake.wait()
                if self.closed:
                    return
                mode = self.mode
                self._step()
                show = mode == PLAYING or time.monotonic() - last_shown > 0.2
                if self.model is not None and self.model.month >= self.settings.months:
                    show = True
                if show:
                    self._publish()
                    self._dirty = True
                    self._paint.notify_all()
                    last_shown = time.monotonic()
                interval = self.interval_ms / 1000 if mode == PLAYING else 0.0
            if interval > 0:
                with self._lock:
                    if not self.closed and self.mode == PLAYING:
                        self._wake.wait(interval)
