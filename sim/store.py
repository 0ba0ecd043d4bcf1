"""The results folder: creating it, writing its files safely, and reading it back.

One format serves `retention-sim run` and `retention-sim sweep` (a run is a sweep of one point)::

    DIR/
      manifest.json                  what was run, with what, by whom and how it ended (below)
      runs.parquet                   one row per run: run_id, replicate, seed, status, error,
                                     duration_s, then one column per swept key
      timeseries/part-00000.parquet  monthly rows (MODEL.md columns, with run_id, replicate, seed
      timeseries/part-00001.parquet  and the swept keys), appended in numbered parts
      summary.parquet, summary.csv   per point, firm and month: mean and 95 % CI over replicates
                                     (`sim.summary.replicate_summary`)
      figures/*.png                  figures drawn from the above (`sim.plots`)

``manifest.json`` holds ``format_version``, ``kind`` ("run" or "sweep"), ``status`` ("running",
"done", "done_with_failures", "interrupted"), ``scenario`` (the resolved scenario,
`Scenario.to_dict()`), ``scenario_file``, ``engine``, ``root_seed``, ``swept_keys``, ``points``
(swept values per point), ``run_seeds`` (``run_seeds[point][replicate]``, as
`sim.runner.replicate_seeds`), ``counts`` (points, replicates, runs, done, failed, parts),
``versions`` (python, sim, mesa, numpy, pandas, pyarrow, scipy, networkx), ``git`` (commit and
dirty flag of the checkout the package runs from, or null), ``command`` and ``argv``, ``cwd``,
``created_at``, ``finished_at`` and ``duration_s``.

Safety rules: every file is written to a temporary name in its own folder and renamed into place
(`os.replace`), so a reader never sees half a file; readers take only ``part-*.parquet``, never a
temporary file, so "a run is done iff its rows are in a completed part" holds after a crash; an
existing, non-empty folder is never written into. Everything is Parquet or JSON (no pickle).

What does not live here: running the model (`runner.py`), statistics (`summary.py`), figures
(`plots.py`), the command line (`cli.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
RUNS = "runs.parquet"
SUMMARY = "summary.parquet"
SUMMARY_CSV = "summary.csv"
TIMESERIES = "timeseries"
FIGURES = "figures"
PART_GLOB = "part-*.parquet"
_PART_RE = re.compile(r"^part-(\d{5,})\.parquet$")
RUNS_COLUMNS = ("run_id", "replicate", "seed", "status", "error", "duration_s")
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
    """The output folder exists and is not empty (nothing was written)."""


class IncompatibleResultsError(ValueError):
    """A results folder was written by another format version or numpy version."""


# --------------------------------------------------------------------------------------------
# Atomic file writing.


@contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed onto ``path`` when the block succeeds.

    The temporary name starts with a dot and ends in ``.tmp``, so it never matches
    ``part-*.parquet`` or any other name a reader looks for; on failure it is removed.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file via a temporary file and a rename."""
    with _temporary_beside(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame (without its index) as Parquet via a temporary file and a rename."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
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


def to_json(data: Mapping[str, Any]) -> str:
    """Strict JSON (no NaN), indented; numpy scalars and tuples become plain values."""
    return json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n"


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
            f"reads and extends format_version {FORMAT_VERSION} only"
        )
    theirs = manifest.get("versions", {}).get("numpy")
    ours = package_versions()["numpy"]
    if theirs != ours:
        raise IncompatibleResultsError(
            f"results folder was written with numpy {theirs}, this is numpy {ours}: random "
            "streams may differ, so its runs cannot be continued here"
        )


# --------------------------------------------------------------------------------------------
# Where results go.


def safe_name(name: str) -> str:
    """A folder-safe form of a scenario name: letters, digits, ``.``, ``_`` and ``-`` only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "scenario"


def default_out_dir(
    scenario_name: str,
    kind: str = "run",
    root: str | Path = "results",
    when: dt.datetime | None = None,
) -> Path:
    """``root/<scenario name>/<kind>-YYYYmmdd-HHMMSS``, not yet created.

    `ResultsWriter.create` with ``unique=True`` adds ``-2``, ``-3``, ... if that name is taken
    (two runs in the same second).
    """
    stamp = (when or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(root) / safe_name(scenario_name) / f"{kind}-{stamp}"


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
# Writing.


def part_paths(path: str | Path) -> list[Path]:
    """The completed time-series parts of a results folder, in part-number order."""
    folder = Path(path) / TIMESERIES
    if not folder.is_dir():
        return []
    parts = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PART_RE.match(p.name))]
    return [p for _, p in sorted(parts)]


class ResultsWriter:
    """Writes one results folder. Create with `ResultsWriter.create`.

    Example::

        writer = ResultsWriter.create(out, manifest)     # folder + manifest (status "running")
        writer.write_part(frame)                         # -> 0, then 1, 2, ...
        writer.write_runs(runs)
        writer.write_summary(summary)
        writer.save_figure(fig, "customers_and_revenue")
        writer.finish("done", counts={...})
    """

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = Path(path)
        self.manifest = manifest

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
        try:
            # mkdir is atomic: of two writers racing for one empty folder, one gets here.
            (candidate / TIMESERIES).mkdir()
        except FileExistsError:
            raise OutputExistsError(
                f"output folder {candidate} is being written by another run"
            ) from None
        (candidate / FIGURES).mkdir()
        writer = cls(candidate, full)
        writer.write_manifest()
        return writer

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

    def write_part(self, frame: pd.DataFrame) -> int:
        """Write monthly rows as the next ``timeseries/part-NNNNN.parquet``; return its number."""
        number = self.next_part_number()
        write_parquet_atomic(self.path / TIMESERIES / f"part-{number:05d}.parquet", frame)
        return number

    def write_runs(self, runs: pd.DataFrame) -> None:
        """Write ``runs.parquet`` (one row per run), standard columns first."""
        write_parquet_atomic(self.path / RUNS, runs_frame(runs))

    def write_summary(self, summary: pd.DataFrame) -> None:
        """Write ``summary.parquet`` and ``summary.csv`` (the same rows)."""
        write_parquet_atomic(self.path / SUMMARY, summary)
        write_text_atomic(self.path / SUMMARY_CSV, summary.to_csv(index=False))

    def save_figure(self, figure: Any, name: str, dpi: int = 150) -> Path:
        """Save a matplotlib Figure as ``figures/<name>.png``; return the path."""
        target = self.path / FIGURES / f"{name}.png"
        with _temporary_beside(target) as tmp:
            figure.savefig(tmp, format="png", dpi=dpi)
        return target

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


def runs_frame(records: pd.DataFrame | list[Mapping[str, Any]]) -> pd.DataFrame:
    """Run records as the ``runs.parquet`` table: `RUNS_COLUMNS` first, swept keys after."""
    frame = pd.DataFrame(records)
    for column in RUNS_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=float)
    others = [c for c in frame.columns if c not in RUNS_COLUMNS]
    frame = frame[[*RUNS_COLUMNS, *others]]
    return frame.astype({"replicate": "int64", "seed": "int64", "duration_s": "float64"})


# --------------------------------------------------------------------------------------------
# Reading.


class Results(NamedTuple):
    """A results folder read back: its manifest, runs table and monthly rows."""

    path: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame
    timeseries: pd.DataFrame


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The folder's ``manifest.json`` as a dict."""
    with (Path(path) / MANIFEST).open(encoding="utf-8") as fh:
        return json.load(fh)


def read_timeseries(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All monthly rows of a results folder: the completed parts, in order, read with pyarrow.

    Temporary files (half-written parts) are never read. An empty frame if there are no parts.
    """
    parts = part_paths(path)
    if not parts:
        return pd.DataFrame()
    tables = [pq.read_table(p, columns=columns) for p in parts]
    table = pa.concat_tables(tables, promote_options="default")
    return table.to_pandas()


def read_runs(path: str | Path) -> pd.DataFrame:
    """The folder's ``runs.parquet`` (empty with the standard columns if not written yet)."""
    file = Path(path) / RUNS
    if not file.exists():
        return runs_frame([])
    return pq.read_table(file).to_pandas()


def load_results(path: str | Path) -> Results:
    """Read a results folder: manifest, runs table and all completed time-series parts.

    Raises:
        FileNotFoundError: ``path`` has no ``manifest.json`` (not a results folder).
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path} is not a results folder (no {MANIFEST})")
    return Results(path, read_manifest(path), read_runs(path), read_timeseries(path))
