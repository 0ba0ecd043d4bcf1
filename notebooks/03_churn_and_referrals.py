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
# # 03 · Churn rules and referrals
#
# **What this shows.**
#
# 1. One firm at the `acceptable` rung under three rules for what a bad experience does: the
#    "91% rule" (91% of unhappy customers leave), TARP's complaint-and-recovery rule (few complain;
#    complaints handled well keep most) and three strikes within 12 months. How many bad
#    experiences end a relationship under each, and what that does to retention and profit.
# 2. Referral strength: how much word of mouth from delighted customers adds, at `excellent`.
# 3. The word-of-mouth special case against its closed form
#    (`sim.validation.word_of_mouth_path`), and its long-run share with churn
#    (`word_of_mouth_equilibrium`): the simulation does what the equations say.
#
# Every cell calls `sim`; there is no model code here. As written it takes a few seconds (about
# 5 s of CPU time); `SIM_SMOKE=1` shrinks markets, months and replicates further for the tests.
# The two sweeps run with `sim.run_sweep` into results folders under `results/` (or
# `$SIM_RESULTS_DIR`).

# %%
# %matplotlib inline
import os
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import display
from matplotlib.figure import Figure

import sim
from sim import plots
from sim.summary import final_table, replicate_summary
from sim.validation import (
    WOM_CONTACT,
    WOM_CONVERSION,
    WOM_P,
    WOM_Q,
    WOM_REFER,
    bass_share,
    known_answer_scenario,
    word_of_mouth_equilibrium,
    word_of_mouth_path,
)

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
SMALL = {"market.size": 500, "scenario.months": 36, "scenario.replicates": 3} if SMOKE else {}
pd.set_option("display.width", 120)


RESULTS = Path(os.environ.get("SIM_RESULTS_DIR") or ROOT / "results")
EXECUTOR = "serial" if SMOKE else "local"  # "local": one worker process per CPU


# %% [markdown]
# ## 1. Three churn rules
#
# `scenarios/churn_rules.toml` sweeps `churn.rule` over `fixed` (the 91% rule), `tarp` and
# `strikes` for one firm at `acceptable`. Each rule runs the same replicates' seeds.

# %%
churn = sim.load_scenario(ROOT / "scenarios" / "churn_rules.toml", overrides=SMALL)
STAMP = time.strftime("%Y%m%d-%H%M%S")
by_rule = sim.run_sweep(
    churn, RESULTS / "churn_rules" / f"notebook-{STAMP}", executor=EXECUTOR
).timeseries
plots.retention_curves(by_rule, by="churn.rule")

# %% [markdown]
# What happens after a bad experience, summed over the months and replicates. Under the 91% rule
# nobody complains and 91% leave; under TARP about 1 in 27 complain, and how many of those stay
# depends on how well the rung resolves complaints (`acceptable` resolves 30%); under strikes a
# customer leaves only at the third bad experience within a year.

# %%
flows = (
    by_rule[by_rule["step"] >= 1]
    .groupby("churn.rule", sort=False)[
        ["bad_experiences", "complaints", "resolved", "left_bad_experience"]
    ]
    .sum()
)
flows["complained, per bad experience"] = flows["complaints"] / flows["bad_experiences"]
flows["left, per bad experience"] = flows["left_bad_experience"] / flows["bad_experiences"]
flows.round(3)

# %% [markdown]
# Under TARP the silent majority (36 in 37) stay with only 9%, so 91% of bad experiences still
# end the relationship: complaint handling reaches only the few who complain, and at `acceptable`
# TARP and the 91% rule give almost the same retention. Strikes forgive two bad experiences a
# year; fewer than one in seven ends a relationship, and the firm keeps several times the
# customers.

# %%
plots.revenue_and_profit(by_rule, by="churn.rule")

# %%
fees = {f.name: f.monthly_fee for f in churn.firms}
final_table(by_rule, fees, churn.finance.discount_rate)

# %% [markdown]
# ## 2. Referral strength
#
# A delighted customer refers someone with `referrals.refer_prob` each month; a referred prospect
# joins with `referrals.conversion`. At `excellent` many interactions delight, so referrals matter.

# %%
KEY = "referrals.refer_prob"
baseline = tomllib.loads((ROOT / "scenarios" / "baseline.toml").read_text())
excellent = sim.load_scenario(
    {**baseline, "sweep": {KEY: [0.0, 0.1, 0.25, 0.5]}},
    overrides={**SMALL, "firms.0.service_level": "excellent"},
)
by_referral = sim.run_sweep(
    excellent, RESULTS / "baseline" / f"notebook-{STAMP}", executor=EXECUTOR
).timeseries
plots.retention_curves(by_referral, by=KEY)

# %%
final_table(by_referral, fees, excellent.finance.discount_rate)

# %% [markdown]
# ## 3. Word of mouth against its closed form
#
# MODEL.md's special case: every interaction delights, nobody leaves, no initial customers. A
# prospect joins through marketing with p per month, and each customer wins a given prospect
# with q / (N - 1), where q = contact x refer x conversion. The expected share F then follows
# F' = F + (1 - F)(1 - (1 - p)(1 - q/(N - 1))^(N F)): `word_of_mouth_path`, a discrete-time
# relative of the Bass (1969) curve (here p = 0.03 and q = 0.38, Sultan, Farley & Lehmann's
# averages, used per month).

# %%
size, months, reps = (1000, 24, 4) if SMOKE else (5000, 24, 10)
wom = known_answer_scenario(
    size=size,
    initial=0,
    months=months,
    expectation=0.0,
    contact=WOM_CONTACT,
    churn={"leave_prob": 0.0, "base_prob": 0.0},
    acquisition=WOM_P,
    refer=WOM_REFER,
    conversion=WOM_CONVERSION,
).with_values({"scenario.replicates": reps})
runs = sim.simulate_replicates(wom).assign(share=lambda d: d["customers"] / size)
simulated = replicate_summary(runs, by=["step"], metrics=["share"])
expected = word_of_mouth_path(0.0, WOM_P, WOM_Q, size, months)
comparison = simulated.set_index("step")[["mean", "ci_low", "ci_high"]].assign(
    closed_form=expected, bass=[bass_share(t, WOM_P, WOM_Q) for t in range(months + 1)]
)
comparison.iloc[::3].round(3)

# %%
fig = Figure(figsize=(10, 5.5), layout="constrained")
ax = fig.subplots()
steps = comparison.index.to_numpy()
ax.fill_between(steps, comparison["ci_low"], comparison["ci_high"], alpha=0.25, color="#0072B2")
ax.plot(steps, comparison["mean"], "o-", color="#0072B2", lw=2.5, label=f"simulated ({reps} runs)")
ax.plot(steps, comparison["closed_form"], "--", color="black", lw=2, label="closed form")
ax.plot(steps, comparison["bass"], ":", color="#D55E00", lw=2, label="Bass curve, same p, q")
ax.set(xlabel="month", ylabel="customer share", title="Word of mouth: simulation and equation")
ax.legend()
display(fig)

# %% [markdown]
# Every month's closed-form share should lie inside the simulation's 95% band (give or take the
# recursion's own mean-field error, under half a percentage point). The band, and the gap between
# the mean and the equation, narrow as the market and the number of runs grow.

# %%
inside = comparison["closed_form"].between(
    comparison["ci_low"] - 0.005, comparison["ci_high"] + 0.005
)
gap = float(np.abs(comparison["mean"] - comparison["closed_form"]).max())
print(f"closed form inside the band in {inside.mean():.0%} of months; largest gap {gap:.4f}")

# %% [markdown]
# **With churn** (every customer leaves with δ a month and is a prospect again the next month),
# the share settles where inflow equals outflow (Libai, Muller & Peres 2009).

# %%
delta, long_months = 0.05, (60 if SMOKE else 120)
churning = wom.with_values(
    {
        "churn.base_prob": delta,
        "churn.leavers_return_after": 0,
        "scenario.months": long_months,
        "scenario.replicates": 2 if SMOKE else 5,
    }
)
late = sim.simulate_replicates(churning).query(f"step > {long_months // 2}")
print(
    f"long-run share: simulated {late['customers'].mean() / size:.3f}, "
    f"equation {word_of_mouth_equilibrium(WOM_P, WOM_Q, size, delta):.3f}"
)
