"""retention-sim: customer retention under different levels of customer service.

The public Python API:

- `load_scenario(path_or_dict, overrides=None)` -> a validated, frozen `Scenario`;
- `simulate(scenario, seed=..., engine=...)` -> one run as a pandas DataFrame (one row per month
  and firm);
- `get_ladder(name)` and `BUILTIN_LADDERS`: the service ladders.
"""

from sim.ladder import BUILTIN_LADDERS, Ladder, Rung, get_ladder
from sim.runner import simulate
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "BUILTIN_LADDERS",
    "Ladder",
    "Rung",
    "Scenario",
    "ScenarioError",
    "get_ladder",
    "load_scenario",
    "simulate",
]
__version__ = "0.1.0"
