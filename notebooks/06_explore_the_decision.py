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
# # 06 · Explore the decision: which rung pays, whatever the market turns out to be
#
# **What this shows.** A sweep says which rung earns most for one set of parameter values. A
# manager has to choose a rung without knowing the market: how readily delighted customers
# refer, how tolerant customers are, how many leave after a bad experience. This notebook runs
# `scenarios/explore_ladder.toml`, which puts each of the five rungs (the *lever*) into every
# sampled *future* (values of seven *uncertainties*, drawn by SALib's Saltelli scheme), with the
# same seeds for every rung in a future, and then shows
#
# 1. which rung is best in what share of futures, and its regret (how far it falls short of the
#    best rung in each future), with the minimax-regret choice;
# 2. which uncertainties decide whether moving up from good to excellent pays (Sobol indices
#    with bootstrap intervals), and how much of the variance is simulation noise;
# 3. where each rung wins, over the two most influential uncertainties.
#
# The full exploration is 11,520 runs of 10,000 people over 120 months (about 10 minutes on 2
# cores). With `SIM_SMOKE=1`, as in the test suite, it shrinks to 300 people, 24 months and a
# Sobol sample of 4 (180 runs): the numbers then mean little, the steps are the same. Results
# go to `results/explore_ladder/` (or `$SIM_RESULTS_DIR/explore_ladder/`); there is no model
# code here.

# %%
# %matplotlib inline
import os
import time
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import sim
from sim.explore import analyse, explore, summary_text

SMOKE = os.environ.get("SIM_SMOKE") == "1"
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scenarios").is_dir())
RESULTS = Path(os.environ.get("SIM_RESULTS_DIR") or ROOT / "results")
SMALL = (
    {"market.size": 300, "scenario.months": 24, "explore.samples": 4, "scenario.replicates": 2}
    if SMOKE
    else {}
)
EXECUTOR = "serial" if SMOKE else "local"  # "local": one worker process per CPU; or "dask"
pd.set_option("display.width", 140)

# %% [markdown]
# ## The levers, the uncertainties and the futures

# %%
scenario = sim.load_scenario(ROOT / "scenarios" / "explore_ladder.toml", overrides=SMALL)
exploration = scenario.sweep
futures = pd.DataFrame(exploration.futures())
print(f"lever: {', '.join(exploration.labels())}")
print(
    f"{len(futures)} futures ({exploration.design}, N = {exploration.samples}) x "
    f"{len(exploration.labels())} rungs x {scenario.replicates} replicates = "
    f"{len(futures) * len(exploration.labels()) * scenario.replicates} runs"
)
display(futures.describe().loc[["min", "mean", "max"]])

# %% [markdown]
# ## Run every rung in every future
#
# `explore` is a sweep (the same executors, results folder, resume and progress as
# `sim.run_sweep`) followed by the analysis. An interrupted exploration resumes with
# `retention-sim explore --resume DIR`.

# %%
out_dir = RESULTS / "explore_ladder" / time.strftime("notebook-%Y%m%d-%H%M%S")
result, analysis = explore(scenario, out_dir, executor=EXECUTOR)
print(f"{result.path}: {analysis['runs']} runs, {result.failed} failed")

# %% [markdown]
# ## 1. Which rung wins, and its regret
#
# Per rung: its outcome (discounted profit at the horizon) across futures, the share of futures
# in which it is best, and its regret: the best rung's outcome in a future minus its own, as the
# mean and the largest over the futures. The minimax-regret rung is the one whose largest regret
# is smallest.

# %%
levers = pd.read_csv(result.path / "levers.csv")
print(f"minimax regret: {analysis['minimax_regret']}; most often best: {analysis['most_wins']}")
display(levers)

# %% [markdown]
# ## 2. What decides whether moving up pays
#
# Sobol indices of the difference between two rungs in each future: S1 is the share of the
# difference's variance due to one uncertainty alone, ST including its interactions, each with a
# 95% bootstrap interval. `noise_share` is the part of that variance that is simulation noise
# (replicates within a future against the spread across futures): an index below it is not
# evidence of anything.

# %%
sensitivity = pd.read_parquet(result.path / "sensitivity.parquet")
decide = sensitivity[sensitivity["lever"] == "excellent - good"]
display(
    decide.sort_values("ST", ascending=False)[
        ["uncertainty", "S1", "S1_conf", "ST", "ST_conf", "noise_share"]
    ]
)

# %%
Image(filename=str(result.path / "figures" / "explore_sensitivity.png"))

# %% [markdown]
# ## 3. Where each rung wins
#
# The best rung in each future, over the two uncertainties that most decide the choice (the
# others vary too), and the same in words: the futures in thirds of each, with the rung that is
# best in most of each ninth.

# %%
Image(filename=str(result.path / "figures" / "explore_win_map.png"))

# %%
display(pd.DataFrame(analysis["win_regions"]))

# %% [markdown]
# ## The analysis again
#
# `analyse` (`retention-sim analyse DIR`) redoes the analysis from the folder alone, e.g. after
# a resume; it gives the same numbers.

# %%
again = analyse(result.path, figures=False)
assert again["levers"] == analysis["levers"]
print("\n".join(summary_text(again)))
