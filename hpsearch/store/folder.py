"""A run's folder: the names of what it holds, and finding a run by its folder or its name.

``runs/<name>/`` holds ``config.yaml`` (the resolved config the run started with), ``trials.db``
(its SQLite store), ``logs/<trial>.log`` (each trial's output), and after a refit ``model.joblib``
with ``model.json``. Nothing here opens the database, so any module may import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hpsearch.errors import StoreError

__all__ = ["DB_NAME", "CONFIG_NAME", "MODEL_NAME", "MODEL_INFO", "LOCK_NAME", "LOGS_NAME",
           "resolve_run", "run_folders", "is_run", "log_path", "shown_name",
           "store_stamp"]

DB_NAME = "trials.db"
CONFIG_NAME = "config.yaml"
MODEL_NAME = "model.joblib"  # the best configuration fitted on all the data (refit)
MODEL_INFO = "model.json"  # what it is: the trial, its params, the versions that made it
LOCK_NAME = "lock"
LOGS_NAME = "logs"


def is_run(folder: Path) -> bool:
    """Whether a folder holds a run (a store); False for a path the system cannot hold (a name
    too long, a NUL byte)."""
    try:
        return (folder / DB_NAME).is_file()
    except (OSError, ValueError):
        return False


def log_path(folder: Path, trial: int) -> Path:
    """Where a run keeps a trial's output."""
    return folder / LOGS_NAME / f"{trial}.log"


def resolve_run(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run's folder from its path, or its name under runs_dir.

    Raises:
        StoreError: naming the runs that exist when there is no such run.
    """
    for candidate in (Path(run), Path(runs_dir) / str(run)):
        if is_run(candidate):
            return candidate
    known = sorted(p.name for p in run_folders(Path(runs_dir)))
    listed = f"; runs in {runs_dir}: {', '.join(known[-8:])}" if known else \
        f"; {runs_dir} holds no runs (set --runs-dir?)"
    raise StoreError(f"no run {shown_name(run)}{listed}")


def shown_name(run: str | Path, limit: int = 120) -> str:
    """A run's name as a message shows it: quoted, and past `limit` characters its first 60
    with its length (a pasted log line is no run name)."""
    text = str(run)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:60]!r}… ({len(text)} characters)"


def store_stamp(folder: Path) -> tuple[int, ...]:
    """When a run's store last changed: its database files' times and sizes (equal while
    nothing is written; a few file stats, the database never opened)."""
    out: list[int] = []
    for name in (DB_NAME, DB_NAME + "-wal"):
        try:
            info = (folder / name).stat()
            out += [info.st_mtime_ns, info.st_size]
        except (OSError, ValueError):
            out += [0, 0]
    return tuple(out)


def run_folders(root: Path) -> Iterable[Path]:
    """The run folders directly under root."""
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if is_run(p)]
