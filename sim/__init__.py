"""retention-sim: customer retention under different levels of customer service.

The public Python API:

- `load_scenario(path_or_dict, overrides=None)` -> a validated, frozen `Scenario`;
- `simulate(scenario, seed=..., engine=...)` -> one run as a pandas DataFrame (one row per month
  and firm); `simulate_replicates(scenario)` -> every replicate in turn, labelled like a results
  folder's rows;
- `run_sweep(scenario, out_dir, executor=..., workers=..., resume=...)` -> every (point,
  replicate) run of a scenario's sweep, in a results folder; the returned object gives
  ``.summary``, ``.timeseries``, ``.runs`` and ``.manifest`` as DataFrames and dicts;
- `load_results(dir)` -> a results folder read back, the same way;
- `rerun(dir, run_id)` -> one run of a results folder run again from the folder alone (its
  scenario: `Results.scenario_for(run_id)`);
- `calibrate(scenario, data, fit={key: (low, high)}, ...)` -> a `Calibration`: scenario keys
  fitted to observed cohort retention (Optuna), with ranges, the sBG baseline, a holdout and
  ``calibrated.toml``, in an output folder (the module is `sim.calibrate`; its function shadows it
  as an attribute of the package);
- `compare(results, by=KEY, metric=..., reference=VALUE, at_month=...)` -> each level of a swept
  key against a reference level: differences with intervals, paired on common random numbers;
- `get_ladder(name)` and `BUILTIN_LADDERS`: the service ladders.
"""

from sim.calibrate import Calibration, CalibrationError, calibrate
from sim.ladder import BUILTIN_LADDERS, Ladder, Rung, get_ladder
from sim.runner import simulate, simulate_replicates
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.store import Results, load_results
from sim.summary import compare
from sim.sweep import SweepResult, rerun, run_sweep

__all__ = [
    "BUILTIN_LADDERS",
    "Calibration",
    "CalibrationError",
    "Ladder",
    "Results",
    "Rung",
    "Scenario",
    "ScenarioError",
    "SweepResult",
    "calibrate",
    "compare",
    "get_ladder",
    "load_results",
    "load_scenario",
    "rerun",
    "run_sweep",
    "simulate",
    "simulate_replicates",
]
__version__ = "0.1.0"
