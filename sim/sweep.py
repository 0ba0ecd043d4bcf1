"""Sweeps: every (point, replicate) run of a scenario, executed anywhere, stored crash-safely.

`run_sweep` is the one way many runs are made: ``retention-sim sweep`` calls it, ``retention-sim
run`` calls it for one point (`first_point`), and notebooks call it as ``sim.run_sweep``.

How a sweep goes:

1. `Plan`: the scenario's points (`Scenario.points`, each validated when the scenario was loaded)
   and one seed per (point, replicate), spawned from ``scenario.seed``
   (`sim.design.replicate_seeds`): by default replicate r of every point has the same seed
   (common random numbers), or with ``[sweep] seeds = "independent"`` one per run. Run ids are
   ``p0007-r012`` (`sim.runner.run_id`).
2. An executor behind the `concurrent.futures.Executor` interface runs `run_task` for each run:
   ``"serial"`` (in this process), ``"local"`` (a process pool; the default, one worker per CPU)
   or ``"dask"`` (Dask distributed futures, submitted with ``pure=False`` and ``retries``, on an
   existing scheduler or on a `LocalCluster` started for the sweep); any other
   ``concurrent.futures.Executor`` can be passed in. At most a few tasks per worker are in flight,
   and results are taken as they complete.
3. Only this process (the driver) writes. Workers send each run's frame as plain arrays; the
   driver labels them (run_id, replicate, seed and one column per swept key: `Plan.label`, an
   Arrow table built from the arrays, no pandas) and appends batches of runs to the results
   folder as numbered parts (`sim.store.ResultsWriter.write_part`); each part carries the records of the
   runs it commits, failed runs included. Memory is bounded by the batch size and the number of
   tasks in flight, not by the size of the sweep.
4. At the end (and at the end of a resume) ``runs.parquet`` and the summaries are rebuilt from the
   parts alone, one point at a time (`summarise`).

Failures: a run that raises is recorded (status "failed", its error text) and the others go on;
the sweep then ends "done_with_failures". A failed run has no rows, so it is not done: a resume
runs it again (with the same seed), and its new record replaces the old one.

Resume (`run_sweep(..., resume=True)`, ``retention-sim sweep --resume DIR``): after Ctrl-C, a
``kill -9`` or a crash, the scenario is reloaded from the folder's manifest (never from the
scenario file), its points and seeds must be those the manifest recorded, and only the runs
without rows in a completed part are run, into new parts. Because every run's rows depend only on
its scenario and seed, the rows read back (`sim.store.read_timeseries`, in run_id order) are those
an uninterrupted sweep gives, whatever the executor, the number of workers, the order of
completion or the number of resumes. Folders written by another format version or numpy version
are refused (`sim.store.check_compatible`).

Ctrl-C: the first one stops submitting, cancels what has not finished, commits what has, marks the
folder "interrupted" and raises `SweepInterrupted` (a ``KeyboardInterrupt``) whose message says how
to resume. A part being written when Ctrl-C comes is finished first.

What does not live here: one run (`runner.simulate`), the folder format (`store.py`), statistics
(`summary.py`), the command line (`cli.py`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import functools
import itertools
import logging
import math
import multiprocessing
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim import runner, store
from sim.design import Sweep, replicate_seeds
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.store import (
    IncompatibleResultsError,
    Results,
    ResultsWriter,
    git_info,
    now_iso,
    package_versions,
    part_paths,
    part_records,
    plain,
    read_part,
    to_json,
)
from sim.summary import SUMMARY_METRICS, final_table, replicate_summary

EXECUTORS = ("serial", "local", "dask")
BATCH_SIZE = 50  # runs per part, at most
BATCH_ROWS = 200_000  # monthly rows per part, at most (bounds the driver's memory)
FLUSH_SECONDS = 30.0  # a part at least this often while runs finish (bounds work lost in a crash)
TASKS_PER_WORKER = 2  # tasks in flight per worker
RUNS_PER_TASK = 4  # at most, on a process pool: its cost per task is shared by the runs
DASK_RETRIES = 2  # a task whose worker died is tried again this many times
# Columns read back for the summaries (the rest of a row is not needed there).
_SUMMARY_COLUMNS = (
    "run_id",
    "step",
    "firm",
    *SUMMARY_METRICS,
    *(c for c in ("cohort_retention",) if c not in SUMMARY_METRICS),
)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; what finished is in the folder, which can be resumed."""

    def __init__(self, path: Path, done: int, runs: int):
        self.path, self.done, self.runs = Path(path), done, runs
        super().__init__(
            f"interrupted after {done} of {runs} runs; the finished runs are in {path}; "
            f"resume with: retention-sim sweep --resume {shlex.quote(str(path))}"
        )


class SweepAborted(RuntimeError):
    """The executor broke (a worker process died); what finished is in the folder."""

    def __init__(self, path: Path, done: int, runs: int, cause: BaseException):
        self.path, self.done, self.runs = Path(path), done, runs
        super().__init__(
            f"the executor stopped working ({type(cause).__name__}: {str(cause).rstrip('.')}; "
            f"did a worker run out of memory?) after {done} of {runs} runs; the finished runs "
            f"are in {path}; "
            f"resume with: retention-sim sweep --resume {shlex.quote(str(path))}"
        )


# --------------------------------------------------------------------------------------------
# The plan: points, seeds, run ids, labels.


@dataclasses.dataclass(frozen=True)
class Task:
    """One run: a point's index, a replicate and its seed."""

    point: int
    replicate: int
    seed: int

    @property
    def run_id(self) -> str:
        return runner.run_id(self.point, self.replicate)


def _column_value(value: Any) -> Any:
    """A swept value as a table cell: tables and arrays (a network, TARP table) become JSON."""
    if isinstance(value, dict | list | tuple):
        return to_json(value, indent=None)
    return value


def swept_columns(values: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> pd.DataFrame:
    """One row per point, one column per swept key: the values as they appear in every row of
    a results folder (one dtype per key for the whole sweep, so every part has the same schema).

    Args:
        values: swept values per point (dotted key -> value).
        keys: the swept keys, in column order.
    """
    cells = [[_column_value(v[k]) for k in keys] for v in values]
    columns = pd.DataFrame(cells, columns=list(keys))
    for key in keys:  # a column mixing kinds of value (text and numbers) is text
        if columns[key].dtype == object:
            columns[key] = columns[key].astype(str)
    return columns


class Plan:
    """What a sweep runs: its points (swept values and validated scenarios) and run seeds.

    Attributes:
        scenario: the swept scenario.
        values: swept values per point (dotted key -> value).
        scenarios: the validated scenario of each point (no sweep).
        keys: the swept keys, in the order of the ``[sweep]`` table.
        seeds: ``seeds[point][replicate]``.
        columns: one row per point, one column per swept key: the values as they appear in every
            row (one dtype per key for the whole sweep, so every part has the same schema).
    """

    def __init__(self, scenario: Scenario):
        pairs = scenario.points()
        self.scenario = scenario
        self.values = [values for values, _ in pairs]
        self.scenarios = [point for _, point in pairs]
        self.keys = list(scenario.sweep.keys) if scenario.sweep is not None else []
        self.seeds = replicate_seeds(scenario, len(pairs))
        self.columns = columns = swept_columns(self.values, self.keys)
        self._swept = [
            {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
            for row in columns.to_dict("records")
        ]
        self._swept_arrays = {k: columns[k].to_numpy() for k in self.keys}
        self._schema: pa.Schema | None = None

    @property
    def runs(self) -> int:
        return len(self.values) * self.scenario.replicates

    def tasks(self) -> Iterator[Task]:
        """Every run, in (point, replicate) order."""
        for point, seeds in enumerate(self.seeds):
            for replicate, seed in enumerate(seeds):
                yield Task(point, replicate, seed)

    def swept(self, point: int) -> dict[str, Any]:
        """The point's swept values as table cells (plain Python values)."""
        return dict(self._swept[point])

    def label(self, runs: Sequence[Mapping[str, np.ndarray]], tasks: Sequence[Task]) -> pa.Table:
        """The rows of some runs, one after another, with ``run_id``, ``replicate`` and ``seed``
        in front and one column per swept key after: the table a part holds. The one place rows
        are labelled (once per batch, column by column, straight from the workers' arrays: it is
        the driver's main work per run, so no pandas here).

        Args:
            runs: each run's columns, as `run_task` returns them (name -> array, frame order).
            tasks: the run of each.
        """
        lengths = [len(next(iter(r.values()))) for r in runs]
        points = np.repeat([t.point for t in tasks], lengths)
        columns: dict[str, np.ndarray] = {
            "run_id": np.repeat(np.array([t.run_id for t in tasks], dtype=object), lengths),
            "replicate": np.repeat(np.array([t.replicate for t in tasks], np.int64), lengths),
            "seed": np.repeat(np.array([t.seed for t in tasks], np.int64), lengths),
        }
        for name in runs[0]:
            columns[name] = np.concatenate([r[name] for r in runs])
        for key in self.keys:
            columns[key] = self._swept_arrays[key][points]
        if self._schema is None:  # the schema pandas gives these rows, so parts read back alike
            first = pd.DataFrame({k: v[: lengths[0]] for k, v in columns.items()})
            self._schema = pa.Schema.from_pandas(first, preserve_index=False)
        arrays = [
            pa.array(columns[field.name], type=field.type, from_pandas=True)
            for field in self._schema
        ]
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def describe(self) -> dict[str, Any]:
        """The sweep's design, for the manifest."""
        sweep = self.scenario.sweep
        if sweep is None:
            return {"design": "none", "keys": []}
        out: dict[str, Any] = {"design": sweep.design, "keys": list(sweep.keys)}
        if sweep.samples is not None:
            out["samples"] = sweep.samples
        return out


def first_point(scenario: Scenario) -> Scenario:
    """The scenario reduced to its sweep's first point, still as a (one-point) sweep.

    Its points, seeds and run ids are those of the first point of the full sweep, and its rows
    keep the swept keys as columns: what ``retention-sim run`` runs.
    """
    if scenario.sweep is None:
        return scenario
    values = scenario.sweep.points()[0]
    one = Sweep(
        "grid",
        tuple((k, (v,)) for k, v in values.items()),
        seed=scenario.sweep.seed,
        seeds=getattr(scenario.sweep, "seeds", "common"),
        base=scenario.sweep.base,
    )
    return dataclasses.replace(scenario, sweep=one)


def scenario_input(scenario: Scenario) -> dict[str, Any]:
    """The document that reloads to this scenario with the same points (for the manifest).

    For a sweep this is the document as given (defaults derived afresh at every point) with its
    ``[sweep]`` table; `Scenario.to_dict` alone would freeze the defaults of the base scenario.
    """
    sweep = scenario.sweep
    if sweep is None or sweep.base is None:
        return plain(scenario.to_dict())
    doc = copy.deepcopy(dict(sweep.base))
    head = dict(doc.get("scenario", {}))
    head["name"] = scenario.name
    doc["scenario"] = head
    doc[sweep.TABLE] = sweep.to_dict()
    return plain(doc)


# --------------------------------------------------------------------------------------------
# The task (runs in a worker; must stay importable from the package: spawn- and notebook-safe).


def run_task(
    point: Scenario, point_index: int, replicate: int, seed: int, engine: str | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """One run, never raising for a model error.

    Args:
        point: the point's validated scenario (small and picklable).
        point_index: its index in the sweep.
        replicate: the replicate number.
        seed: the run seed.
        engine: the engine; default: the point's.

    Returns:
        ``(record, columns)``: the run record (run_id, point, replicate, seed, status, error,
        duration_s) and the run's frame (docs/model.md section 7.9) as its columns (name -> numpy array, in frame
        order), unlabelled (None if the run failed; the record then holds
        ``"ExceptionType: message"``). Plain arrays cost the driver less to receive and label
        than a DataFrame (`Plan.label`).
    """
    engine = engine or point.engine
    runner.engine_function(engine)  # import the engine before the clock starts
    started = time.perf_counter()
    try:
        columns, error = runner.simulate_columns(point, seed=seed, engine=engine), ""
    except Exception as err:
        columns, error = None, f"{type(err).__name__}: {err}"
    record = {
        "run_id": runner.run_id(point_index, replicate),
        "point": point_index,
        "replicate": replicate,
        "seed": seed,
        "status": "failed" if error else "done",
        "error": error,
        "duration_s": time.perf_counter() - started,
    }
    return record, columns


def run_tasks(
    runs: Sequence[tuple[Scenario, int, int, int, str | None]],
) -> list[tuple[dict[str, Any], dict[str, np.ndarray] | None]]:
    """Several runs in one task, one after another: `run_task` of each argument tuple."""
    return [run_task(*arguments) for arguments in runs]


def _init_worker(engine: str | None) -> None:
    """Process-pool worker start: leave Ctrl-C to the driver, import the engine once and, for
    the population engine, load its compiled loops (`sim.kernels.warm_up`, about 0.3 s from
    the cache) before the first run rather than during it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if engine is not None:
        runner.engine_function(engine)
    if engine == "population":
        from sim import kernels

        kernels.warm_up()


# --------------------------------------------------------------------------------------------
# Executors.


class SerialExecutor(cf.Executor):
    """Runs each task at once, in this process, when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # a KeyboardInterrupt goes up to the driver
            future.set_exception(err)
        else:
            future.set_result(result)
        return future


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass
class _Executor:
    pool: cf.Executor
    workers: int
    description: dict[str, Any]
    stop: Callable[[bool], None]  # stop(abandon): shut down; abandon = drop unfinished work
    runs_per_task: int = 1  # at most (`RUNS_PER_TASK` on a process pool)


@contextlib.contextmanager
def open_executor(
    executor: str | cf.Executor,
    workers: int | None,
    scheduler: str | None,
    tasks: int,
    engine: str | None,
) -> Iterator[_Executor]:
    """An executor for ``tasks`` runs, shut down on leaving (its work dropped on an error).

    Args:
        executor: ``"serial"``, ``"local"``, ``"dask"``, or a `concurrent.futures.Executor`
            (used as it is and left running).
        workers: worker processes for ``"local"`` and a started Dask cluster (default: one per
            CPU, at most one per task).
        scheduler: a Dask scheduler address (``"dask"`` only); default: start a LocalCluster.
        tasks: how many runs will be submitted.
        engine: the engine the workers should import as they start.
    """
    if isinstance(executor, cf.Executor):
        n = workers or default_workers()
        per_task = RUNS_PER_TASK if isinstance(executor, cf.ProcessPoolExecutor) else 1
        description = {"name": type(executor).__name__, "workers": n}
        yield _Executor(executor, n, description, _no_stop, per_task)
        return
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError("a scheduler address goes with the dask executor only")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    n = max(1, min(workers or default_workers(), tasks))
    if executor == "serial":
        if engine is not None:
            runner.engine_function(engine)
        yield _Executor(SerialExecutor(), 1, {"name": "serial", "workers": 1}, _no_stop)
    elif executor == "local":
        pool = cf.ProcessPoolExecutor(
            max_workers=n,
            mp_context=multiprocessing.get_context("spawn"),  # what Mesa sets anyway
            initializer=_init_worker,
            initargs=(engine,),
        )
        with _stopping(
            _Executor(pool, n, {"name": "local", "workers": n}, _stopper(pool), RUNS_PER_TASK)
        ) as opened:
            yield opened
    else:
        with _dask(n, workers, scheduler) as opened:
            yield opened


def _no_stop(abandon: bool) -> None:
    pass


@contextlib.contextmanager
def _stopping(opened: _Executor) -> Iterator[_Executor]:
    """Stop the executor on leaving: gracefully, or dropping its work after an error."""
    try:
        yield opened
    except BaseException:
        opened.stop(True)
        raise
    opened.stop(False)


def _stopper(pool: cf.ProcessPoolExecutor) -> Callable[[bool], None]:
    def stop(abandon: bool) -> None:
        if not abandon:
            pool.shutdown(wait=True)
            return
        # Python 3.11's pool cannot stop a running task: end its worker processes instead.
        processes = list(getattr(pool, "_processes", {}).values())
        # The pool's call queue may hold a task its feeder thread is still writing into a full
        # pipe that no ended worker will read: without this, exit would wait for it for ever.
        call_queue = getattr(pool, "_call_queue", None)
        if call_queue is not None:
            call_queue.cancel_join_thread()
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)

    return stop


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C for a moment: processes started meanwhile ignore it for good (an ignored
    signal stays ignored across exec, and Python then installs no handler of its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _dask(n: int, workers: int | None, scheduler: str | None) -> Iterator[_Executor]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask is a dependency
        raise RuntimeError(
            "the dask executor needs dask[distributed]: pip install 'dask[distributed]'"
        ) from err
    cluster = None
    if scheduler is None:
        with _sigint_ignored():  # inherited by the worker processes: Ctrl-C is the driver's
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",  # loopback only, like the scheduler
                silence_logs=logging.ERROR,
            )
        client = Client(cluster)
        description = {"name": "dask", "workers": n, "scheduler": "LocalCluster"}
    else:
        client = Client(scheduler)
        n = max(1, sum(client.nthreads().values()))
        description = {"name": "dask", "workers": n, "scheduler": scheduler}
    pool = client.get_executor(pure=False, retries=DASK_RETRIES)

    def stop(abandon: bool) -> None:
        pool.shutdown(wait=not abandon)  # without waiting: cancels what has not finished
        client.close()
        if cluster is not None:
            cluster.close()

    with _stopping(_Executor(pool, n, description, stop)) as opened:
        yield opened


# --------------------------------------------------------------------------------------------
# Ctrl-C.


class _Interrupts:
    """Turns the first Ctrl-C into a clean stop: at once, unless a part is being written, in
    which case right after it (a part is never left half-committed by the driver itself)."""

    def __init__(self) -> None:
        self.depth = 0  # > 0: inside a protected block
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        if not self.depth:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def protect(self, *, raise_after: bool = True) -> Iterator[None]:
        """A block Ctrl-C does not cut; a Ctrl-C during it is raised when the outermost
        protected block ends (unless ``raise_after`` is false: the caller is stopping anyway)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if raise_after and self.requested and not self.depth:
            raise KeyboardInterrupt


# --------------------------------------------------------------------------------------------
# The driver.


class _Batch:
    """Finished runs not yet in a part."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.runs: list[Mapping[str, np.ndarray]] = []  # each done run's columns
        self.tasks: list[Task] = []  # the run of each
        self.rows = 0
        self.since = math.inf  # when the first run of the batch finished

    def add(
        self, record: dict[str, Any], task: Task, columns: Mapping[str, np.ndarray] | None
    ) -> None:
        if not self.records:
            self.since = time.monotonic()
        self.records.append(record)
        if columns is not None:
            self.runs.append(columns)
            self.tasks.append(task)
            self.rows += len(next(iter(columns.values())))

    def full(self, batch_size: int) -> bool:
        return bool(self.records) and (
            len(self.records) >= batch_size
            or self.rows >= BATCH_ROWS
            or time.monotonic() - self.since >= FLUSH_SECONDS
        )


class _Progress:
    """Counts done and failed runs, and shows them on a tqdm bar (rate and ETA included).

    The bar starts no monitor thread (tqdm's, which outlives the bar): the driver stays a
    one-thread process, which `sim.report.draw_figures` needs to fork safely afterwards.
    """

    def __init__(self, total: int, done: int, name: str, show: bool):
        self.done, self.failed = done, 0
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            class Bar(tqdm):
                monitor_interval = 0

            self.bar = Bar(
                total=total,
                initial=done,
                desc=name,
                unit="run",
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self.bar.set_postfix(failed=0)

    def add(self, record: Mapping[str, Any]) -> None:
        if record["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            if record["status"] != "done":
                self.bar.set_postfix(failed=self.failed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _failure(task: Task, err: BaseException) -> dict[str, Any]:
    """The record of a run whose task did not come back (its worker died, it was cancelled)."""
    return {
        "run_id": task.run_id,
        "point": task.point,
        "replicate": task.replicate,
        "seed": task.seed,
        "status": "failed",
        "error": f"{type(err).__name__}: {err}",
        "duration_s": None,
    }


def _execute(
    plan: Plan,
    todo: Sequence[Task],
    writer: ResultsWriter,
    opened: _Executor,
    batch_size: int,
    progress: _Progress,
    interrupts: _Interrupts,
) -> None:
    """Run ``todo`` on the executor and commit the results in parts. Raises KeyboardInterrupt
    (after committing what finished) on Ctrl-C, and BrokenExecutor if the executor broke.

    On a process pool a task carries a few runs (`run_tasks`, at most `RUNS_PER_TASK`, and
    so few that every worker still gets at least 8 tasks), which shares the pool's cost per
    task; each run is still recorded, committed and resumed on its own."""
    tasks = iter(todo)
    pending: dict[cf.Future, list[Task]] = {}
    batch = _Batch()
    window = max(1, TASKS_PER_WORKER * opened.workers)
    per_task = max(1, min(opened.runs_per_task, len(todo) // (8 * opened.workers)))

    def arguments(task: Task) -> tuple[Scenario, int, int, int, str | None]:
        point = plan.scenarios[task.point]
        return point, task.point, task.replicate, task.seed, point.engine

    def take(future: cf.Future, chunk: list[Task]) -> None:
        try:
            results = future.result()
            if per_task == 1:
                results = [results]
        except cf.BrokenExecutor:
            raise
        except (Exception, cf.CancelledError) as err:
            results = [(_failure(task, err), None) for task in chunk]
        for (record, columns), task in zip(results, chunk, strict=True):
            record.update(plan.swept(task.point))
            batch.add(record, task, columns)
            progress.add(record)
            if batch.full(batch_size):
                commit()

    def commit() -> None:
        nonlocal batch
        if not batch.records:
            return
        with interrupts.protect():
            rows = plan.label(batch.runs, batch.tasks) if batch.runs else pd.DataFrame()
            writer.write_part(rows, runs=batch.records)
            batch = _Batch()

    future: cf.Future[Any]
    try:
        while True:
            while len(pending) < window and (chunk := list(itertools.islice(tasks, per_task))):
                if per_task == 1:
                    future = opened.pool.submit(run_task, *arguments(chunk[0]))
                else:
                    future = opened.pool.submit(run_tasks, [arguments(t) for t in chunk])
                pending[future] = chunk
            if not pending:
                break
            # Wake up in time to commit a batch that has waited FLUSH_SECONDS.
            left = FLUSH_SECONDS - (time.monotonic() - batch.since)
            timeout = max(0.05, left) if batch.records else None
            finished, _ = cf.wait(pending, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                take(future, pending.pop(future))
            if batch.full(batch_size):  # FLUSH_SECONDS passed
                commit()
        commit()
    except (KeyboardInterrupt, cf.BrokenExecutor):
        # Keep every run that finished; drop the rest (a resume runs them). A further Ctrl-C
        # does not cut this short.
        with interrupts.protect(raise_after=False):
            for future, chunk in list(pending.items()):
                if not future.cancel() and future.done() and not future.cancelled():
                    with contextlib.suppress(Exception):
                        take(future, chunk)
            commit()
        raise


# --------------------------------------------------------------------------------------------
# Summaries, rebuilt from the parts.


def summarise(
    path: Path, plan: Plan, records: Mapping[str, tuple[dict[str, Any], Path]]
) -> tuple[Iterator[pd.DataFrame], list[pd.DataFrame]]:
    """The summary of a results folder, a few points at a time, from its completed parts.

    Args:
        path: the results folder.
        plan: its plan.
        records: `sim.store.part_records` of the folder.

    Returns:
        ``(pieces, table)``: an iterator of summary pieces (``point``, the swept keys, ``firm``,
        ``step``, ``metric`` and the statistics of `replicate_summary`), to be written as they
        come; and a list that, once the iterator is exhausted, holds the end-of-run tables
        (`final_table`, with ``point`` in front). Points are taken in order, as many at a time
        as fit in `BATCH_ROWS` rows; each point's rows are read from the parts holding them and
        put in run_id order first, so the numbers do not depend on how the runs were split into
        parts.
    """
    where: dict[int, dict[Path, list[str]]] = {}
    for run, (record, part) in records.items():
        if record["status"] == "done":
            where.setdefault(int(record["point"]), {}).setdefault(part, []).append(run)
    table: list[pd.DataFrame] = []
    by = ["point", *plan.keys, "firm", "step"]
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in [*by, "metric", "n", "mean", "sd"]})

    def with_keys(frame: pd.DataFrame) -> pd.DataFrame:
        """The swept keys of each row's point, inserted after ``point`` (rows are grouped by
        point alone: the keys are functions of it, and grouping on them costs the driver)."""
        points = frame["point"].to_numpy()
        for i, key in enumerate(plan.keys, start=1):
            frame.insert(i, key, plan.columns[key].take(points).reset_index(drop=True))
        return frame

    point_of = {run: int(record["point"]) for run, (record, _) in records.items()}

    @functools.lru_cache(maxsize=4)  # neighbouring points share parts
    def part_rows(part: Path) -> tuple[pd.DataFrame, np.ndarray]:
        """A part's rows, and the point of each row."""
        rows = read_part(part, columns=_SUMMARY_COLUMNS)
        codes, runs = pd.factorize(rows["run_id"])
        return rows, np.array([point_of[run] for run in runs], np.int64)[codes]

    def point_rows(point: int) -> pd.DataFrame:
        pieces = [rows[points == point] for rows, points in map(part_rows, where[point])]
        rows = pd.concat(pieces).sort_values("run_id", kind="stable", ignore_index=True)
        rows.insert(0, "point", np.int64(point))
        return rows

    def summary_of(points: list[pd.DataFrame]) -> pd.DataFrame:
        rows = pd.concat(points, ignore_index=True)
        alike: dict[tuple, list[int]] = {}  # points with the same fees and discount rate
        for point in rows["point"].unique().tolist():
            scenario = plan.scenarios[point]
            fees = tuple((f.name, f.monthly_fee) for f in scenario.firms)
            alike.setdefault((fees, scenario.finance.discount_rate), []).append(point)
        finals = [
            final_table(rows[rows["point"].isin(points)], dict(fees), rate, by=["point", "firm"])
            for (fees, rate), points in alike.items()
        ]
        final = pd.concat(finals).sort_values("point", kind="stable", ignore_index=True)
        table.append(with_keys(final))
        return with_keys(replicate_summary(rows, by=["point", "firm", "step"]))

    def pieces() -> Iterator[pd.DataFrame]:
        chunk: list[pd.DataFrame] = []
        rows = 0
        for point in sorted(where):
            chunk.append(point_rows(point))
            rows += len(chunk[-1])
            if rows >= BATCH_ROWS:
                yield summary_of(chunk)
                chunk, rows = [], 0
        part_rows.cache_clear()
        if chunk or not table:
            yield summary_of(chunk) if chunk else empty

    return pieces(), table


# --------------------------------------------------------------------------------------------
# The result.


class SweepResult(Results):
    """A finished (or interrupted) sweep's results folder, as `sim.store.Results`, plus the
    end-of-run table.

    Attributes:
        table: per point and firm, the means over replicates of customers, monthly retention and
            revenue in the last month, and CLV per initial customer (`sim.summary.final_table`),
            with ``point`` and the swept keys in front.
    """

    def __init__(self, path: str | Path, table: pd.DataFrame):
        super().__init__(path)
        self.table = table


def end_table(path: Path, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The end-of-run table of a results folder (`SweepResult.table`), from its parts.

    Raises:
        IncompatibleResultsError: the folder's scenario cannot be reloaded.
    """
    plan = Plan(_resumed_scenario(Path(path), manifest))
    pieces, table = summarise(Path(path), plan, part_records(path))
    for _ in pieces:  # the tables come with the summary pieces
        pass
    return pd.concat(table, ignore_index=True) if table else pd.DataFrame()


def rerun(results: Results | str | Path, run_id: str, *, engine: str | None = None) -> pd.DataFrame:
    """One run of a results folder, run again from the folder alone.

    The run's scenario comes from the manifest (`Results.scenario_for`) and its seed from
    ``runs.parquet``; the rows are labelled as the folder's are (``run_id``, ``replicate``,
    ``seed`` in front, the swept keys after, with the folder's types), so for a run the folder
    holds they equal its rows in ``results.timeseries``.

    Args:
        results: a results folder, or its path.
        run_id: the run, such as ``"p0003-r001"``.
        engine: run on another engine than the one the folder used (default: the same).

    Raises:
        KeyError: the folder has no such run.
    """
    if not isinstance(results, Results):
        results = store.load_results(results)
    record = results.run_record(run_id)
    seed = int(record["seed"])
    frame = runner.simulate(results.scenario_for(run_id), seed=seed, engine=engine)
    frame.insert(0, "seed", np.int64(seed))
    frame.insert(0, "replicate", np.int64(record["replicate"]))
    frame.insert(0, "run_id", run_id)
    keys = results.manifest.get("swept_keys", [])
    point = swept_columns(results.manifest.get("points", []), keys).iloc[[int(record["point"])]]
    for key in keys:
        frame[key] = pd.Series(np.repeat(point[key].to_numpy(), len(frame)), dtype=point[key].dtype)
    return frame


def _counts(plan: Plan, records: Mapping[str, tuple[dict[str, Any], Path]], path: Path) -> dict:
    done = sum(r["status"] == "done" for r, _ in records.values())
    failed = len(records) - done
    return {
        "points": len(plan.values),
        "replicates": plan.scenario.replicates,
        "runs": plan.runs,
        "done": done,
        "failed": failed,
        "missing": plan.runs - done - failed,
        "parts": len(part_paths(path)),
    }


def _check_same(plan: Plan, manifest: Mapping[str, Any], given: Scenario | None) -> None:
    """Refuse to resume unless the folder's points and seeds are the plan's (and the scenario
    given, if any, is the folder's)."""
    if given is not None and plain(given.to_dict()) != manifest.get("scenario"):
        raise IncompatibleResultsError(
            "the scenario given is not the one this results folder was written with; resume "
            "without a scenario (it is read from the folder's manifest.json)"
        )
    if plain(plan.values) != manifest.get("points"):
        raise IncompatibleResultsError(
            "the sweep's points, rebuilt from the folder's manifest.json, differ from those it "
            "recorded (was it written by another version of retention-sim or scipy?)"
        )
    if plan.seeds != manifest.get("run_seeds"):
        raise IncompatibleResultsError(
            "the run seeds, rebuilt from the folder's manifest.json, differ from those it recorded"
        )


def _resumed_scenario(path: Path, manifest: Mapping[str, Any]) -> Scenario:
    source = str(path / "manifest.json")
    doc = manifest.get("scenario_input")
    if doc is None:
        raise IncompatibleResultsError(f"{source} has no scenario_input: it cannot be resumed")
    try:
        scenario = load_scenario(doc, source_name=source)
    except ScenarioError as err:
        raise IncompatibleResultsError(f"cannot reload the scenario: {err}") from None
    if plain(scenario.to_dict()) != manifest.get("scenario"):
        raise IncompatibleResultsError(
            f"the scenario in {source} does not reload to the scenario it recorded (was it "
            "written by another version of retention-sim?)"
        )
    return dataclasses.replace(scenario, source=manifest.get("scenario_file") or source)


def run_sweep(
    scenario: Scenario | str | Path | Mapping[str, Any] | None,
    out_dir: str | Path | None = None,
    *,
    executor: str | cf.Executor = "local",
    workers: int | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
    kind: str = "sweep",
    command: Sequence[str] | None = None,
) -> SweepResult:
    """Run every (point, replicate) of a scenario into a results folder, or resume one.

    Args:
        scenario: a `Scenario` or anything `load_scenario` accepts; with ``resume``, None (the
            scenario is read from the folder) or the folder's own scenario.
        out_dir: the results folder: new (absent or empty), or the one to resume. Default, as
            on the command line: ``<root>/<scenario name>/<kind>-YYYYmmdd-HHMMSS`` with root
            ``$SIM_RESULTS_DIR`` or ``results`` (`sim.store.results_root`); the folder chosen is
            said on stderr.
        executor: ``"local"`` (process pool), ``"serial"``, ``"dask"``, or any
            `concurrent.futures.Executor`. Results do not depend on it.
        workers: worker processes (default: one per CPU).
        resume: continue the folder ``out_dir``: run only what is missing.
        scheduler: a Dask scheduler address (``executor="dask"``); default: a LocalCluster.
        batch_size: runs per part, at most (parts are also cut at `BATCH_ROWS` rows and every
            `FLUSH_SECONDS`).
        progress: show a progress bar on stderr.
        kind: ``"sweep"``, or ``"run"`` for a one-point sweep (`first_point`).
        command: the command line to record in the manifest (default: this process's).

    Returns:
        The results: ``.summary``, ``.timeseries``, ``.runs``, ``.manifest``, ``.table``.

    Raises:
        ScenarioError: the scenario is invalid (nothing is written).
        OutputExistsError: ``out_dir`` is not empty (new sweep) or is being written.
        IncompatibleResultsError: resuming a folder of another format or numpy version, or of
            another scenario.
        SweepInterrupted: Ctrl-C; the folder is marked "interrupted" and can be resumed.
        SweepAborted: the executor broke; likewise.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    argv = list(command) if command is not None else [sys.executable, *sys.argv]
    given = None
    if scenario is not None and not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the results folder (out_dir)")
        writer = ResultsWriter.open(out_dir)
        try:
            given = scenario
            scenario = _resumed_scenario(writer.path, writer.manifest)
            plan = Plan(scenario)
            _check_same(plan, writer.manifest, given)
        except BaseException:
            writer.close()
            raise
    else:
        if scenario is None:
            raise ValueError("a scenario is needed (or resume=True with a results folder)")
        plan = Plan(scenario)
        unique = out_dir is None
        out = Path(out_dir) if out_dir is not None else store.default_out_dir(scenario.name, kind)
        manifest = {
            "kind": kind,
            "scenario": plain(scenario.to_dict()),
            "scenario_input": scenario_input(scenario),
            "scenario_file": scenario.source or None,
            "engine": scenario.engine,
            "root_seed": scenario.seed,
            "design": plan.describe(),
            "swept_keys": plan.keys,
            "points": plain(plan.values),
            "run_seeds": plan.seeds,
            "counts": _counts(plan, {}, out),
            "versions": package_versions(),
            "git": git_info(),
            "command": shlex.join(argv),
            "argv": argv,
            "cwd": os.getcwd(),
            "executor": None,
            "batch_size": batch_size,
            "resumes": [],
        }
        writer = ResultsWriter.create(out, manifest, unique=unique)
        if unique:
            print(f"{scenario.name}: writing results to {writer.path}", file=sys.stderr)
    with writer:
        return _drive(
            writer, plan, executor, workers, scheduler, batch_size, progress, resume, argv
        )


def _drive(
    writer: ResultsWriter,
    plan: Plan,
    executor: str | cf.Executor,
    workers: int | None,
    scheduler: str | None,
    batch_size: int,
    progress: bool,
    resume: bool,
    argv: list[str],
) -> SweepResult:
    records = part_records(writer.path) if resume else {}
    unknown = set(records) - {t.run_id for t in plan.tasks()}
    if unknown:
        raise IncompatibleResultsError(
            f"{writer.path} holds runs its sweep does not have: {', '.join(sorted(unknown)[:3])}"
        )
    done = {run for run, (record, _) in records.items() if record["status"] == "done"}
    todo = [t for t in plan.tasks() if t.run_id not in done]
    engines = {plan.scenarios[t.point].engine for t in todo}
    engine = engines.pop() if len(engines) == 1 else None
    started, cpu_started = time.perf_counter(), time.process_time()
    bar = _Progress(plan.runs, len(done), plan.scenario.name, progress)
    with _Interrupts() as interrupts:
        try:
            if todo:
                with open_executor(executor, workers, scheduler, len(todo), engine) as opened:
                    _record_session(writer, opened.description, resume, len(todo), argv)
                    _execute(plan, todo, writer, opened, batch_size, bar, interrupts)
            bar.close()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            return _finish(writer, plan, (elapsed, cpu) if todo else None, len(todo))
        except (KeyboardInterrupt, cf.BrokenExecutor) as stop:
            with interrupts.protect(raise_after=False):
                bar.close()
                counts = _close_interrupted(writer, plan)
            if isinstance(stop, KeyboardInterrupt):
                raise SweepInterrupted(writer.path, counts["done"], plan.runs) from None
            raise SweepAborted(writer.path, counts["done"], plan.runs, stop) from None
        except OSError:
            # A write failed (a full disk, a permission): close the folder as interrupted if it
            # can still be written; if not, it stays "running", which readers and a resume
            # handle alike (they rebuild from the parts), and the caller gets the first error.
            with interrupts.protect(raise_after=False), contextlib.suppress(OSError):
                bar.close()
                _close_interrupted(writer, plan)
            raise
        finally:
            bar.close()


def _close_interrupted(writer: ResultsWriter, plan: Plan) -> dict[str, int]:
    """Rebuild runs.parquet from the completed parts and mark the folder "interrupted".

    runs.parquet is written first: if that fails the status stays "running", so no reader ever
    trusts a runs.parquet older than the parts.
    """
    records = part_records(writer.path)
    writer.write_runs(_run_rows(records))
    counts = _counts(plan, records, writer.path)
    writer.finish("interrupted", counts=counts)
    return counts


def _record_session(
    writer: ResultsWriter, executor: dict[str, Any], resume: bool, runs: int, argv: list[str]
) -> None:
    """Note in the manifest which executor runs this session (and, for a resume, when and how)."""
    if resume:
        entry = {"at": now_iso(), "runs": runs, "command": shlex.join(argv), "executor": executor}
        writer.manifest.setdefault("resumes", []).append(entry)
        writer.update_manifest(status="running")
    elif writer.manifest.get("executor") is None:
        writer.update_manifest(executor=executor)


def _finish(
    writer: ResultsWriter, plan: Plan, timing: tuple[float, float] | None, ran: int
) -> SweepResult:
    """Rebuild runs.parquet and the summaries from the parts and close the manifest.

    ``timing``: the run phase's wall time and the driver's CPU time in it (every thread of this
    process: labelling, writing parts, receiving results; with the serial executor the runs
    too), in seconds; None if nothing ran.
    """
    records = part_records(writer.path)
    writer.write_runs(_run_rows(records))
    pieces, table = summarise(writer.path, plan, records)
    writer.write_summary(pieces)
    counts = _counts(plan, records, writer.path)
    status = "done_with_failures" if counts["failed"] else "done"
    fields: dict[str, Any] = {"counts": counts}
    if timing is not None:
        elapsed, cpu = timing
        fields["run_time_s"] = round(elapsed, 3)
        fields["runs_per_s"] = round(ran / elapsed, 3) if elapsed > 0 else None
        fields["driver_cpu_ms_per_run"] = round(1000 * cpu / ran, 3) if ran else None
    writer.finish(status, **fields)
    final = pd.concat(table, ignore_index=True) if table else pd.DataFrame()
    return SweepResult(writer.path, final)


def _run_rows(records: Mapping[str, tuple[dict[str, Any], Path]]) -> list[dict[str, Any]]:
    rows = []
    for record, _ in records.values():
        row = dict(record)
        if row.get("duration_s") is None:
            row["duration_s"] = math.nan
        rows.append(row)
    return rows
