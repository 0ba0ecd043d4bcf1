"""Statistics over replicates: the one place the mean and its t-based confidence band are computed.

`replicate_summary` turns monthly rows of many runs into one row per group (swept values, firm,
month) and metric: the number of replicates with a value, their mean and standard deviation, and
the two-sided t-based confidence interval of the mean (Student's t with n - 1 degrees of freedom,
95 % by default; the quantile is scipy's, as in ``scipy.stats.t.ppf``). The results folder's
``summary.parquet``/``summary.csv``, the plots' bands and the terminal table all use it, so a band
on a figure and a number in a table always agree.

`final_table` is the short end-of-run table the CLI prints: per firm, the customers, monthly
retention and monthly revenue in the last month and the CLV per initial customer
(`sim.metrics.clv_per_initial_customer`), each a mean over replicates.

`run_outcomes`, `pool_replicates`, `pooled_summary`, `break_even_months` and `rung_table` compare
rungs (or firms, or any swept value) for the figures and the report: what each run ends with
(customers, cohort retention at 12, 60 months and the horizon, revenue, profit, CLV), averages
over the other sweep points replicate by replicate, the month a rung's cumulative profit
overtakes the lowest rung's for good, and the per-rung table with intervals. `climb_table`
answers the manager's question of climbing against staying put (investment, payback month,
discounted profit gain with its interval from `compare`). Inside `outcomes_kept` (a report
being drawn), `run_outcomes` of the same rows is computed once.

What does not live here: computing the monthly rows (`metrics.py`), reading or writing files
(`store.py`), drawing (`plots.py`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.metrics import COLUMNS, RUN_COLUMNS, clv_per_initial_customer
from sim.rules import monthly_rate

# What summary.parquet holds for every (point, firm, month).
SUMMARY_METRICS = (
    "customers",
    "retention_rate",
    "revenue",
    "profit",
    "discounted_revenue",
    "discounted_profit",
)
SUMMARY_STATS = ("n", "mean", "sd", "ci_low", "ci_high")
CONFIDENCE = 0.95


def swept_keys(timeseries: pd.DataFrame) -> list[str]:
    """Columns of a results time series that are neither model columns nor run columns.

    These are the swept scenario keys the runner adds (``"churn.leave_prob"``), in column order.
    """
    known = set(COLUMNS) | set(RUN_COLUMNS)
    return [c for c in timeseries.columns if c not in known]


def t_interval(
    count: np.ndarray | pd.Series,
    mean: np.ndarray | pd.Series,
    sd: np.ndarray | pd.Series,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided t-based confidence interval of a mean, elementwise.

    Args:
        count: number of observations n (replicates) per group.
        mean: sample mean per group.
        sd: sample standard deviation per group (``ddof=1``).
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``(low, high)`` = ``mean -/+ t_{(1+confidence)/2, n-1} * sd / sqrt(n)``; NaN where n < 2
        (one replicate says nothing about the spread).
    """
    n = np.asarray(count, dtype=float)
    m = np.asarray(mean, dtype=float)
    s = np.asarray(sd, dtype=float)
    # Student t quantile: scipy.special.stdtrit is what scipy.stats.t.ppf evaluates (identical
    # values), without the second that importing scipy.stats adds to every command.
    from scipy.special import stdtrit

    half = np.full(n.shape, np.nan)
    ok = n >= 2
    quantile = stdtrit(n[ok] - 1, 0.5 + confidence / 2)
    half[ok] = quantile * s[ok] / np.sqrt(n[ok])
    return m - half, m + half


def replicate_summary(
    timeseries: pd.DataFrame,
    by: Sequence[str] | None = None,
    metrics: Sequence[str] = SUMMARY_METRICS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Mean and t-based confidence interval over replicates, per group and metric.

    Args:
        timeseries: monthly rows of one or more runs (the results folder's time series, or
            concatenated `simulate` frames).
        by: grouping columns; default: the swept keys, then ``"firm"`` and ``"step"``.
        metrics: numeric columns to summarise.
        confidence: coverage of the interval.

    Returns:
        A long ("tidy") frame, one row per group and metric, groups in order of first appearance
        (so month order within a firm) and metrics in the given order, with columns ``*by``,
        ``metric``, ``n`` (replicates with a value; missing values such as the retention of a
        firm with no customers are left out), ``mean``, ``sd``, ``ci_low``, ``ci_high``. With
        ``n`` = 1, ``sd`` and the interval are NaN.
    """
    by = list(by) if by is not None else [*swept_keys(timeseries), "firm", "step"]
    metrics = list(metrics)
    columns = [*by, "metric", *SUMMARY_STATS]
    if timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    missing = [c for c in [*by, *metrics] if c not in timeseries.columns]
    if missing:
        raise KeyError(f"columns not in the time series: {', '.join(missing)}")
    grouped = timeseries.groupby(by, sort=False, dropna=False)[metrics]
    counts, means, sds = grouped.count(), grouped.mean(), grouped.std(ddof=1)
    pieces = []
    for metric in metrics:
        low, high = t_interval(counts[metric], means[metric], sds[metric], confidence)
        piece = pd.DataFrame(
            {
                "metric": metric,
                "n": counts[metric].to_numpy(dtype=np.int64),
                "mean": means[metric].to_numpy(dtype=float),
                "sd": sds[metric].to_numpy(dtype=float),
                "ci_low": low,
                "ci_high": high,
            },
            index=counts.index,
        )
        piece["_order"] = np.arange(len(piece))
        pieces.append(piece)
    out = pd.concat(pieces).reset_index()
    out["_metric"] = pd.Categorical(out["metric"], categories=metrics).codes
    out = out.sort_values(["_order", "_metric"], kind="stable")
    return out[columns].reset_index(drop=True)


def final_table(
    timeseries: pd.DataFrame,
    monthly_fee: Mapping[str, float],
    discount_rate: float,
    by: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The end-of-run table: per firm (and swept point), means over replicates.

    Args:
        timeseries: monthly rows of one or more runs, with ``run_id``.
        monthly_fee: each firm's monthly fee (for the CLV).
        discount_rate: monthly discount rate (for the CLV).
        by: grouping columns; default: the swept keys, then ``"firm"``.

    Returns:
        One row per group, in order of first appearance, with columns ``*by``, ``replicates``,
        ``month`` (the last month), ``customers``, ``retention_rate`` and ``revenue`` in the last
        month, and ``clv_per_initial_customer``; each value a mean over the replicates that have
        one.
    """
    by = list(by) if by is not None else [*swept_keys(timeseries), "firm"]
    columns = [
        *by,
        "replicates",
        "month",
        "customers",
        "retention_rate",
        "revenue",
        "clv_per_initial_customer",
    ]
    if timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    last = timeseries[timeseries["step"] == timeseries["step"].max()]
    clv = clv_per_initial_customer(timeseries, dict(monthly_fee), discount_rate).reset_index()
    last = last.merge(clv, on=["run_id", "firm"], how="left", validate="one_to_one")
    grouped = last.groupby(by, sort=False, dropna=False)
    table = grouped[["customers", "retention_rate", "revenue", "clv_per_initial_customer"]].mean()
    table.insert(0, "month", grouped["step"].first())
    table.insert(0, "replicates", grouped["run_id"].nunique())
    return table.reset_index()[columns]


# --------------------------------------------------------------------------------------------
# Per-rung outcomes: what each run ends with, averaging over other sweep points, break-even
# and the per-rung table of the report. Used by `sim.plots` and `sim.report`.

# Months at which the rung table reports cohort retention (besides the horizon).
RETENTION_MONTHS = (12, 60)


def outcome_names(months: Sequence[int] = RETENTION_MONTHS) -> list[str]:
    """The columns `run_outcomes` adds, in order, for the given retention months."""
    return [
        "customers",
        *(f"retention_{m}" for m in months),
        "retention_end",
        "revenue",
        "cumulative_profit",
        "discounted_revenue",
        "discounted_profit",
        "clv",
    ]


def cumulative_profit(timeseries: pd.DataFrame) -> pd.Series:
    """Undiscounted profit summed from month 0, per run and firm, aligned with the rows.

    Args:
        timeseries: monthly rows with ``step``, ``firm``, ``profit`` (and ``run_id`` when they
            hold several runs); the index must be unique.
    """
    keys = [k for k in ("run_id", "firm") if k in timeseries.columns]
    ordered = timeseries.sort_values("step", kind="stable")
    total = ordered.groupby(keys, sort=False, dropna=False)["profit"].cumsum()
    return total.reindex(timeseries.index).rename("cumulative_profit")


_FEE_KEY = re.compile(r"^firms\.(\d+)\.monthly_fee$")
_RATE_KEY = "finance.discount_rate"
_ANNUAL_RATE_KEY = "finance.annual_discount_rate"


def _clv(
    timeseries: pd.DataFrame, monthly_fee: Mapping[str, float], discount_rate: float
) -> pd.Series:
    """`clv_per_initial_customer`, per part of the rows with one fee and rate each.

    A swept ``firms.<i>.monthly_fee`` column sets the fee of the i-th firm of ``monthly_fee``
    (scenario order) and a swept ``finance.discount_rate`` (or ``finance.annual_discount_rate``)
    column the rate, point by point.
    """
    firms = list(monthly_fee)
    fee_columns = {c: int(m.group(1)) for c in timeseries.columns if (m := _FEE_KEY.match(str(c)))}
    rates = [k for k in (_RATE_KEY, _ANNUAL_RATE_KEY) if k in timeseries.columns]
    split = [*fee_columns, *rates]
    if not split:
        return clv_per_initial_customer(timeseries, dict(monthly_fee), discount_rate)
    pieces = []
    for values, part in timeseries.groupby(split, sort=False, dropna=False):
        values = dict(zip(split, values if isinstance(values, tuple) else (values,), strict=True))
        fees = dict(monthly_fee)
        for column, index in fee_columns.items():
            if index < len(firms):
                fees[firms[index]] = float(values[column])
        rate = float(values.get(_RATE_KEY, discount_rate))
        if _ANNUAL_RATE_KEY in values:
            rate = monthly_rate(float(values[_ANNUAL_RATE_KEY]))
        pieces.append(clv_per_initial_customer(part, fees, rate))
    return pd.concat(pieces)


_kept_outcomes: dict[tuple, pd.DataFrame] | None = None  # set inside `outcomes_kept`


@contextlib.contextmanager
def outcomes_kept() -> Iterator[None]:
    """A block in which `run_outcomes` computes the outcomes of the same rows once.

    The figures and the report of one results folder ask for the outcomes of the same rows
    (one firm's, say) several times: the rung table, the ladder chart and every map. Rows are
    recognised by their index labels and columns (and the fee, rate and months asked for), so
    the block must only see frames cut from one time series that does not change meanwhile:
    `sim.report.write_report` opens it around one folder's figures and report.
    """
    global _kept_outcomes
    outer = _kept_outcomes
    if outer is None:
        _kept_outcomes = {}
    try:
        yield
    finally:
        _kept_outcomes = outer


def run_outcomes(
    timeseries: pd.DataFrame,
    monthly_fee: Mapping[str, float],
    discount_rate: float,
    months: Sequence[int] = RETENTION_MONTHS,
) -> pd.DataFrame:
    """What each run ends with: one row per run and firm.

    Args:
        timeseries: monthly rows of one or more runs (``run_id``, ``firm``, ``step`` and the
            docs/model.md columns; swept keys and ``replicate`` are carried along).
        monthly_fee: each firm's monthly fee, in scenario order (for the CLV).
        discount_rate: monthly discount rate (for the CLV).
        months: months at which to report cohort retention.

    Returns:
        The identifying columns (``run_id``, ``replicate``, ``seed``, swept keys, ``firm``, as
        present), ``month`` (the run's last month) and `outcome_names`: ``customers``, monthly
        ``revenue``, the cumulative ``cumulative_profit`` (undiscounted), ``discounted_revenue``
        and ``discounted_profit``, all at the last month; ``retention_<m>`` and
        ``retention_end``, the month-0 cohort's retention at month m (NaN if the run is shorter)
        and at the last month; ``clv``, the CLV per initial customer
        (`sim.metrics.clv_per_initial_customer`).
    """
    if _kept_outcomes is None or timeseries.empty or timeseries.index.dtype.kind not in "iu":
        return _run_outcomes(timeseries, monthly_fee, discount_rate, months)
    key = (
        timeseries.index.to_numpy().tobytes(),
        tuple(timeseries.columns),
        tuple(monthly_fee.items()),
        discount_rate,
        tuple(months),
    )
    if key not in _kept_outcomes:
        _kept_outcomes[key] = _run_outcomes(timeseries, monthly_fee, discount_rate, months)
    return _kept_outcomes[key].copy()


def _run_outcomes(
    timeseries: pd.DataFrame,
    monthly_fee: Mapping[str, float],
    discount_rate: float,
    months: Sequence[int],
) -> pd.DataFrame:
    keys = [k for k in ("run_id", "firm") if k in timeseries.columns]
    carried = [
        c
        for c in ("run_id", "replicate", "seed", *swept_keys(timeseries), "firm")
        if c in timeseries.columns
    ]
    columns = [*carried, "month", *outcome_names(months)]
    if timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    rows = timeseries.reset_index(drop=True)
    rows = rows.assign(cumulative_profit=cumulative_profit(rows))
    last = rows["step"] == rows.groupby(keys, sort=False)["step"].transform("max")
    out = rows.loc[last, [*carried, "step", "cohort_retention"]].rename(
        columns={"step": "month", "cohort_retention": "retention_end"}
    )
    for name in ("customers", "revenue", "cumulative_profit", "discounted_revenue"):
        out[name] = rows.loc[last, name]
    out["discounted_profit"] = rows.loc[last, "discounted_profit"]
    for m in months:
        at = rows.loc[rows["step"] == m, [*keys, "cohort_retention"]]
        out = out.merge(
            at.rename(columns={"cohort_retention": f"retention_{m}"}), on=keys, how="left"
        )
    clv = _clv(rows, monthly_fee, discount_rate).rename("clv").reset_index()
    out = out.merge(clv, on=keys, how="left")
    return out[columns].reset_index(drop=True)


def pool_replicates(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Average over every sweep point not named in ``by``, replicate by replicate.

    Runs with the same ``replicate`` number in different points are averaged into one value, so
    a t interval over the result is the interval of the mean averaged over those points (the
    runs are independent). Without a ``replicate`` column each ``run_id`` is its own unit.

    Args:
        frame: rows with the ``by`` columns, ``replicate`` (or ``run_id``) and the metrics.
        by: what to keep apart, e.g. ``["firms.0.service_level", "step"]``.
        metrics: numeric columns to average (missing values are left out).

    Returns:
        One row per ``by`` group and replicate, in order of first appearance: ``*by``, the unit
        column, the metrics.
    """
    unit = [u for u in ("replicate", "run_id") if u in frame.columns][:1]
    grouped = frame.groupby([*by, *unit], sort=False, dropna=False)[list(metrics)]
    return grouped.mean().reset_index()


def pooled_summary(
    frame: pd.DataFrame,
    by: Sequence[str],
    metrics: Sequence[str],
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """`replicate_summary` by ``by`` after `pool_replicates` over the other sweep points."""
    by, metrics = list(by), list(metrics)
    return replicate_summary(
        pool_replicates(frame, by, metrics), by=by, metrics=metrics, confidence=confidence
    )


def break_even_months(
    curves: pd.DataFrame,
    by: str,
    reference: object = None,
    value: str = "mean",
) -> pd.Series:
    """The month from which each group's curve stays at or above the reference group's.

    For group g with curve C_g and reference curve C_ref, the break-even month is the smallest
    month m with C_g(s) >= C_ref(s) for every month s >= m in the curves: after it, g never
    falls behind again. It is the first month for a group that is never behind (the reference
    itself included) and NaN for a group still behind at the last month.

    Args:
        curves: one row per group and month, with columns ``by``, ``step`` and ``value`` (for
            example the mean cumulative profit from `pooled_summary`).
        by: the group column.
        reference: the group to compare against; default the first group in the rows.
        value: the column holding the curves.

    Returns:
        A float Series indexed by group, in order of first appearance.
    """
    wide = curves.pivot_table(index="step", columns=by, values=value, sort=True, dropna=False)
    groups = list(pd.unique(curves[by]))
    if not groups:
        return pd.Series(dtype=float)
    reference = groups[0] if reference is None else reference
    ref = wide[reference]
    out = {}
    for group in groups:
        ahead = wide[group] - ref >= -1e-9 * np.maximum(1.0, ref.abs())
        ahead = ahead[ref.notna() & wide[group].notna()]
        if ahead.empty or not ahead.iloc[-1]:
            out[group] = np.nan
        elif ahead.all():
            out[group] = float(ahead.index[0])
        else:
            behind = ahead.index[~ahead.to_numpy()]
            out[group] = float(ahead.index[ahead.index > behind[-1]][0])
    return pd.Series(out, dtype=float).rename_axis(by)


def rung_table(
    timeseries: pd.DataFrame,
    by: str,
    monthly_fee: Mapping[str, float],
    discount_rate: float,
    order: Sequence[object] | None = None,
    months: Sequence[int] = RETENTION_MONTHS,
    confidence: float = CONFIDENCE,
    reference: object = None,
) -> pd.DataFrame:
    """The per-rung summary table of the report (and the numbers of the ladder chart).

    Args:
        timeseries: monthly rows of the firm(s) to compare, with the ``by`` column; other swept
            keys are averaged over, replicate by replicate (`pool_replicates`).
        by: the group column: a swept key such as ``"firms.0.service_level"``, or ``"firm"``.
        monthly_fee: each firm's monthly fee, in scenario order (for the CLV).
        discount_rate: monthly discount rate (for the CLV).
        order: the groups in display order (ladder order). Default: order of first appearance.
        months: months at which to report cohort retention.
        confidence: coverage of the intervals.
        reference: the group the others are compared with (break-even month and paired
            difference); default the first in ``order`` (the lowest rung).

    Returns:
        One row per group in ``order`` (groups without rows are left out), with columns
        ``by``, ``runs``, ``replicates`` (after pooling), then for each of `outcome_names` its
        mean, ``<name>_low`` and ``<name>_high`` (t-based interval over replicates; clipped to
        [0, 1] for the retention shares), then ``break_even_month`` (`break_even_months` of the
        mean undiscounted cumulative profit against the reference; NaN for the reference
        itself), ``difference``, ``difference_low``, ``difference_high`` and
        ``difference_test`` (the mean discounted profit minus the reference's, with its
        interval: `compare`, paired on common random numbers; NaN and "" for the reference),
        ``conditions`` (the number of combinations of the other swept keys, averaged over),
        ``best_in`` (in how many of them the group has the highest mean discounted profit:
        `best_by_condition`) and ``best`` (True only for a group best in every condition: no
        "best" is read off an average over conditions that disagree).
    """
    names = outcome_names(months)
    columns = [by, "runs", "replicates"]
    for name in names:
        columns += [name, f"{name}_low", f"{name}_high"]
    columns += [
        "break_even_month",
        *DIFFERENCE_COLUMNS,
        "conditions",
        "best_in",
        "best",
    ]
    if timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    present = list(pd.unique(timeseries[by]))
    order = [g for g in order if g in present] if order is not None else present
    outcomes = run_outcomes(timeseries, monthly_fee, discount_rate, months)
    stats = pooled_summary(outcomes, [by], names, confidence)
    table = pd.DataFrame({by: order})
    runs = outcomes.groupby(by, sort=False)["run_id" if "run_id" in outcomes else by].size()
    table["runs"] = table[by].map(runs).fillna(0).astype(np.int64)
    replicates = stats.groupby(by, sort=False)["n"].max()
    table["replicates"] = table[by].map(replicates).fillna(0).astype(np.int64)
    for name in names:
        one = stats[stats["metric"] == name].set_index(by)
        table[name] = table[by].map(one["mean"])
        table[f"{name}_low"] = table[by].map(one["ci_low"])
        table[f"{name}_high"] = table[by].map(one["ci_high"])
    reference = order[0] if reference is None else reference
    if reference not in order:
        raise ValueError(f"reference {reference!r} is not a value of {by!r}")
    for name in names:
        if name.startswith("retention_"):  # shares: an interval past 0 or 1 says nothing more
            table[f"{name}_low"] = table[f"{name}_low"].clip(0.0, 1.0)
            table[f"{name}_high"] = table[f"{name}_high"].clip(0.0, 1.0)
    table["break_even_month"] = table[by].map(
        _break_even(timeseries, by, order, confidence, reference)
    )
    table.loc[table[by] == reference, "break_even_month"] = np.nan
    diff = compare(
        timeseries, by=by, reference=reference, within=[], confidence=confidence
    ).set_index(by)
    for column, source in zip(
        DIFFERENCE_COLUMNS[:3], ("difference", "ci_low", "ci_high"), strict=True
    ):
        table[column] = table[by].map(diff[source]).astype(float)
    table["difference_test"] = [str(diff["test"].get(v, "")) for v in table[by]]
    winners = best_by_condition(timeseries, by, confidence=confidence)
    conditions = max(len(winners), 1)
    wins = winners["best"].value_counts() if len(winners) else pd.Series(dtype=np.int64)
    table["conditions"] = np.int64(conditions)
    table["best_in"] = table[by].map(wins).fillna(0).astype(np.int64)
    table["best"] = table["best_in"].eq(conditions) & table["discounted_profit"].notna()
    return table[columns]


DIFFERENCE_COLUMNS = ("difference", "difference_low", "difference_high", "difference_test")


def _break_even(
    timeseries: pd.DataFrame,
    by: str,
    order: Sequence[object],
    confidence: float,
    reference: object = None,
) -> pd.Series:
    """`break_even_months` of the mean cumulative (undiscounted) profit against ``reference``
    (default ``order[0]``)."""
    rows = timeseries.reset_index(drop=True)
    rows = rows.assign(cumulative_profit=cumulative_profit(rows))
    curves = pooled_summary(rows, [by, "step"], ["cumulative_profit"], confidence)
    curves = curves[curves[by].isin(order)]
    curves = curves.assign(_order=curves[by].map({g: i for i, g in enumerate(order)}))
    curves = curves.sort_values(["_order", "step"], kind="stable")
    return break_even_months(curves, by, order[0] if reference is None else reference)


CLIMB_COLUMNS = ("investment", "payback_month", "gain", "gain_low", "gain_high", "n", "test")


def climb_table(
    timeseries: pd.DataFrame,
    by: str,
    order: Sequence[object],
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Climbing the ladder against staying put: the report's "Climbing the ladder" table.

    Args:
        timeseries: monthly rows of one firm, with the ``by`` column (the target rung, e.g. a
            swept ``firms.0.schedule.0.service_level``); other swept keys are averaged over,
            replicate by replicate.
        by: the group column.
        order: the groups in display order; the first is staying put (the reference).
        confidence: coverage of the interval.

    Returns:
        One row per group in ``order`` other than the reference: ``by``, ``investment`` (the
        mean total one-off investment of a run), ``payback_month`` (`break_even_months` of the
        mean cumulative profit, investment included, against the reference; NaN if not by the
        horizon), ``gain``, ``gain_low``, ``gain_high`` (the cumulative discounted profit at
        the horizon minus the reference's, with its interval from `compare`: paired replicate
        by replicate under common random numbers, else Welch's), ``n`` (replicates compared)
        and ``test`` (``"paired"`` or ``"welch"``).
    """
    columns = [by, *CLIMB_COLUMNS]
    present = list(pd.unique(timeseries[by])) if not timeseries.empty else []
    order = [g for g in order if g in present]
    if len(order) < 2:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    keys = ["run_id", by] if "run_id" in timeseries.columns else [by]
    spent = timeseries.groupby(keys, sort=False)["investment"].sum()
    invested = spent.groupby(level=by, sort=False).mean()
    gains = compare(timeseries, by=by, reference=order[0], within=[], confidence=confidence)
    gains = gains.set_index(by)
    payback = _break_even(timeseries, by, order, confidence)
    table = pd.DataFrame({by: order[1:]})
    table["investment"] = table[by].map(invested)
    table["payback_month"] = table[by].map(payback)
    table["gain"] = table[by].map(gains["difference"])
    table["gain_low"] = table[by].map(gains["ci_low"])
    table["gain_high"] = table[by].map(gains["ci_high"])
    table["n"] = table[by].map(gains["n"]).astype(np.int64)
    table["test"] = table[by].map(gains["test"])
    return table[columns]


def best_by_condition(
    timeseries: pd.DataFrame,
    by: str,
    metric: str = "discounted_profit",
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """The best group in each condition: each combination of the swept keys other than ``by``
    (and the firm) that take several values in the rows.

    Args:
        timeseries: monthly rows (of one firm, or with ``by = "firm"``).
        by: the group column.
        metric: the column ranked, at each run's last month (highest mean wins).
        confidence: coverage of the interval of the difference.

    Returns:
        One row per condition, in order of first appearance: the condition's columns (none if
        nothing else varies: one row), ``best`` and ``best_mean``, ``runner_up`` and
        ``runner_up_mean`` (NaN and None with a single group), and ``difference``, ``ci_low``,
        ``ci_high``, ``test``: best minus runner-up with its interval (`compare`).
    """
    within = [
        k
        for k in [*swept_keys(timeseries), "firm"]
        if k != by and k in timeseries.columns and timeseries[k].nunique(dropna=False) > 1
    ]
    columns = [*within, "best", "best_mean", "runner_up", "runner_up_mean"]
    columns += ["difference", "ci_low", "ci_high", "test"]
    if timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    rows = timeseries.reset_index(drop=True)
    runs = [k for k in ("run_id", "firm") if k in rows.columns]
    last = rows[rows["step"] == rows.groupby(runs, sort=False)["step"].transform("max")]
    means = last.groupby([*within, by], sort=False, dropna=False)[metric].mean().reset_index()
    out = []
    groups = means.groupby(within, sort=False, dropna=False) if within else [((), means)]
    for condition, part in groups:
        condition = condition if isinstance(condition, tuple) else (condition,)
        ranked = part.sort_values(metric, ascending=False, kind="stable", na_position="last")
        row: dict[str, object] = dict(zip(within, condition, strict=True))
        best = ranked.iloc[0]
        row.update(best=best[by], best_mean=best[metric], runner_up=None)
        row.update(runner_up_mean=np.nan, difference=np.nan, ci_low=np.nan, ci_high=np.nan)
        row["test"] = ""
        if len(ranked) > 1:
            runner = ranked.iloc[1]
            mask = np.ones(len(last), dtype=bool)
            for key, value in zip(within, condition, strict=True):
                mask &= (last[key] == value).to_numpy()
            pair = last[mask & last[by].isin([best[by], runner[by]]).to_numpy()]
            diff = compare(
                pair, by=by, metric=metric, reference=runner[by], within=[], confidence=confidence
            ).iloc[0]
            row.update(runner_up=runner[by], runner_up_mean=runner[metric])
            row.update({k: diff[k] for k in ("difference", "ci_low", "ci_high", "test")})
        out.append(row)
    return pd.DataFrame(out, columns=columns)


# --------------------------------------------------------------------------------------------
# Contrasts: the difference between each level of a key and a reference level, with its interval.

COMPARE_COLUMNS = (
    "reference",
    "metric",
    "month",
    "n",
    "mean",
    "reference_mean",
    "difference",
    "ci_low",
    "ci_high",
    "df",
    "test",
)


def _unit_values(rows: pd.DataFrame, keys: Sequence[str], unit: str, metric: str) -> pd.DataFrame:
    """One value per (keys, unit): the metric averaged over the unit's runs, with the unit's
    run seeds (sorted, as a tuple) when the rows carry ``seed``."""
    grouped = rows.groupby([*keys, unit], sort=False, dropna=False)
    out = grouped[metric].mean().rename("value").to_frame()
    if "seed" in rows.columns:
        out["seeds"] = grouped["seed"].agg(lambda s: tuple(sorted(set(s.tolist()))))
    return out.reset_index()


def _contrast(
    level: pd.DataFrame, ref: pd.DataFrame, unit: str, paired: bool, confidence: float
) -> dict[str, object]:
    """Difference of means (level minus reference) and its interval: paired over units when
    asked and both sides hold the same units with the same seeds, Welch's otherwise."""
    x = level.dropna(subset=["value"]).set_index(unit)
    y = ref.dropna(subset=["value"]).set_index(unit)
    same_draws = (
        paired
        and "seeds" in x.columns
        and len(x) == len(y)
        and set(x.index) == set(y.index)
        and bool((x["seeds"] == y["seeds"].reindex(x.index)).all())
    )
    mean, reference_mean = float(x["value"].mean()), float(y["value"].mean())
    out: dict[str, object] = {"mean": mean, "reference_mean": reference_mean}
    if same_draws:
        d = x["value"] - y["value"].reindex(x.index)
        n, sd = len(d), d.std(ddof=1)
        low, high = t_interval(np.array([n]), np.array([d.mean()]), np.array([sd]), confidence)
        out.update(
            n=n, difference=d.mean(), ci_low=low[0], ci_high=high[0], df=n - 1.0, test="paired"
        )
        return out
    n = min(len(x), len(y))
    out.update(n=n, difference=mean - reference_mean, test="welch")
    if n >= 2 and x["value"].std(ddof=1) == 0 and y["value"].std(ddof=1) == 0:
        diff = mean - reference_mean  # no spread on either side: the difference is exact
        out.update(ci_low=diff, ci_high=diff, df=np.nan)
    elif n >= 2:
        from scipy.stats import ttest_ind

        res = ttest_ind(x["value"], y["value"], equal_var=False)
        ci = res.confidence_interval(confidence_level=confidence)
        out.update(ci_low=float(ci.low), ci_high=float(ci.high), df=float(res.df))
    else:
        out.update(ci_low=np.nan, ci_high=np.nan, df=np.nan)
    return out


def compare(
    results: object,
    *,
    by: str,
    metric: str = "discounted_profit",
    reference: object = None,
    at_month: int | None = None,
    within: Sequence[str] | None = None,
    paired: bool = True,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Each level of ``by`` against a reference level: the difference of means and its interval.

    The metric is read at month ``at_month`` (default: each run's last month). Runs are grouped
    by the ``within`` columns (each group is one condition, compared on its own) and averaged
    replicate by replicate over every other swept key (`pool_replicates`). In each condition,
    each level's values are compared with the reference level's:

    - ``test = "paired"`` when ``paired`` is true and both levels hold the same replicates, run
      with the same seeds (common random numbers, the default of a sweep: docs/model.md D70):
      the mean and t-based interval (`t_interval`) of the per-replicate differences;
    - ``test = "welch"`` otherwise: the difference of the two means with Welch's interval
      (`scipy.stats.ttest_ind` with ``equal_var=False``).

    Args:
        results: a results folder read back (`sim.load_results`), a `sim.run_sweep` result, or
            monthly rows (a DataFrame with ``run_id``, ``replicate``, ``seed``, ``step`` and the
            ``by`` column, such as `sim.simulate_replicates` frames concatenated).
        by: the column whose levels are compared: a swept key (``"firms.0.service_level"``) or
            ``"firm"``.
        metric: a column of the monthly rows, or ``"cumulative_profit"`` (undiscounted profit
            summed from month 0).
        reference: the level compared against; default the first level in the rows (in a
            sweep, the first value of the key).
        at_month: the month read; default the last month of each run.
        within: the conditions; default every other swept key and ``"firm"``. Give ``[]`` to
            average over all other swept keys.
        paired: pair the replicates when they share seeds; False always uses Welch's interval.
        confidence: coverage of the intervals.

    Returns:
        A tidy frame, one row per condition and non-reference level, in order of first
        appearance: the ``within`` columns, ``by``, then `COMPARE_COLUMNS`: ``reference``,
        ``metric``, ``month``, ``n`` (paired: replicates; Welch: the smaller sample), ``mean``
        and ``reference_mean`` (over replicates), ``difference`` (mean minus reference mean),
        ``ci_low``, ``ci_high`` (NaN with fewer than two replicates), ``df`` (the t
        distribution's degrees of freedom) and ``test`` (``"paired"`` or ``"welch"``).

    Raises:
        KeyError: ``by``, ``metric`` or a ``within`` column is not in the rows.
        ValueError: ``reference`` is not a level of ``by``, or no run reaches ``at_month``.
    """
    rows = getattr(results, "timeseries", results)
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(
            f"results must be a results folder, a sweep result or a DataFrame, got {results!r}"
        )
    within = (
        [k for k in [*swept_keys(rows), "firm"] if k != by and k in rows.columns]
        if within is None
        else list(within)
    )
    missing = [c for c in [by, *within, "step"] if c not in rows.columns]
    if metric not in rows.columns and metric != "cumulative_profit":
        missing.append(metric)
    if missing:
        raise KeyError(f"columns not in the results: {', '.join(map(str, missing))}")
    columns = [*within, by, *COMPARE_COLUMNS]
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    rows = rows.reset_index(drop=True)
    if metric == "cumulative_profit" and metric not in rows.columns:
        rows = rows.assign(cumulative_profit=cumulative_profit(rows))
    runs = [k for k in ("run_id", "firm") if k in rows.columns]
    if at_month is None:
        at = rows[rows["step"] == rows.groupby(runs, sort=False)["step"].transform("max")]
        month = int(at["step"].max())
    else:
        at = rows[rows["step"] == at_month]
        if at.empty:
            raise ValueError(
                f"at_month {at_month}: no run has that month (the runs end at month "
                f"{int(rows['step'].max())})"
            )
        month = int(at_month)
    levels = list(pd.unique(at[by]))
    reference = levels[0] if reference is None else reference
    if reference not in levels:
        shown = ", ".join(map(repr, levels))
        raise ValueError(f"reference {reference!r} is not a value of {by!r} (one of: {shown})")
    unit = "replicate" if "replicate" in at.columns else "run_id"
    values = _unit_values(at, [*within, by], unit, metric)
    out = []
    groups = values.groupby(within, sort=False, dropna=False) if within else [((), values)]
    for condition, part in groups:
        condition = condition if isinstance(condition, tuple) else (condition,)
        ref = part[part[by] == reference]
        for level in pd.unique(part[by]):
            if level == reference or ref.empty:
                continue
            stats = _contrast(part[part[by] == level], ref, unit, paired, confidence)
            row = dict(zip(within, condition, strict=True))
            row.update({by: level, "reference": reference, "metric": metric, "month": month})
            row.update(stats)
            out.append(row)
    return pd.DataFrame(out, columns=columns)


# --------------------------------------------------------------------------------------------
# Staffing: the profit-maximising number of agents against the 80/20 standard, per fill rate.
# Used by the report's "Staffing" section (`sim.report`).

AGENTS_KEY = re.compile(r"^firms\.(\d+)\.contact_centre\.agents$")
SERVICE_GOAL = 0.80  # the "80" of 80/20: the share of calls to answer within the target time

STAFFING_COLUMNS = (
    "runs",
    "replicates",
    "discounted_profit",
    "discounted_profit_low",
    "discounted_profit_high",
    "answered_all",
    "answered_all_low",
    "answered_all_high",
    "answered_worst_month",
    "worst_month",
    "unstable_months",
    "customers",
)


def staffing_keys(timeseries: pd.DataFrame) -> tuple[str, str | None] | None:
    """The swept agents key of the results and the same firm's swept fill-rate key (or None).

    Returns:
        ``(agents key, fill-rate key or None)`` for the first firm whose contact centre's agents
        are swept with several values; None when no firm's are.
    """
    for key in swept_keys(timeseries):
        m = AGENTS_KEY.match(str(key))
        if m and timeseries[key].nunique(dropna=True) > 1:
            fill = f"firms.{m.group(1)}.inventory.fill_rate"
            return key, fill if fill in timeseries.columns else None
    return None


def answered_share(rows: pd.DataFrame) -> pd.Series:
    """Per run (and firm): the share of all the calls of months >= 1 answered within the target.

    The months' ``answered_within_target`` weighted by their calls (``interactions``); a month
    with an unstable queue counts as answering none. NaN for a run whose firm has no contact
    centre or no calls.
    """
    keys = [k for k in ("run_id", "firm") if k in rows.columns]
    months = rows[rows["step"] > 0]
    answered = months["answered_within_target"]
    calls = months["interactions"].where(answered.notna(), 0)
    within = (answered.fillna(0.0) * calls).groupby([months[k] for k in keys], sort=False).sum()
    total = calls.groupby([months[k] for k in keys], sort=False).sum()
    return (within / total.where(total > 0)).rename("answered_all")


def staffing_table(
    timeseries: pd.DataFrame,
    agents_key: str,
    by: str | None = None,
    firm: str | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per value of ``by`` (e.g. the fill rate) and number of agents: profit and service level.

    Other swept keys are averaged over, replicate by replicate (`pool_replicates`).

    Args:
        timeseries: monthly rows of a sweep over ``agents_key`` (with ``run_id``).
        agents_key: the swept key holding the agents (``firms.<i>.contact_centre.agents``).
        by: a second swept key to keep apart (the fill rate), or None.
        firm: the firm whose rows count; default: the firm of ``agents_key``'s index in the
            rows' order of first appearance.
        confidence: coverage of the t-based intervals.

    Returns:
        One row per (``by``, agents), sorted, with columns ``by`` (if given), ``agents`` and
        `STAFFING_COLUMNS`: ``runs``; ``replicates`` (after pooling); ``discounted_profit``
        (cumulative, at the last month) and ``answered_all`` (`answered_share`), each a mean
        with ``_low`` and ``_high`` interval bounds; ``answered_worst_month``, the lowest over
        months >= 1 of the month's ``answered_within_target`` averaged over runs (an unstable
        month counts 0), and ``worst_month``, that month; ``unstable_months``, the mean number
        of months per run with an unstable queue; ``customers`` at the last month (mean).
    """
    groups = [*([by] if by else []), agents_key]
    columns = [*([by] if by else []), "agents", *STAFFING_COLUMNS]
    rows = timeseries
    if firm is None:
        m = AGENTS_KEY.match(agents_key)
        firms = list(pd.unique(rows["firm"]))
        index = int(m.group(1)) if m else 0
        firm = firms[index] if index < len(firms) else firms[0]
    rows = rows[rows["firm"] == firm]
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    rows = rows.reset_index(drop=True)
    unit = [u for u in ("replicate",) if u in rows.columns]
    last = rows["step"] == rows.groupby("run_id", sort=False)["step"].transform("max")
    per_run = rows.loc[last, ["run_id", *groups, *unit, "discounted_profit", "customers"]]
    per_run = per_run.merge(
        answered_share(rows).reset_index()[["run_id", "answered_all"]], on="run_id", how="left"
    )
    months = rows[rows["step"] > 0]
    unstable = months.groupby("run_id", sort=False)["queue_unstable"].sum().rename("unstable")
    per_run = per_run.merge(unstable.reset_index(), on="run_id", how="left")
    metrics = ["discounted_profit", "answered_all", "unstable", "customers"]
    stats = pooled_summary(per_run, groups, metrics, confidence)
    table = per_run.groupby(groups, sort=True).size().rename("runs").reset_index()
    for metric, name in zip(
        metrics, ["discounted_profit", "answered_all", "unstable_months", "customers"], strict=True
    ):
        one = stats[stats["metric"] == metric].set_index(groups)
        index = pd.MultiIndex.from_frame(table[groups]) if by else table[agents_key]
        table[name] = one["mean"].reindex(index).to_numpy()
        if metric in ("discounted_profit", "answered_all"):
            table[f"{name}_low"] = one["ci_low"].reindex(index).to_numpy()
            table[f"{name}_high"] = one["ci_high"].reindex(index).to_numpy()
        if metric == "discounted_profit":
            table["replicates"] = one["n"].reindex(index).to_numpy()
    monthly = months.groupby([*groups, "step"], sort=True)["answered_within_target"].mean()
    worst = monthly.dropna().groupby(level=list(range(len(groups))), sort=True)
    index = pd.MultiIndex.from_frame(table[groups]) if by else table[agents_key]
    table["answered_worst_month"] = worst.min().reindex(index).to_numpy()
    table["worst_month"] = worst.idxmin().map(lambda i: i[-1]).reindex(index).to_numpy(dtype=float)
    table = table.rename(columns={agents_key: "agents"})
    return table[columns].reset_index(drop=True)


def staffing_answer(
    table: pd.DataFrame, by: str | None = None, goal: float = SERVICE_GOAL
) -> pd.DataFrame:
    """Per value of ``by``: the profit-maximising agents against the fewest meeting the goal.

    Args:
        table: a `staffing_table`.
        by: its group column (the fill rate), or None for one group.
        goal: the share of calls to answer within the target (0.8 for 80/20).

    Returns:
        One row per group with ``by`` (if given), ``best_agents`` (the highest mean discounted
        profit), ``best_profit``, ``best_profit_low``, ``best_profit_high``, ``runner_up``
        (the second highest), ``runner_up_profit``, ``overlap`` (whether the two intervals
        overlap), ``at_edge`` ("smallest", "largest" or "" where the best is the smallest or
        largest number of agents swept), ``goal_agents`` (the fewest agents whose worst month
        answers at least ``goal`` of its calls within the target; NaN if none) and
        ``goal_agents_all_calls`` (the fewest answering ``goal`` of all calls).
    """
    groups = [(None, table)] if by is None else list(table.groupby(by, sort=True))
    out = []
    for value, part in groups:
        part = part.sort_values("agents")
        ranked = part.sort_values("discounted_profit", ascending=False, na_position="last")
        best = ranked.iloc[0]
        runner = ranked.iloc[1] if len(ranked) > 1 else None
        meets = part.loc[part["answered_worst_month"] >= goal, "agents"]
        meets_all = part.loc[part["answered_all"] >= goal, "agents"]
        edge = ""
        if len(part) > 1 and best["agents"] == part["agents"].min():
            edge = "smallest"
        elif len(part) > 1 and best["agents"] == part["agents"].max():
            edge = "largest"
        row = {} if by is None else {by: value}
        row.update(
            best_agents=int(best["agents"]),
            best_profit=best["discounted_profit"],
            best_profit_low=best["discounted_profit_low"],
            best_profit_high=best["discounted_profit_high"],
            runner_up=np.nan if runner is None else int(runner["agents"]),
            runner_up_profit=np.nan if runner is None else runner["discounted_profit"],
            overlap=bool(
                runner is not None
                and best["discounted_profit_low"] <= runner["discounted_profit_high"]
            ),
            at_edge=edge,
            goal_agents=float(meets.min()) if len(meets) else np.nan,
            goal_agents_all_calls=float(meets_all.min()) if len(meets_all) else np.nan,
        )
        out.append(row)
    return pd.DataFrame(out)
