"""Shared test settings: the engines every behaviour test runs on, and environment hygiene."""

import os

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before anything imports solara
os.environ.setdefault("MPLBACKEND", "Agg")

# Engines implementing docs/model.md; behaviour and known-answer tests are parametrised over these.
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
