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

What does not live here: computing the monthly rows (`metrics.py`), reading or writing files
(`store.py`), drawing (`plots.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.metrics import COLUMNS, RUN_COLUMNS, clv_per_initial_customer

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
