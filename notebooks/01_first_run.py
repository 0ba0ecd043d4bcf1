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
# # 01 · A first run
#
# **What this shows.** How to load a scenario, run it, read the monthly rows it returns and plot
# customers and revenue; then how to change one parameter (the share of unhappy customers who
# leave) and compare the two versions over replicates, with 95% confidence bands.
#
# Every cell calls the `sim` package: there is no model code here. With `SIM_SMOKE=1` (as in
# the test suite) the market, the horizon and the replicates shrink so that it runs in seconds;
# without it, it runs the scenario as written (10,000 people, 120 months, 10 replicates, a few
# seconds: about 4 s of CPU time).

# %%
# %matplotlib inline
import os
from pathlib import Path

import pandas as pd

import sim
from sim import plots
from sim.summary import final_table

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
SMALL = {"market.size": 400, "scenario.months": 24, "scenario.replicates": 3} if SMOKE else {}
pd.set_option("display.width", 120)

# %% [markdown]
# ## Load a scenario
#
# `sim.load_scenario` reads a TOML file, fills in every default, checks every key and returns a
# frozen `Scenario`. `overrides` sets dotted keys, exactly like `--set` on the command line.

# %%
scenario = sim.load_scenario(ROOT / "scenarios" / "baseline.toml", overrides=SMALL)
print(scenario.description)
print(
    f"{scenario.market.size:,} people, {scenario.months} months, {scenario.replicates} "
    f"replicates; firms: {', '.join(scenario.firm_names)}; churn rule: {scenario.churn.rule}"
)

# %% [markdown]
# ## Run it once
#
# `sim.simulate` is one run: the same scenario and seed always give the same rows. It returns
# one row per month and firm, month 0 being the starting state.

# %%
frame = sim.simulate(scenario, seed=1)
frame[
    [
        "step",
        "customers",
        "joined_marketing",
        "joined_referral",
        "left_bad_experience",
        "left_attrition",
        "retention_rate",
        "revenue",
        "profit",
    ]
].head(7)

# %% [markdown]
# One row a year: the customers, how many of the month's customers stayed, the revenue, the
# cumulative discounted profit and the rung the market recognises.

# %%
frame.loc[
    frame["step"] % 12 == 0,
    ["step", "customers", "retention_rate", "revenue", "discounted_profit", "recognised_rung"],
]

# %% [markdown]
# Stocks and flows agree: this month's customers are last month's, plus everyone who joined,
# minus everyone who left.

# %%
inflow = frame["joined_marketing"] + frame["joined_referral"] + frame["switched_in"]
outflow = frame["left_bad_experience"] + frame["left_attrition"]
assert (frame["customers"].diff().iloc[1:] == (inflow - outflow).iloc[1:]).all()

# %%
plots.customers_and_revenue(frame, title="Baseline: one run")

# %% [markdown]
# ## Replicates
#
# One run is one possible history. A scenario's replicates each get their own seed, spawned from
# `scenario.seed`. `sim.simulate_replicates` runs them in turn and labels the rows with `run_id`,
# `replicate` and `seed`, so they look like a results folder's, and the plots draw the mean with
# its 95% confidence band. (`sim.run_sweep` does the same for whole sweeps, in parallel, into a
# results folder.)

# %%
baseline = sim.simulate_replicates(scenario)
plots.customers_and_revenue(baseline)

# %% [markdown]
# ## Change one parameter and compare
#
# The baseline uses the "91% rule": after a bad experience, 91% of customers leave. What if only
# half did? `with_values` makes a new validated scenario with one key changed; the replicates use
# the same seeds, so the two versions differ only in that key. A column named after the key marks
# each version, as a sweep does.

# %%
KEY = "churn.leave_prob"
versions = []
for point, value in enumerate((0.91, 0.5)):
    variant = scenario.with_values({KEY: value})
    versions.append(sim.simulate_replicates(variant, point=point).assign(**{KEY: value}))
compared = pd.concat(versions, ignore_index=True)
plots.retention_curves(compared, by=KEY)

# %%
plots.revenue_and_profit(compared, by=KEY)

# %% [markdown]
# The end of the run, as `retention-sim run` prints it: means over the replicates of the last
# month's customers, monthly retention and revenue, and the lifetime value of a month-0 customer.

# %%
fees = {f.name: f.monthly_fee for f in scenario.firms}
final_table(compared, fees, scenario.finance.discount_rate)
