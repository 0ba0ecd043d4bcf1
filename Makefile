# `make demo`, `make test` and `make lint` each build .venv (once) and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m sim.kernels  # compile the population engine's loops once (numba cache)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/retention-sim sweep scenarios/ladder.toml

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff (lint and format) over the repository, then mypy over sim/ ([tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
