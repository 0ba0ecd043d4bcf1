"""sim/plots.py: the customers-and-revenue figure from a hand-made time series."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from sim.plots import customers_and_revenue


def timeseries(firms=("Alpha", "Beta"), replicates=3, months=4) -> pd.DataFrame:
    rows = []
    for r in range(replicates):
        for step in range(months + 1):
            for f, firm in enumerate(firms):
                rows.append(
                    {
                        "run_id": f"p0000-r{r:03d}",
                        "replicate": r,
                        "seed": r,
                        "step": step,
                        "firm": firm,
                        "customers": 100 * (f + 1) - 10 * step + r,
                        "revenue": 0.0 if step == 0 else 30.0 * (100 * (f + 1) - 10 * step + r),
                    }
                )
    return pd.DataFrame(rows)


def test_two_panels_with_a_mean_line_per_firm_and_a_band():
    fig = customers_and_revenue(timeseries())
    assert isinstance(fig, Figure)
    customers, revenue = fig.axes
    assert customers.get_title() == "Customers" and revenue.get_title() == "Monthly revenue"
    assert "people" in customers.get_ylabel() and "per month" in revenue.get_ylabel()
    assert customers.get_xlabel() == revenue.get_xlabel() == "month"
    for ax in (customers, revenue):
        assert [line.get_label() for line in ax.get_lines()] == ["Alpha", "Beta"]
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
    # mean over replicates r = 0, 1, 2 of 100 - 10 * step + r
    alpha = customers.get_lines()[0]
    assert alpha.get_xdata().tolist() == [0, 1, 2, 3, 4]
    assert alpha.get_ydata().tolist() == [101.0, 91.0, 81.0, 71.0, 61.0]
    # revenue starts at month 1 (month 0 has no flows)
    assert revenue.get_lines()[0].get_xdata().tolist() == [1, 2, 3, 4]


def test_firms_differ_by_line_style_not_only_colour():
    fig = customers_and_revenue(timeseries(firms=("A", "B", "C", "D")))
    lines = fig.axes[0].get_lines()
    styles = {(line.get_linestyle(), line.get_marker()) for line in lines}
    assert len({s for s, _ in styles}) == 4 and len({m for _, m in styles}) == 4


def test_band_is_the_t_interval_of_the_replicates():
    fig = customers_and_revenue(timeseries(firms=("A",)))
    band = next(c for c in fig.axes[0].collections if isinstance(c, PolyCollection))
    ys = band.get_paths()[0].vertices[:, 1]
    half = 4.302652729749462 * 1.0 / np.sqrt(3)  # values r = 0, 1, 2 around the mean: sd 1
    assert ys.max() == pytest.approx(101.0 + half)
    assert ys.min() == pytest.approx(61.0 - half)


def test_one_replicate_draws_lines_without_a_band_and_saves_as_png():
    fig = customers_and_revenue(timeseries(replicates=1))
    assert not any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_several_sweep_points_are_refused():
    ts = pd.concat(
        [
            timeseries().assign(**{"churn.rule": "fixed"}),
            timeseries().assign(**{"churn.rule": "tarp"}),
        ]
    )
    with pytest.raises(ValueError, match=r"churn\.rule"):
        customers_and_revenue(ts)
    customers_and_revenue(ts[ts["churn.rule"] == "tarp"])  # one point is fine
