"""The monthly row: what each engine counts, and how every reported column is computed from it.

Engines only count. Each month they fill a `Tallies` through one call, `Tallies.record_month`
(people counted per firm, the firms' state from `sim.firms.Firms`, and the market's stocks), plus
the month's figures of each contact centre (`Tallies.record_queue`); `build_frame`
then turns the whole run's tallies into the frame of docs/model.md section 7.9 in one vectorised pass, using
`METRICS`, the single declared list of reported columns and how each is computed.
Adding a metric is one line in `METRICS` (and, if it needs a new count, one name in
`FIRM_COUNTS`).

Also here: summary figures computed from a frame (CLV per initial customer, end-of-run table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.operations import QueueMonth
from sim.rules import discount_factor
from sim.scenario import Scenario

if TYPE_CHECKING:
    from sim.firms import Firms

# What engines count per (month, firm). Stocks are end-of-month unless named *_start.
FIRM_COUNTS = (
    "customers_start",  # customers at the start of the month
    "customers",
    "interactions",
    "bad_experiences",
    "delighted",
    "complaints",
    "resolved",
    "stockouts",  # interactions that met a stock-out (firms with an inventory)
    "referrals_made",
    "joined_marketing",
    "joined_referral",
    "switched_in",
    "switched_out",
    "left_bad_experience",
    "left_attrition",
    "cohort_remaining",  # month-0 customers who have never left the firm
)
# The counts that are the month's flows (engines add them up as the month goes).
MONTHLY_FLOWS = tuple(
    k for k in FIRM_COUNTS if k not in ("customers_start", "customers", "cohort_remaining")
)
FIRM_VALUES = (
    "expectation_sum",  # sum of end-of-month customers' expectations
    "cost_per_customer",  # weighted mean cost_per_customer of the departments' rungs this month
    "monthly_fee",
    "staffing_cost",  # contact-centre agents x cost per agent-month (0 at month 0 and without)
    "investment",  # one-off investment in the rungs the departments climbed to this month
    "queue_unstable",  # 1 when the month's offered traffic reached the agents, else 0
)
# Values missing (NaN) unless an engine records them: the contact centre's month (`record_queue`).
FIRM_MISSING = ("answered_within_target", "mean_wait_seconds")
FIRM_RUNGS = ("delivered_rung", "recognised_rung")  # ladder indices
MARKET_COUNTS = ("prospects", "away", "gone")  # end-of-month, market level


_COUNT_AT = {k: i for i, k in enumerate(FIRM_COUNTS)}  # row of each count in a month's block
_VALUE_AT = {k: i for i, k in enumerate(FIRM_VALUES + FIRM_MISSING)}
_RUNG_AT = {k: i for i, k in enumerate(FIRM_RUNGS)}


class Tallies:
    """Per-run counting arrays, shape (months + 1, firms) or (months + 1,) for the market.

    ``firm`` maps each per-firm name to its (months + 1, firms) array. The arrays are views into
    three blocks, one per dtype (counts int64, values float64, rungs int16, each shaped
    (months + 1, names, firms)), so that a month's row is written through one view per block.
    """

    def __init__(self, months: int, n_firms: int):
        self._counts = np.zeros((months + 1, len(FIRM_COUNTS), n_firms), np.int64)
        self._values = np.zeros((months + 1, len(_VALUE_AT), n_firms), np.float64)
        self._values[:, len(FIRM_VALUES) :] = np.nan  # FIRM_MISSING: NaN unless recorded
        self._rungs = np.zeros((months + 1, len(FIRM_RUNGS), n_firms), np.int16)
        self.firm: dict[str, np.ndarray] = {k: self._counts[:, i] for k, i in _COUNT_AT.items()}
        self.firm.update({k: self._values[:, i] for k, i in _VALUE_AT.items()})
        self.firm.update({k: self._rungs[:, i] for k, i in _RUNG_AT.items()})
        self.market: dict[str, np.ndarray] = {
            k: np.zeros(months + 1, np.int64) for k in MARKET_COUNTS
        }

    def record_month(
        self,
        month: int,
        firms: Firms,
        counts: Mapping[str, Sequence[int] | np.ndarray],
        people: Mapping[str, Sequence[float] | np.ndarray],
        market: Mapping[str, int],
    ) -> None:
        """Record month ``month`` at its end: the one place both engines write a month's row.

        Args:
            month: the month t (0 for the initial state).
            firms: the run's firms (their cost, fee, staffing cost, investment and rungs this
                month).
            counts: (firms,) the month's flows (names of `MONTHLY_FLOWS`; any left out stay 0).
            people: (firms,) ``customers_start``, ``customers``, ``cohort_remaining`` and
                ``expectation_sum``, counted by the engine.
            market: the end-of-month ``prospects``, ``away`` and ``gone``.
        """
        row = self._counts[month]
        for k, v in counts.items():
            row[_COUNT_AT[k]] = v
        for k in ("customers_start", "customers", "cohort_remaining"):
            row[_COUNT_AT[k]] = people[k]
        values = self._values[month]
        values[_VALUE_AT["expectation_sum"]] = people["expectation_sum"]
        values[_VALUE_AT["cost_per_customer"]] = firms.cost_per_customer
        values[_VALUE_AT["monthly_fee"]] = firms.monthly_fee
        if month > 0:
            values[_VALUE_AT["staffing_cost"]] = firms.staffing_cost
        values[_VALUE_AT["investment"]] = firms.investment
        rungs = self._rungs[month]
        rungs[_RUNG_AT["delivered_rung"]] = firms.delivered
        rungs[_RUNG_AT["recognised_rung"]] = firms.recognised
        for k in MARKET_COUNTS:
            self.market[k][month] = market[k]

    def record_queue(self, month: int, firm: int, queue: QueueMonth) -> None:
        """Record a firm's contact-centre month (`sim.operations.queue_month`)."""
        self.firm["answered_within_target"][month, firm] = queue.answered_within_target
        self.firm["mean_wait_seconds"][month, firm] = queue.mean_wait_seconds
        self.firm["queue_unstable"][month, firm] = not queue.stable


class _Columns:
    """Attribute access to the flattened tallies while computing metrics."""

    def __init__(self, flat: dict[str, np.ndarray]):
        self.__dict__.update(flat)

    def __getattr__(self, name: str) -> np.ndarray:  # only reached for a name not in the tallies
        raise AttributeError(f"no tallied column {name!r}")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _stayed(c: _Columns) -> np.ndarray:
    return c.customers_start - c.left_bad_experience - c.left_attrition


# column -> how it is computed from the counts (c) and the run context (x). Order = frame order.
METRICS: dict[str, Callable[[_Columns, dict], np.ndarray]] = {
    "step": lambda c, x: c.step,
    "firm": lambda c, x: c.firm,
    "customers": lambda c, x: c.customers,
    "prospects": lambda c, x: c.prospects,
    "away": lambda c, x: c.away,
    "gone": lambda c, x: c.gone,
    "interactions": lambda c, x: c.interactions,
    "bad_experiences": lambda c, x: c.bad_experiences,
    "delighted": lambda c, x: c.delighted,
    "complaints": lambda c, x: c.complaints,
    "resolved": lambda c, x: c.resolved,
    "stockouts": lambda c, x: c.stockouts,
    "referrals_made": lambda c, x: c.referrals_made,
    "joined_marketing": lambda c, x: c.joined_marketing,
    "joined_referral": lambda c, x: c.joined_referral,
    "switched_in": lambda c, x: c.switched_in,
    "switched_out": lambda c, x: c.switched_out,
    "left_bad_experience": lambda c, x: c.left_bad_experience,
    "left_attrition": lambda c, x: c.left_attrition,
    "retention_rate": lambda c, x: np.where(
        c.step > 0, _ratio(_stayed(c), c.customers_start), np.nan
    ),
    "cohort_retention": lambda c, x: _ratio(c.cohort_remaining, x["cohort_initial"]),
    "revenue": lambda c, x: c.monthly_fee * _stayed(c),
    "service_cost": lambda c, x: c.cost_per_customer * _stayed(c),
    "acquisition_cost": lambda c, x: x["acquisition_cost"] * c.joined_marketing,
    "staffing_cost": lambda c, x: c.staffing_cost,
    "investment": lambda c, x: c.investment,
    "profit": lambda c, x: (
        x["revenue"]
        - x["service_cost"]
        - x["acquisition_cost"]
        - x["staffing_cost"]
        - x["investment"]
    ),
    "discounted_revenue": lambda c, x: _cumulative(x["revenue"] * x["discount"], x["n_firms"]),
    "discounted_profit": lambda c, x: _cumulative(x["profit"] * x["discount"], x["n_firms"]),
    "mean_expectation": lambda c, x: _ratio(c.expectation_sum, c.customers),
    "csat": lambda c, x: _ratio(c.interactions - c.bad_experiences, c.interactions),
    "answered_within_target": lambda c, x: c.answered_within_target,
    "mean_wait_seconds": lambda c, x: c.mean_wait_seconds,
    "queue_unstable": lambda c, x: c.queue_unstable > 0,
    "delivered_rung": lambda c, x: x["rung_ids"][c.delivered_rung],
    "recognised_rung": lambda c, x: x["rung_ids"][c.recognised_rung],
}
COLUMNS = tuple(METRICS)
RUN_COLUMNS = ("run_id", "replicate", "seed")  # added by the runner in front of COLUMNS


def _cumulative(values: np.ndarray, n_firms: int) -> np.ndarray:
    return np.cumsum(values.reshape(-1, n_firms), axis=0).ravel()


def build_frame(tallies: Tallies, scenario: Scenario) -> pd.DataFrame:
    """The frame of docs/model.md section 7.9 (one row per month and firm, month 0 first) from a run's tallies.

    Flows of month 0 are zero by construction (engines count nothing there), so revenue, costs and
    profit are zero and the cumulative columns start at zero.
    """
    return pd.DataFrame(metric_values(tallies, scenario))


def metric_values(tallies: Tallies, scenario: Scenario) -> dict[str, np.ndarray]:
    """The frame's columns (`COLUMNS`, in order) as arrays, one entry per (month, firm), month
    by month, firms in scenario order: what `build_frame` puts in a DataFrame."""
    months_plus_one, n_firms = tallies.firm["customers"].shape
    firm_names, rung_ids = scenario.firm_names, scenario.ladder.ids
    acquisition_cost, discount_rate = scenario.acquisition.cost, scenario.finance.discount_rate
    flat = {k: v.ravel() for k, v in tallies.firm.items()}
    flat.update({k: np.repeat(v, n_firms) for k, v in tallies.market.items()})
    flat["step"] = np.repeat(np.arange(months_plus_one, dtype=np.int64), n_firms)
    flat["firm"] = np.tile(np.array(firm_names, dtype=object), months_plus_one)
    c = _Columns(flat)
    x: dict = {
        "n_firms": n_firms,
        "acquisition_cost": acquisition_cost,
        "discount": discount_factor(flat["step"].astype(np.float64), discount_rate),
        "cohort_initial": np.tile(tallies.firm["cohort_remaining"][0], months_plus_one),
        "rung_ids": np.array(rung_ids, dtype=object),
    }
    for name, compute in METRICS.items():
        x[name] = compute(c, x)
    return {name: x[name] for name in METRICS}


def clv_per_initial_customer(
    frame: pd.DataFrame, monthly_fee: dict[str, float], rate: float
) -> pd.Series:
    """CLV per initial customer, per firm (and run, if the frame has ``run_id``).

    The month-0 cohort's discounted revenue divided by its size: the cohort pays
    ``monthly_fee`` per member still with the firm at the end of each month, so this is
    ``fee * sum_t cohort_retention_t / (1 + rate) ** t`` over months t >= 1.
    """
    keys = [k for k in ("run_id", "firm") if k in frame.columns]
    months = frame[frame["step"] > 0]
    fee = months["firm"].map(monthly_fee).astype(float)
    value = fee * months["cohort_retention"] * discount_factor(months["step"].astype(float), rate)
    return (
        value.groupby([months[k] for k in keys]).sum(min_count=1).rename("clv_per_initial_customer")
    )
