"""Calibration: fit scenario keys to a firm's observed cohort retention, with Optuna.

``calibrate(scenario, data, fit={key: (low, high)}, ...)`` (and ``retention-sim calibrate``)
searches the keys' ranges for the values under which the simulated ``cohort_retention`` of the
scenario's first firm (its month-0 customers) reproduces the observed one. Each trial runs R
replicates through `sim.sweep.run_task` on the sweep's executors (serial, process pool, Dask),
always with the same R run seeds (common random numbers: trials differ by their parameter values,
not by their noise), and scores the mean curve by the binomial likelihood of the people who left
in each interval between observed months (`sim.sbg.cohort_loglik`, Fader & Hardie 2007), plus
one binomial term per optional series (exit surveys, CSAT, complaints) that pins down how much of
the churn follows a bad experience.

The search is Optuna's TPE sampler; the study lives in the output folder in a journal file
(``study.journal``), so a calibration killed at any point continues with ``resume``. Trials are
asked in batches of ceil(8 / R) trials (so that at least 8 runs are in flight), each with a
sampler seeded from (seed, completed trials, position in the batch): the trials depend on the
seed, the data, the keys and R, never on the executor or the number of workers, and a resumed
calibration asks what an uninterrupted one would have asked (unless the kill fell between two
answers of one batch, a window of microseconds).

How sure: a likelihood-ratio interval from the evaluated trials: for each key, the range of its
values over the trials whose log-likelihood lies within chi2(1, 0.95) / 2 = 1.92 of the best
(docs/model.md D55). It leaves out the simulation noise of the mean curve (fixed by the common
seeds, not averaged away), parameter values the search never tried (the range is only as fine as
the trials), and any dependence between customers beyond the binomial (overdispersion).

Beside it, the shifted-beta-geometric model (`sim.sbg`) is fitted to the same points, and with a
holdout both models forecast the later points. The output folder holds ``calibration.json``,
``trials.parquet``, ``calibrated.toml`` (the scenario with the best values, for ``run`` and
``sweep``), ``figures/`` and ``report.md`` / ``report.html``.

What does not live here: the sBG model and the cohort likelihood (`sbg.py`), running one run
(`runner.py`), executors (`sweep.py`), figures (`plots.py`), report rendering (`report.py`).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import sbg
from sim.scenario import (
    FIRM_SCHEMA,
    SCHEMA,
    Scenario,
    ScenarioError,
    _set_dotted,
    load_scenario,
    read_toml,
)

DEFAULT_COHORT_SIZE = 1000  # people assumed when the data give shares only (docs/model.md D53)
DEFAULT_SERIES_N = 100  # responses assumed behind a series value without its _n (D54)
BATCH_RUNS = 8  # runs asked at once, at least: a batch is ceil(BATCH_RUNS / R) trials (D56)
DEFAULT_TRIALS = 100
DEFAULT_REPLICATES = 10
LR_HALF_WIDTH = 1.920729410347062  # chi2(1).ppf(0.95) / 2: the 95% likelihood-ratio cut
BOUND_SHARE = 0.02  # a best value within this share of the range from a bound "sits at" it
TRADE_OFF_RHO = 0.95  # |Spearman rho| between two keys over the near-best trials
UNDETERMINED_SPLIT = 0.25  # a range of the service share of churn wider than this: undetermined
STUDY_FILE = "study.journal"
CONFIG_FILE = "calibration_config.json"
SERIES = {
    "bad_experience_share": "share of leavers who left after a bad experience (exit surveys)",
    "csat": "share of interactions met or delighted (CSAT)",
    "complaint_rate": "complaints per interaction",
}


class CalibrationError(ValueError):
    """Bad calibration input: names the file (or option), the row or key, and what is wrong."""


# --------------------------------------------------------------------------------------------
# The data.


@dataclass(frozen=True)
class CohortData:
    """An observed cohort, validated.

    Attributes:
        path: the file read (None for a DataFrame given in Python).
        sha256: hash of the file's bytes (of the CSV text for a DataFrame).
        months: observed months, 0 first, increasing.
        retained: share of the cohort still active at each, 0-1, non-increasing, 1 at month 0.
        cohort_size: people in the cohort (from the data, or `DEFAULT_COHORT_SIZE`).
        size_given: whether the data gave the cohort size.
        series: name -> (values per month, NaN where missing; responses behind each).
        segment: the segment chosen, if any.
    """

    path: str | None
    sha256: str
    months: np.ndarray
    retained: np.ndarray
    cohort_size: float
    size_given: bool
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    segment: str | None = None

    @property
    def active(self) -> np.ndarray:
        """People active at each observed month."""
        return self.retained * self.cohort_size


def read_cohort(
    source: str | Path | pd.DataFrame, segment: str | None = None, name: str | None = None
) -> CohortData:
    """Read and check a cohort file: ``month`` and ``retained`` (0-1), or ``active`` with
    ``cohort_size``; optional ``segment`` and series columns (`SERIES`, each with ``<name>_n``).

    Raises:
        CalibrationError: naming the file, the row and what is wrong.
    """
    if isinstance(source, pd.DataFrame):
        where = name or "data"
        text = source.to_csv(index=False)
        rows = list(csv.DictReader(text.splitlines()))
        digest = hashlib.sha256(text.encode()).hexdigest()
        path = None
    else:
        where = name or str(source)
        try:
            raw = Path(source).read_bytes()
        except FileNotFoundError:
            raise CalibrationError(f"{where}: file not found") from None
        except OSError as err:
            raise CalibrationError(f"{where}: cannot be read ({err.strerror})") from None
        try:
            rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
        except (UnicodeDecodeError, csv.Error) as err:
            raise CalibrationError(f"{where}: not a UTF-8 CSV file ({err})") from None
        digest = hashlib.sha256(raw).hexdigest()
        path = str(source)
    if not rows:
        raise CalibrationError(f"{where}: no rows (a header line and one row per month)")
    columns = set(rows[0])
    if "month" not in columns:
        raise CalibrationError(f"{where}: no 'month' column; columns: {', '.join(rows[0])}")
    if "retained" not in columns and not {"active", "cohort_size"} <= columns:
        raise CalibrationError(
            f"{where}: needs a 'retained' column (share 0-1) or 'active' and 'cohort_size'"
        )
    numbered = list(enumerate(rows, start=2))  # row 1 is the header
    if "segment" in columns:
        segments = sorted({r["segment"] for r in rows})
        if segment is None and len(segments) > 1:
            raise CalibrationError(
                f"{where}: holds segments {', '.join(segments)}; choose one with --segment"
            )
        segment = segment if segment is not None else segments[0]
        if segment not in segments:
            raise CalibrationError(
                f"{where}: no segment {segment!r}; segments: {', '.join(segments)}"
            )
        numbered = [(i, r) for i, r in numbered if r["segment"] == segment]
    elif segment is not None:
        raise CalibrationError(f"{where}: --segment {segment} given but the file has no segment")

    def number(i: int, row: Mapping[str, str], key: str) -> float:
        text = (row.get(key) or "").strip()
        try:
            value = float(text)
        except ValueError:
            raise CalibrationError(
                f"{where}: row {i}: {key} must be a number, got {text!r}"
            ) from None
        if not math.isfinite(value):
            raise CalibrationError(f"{where}: row {i}: {key} must be finite, got {text!r}")
        return value

    months, retained, sizes, line = [], [], [], []
    for i, row in numbered:
        month = number(i, row, "month")
        if month < 0 or not month.is_integer():
            raise CalibrationError(f"{where}: row {i}: month must be a whole number >= 0")
        if "retained" in columns:
            share = number(i, row, "retained")
            size = None
        else:
            size = number(i, row, "cohort_size")
            if size <= 0:
                raise CalibrationError(f"{where}: row {i}: cohort_size must be > 0")
            share = number(i, row, "active") / size
        if not 0.0 <= share <= 1.0:
            raise CalibrationError(
                f"{where}: row {i}: retention must be between 0 and 1, got {share:g}"
            )
        months.append(int(month))
        retained.append(share)
        sizes.append(size)
        line.append(i)
    seen: dict[int, int] = {}
    for i, m in zip(line, months, strict=True):
        if m in seen:
            raise CalibrationError(f"{where}: row {i}: month {m} repeats row {seen[m]}")
        seen[m] = i
    order = np.argsort(months)
    months_a = np.array(months, dtype=np.int64)[order]
    retained_a = np.array(retained, dtype=float)[order]
    rows_a = [line[k] for k in order]
    if months_a.size == 0 or months_a[0] != 0:
        raise CalibrationError(f"{where}: no month 0 (the cohort's start)")
    if not math.isclose(retained_a[0], 1.0, abs_tol=1e-9):
        raise CalibrationError(
            f"{where}: row {rows_a[0]}: retention at month 0 must be 1 (the whole cohort)"
        )
    for k in range(1, months_a.size):
        if retained_a[k] > retained_a[k - 1] + 1e-12:
            raise CalibrationError(
                f"{where}: row {rows_a[k]}: retention rises from {retained_a[k - 1]:g} at month "
                f"{months_a[k - 1]} to {retained_a[k]:g} at month {months_a[k]}"
            )
    size_given = sizes[0] is not None
    cohort_size = float(sizes[order[0]]) if size_given else float(DEFAULT_COHORT_SIZE)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in SERIES:
        if key not in columns:
            continue
        values = np.full(months_a.size, np.nan)
        counts = np.full(months_a.size, float(DEFAULT_SERIES_N))
        for k, o in enumerate(order):
            i, row = numbered[o]
            if (row.get(key) or "").strip() == "":
                continue
            values[k] = number(i, row, key)
            if not 0.0 <= values[k] <= 1.0:
                raise CalibrationError(f"{where}: row {i}: {key} must be between 0 and 1")
            if (row.get(f"{key}_n") or "").strip():
                counts[k] = number(i, row, f"{key}_n")
                if counts[k] <= 0:
                    raise CalibrationError(f"{where}: row {i}: {key}_n must be > 0")
        if months_a.size and not np.isnan(values[0]):
            raise CalibrationError(
                f"{where}: row {rows_a[0]}: {key} belongs to an interval; month 0 has none"
            )
        series[key] = (values, counts)
    return CohortData(path, digest, months_a, retained_a, cohort_size, size_given, series, segment)


# --------------------------------------------------------------------------------------------
# The keys to fit.


_FLOAT_CHECKS = {"prob", "nonneg", "finite", "positive", "quality", "polarization"}


def _key_kind(key: str) -> str | None:
    """``"float"``, ``"int"`` or None (not a numeric scenario key)."""
    parts = key.split(".")
    spec = None
    if len(parts) == 2 and parts[0] in SCHEMA:
        spec = SCHEMA[parts[0]].get(parts[1])
    elif len(parts) == 3 and parts[0] == "firms" and parts[1].isdigit():
        spec = FIRM_SCHEMA.get(parts[2])
    if spec is None:
        return None
    name = getattr(spec.check, "__qualname__", "")
    if name in _FLOAT_CHECKS:
        return "float"
    if name.startswith("int_at_least"):
        return "int"
    return None


def parse_fit(items: Sequence[str], source: str = "--fit") -> dict[str, tuple[float, float]]:
    """``KEY=LOW:HIGH`` strings -> {key: (low, high)}."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        key, sep, bounds = item.partition("=")
        low, colon, high = bounds.partition(":")
        try:
            pair = (float(low), float(high))
        except ValueError:
            pair = None
        if not sep or not colon or pair is None:
            raise CalibrationError(f"{source}: {item!r} must look like KEY=LOW:HIGH")
        out[key.strip()] = pair
    return out


def check_fit(
    doc: Mapping[str, Any], fit: Mapping[str, Sequence[float]], source: str
) -> dict[str, tuple[float, float]]:
    """Check each key exists and is numeric, and that both bounds are valid values of it.

    Raises:
        CalibrationError: naming the key and the problem.
    """
    if not fit:
        raise CalibrationError(f"{source}: no keys to fit (--fit KEY=LOW:HIGH)")
    checked: dict[str, tuple[float, float]] = {}
    for key, bounds in fit.items():
        kind = _key_kind(key)
        if kind is None:
            raise CalibrationError(
                f"{source}: {key}: not a numeric scenario key (e.g. churn.base_prob, "
                "churn.leave_prob, customers.contact_prob)"
            )
        if len(bounds) != 2:
            raise CalibrationError(f"{source}: {key}: bounds must be [low, high]")
        low, high = float(bounds[0]), float(bounds[1])
        if not low < high:
            raise CalibrationError(f"{source}: {key}: low {low:g} must be below high {high:g}")
        for value in (low, high):
            v = int(value) if kind == "int" else value
            try:
                load_scenario(doc, {key: v}, source_name=source)
            except ScenarioError as err:
                raise CalibrationError(
                    f"{source}: {key}: bound {value:g} is invalid: {err}"
                ) from None
        checked[key] = (low, high)
    return checked


# --------------------------------------------------------------------------------------------
# A trial: R replicates of one parameter point.


@dataclass(frozen=True)
class Setup:
    """Everything a calibration needs, checked; stored as ``calibration_config.json``."""

    doc: dict[str, Any]
    source: str
    data: CohortData
    fit: dict[str, tuple[float, float]]
    holdout_from: int | None
    trials: int
    replicates: int
    seed: int
    batch: int
    firm: str
    seeds: tuple[int, ...]

    @property
    def fit_mask(self) -> np.ndarray:
        """Which observed months the search fits (month 0 included)."""
        if self.holdout_from is None:
            return np.ones(self.data.months.size, dtype=bool)
        return self.data.months < self.holdout_from

    def point(self, values: Mapping[str, Any]) -> Scenario:
        """The scenario a trial runs: the keys set, the horizon the last observed month."""
        overrides = {
            **{k: (round(v) if _key_kind(k) == "int" else float(v)) for k, v in values.items()},
            "scenario.months": max(int(self.data.months[-1]), 1),
            "scenario.replicates": self.replicates,
        }
        return load_scenario(self.doc, overrides, source_name=self.source)


def simulated(setup: Setup, frames: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """What a trial's runs say at the observed months: the mean retained share, and each
    series per interval (pooled over replicates), and the share of leavers after a bad
    experience over the fitted period."""
    months = setup.data.months
    curves, pooled = [], []
    for frame in frames:
        rows = frame[frame["firm"] == setup.firm].set_index("step")
        curves.append(rows["cohort_retention"].reindex(months).to_numpy(dtype=float))
        pooled.append(rows)
    retained = np.nanmean(np.vstack(curves), axis=0)
    retained[0] = 1.0
    total = sum(
        r[["left_bad_experience", "left_attrition", "interactions", "complaints"]] for r in pooled
    )
    total["met"] = sum((r["csat"].fillna(0.0) * r["interactions"]) for r in pooled)
    cumulative = total.cumsum().reindex(months).to_numpy(dtype=float)
    interval = np.vstack([np.zeros(cumulative.shape[1]), np.diff(cumulative, axis=0)])
    bad, attr, inter, compl, met = interval.T
    with np.errstate(divide="ignore", invalid="ignore"):
        series = {
            "bad_experience_share": bad / (bad + attr),
            "csat": met / inter,
            "complaint_rate": compl / inter,
        }
    last = int(np.flatnonzero(setup.fit_mask)[-1])
    leavers = cumulative[last, 0] + cumulative[last, 1]
    split = float(cumulative[last, 0] / leavers) if leavers > 0 else float("nan")
    return {"retained": retained, "series": series, "service_share": split}


def loglik(setup: Setup, sim: Mapping[str, Any], mask: np.ndarray | None = None) -> float:
    """The calibration's log-likelihood of the data under a trial's simulated values, over the
    observed months in ``mask`` (default: the fitted ones): the cohort term, plus a binomial term
    per observed series value."""
    mask = setup.fit_mask if mask is None else mask
    data = setup.data
    total = sbg.cohort_loglik(data.active[mask], sim["retained"][mask])
    for key, (values, counts) in data.series.items():
        p = np.clip(np.nan_to_num(sim["series"][key], nan=0.0), sbg.PROB_FLOOR, 1 - sbg.PROB_FLOOR)
        use = mask & ~np.isnan(values)
        k, n = values[use] * counts[use], counts[use]
        total += float(np.sum(k * np.log(p[use]) + (n - k) * np.log1p(-p[use])))
    return total


# --------------------------------------------------------------------------------------------
# The search.


def _sampler_seed(seed: int, completed: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, completed, position]).generate_state(1)[0])


def _open_study(folder: Path, create: bool) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(folder / STUDY_FILE)))
    if create:
        return optuna.create_study(
            study_name="calibration", storage=storage, direction="maximize", load_if_exists=True
        )
    return optuna.load_study(study_name="calibration", storage=storage)


def _search(
    setup: Setup,
    folder: Path,
    executor: Any,
    workers: int | None,
    scheduler: str | None,
    progress: bool,
) -> Any:
    """Run trials until ``setup.trials`` are complete; return the Optuna study."""
    import optuna
    from tqdm.auto import tqdm

    from sim.sweep import open_executor, run_task

    study = _open_study(folder, create=True)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)  # cut short by a kill

    def complete() -> int:
        return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))

    done = complete()
    startup = max(5, min(10, setup.trials // 4))
    bar = tqdm(
        total=setup.trials, initial=done, desc="calibrate", unit="trial", disable=not progress
    )
    try:
        with open_executor(
            executor, workers, scheduler, setup.replicates * setup.batch, None
        ) as opened:
            while done < setup.trials:
                batch = []
                for j in range(min(setup.batch, setup.trials - done)):
                    study.sampler = optuna.samplers.TPESampler(
                        seed=_sampler_seed(setup.seed, done, j),
                        n_startup_trials=startup,
                        multivariate=True,
                    )
                    trial = study.ask()
                    values = {}
                    for key, (low, high) in setup.fit.items():
                        if _key_kind(key) == "int":
                            values[key] = trial.suggest_int(key, int(low), int(high))
                        else:
                            values[key] = trial.suggest_float(key, low, high)
                    point = setup.point(values)
                    futures = [
                        opened.pool.submit(run_task, point, trial.number, r, s)
                        for r, s in enumerate(setup.seeds)
                    ]
                    batch.append((trial, futures))
                for trial, futures in batch:
                    results = [f.result() for f in futures]
                    failed = [rec["error"] for rec, frame in results if frame is None]
                    if failed:
                        raise RuntimeError(f"trial {trial.number}: a run failed: {failed[0]}")
                    sim = simulated(setup, [frame for _, frame in results])
                    trial.set_user_attr("retained", [float(x) for x in sim["retained"]])
                    trial.set_user_attr("service_share", sim["service_share"])
                    study.tell(trial, loglik(setup, sim))
                done = complete()
                bar.update(done - bar.n)
                bar.set_postfix(best_loglik=f"{study.best_value:.1f}")
    finally:
        bar.close()
    return study


# --------------------------------------------------------------------------------------------
# What the trials say.


def trials_frame(study: Any, setup: Setup) -> pd.DataFrame:
    """One row per complete trial: number, log-likelihood, the keys, the service share of churn,
    and the simulated retained share at each observed month (``retained_m<month>``)."""
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        row = {"trial": t.number, "loglik": t.value, **t.params}
        row["service_share"] = t.user_attrs["service_share"]
        for m, r in zip(setup.data.months, t.user_attrs["retained"], strict=True):
            row[f"retained_m{m}"] = r
        rows.append(row)
    return pd.DataFrame(rows).sort_values("trial", ignore_index=True)


def assess(trials: pd.DataFrame, setup: Setup) -> dict[str, Any]:
    """Best values, likelihood-ratio ranges and the warnings (bound, trade-off, convergence,
    undetermined split)."""
    from scipy.stats import spearmanr

    best = trials.loc[trials["loglik"].idxmax()]
    near = trials[trials["loglik"] >= best["loglik"] - LR_HALF_WIDTH]
    keys = {}
    warnings = []
    for key, (low, high) in setup.fit.items():
        value = float(best[key])
        keys[key] = {
            "best": value,
            "low": float(near[key].min()),
            "high": float(near[key].max()),
            "bounds": [low, high],
        }
        edge = BOUND_SHARE * (high - low)
        if value <= low + edge or value >= high - edge:
            side = "lower" if value <= low + edge else "upper"
            warnings.append(
                f"{key}: the best value {value:.4g} sits at the {side} bound: widen the range"
            )
    names = list(setup.fit)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if len(near) >= 6 and near[a].nunique() > 1 and near[b].nunique() > 1:
                rho = float(spearmanr(near[a], near[b]).statistic)
                if abs(rho) >= TRADE_OFF_RHO:
                    warnings.append(
                        f"{a} and {b} trade off (Spearman {rho:+.2f} over the {len(near)} trials "
                        "that fit about as well): the data cannot tell them apart"
                    )
    n = len(trials)
    early = trials.iloc[: max(1, int(0.8 * n))]["loglik"].max()
    converged = bool(best["loglik"] - early <= LR_HALF_WIDTH)
    if not converged:
        warnings.append(
            f"not converged: the last {n - int(0.8 * n)} trials still improved the fit by "
            f"{best['loglik'] - early:.1f} log-likelihood units; run more trials (--resume)"
        )
    share = near["service_share"].dropna()
    split = {
        "best": float(best["service_share"]),
        "low": float(share.min()) if len(share) else float("nan"),
        "high": float(share.max()) if len(share) else float("nan"),
    }
    if not setup.data.series and split["high"] - split["low"] > UNDETERMINED_SPLIT:
        warnings.append(
            "the data leave the split of churn undetermined: between "
            f"{split['low']:.0%} and {split['high']:.0%} of leavers left after a bad experience "
            "in fits about as good; add an exit-survey, CSAT or complaint series"
        )
    return {
        "best_trial": int(best["trial"]),
        "best_loglik": float(best["loglik"]),
        "keys": keys,
        "service_share": split,
        "near_best_trials": len(near),
        "converged": converged,
        "warnings": warnings,
    }


def _errors(observed: np.ndarray, fitted: np.ndarray) -> dict[str, float] | None:
    if observed.size == 0:
        return None
    gap = np.abs(fitted - observed) * 100
    return {"mean_abs_pp": float(gap.mean()), "max_abs_pp": float(gap.max())}


# --------------------------------------------------------------------------------------------
# The whole calibration.


@dataclass
class Calibration:
    """A finished calibration, as written to its folder.

    Attributes:
        folder: the output folder.
        summary: the content of ``calibration.json``.
        trials: the complete trials (``trials.parquet``).
        fit: per observed month: observed, simulated (best trial), sbg, holdout.
    """

    folder: Path
    summary: dict[str, Any]
    trials: pd.DataFrame
    fit: pd.DataFrame

    @property
    def best(self) -> dict[str, float]:
        """The best value of each fitted key."""
        return {k: v["best"] for k, v in self.summary["keys"].items()}

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """The 95% likelihood-ratio range of each fitted key."""
        return {k: (v["low"], v["high"]) for k, v in self.summary["keys"].items()}

    @property
    def calibrated_scenario(self) -> Path:
        """``calibrated.toml``: the scenario with the best values written in."""
        return self.folder / "calibrated.toml"


def prepare(
    scenario: str | Path | Mapping[str, Any],
    data: str | Path | pd.DataFrame | None,
    fit: Mapping[str, Sequence[float]] | Sequence[str] | None,
    holdout_from: int | None,
    trials: int | None,
    replicates: int | None,
    segment: str | None,
) -> tuple[Setup, dict[str, Any]]:
    """Read and check everything a calibration needs, writing nothing (arguments as for
    `calibrate`; None takes the scenario's ``[calibration]`` value or the default).

    Returns:
        The checked `Setup` (its ``doc`` without ``[sweep]`` and ``[calibration]``) and the
        scenario document with its ``[sweep]``, if any (for ``calibrated.toml``).

    Raises:
        CalibrationError: naming the file or option, the row or key, and the problem.
    """
    if isinstance(scenario, Mapping):
        doc, source, base = copy.deepcopy(dict(scenario)), "scenario", Path.cwd()
    else:
        source = str(scenario)
        try:
            doc = read_toml(Path(scenario), source)
        except ScenarioError as err:
            raise CalibrationError(str(err)) from None
        base = Path(scenario).resolve().parent
    table = doc.pop("calibration", {}) or {}
    if not isinstance(table, dict):
        raise CalibrationError(f"{source}: [calibration] must be a table")
    unknown = set(table) - {"data", "segment", "fit", "holdout_from", "trials", "replicates"}
    if unknown:
        raise CalibrationError(f"{source}: [calibration]: unknown key {sorted(unknown)[0]!r}")
    sweep = doc.pop("sweep", None)
    try:
        scenario_obj = load_scenario(doc, source_name=source)
    except ScenarioError as err:
        raise CalibrationError(str(err)) from None
    if data is None:
        if "data" not in table:
            raise CalibrationError(f"{source}: no data: --data FILE or [calibration] data")
        data = base / table["data"] if not Path(table["data"]).is_absolute() else table["data"]
    segment = segment if segment is not None else table.get("segment")
    cohort = read_cohort(data, segment)
    if fit is None or len(fit) == 0:
        fit = table.get("fit", {})
    if not isinstance(fit, Mapping):
        fit = parse_fit(list(fit))
    fit = check_fit(doc, fit, source)
    holdout = holdout_from if holdout_from is not None else table.get("holdout_from")
    trials = trials or table.get("trials", DEFAULT_TRIALS)
    replicates = replicates or table.get("replicates", DEFAULT_REPLICATES)
    for name, value in (("trials", trials), ("replicates", replicates)):
        if not isinstance(value, int) or value < 1:
            raise CalibrationError(f"{source}: {name} must be a whole number >= 1, got {value!r}")
    fit_points = int(np.sum((cohort.months > 0) & (cohort.months < (holdout or 1 << 60))))
    if fit_points < len(fit):
        raise CalibrationError(
            f"{cohort.path or 'data'}: {fit_points} observed months to fit (after month 0"
            f"{', before the holdout' if holdout else ''}), fewer than the {len(fit)} keys fitted"
        )
    if holdout is not None and (holdout <= 0 or holdout > cohort.months[-1]):
        raise CalibrationError(
            f"--holdout-from {holdout}: must lie within the observed months 1..{cohort.months[-1]}"
        )
    from sim.scenario import spawn_seeds

    seeds = tuple(spawn_seeds(scenario_obj.seed, replicates))
    if sweep is not None:
        doc["sweep"] = sweep  # kept for calibrated.toml; trials run the base scenario
    trial_doc = {k: v for k, v in doc.items() if k != "sweep"}
    return Setup(
        trial_doc,
        source,
        cohort,
        fit,
        holdout,
        trials,
        replicates,
        scenario_obj.seed,
        max(1, -(-BATCH_RUNS // replicates)),
        scenario_obj.firms[0].name,
        seeds,
    ), doc


def calibrate(
    scenario: str | Path | Mapping[str, Any] | None = None,
    data: str | Path | pd.DataFrame | None = None,
    *,
    fit: Mapping[str, Sequence[float]] | Sequence[str] | None = None,
    holdout_from: int | None = None,
    trials: int | None = None,
    replicates: int | None = None,
    segment: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> Calibration:
    """Fit scenario keys to observed cohort retention (see the module docstring).

    Args:
        scenario: a scenario file or dict (its ``[calibration]`` table supplies what the other
            arguments leave out); None with ``resume``.
        data: the cohort CSV (or a DataFrame); default: ``[calibration] data``.
        fit: {key: (low, high)} or ``["KEY=LOW:HIGH", ...]``; default: ``[calibration] fit``.
        holdout_from: fit only the months before this one; forecast the rest.
        trials: complete trials to run (default 100).
        replicates: runs per trial (default 10), always with the same seeds.
        segment: the data's segment to fit (when it has a ``segment`` column).
        out: the output folder (must not exist or be empty).
        resume: an output folder to continue (the settings are its own).
        executor, workers, scheduler: as for `sim.run_sweep`.
        progress: show a progress bar.
        command: the command line, for the report.

    Returns:
        The `Calibration`, also written to the folder.

    Raises:
        CalibrationError: bad data, keys or bounds (nothing is written).
    """
    from sim.store import check_out_dir, default_out_dir, write_json_atomic

    if resume is not None:
        folder = Path(resume)
        config_path = folder / CONFIG_FILE
        if not config_path.is_file():
            raise CalibrationError(f"{folder}: not a calibration folder (no {CONFIG_FILE})")
        config = json.loads(config_path.read_text())
        # A kill -9 in the middle of a journal write leaves its lock behind (Optuna would wait
        # 30 s and then break it): a resumed calibration is the only writer, so drop it now.
        (folder / f"{STUDY_FILE}.lock").unlink(missing_ok=True)
        data_path = config["data"] if config["data_file"] is None else config["data_file"]
        data_arg = pd.DataFrame(data_path) if isinstance(data_path, dict) else data_path
        setup, doc = prepare(
            config["scenario"],
            data_arg,
            config["fit"],
            config["holdout_from"],
            config["trials"] if trials is None else trials,
            config["replicates"],
            config["segment"],
        )
        if setup.data.sha256 != config["data_sha256"]:
            raise CalibrationError(f"{data_path}: changed since the calibration started")
    else:
        if scenario is None:
            raise CalibrationError("a scenario is needed (or resume=FOLDER)")
        setup, doc = prepare(scenario, data, fit, holdout_from, trials, replicates, segment)
        name = doc.get("scenario", {}).get("name") or (
            Path(scenario).stem if not isinstance(scenario, Mapping) else "scenario"
        )
        folder = Path(out) if out is not None else default_out_dir(name, "calibrate")
        try:
            check_out_dir(folder)
        except FileExistsError as err:
            raise CalibrationError(str(err)) from None
        folder.mkdir(parents=True, exist_ok=True)
        data_file = setup.data.path
        write_json_atomic(
            folder / CONFIG_FILE,
            {
                "scenario": doc,
                "data_file": str(Path(data_file).resolve()) if data_file else None,
                "data": None if data_file else pd.DataFrame(data).to_dict(orient="list"),
                "data_sha256": setup.data.sha256,
                "segment": setup.data.segment,
                "fit": {k: list(v) for k, v in setup.fit.items()},
                "holdout_from": setup.holdout_from,
                "trials": setup.trials,
                "replicates": setup.replicates,
            },
        )
    study = _search(setup, folder, executor, workers, scheduler, progress)
    return _write(folder, setup, doc, study, command)


def _write(
    folder: Path, setup: Setup, doc: dict[str, Any], study: Any, command: Sequence[str] | None
) -> Calibration:
    import tomli_w

    from sim import __version__, plots
    from sim.store import now_iso, package_versions, write_json_atomic, write_parquet_atomic

    trials = trials_frame(study, setup)
    verdict = assess(trials, setup)
    data = setup.data
    mask = setup.fit_mask
    sbg_fit = sbg.fit_sbg(data.months[mask], data.active[mask])
    best = trials.loc[trials["loglik"].idxmax()]
    simulated_curve = np.array([best[f"retained_m{m}"] for m in data.months])
    fit = pd.DataFrame(
        {
            "month": data.months,
            "observed": data.retained,
            "simulated": simulated_curve,
            "sbg": sbg_fit.retained(data.months),
            "holdout": ~mask,
        }
    )
    sbg_loglik_fit = sbg.cohort_loglik(data.active[mask], fit["sbg"].to_numpy()[mask])
    sim_loglik_fit = sbg.cohort_loglik(data.active[mask], simulated_curve[mask])
    summary = {
        "created": now_iso(),
        "command": list(command) if command else None,
        "scenario": setup.source,
        "firm": setup.firm,
        "data": {
            "file": data.path,
            "sha256": data.sha256,
            "segment": data.segment,
            "cohort_size": data.cohort_size,
            "cohort_size_from_data": data.size_given,
            "series": sorted(data.series),
        },
        "holdout_from": setup.holdout_from,
        "trials": len(trials),
        "replicates": setup.replicates,
        "seeds": list(setup.seeds),
        "sampler": "optuna TPE (multivariate), seeded per batch from scenario.seed",
        "interval": "likelihood-ratio, 95%, from the evaluated trials (within 1.92 of the best)",
        **verdict,
        "fit_loglik": {"simulation": sim_loglik_fit, "sbg": sbg_loglik_fit},
        "fit_errors": {
            "simulation": _errors(data.retained[mask], simulated_curve[mask]),
            "sbg": _errors(data.retained[mask], fit["sbg"].to_numpy()[mask]),
        },
        "holdout_errors": {
            "simulation": _errors(data.retained[~mask], simulated_curve[~mask]),
            "sbg": _errors(data.retained[~mask], fit["sbg"].to_numpy()[~mask]),
        },
        "sbg": {
            "gamma": sbg_fit.gamma,
            "delta": sbg_fit.delta,
            "period_months": sbg_fit.period_months,
            "loglik": sbg_fit.loglik,
        },
        "fit": fit.to_dict(orient="records"),
        "versions": {"retention-sim": __version__, **package_versions()},
    }
    calibrated = copy.deepcopy(doc)
    for key, info in verdict["keys"].items():
        value = round(info["best"]) if _key_kind(key) == "int" else info["best"]
        _set_dotted(calibrated, key, value, "calibrated.toml")
    from sim.store import write_text_atomic

    firm0 = calibrated.get("firms", [{}])[0]
    if "sweep" not in calibrated and "service_level" in firm0 and "departments" not in firm0:
        ladder = load_scenario(doc, source_name=setup.source).ladder
        own = firm0["service_level"]
        calibrated["sweep"] = {
            "firms.0.service_level": [own, *(r.id for r in ladder.rungs if r.id != own)]
        }
    write_text_atomic(folder / "calibrated.toml", tomli_w.dumps(calibrated))
    write_parquet_atomic(folder / "trials.parquet", trials)
    write_json_atomic(folder / "calibration.json", summary)
    figures = {
        "calibration_fit": plots.calibration_fit(fit, setup.holdout_from),
        "calibration_keys": plots.calibration_keys(trials, list(setup.fit), LR_HALF_WIDTH),
    }
    from sim import report

    images = report.save_figures(figures, folder / "figures")
    blocks = report_blocks(summary, folder)
    title = f"Calibration of {setup.source}"
    write_text_atomic(folder / "report.md", f"# {title}\n\n" + report.to_markdown(blocks))
    write_text_atomic(
        folder / "report.html",
        report.to_html(blocks, {k: v["png"] for k, v in images.items()}, title),
    )
    return Calibration(folder, summary, trials, fit)


def _pp(errors: Mapping[str, float] | None) -> str:
    if errors is None:
        return "-"
    return f"{errors['mean_abs_pp']:.2f} / {errors['max_abs_pp']:.2f}"


def report_blocks(summary: Mapping[str, Any], folder: Path) -> list[Any]:
    """The calibration report's content (`sim.report` blocks)."""
    from sim.report import FigureBlock, Heading, Paragraph, Table

    blocks: list[Any] = [
        Paragraph(
            f"Firm `{summary['firm']}` of `{summary['scenario']}` fitted to "
            f"`{summary['data']['file'] or 'data'}`"
            + (f" (segment `{summary['data']['segment']}`)" if summary["data"]["segment"] else "")
            + f": {summary['trials']} trials of {summary['replicates']} replicates each, with the "
            "same seeds (common random numbers), by the binomial likelihood of the leavers per "
            "interval (Fader & Hardie 2007). Ranges: "
            + summary["interval"]
            + "; they leave out simulation noise and values the search never tried."
        ),
        Heading("Fitted keys"),
        Table(
            ("key", "best", "95% range", "search bounds"),
            tuple(
                (
                    key,
                    f"{v['best']:.4g}",
                    f"{v['low']:.4g} - {v['high']:.4g}",
                    f"{v['bounds'][0]:g} - {v['bounds'][1]:g}",
                )
                for key, v in summary["keys"].items()
            ),
            frozenset({1, 2}),
        ),
    ]
    split = summary["service_share"]
    blocks.append(
        Paragraph(
            f"Share of leavers who left after a bad experience: {split['best']:.0%} "
            f"(range {split['low']:.0%} - {split['high']:.0%})."
        )
    )
    if summary["warnings"]:
        blocks.append(Heading("Warnings"))
        blocks.extend(Paragraph(f"**Warning:** {w}") for w in summary["warnings"])
    s = summary["sbg"]
    blocks += [
        Heading("Against the shifted-beta-geometric model"),
        Paragraph(
            f"sBG fitted to the same points, in periods of {s['period_months']} months: "
            f"gamma = {s['gamma']:.3g}, delta = {s['delta']:.3g}."
        ),
        Table(
            (
                "model",
                "log-likelihood (fit)",
                "fit error pp (mean / max)",
                "holdout pp (mean / max)",
            ),
            tuple(
                (
                    name,
                    f"{summary['fit_loglik'][key]:.1f}",
                    _pp(summary["fit_errors"][key]),
                    _pp(summary["holdout_errors"][key]),
                )
                for name, key in (("agent model", "simulation"), ("sBG", "sbg"))
            ),
            frozenset({1, 2, 3}),
        ),
        Table(
            ("month", "observed", "agent model", "sBG", "holdout"),
            tuple(
                (
                    str(row["month"]),
                    f"{row['observed']:.3f}",
                    f"{row['simulated']:.3f}",
                    f"{row['sbg']:.3f}",
                    "yes" if row["holdout"] else "",
                )
                for row in summary["fit"]
            ),
            frozenset({0, 1, 2, 3}),
        ),
        FigureBlock(
            "calibration_fit",
            "Observed against fitted retention",
            "The cohort's observed retained share, the calibrated agent model (best trial) and "
            "the sBG fit; the holdout months are shaded.",
        ),
        FigureBlock(
            "calibration_keys",
            "The fit against each key",
            "Each trial's log-likelihood against each fitted key; the line marks the 95% cut.",
        ),
        Heading("Next: the ladder from the calibrated scenario"),
        Paragraph(
            "`calibrated.toml` is the scenario with the best values written in. Unless the "
            "scenario had a `[sweep]` of its own, it sweeps `firms.0.service_level` over the "
            "ladder, the firm's own rung first (so `retention-sim run` runs the calibrated "
            "firm as it is). The ladder what-if:"
        ),
        Paragraph(f"`retention-sim sweep {folder / 'calibrated.toml'}`"),
    ]
    return blocks
