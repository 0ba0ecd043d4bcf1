"""`make demo` timed: the ladder sweep's wall time, its run phase, and everything else.

Runs ``retention-sim sweep scenarios/ladder.toml`` (900 runs, figures and report included: what
``make demo`` runs) in a fresh process, a few times, and prints for each the wall time, the run
phase (``run_time_s`` in the manifest: from the first submission, worker start-up included, to
the last run committed), the rest (start-up, summary, figures and report: wall minus run phase)
and the driver's CPU per run during the run phase (``driver_cpu_ms_per_run``). The best of the
repeats is kept, as other load on the machine only slows a sweep.

With ``--baseline REV`` the sweep of git revision REV (``git archive`` into a temporary folder,
run with this virtual environment) alternates with the working tree's, so that load on the
machine hits both alike, and the two are printed side by side.

Targets (issue 16): ``make demo`` in at most 15 s on 2 cores; the rest at most 3 s; the driver
at most 2 ms of CPU per run. This script prints; it asserts nothing (timings are not tests).

Usage: ``python bench/demo.py [--repeats N] [--replicates N] [--baseline REV]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_CLI = "import sys; from sim.cli import main; sys.exit(main())"


def checkout(revision: str, into: Path) -> Path:
    """The files of git revision ``revision`` of this repository, in ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def sweep_once(code: Path, out: Path, replicates: int | None) -> dict[str, float]:
    """One ``retention-sim sweep`` of ``code``'s ladder.toml in a fresh process, into ``out``."""
    args = [sys.executable, "-c", RUN_CLI, "sweep", str(code / "scenarios" / "ladder.toml")]
    args += ["--out", str(out), "--quiet"]
    if replicates is not None:
        args += ["--replicates", str(replicates)]
    env = dict(os.environ, PYTHONPATH=str(code))  # ahead of the editable install
    started = time.perf_counter()
    subprocess.run(args, env=env, cwd=out.parent, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text())
    run = manifest["run_time_s"]
    return {
        "wall": wall,
        "run": run,
        "rest": wall - run,
        "cpu_ms": manifest.get("driver_cpu_ms_per_run", float("nan")),
        "runs": manifest["counts"]["runs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="sweeps per version (best kept)")
    parser.add_argument("--replicates", type=int, help="override scenario.replicates")
    parser.add_argument("--baseline", metavar="REV", help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"working tree": ROOT}
        if args.baseline:
            base = checkout(args.baseline, Path(tmp) / "baseline")
            versions = {args.baseline: base, **versions}
            # the baseline's first run compiles its numba cache: once, untimed
            sweep_once(base, Path(tmp) / "warm-up", 1)
        best: dict[str, dict[str, float]] = {}
        for i in range(args.repeats):
            for v, (name, code) in enumerate(versions.items()):
                numbers = sweep_once(code, Path(tmp) / f"sweep-{i}-{v}", args.replicates)
                print(
                    f"{name}: wall {numbers['wall']:.1f} s, run phase {numbers['run']:.1f} s, "
                    f"rest {numbers['rest']:.2f} s, driver {numbers['cpu_ms']:.2f} ms CPU per run",
                    flush=True,
                )
                kept = best.setdefault(name, dict(numbers))
                for key in ("wall", "run", "rest", "cpu_ms"):
                    kept[key] = min(kept[key], numbers[key])
    print(f"\nbest of {args.repeats} ({next(iter(best.values()))['runs']:.0f} runs each):")
    for name, kept in best.items():
        print(
            f"  {name:>14}: wall {kept['wall']:.1f} s, run phase {kept['run']:.1f} s, "
            f"rest (start-up, summary, figures, report) {kept['rest']:.2f} s, "
            f"driver {kept['cpu_ms']:.2f} ms CPU per run"
        )


if __name__ == "__main__":
    main()
