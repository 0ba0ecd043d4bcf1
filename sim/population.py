"""The population engine: the month of docs/model.md over numpy arrays, for sweeps and big markets.

One array per state variable, one element per person, each with a dtype chosen for size: status
(int8), firm (int8, or int16 beyond 126 firms; ``n_firms`` means "none"), expectation (float32),
month-0 cohort flag (bool), and only when the scenario needs them: the months of the latest
``strikes - 1`` bad experiences (int16, ``strikes`` rule), the last month each person is closed
to each firm (int16, negative word of mouth) and each person's own attrition chance (float32,
``churn.base_polarization`` > 0). Away people are kept as one index array per return
month, gone people as the compact list of those who are not gone. A month is a handful of calls on
the people concerned; there is no Python loop over people. Each phase draws its random numbers
with the run's numpy ``Generator`` in bulk (one call per kind), then hands them with the arrays
to one or two compiled loops (`sim.kernels`) that do the phase's work over the people concerned
without temporaries (step 2's quality and outcome, step 3's leavers, step 4's conversions and
conflicts, step 6's choice, the end-of-month moves and counts).

The engine follows `sim.model.RetentionModel` (the readable reference) decision for decision, and
its `step()` is the same list of named phases (`_delivery`, `_contact_and_experience`, `_churn`,
`_referrals`, `_expectations`, `_acquisition`, `_leavers`, `_apply`, `_reputation`, `_accounts`;
docs/model.md section 3): the same synchronous month (decide from the state at the start of the month, apply every change at its
end), the same referral and word-of-mouth targets, the same conflict rule, the same reference
quality, choice and timing, and the same operational step 2 (each contact centre's month from its
calls, `sim.operations.queue_month`; one uniform per interaction for a late call and one for a
stock-out, drawn only when some firm has a contact centre or an inventory, so that other scenarios
draw exactly as before). The formulas come from `sim.rules`; the firms' delivery, queues and
reputation from `sim.firms` (shared with the agent engine); the counting and the frame from
`sim.metrics`. It draws its random numbers differently (numpy ``Generator`` from the run seed,
vectorised), so the two engines agree in distribution, not number for number: the docking tests
(`tests/test_docking.py`) check that.

What does not live here: rule formulas (`rules.py`), the reported columns (`metrics.py`), the
network generators (`network.py`), running replicates (`runner.py`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim import kernels, rules
from sim.firms import Firms
from sim.metrics import Tallies, build_frame
from sim.network import adjacency_csr, build_network
from sim.scenario import Scenario

SPARSE_PROB = 0.05  # below this chance, draw the gaps between successes (cheaper than all)
_INT16_SAFE = 32000  # months (plus windows) below this fit int16 month stamps
_NO_DEPARTMENT = np.zeros(0, np.int64)  # `kernels.experiences`: every firm has one department


def run_population(scenario: Scenario, seed: int) -> pd.DataFrame:
    """One run of the population engine.

    Args:
        scenario: a validated scenario (its ``sweep``, if any, is ignored).
        seed: the run seed (non-negative integer); the same seed gives an identical frame.

    Returns:
        The frame (docs/model.md section 7.9): one row per (month, firm) from month 0, columns `sim.metrics.COLUMNS`.
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
    rows_a, ranks_a, rows_part = kernels.whole_rows(sizes, k)
    if rows_part.size == 0:
        return rows_a, ranks_a
    part_sizes = sizes[rows_part]
    draws = rng.integers(0, part_sizes[:, None], size=(rows_part.size, k))
    if k > 1:
        while True:
            r, c = kernels.sort_rows_find_repeats(draws)
            if r.size == 0:
                break
            draws[r, c] = rng.integers(0, part_sizes[r])
    rows = np.concatenate([rows_a, np.repeat(rows_part, k)])
    ranks = np.concatenate([ranks_a, draws.ravel()])
    return rows, ranks


# --------------------------------------------------------------------------------------------
# One month's decisions, passed from phase to phase.


_EMPTY = np.zeros(0, np.int64)
_EMPTY.flags.writeable = False  # shared by every month's fields until a phase sets them


class _Month:
    """What the phases of one month pass on to each other (decided, not yet applied).

    People are indices into the population arrays; ``*_at`` are positions in ``customers``.
    Fields a phase has not set yet read as an empty (read-only) array: class-level defaults, so
    that a month costs one small object, not one array per field.
    """

    start_customers = _EMPTY  # customers per firm at the start of the month
    contact_at = _EMPTY  # positions in ``customers`` with an interaction
    people = _EMPTY  # the person of each interaction
    firm_of = _EMPTY  # the firm of each interaction
    department: np.ndarray | None = None  # its department (firms with several departments)
    quality = _EMPTY  # its quality x
    outcome = _EMPTY  # its outcome (rules.BAD/MET/DELIGHTED)
    bad_people = _EMPTY  # people with a bad experience
    bad_firm = _EMPTY  # the firm of each
    leaves_bad = _EMPTY  # whether each leaves after it
    leaving_at = _EMPTY  # positions in ``customers`` of those who leave (either route)
    stays_at = _EMPTY  # per interaction: the customer stays
    won_person = _EMPTY  # prospects won by a referral
    won_firm = _EMPTY  # the winning firm of each
    told = _EMPTY  # prospects told by an unhappy leaver
    told_firm = _EMPTY  # the firm each is closed to
    marketed_people = _EMPTY  # prospects who join through marketing
    marketed_firm = _EMPTY  # the firm each joins
    leavers = _EMPTY  # customers who leave
    leaver_firm = _EMPTY  # the firm each leaves
    switching = _EMPTY  # per leaver: switches to a competitor
    new_firm = _EMPTY  # the competitor of each switcher

    def __init__(
        self,
        t: int,
        recognised: np.ndarray,
        customers: np.ndarray,
        customer_firm: np.ndarray,
        prospects: np.ndarray,
    ):
        self.t = t
        self.recognised = recognised  # recognised rungs at the start of the month (the choice)
        self.customers = customers  # customers at the start of the month, ascending
        self.customer_firm = customer_firm  # the firm of each
        self.prospects = prospects  # prospects at the start of the month, ascending
        self.counts: dict[str, np.ndarray] = {}  # the month's flows per firm (`sim.metrics`)


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
        closed_until: (people, firms) last month each person is closed to each firm, the dtype's
            minimum if never (only with negative word of mouth), else None.
    """

    def __init__(self, scenario: Scenario, seed: int):
        sc = scenario
        self.scenario = sc
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.firms = Firms(sc, quality_dtype=np.float32)
        outside = sc.acquisition.outside_rung
        self.outside = None if outside is None else sc.ladder.index(outside)  # step 6
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
        months = sc.warmup_months + sc.months  # month stamps run from -warmup_months + 1
        self.bad_months: np.ndarray | None = None
        if churn.rule == "strikes":
            small = months + churn.window_months < _INT16_SAFE
            dtype = np.int16 if small else np.int32
            self._no_month = np.iinfo(dtype).min
            self.bad_months = np.full((n, churn.strikes - 1), self._no_month, dtype=dtype)
        self.word_of_mouth = refs.negative_reach > 0 and refs.negative_months > 0
        self.closed_until: np.ndarray | None = None
        self._no_closures = np.zeros((0, nf), np.int16)  # `kernels.choose_firm`: none closed
        self._tarp_stay = np.asarray(churn.tarp_stay, np.float64)  # step 3, by `rules.tarp_case`
        self._weights: dict[tuple[bytes, int | None], np.ndarray] = {}  # step 6's, by rungs
        if self.word_of_mouth:
            dtype = np.int16 if months + refs.negative_months < _INT16_SAFE else np.int32
            self.closed_until = np.full((n, nf), np.iinfo(dtype).min, dtype=dtype)

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
        self._reference_for: bytes | None = None  # the delivered qualities `_reference` is for
        self._reference = np.zeros(0, np.float32)
        if sc.warmup_months:
            self._warm_up(sc.warmup_months)
        self.tallies = Tallies(sc.months, nf)
        self._record(0, {}, np.zeros(nf, np.int64))

    def _warm_up(self, months: int) -> None:
        """Run ``months`` months before month 0, numbered ``-months + 1 ... 0``, with nothing kept.

        Each is an ordinary month (`step`) at the firms' month-0 rungs (`Firm.rungs_at`), so
        reputations, expectations, who is away, closures and strike histories evolve through
        it. Its rows go to a scratch tally that is then dropped (months ``<= 0`` index it from
        the end). Afterwards the step counter is back at 0 and the month-0 cohort is the firms'
        customers at the end of the warm-up (docs/model.md D40).
        """
        self.tallies = Tallies(months, self.n_firms)  # scratch, dropped afterwards
        self._record(0, {}, np.zeros(self.n_firms, np.int64))  # the first month's start
        self.steps = -months
        for _ in range(months):
            self.step()
        np.equal(self.status, rules.CUSTOMER, out=self.cohort)
        self.cohort_remaining = self._count(self.firm[self.cohort])

    # ----------------------------------------------------------------------------------------
    def _count(self, firm: np.ndarray) -> np.ndarray:
        """People per firm among ``firm`` (firm indices 0..n_firms-1), shape (n_firms,)."""
        if self.n_firms == 1:
            return np.array([firm.size], dtype=np.int64)
        return np.bincount(firm, minlength=self.n_firms)

    def _chance(self, n: int, prob: float) -> np.ndarray:
        """Which of n independent trials of chance ``prob`` succeed (ascending positions).

        For small chances (below `SPARSE_PROB`), draws the gaps between successes instead of a
        uniform per trial: the trials up to and including the next success are geometric
        (``prob``), so the successes are the running sums of geometric draws that stay within
        the n trials. The same law as n independent draws, at a fraction of the cost (about
        ``n * prob`` draws instead of n).
        """
        if n == 0 or prob <= 0.0:
            return np.zeros(0, np.int64)
        if prob >= 1.0:
            return np.arange(n, dtype=np.int64)
        if prob >= SPARSE_PROB:
            return kernels.below(self.rng.random(n, dtype=np.float32), np.float32(prob))
        expected = n * prob  # draw enough gaps to pass n almost always, then more if needed
        gaps = self.rng.geometric(prob, int(expected + 6.0 * expected**0.5) + 8)
        at = kernels.successes(gaps, 0, n)
        parts = [at]
        while at.size == gaps.size:  # every gap used and still within the n trials
            gaps = self.rng.geometric(prob, int(expected) + 8)
            at = kernels.successes(gaps, int(at[-1]) + 1, n)
            parts.append(at)
        return at if len(parts) == 1 else np.concatenate(parts)

    def step(self) -> None:
        """One month (t = self.steps after the increment): the phases of docs/model.md section 3,
        in order, named as in `sim.model.RetentionModel`. The first seven decide from the state
        at the start of the month; `_apply` and `_reputation` change it at the end; `_accounts`
        records the month."""
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
        self.steps += 1
        self.firms.begin_month(self.steps)
        month = _Month(  # customers and prospects as `_record` left them, ascending
            t=self.steps,
            recognised=self.firms.recognised.copy(),
            customers=self._customers,
            customer_firm=self._customer_firm,
            prospects=self._prospects,
        )
        month.start_customers = self._customers_per_firm
        return month

    def _contact_and_experience(self, month: _Month) -> None:
        """Steps 1 and 2 (section 7.2): who has an interaction, then each interaction's
        department, quality and, at firms with them, late call (from the contact centre's
        queue) and stock-out."""
        firms, nf, rng = self.firms, self.n_firms, self.rng
        cust = self.scenario.customers
        counts = month.counts
        month.contact_at = self._chance(month.customers.size, cust.contact_prob)
        people = month.people = month.customers[month.contact_at]
        firm_of = month.firm_of = month.customer_firm[month.contact_at]
        department = _NO_DEPARTMENT  # every firm has one department
        if firms.multi_department:
            department = np.zeros(people.size, dtype=np.int64)
            u = self.rng.random(people.size)
            for f in range(nf):
                here = firm_of == f
                department[here] = np.searchsorted(firms.cut[f], u[here], side="right")
            month.department = department
        month.quality, outcome, counts["interactions"] = kernels.experiences(
            rng.standard_normal(people.size, dtype=np.float32),
            firm_of,
            department,
            firms.quality_mean,
            firms.quality_sd,
            self.expectation,
            people,
            np.float32(cust.tolerance),
        )
        if firms.operations:
            outcome = self._operations(month.t, firm_of, counts, outcome)
        month.outcome = outcome

    def _churn(self, month: _Month) -> None:
        """Step 3 (section 7.3): churn after a bad experience, then attrition."""
        counts, customers = month.counts, month.customers
        bad, counts["bad_experiences"], counts["delighted"] = kernels.sort_outcomes(
            month.outcome, month.firm_of, self.n_firms, rules.BAD, rules.DELIGHTED
        )
        month.bad_people, month.bad_firm = month.people[bad], month.firm_of[bad]
        department = None if month.department is None else month.department[bad]
        month.leaves_bad = self._leaves_after_bad(
            month.bad_people, month.bad_firm, department, month.t, counts
        )
        if self.attrition is None:  # attrition
            attrition_at = self._chance(customers.size, self.scenario.churn.base_prob)
        else:
            attrition_at = np.flatnonzero(
                self.rng.random(customers.size) < self.attrition[customers]
            )
        (
            month.leaving_at,
            month.stays_at,
            counts["left_attrition"],
            counts["left_bad_experience"],
        ) = kernels.settle_leaving(
            customers.size,
            attrition_at,
            month.contact_at[bad[month.leaves_bad]],
            month.contact_at,
            month.customer_firm,
            self.n_firms,
        )

    def _referrals(self, month: _Month) -> None:
        """Step 4 (section 7.4): referrals by delighted stayers, and negative word of mouth."""
        counts, status, t = month.counts, self.status, month.t
        refs = self.scenario.referrals
        delighted = kernels.positions_of(month.outcome, rules.DELIGHTED, month.stays_at)
        refers = delighted[self._chance(delighted.size, refs.refer_prob)]
        target = self._one_other(month.people[refers])
        (
            month.won_person,
            month.won_firm,
            counts["referrals_made"],
            counts["joined_referral"],
        ) = kernels.referrals(
            target,
            month.firm_of[refers],
            status,
            self._no_closures if self.closed_until is None else self.closed_until,
            t,
            refs.conversion,
            self.rng.random((2, refers.size)),  # conversion, then the order of conflicts
            rules.PROSPECT,
            self.n_firms,
        )
        if self.word_of_mouth:
            tellers = month.bad_people[month.leaves_bad]
            row, told = self._others_without_replacement(tellers, refs.negative_reach)
            told_firm = month.bad_firm[month.leaves_bad][row]
            prospect_told = status[told] == rules.PROSPECT
            month.told, month.told_firm = told[prospect_told], told_firm[prospect_told]

    def _expectations(self, month: _Month) -> None:
        """Step 5 (section 7.5): the stayers' own experience, then the market pull."""
        cust, expectation = self.scenario.customers, self.expectation
        rate = np.float32(cust.adapt_rate)
        kernels.adapt(expectation, month.people, month.quality, month.stays_at, rate)
        if cust.market_pull > 0:
            delivered = self.firms.delivered_quality.tobytes()
            if delivered != self._reference_for:  # schedules change it rarely: compute it then
                standard = self.scenario.market.standard
                self._reference = self.firms.references(standard).astype(np.float32)
                self._reference_for = delivered
            rate = np.float32(cust.market_pull)
            kernels.market_pull(expectation, self.firm, self._reference, rate)

    def _acquisition(self, month: _Month) -> None:
        """Step 6 (section 7.6): marketing, among the prospects not won by a referral."""
        prospects = month.prospects
        marketed = self._chance(prospects.size, self.scenario.acquisition.prob)
        people = kernels.take_except(prospects, marketed, month.won_person)
        firm = self._choose_firm(people, month.recognised, None, month.t, self.outside)
        joined = firm >= 0
        month.marketed_people, month.marketed_firm = people[joined], firm[joined]
        month.counts["joined_marketing"] = self._count(month.marketed_firm)

    def _leavers(self, month: _Month) -> None:
        """Step 7 (section 7.7): each leaver switches to a competitor, or goes away (or for
        good)."""
        churn = self.scenario.churn
        leavers = month.leavers = month.customers[month.leaving_at]
        leaver_firm = month.leaver_firm = month.customer_firm[month.leaving_at]
        switching = month.switching = np.zeros(leavers.size, dtype=bool)
        if churn.switch_prob > 0 and self.n_firms > 1:
            tries = self._chance(leavers.size, churn.switch_prob)
            choice = self._choose_firm(
                leavers[tries], month.recognised, leaver_firm[tries].astype(np.int64), month.t
            )
            switching[tries[choice >= 0]] = True
            month.new_firm = choice[choice >= 0]
        month.counts["switched_out"] = self._count(leaver_firm[switching])
        month.counts["switched_in"] = self._count(month.new_firm)

    def _apply(self, month: _Month) -> None:
        """End of the month: closures, leavers, departures, joins and returns take effect."""
        t, status, nf = month.t, self.status, self.n_firms
        sc = self.scenario
        if self.closed_until is not None and month.told.size:
            self.closed_until[month.told, month.told_firm] = t + sc.referrals.negative_months
        leavers = month.leavers
        k = sc.churn.leavers_return_after
        departures = kernels.leave(
            leavers,
            month.leaver_firm,
            month.switching,
            self.cohort,
            self.cohort_remaining,
            self.firm,
            status,
            nf,
            rules.GONE if k < 0 else rules.AWAY,
        )
        if k >= 0:
            self.returns.setdefault(t + k + 1, []).append(departures)
        elif departures.size:
            self.reachable = np.flatnonzero(status != rules.GONE).astype(np.int32)
            self._not_gone_before = None
        for person, firm in (
            (month.won_person, month.won_firm),
            (month.marketed_people, month.marketed_firm),
            (leavers[month.switching], month.new_firm),
        ):
            kernels.join(person, firm, self.firm, status, rules.CUSTOMER)
            if self.bad_months is not None:
                self.bad_months[person] = self._no_month
        for back in self.returns.pop(t + 1, ()):
            status[back] = rules.PROSPECT

    def _reputation(self, month: _Month) -> None:
        """Step 8 (section 7.8), at the end of the month: streaks, then the recognised rung."""
        self.firms.update_reputation()

    def _accounts(self, month: _Month) -> None:
        """Step 9 (section 7.9): record the month's row of each firm."""
        self._record(month.t, month.counts, month.start_customers)

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
        firms = self.firms
        late = stockout = np.zeros(firm_of.size, dtype=bool)
        if firms.has_centre.any():
            firms.open_queues(t, counts["interactions"], self.tallies)
            late = self._uniform_where(firms.has_centre, firm_of) < firms.late_prob[firm_of]
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
        if churn.rule == "fixed":
            leaves = self.rng.random(n) < churn.leave_prob
        elif churn.rule == "tarp":
            leaves, counts["complaints"], counts["resolved"] = kernels.tarp_leaves(
                self.rng.random((4, n)),  # reported, resolved, quickly, leaves
                firm_of,
                _NO_DEPARTMENT if department is None else department,
                churn.complain_prob,
                self.firms.resolve_prob,
                self.firms.quick_resolve_prob,
                self._tarp_stay,
            )
        else:
            assert self.bad_months is not None  # kept under the strikes rule
            leaves = kernels.strikes_leave(
                self.bad_months, people, t, churn.window_months, churn.strikes
            )
        return np.asarray(leaves, dtype=bool)  # (complaints and resolved stay 0 but for tarp)

    def _one_other(self, people: np.ndarray) -> np.ndarray:
        """Step 4's referral target per person: uniform over the rest of the market that is not
        gone (on a network: over the neighbours who are not gone); -1 when there is none."""
        if self.indptr is None:
            n = self.size if self.reachable is None else self.reachable.size
            if n < 2:
                return np.full(people.size, -1, dtype=np.int64)
            # floor(u (n - 1)) for u uniform in [0, 1): uniform over 0..n-2 up to the 2^-53
            # resolution of u, and below n - 1 even after rounding (docs/model.md D27)
            rank = (self.rng.random(people.size) * (n - 1)).astype(np.int64)
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
        assert self.indptr is not None  # a network market
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
        assert self.indptr is not None  # a network market
        lo = self.indptr[people]
        if self.reachable is None:
            return self.neighbours[lo + rank].astype(np.int64)
        before = self._not_gone_counts()
        edge = np.searchsorted(before, before[lo] + rank + 1, side="left") - 1
        return self.neighbours[edge].astype(np.int64)

    def _choose_firm(
        self,
        people: np.ndarray,
        recognised: np.ndarray,
        exclude: np.ndarray | None,
        t: int,
        outside: int | None = None,
    ) -> np.ndarray:
        """Step 6's logit choice among the firms open to each person (``exclude``: per person, a
        firm left out) and, given ``outside`` (the outside rung's ladder index), the rest of the
        market. Returns a firm index per person, -1 where none is open or the person picks the
        rest of the market."""
        if outside is None and self.n_firms == 1 and self.closed_until is None and exclude is None:
            return np.zeros(people.size, dtype=np.int64)
        key = (recognised.tobytes(), outside)  # the weights change only with a recognised rung
        weight = self._weights.get(key)
        if weight is None:
            rung_weight = self.scenario.acquisition.rung_weight
            weight = rules.choice_weight(recognised, rung_weight)
            if outside is not None:
                weight = np.append(weight, rules.choice_weight(outside, rung_weight))
            self._weights[key] = weight
        return kernels.choose_firm(
            weight,
            self.rng.random(people.size),
            people,
            self._no_closures if self.closed_until is None else self.closed_until,
            t,
            _EMPTY if exclude is None else exclude,
        )

    def _record(self, t: int, counts: dict[str, np.ndarray], start_customers: np.ndarray) -> None:
        """Fill month t of the tallies from the end-of-month state and the month's counts.

        Also leaves the customers and prospects (ascending indices) for the next month's start.
        """
        customers, self._customer_firm, self._prospects, per_firm, expectation_sum = (
            kernels.people_by_status(
                self.status,
                self.firm,
                self.expectation,
                self.n_firms,
                rules.CUSTOMER,
                rules.PROSPECT,
            )
        )
        self._customers, self._customers_per_firm = customers, per_firm
        gone = 0 if self.reachable is None else self.size - self.reachable.size
        self.tallies.record_month(
            t,
            self.firms,
            counts,
            {
                "customers_start": start_customers,
                "customers": per_firm,
                "cohort_remaining": self.cohort_remaining,
                "expectation_sum": expectation_sum,
            },
            {
                "prospects": self._prospects.size,
                "away": self.size - customers.size - self._prospects.size - gone,
                "gone": gone,
            },
        )

    # ----------------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Run every remaining month and return the frame (docs/model.md section 7.9)."""
        while self.steps < self.scenario.months:
            self.step()
        return self.frame()

    def frame(self) -> pd.DataFrame:
        """The frame of the months run so far (later months are all zero until run)."""
        return build_frame(self.tallies, self.scenario)
