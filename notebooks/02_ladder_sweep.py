# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# strengths: 5 x 3 x 3 points, 20 replicates each. This notebook runs that sweep into a results
# folder with `sim.run_sweep`, then shows
#
# 1. retention and profit per rung, with 95% confidence intervals over replicates;
# 2. each rung against good, per churn rule, as a paired difference (`sim.compare`);
# 3. the most profitable rung in each condition, and how sure that is.
#
# Every firm starts recognised at the rung it delivers (`recognised_start` left to its default,
# derived at each sweep point), as in notebook 04. Replicate r of every point runs with the same
# seed (common random numbers), so rungs are compared on the same random draws.
#
# The full sweep is 900 runs of 10,000 people over 120 months: the sweep of `make demo`, about
# 40 s on a 2-core laptop (64 s of CPU time).
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
from sim.formatting import interval
from sim.summary import best_by_condition, rung_table

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
# cumulative discounted profit. `difference` is a rung's discounted profit minus the lowest
# rung's, with its interval: replicate r of every point ran with the same seed (common random
# numbers), so the difference is measured run against run (paired). `break_even_month` is when a
# rung's cumulative profit overtakes the lowest rung's for good (blank for the lowest itself).

# %%
RUNG = "firms.0.service_level"
ladder = scenario.ladder
fees = {f.name: f.monthly_fee for f in scenario.firms}
rate = scenario.finance.discount_rate
table = rung_table(timeseries, RUNG, fees, rate, order=ladder.ids)
pd.DataFrame(
    {
        "rung": [ladder[ladder.index(r)].label for r in table[RUNG]],
        **{
            title: [
                interval(r[name], r[f"{name}_low"], r[f"{name}_high"], kind)
                for r in table.to_dict("records")
            ]
            for title, name, kind in (
                ("retention after 12 months", "retention_12", "share"),
                ("retention at the end", "retention_end", "share"),
                ("CLV per initial customer", "clv", "money"),
                ("discounted profit", "discounted_profit", "money"),
            )
        },
        "difference": [
            interval(r["difference"], r["difference_low"], r["difference_high"], "difference")
            for r in table.to_dict("records")
        ],
        "break-even month": table["break_even_month"].astype("Int64"),
        "best in (of conditions)": table["best_in"],
    }
)

# %%
plots.ladder_chart(timeseries, manifest=manifest)

# %%
plots.revenue_and_profit(timeseries, manifest=manifest)

# %% [markdown]
# ## 2. Each rung against good, per churn rule
#
# `sim.compare` measures each rung's cumulative discounted profit against one reference rung,
# per condition, on the same random draws (`test` says "paired"). A difference whose interval
# excludes 0 is a real difference at this many replicates; averaging over the churn rules would
# hide that the best rung depends on the rule.

# %%
compared = sim.compare(result, by=RUNG, reference="good", within=["churn.rule"])
compared.assign(
    rung=[ladder[ladder.index(r)].label for r in compared[RUNG]],
    difference=[
        interval(r["difference"], r["ci_low"], r["ci_high"], "difference")
        for r in compared.to_dict("records")
    ],
)[["churn.rule", "rung", "difference", "n", "test"]]

# %% [markdown]
# ## 3. The best rung in each condition
#
# The most profitable rung for each churn rule and referral strength
# (`sim.summary.best_by_condition`), and its lead over the runner-up with a paired interval.

# %%
best = best_by_condition(timeseries, RUNG)
best = best.assign(
    best=[ladder[ladder.index(r)].label for r in best["best"]],
    lead=[
        interval(r["difference"], r["ci_low"], r["ci_high"], "difference")
        for r in best.to_dict("records")
    ],
)
best.pivot(index="churn.rule", columns="referrals.refer_prob", values="best")

# %%
best.pivot(index="churn.rule", columns="referrals.refer_prob", values="lead")

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
