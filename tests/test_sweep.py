"""sim/sweep.py: plans, executors, failures, interruption and resume, and `retention-sim sweep`.

The promise under test: the rows of a sweep (read back in run_id order) are the same whatever the
executor, the number of workers, the order in which runs finish, or how often the sweep was
interrupted and resumed; a failing run is recorded and the others complete; a folder is resumed
only by the format and numpy version that wrote it.
"""

import concurrent.futures as cf
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
import sim.runner
from conftest import interrupt_at
from sim.cli import main
from sim.scenario import load_scenario
from sim.store import (
    RUNS_COLUMNS,
    IncompatibleResultsError,
    load_results,
    part_paths,
    read_timeseries,
)
from sim.sweep import Plan, SweepInterrupted, first_point, run_sweep

TINY = """\
[scenario]
name = "tiny"
months = 12
replicates = 3
seed = 2024

[market]
size = 200

[[firms]]
name = "Us"
service_level = "good"

[[firms]]
name = "Them"
service_level = "acceptable"

[sweep]
"firms.0.service_level" = ["good", "excellent"]
"referrals.refer_prob" = [0, 0.25]
"""
POINTS, REPLICATES, MONTHS, FIRMS = 4, 3, 12, 2
# Long enough runs (about 0.1 s each) that a sweep can be stopped part-way.
SLOW = TINY.replace("size = 200", "size = 10000").replace("months = 12", "months = 120")
SLOW = SLOW.replace("replicates = 3", "replicates = 6").replace(
    '"firms.0.service_level" = ["good", "excellent"]\n', ""
)
SCRIPT = Path(sys.executable).parent / "retention-sim"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenarios") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> sim.SweepResult:
    """The uninterrupted sweep, run in this process."""
    return run_sweep(tiny, tmp_path_factory.mktemp("ref") / "out", executor="serial")


def assert_same_results(a, b) -> None:
    """Same rows, runs (timing aside) and summary."""
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    timing = ["duration_s"]
    pd.testing.assert_frame_equal(a.runs.drop(columns=timing), b.runs.drop(columns=timing))
    pd.testing.assert_frame_equal(a.summary, b.summary)


# --------------------------------------------------------------------------------------------
# The plan and the results of a sweep.


def test_the_manifest_records_the_run_phase_and_the_drivers_cpu_per_run(reference):
    m = reference.manifest
    runs = POINTS * REPLICATES
    # run_time_s is rounded to the millisecond (a serial sweep of 12 tiny runs takes about 20)
    half_ms = 0.0005
    assert runs / (m["run_time_s"] + half_ms) <= m["runs_per_s"] * (1 + 1e-6)
    assert m["runs_per_s"] <= runs / (m["run_time_s"] - half_ms) * (1 + 1e-6)
    assert m["driver_cpu_ms_per_run"] > 0  # serial: the runs' own CPU is in it (not a timing)


def test_the_progress_bar_leaves_no_thread_behind(tiny, tmp_path):
    import threading

    before = threading.active_count()
    run_sweep(tiny, tmp_path / "out", executor="serial", progress=True)
    assert threading.active_count() == before  # so the figures can be drawn in a fork


def test_plan_has_a_seed_per_point_and_replicate_in_a_fixed_order(tiny):
    scenario = load_scenario(tiny)
    plan = Plan(scenario)
    assert plan.keys == ["firms.0.service_level", "referrals.refer_prob"]
    assert plan.values[1] == {"firms.0.service_level": "good", "referrals.refer_prob": 0.25}
    assert plan.runs == POINTS * REPLICATES
    tasks = list(plan.tasks())
    assert [t.run_id for t in tasks[:4]] == ["p0000-r000", "p0000-r001", "p0000-r002", "p0001-r000"]
    seeds = sim.design.replicate_seeds(scenario, POINTS)
    assert [t.seed for t in tasks] == [s for point in seeds for s in point]
    # common random numbers: replicate r of every point has the same seed, replicates differ
    assert all(point == seeds[0] for point in seeds) and len(set(seeds[0])) == REPLICATES
    assert seeds[0] == sim.design.spawn_seeds(2024, REPLICATES)
    # one dtype per swept key for the whole sweep: 0 and 0.25 are both floats
    assert plan.columns["referrals.refer_prob"].tolist() == [0.0, 0.25, 0.0, 0.25]
    assert str(plan.columns["referrals.refer_prob"].dtype) == "float64"


def test_independent_seeds_give_every_run_its_own_seed_and_keep_point_0s(tiny, tmp_path):
    path = tmp_path / "independent.toml"
    path.write_text(TINY.replace("[sweep]\n", '[sweep]\nseeds = "independent"\n'))
    scenario = load_scenario(path)
    assert scenario.sweep.seeds == "independent"
    assert scenario.sweep.to_dict()["seeds"] == "independent"
    seeds = sim.design.replicate_seeds(scenario, POINTS)
    flat = [s for point in seeds for s in point]
    assert flat == sim.design.spawn_seeds(2024, POINTS * REPLICATES)
    assert len(set(flat)) == POINTS * REPLICATES
    assert seeds[0] == sim.design.replicate_seeds(load_scenario(tiny), POINTS)[0]


def test_simulate_replicates_gives_a_run_id_the_seed_the_sweep_gives_it(tiny, tmp_path, reference):
    # common random numbers (the default): point 3's own scenario, replicate by replicate
    plan = Plan(load_scenario(tiny))
    rows = sim.simulate_replicates(plan.scenarios[3], point=3)
    ours = rows[["run_id", "seed"]].drop_duplicates().reset_index(drop=True)
    theirs = reference.runs.loc[reference.runs["point"] == 3, ["run_id", "seed"]]
    pd.testing.assert_frame_equal(ours, theirs.reset_index(drop=True))
    stored = reference.timeseries[reference.timeseries["run_id"].str.startswith("p0003")]
    pd.testing.assert_frame_equal(
        rows, stored[rows.columns].reset_index(drop=True), check_dtype=False
    )
    # independent seeds: the seeds of point 3 of the sweep
    path = tmp_path / "independent.toml"
    path.write_text(TINY.replace("[sweep]\n", '[sweep]\nseeds = "independent"\n'))
    scenario = load_scenario(path)
    seeds = sim.simulate_replicates(scenario, point=3).groupby("run_id")["seed"].first()
    assert seeds.tolist() == Plan(scenario).seeds[3]


def test_a_sweep_writes_every_run_labelled_and_a_summary_per_point(tiny, reference):
    results = reference
    m = results.manifest
    assert m["kind"] == "sweep" and m["status"] == "done"
    assert m["swept_keys"] == ["firms.0.service_level", "referrals.refer_prob"]
    assert m["design"] == {"design": "grid", "keys": m["swept_keys"]}
    assert len(m["points"]) == POINTS
    assert m["counts"] == {
        "points": POINTS,
        "replicates": REPLICATES,
        "runs": POINTS * REPLICATES,
        "done": POINTS * REPLICATES,
        "failed": 0,
        "missing": 0,
        "parts": 1,
    }
    ts = results.timeseries
    assert len(ts) == POINTS * REPLICATES * (MONTHS + 1) * FIRMS
    assert ts.columns[:3].tolist() == ["run_id", "replicate", "seed"]
    assert ts.columns[-2:].tolist() == m["swept_keys"]
    # every run's rows are simulate() of its point with its recorded seed
    scenario = load_scenario(tiny)
    _, point = scenario.points()[3]
    seed = m["run_seeds"][3][2]
    rows = ts[ts["run_id"] == "p0003-r002"].reset_index(drop=True)
    assert (rows["seed"] == seed).all()
    assert (rows["firms.0.service_level"] == "excellent").all()
    assert (rows["referrals.refer_prob"] == 0.25).all()
    expected = sim.simulate(point, seed=seed)
    pd.testing.assert_frame_equal(rows[expected.columns], expected)

    runs = results.runs
    assert runs.columns.tolist() == [*RUNS_COLUMNS, *m["swept_keys"]]
    assert runs["run_id"].tolist() == [f"p{p:04d}-r{r:03d}" for p in range(4) for r in range(3)]
    assert runs["seed"].tolist() == [s for point in m["run_seeds"] for s in point]
    assert (runs["status"] == "done").all() and (runs["duration_s"] > 0).all()

    summary = results.summary
    assert summary.columns.tolist() == [
        "point",
        *m["swept_keys"],
        "firm",
        "step",
        "metric",
        "n",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
    ]
    assert len(summary) == POINTS * FIRMS * (MONTHS + 1) * 6
    final = summary[
        (summary["point"] == 3)
        & (summary["firm"] == "Us")
        & (summary["step"] == MONTHS)
        & (summary["metric"] == "customers")
    ]
    last = ts[(ts["step"] == MONTHS) & (ts["firm"] == "Us") & ts["run_id"].str.startswith("p0003")]
    assert final["n"].tolist() == [REPLICATES]
    assert final["mean"].tolist() == [last["customers"].mean()]
    pd.testing.assert_frame_equal(
        pd.read_csv(results.path / "summary.csv"), summary, check_dtype=False
    )
    assert results.table["point"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert results.table["customers"].iloc[-2] == last["customers"].mean()


def test_the_python_api_reads_a_folder_back_the_same_way(reference):
    again = sim.load_results(reference.path)
    assert_same_results(again, reference)
    assert again.status == "done" and again.counts == reference.counts


# --------------------------------------------------------------------------------------------
# Executors: the same rows whatever runs them.


def test_one_and_two_local_workers_give_identical_results(tiny, reference, tmp_path):
    one = run_sweep(tiny, tmp_path / "one", executor="local", workers=1, batch_size=5)
    two = run_sweep(tiny, tmp_path / "two", executor="local", workers=2, batch_size=2)
    assert one.manifest["executor"] == {"name": "local", "workers": 1}
    assert two.manifest["executor"] == {"name": "local", "workers": 2}
    assert len(part_paths(two.path)) == 6  # 12 runs, 2 per part
    assert_same_results(one, reference)
    assert_same_results(two, reference)


def test_a_process_pool_carries_several_runs_per_task_with_identical_results(tiny, tmp_path):
    """On a process pool a task carries a few runs (`sim.sweep.run_tasks`); every run is still
    committed on its own (parts of ``batch_size`` runs) and the rows are the serial sweep's."""
    scenario = load_scenario(tiny, {"scenario.replicates": 12})  # 48 runs: 3 per task on 2

    class Recording(cf.ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            self.sizes.append(len(args[0]) if fn.__name__ == "run_tasks" else 1)
            return super().submit(fn, *args, **kwargs)

    with Recording(2, multiprocessing.get_context("spawn")) as pool:
        pool.sizes = []
        pooled = run_sweep(scenario, tmp_path / "pool", executor=pool, workers=2, batch_size=5)
    assert sum(pool.sizes) == 48 and set(pool.sizes) == {3}
    assert len(part_paths(pooled.path)) == 10  # 48 runs, 5 per part: per run, not per task
    serial = run_sweep(scenario, tmp_path / "serial", executor="serial", batch_size=5)
    assert_same_results(pooled, serial)


def test_a_dask_local_cluster_gives_identical_results(tiny, reference, tmp_path):
    out = run_sweep(tiny, tmp_path / "dask", executor="dask", workers=2, batch_size=4)
    assert out.manifest["executor"] == {"name": "dask", "workers": 2, "scheduler": "LocalCluster"}
    assert_same_results(out, reference)


def test_any_concurrent_futures_executor_can_run_a_sweep(tiny, reference, tmp_path):
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        out = run_sweep(tiny, tmp_path / "threads", executor=pool, batch_size=3)
    assert out.manifest["executor"]["name"] == "ThreadPoolExecutor"
    assert_same_results(out, reference)


# --------------------------------------------------------------------------------------------
# Failures.


def failing(monkeypatch, tiny, runs: set[tuple[int, int]]) -> None:
    """Make the runs given as (point, seed) raise (with common random numbers a seed alone
    names one replicate of every point)."""
    real = sim.runner.simulate_columns
    points = Plan(load_scenario(tiny)).scenarios

    def flaky(scenario, *, seed, engine=None):
        if (points.index(scenario), seed) in runs:
            raise RuntimeError(f"engine exploded on {seed}")
        return real(scenario, seed=seed, engine=engine)

    monkeypatch.setattr(sim.runner, "simulate_columns", flaky)


def test_a_failing_run_is_recorded_the_rest_complete_and_a_resume_reruns_it(
    tiny, reference, tmp_path, monkeypatch
):
    bad = reference.manifest["run_seeds"][2][1]
    failing(monkeypatch, tiny, {(2, bad)})
    with cf.ThreadPoolExecutor(max_workers=2) as pool:  # finishing out of order
        out = run_sweep(tiny, tmp_path / "out", executor=pool, batch_size=2)
    assert out.status == "done_with_failures" and out.failed == 1
    assert out.counts["done"] == POINTS * REPLICATES - 1
    failed = out.runs[out.runs["status"] == "failed"]
    assert failed["run_id"].tolist() == ["p0002-r001"]
    assert failed["error"].tolist() == [f"RuntimeError: engine exploded on {bad}"]
    assert failed["seed"].tolist() == [bad]
    assert failed["firms.0.service_level"].tolist() == ["excellent"]
    assert "p0002-r001" not in set(out.timeseries["run_id"])
    assert out.summary.loc[out.summary["point"] == 2, "n"].max() == REPLICATES - 1

    monkeypatch.undo()
    again = run_sweep(None, out.path, resume=True, executor="serial")
    assert again.status == "done" and again.failed == 0
    assert again.manifest["resumes"][0]["runs"] == 1
    assert_same_results(again, reference)


def test_the_cli_exits_1_with_a_count_of_failed_runs(tiny, tmp_path, monkeypatch, capsys):
    scenario = load_scenario(tiny)
    seeds = sim.design.replicate_seeds(scenario, POINTS)
    failing(monkeypatch, tiny, {(0, seeds[0][0]), (3, seeds[3][2])})
    out = tmp_path / "out"
    argv = ["sweep", str(tiny), "--out", str(out), "--executor", "serial", "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "2 of 12 runs failed (first: p0000-r000: RuntimeError: engine exploded" in captured.err
    assert f"retention-sim sweep --resume {out}` runs them again" in captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith("tiny: 12 runs (4 points x 3 replicates) x 12 months")
    assert lines[1].split()[:3] == ["firms.0.service_level", "referrals.refer_prob", "firm"]
    assert len(lines) == 1 + 2 + POINTS * FIRMS + 1 + 1  # header, table, note, results
    assert lines[-1] == f"results: {out}"


# --------------------------------------------------------------------------------------------
# Interruption and resume.


def sweep_in_subprocess(scenario: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``retention-sim sweep`` in its own process group, as a terminal would start it."""
    return subprocess.Popen(
        [str(SCRIPT), "sweep", str(scenario), "--out", str(out), "--batch-size", "1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_parts(out: Path, process: subprocess.Popen, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(part_paths(out)) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no parts appeared"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> tuple[Path, sim.SweepResult]:
    folder = tmp_path_factory.mktemp("slow")
    path = folder / "slow.toml"
    path.write_text(SLOW)
    return path, run_sweep(path, folder / "reference", executor="serial")


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_a_sweep_killed_part_way_resumes_to_identical_results(slow, tmp_path):
    scenario, reference = slow
    out = tmp_path / "out"
    process = sweep_in_subprocess(scenario, out, "--executor", "local", "--workers", "1")
    wait_for_parts(out, process, 2)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker, mid-sweep
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    killed = load_results(out)
    assert killed.status == "running"  # nobody closed it
    done = set(killed.runs["run_id"])  # rebuilt from the completed parts
    assert 2 <= len(done) < reference.counts["runs"]
    assert not (out / "runs.parquet").exists() and not (out / "summary.parquet").exists()
    partial = read_timeseries(out)
    assert set(partial["run_id"]) == done

    resumed = run_sweep(None, out, resume=True, executor="serial", batch_size=3)
    assert resumed.status == "done"
    assert resumed.manifest["resumes"][0]["runs"] == reference.counts["runs"] - len(done)
    assert_same_results(resumed, reference)


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_ctrl_c_stops_cleanly_says_how_to_resume_and_the_resume_completes(slow, tmp_path, capsys):
    scenario, reference = slow
    out = tmp_path / "out"
    process = sweep_in_subprocess(scenario, out, "--executor", "local", "--workers", "2")
    wait_for_parts(out, process, 1)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"resume with: retention-sim sweep --resume {out}" in stderr
    stopped = load_results(out)
    assert stopped.status == "interrupted"
    assert (out / "runs.parquet").exists()
    assert stopped.counts["done"] + stopped.counts["missing"] == reference.counts["runs"]
    assert stopped.counts["done"] < reference.counts["runs"]

    assert main(["sweep", "--resume", str(out), "--executor", "serial", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"results: {out}"
    assert_same_results(load_results(out), reference)


def test_ctrl_c_in_process_commits_finished_runs_then_raises(
    tiny, reference, tmp_path, monkeypatch
):
    point_1 = Plan(load_scenario(tiny)).scenarios[1]  # the seed alone is every point's
    interrupt_at(monkeypatch, reference.manifest["run_seeds"][1][1], point_1)
    with pytest.raises(SweepInterrupted, match="interrupted after 4 of 12 runs") as caught:
        run_sweep(tiny, tmp_path / "out", executor="serial", batch_size=10)
    assert isinstance(caught.value, KeyboardInterrupt)
    stopped = load_results(tmp_path / "out")
    assert stopped.status == "interrupted"
    assert stopped.runs["run_id"].tolist() == [
        "p0000-r000",
        "p0000-r001",
        "p0000-r002",
        "p0001-r000",
    ]
    monkeypatch.undo()
    assert_same_results(
        run_sweep(None, tmp_path / "out", resume=True, executor="serial"), reference
    )


def test_a_half_written_part_is_never_read_as_data(tiny, reference, tmp_path):
    out = run_sweep(tiny, tmp_path / "out", executor="serial", batch_size=5).path
    parts = part_paths(out)
    assert len(parts) == 3
    # A crash while writing part 3 leaves only its temporary file; a crash can never leave a
    # renamed part half-written, so simulate that as the last part going missing.
    half = parts[-1].read_bytes()[: len(parts[-1].read_bytes()) // 2]
    parts[-1].unlink()
    temporary = out / "timeseries" / ".part-00002.parquet.k3j2.tmp"
    temporary.write_bytes(half)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "running"
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert set(load_results(out).timeseries["run_id"]) == {
        f"p{p:04d}-r{r:03d}" for p in range(4) for r in range(3)
    } - {"p0003-r001", "p0003-r002"}
    resumed = run_sweep(None, out, resume=True, executor="serial")
    assert not temporary.exists()
    assert [p.name for p in part_paths(out)] == [f"part-0000{i}.parquet" for i in range(3)]
    assert_same_results(resumed, reference)


def test_a_finished_sweep_resumes_to_itself(reference, tmp_path, capsys):
    assert main(["sweep", "--resume", str(reference.path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 12 runs (4 points x 3 replicates)" in out
    assert_same_results(load_results(reference.path), reference)


def test_resume_refuses_another_numpy_another_format_and_another_scenario(
    tiny, reference, tmp_path, capsys
):
    out = run_sweep(first_point(load_scenario(tiny)), tmp_path / "one", executor="serial").path
    manifest = json.loads((out / "manifest.json").read_text())
    before = sorted(p.name for p in (out / "timeseries").iterdir())

    def rewrite(**changes):
        (out / "manifest.json").write_text(json.dumps({**manifest, **changes}))

    rewrite(versions={**manifest["versions"], "numpy": "1.26.0"})
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "written with numpy 1.26.0" in err and "would not be identical" in err
    rewrite(format_version=1)
    with pytest.raises(IncompatibleResultsError, match="format_version 1"):
        run_sweep(None, out, resume=True)
    rewrite()
    with pytest.raises(IncompatibleResultsError, match="not the one"):
        run_sweep(tiny, out, resume=True)  # the full sweep is not this one-point folder
    assert sorted(p.name for p in (out / "timeseries").iterdir()) == before
    assert main(["sweep", "--resume", str(tmp_path), "--quiet"]) == 2
    assert "not a results folder" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--resume", str(out)]) == 2
    assert "give no SCENARIO" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Bad sweep tables fail before any run.


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('"churn.leave_prb" = [0.5, 0.9]', ["churn.leave_prb", "unknown key", "leave_prob"]),
        ('"churn.leave_prob" = []', ["sweep.churn.leave_prob", "non-empty list"]),
        ('"churn.leave_prob" = [0.5, "often"]', ["churn.leave_prob='often'", "probability"]),
        ('"market.size" = [100, 100]', ["sweep.market.size", "distinct"]),
        ('"firms.3.service_level" = ["good"]', ["firms.3.service_level", "index must be 0..1"]),
    ],
    ids=["unknown key", "empty list", "wrong type", "repeated value", "no such firm"],
)
def test_bad_sweep_tables_fail_before_any_run(table, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text(TINY.split("[sweep]")[0] + "[sweep]\n" + table + "\n")
    assert main(["sweep", "bad.toml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retention-sim: error: bad.toml: sweep") and "Traceback" not in err
    for text in expected:
        assert text in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_sweep_usage_errors(tiny, tmp_path, capsys):
    assert main(["sweep"]) == 2
    assert "give a SCENARIO file to sweep, or --resume DIR" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--workers", "0"]) == 2
    assert "--workers: must be a whole number >= 1" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--executor", "serial", "--scheduler", "tcp://x:1"]) == 2
    assert "--scheduler goes with --executor dask" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
