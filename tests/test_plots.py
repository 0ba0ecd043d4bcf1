"""sim/plots.py: every figure, from hand-made time series with known values."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from sim.plots import (
    COLOURS,
    customer_flows,
    customers_and_revenue,
    figures_for,
    finance_of,
    grouping_for,
    ladder_chart,
    parameter_map,
    retention_curves,
    revenue_and_profit,
)


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


# --------------------------------------------------------------------------------------------
# The figures of issue 5, on a small hand-made sweep: rung x churn rule, 3 replicates, 6 months.

RUNG = "firms.0.service_level"
RULES = ("fixed", "tarp")
LADDER_FIVE = ("poor", "acceptable", "good", "excellent", "world_class")


def sweep_frame(
    rungs=("good", "poor", "excellent"), rules=RULES, replicates=3, months=6, firm="Firm"
) -> pd.DataFrame:
    """A sweep-shaped time series with exact, simple values.

    Rung k (its place on the `five` ladder) keeps (0.5 + 0.1 k) ** t of its month-0 customers.
    Monthly profit is 10 k (t - 2) + 5 + r, so against `poor` (k = 0) a rung's cumulative profit
    is 10 k t (t - 3) / 2 behind: level again in month 3 and ahead after it.
    """
    rows = []
    point = 0
    for rung in rungs:
        k = LADDER_FIVE.index(rung)
        for j, rule in enumerate(rules):
            for r in range(replicates):
                cum_revenue = cum_profit = 0.0
                for t in range(months + 1):
                    retention = (0.5 + 0.1 * k) ** t
                    customers = 100 * retention + r + 10 * j
                    revenue = 30.0 * customers if t else 0.0
                    profit = 10.0 * k * (t - 2) + 5 + r if t else 0.0
                    cum_revenue += revenue
                    cum_profit += profit
                    rows.append(
                        {
                            "run_id": f"p{point:04d}-r{r:03d}",
                            "replicate": r,
                            "seed": 1000 * point + r,
                            "step": t,
                            "firm": firm,
                            "customers": customers,
                            "joined_marketing": 5 if t else 0,
                            "joined_referral": k if t else 0,
                            "switched_in": 0,
                            "left_bad_experience": (4 - k) if t else 0,
                            "left_attrition": 1 if t else 0,
                            "cohort_retention": retention,
                            "revenue": revenue,
                            "profit": profit,
                            "discounted_revenue": cum_revenue,
                            "discounted_profit": cum_profit,
                            "delivered_rung": rung,
                            "recognised_rung": rung,
                            RUNG: rung,
                            "churn.rule": rule,
                        }
                    )
            point += 1
    return pd.DataFrame(rows)


def sweep_manifest(rungs=("good", "poor", "excellent"), rules=RULES, replicates=3, months=6):
    return {
        "kind": "sweep",
        "status": "done",
        "scenario": {
            "scenario": {
                "name": "tiny",
                "description": "A hand-made sweep.",
                "months": months,
                "replicates": replicates,
                "seed": 1,
                "engine": "population",
                "ladder": "five",
            },
            "finance": {"discount_rate": 0.0},
            "firms": [{"name": "Firm", "monthly_fee": 30.0, "service_level": "poor"}],
            "sweep": {"design": "grid", RUNG: list(LADDER_FIVE), "churn.rule": list(rules)},
        },
        "swept_keys": [RUNG, "churn.rule"],
        "points": [{RUNG: g, "churn.rule": c} for g in rungs for c in rules],
        "counts": {"runs": len(rungs) * len(rules) * replicates},
    }


def two_firms(replicates=3, months=4) -> pd.DataFrame:
    """No sweep: firm "Top" (excellent) listed before firm "Low" (poor)."""
    top = sweep_frame(("excellent",), ("fixed",), replicates, months, firm="Top")
    low = sweep_frame(("poor",), ("fixed",), replicates, months, firm="Low")
    frame = pd.concat([top, low]).sort_values(["run_id", "step"], kind="stable")
    return frame.drop(columns=[RUNG, "churn.rule"]).reset_index(drop=True)


class Folder:
    """What `figures_for` reads from a results folder."""

    def __init__(self, timeseries, manifest, runs=None, path="tiny"):
        self.timeseries, self.manifest, self.path = timeseries, manifest, path
        if runs is None:
            runs = timeseries[["run_id"]].drop_duplicates().assign(status="done")
        self.runs = runs


def suptitle(fig) -> str:
    """The figure's title and subtitle, line breaks as spaces."""
    return " ".join(fig._suptitle.get_text().split())


def test_grouping_picks_the_swept_service_level_in_ladder_order_and_averages_the_rest():
    g = grouping_for(sweep_frame(), sweep_manifest())
    assert g.column == RUNG and g.values == ("poor", "good", "excellent")
    assert g.labels == ("Poor", "Good", "Excellent") and g.title == "service level"
    assert g.firm == "Firm" and g.averaged == (("churn.rule", 2),)
    assert g.note == "averaged over churn rule (2 values)"
    # a rung keeps its place on the ladder's palette whichever rungs the sweep holds
    assert [s["color"] for s in g.styles] == [COLOURS[0], COLOURS[2], COLOURS[3]]


def test_grouping_by_another_key_uses_the_sweep_order_and_fixed_keys_are_named():
    g = grouping_for(sweep_frame(rules=("tarp", "fixed")), sweep_manifest(), by="churn.rule")
    assert g.values == ("fixed", "tarp")  # the manifest's sweep order
    assert g.averaged == ((RUNG, 3),)
    fixed = grouping_for(sweep_frame(), sweep_manifest(), fixed={"churn.rule": "tarp"})
    assert fixed.averaged == () and fixed.note == "churn rule = tarp"
    with pytest.raises(ValueError, match="cannot group by 'nope'"):
        grouping_for(sweep_frame(), sweep_manifest(), by="nope")
    with pytest.raises(ValueError, match=r"no rows with churn\.rule = 'x'"):
        grouping_for(sweep_frame(), sweep_manifest(), fixed={"churn.rule": "x"})


def test_grouping_by_firm_puts_the_lowest_rung_first_with_its_label():
    g = grouping_for(two_firms())  # no manifest: the ladder is recognised from the rung ids
    assert g.column == "firm" and g.values == ("Low", "Top")
    assert g.labels == ("Low (Poor)", "Top (Excellent)")
    assert [s["color"] for s in g.styles] == [COLOURS[0], COLOURS[3]]  # their rungs' colours


def test_an_inline_ladder_gives_the_labels_and_order():
    frame = sweep_frame(rungs=("poor", "good")).replace({"poor": "meh", "good": "wow"})
    manifest = sweep_manifest()
    manifest["scenario"]["scenario"].pop("ladder")
    rung = {
        "quality_mean": 5.0,
        "quality_sd": 1.0,
        "resolve_prob": 0.5,
        "quick_resolve_prob": 0.5,
        "cost_per_customer": 1.0,
        "sustain_months": 0,
    }
    manifest["scenario"]["rungs"] = [
        {"id": "wow", "label": "Wow!", **rung},
        {"id": "meh", "label": "Meh", **rung},
    ]
    g = grouping_for(frame, manifest)
    assert g.values == ("wow", "meh") and g.labels == ("Wow!", "Meh")


def test_retention_curves_one_line_and_band_per_rung_in_ladder_order():
    fig = retention_curves(sweep_frame(), manifest=sweep_manifest())
    retention, customers = fig.axes
    for ax in (retention, customers):
        assert [line.get_label() for line in ax.get_lines()] == ["Poor", "Good", "Excellent"]
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 3
        assert ax.get_xlabel() == "month"
    assert "share" in retention.get_ylabel() and "people" in customers.get_ylabel()
    good = retention.get_lines()[1]
    assert good.get_ydata().tolist() == pytest.approx([0.7**t for t in range(7)])
    # customers 100 * 0.7 ** t + r + 10 j, averaged over the rules j = 0, 1 and r = 0, 1, 2
    assert customers.get_lines()[1].get_ydata()[0] == pytest.approx(106.0)
    assert "How long customers stay, per service level" in suptitle(fig)
    assert "averaged over churn rule (2 values)" in suptitle(fig)
    assert [t.get_text() for t in retention.get_legend().get_texts()] == [
        "Poor",
        "Good",
        "Excellent",
    ]


def test_revenue_and_profit_marks_the_break_even_month_against_the_lowest_rung():
    fig = revenue_and_profit(sweep_frame(), manifest=sweep_manifest())
    revenue, profit = fig.axes
    assert revenue.get_lines()[0].get_xdata()[0] == 1  # revenue from month 1
    assert sum(isinstance(c, PolyCollection) for c in profit.collections) == 3
    labels = [t.get_text() for t in profit.get_legend().get_texts()]
    assert labels == [
        "Poor: reference",
        "Good: pays off from month 3",
        "Excellent: pays off from month 3",
    ]
    marks = [line for line in profit.get_lines() if list(line.get_xdata()) == [3, 3]]
    assert len(marks) == 2  # a dotted vertical line for Good and Excellent
    assert "currency" in profit.get_ylabel() and "per month" in revenue.get_ylabel()


def test_ladder_chart_bars_in_ladder_order_with_intervals():
    fig = ladder_chart(sweep_frame(), manifest=sweep_manifest())
    assert len(fig.axes) == 4
    for ax in fig.axes:
        assert len(ax.patches) == 3
        assert [t.get_text() for t in ax.get_xticklabels()] == ["Poor", "Good", "Excellent"]
    for ax in fig.axes[1:]:
        assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    retention_12 = fig.axes[0]
    assert "12 months" in retention_12.get_title()
    # the runs last 6 months: no retention after 12 months, and the panel says so
    assert [p.get_height() for p in retention_12.patches] == [0, 0, 0]
    assert "the runs end before this month" in [t.get_text() for t in retention_12.texts]
    end = [p.get_height() for p in fig.axes[1].patches]
    assert end == pytest.approx([0.5**6, 0.7**6, 0.8**6])
    clv = [p.get_height() for p in fig.axes[2].patches]
    assert clv[1] == pytest.approx(30 * sum(0.7**t for t in range(1, 7)))
    profit = [p.get_height() for p in fig.axes[3].patches]
    # cumulative profit 10 k * 6 * 3 / 2 + 6 * (5 + r), mean r = 1; k = 0, 2, 3
    assert profit == pytest.approx([36.0, 36.0 + 90 * 2, 36.0 + 90 * 3])
    assert "best" in " ".join(t.get_text() for t in fig.axes[3].texts)
    assert suptitle(fig).startswith("The service ladder")


def test_ladder_chart_can_hold_a_swept_key_fixed():
    fig = ladder_chart(sweep_frame(), manifest=sweep_manifest(), fixed={"churn.rule": "tarp"})
    assert "churn rule = tarp" in suptitle(fig) and "averaged" not in suptitle(fig)


def test_ladder_chart_marks_no_pooled_best_when_the_ranking_flips_between_conditions():
    frame = sweep_frame()
    # under tarp, poor's discounted profit jumps above every other rung's
    flip = (frame["churn.rule"] == "tarp") & (frame[RUNG] == "poor")
    frame.loc[flip, "discounted_profit"] += 1000.0
    fig = ladder_chart(frame, manifest=sweep_manifest())
    texts = [t.get_text() for t in fig.axes[3].texts]
    assert not any(t.endswith("\nbest") or "best in all" in t for t in texts)
    assert [t.split("\n", 1)[1] if "\n" in t else "" for t in texts] == [
        "best in 1 of 2",
        "",
        "best in 1 of 2",
    ]
    assert "no single best" in suptitle(fig) and "2 conditions (churn rule)" in suptitle(fig)


def test_ladder_chart_writes_compared_money_alike_and_labels_table_values_readably():
    frame = sweep_frame()
    frame["discounted_profit"] = frame["discounted_profit"] * 0 + np.where(
        frame[RUNG] == "good", 8.70e6, 8.67e6
    )
    fig = ladder_chart(frame, manifest=sweep_manifest())
    money = [t.get_text().split("\n")[0] for t in fig.axes[3].texts]
    assert money == ["8.67M", "8.70M", "8.67M"]
    network = '{"generator": "watts_strogatz", "k": 10, "p": 0.1}'
    frame = sweep_frame().assign(**{"market.network": network})
    frame.loc[frame["churn.rule"] == "tarp", "market.network"] = "well_mixed"
    manifest = sweep_manifest()
    g = grouping_for(frame, manifest, by="market.network")
    assert set(g.labels) == {"watts_strogatz k=10 p=0.1", "well_mixed"}


def test_parameter_map_is_a_grid_of_the_outcome_over_two_swept_keys():
    fig = parameter_map(sweep_frame(), RUNG, "churn.rule", "customers", manifest=sweep_manifest())
    ax = fig.axes[0]
    grid = ax.get_images()[0].get_array()
    assert grid.shape == (2, 3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Poor", "Good", "Excellent"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fixed", "tarp"]
    # customers at month 6: 100 * (0.5 + 0.1 k) ** 6 + 1 + 10 j
    assert grid[1][2] == pytest.approx(100 * 0.8**6 + 1 + 10)
    assert len(ax.texts) == 6
    assert "Customers at month 6" in suptitle(fig)
    with pytest.raises(ValueError, match="not a swept key"):
        parameter_map(sweep_frame(), RUNG, "nope")
    with pytest.raises(ValueError, match="unknown metric"):
        parameter_map(sweep_frame(), RUNG, "churn.rule", "profit")


def test_customer_flows_one_stacked_panel_per_rung_without_empty_kinds():
    fig = customer_flows(sweep_frame(), manifest=sweep_manifest())
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == ["Poor", "Good", "Excellent"]
    for ax in panels:
        # marketing, referral (in); bad experience, attrition (out); switching is all zero
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 4
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "switched in from a competitor" not in legend
    assert legend[0] == "joined through marketing" and legend[-1] == "net change"
    net = panels[1].get_lines()[0].get_ydata()  # good: 5 + 2 - (4 - 2) - 1
    assert net.tolist() == [4.0] * 6


def test_figures_for_a_sweep_and_for_one_point():
    sweep = figures_for(Folder(sweep_frame(), sweep_manifest()))
    assert list(sweep) == [
        "retention",
        "revenue_and_profit",
        "ladder",
        "flows",
        "map_discounted_profit__firms_0_service_level__churn_rule",
    ]
    one = figures_for(Folder(two_firms(), {}))
    assert list(one) == [
        "customers_and_revenue",
        "retention",
        "revenue_and_profit",
        "ladder",
        "flows",
    ]
    with pytest.raises(ValueError, match="unknown metric"):
        figures_for(Folder(sweep_frame(), sweep_manifest()), metrics=["nope"])


def test_failed_runs_still_plot_and_are_counted_in_every_subtitle():
    frame = sweep_frame()
    frame = frame[frame["run_id"] != "p0001-r002"]
    runs = pd.DataFrame(
        {
            "run_id": sorted(sweep_frame()["run_id"].unique()),
            "status": "done",
        }
    )
    runs.loc[runs["run_id"] == "p0001-r002", "status"] = "failed"
    figures = figures_for(Folder(frame, sweep_manifest(), runs))
    for fig in figures.values():
        assert "1 of 18 runs failed and is missing" in suptitle(fig)


def test_a_rung_has_one_colour_in_every_figure():
    frame, manifest = sweep_frame(), sweep_manifest()
    lines = retention_curves(frame, manifest=manifest).axes[0].get_lines()
    bars = ladder_chart(frame, manifest=manifest).axes[0].patches
    assert [to_hex(line.get_color()) for line in lines] == [to_hex(b.get_facecolor()) for b in bars]


def test_fees_and_rate_are_read_off_the_rows_without_a_manifest():
    frame = sweep_frame(rungs=("poor",), rules=("fixed",))
    # make revenue = fee x paying customers exactly (paying = last month's - leavers)
    frame = frame.sort_values(["run_id", "step"]).reset_index(drop=True)
    paying = frame.groupby("run_id")["customers"].shift(1) - 4 - 1
    frame["revenue"] = (25.0 * paying).fillna(0.0)
    frame["discounted_revenue"] = frame["revenue"] / 1.02 ** frame["step"]
    fees, rate = finance_of(None, frame)
    assert fees == {"Firm": pytest.approx(25.0)} and rate == pytest.approx(0.02)


def test_customers_and_revenue_styles_firms_like_every_other_figure():
    fig = customers_and_revenue(two_firms())
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["Low (Poor)", "Top (Excellent)"]
    assert [to_hex(line.get_color()) for line in lines] == [COLOURS[0].lower(), COLOURS[3].lower()]
