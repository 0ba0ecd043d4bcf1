"""Shared test settings: the engines every behaviour test runs on, and environment hygiene."""

import os

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before anything imports solara
os.environ.setdefault("MPLBACKEND", "Agg")

# Engines implementing MODEL.md; behaviour and known-answer tests are parametrised over these.
ENGINES = ["agents", "population"]

# Customers with expectation exactly 5, no zone of tolerance, no learning and an interaction every
# month: a rung of quality above 5 (sd 0) always delights, one below always disappoints.
EXACT_CUSTOMERS = {
    "expectation_mean": 5.0,
    "expectation_sd": 0.0,
    "tolerance": 0.0,
    "adapt_rate": 0.0,
    "market_pull": 0.0,
    "contact_prob": 1.0,
}


def interrupt_at(monkeypatch, seed: int, scenario=None) -> None:
    """Make the run with this seed (and, if given, this point's scenario: with common random
    numbers a seed is every point's) raise KeyboardInterrupt, what Ctrl-C does mid-sweep, in this
    process; ``monkeypatch.undo()`` lifts it."""
    import sim.runner

    real, stop, point = sim.runner.simulate, seed, scenario

    def interrupted(scenario, *, seed, engine=None):
        if seed == stop and (point is None or scenario == point):
            raise KeyboardInterrupt
        return real(scenario, seed=seed, engine=engine)

    monkeypatch.setattr(sim.runner, "simulate", interrupted)
