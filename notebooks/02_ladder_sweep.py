# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The ladder sweep
#
# **What this shows.** `scenarios/ladder.toml` puts the same market at each rung of the
# five-rung ladder, under each churn rule (the 91% rule, TARP, strikes) and three referral
# strengths: 5 x 3 x 3 points, 20 replicates each. Each firm is established (the market runs 24
# months before month 0) and competes with the rest of the market, recognised as good, for the
# prospects marketing reaches. This notebook runs that sweep into a results
# folder with `sim.run_sweep`, then shows
#
# 1. retention and profit per rung, with 95% confidence intervals over replicates;
# 2. the rung that maximises discounted profit, and whether the runner-up is really behind;
# 3. how that answer moves with the churn rule and the referral strength.
#
# The full sweep is 900 runs of 10,000 people over 120 months (a minute or two on a laptop).
# With `SIM_SMOKE=1`, as in the test suite, it shrinks to 300 people, 24 months and 2
# replicates. Results go to `results/ladder/` (or `$SIM_RESULTS_DIR/ladder/`); there is no model
# code here.

# %%
# %matplotlib inline
import os
import time
from pathlib import Path

import pandas as pd

import sim
from sim import plots
from sim.summary import rung_table

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
RESULTS = Path(os.environ.get("SIM_RESULTS_DIR") or ROOT / "results")
SMALL = {"market.size": 300, "scenario.months": 24, "scenario.replicates": 2} if SMOKE else {}
EXECUTOR = "serial" if SMOKE else "local"  # "local": one worker process per CPU
pd.set_option("display.width", 140)

# %% [markdown]
# ## Run the sweep

# %%
scenario = sim.load_scenario(ROOT / "scenarios" / "ladder.toml", overrides=SMALL)
points = scenario.points()
print(
    f"{len(points)} points x {scenario.replicates} replicates = "
    f"{len(points) * scenario.replicates} runs of {scenario.market.size:,} people over "
    f"{scenario.months} months"
)
for key, values in scenario.sweep.parameters:
    print(f"  {key}: {', '.join(map(str, values))}")

# %%
out_dir = RESULTS / "ladder" / time.strftime("notebook-%Y%m%d-%H%M%S")
result = sim.run_sweep(scenario, out_dir, executor=EXECUTOR)
timeseries, manifest = result.timeseries, result.manifest
print(f"{result.path}: {timeseries['run_id'].nunique()} runs, {result.failed} failed")

# %% [markdown]
# ## 1. Retention and profit per rung
#
# Each rung's outcome at the horizon, averaged over the churn rules and referral strengths
# replicate by replicate, with its 95% interval over replicates: the share of month-0 customers
# still there after 12 months and at the end, lifetime value per initial customer (CLV) and
# cumulative discounted profit. `break_even_month` is when a rung's cumulative profit overtakes
# the lowest rung's for good.

# %%
RUNG = "firms.0.service_level"
ladder = scenario.ladder
fees = {f.name: f.monthly_fee for f in scenario.firms}
rate = scenario.finance.discount_rate
table = rung_table(timeseries, RUNG, fees, rate, order=ladder.ids)


def with_interval(t: pd.DataFrame, name: str, fmt: str) -> pd.Series:
    """``mean [low, high]`` of one outcome, formatted."""
    return t.apply(
        lambda r: f"{r[name]:{fmt}} [{r[name + '_low']:{fmt}}, {r[name + '_high']:{fmt}}]", axis=1
    )


pd.DataFrame(
    {
        "rung": [ladder[ladder.index(r)].label for r in table[RUNG]],
        "retention after 12 months": with_interval(table, "retention_12", ".0%"),
        "retention at the end": with_interval(table, "retention_end", ".0%"),
        "CLV per initial customer": with_interval(table, "clv", ",.0f"),
        "discounted profit": with_interval(table, "discounted_profit", ",.0f"),
        "break-even month": table["break_even_month"].astype("Int64"),
    }
)

# %%
plots.ladder_chart(timeseries, manifest=manifest)

# %%
plots.revenue_and_profit(timeseries, manifest=manifest)

# %% [markdown]
# ## 2. The rung that maximises discounted profit
#
# The best rung on average, and whether its interval overlaps the runner-up's (if it does, the
# sweep cannot tell them apart: more replicates, or a longer horizon, would).

# %%
ranked = table.sort_values("discounted_profit", ascending=False).reset_index(drop=True)
best, second = ranked.iloc[0], ranked.iloc[1]
overlap = best["discounted_profit_low"] <= second["discounted_profit_high"]
print(
    f"best: {ladder[ladder.index(best[RUNG])].label}, discounted profit "
    f"{best['discounted_profit']:,.0f} [{best['discounted_profit_low']:,.0f}, "
    f"{best['discounted_profit_high']:,.0f}]"
)
print(
    f"runner-up: {ladder[ladder.index(second[RUNG])].label}, "
    f"{second['discounted_profit']:,.0f}; intervals "
    + ("overlap: not clearly different" if overlap else "do not overlap")
)

# %% [markdown]
# ## 3. How the answer moves with the churn rule and referral strength
#
# The same question asked separately for each churn rule and referral strength: the best rung,
# and its lead over the runner-up as a share of the runner-up's profit ("~" marks leads whose
# intervals overlap).

# %%
rows = []
for (rule, refer), part in timeseries.groupby(["churn.rule", "referrals.refer_prob"], sort=False):
    one = rung_table(part, RUNG, fees, rate, order=ladder.ids)
    one = one.sort_values("discounted_profit", ascending=False).reset_index(drop=True)
    top, runner_up = one.iloc[0], one.iloc[1]
    lead = (top["discounted_profit"] - runner_up["discounted_profit"]) / abs(
        runner_up["discounted_profit"]
    )
    clear = top["discounted_profit_low"] > runner_up["discounted_profit_high"]
    rows.append(
        {
            "churn.rule": rule,
            "referrals.refer_prob": refer,
            "best rung": ladder[ladder.index(top[RUNG])].label + ("" if clear else " ~"),
            "lead": f"{lead:.0%}",
        }
    )
answers = pd.DataFrame(rows)
answers.pivot(index="churn.rule", columns="referrals.refer_prob", values="best rung")

# %%
answers.pivot(index="churn.rule", columns="referrals.refer_prob", values="lead")

# %% [markdown]
# Discounted profit over the rungs and the churn rules (averaged over referral strengths), and
# over the rungs and referral strengths (averaged over churn rules):

# %%
plots.parameter_map(timeseries, RUNG, "churn.rule", "discounted_profit", manifest=manifest)

# %%
plots.parameter_map(
    timeseries, RUNG, "referrals.refer_prob", "discounted_profit", manifest=manifest
)

# %% [markdown]
# The same figures, the summary table and a written report for this folder:
# `retention-sim plot <folder>` (or `sim.report.write_report(result)`).
