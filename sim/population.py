"""The population engine: MODEL.md's month over numpy arrays, for sweeps and big markets.

One array per state variable, one element per person, each with a dtype chosen for size: status
(int8), firm (int8, or int16 beyond 126 firms; ``n_firms`` means "none"), expectation (float32),
month-0 cohort flag (bool), and only when the scenario needs them: the months of the latest
``strikes - 1`` bad experiences (int16, ``strikes`` rule), the last month each person is closed
to each firm (int16, negative word of mouth) and each person's own attrition chance (float32,
``churn.base_polarization`` > 0). Away people are kept as one index array per return
month, gone people as the compact list of those who are not gone. A month is a handful of array
operations on the people concerned; there is no Python loop over people, and the few passes over
the whole market (the market pull, the end-of-month counts) go through it in fixed-size blocks so
that nothing the size of the market is reallocated each month.

The engine follows `sim.model.RetentionModel` (the readable reference) decision for decision: the
same synchronous month (decide from the state at the start of the month, apply every change at its
end), the same referral and word-of-mouth targets, the same conflict rule, the same reference
quality, choice and timing, and the same operational step 2 (each contact centre's month from its
calls, `sim.operations.queue_month`; one uniform per interaction for a late call and one for a
stock-out, drawn only when some firm has a contact centre or an inventory, so that other scenarios
draw exactly as before). The formulas come from `sim.rules`; the counting and the frame from
`sim.metrics`. It draws its random numbers differently (numpy ``Generator`` from the run seed,
vectorised), so the two engines agree in distribution, not number for number: the docking tests
(`tests/test_docking.py`) check that.

What does not live here: rule formulas (`rules.py`), the reported columns (`metrics.py`), the
network generators (`network.py`), running replicates (`runner.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import rules
from sim.metrics import Tallies, build_frame
from sim.network import adjacency_csr, build_network
from sim.operations import queue_month
from sim.scenario import Scenario

BLOCK = 1 << 16  # people per block in the whole-market passes (bounds their temporaries)
SPARSE_PROB = 0.05  # below this chance, draw how many succeed, then which (cheaper than all)
_INT16_SAFE = 32000  # months (plus windows) below this fit int16 month stamps


def run_population(scenario: Scenario, seed: int) -> pd.DataFrame:
    """One run of the population engine.

    Args:
        scenario: a validated scenario (its ``sweep``, if any, is ignored).
        seed: the run seed (non-negative integer); the same seed gives an identical frame.

    Returns:
        The MODEL.md frame: one row per (month, firm) from month 0, columns `sim.metrics.COLUMNS`.
    """
    return PopulationModel(scenario, seed).run()


# --------------------------------------------------------------------------------------------
# Sampling helpers (pure functions of a Generator and arrays).


def distinct_ranks(
    rng: np.random.Generator, sizes: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each row i, ``min(k, sizes[i])`` distinct ranks drawn uniformly from ``0..sizes[i]-1``.

    Rows whose population is at most ``k`` take all of it. The others draw ``k`` ranks with
    replacement and redraw the repeats until all differ; the process depends only on the set
    drawn so far, never on which labels it holds, so the final set is a uniform ``k``-subset.

    Args:
        rng: the run's generator.
        sizes: population size per row (int, >= 0).
        k: how many to draw per row (>= 0).

    Returns:
        (row, rank) pairs as two int64 arrays of equal length.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if k <= 0 or sizes.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    whole = sizes <= k
    rows_whole = np.flatnonzero(whole)
    counts = sizes[rows_whole]
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    rows_a = np.repeat(rows_whole, counts)
    ranks_a = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    rows_part = np.flatnonzero(~whole)
    if rows_part.size == 0:
        return rows_a, ranks_a
    part_sizes = sizes[rows_part]
    draws = rng.integers(0, part_sizes[:, None], size=(rows_part.size, k))
    if k > 1:
        while True:
            draws.sort(axis=1)
            repeat = np.zeros(draws.shape, dtype=bool)
            repeat[:, 1:] = draws[:, 1:] == draws[:, :-1]
            r, c = np.nonzero(repeat)
            if r.size == 0:
                break
            draws[r, c] = rng.integers(0, part_sizes[r])
    rows = np.concatenate([rows_a, np.repeat(rows_part, k)])
    ranks = np.concatenate([ranks_a, draws.ravel()])
    return rows, ranks


def first_per_target(
    rng: np.random.Generator, targets: np.ndarray, firms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Step 4's conflict rule: of several successful referrals to one person, the first in a
    uniformly random order wins.

    Args:
        targets: the person of each successful referral.
        firms: the referring firm of each.

    Returns:
        (person, winning firm), one pair per distinct person, persons ascending.
    """
    if targets.size == 0:
        return targets, firms
    order = np.lexsort((rng.random(targets.size), targets))
    t, f = targets[order], firms[order]
    first = np.ones(t.size, dtype=bool)
    first[1:] = t[1:] != t[:-1]
    return t[first], f[first]


def logit_choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Step 6's choice: per row, a column drawn with probability proportional to its weight.

    Args:
        weights: (people, firms) non-negative weights; zero for firms a person cannot choose.

    Returns:
        The chosen column per row, or -1 where every weight is zero.
    """
    n, nf = weights.shape
    if n == 0:
        return np.zeros(0, np.int64)
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1]
    u = rng.random(n) * total
    choice = (cumulative <= u[:, None]).sum(axis=1)
    # Rounding can push u to the total: fall back on the last firm with a positive weight.
    last_open = nf - 1 - np.argmax((weights > 0)[:, ::-1], axis=1)
    choice = np.minimum(choice, last_open)
    choice[total <= 0] = -1
    return choice


# --------------------------------------------------------------------------------------------
# Firms: what each delivers this month, and its reputation (a handful of numbers, not people).


class FirmTable:
    """Every firm's delivery this month, per department, and its reputation, as small arrays.

    Attributes (this month, after `begin_month`):
        rung: (firms, departments) ladder index of each department (padded with department 0).
        quality_mean, quality_sd, resolve_prob, quick_resolve_prob: (firms, departments) rung
            values of each department.
        cut: (firms, departments - 1) cumulative department weights; a uniform u picks the first
            department whose cumulative weight exceeds u (padding: +inf).
        delivered: (firms,) lowest department rung (ladder index).
        delivered_quality: (firms,) weighted mean ``quality_mean`` of the departments (0-10).
        cost_per_customer: (firms,) weighted mean ``cost_per_customer`` (currency per month).
        recognised: (firms,) recognised rung (ladder index).
        streaks: (firms, rungs) months in a row each rung has been delivered or bettered.
        centres: each firm's `sim.scenario.ContactCentre`, or None.
        has_centre, has_inventory: (firms,) bool, whether the firm has a contact centre, an
            inventory.
        stockout_prob: (firms,) chance an interaction meets a stock-out, 1 - fill rate (0
            without an inventory).
        staffing_cost: (firms,) agents x cost per agent-month (0 without a contact centre).
        operations: whether any firm has a contact centre or an inventory.
    """

    def __init__(self, scenario: Scenario):
        self.specs = scenario.firms
        self.ladder = scenario.ladder
        nf = len(self.specs)
        self.n_departments = max(len(f.departments) for f in self.specs)
        depts = self.n_departments
        self.weights = np.zeros((nf, depts))
        self.cut = np.full((nf, max(depts - 1, 0)), np.inf)
        for i, f in enumerate(self.specs):
            w = list(f.department_weights)
            self.weights[i, : len(w)] = w
            cumulative = [sum(w[: j + 1]) for j in range(len(w))]
            self.cut[i, : len(w) - 1] = cumulative[:-1]
        self.multi_department = depts > 1
        self.monthly_fee = np.array([f.monthly_fee for f in self.specs])
        rungs = self.ladder.rungs
        self._rung_mean = np.array([r.quality_mean for r in rungs], dtype=np.float32)
        self._rung_sd = np.array([r.quality_sd for r in rungs], dtype=np.float32)
        self._rung_resolve = np.array([r.resolve_prob for r in rungs])
        self._rung_quick = np.array([r.quick_resolve_prob for r in rungs])
        self._rung_cost = np.array([r.cost_per_customer for r in rungs])
        self.sustain = np.array([r.sustain_months for r in rungs], dtype=np.int64)
        self.centres = [f.contact_centre for f in self.specs]  # None: no contact centre
        self.has_centre = np.array([c is not None for c in self.centres])
        self.has_inventory = np.array([f.inventory is not None for f in self.specs])
        self.stockout_prob = np.array(
            [0.0 if f.inventory is None else 1.0 - f.inventory.fill_rate for f in self.specs]
        )
        self.operations = bool(self.has_centre.any() or self.has_inventory.any())
        self.staffing_cost = np.array([0.0 if c is None else c.staffing_cost for c in self.centres])
        self.recognised = np.array(
            [self.ladder.index(f.recognised_start) for f in self.specs], dtype=np.int64
        )
        self.streaks = np.zeros((nf, len(self.ladder)), dtype=np.int64)
        self._configured: tuple | None = None
        self.begin_month(0)

    def begin_month(self, month: int) -> None:
        """Set this month's department rungs (following the schedules) and what follows."""
        ids = tuple(f.rungs_at(month) for f in self.specs)
        if ids == self._configured:
            return
        self._configured = ids
        nf, depts = self.weights.shape
        rung = np.zeros((nf, depts), dtype=np.int64)
        for i, rung_ids in enumerate(ids):
            index = [self.ladder.index(r) for r in rung_ids]
            rung[i, :] = index[0]
            rung[i, : len(index)] = index
        self.rung = rung
        self.quality_mean = self._rung_mean[rung]
        self.quality_sd = self._rung_sd[rung]
        self.resolve_prob = self._rung_resolve[rung]
        self.quick_resolve_prob = self._rung_quick[rung]
        self.delivered = np.array(
            [min(self.ladder.index(r) for r in rung_ids) for rung_ids in ids], dtype=np.int64
        )
        self.delivered_quality = (self.weights * self._rung_mean[rung]).sum(axis=1)
        self.cost_per_customer = (self.weights * self._rung_cost[rung]).sum(axis=1)

    def references(self, standard: float) -> np.ndarray:
        """Step 5's reference quality s: for a customer of each firm (the best of the *other*
        firms, or the standard), and last for everyone else (the best of all firms).

        Returns:
            (firms + 1,) float32.
        """
        quality = self.delivered_quality
        nf = quality.size
        out = np.empty(nf + 1, dtype=np.float32)
        for i in range(nf):
            others = np.delete(quality, i)
            out[i] = rules.market_reference(standard, others.max()) if others.size else standard
        out[nf] = rules.market_reference(standard, quality.max())
        return out

    def update_reputation(self) -> None:
        """Step 8, at the end of the month: streaks, then the recognised rung."""
        top = len(self.ladder) - 1
        rung_index = np.arange(top + 1)
        self.streaks = rules.streak_after(
            self.streaks, self.delivered[:, None] >= rung_index[None, :]
        )
        up = self.recognised + 1
        has_next = up <= top
        capped = np.minimum(up, top)
        next_streak = np.where(has_next, self.streaks[np.arange(up.size), capped], 0)
        next_sustain = np.where(has_next, self.sustain[capped], 1)
        self.recognised = rules.recognised_after(
            self.recognised, self.delivered, next_streak, next_sustain
        ).astype(np.int64)


# --------------------------------------------------------------------------------------------
# The engine.


class PopulationModel:
    """One market over ``scenario.months`` months, as arrays.

    Args:
        scenario: a validated scenario (point of a sweep, if it has one: its ``sweep`` is ignored).
        seed: the run seed; the same seed gives the same run.

    Attributes:
        status: (people,) int8 ``rules.CUSTOMER`` / ``PROSPECT`` / ``AWAY`` / ``GONE``.
        firm: (people,) int8 firm index of a customer; ``n_firms`` for everyone else.
        expectation: (people,) float32 expectation e, 0-10.
        cohort: (people,) bool, a month-0 customer who has never left its firm.
        attrition: (people,) float32 own monthly attrition chance, drawn once from the Beta of
            `sim.rules.beta_parameters` (only when ``churn.base_polarization`` > 0), else None.
        bad_months: (people, strikes - 1) month stamps of the latest bad experiences at the
            current firm (``strikes`` rule only; empty slots hold the dtype's minimum).
        closed_until: (people, firms) last month each person is closed to each firm, -1 if never
            (only with negative word of mouth), else None.
    """

    def __init__(self, scenario: Scenario, seed: int):
        sc = scenario
        self.scenario = sc
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.firms = FirmTable(sc)
        n, nf = sc.market.size, len(sc.firms)
        self.size, self.n_firms = n, nf
        self.steps = 0
        c = sc.customers
        expectation = self.rng.normal(c.expectation_mean, c.expectation_sd, n)
        np.clip(expectation, 0.0, 10.0, out=expectation)
        self.expectation = expectation.astype(np.float32)
        del expectation
        self.status = np.full(n, rules.PROSPECT, dtype=np.int8)
        self.firm = np.full(n, nf, dtype=np.int8 if nf < 127 else np.int16)
        self.cohort = np.zeros(n, dtype=bool)
        initial = self.rng.choice(n, sc.market.initial_customers, replace=False)
        counts = rules.largest_remainder(initial.size, [f.share for f in sc.firms])
        start = 0
        for f, k in enumerate(counts):
            self.firm[initial[start : start + k]] = f
            start += k
        self.status[initial] = rules.CUSTOMER
        self.cohort[initial] = True
        del initial
        self.cohort_remaining = np.array(counts, dtype=np.int64)

        churn, refs = sc.churn, sc.referrals
        self.bad_months: np.ndarray | None = None
        if churn.rule == "strikes":
            small = sc.months + churn.window_months < _INT16_SAFE
            dtype = np.int16 if small else np.int32
            self._no_month = np.iinfo(dtype).min
            self.bad_months = np.full((n, churn.strikes - 1), self._no_month, dtype=dtype)
        self.word_of_mouth = refs.negative_reach > 0 and refs.negative_months > 0
        self.closed_until: np.ndarray | None = None
        if self.word_of_mouth:
            small = sc.months + refs.negative_months < _INT16_SAFE
            self.closed_until = np.full((n, nf), -1, dtype=np.int16 if small else np.int32)

        graph = build_network(sc.market.network, n, seed)
        self.indptr: np.ndarray | None = None
        if graph is not None:  # CSR adjacency: person i's neighbours, ascending
            if n:
                self.indptr, self.neighbours = adjacency_csr(graph)
            else:  # (networkx cannot convert a graph without nodes)
                self.indptr, self.neighbours = np.zeros(1, np.int64), np.zeros(0, np.int32)
            del graph
        self.attrition: np.ndarray | None = None  # own attrition chances (None: base_prob)
        if rules.attrition_polarized(churn.base_prob, churn.base_polarization):
            a, b = rules.beta_parameters(churn.base_prob, churn.base_polarization)
            self.attrition = self.rng.beta(a, b, n).astype(np.float32)
        self.reachable: np.ndarray | None = None  # not-gone people (None: everyone)
        self._not_gone_before: np.ndarray | None = None  # network: per edge, not-gone count
        self.returns: dict[int, list[np.ndarray]] = {}  # month -> away people prospects from it
        self._mask = np.empty(n, dtype=bool)
        self.tallies = Tallies(sc.months, nf)
        self._record(0, {}, np.zeros(nf, np.int64))

    # ----------------------------------------------------------------------------------------
    def _count(self, firm: np.ndarray) -> np.ndarray:
        """People per firm among ``firm`` (firm indices 0..n_firms-1), shape (n_firms,)."""
        if self.n_firms == 1:
            return np.array([firm.size], dtype=np.int64)
        return np.bincount(firm, minlength=self.n_firms)

    def _chance(self, n: int, prob: float) -> np.ndarray:
        """Which of n independent trials of chance ``prob`` succeed (ascending positions).

        For small chances, draws the number of successes (binomial) and then which trials (a
        uniform subset): the same law as n independent draws, at a fraction of the cost.
        """
        if n == 0 or prob <= 0.0:
            return np.zeros(0, np.int64)
        if prob >= 1.0:
            return np.arange(n, dtype=np.int64)
        if prob < SPARSE_PROB:
            hits = self.rng.choice(n, self.rng.binomial(n, prob), replace=False)
            hits.sort()
            return hits.astype(np.int64, copy=False)
        return np.flatnonzero(self.rng.random(n, dtype=np.float32) < prob)

    def _where(self, code: int) -> np.ndarray:
        """Indices of the people whose status is ``code`` (ascending)."""
        np.equal(self.status, code, out=self._mask)
        return np.flatnonzero(self._mask)

    def step(self) -> None:
        """One month of MODEL.md (t = self.steps after the increment)."""
        self.steps += 1
        t = self.steps
        sc, rng = self.scenario, self.rng
        churn, refs, cust_spec = sc.churn, sc.referrals, sc.customers
        firms, nf = self.firms, self.n_firms
        firms.begin_month(t)
        recognised = firms.recognised.copy()  # reputation at the start of the month
        status, expectation = self.status, self.expectation
        counts: dict[str, np.ndarray] = {}

        # Phase 1: decide, from the state at the start of the month -------------------------
        customers, prospects = self._customers, self._prospects  # as `_record` left them
        customer_firm = self.firm[customers]
        start_customers = self._count(customer_firm)

        # Steps 1-2: contact and experience.
        contact_at = self._chance(customers.size, cust_spec.contact_prob)
        people, firm_of = customers[contact_at], customer_firm[contact_at]
        counts["interactions"] = self._count(firm_of)
        if firms.multi_department:
            department = np.zeros(people.size, dtype=np.int64)
            u = self.rng.random(people.size)
            for f in range(nf):
                here = firm_of == f
                department[here] = np.searchsorted(firms.cut[f], u[here], side="right")
            mean = firms.quality_mean[firm_of, department]
            sd = firms.quality_sd[firm_of, department]
        else:
            department = None  # every firm has one department
            mean = firms.quality_mean[:, 0][firm_of] if nf > 1 else firms.quality_mean[0, 0]
            sd = firms.quality_sd[:, 0][firm_of] if nf > 1 else firms.quality_sd[0, 0]
        quality = rng.standard_normal(people.size, dtype=np.float32)
        quality *= sd
        quality += mean
        np.clip(quality, 0.0, 10.0, out=quality)
        outcome = rules.experience_outcome(quality, expectation[people], cust_spec.tolerance)
        if firms.operations:
            outcome = self._operations(t, firm_of, counts, outcome)

        # Step 3: churn after a bad experience, then attrition.
        bad = np.flatnonzero(outcome == rules.BAD)
        bad_people, bad_firm = people[bad], firm_of[bad]
        counts["bad_experiences"] = self._count(bad_firm)
        counts["delighted"] = self._count(firm_of[outcome == rules.DELIGHTED])
        leaves_bad = self._leaves_after_bad(
            bad_people, bad_firm, None if department is None else department[bad], t, counts
        )
        leaving = np.zeros(customers.size, dtype=bool)
        if self.attrition is None:  # attrition
            leaving[self._chance(customers.size, churn.base_prob)] = True
        else:
            leaving[self.rng.random(customers.size) < self.attrition[customers]] = True
        leaving_bad_at = contact_at[bad[leaves_bad]]
        leaving[leaving_bad_at] = False  # they leave after the bad experience instead
        counts["left_attrition"] = self._count(customer_firm[leaving])
        counts["left_bad_experience"] = self._count(customer_firm[leaving_bad_at])
        leaving[leaving_bad_at] = True
        stays_at = ~leaving[contact_at]  # per interaction: the customer stays

        # Step 4: referrals by delighted stayers, and negative word of mouth.
        delighted = np.flatnonzero((outcome == rules.DELIGHTED) & stays_at)
        refers = delighted[self._chance(delighted.size, refs.refer_prob)]
        referrer_firm = firm_of[refers]
        target = self._one_other(people[refers])
        made = target >= 0
        counts["referrals_made"] = self._count(referrer_firm[made])
        target, referrer_firm = target[made], referrer_firm[made]
        converts = status[target] == rules.PROSPECT
        if self.closed_until is not None:
            converts &= self.closed_until[target, referrer_firm] < t
        converts &= self.rng.random(target.size) < refs.conversion
        won_person, won_firm = first_per_target(rng, target[converts], referrer_firm[converts])
        counts["joined_referral"] = self._count(won_firm)
        told = told_firm = np.zeros(0, np.int64)
        if self.word_of_mouth:
            tellers = bad_people[leaves_bad]
            row, told = self._others_without_replacement(tellers, refs.negative_reach)
            told_firm = bad_firm[leaves_bad][row]
            prospect_told = status[told] == rules.PROSPECT
            told, told_firm = told[prospect_told], told_firm[prospect_told]

        # Step 5: expectations (the stayers' own experience, then the market pull).
        adapting = people[stays_at]
        expectation[adapting] = rules.move_toward(
            expectation[adapting], quality[stays_at], cust_spec.adapt_rate
        )
        if cust_spec.market_pull > 0:
            reference = firms.references(sc.market.standard)
            for lo in range(0, self.size, BLOCK):
                block = slice(lo, lo + BLOCK)
                expectation[block] = rules.move_toward(
                    expectation[block], reference[self.firm[block]], cust_spec.market_pull
                )

        # Step 6: acquisition through marketing, among prospects not won by a referral.
        marketed = self._chance(prospects.size, sc.acquisition.prob)
        marketed = marketed[~np.isin(marketed, np.searchsorted(prospects, won_person))]
        marketed_people = prospects[marketed]
        marketed_firm = self._choose_firm(marketed_people, recognised, None, t)
        joined = marketed_firm >= 0
        marketed_people, marketed_firm = marketed_people[joined], marketed_firm[joined]
        counts["joined_marketing"] = self._count(marketed_firm)

        # Step 7: leavers switch to a competitor, or go away (or for good).
        leavers, leaver_firm = customers[leaving], customer_firm[leaving]
        switching = np.zeros(leavers.size, dtype=bool)
        new_firm = np.zeros(0, np.int64)
        if churn.switch_prob > 0 and nf > 1:
            tries = self._chance(leavers.size, churn.switch_prob)
            choice = self._choose_firm(
                leavers[tries], recognised, leaver_firm[tries].astype(np.int64), t
            )
            switching[tries[choice >= 0]] = True
            new_firm = choice[choice >= 0]
        counts["switched_out"] = self._count(leaver_firm[switching])
        counts["switched_in"] = self._count(new_firm)

        # Phase 2: apply, at the end of the month -------------------------------------------
        if self.closed_until is not None and told.size:
            self.closed_until[told, told_firm] = t + refs.negative_months
        self.cohort_remaining -= self._count(leaver_firm[self.cohort[leavers]])
        self.cohort[leavers] = False
        departures = leavers[~switching]
        self.firm[departures] = nf
        k = churn.leavers_return_after
        if k < 0:
            status[departures] = rules.GONE
            if departures.size:
                self.reachable = np.flatnonzero(status != rules.GONE).astype(np.int32)
                self._not_gone_before = None
        else:
            status[departures] = rules.AWAY
            self.returns.setdefault(t + k + 1, []).append(departures)
        for person, firm in (
            (won_person, won_firm),
            (marketed_people, marketed_firm),
            (leavers[switching], new_firm),
        ):
            status[person] = rules.CUSTOMER
            self.firm[person] = firm
            if self.bad_months is not None:
                self.bad_months[person] = self._no_month
        for back in self.returns.pop(t + 1, ()):
            status[back] = rules.PROSPECT
        firms.update_reputation()
        self._record(t, counts, start_customers)

    def _operations(
        self, t: int, firm_of: np.ndarray, counts: dict[str, np.ndarray], outcome: np.ndarray
    ) -> np.ndarray:
        """Step 2's late calls and stock-outs for the month's interactions (firm of each).

        Each contact centre's queue comes from its calls (the firm's interactions this month).
        Then one uniform per interaction of a firm with a contact centre (late: below the chance
        of waiting past the patience) and one per interaction of a firm with an inventory
        (stock-out: below 1 - fill rate), in that order and always drawn, so that runs from the
        same state and seed share them whatever the staffing (common random numbers).

        Returns:
            The outcome of each interaction, ``BAD`` where it was late or met a stock-out.
        """
        firms, nf = self.firms, self.n_firms
        late: np.ndarray | bool = False
        stockout: np.ndarray | bool = False
        if firms.has_centre.any():
            late_prob = np.zeros(nf)
            for f, centre in enumerate(firms.centres):
                if centre is not None:
                    queue = queue_month(int(counts["interactions"][f]), centre)
                    self.tallies.record_queue(t, f, queue)
                    late_prob[f] = queue.late_prob
            late = self._uniform_where(firms.has_centre, firm_of) < late_prob[firm_of]
        if firms.has_inventory.any():
            stockout = (
                self._uniform_where(firms.has_inventory, firm_of) < firms.stockout_prob[firm_of]
            )
            counts["stockouts"] = self._count(firm_of[stockout])
        return rules.bad_after_operations(outcome, late, stockout)

    def _uniform_where(self, firm_has: np.ndarray, firm_of: np.ndarray) -> np.ndarray:
        """A uniform in [0, 1) per interaction of a firm with ``firm_has``; 1.0 for the others."""
        if firm_has.all():
            return self.rng.random(firm_of.size)
        drawn = firm_has[firm_of]
        u = np.ones(firm_of.size)
        u[drawn] = self.rng.random(int(drawn.sum()))
        return u

    # ----------------------------------------------------------------------------------------
    def _leaves_after_bad(
        self,
        people: np.ndarray,
        firm_of: np.ndarray,
        department: np.ndarray | None,
        t: int,
        counts: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Step 3 for the people who had a bad experience: whether each leaves (bool array)."""
        churn, n = self.scenario.churn, people.size
        complained = resolved = np.zeros(n, dtype=bool)
        if churn.rule == "fixed":
            leaves = self.rng.random(n) < churn.leave_prob
        elif churn.rule == "tarp":
            where = (firm_of, 0 if department is None else department)
            complained = self.rng.random(n) < churn.complain_prob
            resolved = complained & (self.rng.random(n) < self.firms.resolve_prob[where])
            quick = resolved & (self.rng.random(n) < self.firms.quick_resolve_prob[where])
            stay = np.asarray(churn.tarp_stay)[rules.tarp_case(complained, resolved, quick)]
            leaves = self.rng.random(n) >= stay
        else:
            history = self.bad_months[people]
            recent = rules.in_window(history, t, churn.window_months).sum(axis=1)
            leaves = rules.strikes_reached(1 + recent, churn.strikes)
            if history.shape[1]:  # keep the latest strikes - 1 months: overwrite the oldest
                oldest = history.argmin(axis=1)
                self.bad_months[people, oldest] = t
        counts["complaints"] = self._count(firm_of[complained])
        counts["resolved"] = self._count(firm_of[resolved])
        return np.asarray(leaves, dtype=bool)

    def _one_other(self, people: np.ndarray) -> np.ndarray:
        """Step 4's referral target per person: uniform over the rest of the market that is not
        gone (on a network: over the neighbours who are not gone); -1 when there is none."""
        if self.indptr is None:
            n = self.size if self.reachable is None else self.reachable.size
            if n < 2:
                return np.full(people.size, -1, dtype=np.int64)
            rank = self.rng.integers(0, n - 1, size=people.size)
            return self._well_mixed_person(people, rank)
        sizes = self._not_gone_degree(people)
        out = np.full(people.size, -1, dtype=np.int64)
        some = np.flatnonzero(sizes > 0)
        rank = (self.rng.random(some.size) * sizes[some]).astype(np.int64)
        out[some] = self._neighbour(people[some], np.minimum(rank, sizes[some] - 1))
        return out

    def _others_without_replacement(
        self, people: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``k`` people per person drawn like referral targets, without replacement (all there
        are if fewer). Returns (row into ``people``, person told)."""
        if self.indptr is None:
            n = self.size if self.reachable is None else self.reachable.size
            sizes = np.full(people.size, max(n - 1, 0), dtype=np.int64)
            row, rank = distinct_ranks(self.rng, sizes, k)
            return row, self._well_mixed_person(people[row], rank)
        row, rank = distinct_ranks(self.rng, self._not_gone_degree(people), k)
        return row, self._neighbour(people[row], rank)

    def _well_mixed_person(self, people: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """The person at ``rank`` (0..n-2) among the n not-gone people, skipping oneself."""
        if self.reachable is None:
            return rank + (rank >= people)
        own = np.searchsorted(self.reachable, people)
        return self.reachable[rank + (rank >= own)].astype(np.int64)

    def _not_gone_degree(self, people: np.ndarray) -> np.ndarray:
        lo, hi = self.indptr[people], self.indptr[people + 1]
        if self.reachable is None:
            return hi - lo
        before = self._not_gone_counts()
        return before[hi] - before[lo]

    def _not_gone_counts(self) -> np.ndarray:
        """Per edge position e: how many of the adjacency entries before e are not gone."""
        if self._not_gone_before is None:
            not_gone = self.status[self.neighbours] != rules.GONE
            before = np.zeros(not_gone.size + 1, dtype=np.int64)
            np.cumsum(not_gone, out=before[1:])
            self._not_gone_before = before
        return self._not_gone_before

    def _neighbour(self, people: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """The ``rank``-th (0-based, ascending) not-gone neighbour of each person."""
        lo = self.indptr[people]
        if self.reachable is None:
            return self.neighbours[lo + rank].astype(np.int64)
        before = self._not_gone_counts()
        edge = np.searchsorted(before, before[lo] + rank + 1, side="left") - 1
        return self.neighbours[edge].astype(np.int64)

    def _choose_firm(
        self, people: np.ndarray, recognised: np.ndarray, exclude: np.ndarray | None, t: int
    ) -> np.ndarray:
        """Step 6's logit choice among the firms open to each person (``exclude``: per person, a
        firm left out). Returns a firm index per person, -1 where none is open."""
        weight = rules.choice_weight(recognised, self.scenario.acquisition.rung_weight)
        if self.n_firms == 1 and self.closed_until is None and exclude is None:
            return np.zeros(people.size, dtype=np.int64)
        weights = np.broadcast_to(weight, (people.size, self.n_firms)).copy()
        if self.closed_until is not None:
            weights *= self.closed_until[people] < t
        if exclude is not None:
            weights[np.arange(people.size), exclude] = 0.0
        return logit_choice(self.rng, weights)

    def _record(self, t: int, counts: dict[str, np.ndarray], start_customers: np.ndarray) -> None:
        """Fill month t of the tallies from the end-of-month state and the month's counts.

        Also leaves the customers and prospects (ascending indices) for the next month's start.
        """
        nf = self.n_firms
        self._customers = customers = self._where(rules.CUSTOMER)
        self._prospects = self._where(rules.PROSPECT)
        firm = self.firm[customers]
        gone = 0 if self.reachable is None else self.size - self.reachable.size
        firm_t = {k: v[t] for k, v in self.tallies.firm.items()}
        for k, v in counts.items():
            firm_t[k][:] = v
        firm_t["customers_start"][:] = start_customers
        firm_t["customers"][:] = self._count(firm)
        firm_t["cohort_remaining"][:] = self.cohort_remaining
        firm_t["expectation_sum"][:] = np.bincount(
            firm, weights=self.expectation[customers], minlength=nf
        )[:nf]
        firm_t["cost_per_customer"][:] = self.firms.cost_per_customer
        firm_t["monthly_fee"][:] = self.firms.monthly_fee
        if t > 0:
            firm_t["staffing_cost"][:] = self.firms.staffing_cost
        firm_t["delivered_rung"][:] = self.firms.delivered
        firm_t["recognised_rung"][:] = self.firms.recognised
        self.tallies.market["prospects"][t] = self._prospects.size
        self.tallies.market["away"][t] = self.size - customers.size - self._prospects.size - gone
        self.tallies.market["gone"][t] = gone

    # ----------------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Run every remaining month and return the MODEL.md frame."""
        while self.steps < self.scenario.months:
            self.step()
        return self.frame()

    def frame(self) -> pd.DataFrame:
        """The frame of the months run so far (later months are all zero until run)."""
        return build_frame(self.tallies, self.scenario)
