"""The results folder: creating it, writing its files safely, and reading it back.

One format serves `retention-sim run` and `retention-sim sweep` (a run is a sweep of one point)::

    DIR/
      manifest.json                  what was run, with what, by whom and how it ended (below)
      runs.parquet                   one row per run: run_id, point, replicate, seed, status,
                                     error, duration_s, then one column per swept key
      timeseries/part-00000.parquet  monthly rows (MODEL.md columns, with run_id, replicate, seed
      timeseries/part-00001.parquet  and the swept keys), appended in numbered parts
      summary.parquet, summary.csv   per point, firm and month: mean and 95 % CI over replicates
                                     (`sim.summary.replicate_summary`)
      figures/*.png                  figures drawn from the above (`sim.plots`)

``manifest.json`` holds ``format_version``, ``kind`` ("run" or "sweep"), ``status`` ("running",
"done", "done_with_failures", "interrupted"), ``scenario`` (the resolved scenario,
`Scenario.to_dict()`), ``scenario_input`` (the scenario document the points are built from: what a
resume reloads), ``scenario_file``, ``engine``, ``root_seed``, ``design``, ``swept_keys``,
``points`` (swept values per point), ``run_seeds`` (``run_seeds[point][replicate]``, as
`sim.runner.replicate_seeds`), ``counts`` (points, replicates, runs, done, failed, missing,
parts), ``versions`` (python, sim, mesa, numpy, pandas, pyarrow, scipy, networkx), ``git``
(commit and dirty flag of the checkout the package runs from, or null), ``command`` and
``argv``, ``cwd``, ``executor``, ``batch_size``, ``resumes`` (one entry per resume),
``created_at``, ``finished_at`` and ``duration_s``.

The parts are the truth. Each part carries, in its Parquet key-value metadata (key
`PART_RUNS_KEY`), the records of the runs it commits: the runs whose rows it holds (status
"done") and runs that failed (no rows). So a run is done if and only if its rows are in a completed
part, and ``runs.parquet`` and the summaries can always be rebuilt from the parts alone
(`part_records`); where a run appears in several parts (a failed run retried by a resume), the
last part wins.

Safety rules: every file is written to a temporary name in its own folder, flushed to disk and
renamed into place (`os.replace`), so a reader never sees half a file; readers take only
``part-*.parquet``, never a temporary file, so a part left half-written by a crash is never read
as data. An existing, non-empty folder is never written into, except by a resume
(`ResultsWriter.open`), which first checks the folder's format and numpy versions
(`check_compatible`). While a writer has a folder open it holds an exclusive lock on it (``flock``
on the folder itself, released by the operating system if the process dies), so two processes
never write one folder. Everything is Parquet or JSON (no pickle).

What does not live here: running the model (`runner.py`, `sweep.py`), statistics (`summary.py`),
figures (`plots.py`), the command line (`cli.py`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# 2: parts carry their run records; manifests carry scenario_input. 3: common random numbers
# across points by default (``[sweep] seeds``); the resolved scenario leaves out derived defaults.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
RUNS = "runs.parquet"
SUMMARY = "summary.parquet"
SUMMARY_CSV = "summary.csv"
TIMESERIES = "timeseries"
FIGURES = "figures"
PART_GLOB = "part-*.parquet"
PART_RUNS_KEY = b"retention_sim.runs"
_PART_RE = re.compile(r"^part-(\d{5,})\.parquet$")
_TEMP_RE = re.compile(r"^\..+\.tmp$")
RUNS_COLUMNS = ("run_id", "point", "replicate", "seed", "status", "error", "duration_s")
STATUSES = ("running", "done", "done_with_failures", "interrupted")
VERSIONED_PACKAGES = {
    # manifest name -> distribution name
    "sim": "retention-sim",
    "mesa": "mesa",
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "scipy": "scipy",
    "networkx": "networkx",
}


class OutputExistsError(FileExistsError):
    """The output folder exists and is not empty, or another process is writing it."""


class IncompatibleResultsError(ValueError):
    """A results folder cannot be continued here (format, numpy version or scenario differ)."""


class CorruptResultsError(IncompatibleResultsError):
    """A results folder's manifest or a completed part is not what this package writes (a
    foreign or damaged file): it is refused, never interpreted another way."""


# --------------------------------------------------------------------------------------------
# Atomic file writing.


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open folders)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed onto ``path`` when the block succeeds.

    The temporary name starts with a dot and ends in ``.tmp``, so it never matches
    ``part-*.parquet`` or any other name a reader looks for; on failure it is removed. The data
    reach the disk before the rename, so after a crash ``path`` is either absent or whole.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file via a temporary file and a rename."""
    with _temporary_beside(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet_atomic(
    path: Path, frame: pd.DataFrame, metadata: Mapping[bytes, bytes] | None = None
) -> None:
    """Write a DataFrame (without its index) as Parquet via a temporary file and a rename.

    Args:
        path: the target file.
        frame: the rows.
        metadata: extra key-value pairs for the file's schema metadata.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with _temporary_beside(Path(path)) as tmp:
        pq.write_table(table, tmp)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a manifest: {value!r}")


def to_json(data: Any, indent: int | None = 2) -> str:
    """Strict JSON (no NaN); numpy scalars and tuples become plain values."""
    text = json.dumps(data, indent=indent, default=_json_default, allow_nan=False)
    return text + "\n" if indent is not None else text


def plain(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples become lists, numpy scalars numbers)."""
    return json.loads(to_json(data, indent=None))


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write a JSON document (strict: no NaN) via a temporary file and a rename."""
    write_text_atomic(path, to_json(data))


# --------------------------------------------------------------------------------------------
# Provenance.


def now_iso() -> str:
    """The current local time, ISO 8601 with offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of the packages that shape results (None if not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in VERSIONED_PACKAGES.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(path: str | Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout holding ``path`` (default: this package).

    ``dirty`` is true when a tracked file differs from the commit or an untracked file sits in
    the package folder (untracked files elsewhere, such as results, do not count). Returns None
    when ``path`` is not in a git checkout or git is not installed.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(where), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        tracked = git("status", "--porcelain", "--untracked-files=no").strip()
        untracked = git("status", "--porcelain", "--untracked-files=all", "--", ".").splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = bool(tracked) or any(line.startswith("??") for line in untracked)
    return {"commit": commit, "dirty": dirty}


def check_compatible(manifest: Mapping[str, Any]) -> None:
    """Refuse to add to a folder written by another format version or numpy version.

    Raises:
        IncompatibleResultsError: naming what differs.
    """
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IncompatibleResultsError(
            f"results folder has format_version {version!r}; this version of retention-sim "
            f"continues only folders of format_version {FORMAT_VERSION} (start a new sweep)"
        )
    theirs = manifest.get("versions", {}).get("numpy")
    ours = package_versions()["numpy"]
    if theirs != ours:
        raise IncompatibleResultsError(
            f"results folder was written with numpy {theirs}, this is numpy {ours}: random "
            "streams may differ, so the rows would not be identical and its runs cannot be "
            "continued here (use the numpy it was written with, or start a new sweep)"
        )


# --------------------------------------------------------------------------------------------
# Where results go.


def safe_name(name: str) -> str:
    """A folder-safe form of a scenario name: letters, digits, ``.``, ``_`` and ``-`` only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "scenario"


RESULTS_DIR_ENV = "SIM_RESULTS_DIR"


def results_root() -> Path:
    """Where results folders go by default: ``$SIM_RESULTS_DIR`` if set, else ``results``."""
    return Path(os.environ.get(RESULTS_DIR_ENV) or "results")


def default_out_dir(
    scenario_name: str,
    kind: str = "run",
    root: str | Path | None = None,
    when: dt.datetime | None = None,
) -> Path:
    """``root/<scenario name>/<kind>-YYYYmmdd-HHMMSS``, not yet created.

    ``root`` defaults to `results_root` (the CLI and `sim.run_sweep` alike).
    `ResultsWriter.create` with ``unique=True`` adds ``-2``, ``-3``, ... if that name is taken
    (two runs in the same second).
    """
    stamp = (when or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    root = results_root() if root is None else Path(root)
    return root / safe_name(scenario_name) / f"{kind}-{stamp}"


def _is_nonempty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def check_out_dir(path: str | Path) -> None:
    """Raise unless ``path`` is absent or an empty folder (checked before any work starts).

    Raises:
        OutputExistsError: it is a non-empty folder, or not a folder.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"output {path} exists and is not a folder")
    if _is_nonempty_dir(path):
        raise OutputExistsError(
            f"output folder {path} exists and is not empty; choose another --out "
            "(nothing is ever overwritten)"
        )


# --------------------------------------------------------------------------------------------
# Parts and their run records.


def part_paths(path: str | Path) -> list[Path]:
    """The completed time-series parts of a results folder, in part-number order."""
    folder = Path(path) / TIMESERIES
    if not folder.is_dir():
        return []
    parts = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PART_RE.match(p.name))]
    return [p for _, p in sorted(parts)]


def read_part_runs(part: str | Path) -> list[dict[str, Any]]:
    """The run records a part commits (from its metadata; empty for a part without them).

    Raises:
        CorruptResultsError: the file is not a Parquet part (a foreign or damaged file).
    """
    try:
        meta = pq.read_schema(part).metadata or {}
        raw = meta.get(PART_RUNS_KEY)
        records = json.loads(raw) if raw else []
    except (pa.ArrowException, ValueError) as err:  # ArrowInvalid, JSON and UTF-8 errors
        raise CorruptResultsError(f"{part} is not a readable results part: {err}") from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and "run_id" in r for r in records
    ):
        raise CorruptResultsError(f"{part} does not hold run records a results part holds")
    return records


def part_records(path: str | Path) -> dict[str, tuple[dict[str, Any], Path]]:
    """Every run the completed parts record: run_id -> (its latest record, the part holding it).

    Only part footers are read, never the rows. A run recorded in several parts (a failed run
    that a resume retried) takes its record from the last part.
    """
    out: dict[str, tuple[dict[str, Any], Path]] = {}
    for part in part_paths(path):
        for record in read_part_runs(part):
            out[record["run_id"]] = (record, part)
    return dict(sorted(out.items()))


def read_part(
    part: str | Path, columns: Sequence[str] | None = None, run_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """The rows of one part (optionally some columns, and only the given runs), in file order."""
    filters = [("run_id", "in", list(run_ids))] if run_ids is not None else None
    table = pq.read_table(part, columns=list(columns) if columns else None, filters=filters)
    return table.to_pandas()


# --------------------------------------------------------------------------------------------
# Locking.


def _lock_folder(path: Path) -> int | None:
    """Take an exclusive lock on a folder (its own inode) and return the descriptor holding it.

    Raises:
        OutputExistsError: another process holds the lock.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputExistsError(
            f"results folder {path} is being written by another process"
        ) from None
    return fd


# --------------------------------------------------------------------------------------------
# Writing.


class ResultsWriter:
    """Writes one results folder: `create` a new one, or `open` one to resume it.

    Example::

        with ResultsWriter.create(out, manifest) as writer:  # folder + manifest ("running")
            writer.write_part(frame, runs=records)           # -> 0, then 1, 2, ...
            writer.write_runs(runs)
            writer.write_summary(pieces)
            writer.finish("done", counts={...})

    The writer holds the folder's lock until `close` (or the end of the ``with`` block).
    """

    def __init__(self, path: Path, manifest: dict[str, Any], lock: int | None = None):
        self.path = Path(path)
        self.manifest = manifest
        self._lock = lock

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the folder's lock (idempotent)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    @classmethod
    def create(
        cls, path: str | Path, manifest: Mapping[str, Any], *, unique: bool = False
    ) -> ResultsWriter:
        """Create the folder and write the manifest with status ``"running"``.

        Args:
            path: the folder; it may exist if it is empty.
            manifest: the manifest's contents; ``format_version``, ``status`` and ``created_at``
                are filled in.
            unique: if ``path`` is taken, use ``path-2``, ``path-3``, ... instead of refusing
                (for default, time-stamped names).

        Raises:
            OutputExistsError: ``path`` is taken (and ``unique`` is false). Nothing is written.
        """
        path = Path(path)
        full = {"format_version": FORMAT_VERSION, "status": "running", **manifest}
        full.setdefault("created_at", now_iso())
        to_json(full)  # an unstorable manifest fails here, before anything is created
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate, n = path, 1
        while True:
            try:
                candidate.mkdir()
                break
            except FileExistsError:
                if not unique:
                    check_out_dir(candidate)  # raises unless an empty folder
                    break
                n += 1
                candidate = path.with_name(f"{path.name}-{n}")
        lock = _lock_folder(candidate)
        try:
            # mkdir is atomic: of two writers racing for one empty folder, one gets here.
            (candidate / TIMESERIES).mkdir()
        except FileExistsError:
            if lock is not None:
                os.close(lock)
            raise OutputExistsError(
                f"output folder {candidate} is being written by another run"
            ) from None
        (candidate / FIGURES).mkdir()
        writer = cls(candidate, full, lock)
        writer.write_manifest()
        return writer

    @classmethod
    def open(cls, path: str | Path) -> ResultsWriter:
        """Open an existing results folder to add to it (a resume).

        Checks that this version of the package may extend it (`check_compatible`), takes its
        lock, and removes temporary files a crash left behind (never read as data anyway).

        Raises:
            FileNotFoundError: not a results folder.
            IncompatibleResultsError: another format or numpy version wrote it.
            OutputExistsError: another process is writing it.
        """
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise FileNotFoundError(f"{path} is not a results folder (no {MANIFEST})")
        lock = _lock_folder(path)
        try:
            manifest = read_manifest(path)
            check_compatible(manifest)
        except BaseException:
            if lock is not None:
                os.close(lock)
            raise
        for folder in (path, path / TIMESERIES, path / FIGURES):
            if folder.is_dir():
                for stale in folder.iterdir():
                    if _TEMP_RE.match(stale.name):
                        stale.unlink(missing_ok=True)
        (path / TIMESERIES).mkdir(exist_ok=True)
        (path / FIGURES).mkdir(exist_ok=True)
        return cls(path, manifest, lock)

    def write_manifest(self) -> None:
        """Rewrite ``manifest.json`` atomically from `self.manifest`."""
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def update_manifest(self, **fields: Any) -> None:
        """Set top-level manifest fields and rewrite it."""
        self.manifest.update(fields)
        self.write_manifest()

    def next_part_number(self) -> int:
        """One more than the highest completed part (0 for an empty folder)."""
        parts = part_paths(self.path)
        return int(_PART_RE.match(parts[-1].name).group(1)) + 1 if parts else 0

    def write_part(
        self, frame: pd.DataFrame, runs: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Write the next ``timeseries/part-NNNNN.parquet``; return its number.

        Args:
            frame: the monthly rows of the part's done runs (may be empty if they all failed).
            runs: the records of the runs the part commits, stored in its metadata; the rows
                of every "done" record must be in ``frame``.
        """
        number = self.next_part_number()
        meta = {PART_RUNS_KEY: to_json(list(runs), indent=None).encode()} if runs else None
        write_parquet_atomic(self.path / TIMESERIES / f"part-{number:05d}.parquet", frame, meta)
        return number

    def write_runs(self, runs: pd.DataFrame | Sequence[Mapping[str, Any]]) -> None:
        """Write ``runs.parquet`` (one row per run), standard columns first."""
        write_parquet_atomic(self.path / RUNS, runs_frame(runs))

    def write_summary(self, summary: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        """Write ``summary.parquet`` and ``summary.csv`` (the same rows).

        Args:
            summary: the rows, or an iterable of pieces with the same columns, written one after
                another (so the whole summary is never in memory at once).
        """
        pieces = [summary] if isinstance(summary, pd.DataFrame) else summary
        with (
            _temporary_beside(self.path / SUMMARY) as tmp_parquet,
            _temporary_beside(self.path / SUMMARY_CSV) as tmp_csv,
            tmp_csv.open("w", encoding="utf-8", newline="") as csv,
        ):
            parquet: pq.ParquetWriter | None = None
            last: pd.DataFrame | None = None
            try:
                for piece in pieces:
                    last = piece
                    if piece.empty and parquet is not None:
                        continue
                    if parquet is None:
                        if piece.empty:
                            continue
                        schema = pa.Schema.from_pandas(piece, preserve_index=False)
                        parquet = pq.ParquetWriter(tmp_parquet, schema)
                        piece.to_csv(csv, index=False)
                    else:
                        piece.to_csv(csv, index=False, header=False)
                    table = pa.Table.from_pandas(piece, schema=schema, preserve_index=False)
                    parquet.write_table(table)
                if parquet is None:  # nothing but empty pieces: an empty table, with columns
                    empty = last if last is not None else pd.DataFrame()
                    pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp_parquet)
                    empty.to_csv(csv, index=False)
            finally:
                if parquet is not None:
                    parquet.close()

    def save_figure(self, figure: Any, name: str, dpi: int = 150) -> Path:
        """Save a matplotlib Figure as ``figures/<name>.png``; return the path."""
        return save_figure(self.path, figure, name, dpi)

    def finish(self, status: str, **fields: Any) -> None:
        """Record how the run ended (one of `STATUSES`), the end time and any other fields."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        finished = dt.datetime.now().astimezone()
        self.manifest["status"] = status
        self.manifest["finished_at"] = finished.isoformat(timespec="seconds")
        created = self.manifest.get("created_at")
        if created:
            started = dt.datetime.fromisoformat(created)
            self.manifest["duration_s"] = round((finished - started).total_seconds(), 3)
        self.manifest.update(fields)
        self.write_manifest()


def save_figure(path: str | Path, figure: Any, name: str, dpi: int = 150) -> Path:
    """Save a matplotlib Figure as ``<path>/figures/<name>.png`` (atomically); return its path."""
    target = Path(path) / FIGURES / f"{name}.png"
    target.parent.mkdir(exist_ok=True)
    with _temporary_beside(target) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return target


def runs_frame(records: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Run records as the ``runs.parquet`` table: `RUNS_COLUMNS` first, swept keys after."""
    frame = pd.DataFrame(records)
    if "point" not in frame.columns and "run_id" in frame.columns:  # p0007-r012 -> 7
        frame["point"] = pd.to_numeric(
            frame["run_id"].astype(str).str.extract(r"^p(\d+)-r", expand=False)
        )
    for column in RUNS_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=float)
    others = [c for c in frame.columns if c not in RUNS_COLUMNS]
    frame = frame[[*RUNS_COLUMNS, *others]]
    types = {"point": "int64", "replicate": "int64", "seed": "int64", "duration_s": "float64"}
    return frame.astype({c: t for c, t in types.items() if frame[c].notna().all()})


# --------------------------------------------------------------------------------------------
# Reading.


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The folder's ``manifest.json`` as a dict.

    Raises:
        CorruptResultsError: it is not a JSON object (a foreign or damaged file).
    """
    file = Path(path) / MANIFEST
    try:
        with file.open(encoding="utf-8") as fh:
            manifest = json.load(fh)
    except ValueError as err:  # JSON and UTF-8 errors
        raise CorruptResultsError(f"{file} is not a results manifest: {err}") from None
    if not isinstance(manifest, dict):
        raise CorruptResultsError(f"{file} is not a results manifest (not a JSON object)")
    return manifest


def read_timeseries(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All monthly rows of a results folder, from the completed parts, ordered by run_id.

    Rows keep their order within a run (month, then firm); runs are in run_id order, so the
    frame is the same whatever the order in which the runs finished or how they were split into
    parts. Temporary files (half-written parts) are never read. An empty frame if there are no
    rows.
    """
    tables = [t for p in part_paths(path) if (t := pq.read_table(p, columns=columns)).num_rows]
    if not tables:
        return pd.DataFrame()
    table = pa.concat_tables(tables, promote_options="default")
    if "run_id" in table.column_names:
        table = table.take(pc.sort_indices(table, [("run_id", "ascending")]))  # stable
    return table.to_pandas()


def read_runs(path: str | Path) -> pd.DataFrame:
    """The folder's run table: ``runs.parquet``, or rebuilt from the parts' records if it is
    missing, or if the folder is still being written (or its writer died) and has parts."""
    path = Path(path)
    file = path / RUNS
    status = read_manifest(path).get("status") if (path / MANIFEST).is_file() else None
    records = part_records(path) if status == "running" or not file.exists() else {}
    if file.exists() and not records:
        return pq.read_table(file).to_pandas()
    rows = [{**r, "duration_s": r.get("duration_s") or math.nan} for r, _ in records.values()]
    return runs_frame(rows)


def read_summary(path: str | Path) -> pd.DataFrame:
    """The folder's ``summary.parquet`` (empty if not written yet: a resume writes it)."""
    file = Path(path) / SUMMARY
    return pq.read_table(file).to_pandas() if file.exists() else pd.DataFrame()


class Results:
    """A results folder read back. Each table is read on first use, then kept.

    Attributes:
        path: the folder.
        manifest: ``manifest.json`` as a dict.
        runs: one row per run (`RUNS_COLUMNS`, then the swept keys).
        timeseries: every monthly row, in run_id order (`read_timeseries`).
        summary: ``summary.parquet``: per point, firm and month, mean and 95 % CI of each metric.
        table: per point and firm, the means over replicates of customers, monthly retention and
            revenue in the last month, and CLV per initial customer (`sim.summary.final_table`),
            with ``point`` and the swept keys in front: the table ``retention-sim`` prints.
        status: how the writing ended (one of `STATUSES`).
        counts: points, replicates, runs, done, failed, missing and parts.
        failed: runs that failed.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / MANIFEST).is_file():
            raise FileNotFoundError(f"{self.path} is not a results folder (no {MANIFEST})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, status={self.status!r})"

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """``manifest.json`` as a dict (what was run, with what, and how it ended)."""
        return read_manifest(self.path)

    @functools.cached_property
    def runs(self) -> pd.DataFrame:
        """One row per run (`RUNS_COLUMNS`, then the swept keys)."""
        return read_runs(self.path)

    @functools.cached_property
    def timeseries(self) -> pd.DataFrame:
        """Every monthly row, in run_id order (`read_timeseries`)."""
        return read_timeseries(self.path)

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """Per point, firm and month: n, mean, sd and 95 % interval of each metric."""
        return read_summary(self.path)

    @functools.cached_property
    def table(self) -> pd.DataFrame:
        """The end-of-run table (`sim.summary.final_table` per point), rebuilt from the parts."""
        from sim.sweep import end_table

        return end_table(self.path, self.manifest)

    @property
    def failed(self) -> int:
        """Runs that failed (recorded in ``runs.parquet`` with their error)."""
        return int(self.counts.get("failed", 0))

    def scenario_for(self, run_id: str) -> Any:
        """The validated scenario (`sim.scenario.Scenario`, no sweep) one run of this folder ran.

        Rebuilt from the manifest's resolved scenario: the run's sweep point, with every default
        derived at that point. ``sim.simulate(results.scenario_for(r), seed=<r's seed>)`` gives
        the run's rows (`sim.rerun` does exactly that).

        Raises:
            KeyError: the folder has no run ``run_id``.
        """
        from sim.scenario import load_scenario

        point = int(self.run_record(run_id)["point"])
        parent = load_scenario(self.manifest["scenario"], source_name=str(self.path / MANIFEST))
        parent = dataclasses.replace(parent, source=self.manifest.get("scenario_file") or "")
        if parent.sweep is None:
            return parent
        return parent.sweep.scenario_at(parent.sweep.points()[point], parent)

    def run_record(self, run_id: str) -> pd.Series:
        """One run's row of ``runs.parquet`` (point, replicate, seed, status, swept values).

        Raises:
            KeyError: the folder has no run ``run_id``.
        """
        runs = self.runs
        match = runs[runs["run_id"] == run_id]
        if match.empty:
            ids = runs["run_id"].tolist()
            shown = f"{ids[0]} ... {ids[-1]}" if ids else "none"
            raise KeyError(f"{self.path}: no run {run_id!r} (its runs: {shown})")
        return match.iloc[0]

    @property
    def status(self) -> str:
        """How the writing ended: one of `STATUSES`."""
        return self.manifest.get("status", "")

    @property
    def counts(self) -> dict[str, int]:
        """Points, replicates, runs, done, failed, missing and parts, from the manifest."""
        return dict(self.manifest.get("counts", {}))


def load_results(path: str | Path) -> Results:
    """Read a results folder: manifest, runs table, time series and summary (each when used).

    Raises:
        FileNotFoundError: ``path`` has no ``manifest.json`` (not a results folder).
    """
    return Results(path)
