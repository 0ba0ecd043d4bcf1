"""The agents of the readable engine: `Person` and `FirmAgent`, both `mesa.Agent`s.

A person carries its own state (status, firm, expectation, bad-experience history, closures) and
knows how to have an experience and how to react to a bad one. A firm agent is a view of its row
of `sim.firms.Firms` (what it delivers this month, its operations and its reputation, shared with
the population engine) and knows how to draw the department a customer deals with. The month's
schedule (who acts when, the synchronous update) lives in `model.py`; the formulas live in
`rules.py`.
"""

from __future__ import annotations

import random as _random
from typing import TYPE_CHECKING

import mesa

from sim import rules
from sim.ladder import Rung

if TYPE_CHECKING:
    from sim.firms import Firms
    from sim.scenario import Churn


class FirmAgent(mesa.Agent):
    """A firm, as an agent: a view of its row of the run's `sim.firms.Firms`.

    The firm's state and bookkeeping (delivery, operations, reputation) live in `Firms`, shared
    with the population engine; this agent keeps, as plain Python values, what a customer's
    interaction reads (its departments' rungs and weights, the chance of a late call or a
    stock-out), refreshed by `sync` whenever the firms' month changes them.
    """

    def __init__(self, model: mesa.Model, index: int, firms: Firms):
        super().__init__(model)
        self.index = index
        self.firms = firms
        self.spec = firms.specs[index]
        self.name = self.spec.name
        self.centre = firms.centres[index]  # None: no queue
        self.has_inventory = bool(firms.has_inventory[index])
        self.stockout_prob = float(firms.stockout_prob[index])
        self.late_prob = 0.0  # this month: chance a call waits past the customer's patience
        self.sync()

    def sync(self) -> None:
        """Copy this month's departments (rungs and cumulative weights) and late-call chance."""
        i, ladder = self.index, self.firms.ladder
        n = int(self.firms.n_departments[i])
        self.rungs: list[Rung] = [ladder[r] for r in self.firms.rung[i, :n].tolist()]
        self.cut: list[float] = self.firms.cut[i, : n - 1].tolist()
        self.late_prob = float(self.firms.late_prob[i])

    @property
    def monthly_fee(self) -> float:
        """Revenue per customer-month."""
        return float(self.firms.monthly_fee[self.index])

    @property
    def delivered(self) -> int:
        """This month's delivered rung (the weakest department's), a ladder index."""
        return int(self.firms.delivered[self.index])

    @property
    def recognised(self) -> int:
        """The recognised rung, a ladder index."""
        return int(self.firms.recognised[self.index])

    @property
    def streaks(self) -> list[int]:
        """Months in a row each rung has been delivered or bettered."""
        return self.firms.streaks[self.index].tolist()

    def draw_department(self, random: _random.Random) -> Rung:
        """The rung of the department a customer deals with, drawn by department weight."""
        if len(self.rungs) == 1:
            return self.rungs[0]
        u = random.random()
        for rung, cut in zip(self.rungs, self.cut, strict=False):
            if u < cut:
                return rung
        return self.rungs[-1]


class Person(mesa.Agent):
    """A person in the market: a customer of one firm, a prospect, away or gone."""

    def __init__(self, model: mesa.Model, expectation: float):
        super().__init__(model)
        self.status = rules.PROSPECT
        self.firm: FirmAgent | None = None
        self.expectation = expectation
        self.bad_months: list[int] = []  # months of bad experiences at the current firm (strikes)
        self.cohort = False  # a month-0 customer who has never left its firm
        self.closed_until: dict[int, int] | None = None  # firm index -> last month closed to it
        self.neighbours: list[Person] | None = None  # on a network market
        self.outcome = -1  # outcome of the latest experience (rules.BAD/MET/DELIGHTED)
        self.outcome_month = -1  # the month of it (for watching agents, e.g. the workshop app)
        # monthly attrition chance, own for life (drawn by the model when polarized)
        self.attrition = model.scenario.churn.base_prob

    def is_closed_to(self, firm_index: int, month: int) -> bool:
        """Whether negative word of mouth keeps this person from joining the firm this month."""
        return self.closed_until is not None and self.closed_until.get(firm_index, -1) >= month

    def close_to(self, firm_index: int, last_month: int) -> None:
        """Be closed to a firm up to and including ``last_month``."""
        if self.closed_until is None:
            self.closed_until = {}
        self.closed_until[firm_index] = max(self.closed_until.get(firm_index, -1), last_month)

    def experience(self, random: _random.Random, tolerance: float) -> tuple[Rung, float, int, bool]:
        """Step 2 for a customer with an interaction.

        Draws the department, the quality, then (firm with a contact centre) whether the call
        waits past the customer's patience and (firm with an inventory) whether it meets a
        stock-out, one uniform each for every interaction, in that order; either makes it bad.

        Returns:
            (department rung, quality x (0-10), outcome, met a stock-out).
        """
        firm = self.firm
        rung = firm.draw_department(random)
        quality = random.gauss(rung.quality_mean, rung.quality_sd)
        quality = 0.0 if quality < 0.0 else 10.0 if quality > 10.0 else quality
        outcome = rules.experience_outcome(quality, self.expectation, tolerance)
        stockout = False
        if firm.centre is not None or firm.has_inventory:
            late = firm.centre is not None and random.random() < firm.late_prob
            stockout = firm.has_inventory and random.random() < firm.stockout_prob
            outcome = rules.bad_after_operations(outcome, late, stockout)
        self.outcome = outcome
        self.outcome_month = self.model.steps
        return rung, quality, outcome, stockout

    def leaves_after_bad(
        self, rung: Rung, churn: Churn, month: int, random: _random.Random
    ) -> tuple[bool, bool, bool]:
        """Step 3 for a bad experience under the scenario's churn rule.

        Returns:
            (leaves, complained, resolved).
        """
        if churn.rule == "fixed":
            return random.random() < churn.leave_prob, False, False
        if churn.rule == "tarp":
            complained = random.random() < churn.complain_prob
            resolved = complained and random.random() < rung.resolve_prob
            quick = resolved and random.random() < rung.quick_resolve_prob
            stay = churn.tarp_stay[rules.tarp_case(complained, resolved, quick)]
            return random.random() >= stay, complained, resolved
        recent = [m for m in self.bad_months if rules.in_window(m, month, churn.window_months)]
        leaves = rules.strikes_reached(1 + len(recent), churn.strikes)
        self.bad_months = [*recent, month]
        return leaves, False, False

    def join(self, firm: FirmAgent) -> None:
        """Become a customer of ``firm`` (end of month); the bad-experience history starts afresh."""
        self.status = rules.CUSTOMER
        self.firm = firm
        self.bad_months = []
