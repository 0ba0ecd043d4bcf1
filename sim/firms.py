"""The firms of one run, as small per-firm arrays both engines share.

A firm's state and bookkeeping are not per person, so they are written once, here: what each firm
delivers this month (its departments' rungs from the schedule, the delivered rung, the delivered
quality, the cost per customer and the one-off investment of the rungs climbed to; docs/model.md
section 7.1), its contact centre's month and its
chance of a stock-out (section 7.2), the reference quality of the market pull (section 7.5) and
its reputation: delivery streaks and the recognised rung, which drops at once and rises at most
one rung a month, never above the top rung (section 7.8).

The population engine (`sim.population`) reads the arrays directly; the agent engine wraps each
firm in a `sim.agents.FirmAgent`, which reads its row. The per-person rules (experience, churn,
referrals) live in `sim.rules` and the engines; the reported columns in `sim.metrics`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim import kernels, rules
from sim.operations import queue_month

if TYPE_CHECKING:
    from sim.metrics import Tallies
    from sim.scenario import Firm, Scenario


class Firms:
    """Every firm's delivery this month, per department, its operations and its reputation.

    Args:
        scenario: the validated scenario whose firms these are.
        quality_dtype: the dtype of the rung qualities the engine draws from (the population
            engine draws in float32, the agent engine in Python floats, i.e. float64). The
            delivered quality is computed from the same values, so that each engine's market
            reference follows from the qualities it draws.

    Attributes (this month, after `begin_month`):
        specs: each firm's `sim.scenario.Firm`.
        n_departments: (firms,) departments of each firm.
        rung: (firms, departments) ladder index of each department (padded with department 0).
        quality_mean, quality_sd: (firms, departments) rung qualities of each department, in
            ``quality_dtype``.
        resolve_prob, quick_resolve_prob: (firms, departments) rung complaint-handling chances.
        cut: (firms, departments - 1) cumulative department weights; a uniform u picks the first
            department whose cumulative weight exceeds u (padding: +inf).
        delivered: (firms,) lowest department rung (ladder index).
        delivered_quality: (firms,) weighted mean ``quality_mean`` of the departments (0-10).
        cost_per_customer: (firms,) weighted mean ``cost_per_customer`` (currency per month).
        investment: (firms,) this month's one-off investment: each department's climb since
            last month (`rules.climb_investment`), weighted by department (0 without a climb;
            the month-0 rungs, delivered throughout a warm-up, cost nothing).
        recognised: (firms,) recognised rung (ladder index).
        streaks: (firms, rungs) months in a row each rung has been delivered or bettered.
        monthly_fee: (firms,) revenue per customer-month.
        centres: each firm's `sim.scenario.ContactCentre`, or None.
        has_centre, has_inventory: (firms,) bool, whether the firm has a contact centre, an
            inventory.
        late_prob: (firms,) this month's chance that a call waits past the callers' patience
            (0 without a contact centre; set by `open_queues`).
        stockout_prob: (firms,) chance an interaction meets a stock-out, 1 - fill rate (0
            without an inventory).
        staffing_cost: (firms,) agents x cost per agent-month (0 without a contact centre).
        operations: whether any firm has a contact centre or an inventory.
    """

    def __init__(self, scenario: Scenario, quality_dtype: type = np.float64):
        self.specs = scenario.firms
        self.ladder = scenario.ladder
        nf = len(self.specs)
        self.n_departments = np.array([len(f.departments) for f in self.specs], dtype=np.int64)
        depts = int(self.n_departments.max())
        self.weights = np.zeros((nf, depts))
        self.cut = np.full((nf, depts - 1), np.inf)
        for i, f in enumerate(self.specs):
            w = list(f.department_weights)
            self.weights[i, : len(w)] = w
            cumulative = [sum(w[: j + 1]) for j in range(len(w))]
            self.cut[i, : len(w) - 1] = cumulative[:-1]
        self.multi_department = depts > 1
        self.monthly_fee = np.array([f.monthly_fee for f in self.specs])
        rungs = self.ladder.rungs
        self._rung_mean: np.ndarray = np.array([r.quality_mean for r in rungs], dtype=quality_dtype)
        self._rung_sd: np.ndarray = np.array([r.quality_sd for r in rungs], dtype=quality_dtype)
        self._rung_resolve = np.array([r.resolve_prob for r in rungs])
        self._rung_quick = np.array([r.quick_resolve_prob for r in rungs])
        self._rung_cost = np.array([r.cost_per_customer for r in rungs])
        self.sustain = np.array([r.sustain_months for r in rungs], dtype=np.int64)
        self._rung_investment_total = np.array(self.ladder.cumulative_investment)
        self.investment = np.zeros(nf)
        self.centres = [f.contact_centre for f in self.specs]
        self.has_centre = np.array([c is not None for c in self.centres])
        self.has_inventory = np.array([f.inventory is not None for f in self.specs])
        self.late_prob = np.zeros(nf)
        self.stockout_prob = np.array(
            [0.0 if f.inventory is None else 1.0 - f.inventory.fill_rate for f in self.specs]
        )
        self.operations = bool(self.has_centre.any() or self.has_inventory.any())
        self.staffing_cost = np.array([0.0 if c is None else c.staffing_cost for c in self.centres])
        self.recognised = np.array(
            [self.ladder.index(f.recognised_start) for f in self.specs], dtype=np.int64
        )
        self.streaks = np.zeros((nf, len(self.ladder)), dtype=np.int64)
        self._configured: tuple[tuple[str, ...], ...] | None = None
        self.begin_month(0)

    @property
    def specs(self) -> tuple[Firm, ...]:
        """Each firm's `sim.scenario.Firm`; set it anew to change a schedule during a run."""
        return self._specs

    @specs.setter
    def specs(self, specs: tuple[Firm, ...]) -> None:
        self._specs = specs
        self._static = not any(f.schedule for f in specs)  # the rungs never change

    def __len__(self) -> int:
        return len(self.specs)

    def begin_month(self, month: int) -> bool:
        """Set this month's department rungs (following the schedules) and what follows from
        them (docs/model.md section 7.1).

        Returns:
            Whether any firm's departments changed rung.
        """
        if self._static and self._configured is not None:
            return False  # no schedules: month 0's rungs throughout, and never an investment
        ids = tuple(f.rungs_at(month) for f in self.specs)
        if self.investment.any():
            self.investment = np.zeros(len(self.specs))  # this month's, in the rungs climbed to
        if ids == self._configured:
            return False
        previous: np.ndarray | None = None if self._configured is None else self.rung
        self._configured = ids
        nf, depts = self.weights.shape
        rung = np.zeros((nf, depts), dtype=np.int64)
        for i, rung_ids in enumerate(ids):
            index = [self.ladder.index(r) for r in rung_ids]
            rung[i, :] = index[0]
            rung[i, : len(index)] = index
        self.rung: np.ndarray = rung
        if previous is not None:
            totals = self._rung_investment_total
            climbed = rules.climb_investment(totals[previous], totals[rung])
            self.investment = (self.weights * climbed).sum(axis=1)
        self.quality_mean = self._rung_mean[rung]
        self.quality_sd = self._rung_sd[rung]
        self.resolve_prob = self._rung_resolve[rung]
        self.quick_resolve_prob = self._rung_quick[rung]
        self.delivered = np.array(
            [min(self.ladder.index(r) for r in rung_ids) for rung_ids in ids], dtype=np.int64
        )
        self.delivered_quality = (self.weights * self.quality_mean).sum(axis=1)
        self.cost_per_customer = (self.weights * self._rung_cost[rung]).sum(axis=1)
        return True

    def open_queues(self, month: int, calls: np.ndarray | list[int], tallies: Tallies) -> None:
        """Step 2: each contact centre's month from its calls (`sim.operations.queue_month`);
        sets `late_prob` and records the month's queue figures in ``tallies``.

        Args:
            month: the month t.
            calls: (firms,) the month's interactions of each firm.
            tallies: the run's tallies.
        """
        for f, centre in enumerate(self.centres):
            if centre is not None:
                queue = queue_month(int(calls[f]), centre)
                tallies.record_queue(month, f, queue)
                self.late_prob[f] = queue.late_prob

    def references(self, standard: float) -> np.ndarray:
        """Step 5's reference quality s: for a customer of each firm (the best of the *other*
        firms, or the standard), and last for everyone else (the best of all firms).

        Returns:
            (firms + 1,) float64.
        """
        quality = self.delivered_quality
        nf = quality.size
        out = np.empty(nf + 1)
        for i in range(nf):
            others = np.delete(quality, i)
            out[i] = rules.market_reference(standard, others.max()) if others.size else standard
        out[nf] = rules.market_reference(standard, quality.max())
        return out

    def update_reputation(self) -> None:
        """Step 8, at the end of the month: streaks, then the recognised rung (section 7.8).

        A firm recognised at the top rung has no rung above: it is given a streak of 0 against a
        sustain of 1, so that it never rises.
        """
        kernels.update_reputation(self.streaks, self.recognised, self.delivered, self.sustain)
