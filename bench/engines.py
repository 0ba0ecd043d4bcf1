"""Benchmark the two engines: throughput, their ratio, memory per person, and memory over many runs.

Run from the repository root::

    .venv/bin/python bench/engines.py            # the full table (a few minutes)
    .venv/bin/python bench/engines.py --quick    # 1k and 10k people only, 10 repeated runs

What it measures, on ``scenarios/baseline.toml`` (one firm, well-mixed market, 120 months) resized:

- **Throughput**: customer-months per second = the customers summed over months 1..120 divided by
  the wall time of the whole run (``simulate``: set-up, months and frame). Both engines run in this
  process, one after the other, so their ratio (population / agents) is measured under the same
  conditions. Small markets take the best of a few runs. Sizes: 1k, 10k, 100k people for both
  engines, and 1M for the population engine.
- **Memory per person**: peak resident memory above the process's resident memory just before the
  run, divided by the market size. Each (engine, size) is measured in a fresh child process (so
  that memory kept by earlier runs cannot hide a peak): it imports everything, warms up with a tiny
  run, resets the kernel's high-water mark (``/proc/self/clear_refs`` = 5), reads ``VmRSS``, runs,
  and reads ``VmHWM`` (the exact peak, kept by the kernel). Where the high-water mark cannot be
  reset, a thread samples ``/proc/self/statm`` every millisecond instead (may miss short peaks).
- **Many agent runs**: 50 agent-engine runs in one child process (2,000 people, 120 months, through
  ``simulate``, which releases Mesa 3.3's per-model registry after each run); resident memory after
  each run (after ``gc.collect()``) must stay flat. For contrast, the same loop without
  ``RetentionModel.release()`` (20 runs), which shows the growth the release prevents.

Targets (issue 3): population at least 30x the agent engine at 100k people; the 1M-person market
in at most 200 bytes per person. This script prints; it asserts nothing (timings are not tests).

**Against a git revision** (issue 16)::

    .venv/bin/python bench/engines.py --baseline main          # 1k, 10k, 100k, 1M people
    .venv/bin/python bench/engines.py --baseline HEAD~3 --quick  # 1k and 10k only

The population engine of revision REV (``git archive`` into a temporary folder) and the working
tree's each run in their own long-lived child process (imports and first calls done before any
timing), alternately: A, B, A, B, ... on the same scenario, size and seed, so that load on the
machine hits both alike. For ``scenarios/baseline.toml`` and ``scenarios/competition.toml`` (each
version's own copy) at 1k, 10k, 100k and 1M people it prints both throughputs (customer-months per
second, best of a few runs) and their ratio (working tree / REV), then the peak of ``tracemalloc``
during one run at 1M people (it sees numpy's buffers) per person, for both versions.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--serve" not in sys.argv:  # a --serve child imports sim from its PYTHONPATH instead
    sys.path.insert(0, str(ROOT))

from sim import load_scenario, simulate  # noqa: E402
from sim.scenario import Scenario  # noqa: E402

BASELINE = ROOT / "scenarios" / "baseline.toml"
PAGE = os.sysconf("SC_PAGE_SIZE")
SEED = 12345


def scenario(size: int, months: int = 120) -> Scenario:
    """The baseline scenario at ``size`` people."""
    return load_scenario(BASELINE, {"market.size": size, "scenario.months": months})


# --------------------------------------------------------------------------------------------
# Memory.


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def resident_bytes() -> int:
    """Current resident set size of this process, in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """Peak resident memory of a block, above the resident memory at its start (bytes).

    Uses the kernel's high-water mark (reset on entry) when possible, else a sampling thread.
    """

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.exact = _reset_peak()
        self.baseline = resident_bytes()
        self._peak = self.baseline
        self._stop = threading.Event()
        if not self.exact:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, resident_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        if self.exact:
            self._peak = _status_kib("VmHWM") * 1024
        else:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, resident_bytes())
        self.peak_above_baseline = max(self._peak - self.baseline, 0)


def memory_child(engine: str, size: int) -> dict:
    """In this (fresh) process: warm up, then one measured run. Returns bytes per person."""
    simulate(scenario(200, 3), seed=1, engine=engine)  # import and first-call costs
    with PeakMemory() as peak:
        simulate(scenario(size), seed=SEED, engine=engine)
    return {
        "bytes_per_person": peak.peak_above_baseline / size,
        "peak_mib": peak.peak_above_baseline / 2**20,
        "exact": peak.exact,
    }


def many_runs_child(runs: int, release: bool, size: int) -> dict:
    """In this (fresh) process: ``runs`` agent runs, resident memory after each (MiB)."""
    from sim.model import RetentionModel

    sc = scenario(size)
    rss = []
    for i in range(runs):
        if release:
            simulate(sc, seed=i, engine="agents")  # simulate releases the model
        else:
            RetentionModel(sc, seed=i).run()  # no release: Mesa 3.3 keeps the model alive
        gc.collect()
        rss.append(resident_bytes() / 2**20)
    return {"rss_mib": rss}


def in_child(*args: str) -> dict:
    """Run this script with ``args`` in a fresh interpreter; return its JSON answer."""
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Throughput.


def throughput(engine: str, size: int, repeats: int) -> tuple[float, float]:
    """(customer-months per second, seconds) of the fastest of ``repeats`` runs."""
    sc = scenario(size)
    best = float("inf")
    customer_months = 0
    for r in range(repeats):
        gc.collect()
        start = time.perf_counter()
        frame = simulate(sc, seed=SEED + r, engine=engine)
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best = elapsed
            customer_months = int(frame.loc[frame["step"] > 0, "customers"].sum())
    return customer_months / best, best


def main(quick: bool) -> None:
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    repeats = {1_000: 5, 10_000: 3, 100_000: 1, 1_000_000: 1}
    simulate(scenario(200, 3), seed=1, engine="agents")  # warm-up: imports, first calls
    simulate(scenario(200, 3), seed=1, engine="population")

    print("Throughput (baseline scenario, 120 months; customer-months per second; wall time)")
    print("and peak memory per person (fresh child process per row; bytes per person).")
    header = (
        f"{'people':>10} | {'agents cm/s':>12} {'time':>8} {'B/person':>9} | "
        f"{'population cm/s':>15} {'time':>7} {'B/person':>9} | {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    exact = True
    for size in sizes:
        row = f"{size:>10,} | "
        agents = None
        if size <= 100_000:
            agents, a_time = throughput("agents", size, repeats[size])
            a_mem = in_child("--memory", "agents", str(size))
            exact &= a_mem["exact"]
            row += f"{agents:>12,.0f} {a_time:>7.2f}s {a_mem['bytes_per_person']:>9,.0f} | "
        else:
            row += f"{'-':>12} {'-':>8} {'-':>9} | "
        population, p_time = throughput("population", size, repeats[size])
        p_mem = in_child("--memory", "population", str(size))
        exact &= p_mem["exact"]
        row += f"{population:>15,.0f} {p_time:>6.2f}s {p_mem['bytes_per_person']:>9,.1f} | "
        row += f"{population / agents:>6.1f}x" if agents else f"{'-':>7}"
        print(row, flush=True)
    how = "kernel high-water mark (VmHWM)" if exact else "1 ms sampling of /proc/self/statm"
    print(f"(memory: peak resident above the pre-run resident memory, by {how})")

    runs = 10 if quick else 50
    print(f"\nAgent engine, {runs} runs in one process (2,000 people, 120 months each):")
    for release, n in ((True, runs), (False, min(runs, 20))):
        rss = in_child("--many", str(n), "release" if release else "keep", "2000")["rss_mib"]
        marks = sorted({1, 2, min(10, n), n})
        at = ", ".join(f"run {i}: {rss[i - 1]:.1f}" for i in marks)
        per_run = (rss[-1] - rss[1]) / max(n - 2, 1)  # from run 2 on (run 1 warms caches up)
        label = "simulate (releases the model)" if release else "no release() (control)"
        print(f"  {label:<30} resident MiB after {at}; {per_run:+.2f} MiB per run after run 2")


# --------------------------------------------------------------------------------------------
# Against a git revision: two long-lived children (REV, working tree), run alternately.

COMPARED = ("baseline", "competition")  # scenarios/<name>.toml


def serve() -> None:
    """Child of `compare_revision`: run what stdin asks (one JSON line each), answer on stdout.

    The ``sim`` package is whichever comes first on ``sys.path`` (the parent puts the version's
    folder there). Request: ``{"scenario", "size", "seed", "memory"}``; answer: seconds and
    customer-months of one ``population`` run, or with ``memory``, the peak of tracemalloc.
    """
    import tracemalloc

    import sim
    from sim import load_scenario, simulate

    folder = Path(sim.__file__).resolve().parents[1]
    print(json.dumps({"sim": str(folder)}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        sc = load_scenario(
            folder / "scenarios" / f"{ask['scenario']}.toml", {"market.size": ask["size"]}
        )
        gc.collect()
        if ask["memory"]:
            tracemalloc.start()
            simulate(sc, seed=ask["seed"], engine="population")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(json.dumps({"peak_bytes": peak}), flush=True)
            continue
        start = time.perf_counter()
        frame = simulate(sc, seed=ask["seed"], engine="population")
        elapsed = time.perf_counter() - start
        customer_months = int(frame.loc[frame["step"] > 0, "customers"].sum())
        print(json.dumps({"seconds": elapsed, "customer_months": customer_months}), flush=True)


class _Child:
    """A `serve` child importing ``sim`` from ``folder``."""

    def __init__(self, folder: Path):
        env = dict(os.environ, PYTHONPATH=str(folder))
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=folder,
            env=env,
        )
        hello = self._read()
        if Path(hello["sim"]) != folder.resolve():
            raise RuntimeError(f"the child imported sim from {hello['sim']}, not {folder}")
        for name in COMPARED:  # imports, first calls (and any compilation) before timing
            self.ask(scenario=name, size=200, seed=1, memory=False)

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark child stopped (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, **request: object) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def compare_revision(revision: str, quick: bool, sizes: list[int] | None = None) -> None:
    """Print the throughput of the population engine at REV and in the working tree, and ratios
    (``sizes``: market sizes to run, default 1k to 1M, or 1k and 10k with ``quick``)."""
    import tempfile

    if sizes is None:
        sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    repeats = {1_000: 5, 10_000: 3, 100_000: 2}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        folder = Path(tmp)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        children = {"before": _Child(folder), "after": _Child(ROOT)}
        try:
            print(
                f"Population engine, {revision} ({commit}) vs the working tree, alternating runs; "
                "customer-months per second, best of a few runs (120 months)"
            )
            header = (
                f"{'scenario':<12} {'people':>10} | {'before cm/s':>12} {'time':>8} | "
                f"{'after cm/s':>12} {'time':>8} | {'ratio':>6}"
            )
            print(header)
            print("-" * len(header))
            for name in COMPARED:
                for size in sizes:
                    best = {k: (math.inf, 0) for k in children}
                    for r in range(repeats.get(size, 1)):
                        for key, child in children.items():
                            got = child.ask(scenario=name, size=size, seed=SEED + r, memory=False)
                            if got["seconds"] < best[key][0]:
                                best[key] = (got["seconds"], got["customer_months"])
                    rate = {k: cm / s for k, (s, cm) in best.items()}
                    print(
                        f"{name:<12} {size:>10,} | {rate['before']:>12,.0f} "
                        f"{best['before'][0]:>7.3f}s | {rate['after']:>12,.0f} "
                        f"{best['after'][0]:>7.3f}s | {rate['after'] / rate['before']:>5.2f}x",
                        flush=True,
                    )
            size = sizes[-1]
            print(f"\nPeak tracemalloc during one run of {size:,} people, bytes per person:")
            for name in COMPARED:
                peak = {
                    k: c.ask(scenario=name, size=size, seed=SEED, memory=True)["peak_bytes"]
                    for k, c in children.items()
                }
                print(
                    f"{name:<12} before {peak['before'] / size:>6.1f}   "
                    f"after {peak['after'] / size:>6.1f}",
                    flush=True,
                )
        finally:
            for child in children.values():
                child.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="compare the population engine of git revision REV with the working tree's",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", metavar="N", help="market sizes for --baseline"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar=("ENGINE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--many", nargs=3, metavar=("RUNS", "MODE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.baseline:
        compare_revision(args.baseline, args.quick, args.sizes)
    elif args.memory:
        print(json.dumps(memory_child(args.memory[0], int(args.memory[1]))))
    elif args.many:
        runs, mode, size = args.many
        print(json.dumps(many_runs_child(int(runs), mode == "release", int(size))))
    else:
        main(args.quick)
