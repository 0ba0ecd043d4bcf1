"""sim/calibrate.py and `retention-sim calibrate`: data checks, recovery, resume, determinism.

The markets are small and the searches short (seconds each); the recovery test's ranges are
likelihood-ratio ranges from the evaluated trials, so it needs enough trials to populate them.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from sim import load_scenario, simulate
from sim.calibrate import CalibrationError, calibrate, loglik, read_cohort
from sim.cli import main

# A cohort-only market: no interactions, no acquisition; attrition alone (Beta, phi > 0).
COHORT_DOC = {
    "scenario": {"name": "cohort", "seed": 11, "months": 36},
    "market": {"size": 2000, "initial_customers": 2000},
    "customers": {"contact_prob": 0.0},
    "acquisition": {"prob": 0.0},
    "churn": {"base_prob": 0.04, "base_polarization": 0.25},
    "firms": [{"name": "Firm", "service_level": "good"}],
}
TRUTH = {"churn.base_prob": 0.04, "churn.base_polarization": 0.25}
BOUNDS = {"churn.base_prob": (0.01, 0.1), "churn.base_polarization": (0.0, 0.6)}
MONTHS = [0, 3, 6, 9, 12, 18, 24, 30, 36]


def generated_data(cohort: int = 1000, seed: int = 424242) -> pd.DataFrame:
    """Cohort counts the model itself generates at the true values (a market of ``cohort``)."""
    scenario = load_scenario(
        COHORT_DOC, {"market.size": cohort, "market.initial_customers": cohort}
    )
    frame = simulate(scenario, seed=seed).set_index("step")
    active = (frame.loc[MONTHS, "cohort_retention"] * cohort).round().astype(int)
    return pd.DataFrame({"month": MONTHS, "active": active.to_numpy(), "cohort_size": cohort})


def calibrate_cli(scenario, data, out, *options: str) -> int:
    """``retention-sim calibrate SCENARIO --data DATA ... --out OUT --quiet``; the exit status."""
    return main(
        ["calibrate", str(scenario), "--data", str(data), *options, "--out", str(out), "--quiet"]
    )


@pytest.fixture
def files(tmp_path):
    scenario = tmp_path / "cohort.toml"
    scenario.write_text(tomli_w.dumps(COHORT_DOC))
    data = tmp_path / "cohort.csv"
    generated_data().to_csv(data, index=False)
    return scenario, data


def test_calibration_recovers_the_values_that_generated_the_data(tmp_path):
    result = calibrate(
        COHORT_DOC,
        generated_data(),
        fit=BOUNDS,
        trials=60,
        replicates=2,
        out=tmp_path / "out",
        progress=False,
    )
    for key, truth in TRUTH.items():
        low, high = result.ranges[key]
        assert low <= truth <= high, (key, result.ranges[key], result.best[key])
    s = result.summary
    print("recovery:", json.dumps({"keys": s["keys"], "warnings": s["warnings"]}))


def test_the_output_folder_holds_every_file_and_calibrated_toml_runs(tmp_path, files):
    scenario, data = files
    out = tmp_path / "out"
    code = calibrate_cli(
        scenario,
        data,
        out,
        *("--fit", "churn.base_prob=0.01:0.1", "--holdout-from", "24", "--trials", "8"),
        *("--replicates", "1", "--executor", "serial"),
    )
    assert code == 0
    for name in ("calibration.json", "trials.parquet", "calibrated.toml", "report.md"):
        assert (out / name).is_file(), name
    assert (out / "report.html").is_file()
    assert (out / "figures" / "calibration_fit.png").is_file()
    assert (out / "figures" / "calibration_keys.png").is_file()
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["trials"] == 8 == len(pd.read_parquet(out / "trials.parquet"))
    fit = pd.DataFrame(summary["fit"])
    assert list(fit["month"]) == MONTHS
    assert list(fit["holdout"]) == [m >= 24 for m in MONTHS]
    assert set(summary["holdout_errors"]) == {"simulation", "sbg"}
    assert summary["holdout_errors"]["sbg"]["max_abs_pp"] >= 0
    calibrated = load_scenario(out / "calibrated.toml")
    assert calibrated.churn.base_prob == pytest.approx(summary["keys"]["churn.base_prob"]["best"])
    assert calibrated.sweep is not None  # the ladder, the firm's own rung first
    assert calibrated.sweep.points()[0] == {"firms.0.service_level": "good"}
    report = (out / "report.md").read_text()
    assert report.rstrip().splitlines()[-1] == f"`retention-sim sweep {out / 'calibrated.toml'}`"
    assert (
        main(
            [
                "run",
                str(out / "calibrated.toml"),
                "--out",
                str(tmp_path / "run"),
                "--replicates",
                "1",
                "--executor",
                "serial",
                "--quiet",
            ]
        )
        == 0
    )


def test_a_calibration_table_in_the_scenario_is_a_rerunnable_calibration(tmp_path, files):
    _, data = files
    doc = {
        **COHORT_DOC,
        "calibration": {
            "data": data.name,
            "trials": 5,
            "replicates": 1,
            "fit": {"churn.base_prob": [0.01, 0.1]},
        },
    }
    scenario = tmp_path / "with_table.toml"
    scenario.write_text(tomli_w.dumps(doc))
    result = calibrate(scenario, out=tmp_path / "out", progress=False)
    assert len(result.trials) == 5
    assert list(result.best) == ["churn.base_prob"]
    load_scenario(scenario)  # `run` and `sweep` ignore the [calibration] table


BAD_DATA = {
    "no month 0": "month,retained\n12,0.9\n24,0.8\n",
    "retention above 1": "month,retained\n0,1\n12,1.2\n24,0.8\n",
    "retention rising": "month,retained\n0,1\n12,0.8\n24,0.85\n",
    "negative month": "month,retained\n0,1\n-12,0.9\n24,0.8\n",
    "duplicated month": "month,retained\n0,1\n12,0.9\n12,0.8\n",
    "not a number": "month,retained\n0,1\n12,abc\n24,0.8\n",
    "no retained column": "month,people\n0,1\n12,0.9\n",
    "two segments, none chosen": "segment,month,retained\na,0,1\na,12,0.9\nb,0,1\nb,12,0.8\n",
}


@pytest.mark.parametrize("problem", list(BAD_DATA))
def test_bad_data_exits_2_and_writes_nothing(tmp_path, files, capsys, problem):
    scenario, _ = files
    data = tmp_path / "bad.csv"
    data.write_text(BAD_DATA[problem])
    out = tmp_path / "out"
    code = calibrate_cli(scenario, data, out, "--fit", "churn.base_prob=0.01:0.1")
    assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert str(data) in err
    row = {"retention above 1": 3, "retention rising": 4, "negative month": 3, "not a number": 3}
    if problem in row:
        assert f"row {row[problem]}:" in err, err


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        ("churn.nope=0.01:0.1", "not a numeric scenario key"),
        ("churn.rule=0:1", "not a numeric scenario key"),
        ("churn.base_prob=0.01:1.5", "bound 1.5 is invalid"),
        ("churn.base_prob=0.1:0.01", "must be below high"),
        ("churn.base_prob=0.01", "KEY=LOW:HIGH"),
    ],
)
def test_bad_keys_and_bounds_exit_2_and_write_nothing(tmp_path, files, capsys, fit, message):
    scenario, data = files
    out = tmp_path / "out"
    code = calibrate_cli(scenario, data, out, "--fit", fit)
    assert code == 2
    assert not out.exists()
    assert message in capsys.readouterr().err


def test_fewer_points_than_keys_exits_2(tmp_path, files, capsys):
    scenario, _ = files
    data = tmp_path / "short.csv"
    data.write_text("month,retained\n0,1\n12,0.8\n")
    out = tmp_path / "out"
    code = calibrate_cli(
        scenario,
        data,
        out,
        "--fit",
        "churn.base_prob=0.01:0.1",
        "--fit",
        "churn.base_polarization=0:0.5",
    )
    assert code == 2
    assert not out.exists()
    assert "fewer than the 2 keys" in capsys.readouterr().err


def test_series_add_their_binomial_terms(tmp_path):
    frame = pd.DataFrame(
        {
            "month": [0, 12],
            "retained": [1.0, 0.8],
            "bad_experience_share": [None, 0.6],
            "bad_experience_share_n": [None, 50],
        }
    )
    data = read_cohort(frame)
    assert data.cohort_size == 1000 and not data.size_given  # the stated default
    from sim.calibrate import Setup

    setup = Setup({}, "s", data, {}, None, 1, 1, 0, 1, "Firm", (1,))
    sim = {
        "retained": np.array([1.0, 0.75]),
        "series": {"bad_experience_share": np.array([np.nan, 0.5])},
    }
    cohort_only = 200 * np.log(0.25) + 800 * np.log(0.75)
    series = 30 * np.log(0.5) + 20 * np.log(0.5)
    assert loglik(setup, sim) == pytest.approx(cohort_only + series)


def test_the_same_seed_gives_the_same_calibration_on_any_executor(tmp_path):
    runs = {
        name: calibrate(
            COHORT_DOC,
            generated_data(),
            fit=BOUNDS,
            trials=8,
            replicates=1,
            out=tmp_path / name,
            executor=executor,
            workers=2,
            progress=False,
        ).trials
        for name, executor in (("a", "serial"), ("b", "serial"), ("pool", "local"))
    }
    pd.testing.assert_frame_equal(runs["a"], runs["b"])
    pd.testing.assert_frame_equal(runs["a"], runs["pool"])


def _complete_trials(folder: Path) -> int:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = folder / "study.journal"
    if not journal.is_file():
        return 0
    storage = JournalStorage(JournalFileBackend(str(journal)))
    try:
        study = optuna.load_study(study_name="calibration", storage=storage)
    except KeyError:
        return 0
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))


def test_killed_with_kill_9_and_resumed_ends_as_if_left_alone(tmp_path, files):
    scenario, data = files
    args = [
        "--fit",
        "churn.base_prob=0.01:0.1",
        "--fit",
        "churn.base_polarization=0:0.6",
        "--trials",
        "24",
        "--replicates",
        "1",
        "--executor",
        "serial",
        "--quiet",
    ]
    alone = tmp_path / "alone"
    assert main(["calibrate", str(scenario), "--data", str(data), *args, "--out", str(alone)]) == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "calibrate",
            str(scenario),
            "--data",
            str(data),
            *args,
            "--out",
            str(killed),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _complete_trials(killed) < 8 and time.monotonic() < deadline:
            assert process.poll() is None, "finished before it could be killed"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 8 <= _complete_trials(killed) < 24
    assert not (killed / "calibration.json").exists()
    assert main(["calibrate", "--resume", str(killed), "--quiet", "--executor", "serial"]) == 0
    a = json.loads((alone / "calibration.json").read_text())
    b = json.loads((killed / "calibration.json").read_text())
    assert b["trials"] == 24
    assert a["keys"] == b["keys"]
    assert a["best_loglik"] == b["best_loglik"]


def test_resume_needs_a_calibration_folder(tmp_path):
    with pytest.raises(CalibrationError, match="not a calibration folder"):
        calibrate(resume=tmp_path)


def _setup_for(fit, series=False):
    from sim.calibrate import Setup

    frame = pd.DataFrame({"month": [0, 12, 24], "retained": [1.0, 0.8, 0.7]})
    if series:
        frame["csat"] = [None, 0.9, 0.9]
    return Setup({}, "s", read_cohort(frame), fit, None, 10, 1, 0, 1, "Firm", (1,))


def test_assess_warns_at_a_bound_on_a_trade_off_and_when_not_converged():
    from sim.calibrate import assess

    fit = {"a": (0.0, 1.0), "b": (0.0, 1.0)}
    n = 20
    x = np.linspace(0.1, 0.6, n)
    trials = pd.DataFrame(
        {
            "trial": range(n),
            "loglik": np.concatenate([np.full(n - 1, -100.0), [-90.0]]),  # the last one jumps
            "a": np.concatenate([x[:-1], [0.999]]),  # the best sits at the upper bound
            "b": np.concatenate([x[:-1], [0.999]]) * 0.5,  # b moves with a
            "service_share": np.linspace(0.1, 0.9, n),
        }
    )
    trials.loc[: n - 2, "loglik"] = -91.0  # every other trial within 1.92 of the best
    verdict = assess(trials, _setup_for(fit))
    text = " | ".join(verdict["warnings"])
    assert "a: the best value 0.999 sits at the upper bound" in text
    assert "a and b trade off" in text
    assert "not converged" not in text  # -91 -> -90 is within the cut
    assert "undetermined" in text  # 10% - 90% of leavers after a bad experience
    assert verdict["keys"]["a"]["low"] == pytest.approx(0.1)
    assert verdict["keys"]["a"]["high"] == pytest.approx(0.999)
    trials.loc[: n - 2, "loglik"] = -100.0
    verdict = assess(trials, _setup_for(fit, series=True))
    text = " | ".join(verdict["warnings"])
    assert "not converged" in text
    assert "undetermined" not in text  # a CSAT series pins the split; none near the best here
    assert verdict["near_best_trials"] == 1
