"""Calibration benchmark: two keys, 10 replicates of a 10,000-person market over 84 months, 100
trials, on the local process pool.

Prints:

1. the calibration's wall time (the issue's aim: within 60 s on 2 cores), its runs per second,
   and the fitted values with their ranges against the values that generated the data;
2. the ratio of that wall time to the time the same runs take on their own (one trial's 10 runs
   timed in this process, times 100 trials, over the workers): what Optuna, the likelihood, the
   journal and the pool add on top of the simulation.

The data are the model's own: one run at known values (``churn.base_prob`` 0.02,
``churn.base_polarization`` 0.3), observed every 6 months. Timings on a shared machine are
noisy: read the ratio, not the seconds. Results go to a temporary folder and are removed.

Usage: ``python bench/calibrate.py [--trials N] [--replicates N] [--workers N]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

DOC = {
    "scenario": {"name": "bench_calibrate", "seed": 84, "months": 84},
    "market": {"size": 10000},
    "churn": {"base_prob": 0.02, "base_polarization": 0.3},
    "firms": [{"name": "Firm", "service_level": "good"}],
}
TRUTH = {"churn.base_prob": 0.02, "churn.base_polarization": 0.3}
FIT = {"churn.base_prob": (0.005, 0.05), "churn.base_polarization": (0.0, 0.8)}
MONTHS = list(range(0, 85, 6))


def main() -> None:
    """Run the benchmark and print its numbers."""
    import pandas as pd

    from sim import calibrate, load_scenario, simulate
    from sim.calibrate import prepare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    frame = simulate(load_scenario(DOC), seed=20261130).set_index("step")
    data = pd.DataFrame(
        {"month": MONTHS, "retained": frame.loc[MONTHS, "cohort_retention"].to_numpy()}
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = calibrate(
            DOC,
            data,
            fit=FIT,
            trials=args.trials,
            replicates=args.replicates,
            out=Path(tmp) / "calibration",
            executor="local",
            workers=args.workers,
        )
        wall = time.perf_counter() - started
    setup, _ = prepare(DOC, data, FIT, None, args.trials, args.replicates, None)
    point = setup.point({k: (lo + hi) / 2 for k, (lo, hi) in FIT.items()})
    started = time.perf_counter()
    for seed in setup.seeds:
        simulate(point, seed=seed)
    one_trial = time.perf_counter() - started
    runs = args.trials * args.replicates
    alone = one_trial * args.trials / args.workers
    print(
        f"calibration: {args.trials} trials x {args.replicates} replicates of "
        f"{DOC['market']['size']:,} people over {DOC['scenario']['months']} months on "
        f"{args.workers} workers"
    )
    print(f"  wall time {wall:.1f} s (aim: 60 s), {runs / wall:.1f} runs/s")
    for key, (low, high) in result.ranges.items():
        print(
            f"  {key}: best {result.best[key]:.4g}, range {low:.4g} - {high:.4g} "
            f"(true {TRUTH[key]})"
        )
    for warning in result.summary["warnings"]:
        print(f"  warning: {warning}")
    print(
        f"  one trial's runs alone: {one_trial:.2f} s in this process; the calibration took "
        f"{wall / alone:.2f} x the runs alone over {args.workers} workers"
    )


if __name__ == "__main__":
    main()
