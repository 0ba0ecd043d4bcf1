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
# # 04 · The workshop ladder exercise
#
# **What this shows.** The exercise of the workshop (`docs/workshop.md`) as a notebook. Each
# team runs a firm in the same market (`scenarios/baseline.toml`: 10,000 people, ten years, the
# 91% rule) and picks the rung of the service ladder it will deliver. Before anything runs, each
# team writes down two predictions: its customers after ten years, and its place by discounted
# profit. Then
#
# 1. every team's rung runs in that market, with replicates (`sim.run_sweep`);
# 2. the predictions are set against what happened, with 95% intervals, so that the room can tell
#    a real difference from luck;
# 3. all the teams meet in one market and compete for the same customers.
#
# Edit the two cells marked **edit**; everything else runs as it is: a few seconds (about 4 s of
# CPU time). With `SIM_SMOKE=1` (the test suite) the market, the horizon and the replicates
# shrink. Results go to `results/workshop/` (or
# `$SIM_RESULTS_DIR/workshop/`); there is no model code here.

# %%
# %matplotlib inline
import os
import time
from pathlib import Path

import pandas as pd

import sim
from sim import plots
from sim.summary import final_table, rung_table

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
RESULTS = Path(os.environ.get("SIM_RESULTS_DIR") or ROOT / "results")
SMALL = {"market.size": 400, "scenario.months": 36, "scenario.replicates": 3} if SMOKE else {}
EXECUTOR = "serial" if SMOKE else "local"
RUNG = "firms.0.service_level"
pd.set_option("display.width", 140)

# %% [markdown]
# ## The ladder
#
# What each rung delivers (experienced quality on a 0-10 scale, mean and spread), how well it
# resolves complaints, what a customer-month of service costs, and how many months a firm must
# deliver it before the market recognises it (and marketing gets easier).

# %%
ladder = sim.get_ladder("five")
pd.DataFrame(ladder.to_records()).set_index("id")

# %% [markdown]
# ## 1. The teams' rungs and predictions (**edit**)
#
# One row per team: its rung (`poor`, `acceptable`, `good`, `excellent` or `world_class`), the
# customers it expects after ten years (the market starts with 5,000 customers for each firm),
# and the place it expects by discounted profit (1 = most profitable).

# %%
teams = pd.DataFrame(
    [
        ("Team A", "acceptable", 2500, 4),
        ("Team B", "good", 5000, 3),
        ("Team C", "excellent", 7000, 1),
        ("Team D", "world_class", 8000, 2),
    ],
    columns=["team", "rung", "predicted customers", "predicted place"],
)
teams.set_index("team")

# %% [markdown]
# ## 2. The market (**edit**: the trainer's choices)
#
# The same for every team. Try `"churn.rule": "tarp"` or `"strikes"`, a different
# `"referrals.refer_prob"`, or `"customers.tolerance"`.

# %%
MARKET = {"churn.rule": "fixed", "referrals.refer_prob": 0.25}
market = sim.load_scenario(ROOT / "scenarios" / "baseline.toml", overrides={**MARKET, **SMALL})
print(
    f"{market.market.size:,} people, {market.months} months, {market.replicates} replicates, "
    f"churn rule {market.churn.rule}, referral probability {market.referrals.refer_prob}"
)

# %% [markdown]
# ## 3. Run every team's rung in that market
#
# One sweep point per rung chosen (teams on the same rung share it), each with the scenario's
# replicates. Replicate r of every rung runs with the same seed (common random numbers), so the
# rungs are compared on the same random draws.
#
# **Recognition, in this notebook and in notebook 02:** every firm starts recognised at the rung
# it delivers (`recognised_start` left to its default), as an established firm would be; a rung
# set for a sweep point or a head-to-head firm gets its own. `scenarios/world_class.toml` shows
# the other case, a firm that climbs and waits to be recognised.

# %%
rungs = sorted(set(teams["rung"]), key=ladder.index)
document = market.to_dict()
document["scenario"]["name"] = "workshop"
document["sweep"] = {RUNG: rungs}
exercise = sim.load_scenario(document)
stamp = time.strftime("%Y%m%d-%H%M%S")
result = sim.run_sweep(exercise, RESULTS / "workshop" / f"ladder-{stamp}", executor=EXECUTOR)
timeseries = result.timeseries
print(f"{result.path}: {timeseries['run_id'].nunique()} runs")

# %% [markdown]
# ## 4. Predictions against outcomes
#
# The simulated customers at the end and discounted profit are means over the replicates with
# their 95% intervals. A prediction "inside" the interval is as good as the model can say.

# %%
fees = {f.name: f.monthly_fee for f in market.firms}
outcomes = rung_table(timeseries, RUNG, fees, market.finance.discount_rate, order=rungs)
outcomes["place"] = outcomes["discounted_profit"].rank(ascending=False, method="min")
compared = teams.merge(outcomes, left_on="rung", right_on=RUNG)
pd.DataFrame(
    {
        "team": compared["team"],
        "rung": compared["rung"].map(lambda r: ladder[ladder.index(r)].label),
        "predicted customers": compared["predicted customers"],
        "simulated customers": compared.apply(
            lambda r: (
                f"{r['customers']:,.0f} [{r['customers_low']:,.0f}, {r['customers_high']:,.0f}]"
            ),
            axis=1,
        ),
        "inside": compared["predicted customers"].between(
            compared["customers_low"], compared["customers_high"]
        ),
        "predicted place": compared["predicted place"],
        "place": compared["place"].astype(int),
        "discounted profit": compared.apply(
            lambda r: (
                f"{r['discounted_profit']:,.0f} [{r['discounted_profit_low']:,.0f}, "
                f"{r['discounted_profit_high']:,.0f}]"
            ),
            axis=1,
        ),
    }
)

# %%
plots.ladder_chart(timeseries, manifest=result.manifest)

# %% [markdown]
# Monthly revenue, and cumulative profit against the lowest rung chosen. The legend says, for
# each rung, from which month its cumulative profit stays at or above the lowest rung's, or that
# it is never behind (its extra service cost is paid for from the start by the customers it
# keeps); read the answer off the figure, it depends on the market set above.

# %%
plots.revenue_and_profit(timeseries, manifest=result.manifest)

# %% [markdown]
# ## 5. Head to head: all the teams in one market
#
# Now the firms compete for the same people. Leavers switch to a competitor at once with
# probability 0.3 (`churn.switch_prob`); prospects choose between firms by the rung the market
# recognises (`acquisition.rung_weight`).

# %%
contest = market.to_dict()
contest["scenario"]["name"] = "workshop_head_to_head"
contest["churn"]["switch_prob"] = 0.3
contest["firms"] = [
    {"name": row.team, "service_level": row.rung, "monthly_fee": fees["Firm"]}
    for row in teams.itertuples()
]
head_to_head = sim.run_sweep(
    sim.load_scenario(contest),
    RESULTS / "workshop" / f"head-to-head-{stamp}",
    executor=EXECUTOR,
)
plots.customers_and_revenue(head_to_head.timeseries, manifest=head_to_head.manifest)

# %%
final_table(
    head_to_head.timeseries,
    {team: fees["Firm"] for team in teams["team"]},
    market.finance.discount_rate,
)

# %% [markdown]
# ## Questions for the room
#
# - Whose prediction was furthest off, and why: expectations that rise with good service, the
#   91% rule, or the cost of the rung?
# - Which rung maximises discounted profit here, and does the answer survive the TARP or strikes
#   rule (change `MARKET` and run again)?
# - Here every firm is recognised at its rung from month 0. A firm that climbs to world class
#   is recognised only after five years of it (`scenarios/world_class.toml`): how much of the
#   ten years would it pay for the rung before the market rewards it?
