"""sim/store.py: creating a results folder, atomic writes, parts, reading back, provenance."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from sim.store import (
    FORMAT_VERSION,
    RUNS_COLUMNS,
    IncompatibleResultsError,
    OutputExistsError,
    ResultsWriter,
    check_compatible,
    check_out_dir,
    default_out_dir,
    git_info,
    load_results,
    package_versions,
    part_paths,
    part_records,
    read_part_runs,
    read_timeseries,
)


def frame(run_id: str, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "replicate": int(run_id[-1]),
            "seed": 2**62 + int(run_id[-1]),
            "step": np.arange(n),
            "firm": "A",
            "customers": np.arange(n) * 10,
            "revenue": np.linspace(0.0, 1.0, n),
        }
    )


def listing(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_create_makes_the_folder_and_a_running_manifest(tmp_path):
    out = tmp_path / "a" / "b"
    writer = ResultsWriter.create(out, {"kind": "run", "root_seed": 5})
    assert writer.path == out
    assert listing(out) == ["figures", "manifest.json", "timeseries"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["status"] == "running"
    assert (manifest["kind"], manifest["root_seed"]) == ("run", 5)
    assert "created_at" in manifest


def test_create_accepts_an_empty_folder_and_refuses_a_non_empty_one(tmp_path):
    (tmp_path / "empty").mkdir()
    ResultsWriter.create(tmp_path / "empty", {})
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not empty"):
        ResultsWriter.create(full, {})
    assert listing(full) == ["notes.txt"]
    assert (full / "notes.txt").read_text() == "keep me"


def test_check_out_dir_refuses_a_file_and_a_non_empty_folder(tmp_path):
    check_out_dir(tmp_path / "absent")
    check_out_dir(tmp_path)  # empty
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputExistsError):
        check_out_dir(tmp_path / "f")
    with pytest.raises(OutputExistsError):
        check_out_dir(tmp_path)


def test_default_names_in_the_same_second_do_not_collide(tmp_path):
    when = dt.datetime(2026, 3, 4, 5, 6, 7)
    path = default_out_dir("My scenario/1", root=tmp_path, when=when)
    assert path == tmp_path / "My_scenario_1" / "run-20260304-050607"
    first = ResultsWriter.create(path, {}, unique=True)
    second = ResultsWriter.create(path, {}, unique=True)
    third = ResultsWriter.create(path, {}, unique=True)
    assert [first.path.name, second.path.name, third.path.name] == [
        "run-20260304-050607",
        "run-20260304-050607-2",
        "run-20260304-050607-3",
    ]


def test_parts_are_numbered_and_read_back_in_order(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    assert writer.write_part(frame("r0")) == 0
    assert writer.write_part(frame("r1")) == 1
    assert [p.name for p in part_paths(writer.path)] == ["part-00000.parquet", "part-00001.parquet"]
    back = read_timeseries(writer.path)
    expected = pd.concat([frame("r0"), frame("r1")], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["seed"].tolist() == [2**62] * 3 + [2**62 + 1] * 3


def test_temporary_and_foreign_files_are_never_read_as_data(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    writer.write_part(frame("r0"))
    ts = writer.path / "timeseries"
    (ts / ".part-00001.parquet.abc123.tmp").write_bytes(b"half a parquet file")
    (ts / "part-00002.parquet.tmp").write_bytes(b"garbage")
    (ts / "notes.parquet").write_bytes(b"garbage")
    assert [p.name for p in part_paths(writer.path)] == ["part-00000.parquet"]
    assert read_timeseries(writer.path)["run_id"].unique().tolist() == ["r0"]
    assert writer.next_part_number() == 1


def test_no_temporary_file_is_left_behind(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {"kind": "run"})
    writer.write_part(frame("r0"))
    writer.write_runs(pd.DataFrame([{"run_id": "r0", "replicate": 0, "seed": 1}]))
    writer.write_summary(pd.DataFrame({"firm": ["A"], "mean": [1.0]}))
    writer.finish("done", counts={"runs": 1})
    assert listing(writer.path) == [
        "figures",
        "manifest.json",
        "runs.parquet",
        "summary.csv",
        "summary.parquet",
        "timeseries",
        "timeseries/part-00000.parquet",
    ]


def test_runs_table_puts_standard_columns_first(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    records = [
        {
            "run_id": "p0000-r000",
            "replicate": 0,
            "seed": 11,
            "churn.rule": "tarp",
            "status": "failed",
            "error": "ValueError: boom",
            "duration_s": 0.5,
        }
    ]
    writer.write_runs(pd.DataFrame(records))
    runs = load_results(writer.path).runs
    assert runs.columns.tolist() == [*RUNS_COLUMNS, "churn.rule"]
    assert runs.iloc[0].to_dict() == {
        "run_id": "p0000-r000",
        "point": 0,  # read from the run id when the records lack it
        "replicate": 0,
        "seed": 11,
        "status": "failed",
        "error": "ValueError: boom",
        "duration_s": 0.5,
        "churn.rule": "tarp",
    }


def test_finish_records_status_time_and_counts(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {"kind": "run"})
    writer.finish("done_with_failures", counts={"runs": 3, "failed": 1})
    manifest = load_results(writer.path).manifest
    assert manifest["status"] == "done_with_failures"
    assert manifest["counts"] == {"runs": 3, "failed": 1}
    assert manifest["duration_s"] >= 0 and "finished_at" in manifest
    with pytest.raises(ValueError, match="status"):
        writer.finish("great")


def test_load_results_of_an_empty_run_and_of_a_non_results_folder(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    results = load_results(writer.path)
    assert results.timeseries.empty
    assert results.runs.columns.tolist() == list(RUNS_COLUMNS)
    with pytest.raises(FileNotFoundError, match="not a results folder"):
        load_results(tmp_path)


def test_manifest_is_strict_json(tmp_path):
    with pytest.raises(ValueError):
        ResultsWriter.create(tmp_path / "r", {"bad": float("nan")})
    assert not (tmp_path / "r").exists()
    writer = ResultsWriter.create(tmp_path / "s", {"n": np.int64(3), "t": (1, 2)})
    assert json.loads((writer.path / "manifest.json").read_text())["t"] == [1, 2]
    assert writer.manifest["n"] == 3


def test_versions_and_compatibility_check():
    versions = package_versions()
    assert set(versions) >= {"python", "sim", "mesa", "numpy", "pandas", "pyarrow"}
    assert versions["numpy"] == np.__version__
    ok = {"format_version": FORMAT_VERSION, "versions": {"numpy": np.__version__}}
    check_compatible(ok)
    with pytest.raises(IncompatibleResultsError, match="format_version"):
        check_compatible({**ok, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(IncompatibleResultsError, match=r"numpy 1\.0\.0"):
        check_compatible({**ok, "versions": {"numpy": "1.0.0"}})


def test_git_info_outside_a_checkout_is_none(tmp_path):
    assert git_info(tmp_path) is None


def test_git_info_of_a_checkout_names_the_commit_and_dirty_flag(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "one")
    clean = git_info(tmp_path)
    assert clean is not None and len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "a.txt").write_text("2")
    assert git_info(tmp_path)["dirty"] is True


def record(run_id: str, status: str = "done", error: str = "") -> dict:
    return {
        "run_id": run_id,
        "point": int(run_id[1:5]),
        "replicate": int(run_id[-3:]),
        "seed": 5,
        "status": status,
        "error": error,
        "duration_s": 0.25,
    }


def test_parts_carry_the_records_of_the_runs_they_commit(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    writer.write_part(frame("p0000-r001"), runs=[record("p0000-r001")])
    failed = record("p0000-r000", "failed", "ValueError: boom")
    writer.write_part(pd.DataFrame(), runs=[failed])  # a batch of failures only: no rows
    parts = part_paths(writer.path)
    assert read_part_runs(parts[1]) == [failed]
    records = part_records(writer.path)
    assert list(records) == ["p0000-r000", "p0000-r001"]  # in run_id order
    assert records["p0000-r001"] == (record("p0000-r001"), parts[0])
    # a later part's record of the same run wins (a failed run retried by a resume)
    writer.write_part(frame("p0000-r000"), runs=[record("p0000-r000")])
    assert part_records(writer.path)["p0000-r000"][0]["status"] == "done"
    # while the folder is "running", runs are read from the parts, not from runs.parquet
    runs = load_results(writer.path).runs
    assert runs["run_id"].tolist() == ["p0000-r000", "p0000-r001"]
    assert runs["status"].tolist() == ["done", "done"]


def test_timeseries_are_read_in_run_id_order_whatever_the_part_order(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    writer.write_part(pd.concat([frame("p0001-r002"), frame("p0000-r001")]))
    writer.write_part(frame("p0000-r000"))
    back = read_timeseries(writer.path)
    assert back["run_id"].unique().tolist() == ["p0000-r000", "p0000-r001", "p0001-r002"]
    assert back["step"].tolist() == [0, 1, 2] * 3  # order within a run kept


def test_a_folder_being_written_is_locked(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {"versions": package_versions()})
    with pytest.raises(OutputExistsError, match="another process"):
        ResultsWriter.open(writer.path)
    writer.close()
    with ResultsWriter.open(writer.path) as again:
        assert again.manifest["format_version"] == FORMAT_VERSION


def test_open_refuses_other_versions_and_removes_stale_temporary_files(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {"versions": package_versions()})
    writer.write_part(frame("p0000-r000"), runs=[record("p0000-r000")])
    stale = writer.path / "timeseries" / ".part-00001.parquet.x1y2.tmp"
    stale.write_bytes(b"PAR1 half a part")
    writer.update_manifest(versions={**package_versions(), "numpy": "1.0.0"})
    writer.close()
    with pytest.raises(IncompatibleResultsError, match=r"numpy 1\.0\.0"):
        ResultsWriter.open(writer.path)
    assert stale.exists()  # a refused folder is left alone
    manifest = json.loads((writer.path / "manifest.json").read_text())
    manifest["versions"]["numpy"] = np.__version__
    (writer.path / "manifest.json").write_text(json.dumps(manifest))
    with ResultsWriter.open(writer.path) as again:
        assert not stale.exists()
        assert again.next_part_number() == 1
    with pytest.raises(FileNotFoundError, match="not a results folder"):
        ResultsWriter.open(tmp_path)


def test_summary_pieces_are_written_one_after_another(tmp_path):
    writer = ResultsWriter.create(tmp_path / "r", {})
    pieces = [
        pd.DataFrame({"point": [0, 0], "firm": ["A", "B"], "mean": [1.0, np.nan]}),
        pd.DataFrame({"point": [1], "firm": ["A"], "mean": [3.0]}),
        pd.DataFrame({"point": pd.Series(dtype="int64"), "firm": [], "mean": []}),
    ]
    writer.write_summary(iter(pieces))
    summary = load_results(writer.path).summary
    assert summary["point"].tolist() == [0, 0, 1]
    assert summary["mean"].tolist()[::2] == [1.0, 3.0] and np.isnan(summary["mean"][1])
    csv = pd.read_csv(writer.path / "summary.csv")
    pd.testing.assert_frame_equal(csv, summary, check_dtype=False)
    writer.write_summary(iter([pieces[2]]))  # nothing but empty pieces: columns, no rows
    assert load_results(writer.path).summary.columns.tolist() == ["point", "firm", "mean"]
