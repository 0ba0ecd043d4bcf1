"""Shared test settings: the engines every behaviour test runs on, and environment hygiene."""

import os

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before anything imports solara
os.environ.setdefault("MPLBACKEND", "Agg")

# Engines implementing MODEL.md; behaviour and known-answer tests are parametrised over these.
ENGINES = ["agents", "population"]
