"""`RetentionModel`: the readable agent engine, one `mesa.Agent` per person and per firm.

`step()` is one month of MODEL.md, in its order, with a synchronous update: every decision of the
month is taken from the state at its start (phase 1: decide), and every change (joins, leaves,
closures, returns, expectations, reputation) is applied at its end (phase 2: apply). Within phase
1, steps 1, 2 and 3 each run over everyone before the next begins: a contact centre's queue
depends on all of the month's calls, and late calls and stock-outs are drawn in a fixed place for
every interaction (docs/model.md D33). The formulas are in `rules.py`, per-agent behaviour in
`agents.py`, the reported columns in `metrics.py`.

Random numbers come from the model's own `random.Random` (Mesa's ``model.random``, seeded from the
run seed); nothing global is touched. Use `sim.simulate` to run it; `RetentionModel` is public for
the workshop app and for people who want to watch agents.

Mesa's conventions hold, so Mesa's own tools work on it: it takes Mesa's ``rng=`` (an integer
seed), ``running`` turns False at the horizon, and ``datacollector`` is a `mesa.DataCollector`
whose model reporters are the declared metrics (`sim.metrics.COLUMNS`), collected at month 0 and
at the end of every month. ``mesa.batch_run(RetentionModel, {"scenario": sc, "rng": [1, 2]})``
runs it as any Mesa model (its rows stop one month short of the horizon: batch_run reads the
collected values up to ``steps - 1``; the full frame is `frame` or `sim.simulate`).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import rules
from sim.agents import FirmAgent, Person
from sim.firms import Firms
from sim.ladder import Rung
from sim.metrics import COLUMNS, MONTHLY_FLOWS, Tallies, build_frame, metric_values
from sim.network import build_network
from sim.scenario import Scenario, load_scenario

# The metrics the model's DataCollector reports each month: every declared column but the keys.
REPORTED_METRICS = tuple(c for c in COLUMNS if c not in ("step", "firm"))


@dataclass
class _Month:
    """What the phases of one month pass on to each other (decided, not yet applied)."""

    t: int
    recognised: list[int]  # recognised rungs at the start of the month (the choice reads them)
    n_firms: int
    counts: dict[str, list[int]] = field(init=False)
    start_customers: list[int] = field(init=False)
    customers: list[Person] = field(default_factory=list)  # at the start of the month
    prospects: list[Person] = field(default_factory=list)  # at the start of the month
    experiences: list[tuple[Person, Rung, float, int, bool]] = field(default_factory=list)
    stayers: list[tuple[Person, float]] = field(default_factory=list)  # had one, and stay
    delighted: list[Person] = field(default_factory=list)  # delighted, and stay
    leavers: list[tuple[Person, bool]] = field(default_factory=list)  # (person, after bad)
    closures: list[tuple[Person, int]] = field(default_factory=list)  # (told, firm index)
    joins: list[tuple[Person, FirmAgent, str]] = field(default_factory=list)  # (person, firm, how)
    departures: list[Person] = field(default_factory=list)  # leavers who do not switch

    def __post_init__(self) -> None:
        self.counts = {k: [0] * self.n_firms for k in MONTHLY_FLOWS}
        self.start_customers = [0] * self.n_firms


_JOIN_COUNT = {
    "referral": "joined_referral",
    "marketing": "joined_marketing",
    "switch": "switched_in",
}


def _run_seed(seed: Any, rng: Any) -> int:
    """The integer run seed from ``seed`` or Mesa's ``rng`` (one of them, or neither: fresh)."""
    if seed is not None and rng is not None:
        raise ValueError("give the run seed as seed= or as rng=, not both")
    value = rng if rng is not None else seed
    if value is None:  # Mesa's default: a fresh seed, recorded in model.seed
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(value, np.random.Generator):
        return int(value.integers(2**63))
    if (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool | np.bool_)
        and value >= 0
    ):
        return int(value)
    raise ValueError(f"seed must be a non-negative integer, got {value!r}")


def _reported(model: RetentionModel, name: str, firm: int) -> Any:
    """One metric of one firm in the model's current month (a DataCollector model reporter)."""
    return model.month_rows()[firm][name]


def metric_reporters(scenario: Scenario) -> dict[str, Callable[[RetentionModel], Any]]:
    """The DataCollector model reporters: each of `REPORTED_METRICS`, named as the metric for a
    one-firm market and ``"<firm>: <metric>"`` with several firms."""
    names = scenario.firm_names
    return {
        (name if len(names) == 1 else f"{firm}: {name}"): functools.partial(
            _reported, name=name, firm=f
        )
        for f, firm in enumerate(names)
        for name in REPORTED_METRICS
    }


class RetentionModel(mesa.Model):
    """One market over ``scenario.months`` months.

    Args:
        scenario: a validated scenario (point of a sweep, if it has one: its ``sweep`` is ignored),
            or a scenario file's path (what `sim.load_scenario` reads).
        seed: the run seed (any non-negative integer type); the same seed gives the same run.
        rng: Mesa's name for the seed: an integer, or a `numpy.random.Generator` to draw one
            from. Give ``seed`` or ``rng``; with neither, a fresh seed is drawn.

    Attributes:
        scenario: the validated scenario.
        seed: the integer run seed (`simulate(scenario, seed=model.seed)` gives the same rows).
        running: True until the horizon (``scenario.months``) is reached.
        datacollector: a `mesa.DataCollector` of `REPORTED_METRICS` (`metric_reporters`),
            collected at month 0 and at the end of every month.
        firm_agents: the `FirmAgent` of each firm, in scenario order.
        people: every `Person` of the market.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int | None = None,
        *,
        rng: int | np.random.Generator | None = None,
    ):
        seed = _run_seed(seed, rng)
        super().__init__(rng=seed)
        if not isinstance(scenario, Scenario):
            if isinstance(scenario, Mapping):
                raise TypeError(
                    "give RetentionModel a Scenario or a scenario file's path (a dict would be "
                    "taken apart by mesa.batch_run): sim.load_scenario(your_dict)"
                )
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.seed = seed
        sc = scenario
        self.firms = Firms(sc)
        self.firm_agents = [FirmAgent(self, i, self.firms) for i in range(len(sc.firms))]
        c = sc.customers
        self.people = [
            Person(
                self,
                self._clip(self.random.gauss(c.expectation_mean, c.expectation_sd)),
            )
            for _ in range(sc.market.size)
        ]
        initial = self.random.sample(self.people, sc.market.initial_customers)
        counts = rules.largest_remainder(len(initial), [f.share for f in sc.firms])
        start = 0
        for firm, n in zip(self.firm_agents, counts, strict=True):
            for person in initial[start : start + n]:
                person.join(firm)
                person.cohort = True
            start += n
        graph = build_network(sc.market.network, sc.market.size, seed)
        if graph is not None:
            for i, person in enumerate(self.people):
                person.neighbours = [self.people[j] for j in sorted(graph.neighbors(i))]
        churn = sc.churn
        if rules.attrition_polarized(churn.base_prob, churn.base_polarization):
            a, b = rules.beta_parameters(churn.base_prob, churn.base_polarization)
            for person in self.people:  # each person's own attrition chance, for life
                person.attrition = self.random.betavariate(a, b)
        self.reachable = list(self.people)  # people who are not gone
        self.reachable_dirty = False
        self.returns: dict[int, list[Person]] = {}  # month -> away people who are prospects from it
        self.tallies = Tallies(sc.months, len(sc.firms))
        self._record(0, {k: [0] * len(sc.firms) for k in MONTHLY_FLOWS}, [0] * len(sc.firms))
        self._month_rows: tuple[int, list[dict[str, Any]]] | None = None
        self.running = sc.months > 0
        self.datacollector = mesa.DataCollector(model_reporters=metric_reporters(sc))
        self.datacollector.collect(self)

    @staticmethod
    def _clip(value: float) -> float:
        return 0.0 if value < 0.0 else 10.0 if value > 10.0 else value

    # ----------------------------------------------------------------------------------------
    def step(self) -> None:
        """One month (t = self.steps, already advanced by Mesa): the phases of docs/model.md
        section 3, in order. The first seven decide from the state at the start of the month;
        `_apply` and `_reputation` change it at the end; `_accounts` records the month (and
        the DataCollector collects it). ``running`` turns False at the horizon.

        Raises:
            RuntimeError: the run is already at its horizon.
        """
        if self.steps > self.scenario.months:
            self.steps -= 1  # Mesa counted a step that does not happen
            raise RuntimeError(
                f"the run ended at month {self.scenario.months} (its horizon; running is False)"
            )
        month = self._delivery()
        self._contact_and_experience(month)
        self._churn(month)
        self._referrals(month)
        self._expectations(month)
        self._acquisition(month)
        self._leavers(month)
        self._apply(month)
        self._reputation(month)
        self._accounts(month)

    def _delivery(self) -> _Month:
        """Start of the month: each firm's department rungs from its schedule (section 7.1)."""
        t = self.steps
        if self.firms.begin_month(t):
            for firm in self.firm_agents:
                firm.sync()
        return _Month(t, self.firms.recognised.tolist(), len(self.firm_agents))

    def _contact_and_experience(self, month: _Month) -> None:
        """Steps 1 and 2 (section 7.2): who has an interaction, the contact centres' queues,
        then each interaction's department, quality, late call and stock-out.

        The month's calls must be known before anyone's experience (they set the contact
        centre's queue), so each step runs over everyone before the next starts.
        """
        rnd, counts = self.random, month.counts
        contact_prob = self.scenario.customers.contact_prob
        callers: list[Person] = []  # customers with an interaction this month
        for person in self.reachable:
            if person.status == rules.PROSPECT:
                month.prospects.append(person)
            if person.status != rules.CUSTOMER:
                continue
            month.customers.append(person)
            month.start_customers[person.firm.index] += 1
            if rnd.random() < contact_prob:
                counts["interactions"][person.firm.index] += 1
                callers.append(person)
        if self.firms.has_centre.any():
            self.firms.open_queues(month.t, counts["interactions"], self.tallies)
            for firm in self.firm_agents:
                firm.sync()
        tolerance = self.scenario.customers.tolerance
        month.experiences = [(person, *person.experience(rnd, tolerance)) for person in callers]

    def _churn(self, month: _Month) -> None:
        """Step 3 (section 7.3): churn after a bad experience, then attrition."""
        rnd, counts, churn = self.random, month.counts, self.scenario.churn
        stayers: list[tuple[Person, float]] = []  # customers who had an interaction and stay
        delighted: list[Person] = []  # delighted customers who stay
        leavers = month.leavers
        for person, rung, quality, outcome, stockout in month.experiences:
            f = person.firm.index
            counts["stockouts"][f] += stockout
            leaves = False
            if outcome == rules.BAD:
                counts["bad_experiences"][f] += 1
                leaves, complained, resolved = person.leaves_after_bad(rung, churn, month.t, rnd)
                counts["complaints"][f] += complained
                counts["resolved"][f] += resolved
                if leaves:
                    counts["left_bad_experience"][f] += 1
                    leavers.append((person, True))
            elif outcome == rules.DELIGHTED:
                counts["delighted"][f] += 1
            if not leaves:
                stayers.append((person, quality))
                if outcome == rules.DELIGHTED:
                    delighted.append(person)
        left_bad = {id(p) for p, _ in leavers}
        for person in month.customers:
            if id(person) not in left_bad and rnd.random() < person.attrition:
                counts["left_attrition"][person.firm.index] += 1
                leavers.append((person, False))
        leaving = {id(p) for p, _ in leavers}
        month.stayers = [(p, x) for p, x in stayers if id(p) not in leaving]
        month.delighted = [p for p in delighted if id(p) not in leaving]

    def _referrals(self, month: _Month) -> None:
        """Step 4 (section 7.4): referrals by delighted stayers, and negative word of mouth."""
        rnd, t, refs = self.random, month.t, self.scenario.referrals
        successes: dict[int, list[FirmAgent]] = {}  # id(prospect) -> firms whose referral succeeded
        for person in month.delighted:
            if rnd.random() >= refs.refer_prob:
                continue
            target = self._referral_target(person)
            if target is None:
                continue
            f = person.firm
            month.counts["referrals_made"][f.index] += 1
            if (
                target.status == rules.PROSPECT
                and not target.is_closed_to(f.index, t)
                and rnd.random() < refs.conversion
            ):
                successes.setdefault(id(target), []).append(f)
        if refs.negative_reach > 0 and refs.negative_months > 0:
            for person, after_bad in month.leavers:
                if after_bad:
                    for told in self._told(person, refs.negative_reach):
                        if told.status == rules.PROSPECT:
                            month.closures.append((told, person.firm.index))
        for person in month.prospects:
            won = successes.get(id(person))
            if won:
                firm = won[0] if len(won) == 1 else rnd.choice(won)
                month.joins.append((person, firm, "referral"))

    def _expectations(self, month: _Month) -> None:
        """Step 5 (section 7.5): the stayers' own experience, then the market pull."""
        cust = self.scenario.customers
        for person, quality in month.stayers:
            person.expectation = rules.move_toward(person.expectation, quality, cust.adapt_rate)
        if cust.market_pull > 0:
            references = self.firms.references(self.scenario.market.standard).tolist()
            nf = len(self.firm_agents)
            for person in self.reachable:
                s = references[person.firm.index if person.status == rules.CUSTOMER else nf]
                person.expectation = rules.move_toward(person.expectation, s, cust.market_pull)

    def _acquisition(self, month: _Month) -> None:
        """Step 6 (section 7.6): marketing, among the prospects not won by a referral."""
        referred = {id(p) for p, _, _ in month.joins}
        prob = self.scenario.acquisition.prob
        for person in month.prospects:
            if id(person) not in referred and self.random.random() < prob:
                firm = self._choose_firm(person, month.recognised, None, month.t)
                if firm is not None:
                    month.joins.append((person, firm, "marketing"))

    def _leavers(self, month: _Month) -> None:
        """Step 7 (section 7.7): each leaver switches to a competitor, or goes away (or for
        good)."""
        switch_prob = self.scenario.churn.switch_prob
        for person, _ in month.leavers:
            old = person.firm
            if switch_prob > 0 and self.random.random() < switch_prob:
                firm = self._choose_firm(person, month.recognised, old, month.t)
                if firm is not None:
                    month.counts["switched_out"][old.index] += 1
                    month.joins.append((person, firm, "switch"))
                    continue
            month.departures.append(person)

    def _apply(self, month: _Month) -> None:
        """End of the month: closures, leavers, departures, joins and returns take effect."""
        t, sc = month.t, self.scenario
        for person, firm_index in month.closures:
            person.close_to(firm_index, t + sc.referrals.negative_months)
        for person, _ in month.leavers:
            person.cohort = False
        for person in month.departures:
            self._leave(person, t, sc.churn.leavers_return_after)
        for person, firm, how in month.joins:
            person.join(firm)
            month.counts[_JOIN_COUNT[how]][firm.index] += 1
        for person in self.returns.pop(t + 1, ()):
            person.status = rules.PROSPECT

    def _reputation(self, month: _Month) -> None:
        """Step 8 (section 7.8), at the end of the month: streaks, then the recognised rung."""
        self.firms.update_reputation()

    def _accounts(self, month: _Month) -> None:
        """Step 9 (section 7.9): record the month's row of each firm; Mesa's DataCollector
        collects it, and ``running`` turns False at the horizon."""
        self._record(month.t, month.counts, month.start_customers)
        self.datacollector.collect(self)
        if month.t >= self.scenario.months:
            self.running = False

    # ----------------------------------------------------------------------------------------
    def _leave(self, person: Person, t: int, k: int) -> None:
        person.firm = None
        if k < 0:
            person.status = rules.GONE
            self.reachable_dirty = True
        else:
            person.status = rules.AWAY
            self.returns.setdefault(t + k + 1, []).append(person)

    def _others(self, person: Person) -> list[Person]:
        """Who a person can reach: network neighbours, or everyone, who are not gone."""
        if person.neighbours is None:
            return self.reachable
        return [p for p in person.neighbours if p.status != rules.GONE]

    def _referral_target(self, person: Person) -> Person | None:
        """A uniformly drawn person of the rest of the market (or neighbour), not gone."""
        pool = self._others(person)
        if person.neighbours is not None:
            return self.random.choice(pool) if pool else None
        if len(pool) < 2:
            return None
        while True:  # uniform over the others: reject oneself
            target = pool[self.random.randrange(len(pool))]
            if target is not person:
                return target

    def _told(self, person: Person, reach: int) -> list[Person]:
        """``reach`` people (or all there are) drawn the same way, without replacement."""
        pool = self._others(person)
        if person.neighbours is not None:
            return self.random.sample(pool, min(reach, len(pool)))
        drawn = self.random.sample(pool, min(reach + 1, len(pool)))
        return [p for p in drawn if p is not person][:reach]

    def _choose_firm(
        self, person: Person, recognised: list[int], exclude: FirmAgent | None, t: int
    ) -> FirmAgent | None:
        """Step 6's logit choice among the firms open to the person (``exclude`` left out)."""
        w = self.scenario.acquisition.rung_weight
        options = [
            f for f in self.firm_agents if f is not exclude and not person.is_closed_to(f.index, t)
        ]
        if len(options) <= 1:
            return options[0] if options else None
        weights = [rules.choice_weight(recognised[f.index], w) for f in options]
        u = self.random.random() * math.fsum(weights)
        for firm, weight in zip(options, weights, strict=True):
            u -= weight
            if u < 0:
                return firm
        return options[-1]

    def _record(self, t: int, counts: dict[str, list[int]], start_customers: list[int]) -> None:
        if self.reachable_dirty:
            self.reachable = [p for p in self.reachable if p.status != rules.GONE]
            self.reachable_dirty = False
        nf = len(self.firm_agents)
        customers = [0] * nf
        cohort = [0] * nf
        expectation = [0.0] * nf
        stocks = {rules.PROSPECT: 0, rules.AWAY: 0}
        for person in self.reachable:
            if person.status == rules.CUSTOMER:
                f = person.firm.index
                customers[f] += 1
                cohort[f] += person.cohort
                expectation[f] += person.expectation
            else:
                stocks[person.status] += 1
        self.tallies.record_month(
            t,
            self.firms,
            counts,
            {
                "customers_start": start_customers,
                "customers": customers,
                "cohort_remaining": cohort,
                "expectation_sum": expectation,
            },
            {
                "prospects": stocks[rules.PROSPECT],
                "away": stocks[rules.AWAY],
                "gone": self.scenario.market.size - len(self.reachable),
            },
        )

    # ----------------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Run every month and return the MODEL.md frame."""
        for _ in range(self.scenario.months):
            self.step()
        return self.frame()

    def frame(self) -> pd.DataFrame:
        """The frame of the months run so far (later months are all zero until run)."""
        return build_frame(self.tallies, self.scenario)

    def month_rows(self) -> list[dict[str, Any]]:
        """The current month's row of each firm (the frame's rows at ``step == self.steps``),
        as dicts, in firm order; computed once per month."""
        if self._month_rows is None or self._month_rows[0] != self.steps:
            values = metric_values(self.tallies, self.scenario)
            n = len(self.firm_agents)
            at = slice(self.steps * n, (self.steps + 1) * n)
            columns = {k: v[at].tolist() for k, v in values.items()}
            rows = [{k: v[f] for k, v in columns.items()} for f in range(n)]
            self._month_rows = (self.steps, rows)
        return self._month_rows[1]

    def release(self) -> None:
        """Drop Mesa 3.3's class-level reference to this model so that it can be freed."""
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)
