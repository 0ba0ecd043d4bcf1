"""The command line: ``retention-sim run | sweep | ladder | validate | ...``.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments and
``_cmd_<name>(args, argv) -> int`` does the work; `COMMANDS` lists them, so adding ``sweep``,
``plot``, ``app`` or ``check`` is one more pair and one more line. Heavy imports (Mesa, pandas,
matplotlib) happen inside the commands that need them, so ``ladder`` and ``--help`` are quick.

Exit status: 0 success; 1 some runs failed (they are recorded in ``runs.parquet``); 2 bad input
(a usage error, an invalid scenario or override, an output folder that is not empty, a folder that
cannot be resumed here), in which case nothing is written; 130 interrupted (the message says how to
resume). Errors go to stderr as ``retention-sim: error: ...``, never as a traceback.

What does not live here: validation (`scenario.py` checks every key once), running (`runner.py`,
`sweep.py`), the results format (`store.py`), statistics (`summary.py`) and drawing (`plots.py`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim import formatting
from sim.design import SWEEP_SEEDS
from sim.formatting import count, money, share
from sim.ladder import RUNG_FIELDS, Ladder
from sim.scenario import ENGINES, Scenario, ScenarioError

if TYPE_CHECKING:  # imported when needed: the CLI starts fast
    import pandas as pd

    from sim.store import Results
    from sim.sweep import SweepResult

PROG = "retention-sim"


class CliError(Exception):
    """A user-facing failure: ``str(err)`` is printed after ``retention-sim: error:``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _UsageError(Exception):
    def __init__(self, code: int):
        self.code = code


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors read ``retention-sim: error: ...`` and do not exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise _UsageError(2)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            print(message, file=sys.stderr, end="")
        raise _UsageError(status)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Plain-text tables.


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """Columns aligned with two spaces between; columns in ``numeric`` right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


# --------------------------------------------------------------------------------------------
# Shared helpers.


def _load(path: str, overrides: list[str]) -> Scenario:
    """Load and validate a scenario file with ``key=value`` overrides (ScenarioError if bad)."""
    from sim.scenario import load_scenario, parse_override

    for item in overrides:  # a malformed override is the command line's fault, not the file's
        parse_override(item, "--set")
    return load_scenario(path, overrides=overrides or None)


def _describe(scenario: Scenario) -> str:
    n_firms = len(scenario.firms)
    points = len(scenario.sweep.points()) if scenario.sweep is not None else 1
    return (
        f"{n_firms} firm{'s' * (n_firms != 1)} ({', '.join(scenario.firm_names)}), "
        f"{len(scenario.ladder)} rungs ({scenario.ladder.name}), {scenario.months} months, "
        f"{scenario.replicates} replicate{'s' * (scenario.replicates != 1)}, "
        f"{points} sweep point{'s' * (points != 1)}, engine {scenario.engine}"
    )


# --------------------------------------------------------------------------------------------
# ladder


def _add_ladder(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from sim.ladder import BUILTIN_LADDERS, DEFAULT_LADDER

    p = sub.add_parser(
        "ladder",
        help="show a service ladder's rungs as a table",
        description="Show the rungs of a built-in ladder, or of a scenario's ladder, as a table.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--ladder",
        metavar="NAME",
        default=None,
        help=f"built-in ladder: {', '.join(BUILTIN_LADDERS)} (default {DEFAULT_LADDER})",
    )
    which.add_argument(
        "--scenario", metavar="FILE", help="show this scenario's ladder (named or inline)"
    )
    p.add_argument(
        "--format", choices=("text", "csv"), default="text", help="output format (default text)"
    )
    return p


LADDER_HEADER = (
    "#",
    "id",
    "label",
    "quality",
    "resolved",
    "quickly",
    "cost",
    "months to be recognised",
    "investment",
)
LADDER_LEGEND = (
    "quality: experienced quality of an interaction on a 0-10 scale, mean ± sd.\n"
    "resolved: chance a complaint is resolved; quickly: chance a resolved complaint is resolved\n"
    "quickly. cost: service cost per customer-month. months to be recognised: months the rung\n"
    "must be delivered in a row before the market recognises it (0 = at once). investment:\n"
    "one-off cost of a department climbing to the rung (0 in the built-in ladders)."
)


def ladder_rows(ladder: Ladder) -> list[list[str]]:
    """The rungs of a ladder as table cells, lowest first, in `LADDER_HEADER` order."""
    return [
        [
            str(i),
            r.id,
            r.label,
            f"{r.quality_mean:.1f} ± {r.quality_sd:.1f}",
            share(r.resolve_prob),
            share(r.quick_resolve_prob),
            money(r.cost_per_customer),
            str(r.sustain_months),
            formatting.money(r.investment),
        ]
        for i, r in enumerate(ladder.rungs)
    ]


def _cmd_ladder(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.ladder import BUILTIN_LADDERS, DEFAULT_LADDER

    if args.scenario is not None:
        scenario = _load(args.scenario, [])
        ladder, origin = scenario.ladder, f"scenario {args.scenario}"
    else:
        name = args.ladder or DEFAULT_LADDER
        if name not in BUILTIN_LADDERS:
            import difflib

            close = difflib.get_close_matches(name, list(BUILTIN_LADDERS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CliError(
                f"--ladder: unknown ladder {name!r}{hint}; built-in ladders: "
                f"{', '.join(BUILTIN_LADDERS)}"
            )
        ladder, origin = BUILTIN_LADDERS[name], "built-in"
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["position", *RUNG_FIELDS])
        for i, record in enumerate(ladder.to_records()):
            writer.writerow([i, *(record[f] for f in RUNG_FIELDS)])
        return 0
    print(f"Ladder {ladder.name!r} ({origin}): {len(ladder)} rungs, lowest first\n")
    print(format_table(LADDER_HEADER, ladder_rows(ladder), numeric={0, 4, 5, 6, 7, 8}))
    print()
    print(LADDER_LEGEND)
    return 0


# --------------------------------------------------------------------------------------------
# validate


def _add_validate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files without running them; exit 2 if any is invalid.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario TOML files")
    _add_set(p)
    return p


def _cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    bad = 0
    for path in args.files:
        try:
            scenario = _load(path, args.set)
        except ScenarioError as err:
            _error(str(err))
            bad += 1
            continue
        print(f"OK  {path}: {_describe(scenario)}")
    if bad:
        _note(f"{bad} of {len(args.files)} files invalid")
        return 2
    return 0


# --------------------------------------------------------------------------------------------
# run


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set churn.leave_prob=0.5 "
        "--set firms.0.service_level=excellent (repeatable)",
    )


def _add_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run a scenario's replicates into a results folder",
        description="Run the replicates of a scenario (the first point if it has a [sweep]): a "
        "one-point sweep, written as `sweep` writes it (manifest.json, runs.parquet, "
        "timeseries/, summary.parquet, summary.csv), plus figures/.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="results folder; must not exist or be empty "
        "(default results/<scenario name>/run-YYYYmmdd-HHMMSS)",
    )
    _add_overrides(p)
    _add_execution(p)
    _add_no_figures(p)
    return p


def _add_no_figures(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-figures",
        action="store_true",
        help="write no figures and no report (`plot DIR` or `analyse DIR` draws them later)",
    )


def _add_overrides(p: argparse.ArgumentParser) -> None:
    _add_set(p)
    # Passed on as overrides, so the scenario schema validates them like any other key.
    p.add_argument("--replicates", metavar="N", help="override scenario.replicates")
    p.add_argument("--seed", metavar="S", help="override scenario.seed")
    p.add_argument(
        "--engine", metavar="{" + ",".join(ENGINES) + "}", help="override scenario.engine"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _add_execution(p: argparse.ArgumentParser) -> None:
    from sim.sweep import BATCH_SIZE, EXECUTORS

    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="where runs execute: serial (this process), local (a process pool; the default) "
        "or dask (--scheduler ADDRESS, or a local cluster started for the sweep)",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="worker processes for local and a started dask cluster (default: one per CPU)",
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="address of a running dask scheduler (tcp://...)"
    )
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=BATCH_SIZE,
        metavar="N",
        help=f"runs per time-series part, at most (default {BATCH_SIZE})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.set)
    for key, value in (
        ("scenario.replicates", args.replicates),
        ("scenario.seed", args.seed),
        ("scenario.engine", args.engine),
        ("sweep.seeds", getattr(args, "seeds", None)),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    return overrides


def _checked_out(args: argparse.Namespace) -> Path | None:
    """``--out`` if given, checked to be absent or empty before any work starts."""
    from sim.store import OutputExistsError, check_out_dir

    if not args.out:
        return None  # a default, time-stamped name is made unique when the folder is created
    try:
        check_out_dir(args.out)
    except OutputExistsError as err:
        raise CliError(str(err)) from None
    return Path(args.out)


def _execute(
    args: argparse.Namespace,
    argv: list[str],
    scenario: Scenario | None,
    out: Path | None,
    *,
    kind: str,
    resume: bool = False,
) -> Any:
    """`sim.sweep.run_sweep` with the command line's options; its failures as CliErrors."""
    from sim.store import IncompatibleResultsError, OutputExistsError
    from sim.sweep import SweepAborted, SweepInterrupted, run_sweep

    executor = args.executor or ("dask" if args.scheduler else "local")
    if args.scheduler and executor != "dask":
        raise CliError(f"--scheduler goes with --executor dask, not --executor {executor}")
    try:
        return run_sweep(
            scenario,
            out,
            executor=executor,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=resume,
            batch_size=args.batch_size,
            progress=not args.quiet,
            kind=kind,
            command=[PROG, *argv],
        )
    except (OutputExistsError, IncompatibleResultsError) as err:
        raise CliError(str(err)) from None
    except SweepInterrupted as err:
        raise CliError(str(err), code=130) from None
    except SweepAborted as err:
        raise CliError(str(err), code=1) from None
    except FileNotFoundError as err:
        raise CliError(str(err)) from None
    except OSError as err:
        reason = err.strerror or str(err)
        if args.scheduler:
            raise CliError(f"cannot use dask scheduler {args.scheduler}: {reason}") from None
        message = f"cannot use the results folder {out}: {reason}" if out else reason
        if out is not None and (out / "manifest.json").is_file():
            message += (
                "; the finished runs are kept: once that is mended, "
                f"`{PROG} sweep --resume {shlex.quote(str(out))}` continues"
            )
        raise CliError(message) from None


def _report(result: SweepResult, started: float, *, by_point: bool) -> int:
    """Print the end-of-run table and where the results are; return the exit status."""
    m = result.manifest
    counts = result.counts
    scenario = m["scenario"]["scenario"]
    resumes = m.get("resumes") or []
    executor = (resumes[-1]["executor"] if resumes else m.get("executor")) or {}
    workers = executor.get("workers")
    ran = f"executor {executor.get('name', '-')}" + (
        f" ({workers} worker{'s' * (workers != 1)})" if workers and workers > 1 else ""
    )
    if resumes:
        ran = f"resumed ({resumes[-1]['runs']} runs), " + ran
    size = f"{counts['runs']} run{'s' * (counts['runs'] != 1)} ({counts['points']} points x "
    size += f"{counts['replicates']} replicates)"
    if not by_point:
        size = f"{counts['replicates']} replicate{'s' * (counts['replicates'] != 1)}"
    print(
        f"{scenario['name']}: {size} x {scenario['months']} months, engine {scenario['engine']}, "
        f"{ran}, {time.perf_counter() - started:.1f} s"
    )
    table = result.table
    if len(table):
        keys = list(m["swept_keys"]) if by_point else []
        print(_format_final(table, keys))
    print(f"results: {result.path}")
    if counts["failed"]:
        runs = result.runs
        first = runs[runs["status"] != "done"].iloc[0]
        _error(
            f"{counts['failed']} of {counts['runs']} runs failed (first: {first['run_id']}: "
            f"{first['error']}); see {result.path / 'runs.parquet'}; "
            f"`{PROG} sweep --resume {shlex.quote(str(result.path))}` runs them again"
        )
        return 1
    return 0


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.sweep import first_point

    scenario = _load(args.scenario, _run_overrides(args))
    out = _checked_out(args)
    if scenario.sweep is not None:
        values = scenario.sweep.points()[0]
        swept = ", ".join(f"{k}={v!r}" for k, v in values.items())
        _note(
            f"{args.scenario} has a [{scenario.sweep.TABLE}] of {len(scenario.sweep.points())} points; "
            f"`run` runs the first ({swept}); `{PROG} sweep` runs them all"
        )
    started = time.perf_counter()
    drawing_ready = _prepare_drawing(not args.no_figures)
    result = _execute(args, argv, first_point(scenario), out, kind="run")
    if not args.no_figures:
        drawing_ready()
        _draw(result)
    return _report(result, started, by_point=False)


# --------------------------------------------------------------------------------------------
# sweep


def _add_sweeping(
    sub: argparse._SubParsersAction, kind: str, help: str, description: str
) -> argparse.ArgumentParser:
    """The parser of a command that runs a scenario's points into a results folder, or resumes
    one: ``sweep`` and ``explore``."""
    p = sub.add_parser(kind, help=help, description=description)
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", help="scenario TOML file")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        metavar="DIR",
        help="results folder; must not exist or be empty "
        f"(default results/<scenario name>/{kind}-YYYYmmdd-HHMMSS)",
    )
    where.add_argument(
        "--resume",
        metavar="DIR",
        help=f"continue the {kind} in DIR (its scenario is read from DIR/manifest.json)",
    )
    _add_overrides(p)
    if kind == "sweep":  # an exploration's seeds are its own: each future's, for every lever
        p.add_argument(
            "--seeds",
            choices=SWEEP_SEEDS,
            help="override sweep.seeds: common (the default: replicate r of every point runs "
            "with the same seed, so points are compared on the same random draws) or "
            "independent (every run its own seed)",
        )
    _add_execution(p)
    _add_no_figures(p)
    return p


def _sweep_or_resume(args: argparse.Namespace, argv: list[str], kind: str) -> Any:
    """Run the scenario given (``sweep`` or ``explore``), or resume ``--resume DIR``."""
    if args.resume:
        changes = _run_overrides(args)
        if args.scenario or changes:
            raise CliError(
                "--resume DIR continues DIR's own scenario (from its manifest.json): give no "
                "SCENARIO, --set, --replicates, --seed, --engine or --seeds with it"
            )
        return _execute(args, argv, None, Path(args.resume), kind=kind, resume=True)
    if not args.scenario:
        raise CliError(f"give a SCENARIO file to {kind}, or --resume DIR")
    from sim.exploration import Exploration

    scenario = _load(args.scenario, _run_overrides(args))
    if kind == "explore" and not isinstance(scenario.sweep, Exploration):
        raise CliError(
            f"{args.scenario}: has no [explore] table (levers and uncertainties); "
            f"see `{PROG} explore --help` and scenarios/explore_ladder.toml"
        )
    out = _checked_out(args)
    return _execute(args, argv, scenario, out, kind=kind)


def _add_sweep(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return _add_sweeping(
        sub,
        "sweep",
        "run every point of a scenario's [sweep], with replicates; or resume one",
        "Run every (point, replicate) of a scenario's [sweep] into a results folder "
        "(manifest.json, runs.parquet, timeseries/part-*.parquet, summary.parquet, summary.csv). "
        "A failing run is recorded and the others go on (exit status 1). After Ctrl-C, kill -9 "
        "or a crash, --resume DIR runs only what is missing; the rows then equal those of an "
        "uninterrupted sweep.",
    )


def _cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.perf_counter()
    drawing_ready = _prepare_drawing(not args.no_figures)
    result = _sweep_or_resume(args, argv, "sweep")
    drawing_ready()
    if _explored(result.manifest):
        return _finish_explore(args, result, started)
    if not args.no_figures:
        _draw(result)
    return _report(result, started, by_point=True)


def _prepare_drawing(wanted: bool) -> Callable[[], None]:
    """Import matplotlib and the report's code in a background thread while the runs go on (the
    command's process mostly waits for its workers then), so that drawing starts as soon as they
    finish. Returns the function to call before drawing: it waits for the import (a failed
    import is left to `_draw`, which imports again and reports it)."""
    if not wanted:
        return lambda: None
    thread = threading.Thread(target=_import_drawing, name="import-drawing", daemon=True)
    thread.start()
    return thread.join


def _import_drawing() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import sim.report  # noqa: F401


def _draw(result: Results) -> None:
    """The figures and the report of a finished run or sweep (`sim.report.write_report`).

    A drawing failure is reported but does not change the runs' outcome: the data are written,
    and ``retention-sim plot DIR`` can draw them again.
    """
    if not result.counts["done"]:
        return
    import matplotlib

    matplotlib.use("Agg")
    from sim.report import write_report

    try:
        write_report(result)
    except Exception as err:
        _error(
            f"the figures could not be drawn ({type(err).__name__}: {err}); "
            f"`{PROG} plot {shlex.quote(str(result.path))}` tries again"
        )


FINAL_ROWS = 60  # rows of the end-of-run table printed; the rest are in summary.csv


def _format_final(table: pd.DataFrame, keys: Sequence[str] = ()) -> str:
    """The end-of-run table (`sim.summary.final_table`) as text, one row per point and firm."""
    month = int(table["month"].iloc[0]) if len(table) else 0
    header = (
        *keys,
        "firm",
        f"customers (month {month})",
        "retention (monthly)",
        "revenue (monthly)",
        "CLV per initial customer",
    )
    shown = table.head(FINAL_ROWS)
    rows = [
        [
            *(str(row[k]) for k in keys),
            str(row["firm"]),
            count(row["customers"]),
            share(row["retention_rate"], 1),
            money(row["revenue"]),
            money(row["clv_per_initial_customer"]),
        ]
        for _, row in shown.iterrows()
    ]
    first = len(keys) + 1
    text = format_table(header, rows, numeric=set(range(first, first + 4)))
    n = int(table["replicates"].max()) if len(table) else 0
    notes = [f"means over {n} replicate{'s' * (n != 1)}"] if n else []
    if len(table) > len(shown):
        notes.append(f"first {len(shown)} of {len(table)} rows; every point is in summary.csv")
    return text + (f"\n({'; '.join(notes)})" if notes else "")


# --------------------------------------------------------------------------------------------
# The parser and the entry point.

# name -> (declare arguments, do the work). Add sweep, plot, app, check here.
# --------------------------------------------------------------------------------------------
# check


def _add_check(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "check",
        help="run the known-answer validation cases and print how the model compares",
        description="Run each known-answer case of the model (word-of-mouth diffusion, networks, "
        "equilibrium with churn, cohort retention and CLV, the fixed rule's decay, the TARP "
        "table, a lone firm's logit share against the outside rung) on an engine and print "
        "expected against simulated values with their bounds.",
    )
    p.add_argument(
        "--engine",
        choices=[*ENGINES, "all"],
        default="all",
        help="engine to check (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="smaller markets: faster, less power")
    p.add_argument(
        "--write-docs",
        nargs="?",
        const="docs/validation.md",
        metavar="PATH",
        help="also write the table as Markdown (default path docs/validation.md)",
    )
    return p


def _check_rows(checks: list[Any], markdown: bool) -> list[list[str]]:
    def num(x: float) -> str:
        return "-" if x != x or abs(x) == float("inf") else f"{x:.4g}"

    return [
        [
            c.case,
            c.source,
            c.quantity,
            num(c.expected),
            num(c.simulated),
            f"[{num(c.low)}, {num(c.high)}]",
            ("**pass**" if markdown else "pass") if c.passed else "FAIL",
            c.note,
        ]
        for c in checks
    ]


def _cmd_check(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.validation import FAMILY_ALPHA, run_checks

    engines = list(ENGINES) if args.engine == "all" else [args.engine]
    header = ["case", "source", "quantity", "expected", "simulated", "must lie in", "", "note"]
    sections, failed = [], 0
    for engine in engines:
        started = time.perf_counter()
        checks = run_checks(engine, quick=args.quick)
        took = time.perf_counter() - started
        failed += sum(not c.passed for c in checks)
        passed = sum(c.passed for c in checks)
        print(f"\nengine {engine}: {passed} of {len(checks)} checks pass ({took:.1f} s)\n")
        print(format_table(header, _check_rows(checks, False), {3, 4}))
        sections.append((engine, checks, took))
    if args.write_docs:
        lines = [
            "# Validation: the model against known answers",
            "",
            f"Written by `{PROG} check{' --quick' if args.quick else ''} --write-docs`. Each row "
            "compares a simulated value with the known answer of a special case of the model; "
            "the value must lie in the interval, a bound from the sampling error at a family-wise "
            f"level of {FAMILY_ALPHA} within each case (Bonferroni). Seeds are fixed. Derivations "
            "are in [model.md](model.md).",
        ]
        for engine, checks, took in sections:
            lines += ["", f"## Engine `{engine}` ({took:.0f} s)", ""]
            lines.append("| " + " | ".join(h or "result" for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in _check_rows(checks, True)]
        path = Path(args.write_docs)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _note(f"wrote {path}")
    if failed:
        _error(f"{failed} check(s) failed")
        return 1
    return 0


# --------------------------------------------------------------------------------------------
# plot

# `sim.summary.outcome_names()`, spelled out so that `--help` imports no pandas.
PLOT_METRICS = (
    "customers",
    "retention_12",
    "retention_60",
    "retention_end",
    "revenue",
    "cumulative_profit",
    "discounted_revenue",
    "discounted_profit",
    "clv",
)


def _add_plot(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "plot",
        help="draw a results folder's figures and write its report",
        description="Draw the figures of a results folder as PNG and SVG into DIR/figures/ and "
        "write DIR/report.md and DIR/report.html (self-contained, figures embedded): the "
        "scenario, the sweep, a summary table per rung and every figure.",
    )
    p.add_argument("dir", metavar="DIR", help="a results folder written by run or sweep")
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="outcome of the two-parameter maps (repeatable): "
        f"{', '.join(PLOT_METRICS)} (default discounted_profit)",
    )
    p.add_argument(
        "--by",
        metavar="KEY",
        help="what a line or bar is: 'firm' or a swept key (default: the swept service level "
        "if there is one, else the firms)",
    )
    return p


def _cmd_plot(args: argparse.Namespace, argv: list[str]) -> int:
    import json

    path = Path(args.dir)
    if not (path / "manifest.json").is_file():
        raise CliError(f"{path} is not a results folder (no manifest.json)")
    from sim.store import read_manifest

    if _explored(read_manifest(path)):
        return _analyse(path, figures=True)  # an exploration's figures come from its analysis
    for metric in args.metric:
        if metric not in PLOT_METRICS:
            raise CliError(
                f"--metric: unknown metric {metric!r}; choose from {', '.join(PLOT_METRICS)}"
            )
    import matplotlib

    matplotlib.use("Agg")
    from sim.plots import map_pairs, runs_note
    from sim.report import write_report
    from sim.store import load_results
    from sim.summary import swept_keys

    try:
        results = load_results(path)
        timeseries = results.timeseries
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise CliError(f"{path}: cannot read the results folder: {err}") from None
    if timeseries.empty:
        raise CliError(f"{path}: no run has finished, so there is nothing to plot")
    keys = swept_keys(timeseries)
    if args.by is not None and args.by != "firm" and args.by not in keys:
        choices = ", ".join(["firm", *keys])
        raise CliError(f"--by: {args.by!r} is neither 'firm' nor a swept key; choose {choices}")
    try:
        written = write_report(results, by=args.by, metrics=args.metric or None)
    except ValueError as err:  # raised before anything is written
        raise CliError(str(err)) from None
    note = runs_note(results)
    if note:
        _note(f"{note}; the figures and the report use the runs that finished")
    if args.metric and not map_pairs(timeseries, results.manifest):
        _note("--metric chooses the two-parameter maps' outcome, but fewer than two keys vary")
    figures = sorted({p.stem for p in written if p.parent.name == "figures"})
    print(f"{len(figures)} figures (PNG and SVG) in {path / 'figures'}")
    print(f"report: {path / 'report.md'} and {path / 'report.html'}")
    return 0


# --------------------------------------------------------------------------------------------
# explore and analyse: levers against uncertainties (sim/explore.py)


def _explored(manifest: Any) -> bool:
    """Does a results folder hold an exploration (its scenario has an [explore] table)?"""
    return "explore" in ((manifest or {}).get("scenario_input") or {})


def _add_explore(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return _add_sweeping(
        sub,
        "explore",
        "run every lever value in every sampled future of a scenario's [explore]; analyse",
        "Run a scenario's [explore] table (levers against uncertainties) as a sweep into a "
        "results folder, every lever value in every future with the same seeds, then analyse "
        "it: analysis.json, levers.parquet/.csv (outcome, win share and regret per lever value), "
        "sensitivity.parquet/.csv (SALib Sobol or Morris indices with bootstrap intervals, and "
        "the share of variance that is noise), figures and a report. --resume DIR continues an "
        "interrupted exploration.",
    )


def _cmd_explore(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.perf_counter()
    return _finish_explore(args, _sweep_or_resume(args, argv, "explore"), started)


def _finish_explore(args: argparse.Namespace, result: Any, started: float) -> int:
    """Analyse a finished exploration, print what it found; failed runs: exit 1."""
    counts = result.counts
    scenario = result.manifest["scenario"]["scenario"]
    print(
        f"{scenario['name']}: {counts['runs']} runs ({counts['points']} points x "
        f"{counts['replicates']} replicates) x {scenario['months']} months, "
        f"{time.perf_counter() - started:.1f} s"
    )
    if counts["failed"]:
        return _report(result, started, by_point=True)
    return _analyse(result.path, figures=not args.no_figures)


def _analyse(path: Path, *, figures: bool) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from sim.explore import AnalysisError, analyse, summary_text

    try:
        analysis = analyse(path, figures=figures)
    except (AnalysisError, FileNotFoundError) as err:
        raise CliError(f"{path}: {err}") from None
    for line in summary_text(analysis):
        print(line)
    print(f"analysis: {path / 'analysis.json'}, levers.csv, sensitivity.csv")
    if figures:
        print(f"report: {path / 'report.md'} and {path / 'report.html'}")
    print(f"results: {path}")
    return 0


def _add_analyse(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "analyse",
        help="analyse an exploration's results folder again",
        description="Redo the analysis of a finished (or resumed) exploration: analysis.json, "
        "levers.parquet/.csv, sensitivity.parquet/.csv, figures and the report.",
    )
    p.add_argument("dir", metavar="DIR", help="a results folder written by explore")
    _add_no_figures(p)
    return p


def _cmd_analyse(args: argparse.Namespace, argv: list[str]) -> int:
    path = Path(args.dir)
    if not (path / "manifest.json").is_file():
        raise CliError(f"{path} is not a results folder (no manifest.json)")
    return _analyse(path, figures=not args.no_figures)


# --------------------------------------------------------------------------------------------
# app: the workshop app (sim/app/) on a local Solara server.

APP_ENV = {
    "SOLARA_CHECK_HOOKS": "off",  # Mesa's visualisation trips solara's hook check
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # workshops are often offline: no telemetry
    "SOLARA_THEME_SHOW_BANNER": "False",  # the corner banner covers the plots on a projector
    # Solara warns on every page load over plain http to a host other than "localhost" (its
    # session cookie falls back to samesite=lax, which is right for a page not in an iframe).
    "PYTHONWARNINGS": "ignore:Cookies with samesite=none require https:UserWarning",
    # A closed tab ends its session at once; a page that only lost its connection (and never
    # came back) is ended after 10 minutes instead of Solara's 24 hours, so its run is freed.
    "SOLARA_KERNEL_CULL_TIMEOUT": "10m",
}


def _add_app(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "app",
        help="start the workshop app: firms on the ladder, customers as dots, live plots",
        description=(
            "Start the workshop app (a Solara page around the Mesa model) and serve it until "
            "Ctrl-C. It needs no internet. By default only this computer can open it; use "
            "--host 0.0.0.0 to let others on the network connect."
        ),
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this computer only)",
    )
    p.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default: 8765; 0 = any free)"
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    return p


def app_command(host: str, port: int, open_browser: bool = False) -> list[str]:
    """The command line that serves `sim.app.page` (run with `APP_ENV` added to the environment)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.app.page:Page",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--open" if open_browser else "--no-open",
    ]


def free_port(host: str, port: int) -> int:
    """``port`` if it can be listened on at ``host`` now, or any free port for ``port`` 0.

    Raises:
        CliError: the port is in use or the address cannot be listened on (exit 2, at once,
            before the server starts).
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise CliError(
                f"--port {port}: cannot listen on {host}:{port} ({err.strerror or err}); "
                "choose another with --port N, or --port 0 for any free port"
            ) from None
        return int(probe.getsockname()[1])


def _cmd_app(args: argparse.Namespace, argv: list[str]) -> int:
    import importlib.util
    import os
    import subprocess

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port: {args.port} is not a port number (0 to 65535)")
    if importlib.util.find_spec("solara") is None:
        raise CliError("the workshop app needs Solara: pip install 'retention-sim[app]'")
    port = free_port(args.host, args.port)
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    _note(f"the workshop app: http://{url_host}:{port}/ (Ctrl-C to stop)")
    command = app_command(args.host, port, args.open)
    env = {**os.environ, **APP_ENV}
    if os.name == "posix":  # become the server, so that signals reach it directly
        sys.stderr.flush()
        sys.stdout.flush()
        os.execve(command[0], command, env)
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too; wait for it to stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from sim.sweep import EXECUTORS

    p = sub.add_parser(
        "calibrate",
        help="fit scenario keys to a firm's observed cohort retention (Optuna)",
        description="Fit scenario keys to observed cohort retention: the scenario's first firm's "
        "cohort_retention at the observed months, by the binomial likelihood of the leavers per "
        "interval, R replicates per trial with the same seeds. Writes calibration.json, "
        "trials.parquet, calibrated.toml, figures/ and report.md/html into --out. Settings "
        "not given come from the scenario's [calibration] table. Bad data: exit 2, nothing "
        "written. After a crash or kill -9, --resume DIR continues.",
    )
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", help="scenario TOML file")
    p.add_argument(
        "--data",
        metavar="CSV",
        help="cohort data: month, retained (or active, "
        "cohort_size), optional segment and series columns",
    )
    p.add_argument("--segment", metavar="NAME", help="the data's segment to fit")
    p.add_argument(
        "--fit",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH",
        help="a key to fit and its range, e.g. --fit churn.base_prob=0.001:0.05 (repeatable)",
    )
    p.add_argument(
        "--holdout-from", type=int, metavar="MONTH", help="fit only the months before MONTH"
    )
    p.add_argument("--trials", type=_positive, metavar="N", help="complete trials (default 100)")
    p.add_argument("--replicates", type=_positive, metavar="R", help="runs per trial (default 10)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        metavar="DIR",
        help="output folder; must not exist or be empty "
        "(default results/<scenario name>/calibrate-YYYYmmdd-HHMMSS)",
    )
    where.add_argument("--resume", metavar="DIR", help="continue the calibration in DIR")
    p.add_argument("--executor", choices=EXECUTORS, default=None, help="as for sweep")
    p.add_argument("--workers", type=_positive, metavar="N", help="as for sweep")
    p.add_argument("--scheduler", metavar="ADDRESS", help="as for sweep")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _cmd_calibrate(args: argparse.Namespace, argv: list[str]) -> int:
    from sim.calibrate import CalibrationError, calibrate

    executor = args.executor or ("dask" if args.scheduler else "local")
    if args.scheduler and executor != "dask":
        raise CliError(f"--scheduler goes with --executor dask, not --executor {executor}")
    if args.resume and (args.scenario or args.data or args.fit):
        raise CliError(
            "--resume DIR continues DIR's own calibration: give no SCENARIO, "
            "--data or --fit with it"
        )
    if not args.resume and not args.scenario:
        raise CliError("give a SCENARIO file to calibrate, or --resume DIR")
    try:
        result = calibrate(
            args.scenario,
            args.data,
            fit=args.fit or None,
            holdout_from=args.holdout_from,
            trials=args.trials,
            replicates=args.replicates,
            segment=args.segment,
            out=args.out,
            resume=args.resume,
            executor=executor,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.quiet,
            command=[PROG, *argv],
        )
    except CalibrationError as err:
        raise CliError(str(err)) from None
    s = result.summary
    rows = [
        [key, f"{v['best']:.4g}", f"{v['low']:.4g} - {v['high']:.4g}"]
        for key, v in s["keys"].items()
    ]
    print(format_table(["key", "best", "95% range"], rows, {1, 2}))
    for warning in s["warnings"]:
        _note(f"warning: {warning}")
    print(f"calibration in {result.folder}; next: {PROG} sweep {result.calibrated_scenario}")
    return 0


COMMANDS: dict[
    str,
    tuple[
        Callable[[argparse._SubParsersAction], argparse.ArgumentParser],
        Callable[[argparse.Namespace, list[str]], int],
    ],
] = {
    "run": (_add_run, _cmd_run),
    "sweep": (_add_sweep, _cmd_sweep),
    "ladder": (_add_ladder, _cmd_ladder),
    "validate": (_add_validate, _cmd_validate),
    "check": (_add_check, _cmd_check),
    "plot": (_add_plot, _cmd_plot),
    "explore": (_add_explore, _cmd_explore),
    "analyse": (_add_analyse, _cmd_analyse),
    "app": (_add_app, _cmd_app),
    "calibrate": (_add_calibrate, _cmd_calibrate),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``retention-sim`` argument parser with every subcommand of `COMMANDS`."""
    from sim import __version__

    parser = _Parser(
        prog=PROG,
        description="Agent-based simulation of customer retention on the service-level ladder.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, run in COMMANDS.values():
        add(sub).set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (never raises for bad input).

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as stop:
        return stop.code
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args, argv)
    except (CliError, ScenarioError) as err:
        _error(str(err))
        return err.code if isinstance(err, CliError) else 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
