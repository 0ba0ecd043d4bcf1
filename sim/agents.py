"""The agents of the readable engine: `Person` and `FirmAgent`, both `mesa.Agent`s.

A person carries its own state (status, firm, expectation, bad-experience history, closures) and
knows how to have an experience and how to react to a bad one. A firm knows what it delivers this
month (its departments' rungs), its reputation (recognised rung and delivery streaks), how to
draw the department a customer deals with and, when it has them, its contact centre's month (the
chance a call waits past the customer's patience) and its chance of a stock-out. The month's
schedule (who acts when, the synchronous update) lives in `model.py`; the formulas live in
`rules.py`.
"""

from __future__ import annotations

import random as _random
from typing import TYPE_CHECKING

import mesa

from sim import rules
from sim.ladder import Ladder, Rung
from sim.operations import QueueMonth, queue_month

if TYPE_CHECKING:
    from sim.scenario import Churn, Firm


class FirmAgent(mesa.Agent):
    """A firm: what it delivers each month, its reputation and its fee."""

    def __init__(self, model: mesa.Model, index: int, spec: Firm, ladder: Ladder):
        super().__init__(model)
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.ladder = ladder
        self.monthly_fee = spec.monthly_fee
        self.recognised = ladder.index(spec.recognised_start)
        self.streaks = [0] * len(ladder)  # months in a row each rung has been delivered or bettered
        self.centre = spec.contact_centre  # None: no queue
        self.staffing_cost = 0.0 if self.centre is None else self.centre.staffing_cost
        self.late_prob = 0.0  # this month: chance a call waits past the customer's patience
        self.stockout_prob = 0.0 if spec.inventory is None else 1.0 - spec.inventory.fill_rate
        self.has_inventory = spec.inventory is not None
        self._configured: tuple[str, ...] | None = None
        self.begin_month(0)

    def begin_month(self, month: int) -> None:
        """Set this month's departments' rungs (following the schedule) and what follows from them."""
        rung_ids = self.spec.rungs_at(month)
        if rung_ids == self._configured:
            return
        self._configured = rung_ids
        weights = self.spec.department_weights
        self.rungs: list[Rung] = [self.ladder[self.ladder.index(r)] for r in rung_ids]
        self.rung_indices = [self.ladder.index(r) for r in rung_ids]
        self.cumulative_weights = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.delivered = min(self.rung_indices)
        self.delivered_quality = sum(
            w * r.quality_mean for w, r in zip(weights, self.rungs, strict=True)
        )
        self.cost_per_customer = sum(
            w * r.cost_per_customer for w, r in zip(weights, self.rungs, strict=True)
        )

    def open_queue(self, calls: int) -> QueueMonth:
        """Step 2, contact centre: this month's queue from its calls; sets `late_prob`."""
        queue = queue_month(calls, self.centre)
        self.late_prob = queue.late_prob
        return queue

    def draw_department(self, random: _random.Random) -> Rung:
        """The rung of the department a customer deals with, drawn by department weight."""
        if len(self.rungs) == 1:
            return self.rungs[0]
        u = random.random()
        for rung, cumulative in zip(self.rungs, self.cumulative_weights, strict=True):
            if u < cumulative:
                return rung
        return self.rungs[-1]

    def update_reputation(self) -> None:
        """Step 8, at the end of the month: streaks, then the recognised rung."""
        top = len(self.ladder) - 1
        for r in range(top + 1):
            self.streaks[r] = rules.streak_after(self.streaks[r], self.delivered >= r)
        up = self.recognised + 1
        self.recognised = rules.recognised_after(
            self.recognised,
            self.delivered,
            self.streaks[up] if up <= top else 0,
            self.ladder[up].sustain_months if up <= top else 1,
        )


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
