"""sim/cli.py: `retention-sim run | sweep | ladder | validate`, end to end into tmp_path."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim.runner
import sim.store
from sim.cli import main
from sim.design import replicate_seeds
from sim.formatting import count
from sim.runner import simulate
from sim.scenario import load_scenario
from sim.store import FORMAT_VERSION, RUNS_COLUMNS, load_results

SMALL = """\
[scenario]
name = "small"
months = 12
replicates = 3
seed = 42
engine = "agents"

[market]
size = 200

[[firms]]
name = "Good"
service_level = "good"

[[firms]]
name = "Poor"
service_level = "poor"
monthly_fee = 25.0
"""

INLINE_LADDER = """\
[scenario]
seed = 1
months = 3
replicates = 2
engine = "agents"

[market]
size = 50

[[rungs]]
id = "meh"
label = "Meh"
quality_mean = 4.0
quality_sd = 1.0
resolve_prob = 0.2
quick_resolve_prob = 0.1
cost_per_customer = 1.5
sustain_months = 0

[[rungs]]
id = "wow"
label = "Wow"
quality_mean = 9.5
quality_sd = 0.5
resolve_prob = 0.95
quick_resolve_prob = 0.8
cost_per_customer = 12.0
sustain_months = 18

[[firms]]
name = "Only"
service_level = "wow"
"""


@pytest.fixture
def small(scenario_file) -> Path:
    return scenario_file("small", SMALL)


def files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --------------------------------------------------------------------------------------------
# Bad input: exit 2, a message naming the file and the key, nothing written.

BAD_INPUT = {
    "unknown key": (
        ["--set", "churn.leave_prb=0.5"],
        ["small.toml", "churn.leave_prb", "leave_prob"],
    ),
    "wrong type": (
        ["--set", "customers.contact_prob=often"],
        ["customers.contact_prob", "probability"],
    ),
    "probability out of range": (
        ["--set", "churn.leave_prob=1.5"],
        ["churn.leave_prob", "between 0 and 1", "1.5"],
    ),
    "negative size": (["--set", "market.size=-5"], ["market.size", ">= 0", "-5"]),
    "unknown rung": (
        ["--set", "firms.1.service_level=superb"],
        ["firms.1.service_level", "world_class", "superb"],
    ),
    "replicates zero": (["--replicates", "0"], ["scenario.replicates", ">= 1"]),
    "unknown engine": (["--engine", "turbo"], ["scenario.engine", "agents", "population"]),
    "malformed override": (["--set", "churn.leave_prob"], ["--set", "key=value"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_override_exits_2_names_the_key_and_writes_nothing(
    case, small, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    args, expected = BAD_INPUT[case]
    before = files(tmp_path)
    assert main(["run", "small.toml", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retention-sim: error: ")
    assert "Traceback" not in err
    for text in expected:
        assert text in err
    assert files(tmp_path) == before  # no results/ folder, nothing else


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[scenario\nseed = 1\n", ["broken.toml", "TOML syntax error", "line 1"]),
        (None, ["broken.toml", "file not found"]),
        (
            '[scenario]\nseed = 1\n[[firms]]\nname = "A"\nservice_level = "gold"\n',
            ["firms.0.service_level", "gold"],
        ),
        (
            '[scenario]\nseed = 1\nmonths = "ten"\n[[firms]]\nname = "A"\nservice_level = "good"\n',
            ["scenario.months", "whole number"],
        ),
    ],
    ids=["toml syntax error", "missing file", "unknown rung in file", "wrong type in file"],
)
def test_bad_file_exits_2_names_the_file_and_writes_nothing(
    content, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "broken.toml").write_text(content)
    before = files(tmp_path)
    assert main(["run", "broken.toml", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retention-sim: error: ") and "Traceback" not in err
    for text in expected:
        assert text in err
    assert files(tmp_path) == before


def test_usage_errors_exit_2_in_house_style(capsys):
    assert main(["run"]) == 2
    assert "retention-sim: error: the following arguments are required: SCENARIO" in (
        capsys.readouterr().err
    )
    assert main(["frobnicate"]) == 2
    assert "retention-sim: error: argument COMMAND: invalid choice" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_non_empty_out_is_refused_and_left_alone(small, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("do not touch")
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert files(out) == ["precious.txt"]
    assert (out / "precious.txt").read_text() == "do not touch"


# --------------------------------------------------------------------------------------------
# validate and ladder


def test_validate_prints_ok_with_a_description(small, capsys):
    assert main(["validate", str(small)]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"OK  {small}: 2 firms (Good, Poor), 5 rungs (five), 12 months, 3 replicates, "
        "1 sweep point, engine agents\n"
    )


def test_validate_counts_sweep_points_and_exits_2_if_any_file_is_bad(small, scenario_file, capsys):
    sweep = scenario_file(
        "sweep",
        SMALL + '\n[sweep]\n"churn.rule" = ["fixed", "tarp"]\n"market.size" = [100, 200, 300]\n',
    )
    bad = scenario_file("bad", SMALL.replace("size = 200", "size = -1"))
    assert main(["validate", str(small), str(bad), str(sweep)]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("OK  ") == 2
    assert "6 sweep points" in captured.out
    assert f"retention-sim: error: {bad}: market.size" in captured.err
    assert "1 of 3 files invalid" in captured.err


def test_ladder_prints_the_rungs_of_the_default_ladder(capsys):
    assert main(["ladder"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Ladder 'five' (built-in): 5 rungs, lowest first"
    header = lines[2].split()
    assert header[:4] == ["#", "id", "label", "quality"]
    world = next(line for line in lines if line.startswith("4  world_class"))
    assert world.split() == [
        "4",
        "world_class",
        "World",
        "class",
        "9.0",
        "±",
        "0.6",
        "90%",
        "75%",
        "8",
        "60",
        "0",  # investment: none in the built-in ladders
    ]


def test_ladder_by_name_and_from_a_scenario_with_inline_rungs(scenario_file, capsys):
    assert main(["ladder", "--ladder", "three"]) == 0
    out = capsys.readouterr().out
    assert "unanticipated" in out and "poor" not in out
    scenario = scenario_file("inline", INLINE_LADDER)
    assert main(["ladder", "--scenario", str(scenario), "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows == [
        "position,id,label,quality_mean,quality_sd,resolve_prob,quick_resolve_prob,cost_per_customer,sustain_months,investment",
        "0,meh,Meh,4.0,1.0,0.2,0.1,1.5,0,0.0",
        "1,wow,Wow,9.5,0.5,0.95,0.8,12.0,18,0.0",
    ]


def test_ladder_unknown_name_exits_2_with_a_suggestion(capsys):
    assert main(["ladder", "--ladder", "fiv"]) == 2
    err = capsys.readouterr().err
    assert "retention-sim: error: --ladder: unknown ladder 'fiv' (did you mean 'five'?)" in err
    assert "five, six, three" in err


# --------------------------------------------------------------------------------------------
# run, end to end


def expected_timeseries(scenario) -> pd.DataFrame:
    frames = []
    for replicate, seed in enumerate(replicate_seeds(scenario)[0]):
        frame = simulate(scenario, seed=seed)
        frame.insert(0, "seed", seed)
        frame.insert(0, "replicate", replicate)
        frame.insert(0, "run_id", f"p0000-r{replicate:03d}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_run_writes_the_results_folder(small, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "run",
        str(small),
        "--out",
        str(out),
        "--quiet",
        "--executor",
        "serial",
        "--seed",
        "7",
        "--set",
        "churn.base_prob=0.01",
    ]
    assert main(argv) == 0
    stdout = capsys.readouterr().out

    scenario = load_scenario(small, overrides=["scenario.seed=7", "churn.base_prob=0.01"])
    written = files(out)
    assert [f for f in written if not f.startswith("figures/")] == [
        "figures",
        "manifest.json",
        "report.html",
        "report.md",
        "runs.parquet",
        "summary.csv",
        "summary.parquet",
        "timeseries",
        "timeseries/part-00000.parquet",
    ]
    for figure in ("customers_and_revenue", "retention", "revenue_and_profit", "flows"):
        assert f"figures/{figure}.png" in written and f"figures/{figure}.svg" in written
    assert "figures/customers_and_revenue.png" in (out / "report.md").read_text()
    results = load_results(out)
    m = results.manifest
    assert m["format_version"] == FORMAT_VERSION and m["kind"] == "run" and m["status"] == "done"
    assert m["scenario"] == json.loads(json.dumps(scenario.to_dict()))
    assert load_scenario(m["scenario_input"]) == scenario
    assert m["scenario"]["churn"]["base_prob"] == 0.01
    assert m["root_seed"] == 7
    assert m["run_seeds"] == replicate_seeds(scenario)
    assert m["engine"] == "agents"
    assert m["swept_keys"] == [] and m["points"] == [{}]
    assert m["counts"] == {
        "points": 1,
        "replicates": 3,
        "runs": 3,
        "done": 3,
        "failed": 0,
        "missing": 0,
        "parts": 1,
    }
    assert m["executor"] == {"name": "serial", "workers": 1}
    assert set(m["versions"]) >= {"python", "sim", "mesa", "numpy", "pandas", "pyarrow"}
    assert m["git"] is None or set(m["git"]) == {"commit", "dirty"}
    assert m["argv"] == ["retention-sim", *argv]
    assert m["command"].startswith("retention-sim run ")

    runs = results.runs
    assert runs.columns.tolist() == list(RUNS_COLUMNS)
    assert runs["run_id"].tolist() == ["p0000-r000", "p0000-r001", "p0000-r002"]
    assert runs["replicate"].tolist() == [0, 1, 2] and runs["point"].tolist() == [0, 0, 0]
    assert runs["seed"].tolist() == replicate_seeds(scenario)[0]
    assert runs["status"].tolist() == ["done"] * 3 and runs["error"].tolist() == [""] * 3
    assert (runs["duration_s"] > 0).all()

    pd.testing.assert_frame_equal(results.timeseries, expected_timeseries(scenario))

    summary = pd.read_parquet(out / "summary.parquet")
    assert summary.columns.tolist() == [
        "point",
        "firm",
        "step",
        "metric",
        "n",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
    ]
    assert len(summary) == 2 * 13 * 6  # firms x months 0..12 x metrics
    final = summary[(summary["step"] == 12) & (summary["metric"] == "customers")]
    ts = results.timeseries
    assert final["mean"].tolist() == [
        ts[(ts["step"] == 12) & (ts["firm"] == f)]["customers"].mean() for f in ("Good", "Poor")
    ]
    assert len(pd.read_csv(out / "summary.csv")) == len(summary)
    assert (out / "figures/customers_and_revenue.png").read_bytes()[:4] == b"\x89PNG"

    lines = stdout.splitlines()
    assert lines[0].startswith("small: 3 replicates x 12 months, engine agents, executor serial, ")
    assert lines[1].split()[:3] == ["firm", "customers", "(month"]
    good = ts[(ts["step"] == 12) & (ts["firm"] == "Good")]
    assert lines[3].split()[:2] == ["Good", count(good["customers"].mean())]
    assert lines[4].startswith("Poor")
    assert lines[-1] == f"results: {out}"


def test_run_of_a_sweep_scenario_runs_its_first_point(small, scenario_file, tmp_path, capsys):
    sweep = scenario_file("sweep", SMALL + '\n[sweep]\n"churn.leave_prob" = [0.25, 0.75]\n')
    out = tmp_path / "out"
    assert main(["run", str(sweep), "--out", str(out), "--quiet", "--replicates", "2"]) == 0
    assert "runs the first (churn.leave_prob=0.25)" in capsys.readouterr().err
    assert load_results(out).manifest["executor"] == {"name": "local", "workers": 2}
    results = load_results(out)
    assert results.manifest["swept_keys"] == ["churn.leave_prob"]
    assert results.manifest["points"] == [{"churn.leave_prob": 0.25}]
    assert results.runs.columns.tolist() == [*RUNS_COLUMNS, "churn.leave_prob"]
    assert results.runs["churn.leave_prob"].tolist() == [0.25, 0.25]
    assert set(results.timeseries["churn.leave_prob"]) == {0.25}
    summary = pd.read_parquet(out / "summary.parquet")
    assert summary.columns[:4].tolist() == ["point", "churn.leave_prob", "firm", "step"]
    # the seeds are those of the first point of the full sweep
    assert results.runs["seed"].tolist() == replicate_seeds(load_scenario(sweep), 2)[0][:2]


def test_sweep_seeds_flag_asks_for_independent_seeds(small, tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SMALL + '\n[sweep]\n"churn.leave_prob" = [0.25, 0.75]\n')
    common, independent = tmp_path / "common", tmp_path / "independent"
    argv = ["sweep", str(sweep), "--quiet", "--replicates", "2", "--executor", "serial"]
    assert main([*argv, "--out", str(common)]) == 0
    assert main([*argv, "--out", str(independent), "--seeds", "independent"]) == 0
    same, own = load_results(common).manifest, load_results(independent).manifest
    assert same["run_seeds"][0] == same["run_seeds"][1] == own["run_seeds"][0]
    assert own["run_seeds"][1] != own["run_seeds"][0]
    assert own["scenario"]["sweep"]["seeds"] == "independent"
    assert main([*argv, "--out", str(tmp_path / "bad"), "--seeds", "shared"]) == 2
    assert "invalid choice: 'shared'" in capsys.readouterr().err


def test_default_out_dir_is_per_scenario_and_never_collides(small, tmp_path, monkeypatch, capsys):
    import datetime as dt

    monkeypatch.chdir(tmp_path)
    fixed = sim.store.default_out_dir

    def same_second(name, kind="run", root="results", when=None):
        return fixed(name, kind, root, when=dt.datetime(2026, 1, 2, 3, 4, 5))

    monkeypatch.setattr(sim.store, "default_out_dir", same_second)
    for _ in range(2):
        assert (
            main(
                [
                    "run",
                    "small.toml",
                    "--quiet",
                    "--executor",
                    "serial",
                    "--replicates",
                    "1",
                    "--set",
                    "scenario.months=2",
                ]
            )
            == 0
        )
    base = tmp_path / "results" / "small"
    assert sorted(p.name for p in base.iterdir()) == [
        "run-20260102-030405",
        "run-20260102-030405-2",
    ]
    assert (
        capsys.readouterr().out.splitlines()[-1] == "results: results/small/run-20260102-030405-2"
    )


def test_failed_run_is_recorded_and_exits_1(small, tmp_path, monkeypatch, capsys):
    scenario = load_scenario(small)
    bad_seed = replicate_seeds(scenario)[0][1]
    real = sim.runner.simulate_columns

    def flaky(scenario, *, seed, engine=None):
        if seed == bad_seed:
            raise RuntimeError("engine exploded")
        return real(scenario, seed=seed, engine=engine)

    monkeypatch.setattr(sim.runner, "simulate_columns", flaky)
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--quiet", "--executor", "serial"]) == 1
    err = capsys.readouterr().err
    expected = "1 of 3 runs failed (first: p0000-r001: RuntimeError: engine exploded)"
    assert f"retention-sim: error: {expected}" in err
    results = load_results(out)
    assert results.runs["status"].tolist() == ["done", "failed", "done"]
    assert results.runs["error"].tolist() == ["", "RuntimeError: engine exploded", ""]
    assert results.runs["seed"].tolist() == replicate_seeds(scenario)[0]
    assert results.timeseries["run_id"].unique().tolist() == ["p0000-r000", "p0000-r002"]
    assert results.manifest["status"] == "done_with_failures"
    assert results.manifest["counts"]["failed"] == 1 and results.manifest["counts"]["done"] == 2


def test_console_script_runs_end_to_end(small, tmp_path):
    script = Path(sys.executable).parent / "retention-sim"
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            str(script),
            "run",
            str(small),
            "--out",
            str(out),
            "--replicates",
            "2",
            "--set",
            "scenario.months=6",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Good" in done.stdout and "Poor" in done.stdout
    assert "2/2" in done.stderr  # the progress bar
    results = load_results(out)
    assert results.manifest["status"] == "done"
    assert len(results.timeseries) == 2 * 7 * 2  # replicates x months 0..6 x firms

    bad = subprocess.run(
        [str(script), "run", str(small), "--set", "market.size=-1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr
        == f"retention-sim: error: {small}: market.size: must be a whole number >= 0, got -1\n"
    )
    assert not (tmp_path / "results").exists()


def test_interrupted_run_keeps_the_finished_runs_and_exits_130(
    small, tmp_path, monkeypatch, capsys
):
    scenario = load_scenario(small)
    stop_seed = replicate_seeds(scenario)[0][1]
    real = sim.runner.simulate_columns

    def interrupted(scenario, *, seed, engine=None):
        if seed == stop_seed:
            raise KeyboardInterrupt
        return real(scenario, seed=seed, engine=engine)

    monkeypatch.setattr(sim.runner, "simulate_columns", interrupted)
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--quiet", "--executor", "serial"]) == 130
    err = capsys.readouterr().err
    assert "interrupted after 1 of 3 runs" in err
    assert f"resume with: retention-sim sweep --resume {out}" in err
    results = load_results(out)
    assert results.manifest["status"] == "interrupted"
    assert results.runs["run_id"].tolist() == ["p0000-r000"]
    assert results.timeseries["run_id"].unique().tolist() == ["p0000-r000"]
