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
# # 05 · Calibrate on a firm's own cohort, then decide on the ladder
#
# **What this shows.** How to ground the model in observed data before asking it a what-if. The
# data are a published cohort table (Fader & Hardie 2007, Table 1, shipped as
# `data/fader_hardie_2007_table1.csv`): of 1000 customers who started in year 0, how many are
# still active each year, for a "regular" and a "high end" segment. For each segment this notebook
#
# 1. calibrates `scenarios/calibrate_cohort.toml` (a firm at the `good` rung) on years 0-7 with
#    `sim.calibrate`: attrition's mean, its polarization, and the chance to leave after a bad
#    experience, with ranges;
# 2. compares the forecast of years 8-12 with the data and with the shifted-beta-geometric
#    model's forecast (the standard statistical model of such data);
# 3. runs the ladder from the calibrated scenario and says what moving up a rung is worth, with
#    95% intervals.
#
# The full notebook runs 100 trials of 5 replicates per segment and a ladder of 10 replicates per
# rung (a few minutes on two cores). With `SIM_SMOKE=1`, as in the test suite, the market, the
# trials and the replicates shrink (the numbers then mean nothing). Results go to
# `results/calibrate_cohort/` (or `$SIM_RESULTS_DIR/...`); there is no model code here.

# %%
# %matplotlib inline
import os
import time
import tomllib
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import sim
from sim.formatting import money
from sim.summary import rung_table

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
RESULTS = Path(os.environ.get("SIM_RESULTS_DIR") or ROOT / "results")
DATA = ROOT / "data" / "fader_hardie_2007_table1.csv"
EXECUTOR = "serial" if SMOKE else "local"
TRIALS, REPLICATES, LADDER_REPLICATES = (6, 1, 2) if SMOKE else (100, 5, 10)
RUNG = "firms.0.service_level"
pd.set_option("display.width", 140)

# %% [markdown]
# ## The data
#
# Customers still active out of 1000, by year (month = 12 x year). Fader & Hardie fit years 1-7
# and forecast the rest; so do we (`holdout_from = 96`).

# %%
table = pd.read_csv(DATA)
table.pivot(index="month", columns="segment", values="active")

# %% [markdown]
# ## 1. Calibrate each segment
#
# The scenario file's `[calibration]` table names the data, the keys and their bounds, the
# holdout and the trials; here the segment, the trials and the replicates are set from Python.

# %%
with open(ROOT / "scenarios" / "calibrate_cohort.toml", "rb") as fh:
    doc = tomllib.load(fh)
if SMOKE:
    doc["market"] = {"size": 400, "initial_customers": 200}
stamp = time.strftime("%Y%m%d-%H%M%S")
calibrations = {}
for segment in ("regular", "high_end"):
    calibrations[segment] = sim.calibrate(
        doc,
        DATA,
        segment=segment,
        trials=TRIALS,
        replicates=REPLICATES,
        out=RESULTS / "calibrate_cohort" / f"notebook-{stamp}-{segment}",
        executor=EXECUTOR,
    )

# %% [markdown]
# The fitted values with their 95% likelihood-ratio ranges (from the evaluated trials), and what
# the calibration warns about. The split of churn (the share of leavers who left after a bad
# experience) is what the ladder what-if depends on.

# %%
rows = []
for segment, c in calibrations.items():
    for key, v in c.summary["keys"].items():
        rows.append((segment, key, v["best"], v["low"], v["high"]))
    split = c.summary["service_share"]
    rows.append(
        (
            segment,
            "share of leavers after a bad experience",
            split["best"],
            split["low"],
            split["high"],
        )
    )
    for warning in c.summary["warnings"]:
        print(f"{segment}: warning: {warning}")
pd.DataFrame(rows, columns=["segment", "key", "best", "low", "high"]).round(4)

# %% [markdown]
# ## 2. The forecast of years 8-12, against the data and the sBG model
#
# Mean and largest absolute error in percentage points on the holdout years, for the calibrated
# agent model and for the shifted-beta-geometric model fitted to the same years.

# %%
rows = []
for segment, c in calibrations.items():
    s = c.summary
    for model, key in (("agent model", "simulation"), ("sBG", "sbg")):
        fit, hold = s["fit_errors"][key], s["holdout_errors"][key]
        rows.append(
            (
                segment,
                model,
                s["fit_loglik"][key],
                fit["mean_abs_pp"],
                hold["mean_abs_pp"],
                hold["max_abs_pp"],
            )
        )
pd.DataFrame(
    rows,
    columns=[
        "segment",
        "model",
        "log-likelihood (fit)",
        "fit error pp",
        "holdout mean pp",
        "holdout max pp",
    ],
).round(2)

# %%
for segment, c in calibrations.items():
    print(segment)
    display(Image(filename=str(c.folder / "figures" / "calibration_fit.png"), width=640))

# %% [markdown]
# ## 3. The ladder from the calibrated scenario
#
# `calibrated.toml` sweeps `firms.0.service_level` over the ladder, the firm's own rung first.
# Each rung runs with the calibrated values; the table gives retention, CLV per initial customer
# and discounted profit over the scenario's horizon, with 95% intervals over replicates.

# %%
overrides = {"scenario.replicates": LADDER_REPLICATES}
if SMOKE:
    overrides["scenario.months"] = 36
ladders = {}
for segment, c in calibrations.items():
    scenario = sim.load_scenario(c.calibrated_scenario, overrides=overrides)
    result = sim.run_sweep(scenario, c.folder / "ladder", executor=EXECUTOR, progress=False)
    ladders[segment] = (scenario, result)
    fees = {f.name: f.monthly_fee for f in scenario.firms}
    t = rung_table(
        result.timeseries, RUNG, fees, scenario.finance.discount_rate, order=scenario.ladder.ids
    )
    print(segment)
    display(
        t[
            [
                RUNG,
                "retention_end",
                "clv",
                "clv_low",
                "clv_high",
                "discounted_profit",
                "discounted_profit_low",
                "discounted_profit_high",
            ]
        ].round(3)
    )

# %% [markdown]
# **What moving up a rung is worth.** Each rung against the firm's own (`good`): the difference
# in discounted profit at the horizon, with a 95% interval (`sim.compare`: paired replicate by
# replicate, since the sweep's points share their run seeds).

# %%
for segment, (_, result) in ladders.items():
    worth = sim.compare(result, by=RUNG, reference="good", metric="discounted_profit")
    print(segment)
    display(worth[[RUNG, "test", "n", "difference", "ci_low", "ci_high"]])
    up = worth.set_index(RUNG).loc["excellent"]
    print(
        f"{segment}: excellent instead of good changes discounted profit by "
        f"{money(up['difference'])} (95% interval {money(up['ci_low'])} to {money(up['ci_high'])})"
    )
