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
"""

from __future__ import annotations

import math

import mesa
import pandas as pd

from sim import rules
from sim.agents import FirmAgent, Person
from sim.metrics import MONTHLY_FLOWS, Tallies, build_frame
from sim.network import build_network
from sim.scenario import Scenario

_JOIN_COUNT = {
    "referral": "joined_referral",
    "marketing": "joined_marketing",
    "switch": "switched_in",
}


class RetentionModel(mesa.Model):
    """One market over ``scenario.months`` months.

    Args:
        scenario: a validated scenario (point of a sweep, if it has one: its ``sweep`` is ignored).
        seed: the run seed; the same seed gives the same run.
    """

    def __init__(self, scenario: Scenario, seed: int):
        super().__init__(rng=seed)
        self.scenario = scenario
        self.seed = seed
        sc = scenario
        self.firm_agents = [FirmAgent(self, i, f, sc.ladder) for i, f in enumerate(sc.firms)]
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

    @staticmethod
    def _clip(value: float) -> float:
        return 0.0 if value < 0.0 else 10.0 if value > 10.0 else value

    # ----------------------------------------------------------------------------------------
    def step(self) -> None:
        """One month (t = self.steps, already advanced by Mesa)."""
        t = self.steps
        sc, rnd = self.scenario, self.random
        churn, refs, cust = sc.churn, sc.referrals, sc.customers
        firms = self.firm_agents
        nf = len(firms)
        for firm in firms:
            firm.begin_month(t)
        recognised = [f.recognised for f in firms]  # reputation at the start of the month
        counts = {k: [0] * nf for k in MONTHLY_FLOWS}
        start_customers = [0] * nf

        # Phase 1: decide, from the state at the start of the month ------------------------
        # Step 1: contact. The month's calls must be known before anyone's experience (they set
        # the contact centre's queue), so each step runs over everyone before the next starts.
        customers: list[Person] = []
        callers: list[Person] = []  # customers with an interaction this month
        prospects: list[Person] = []
        for person in self.reachable:
            if person.status == rules.PROSPECT:
                prospects.append(person)
            if person.status != rules.CUSTOMER:
                continue
            customers.append(person)
            start_customers[person.firm.index] += 1
            if rnd.random() < cust.contact_prob:
                counts["interactions"][person.firm.index] += 1
                callers.append(person)
        for firm in firms:  # step 2's queue: each contact centre's month, from its calls
            if firm.centre is not None:
                queue = firm.open_queue(counts["interactions"][firm.index])
                self.tallies.record_queue(t, firm.index, queue)

        # Step 2: experience (department, quality, late call, stock-out).
        experiences = [(person, *person.experience(rnd, cust.tolerance)) for person in callers]

        # Step 3: churn after a bad experience, then attrition.
        stayers: list[tuple[Person, float]] = []  # customers who had an interaction and stay
        delighted: list[Person] = []  # delighted customers who stay
        leavers: list[tuple[Person, bool]] = []  # (person, after a bad experience)
        for person, rung, quality, outcome, stockout in experiences:
            f = person.firm.index
            counts["stockouts"][f] += stockout
            leaves = False
            if outcome == rules.BAD:
                counts["bad_experiences"][f] += 1
                leaves, complained, resolved = person.leaves_after_bad(rung, churn, t, rnd)
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
        for person in customers:
            if id(person) not in left_bad and rnd.random() < person.attrition:
                counts["left_attrition"][person.firm.index] += 1
                leavers.append((person, False))
        leaving = {id(p) for p, _ in leavers}
        stayers = [(p, x) for p, x in stayers if id(p) not in leaving]
        delighted = [p for p in delighted if id(p) not in leaving]

        # Step 4: referrals and negative word of mouth.
        successes: dict[int, list[FirmAgent]] = {}  # id(prospect) -> firms whose referral succeeded
        for person in delighted:
            if rnd.random() >= refs.refer_prob:
                continue
            target = self._referral_target(person)
            if target is None:
                continue
            f = person.firm
            counts["referrals_made"][f.index] += 1
            if (
                target.status == rules.PROSPECT
                and not target.is_closed_to(f.index, t)
                and rnd.random() < refs.conversion
            ):
                successes.setdefault(id(target), []).append(f)
        closures: list[tuple[Person, int]] = []
        if refs.negative_reach > 0 and refs.negative_months > 0:
            for person, after_bad in leavers:
                if after_bad:
                    for told in self._told(person, refs.negative_reach):
                        if told.status == rules.PROSPECT:
                            closures.append((told, person.firm.index))
        joins: list[tuple[Person, FirmAgent, str]] = []  # (person, firm, how)
        for person in prospects:
            won = successes.get(id(person))
            if won:
                joins.append((person, won[0] if len(won) == 1 else rnd.choice(won), "referral"))

        # Step 5: expectations (the stayers' own experience, then the market pull).
        for person, quality in stayers:
            person.expectation = rules.move_toward(person.expectation, quality, cust.adapt_rate)
        if cust.market_pull > 0:
            references = self._references()
            for person in self.reachable:
                s = references[person.firm.index if person.status == rules.CUSTOMER else nf]
                person.expectation = rules.move_toward(person.expectation, s, cust.market_pull)

        # Step 6: acquisition through marketing.
        referred = {id(p) for p, _, _ in joins}
        for person in prospects:
            if id(person) not in referred and rnd.random() < sc.acquisition.prob:
                firm = self._choose_firm(person, recognised, None, t)
                if firm is not None:
                    joins.append((person, firm, "marketing"))

        # Step 7: leavers switch, or go away (or for good).
        departures: list[Person] = []
        for person, _ in leavers:
            old = person.firm
            if churn.switch_prob > 0 and rnd.random() < churn.switch_prob:
                firm = self._choose_firm(person, recognised, old, t)
                if firm is not None:
                    counts["switched_out"][old.index] += 1
                    joins.append((person, firm, "switch"))
                    continue
            departures.append(person)

        # Phase 2: apply, at the end of the month ------------------------------------------
        for person, firm_index in closures:
            person.close_to(firm_index, t + refs.negative_months)
        for person, _ in leavers:
            person.cohort = False
        for person in departures:
            self._leave(person, t, churn.leavers_return_after)
        for person, firm, how in joins:
            person.join(firm)
            counts[_JOIN_COUNT[how]][firm.index] += 1
        for person in self.returns.pop(t + 1, ()):
            person.status = rules.PROSPECT
        for firm in firms:
            firm.update_reputation()
        self._record(t, counts, start_customers)

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

    def _references(self) -> list[float]:
        """Step 5's reference quality s for a customer of each firm, and (last) for non-customers."""
        standard = self.scenario.market.standard
        quality = [f.delivered_quality for f in self.firm_agents]
        refs = []
        for i in range(len(quality)):
            others = [q for j, q in enumerate(quality) if j != i]
            refs.append(rules.market_reference(standard, max(others)) if others else standard)
        refs.append(rules.market_reference(standard, max(quality)))
        return refs

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
        firm_t = {k: v[t] for k, v in self.tallies.firm.items()}
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
        for k, v in counts.items():
            firm_t[k][:] = v
        firm_t["customers_start"][:] = start_customers
        firm_t["customers"][:] = customers
        firm_t["cohort_remaining"][:] = cohort
        firm_t["expectation_sum"][:] = expectation
        firm_t["cost_per_customer"][:] = [f.cost_per_customer for f in self.firm_agents]
        firm_t["monthly_fee"][:] = [f.monthly_fee for f in self.firm_agents]
        if t > 0:
            firm_t["staffing_cost"][:] = [f.staffing_cost for f in self.firm_agents]
        firm_t["delivered_rung"][:] = [f.delivered for f in self.firm_agents]
        firm_t["recognised_rung"][:] = [f.recognised for f in self.firm_agents]
        self.tallies.market["prospects"][t] = stocks[rules.PROSPECT]
        self.tallies.market["away"][t] = stocks[rules.AWAY]
        self.tallies.market["gone"][t] = self.scenario.market.size - len(self.reachable)

    # ----------------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Run every month and return the MODEL.md frame."""
        for _ in range(self.scenario.months):
            self.step()
        return self.frame()

    def frame(self) -> pd.DataFrame:
        """The frame of the months run so far (later months are all zero until run)."""
        return build_frame(self.tallies, self.scenario)

    def release(self) -> None:
        """Drop Mesa 3.3's class-level reference to this model so that it can be freed."""
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)
