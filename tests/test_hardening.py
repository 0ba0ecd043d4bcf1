"""Hardening (issue 7): bad input end to end, sweeps under faults, nothing from outside executed.

What tests/test_cli.py and tests/test_sweep.py already cover is not repeated here: this adds the
bad inputs they lack, kill -9 at chosen points (and in the middle of writing a part), write
failures, two writers on one folder through the CLI, foreign files in a results folder, and the
addresses the app and a Dask LocalCluster listen on.
"""

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import sim.store
from sim.cli import build_parser, main
from sim.store import (
    FORMAT_VERSION,
    CorruptResultsError,
    load_results,
    part_paths,
    read_timeseries,
)
from sim.sweep import open_executor, run_sweep

TINY = """\
[scenario]
name = "tiny"
months = 12
replicates = 3
seed = 11

[market]
size = 200

[[firms]]
name = "Us"
service_level = "good"

[[firms]]
name = "Them"
service_level = "acceptable"

[sweep]
"referrals.refer_prob" = [0, 0.25, 0.5]
"""
RUNS = 9


def tree(path: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``path``."""
    return {
        str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(path.rglob("*"))
    }


def rows(path: Path) -> pd.DataFrame:
    """A folder's monthly rows in a canonical order (the rows hold no timing columns)."""
    frame = read_timeseries(path)
    return frame.sort_values(["run_id", "step", "firm"], ignore_index=True)


def assert_same_rows(path: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(rows(path), rows(reference))
    timing = ["duration_s"]
    a, b = load_results(path).runs, load_results(reference).runs
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))
    assert a["status"].eq("done").all() and len(a) == RUNS


def temporaries(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> Path:
    """The uninterrupted sweep."""
    return run_sweep(tiny, tmp_path_factory.mktemp("ref") / "out", executor="serial").path


# --------------------------------------------------------------------------------------------
# Bad input through the command line: exit 2, a clear message, nothing written.


def _results_folder(tmp_path: Path, **manifest) -> None:
    out = tmp_path / "old"
    (out / "timeseries").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"status": "interrupted", **manifest}))
    (out / "timeseries" / ".part-00003.parquet.abc.tmp").write_bytes(b"half")  # left alone


BAD = {
    "scenario is a folder": (
        lambda t: (t / "folder.toml").mkdir(),
        ["run", "folder.toml", "--out", "out"],
        ["folder.toml", "is a directory"],
    ),
    "scenario is binary": (
        lambda t: (t / "binary.toml").write_bytes(b"\x80\x81\xfe\xff\x00[scenario]"),
        ["run", "binary.toml", "--out", "out"],
        ["binary.toml", "not UTF-8"],
    ),
    "TOML syntax error with line and column": (
        lambda t: (t / "bad.toml").write_text("[scenario]\nseed = 1\nmonths = = 3\n"),
        ["sweep", "bad.toml", "--out", "out"],
        ["bad.toml", "TOML syntax error", "line 3, column"],
    ),
    "unknown key in a file": (
        lambda t: (t / "typo.toml").write_text(TINY.replace("size = 200", "sise = 200")),
        ["run", "typo.toml", "--out", "out"],
        ["typo.toml", "market.sise", "did you mean 'size'"],
    ),
    "out-of-range firm value": (
        lambda t: (t / "fee.toml").write_text(TINY + "\n"),
        ["run", "fee.toml", "--set", "firms.1.monthly_fee=-3", "--out", "out"],
        ["firms.1.monthly_fee", ">= 0", "-3"],
    ),
    "out is a file": (
        lambda t: ((t / "ok.toml").write_text(TINY), (t / "out").write_text("mine")),
        ["sweep", "ok.toml", "--out", "out"],
        ["out", "exists and is not a folder"],
    ),
    "out is another folder": (
        lambda t: ((t / "ok.toml").write_text(TINY), (t / "out").mkdir(), (t / "out/x").touch()),
        ["sweep", "ok.toml", "--out", "out"],
        ["exists and is not empty"],
    ),
    "resume another format": (
        lambda t: _results_folder(t, format_version=1),
        ["sweep", "--resume", "old"],
        ["format_version 1", "start a new sweep"],
    ),
    "resume another numpy": (
        lambda t: _results_folder(t, format_version=FORMAT_VERSION, versions={"numpy": "1.0.0"}),
        ["sweep", "--resume", "old"],
        ["numpy 1.0.0", "cannot be continued here"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(
    case, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    make, argv, expected = BAD[case]
    make(tmp_path)
    before = tree(tmp_path)
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retention-sim: error: ") and "Traceback" not in err
    for text in expected:
        assert text in err, err
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------------------------
# kill -9 of the whole process group: after a chosen part, and while a part is being written.

CHILD = """
import os, signal, sys
import sim.store as store
from sim.sweep import run_sweep

scenario, out, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def die():
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the driver and its worker, as kill -9 -PGID

if mode == "after":  # once part n (numbered from 1) is in place
    write_part = store.ResultsWriter.write_part
    def after(self, frame, runs=None):
        number = write_part(self, frame, runs)
        if number + 1 == n:
            die()
        return number
    store.ResultsWriter.write_part = after
else:  # half of part n is on disk, under its temporary name
    write_table = store.pq.write_table
    def during(table, where, *args, **kwargs):
        write_table(table, where, *args, **kwargs)
        if os.path.basename(str(where)).startswith(f".part-{n - 1:05d}.parquet."):
            os.truncate(where, os.path.getsize(where) // 2)
            die()
    store.pq.write_table = during

if __name__ == "__main__":
    run_sweep(scenario, out, executor="local", workers=1, batch_size=1)
"""


@pytest.mark.parametrize(
    ("mode", "n"),
    [("after", 1), ("after", 3), ("after", 7), ("during", 5)],
    ids=["after part 1", "after part 3", "after part 7", "while writing part 5"],
)
def test_kill_9_at_any_point_then_resume_gives_the_uninterrupted_rows(
    mode, n, tiny, reference, tmp_path
):
    out = tmp_path / "out"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny), str(out), mode, str(n)],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    complete = n if mode == "after" else n - 1
    assert [p.name for p in part_paths(out)] == [f"part-{i:05d}.parquet" for i in range(complete)]
    killed = load_results(out)
    assert killed.status == "running"  # nobody closed it
    assert len(killed.runs) == complete  # rebuilt from the completed parts
    assert set(killed.timeseries["run_id"]) == set(killed.runs["run_id"])
    if mode == "during":
        [half] = temporaries(out)
        assert half.parent.name == "timeseries" and half.stat().st_size > 0

    resumed = run_sweep(None, out, resume=True, executor="serial", batch_size=1)
    assert resumed.status == "done" and resumed.counts["done"] == RUNS
    assert resumed.manifest["resumes"][0]["runs"] == RUNS - complete
    assert not temporaries(out)
    assert len(part_paths(out)) == RUNS  # batch size 1 throughout
    assert_same_rows(out, reference)


# --------------------------------------------------------------------------------------------
# Write failures: a full disk or a permission error while a part is written.


@pytest.mark.parametrize(
    ("error", "message", "lasting", "status"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied"),
            "Permission denied",
            False,
            "interrupted",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "No space left on device",
            False,
            "interrupted",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "No space left on device",
            True,
            "running",
        ),
    ],
    ids=["permission", "disk full", "disk stays full"],
)
def test_a_failed_part_write_stops_cleanly_and_a_resume_completes(
    error, message, lasting, status, tiny, reference, tmp_path, monkeypatch, capsys
):
    """Documented behaviour: `run_sweep` raises the OSError itself; the CLI exits 2 with
    ``cannot use the results folder DIR: <reason>`` and how to resume. The completed parts stay,
    the failed part leaves no file behind, the folder is marked "interrupted" if runs.parquet and
    the manifest can still be written (else it stays "running", never with a stale runs.parquet),
    and ``sweep --resume`` finishes the sweep."""
    real_table, real_text = sim.store.pq.write_table, sim.store.Path.write_text
    calls = []

    def failing(table, where, *args, **kwargs):
        if Path(where).name.startswith(".part-"):
            calls.append(where)
            if len(calls) == 4:  # the 4th part: half a file on disk, then the error
                real_table(table, where, *args, **kwargs)
                os.truncate(where, os.path.getsize(where) // 2)
                raise error
        if lasting and len(calls) >= 4:
            raise error
        return real_table(table, where, *args, **kwargs)

    def failing_text(path, *args, **kwargs):
        if lasting and len(calls) >= 4 and path.name.startswith("."):
            raise error
        return real_text(path, *args, **kwargs)

    monkeypatch.setattr(sim.store.pq, "write_table", failing)
    monkeypatch.setattr(sim.store.Path, "write_text", failing_text)
    out = tmp_path / "out"
    argv = ["sweep", "--executor", "serial", "--batch-size", "1", "--quiet"]
    assert main([*argv[:1], str(tiny_file(tmp_path)), "--out", str(out), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert f"retention-sim: error: cannot use the results folder {out}: {message}" in err
    assert f"retention-sim sweep --resume {out}` continues" in err
    assert "Traceback" not in err
    assert len(part_paths(out)) == 3 and not temporaries(out)
    for part in part_paths(out):
        assert pq.read_table(part).num_rows == (12 + 1) * 2  # whole parts only
    assert load_results(out).status == status
    assert len(load_results(out).runs) == 3  # the 3 parts' runs, from runs.parquet or the parts

    monkeypatch.undo()
    assert main(["sweep", "--resume", str(out), "--executor", "serial", "--quiet"]) == 0
    assert not temporaries(out)
    assert_same_rows(out, reference)


def tiny_file(folder: Path) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY)
    return path


# --------------------------------------------------------------------------------------------
# Two writers on one folder.


def test_a_second_sweep_on_a_folder_being_written_is_refused(reference, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    holder = subprocess.Popen(  # another process, holding the folder as a running sweep does
        [
            sys.executable,
            "-c",
            "import sys; from sim.store import ResultsWriter; w = ResultsWriter.open(sys.argv[1]);"
            " print('locked', flush=True); sys.stdin.read()",
            str(out),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = tree(out)
        assert main(["sweep", "--resume", str(out), "--executor", "serial", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"results folder {out} is being written by another process" in err
        assert tree(out) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # once the other process is gone, the lock goes with it
    assert main(["sweep", "--resume", str(out), "--executor", "serial", "--quiet"]) == 0


# --------------------------------------------------------------------------------------------
# Nothing from outside is executed.


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_foreign_files_are_refused_never_unpickled_or_evaluated(
    reference, tmp_path, monkeypatch, capsys
):
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_Payload(marker))
    tripwire = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: tripwire.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: tripwire.append(a))

    # a results folder whose first part is a pickle
    out = tmp_path / "evil"
    shutil.copytree(reference, out)
    (out / "timeseries" / "part-00000.parquet").write_bytes(payload)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    with pytest.raises(CorruptResultsError, match=r"part-00000\.parquet is not a readable"):
        _ = load_results(out).runs
    with pytest.raises(ValueError, match="Parquet"):
        _ = load_results(out).timeseries
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 2
    assert "part-00000.parquet is not a readable results part" in capsys.readouterr().err
    assert main(["plot", str(out)]) == 2
    assert "cannot read the results folder" in capsys.readouterr().err

    # a manifest that is a pickle, and one that is JSON but not an object
    for text in (payload, b"[1, 2]"):
        (out / "manifest.json").write_bytes(text)
        with pytest.raises(CorruptResultsError, match="is not a results manifest"):
            _ = load_results(out).manifest
        assert main(["sweep", "--resume", str(out), "--quiet"]) == 2
        assert "manifest.json is not a results manifest" in capsys.readouterr().err

    # a scenario file that is a pickle (binary, and the ASCII protocol 0)
    for protocol in (pickle.HIGHEST_PROTOCOL, 0):
        (tmp_path / "evil.toml").write_bytes(pickle.dumps(_Payload(marker), protocol=protocol))
        assert main(["run", str(tmp_path / "evil.toml"), "--out", str(tmp_path / "o")]) == 2
        assert "evil.toml: " in capsys.readouterr().err
        assert not (tmp_path / "o").exists()

    assert not marker.exists() and not tripwire


# --------------------------------------------------------------------------------------------
# Listening addresses.


def test_the_app_listens_on_loopback_by_default():
    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"


def _listening(pids: list[int]) -> set[tuple[int, str, int]]:
    import psutil

    out = set()
    for pid in pids:
        with_connections = psutil.Process(pid)
        for conn in with_connections.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                out.add((pid, conn.laddr.ip, conn.laddr.port))
    return out


def test_a_dask_local_cluster_started_for_a_sweep_listens_on_loopback_only():
    pytest.importorskip("dask.distributed")
    import psutil

    me = psutil.Process()
    before = _listening([me.pid])
    started = time.monotonic()
    with open_executor("dask", 1, None, 4, None) as opened:
        if time.monotonic() - started > 5:
            pytest.skip("starting a LocalCluster took more than 5 s here")
        assert opened.description["scheduler"] == "LocalCluster"
        pids = [me.pid, *(p.pid for p in me.children(recursive=True))]
        listening = _listening(pids) - before
    assert len(listening) >= 3  # scheduler, dashboard, worker (and its nanny)
    assert {ip for _, ip, _ in listening} <= {"127.0.0.1", "::1"}, listening
