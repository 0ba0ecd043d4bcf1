"""The notebooks: each is paired with its jupytext py:percent file, committed without outputs,
opens by saying what it shows, and runs from top to bottom under ``SIM_SMOKE=1`` (small markets,
few months and replicates) in a fresh kernel, writing nothing into the repository.

Notebooks write results under ``$SIM_RESULTS_DIR`` (default ``results/``); here that is the test's
temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT_S = 240  # per cell


def test_there_are_five_notebooks():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_first_run",
        "02_ladder_sweep",
        "03_churn_and_referrals",
        "04_workshop_ladder",
        "05_calibrate_and_decide",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_clean_and_says_what_it_shows(path: Path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "committed with outputs"
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "What this shows" in first.source
    paired = jupytext.read(path.with_suffix(".py"))
    assert [c.source for c in paired.cells] == [c.source for c in notebook.cells], (
        f"{path.name} and {path.with_suffix('.py').name} differ: run "
        f"`jupytext --sync {path.with_suffix('.py')}`"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_the_smoke_flag(path: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SIM_SMOKE", "1")
    monkeypatch.setenv("SIM_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws figures
    before = sorted(os.listdir(NOTEBOOK_DIR))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if one fails
    assert sorted(os.listdir(NOTEBOOK_DIR)) == before
