"""Deciding under uncertainty: which lever value wins across futures, and what decides it.

`explore` runs a scenario's ``[explore]`` table (`sim.exploration.Exploration`) as a sweep
(`sim.sweep.run_sweep`: the same executors, results folder, resume and progress) and then
`analyse`s the folder; `analyse` alone redoes the analysis of a finished or resumed folder
(``retention-sim analyse DIR``). The analysis reads only the columns it needs, part by part, and
writes beside the runs:

- ``levers.parquet`` / ``.csv`` (`LEVER_COLUMNS`): per lever value, the mean, 5%, 50% and 95%
  points of the outcome across futures (each future's outcome is its replicates' mean), the share
  of futures in which it is best (ties shared), and its regret (the best outcome in that future
  minus its own) as mean and maximum (`lever_table`);
- ``sensitivity.parquet`` / ``.csv`` (`SENSITIVITY_COLUMNS`): per lever value and per compared
  pair (``excellent - good``: "what decides whether moving up pays") and per uncertainty, the
  indices of the design's method, from SALib with bootstrap intervals: Sobol first- and
  total-order (`SALib.analyze.sobol`), Morris mu* and sigma (`SALib.analyze.morris`) or, for a
  Latin hypercube, RBD-FAST first order (`SALib.analyze.rbd_fast`); with ``noise_share``, the
  share of the analysed outcome's variance across futures that is simulation noise
  (`noise_share`), so that nobody reads noise as influence;
- ``analysis.json``: all of it, plus the minimax-regret choice, the two most influential
  uncertainties and, for them, where each lever value wins (`win_regions`);
- ``figures/explore_*.png|svg`` and ``report.md`` / ``report.html``.

What does not live here: the ``[explore]`` table and its design (`sim.exploration`), running
(`sim.sweep`), drawing (`sim.plots`), rendering reports (`sim.report`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import store
from sim.exploration import RBD_HARMONICS, Exploration
from sim.scenario import Scenario, load_scenario
from sim.summary import run_outcomes

ANALYSIS = "analysis.json"
LEVERS = "levers"
SENSITIVITY = "sensitivity"
CONFIDENCE = 0.95
RESAMPLES = 1000  # bootstrap resamples of the SALib intervals
LEVER_COLUMNS = ("lever", "mean", "p05", "p50", "p95", "win_share", "mean_regret", "max_regret")
SENSITIVITY_COLUMNS = (
    "outcome",
    "lever",
    "uncertainty",
    "method",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
    "mu_star",
    "mu_star_conf",
    "sigma",
    "noise_share",
)
METHODS = {"sobol": "sobol", "morris": "morris", "latin_hypercube": "rbd_fast"}
_OUTCOME_COLUMNS = (
    "run_id",
    "step",
    "firm",
    "cohort_retention",
    "customers",
    "revenue",
    "profit",
    "discounted_revenue",
    "discounted_profit",
)


class AnalysisError(ValueError):
    """A results folder that cannot be analysed (not an exploration, or runs missing)."""


# --------------------------------------------------------------------------------------------
# Reading the outcome.


def exploration_of(manifest: Mapping[str, Any]) -> tuple[Scenario, Exploration]:
    """The explored scenario and its `Exploration`, rebuilt from a folder's manifest."""
    doc = manifest.get("scenario_input") or {}
    if "explore" not in doc:
        raise AnalysisError("not an exploration: its scenario has no [explore] table")
    scenario = load_scenario(doc, source_name="manifest.json")
    return scenario, scenario.sweep


def outcome_cube(path: str | Path) -> tuple[np.ndarray, Scenario, Exploration]:
    """Every run's outcome as ``cube[future, lever value, replicate]``.

    Reads the parts one at a time, only the columns the outcome needs, and only the analysed
    firm's rows (`sim.summary.run_outcomes` computes the outcome).

    Raises:
        AnalysisError: not an exploration, or some runs have no rows (failed or not yet run:
            the message says to resume).
    """
    path = Path(path)
    manifest = store.read_manifest(path)
    scenario, exploration = exploration_of(manifest)
    firm = exploration.firm or scenario.firms[0].name
    levers = len(exploration.policies())
    futures = len(manifest.get("points") or []) // levers
    replicates = scenario.replicates
    cube = np.full((futures, levers, replicates), np.nan)
    records = store.part_records(path)
    done = {run: rec for run, (rec, _) in records.items() if rec["status"] == "done"}
    missing = futures * levers * replicates - len(done)
    if missing:
        raise AnalysisError(
            f"{missing} of {futures * levers * replicates} runs of {path} have no rows (failed "
            f"or not run yet); resume it first: retention-sim sweep --resume {path}"
        )
    explored = [
        k for k in exploration.keys if k.endswith(".monthly_fee") or k.startswith("finance.")
    ]
    fees = {f.name: f.monthly_fee for f in scenario.firms}
    rate = scenario.finance.discount_rate
    for part in store.part_paths(path):
        rows = store.read_part(part, columns=[*_OUTCOME_COLUMNS, *explored])
        rows = rows[(rows["firm"] == firm) & rows["run_id"].isin(done.keys())]
        if rows.empty:
            continue
        outcomes = run_outcomes(rows, fees, rate)
        for run, value in zip(outcomes["run_id"], outcomes[exploration.outcome], strict=True):
            record = done[run]
            point = int(record["point"])
            cube[point // levers, point % levers, int(record["replicate"])] = value
    return cube, scenario, exploration


# --------------------------------------------------------------------------------------------
# The decision: outcomes, wins and regret per lever value.


def lever_table(means: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Per lever value: its outcome across futures, its wins and its regret.

    Args:
        means: ``means[future, lever value]``, each future's outcome (the replicates' mean).
        labels: a name per lever value.

    Returns:
        `LEVER_COLUMNS`: ``mean``, ``p05``, ``p50``, ``p95`` across futures; ``win_share``, the
        share of futures in which the value is best (a tie shares the future equally);
        ``mean_regret`` and ``max_regret``, where regret in a future is the best outcome there
        minus the value's own.
    """
    means = np.asarray(means, float)
    best = means.max(axis=1, keepdims=True)
    regret = best - means
    winners = means == best
    wins = (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)
    p05, p50, p95 = np.percentile(means, [5, 50, 95], axis=0)
    return pd.DataFrame(
        {
            "lever": list(labels),
            "mean": means.mean(axis=0),
            "p05": p05,
            "p50": p50,
            "p95": p95,
            "win_share": wins,
            "mean_regret": regret.mean(axis=0),
            "max_regret": regret.max(axis=0),
        }
    )


def minimax_regret(table: pd.DataFrame) -> str:
    """The lever value whose largest regret over the futures is smallest (first if tied)."""
    return str(table.loc[table["max_regret"].idxmin(), "lever"])


def noise_share(runs: np.ndarray) -> float:
    """The share of the variance across futures of a future's mean outcome that is noise.

    Args:
        runs: ``runs[future, replicate]``, single-run outcomes.

    Returns:
        (mean within-future variance / replicates) / variance of the futures' means, at most 1:
        the noise variance of a future's mean against its total variance across futures. NaN
        with one replicate (noise cannot be told from the futures' spread).
    """
    runs = np.asarray(runs, float)
    replicates = runs.shape[1]
    if replicates < 2:
        return math.nan
    within = runs.var(axis=1, ddof=1).mean() / replicates
    between = runs.mean(axis=1).var(ddof=1)
    if between <= 0:
        return 1.0 if within > 0 else math.nan
    return float(min(1.0, within / between))


# --------------------------------------------------------------------------------------------
# Sensitivity indices (SALib).


def indices(
    exploration: Exploration, y: np.ndarray, *, seed: int, resamples: int = RESAMPLES
) -> pd.DataFrame:
    """The design's sensitivity indices of one outcome vector, one row per uncertainty.

    Args:
        exploration: the design (its SALib problem and sample).
        y: one value per future, in the design's order.
        seed: the bootstrap's seed.
        resamples: bootstrap resamples.

    Returns:
        ``uncertainty``, ``method`` and the method's columns of `SENSITIVITY_COLUMNS` (the
        others NaN): Sobol ``S1``, ``S1_conf``, ``ST``, ``ST_conf``; Morris ``mu_star``,
        ``mu_star_conf``, ``sigma`` (in the outcome's units per the uncertainty's whole range);
        RBD-FAST ``S1``, ``S1_conf``. Intervals are at `CONFIDENCE`.
    """
    problem = exploration.problem()
    y = np.asarray(y, float)
    frame = pd.DataFrame({"uncertainty": list(exploration.uncertainty_keys)})
    frame["method"] = METHODS[exploration.design]
    for column in SENSITIVITY_COLUMNS[4:-1]:
        frame[column] = np.nan
    if exploration.design == "sobol":
        from SALib.analyze import sobol

        found = sobol.analyze(
            problem,
            y,
            calc_second_order=False,
            num_resamples=resamples,
            conf_level=CONFIDENCE,
            seed=seed,
        )
        for column in ("S1", "S1_conf", "ST", "ST_conf"):
            frame[column] = np.asarray(found[column], float)
    elif exploration.design == "morris":
        from SALib.analyze import morris

        unit = {**problem, "bounds": [[0.0, 1.0]] * problem["num_vars"]}
        found = morris.analyze(
            unit,
            exploration.unit_sample(),
            y,
            num_resamples=resamples,
            conf_level=CONFIDENCE,
            num_levels=exploration.levels,
            seed=seed,
        )
        for column in ("mu_star", "mu_star_conf", "sigma"):
            frame[column] = np.asarray(found[column], float)
    else:
        from SALib.analyze import rbd_fast

        found = rbd_fast.analyze(
            problem,
            exploration.sample(),
            y,
            M=RBD_HARMONICS,
            num_resamples=resamples,
            conf_level=CONFIDENCE,
            seed=seed,
        )
        for column in ("S1", "S1_conf"):
            frame[column] = np.asarray(found[column], float)
    return frame


def sensitivity_table(cube: np.ndarray, exploration: Exploration, seed: int) -> pd.DataFrame:
    """`indices` of each lever value's outcome and of each compared pair's difference.

    Args:
        cube: ``cube[future, lever value, replicate]`` (`outcome_cube`).
        exploration: the design.
        seed: the bootstraps' seed.

    Returns:
        `SENSITIVITY_COLUMNS`, differences first (``lever`` = ``"excellent - good"``), then the
        lever values; ``noise_share`` of each (`noise_share`; a difference pairs the
        replicates, which share their seeds).
    """
    labels = exploration.labels()
    series: list[tuple[str, np.ndarray]] = []
    for high, low in exploration.differences():
        diff = cube[:, labels.index(high), :] - cube[:, labels.index(low), :]
        series.append((f"{high} - {low}", diff))
    series += [(label, cube[:, i, :]) for i, label in enumerate(labels)]
    frames = []
    for name, runs in series:
        frame = indices(exploration, runs.mean(axis=1), seed=seed)
        frame.insert(0, "lever", name)
        frame.insert(0, "outcome", exploration.outcome)
        frame["noise_share"] = noise_share(runs)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(SENSITIVITY_COLUMNS)]


def influence(sensitivity: pd.DataFrame, lever: str) -> pd.Series:
    """Each uncertainty's influence on one row group: ST (Sobol), mu* (Morris) or S1
    (RBD-FAST), largest first."""
    rows = sensitivity[sensitivity["lever"] == lever].set_index("uncertainty")
    for column in ("ST", "mu_star", "S1"):
        if rows[column].notna().any():
            return rows[column].fillna(-np.inf).sort_values(ascending=False, kind="stable")
    return rows["S1"].fillna(-np.inf)


def decisive(sensitivity: pd.DataFrame, exploration: Exploration, n: int = 2) -> list[str]:
    """The ``n`` uncertainties that most decide the choice: largest mean influence (each
    group's `influence` scaled to its largest) over the compared pairs."""
    groups = [f"{a} - {b}" for a, b in exploration.differences()]
    scaled = []
    for group in groups:
        values = influence(sensitivity, group).replace(-np.inf, np.nan)
        top = values.max()
        scaled.append(values / top if top and np.isfinite(top) and top > 0 else values * 0)
    score = pd.concat(scaled, axis=1).mean(axis=1).reindex(list(exploration.uncertainty_keys))
    order = score.fillna(-np.inf).sort_values(ascending=False, kind="stable")
    return list(order.index[:n])


# --------------------------------------------------------------------------------------------
# Where each lever value wins.


def winners(means: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The best lever value in each future (the first of tied values)."""
    return [labels[i] for i in np.asarray(means, float).argmax(axis=1)]


def win_regions(
    futures: pd.DataFrame, won: Sequence[str], keys: Sequence[str], bins: int = 3
) -> list[dict[str, Any]]:
    """Where each lever value wins, in words: the futures binned into terciles of two keys.

    Args:
        futures: the futures' uncertainty values (one column per key).
        won: the winning lever value of each future.
        keys: the two uncertainties.
        bins: quantile bins per key.

    Returns:
        One record per cell: the two ranges, the futures in it, the lever value winning most
        of them and its share there.
    """
    frame = futures[list(keys)].copy()
    frame["won"] = list(won)
    edges = {}
    for key in keys:
        codes, edges[key] = pd.qcut(frame[key], bins, labels=False, retbins=True, duplicates="drop")
        frame[f"{key} bin"] = codes
    cells = []
    for (a, b), cell in frame.groupby([f"{keys[0]} bin", f"{keys[1]} bin"], sort=True):
        counts = cell["won"].value_counts()
        cells.append(
            {
                keys[0]: [float(edges[keys[0]][int(a)]), float(edges[keys[0]][int(a) + 1])],
                keys[1]: [float(edges[keys[1]][int(b)]), float(edges[keys[1]][int(b) + 1])],
                "futures": len(cell),
                "winner": str(counts.index[0]),
                "share": float(counts.iloc[0] / len(cell)),
            }
        )
    return cells


# --------------------------------------------------------------------------------------------
# The analysis of a folder.


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def analyse(path: str | Path, *, figures: bool = True) -> dict[str, Any]:
    """Analyse an exploration's results folder and write the tables, figures and report.

    Args:
        path: the folder (`explore` wrote it, finished or resumed to the end).
        figures: draw ``figures/explore_*`` and write the report.

    Returns:
        What ``analysis.json`` holds.

    Raises:
        AnalysisError: not an exploration, or runs missing.
        FileNotFoundError: not a results folder.
    """
    path = Path(path)
    cube, scenario, exploration = outcome_cube(path)
    labels = exploration.labels()
    means = cube.mean(axis=2)
    levers = lever_table(means, labels)
    sensitivity = sensitivity_table(cube, exploration, seed=scenario.seed)
    futures = pd.DataFrame(exploration.futures())
    key_pair = decisive(sensitivity, exploration, 2)
    won = winners(means, labels)
    analysis: dict[str, Any] = {
        "outcome": exploration.outcome,
        "firm": exploration.firm or scenario.firms[0].name,
        "design": exploration.design,
        "method": METHODS[exploration.design],
        "samples": exploration.samples,
        "futures": int(cube.shape[0]),
        "lever_values": labels,
        "replicates": int(cube.shape[2]),
        "runs": int(cube.size),
        "confidence": CONFIDENCE,
        "levers": _records(levers),
        "minimax_regret": minimax_regret(levers),
        "most_wins": str(levers.loc[levers["win_share"].idxmax(), "lever"]),
        "best_mean": str(levers.loc[levers["mean"].idxmax(), "lever"]),
        "differences": [f"{a} - {b}" for a, b in exploration.differences()],
        "sensitivity": _records(sensitivity),
        "noise_share": {
            name: (None if math.isnan(v) else float(v))
            for name, v in sensitivity.groupby("lever", sort=False)["noise_share"].first().items()
        },
        "decisive": key_pair,
        "win_regions": win_regions(futures, won, key_pair) if len(key_pair) == 2 else [],
    }
    store.write_json_atomic(path / ANALYSIS, analysis)
    for name, frame in ((LEVERS, levers), (SENSITIVITY, sensitivity)):
        store.write_parquet_atomic(path / f"{name}.parquet", frame)
        store.write_text_atomic(path / f"{name}.csv", frame.to_csv(index=False))
    if figures:
        from sim.report import write_explore_report

        write_explore_report(path, analysis, means, futures, won, scenario)
    return analysis


def explore(
    scenario: Scenario | str | Path | Mapping[str, Any],
    out_dir: str | Path | None = None,
    *,
    figures: bool = True,
    **sweep: Any,
) -> tuple[Any, dict[str, Any] | None]:
    """Run an exploration (`sim.sweep.run_sweep`) and analyse its folder.

    Args:
        scenario: a scenario with an ``[explore]`` table (a `Scenario` or what `load_scenario`
            takes).
        out_dir: the results folder (default ``results/<name>/explore-<time>``).
        figures: draw the figures and the report.
        **sweep: `sim.sweep.run_sweep`'s options (``executor``, ``workers``, ``resume``, ...).

    Returns:
        ``(result, analysis)``: the `sim.sweep.SweepResult` and `analyse`'s dictionary (None
        when runs failed: resume the folder, then `analyse` it).
    """
    from sim.sweep import run_sweep

    if not isinstance(scenario, Scenario) and scenario is not None:
        scenario = load_scenario(scenario)
    if scenario is not None and not isinstance(scenario.sweep, Exploration):
        raise AnalysisError(f"{scenario.source or scenario.name} has no [explore] table")
    result = run_sweep(scenario, out_dir, kind="explore", **sweep)
    if result.failed:
        return result, None
    return result, analyse(result.path, figures=figures)


def sensitivity_frame(analysis: Mapping[str, Any]) -> pd.DataFrame:
    """The analysis' sensitivity rows as `SENSITIVITY_COLUMNS`, missing values as NaN."""
    frame = pd.DataFrame(analysis["sensitivity"], columns=list(SENSITIVITY_COLUMNS))
    for column in SENSITIVITY_COLUMNS[4:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def summary_text(analysis: Mapping[str, Any]) -> list[str]:
    """The analysis in a few lines of plain text (for the terminal and the report)."""
    from sim.plots import outcome_label
    from sim.report import format_number

    kind = outcome_label(analysis["outcome"], 0)[2]
    table = pd.DataFrame(analysis["levers"])
    lines = []
    best = table.sort_values("win_share", ascending=False).iloc[0]
    lines.append(
        f"{best['lever']} is best in {best['win_share']:.0%} of {analysis['futures']} futures "
        f"({analysis['outcome']}, firm {analysis['firm']}); minimax regret: "
        f"{analysis['minimax_regret']} (largest regret "
        f"{format_number(table.set_index('lever').loc[analysis['minimax_regret'], 'max_regret'], kind)})"
    )
    rows = sensitivity_frame(analysis)
    for diff in analysis["differences"]:
        top = influence(rows, diff).head(3)
        column = {"sobol": "ST", "morris": "mu_star", "rbd_fast": "S1"}[analysis["method"]]
        conf = rows[(rows["lever"] == diff)].set_index("uncertainty")[f"{column}_conf"]
        parts = [
            f"{key} {column} {value:.2f}"
            + (f" ± {conf[key]:.2f}" if np.isfinite(conf.get(key, np.nan)) else "")
            if column != "mu_star"
            else f"{key} mu* {format_number(value, kind)} ± "
            f"{format_number(conf.get(key, float('nan')), kind)}"
            for key, value in top.items()
        ]
        noise = analysis["noise_share"].get(diff)
        noise_text = f"; noise {noise:.0%} of its variance" if noise is not None else ""
        lines.append(f"{diff} decided by: {', '.join(parts)}{noise_text}")
    return lines
