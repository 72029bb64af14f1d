"""The run store: ``runs/<name>/`` holds the resolved ``config.yaml`` and ``trials.db`` (SQLite).

The only module that touches the database. Each trial's row is committed the moment its result
arrives, in WAL mode, so a crash loses only trials that were running and `hpsearch leaderboard`
can read a run while it is going. Commands that only read open the store read-only: they never
write to a run, not even its schema.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hpsearch.errors import StoreError
from hpsearch.trial import Direction, Status, Trial, TrialResult

if TYPE_CHECKING:
    from hpsearch.coarse_to_fine import Region

__all__ = ["RunStore", "EpochScores", "resolve_run", "run_folders"]

DB_NAME = "trials.db"
CONFIG_NAME = "config.yaml"
MODEL_NAME = "model.joblib"  # the best configuration fitted on all the data (refit)
MODEL_INFO = "model.json"  # what it is: the trial, its params, the versions that made it
LOCK_NAME = "lock"
LOGS_NAME = "logs"
# The store's layout, kept in SQLite's user_version. 0: written before it was versioned (trials
# may lack retest_of); 1: reports keyed by trial and epoch only; 2: every table below, reports
# keyed by trial, fold and epoch. A newer layout is refused by name, never misread.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number   INTEGER PRIMARY KEY,
    round    INTEGER NOT NULL,
    status   TEXT NOT NULL,
    params   TEXT NOT NULL,   -- JSON object: the values the trial ran with
    unit     TEXT NOT NULL,   -- JSON list: the point of the unit cube, in the space's dim order
    seed     INTEGER NOT NULL,
    scores   TEXT NOT NULL,   -- JSON list: one score per fold
    mean     REAL,
    std      REAL,
    duration REAL NOT NULL,   -- seconds
    error    TEXT,            -- the traceback or reason of a trial that did not complete
    extra    TEXT,            -- JSON object: what else the trial reported
    finished REAL NOT NULL,   -- unix time
    retest_of INTEGER         -- for a retest: the trial whose configuration it evaluates again
);
CREATE TABLE IF NOT EXISTS rounds (
    round    INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,   -- random (the whole space), zoom, or retest
    space    TEXT NOT NULL,   -- JSON: the round's space, in the config's spelling
    lo       TEXT NOT NULL,   -- JSON list: the region's lower corner in the first space's u
    hi       TEXT NOT NULL,   -- JSON list: its upper corner
    source   TEXT NOT NULL,   -- JSON list: the trials the region was drawn around
    trials   INTEGER NOT NULL -- how many trials the round was given
);
CREATE TABLE IF NOT EXISTS epochs (   -- babysitting: one row per epoch of the one model
    epoch INTEGER PRIMARY KEY, loss REAL NOT NULL, val_score REAL, learning_rate REAL NOT NULL,
    seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (  -- babysitting: hot changes, from the epoch they apply to
    epoch INTEGER NOT NULL, name TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL
);
"""
_INTERMEDIATE = """
CREATE TABLE IF NOT EXISTS intermediate (  -- the score a trial reported after an epoch of a fold
    trial INTEGER NOT NULL,
    fold INTEGER NOT NULL,    -- 0 when the objective does its own validation (a command)
    epoch INTEGER NOT NULL,
    value REAL NOT NULL,
    metrics TEXT,             -- JSON object: what else it reported then (train_loss, ...)
    PRIMARY KEY (trial, fold, epoch)
);
CREATE INDEX IF NOT EXISTS intermediate_at ON intermediate (fold, epoch, value);
"""
BUSY_SECONDS = 30  # how long a writer waits for another's short write before giving up


def _connect(database: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the settings every user of a run's database shares.

    A read-only connection writes nothing, not even a file beside the database: while a run is
    written (its -wal file exists) it reads through the writer's shared memory; otherwise
    nobody has the database open, and it is read as immutable (also on a volume that cannot
    be written).
    """
    if readonly:
        path = urllib.parse.quote(str(database.resolve()))
        if database.with_name(database.name + "-wal").exists():
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_SECONDS,
                                 isolation_level=None)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:  # its -shm cannot be opened from here
                db.close()
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True, isolation_level=None)
    db = sqlite3.connect(database, timeout=BUSY_SECONDS, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_SECONDS * 1000}")
    # WAL with NORMAL sync: each commit survives a crash or kill of this process (not a power
    # cut), for a fraction of a millisecond instead of an fsync per trial.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


class RunStore:
    """One run's folder. Create with `RunStore.create`, read with `RunStore.open`."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._db = _connect(path / DB_NAME, readonly=readonly)
        self._lock: Any = None

    # -- the writer's lock

    def lock(self) -> None:
        """Take the run for writing, or raise StoreError naming the process that has it.

        An OS file lock: released when this process ends in any way (even kill -9), so a
        stale lock never blocks a resume.
        """
        import fcntl
        import socket

        handle = open(self.path / LOCK_NAME, "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(f"{self.path} is in use by {holder} (a run in progress); wait for "
                             "it to end or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._lock = handle

    def is_locked(self) -> bool:
        """Whether some process is writing this run now."""
        import fcntl

        if self._lock is not None:
            return True
        try:
            with open(self.path / LOCK_NAME) as handle:  # read only: a reader writes nothing
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        except OSError:  # no lock file: nobody ever took the run for writing
            return False
        return False

    # -- creating and opening

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, config: dict[str, Any], *,
               scratch: bool = False, note: str | None = None) -> RunStore:
        """A new run folder under runs_dir. An existing run is never overwritten: the new one
        gets the first free suffix (name-2, name-3, ...). A scratch run (a debugging run with
        --raise) is marked so, and replaces the scratch run of the same name, if one is not
        running. `note` goes first in its config.yaml, as a comment (what a reader must know
        to resume it)."""
        root = Path(runs_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the runs folder {root}: {error}") from None
        for attempt in range(1, 10_000):
            folder = root / (name if attempt == 1 else f"{name}-{attempt}")
            try:
                folder.mkdir()
                break
            except FileExistsError:
                if scratch and _is_idle_scratch(folder):
                    shutil.rmtree(folder)
                    folder.mkdir()
                    break
        config = {**config, "name": folder.name}
        comment = "".join(f"# {line}\n" for line in (note or "").splitlines())
        (folder / CONFIG_NAME).write_text(comment + yaml.safe_dump(config, sort_keys=False))
        store = cls(folder)
        store.lock()
        store._db.execute("PRAGMA journal_mode = WAL")
        store._db.executescript(_SCHEMA + _INTERMEDIATE)
        store._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        store.set_meta(name=folder.name, created=time.time(), status="running",
                       direction=config.get("search", {}).get("direction", "maximize"))
        if scratch:
            store.set_meta(mode="scratch")
        return store

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> RunStore:
        """An existing run. Read-only, it writes nothing; to write, its tables are made sure of
        and a store of an earlier version is brought up to date.

        Raises:
            StoreError: naming the run and what is wrong with it.
        """
        folder = Path(path)
        if not (folder / DB_NAME).is_file():
            raise StoreError(f"{folder} is not a run folder (it has no {DB_NAME})")
        store = None
        try:
            store = cls(folder, readonly=readonly)
            version = store._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{folder}: its store was written by a newer hpsearch (store version "
                    f"{version}; this one reads up to {SCHEMA_VERSION}); upgrade hpsearch to "
                    "open it")
            if not readonly:
                # A run created this very moment may not have its tables yet (idempotent).
                store._db.executescript(_SCHEMA)
                if version < SCHEMA_VERSION:
                    store._upgrade()
        except sqlite3.DatabaseError as error:
            if store is not None:
                store.close()
            raise StoreError(f"{folder}: cannot read its store {DB_NAME} ({error})") from None
        except BaseException:
            if store is not None:
                store.close()
            raise
        return store

    def _select(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a query; none from a table a young (or read-only, older) run lacks yet."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error) or "no such column" in str(error):
                return []
            raise

    def _upgrade(self) -> None:
        """Bring a store written by an earlier hpsearch to SCHEMA_VERSION, in place."""
        with self._db:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}
            if "retest_of" not in columns:
                self._db.execute("ALTER TABLE trials ADD COLUMN retest_of INTEGER")
            reports = {row[1] for row in self._db.execute("PRAGMA table_info(intermediate)")}
            if reports and "fold" not in reports:  # reports of version 1 were of fold 0
                self._db.execute("ALTER TABLE intermediate RENAME TO intermediate_1")
                self._db.executescript(_INTERMEDIATE)
                self._db.execute("INSERT INTO intermediate (trial, fold, epoch, value) "
                                 "SELECT trial, 0, epoch, value FROM intermediate_1")
                self._db.execute("DROP TABLE intermediate_1")
            self._db.executescript(_INTERMEDIATE)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta

    def set_meta(self, **values: Any) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._select("SELECT key, value FROM meta")}

    def config(self) -> dict[str, Any]:
        """The resolved config the run was started with."""
        return yaml.safe_load((self.path / CONFIG_NAME).read_text())

    @property
    def name(self) -> str:
        return self.path.name

    # -- trials

    def save_model(self, model: Any, info: dict[str, Any]) -> Path:
        """Keep a fitted model in the run folder with what it is (written atomically)."""
        import joblib

        path = self.path / MODEL_NAME
        partial = path.with_name(path.name + ".tmp")
        joblib.dump(model, partial)
        os.replace(partial, path)
        (self.path / MODEL_INFO).write_text(json.dumps(info, indent=1, default=str) + "\n")
        return path

    def load_model(self) -> tuple[Any, dict[str, Any]]:
        """The run's refitted model and what it is.

        Raises:
            StoreError: when the run has none yet.
        """
        path = self.path / MODEL_NAME
        if not path.is_file():
            raise StoreError(f"{self.path} has no fitted model yet: fit one with hpsearch refit "
                             f"{self.path} (or search.refit: true)")
        import joblib

        info = json.loads((self.path / MODEL_INFO).read_text()) \
            if (self.path / MODEL_INFO).is_file() else {}
        return joblib.load(path), info

    def log_path(self, trial: int) -> Path:
        """Where a trial's output is kept."""
        return self.path / LOGS_NAME / f"{trial}.log"

    def add(self, result: TrialResult) -> None:
        """Store a finished trial, with its per-epoch reports and (from a worker that could not
        write it) its log; committed before this returns."""
        t = result.trial
        if result.log is not None:
            path = self.log_path(t.number)
            path.parent.mkdir(exist_ok=True)
            path.write_text(result.log, encoding="utf-8")
        reports = [(t.number, r["fold"], r["epoch"], r["score"],
                    _json_or_none({k: v for k, v in r.items()
                                   if k not in ("fold", "epoch", "score")}))
                   for r in result.reports]
        with self._db:
            if reports:
                self._db.executemany("INSERT OR REPLACE INTO intermediate VALUES (?,?,?,?,?)",
                                     reports)
            self._db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    t.number, t.round, result.status.value, json.dumps(dict(t.params)),
                    json.dumps(list(t.unit)), t.seed, json.dumps(list(result.scores)),
                    _finite(result.mean), _finite(result.std), result.duration, result.error,
                    json.dumps(dict(result.extra)) if result.extra else None, time.time(),
                    t.retest_of,
                ),
            )

    def results(self) -> list[TrialResult]:
        """Every stored trial, by number."""
        # a store of version 0, read without upgrading it, has no retest_of column
        columns = {row[1] for row in self._select("PRAGMA table_info(trials)")}
        retest_of = "retest_of" if "retest_of" in columns else "NULL"
        rows = self._select(
            "SELECT number, round, status, params, unit, seed, scores, duration, error, extra, "
            f"{retest_of} FROM trials ORDER BY number"
        )
        return [_result(*row) for row in rows]

    def add_round(self, number: int, kind: str, region: Region, trials: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?,?,?,?,?,?,?)",
                (number, kind, json.dumps(region.space.to_yaml()), json.dumps(list(region.lo)),
                 json.dumps(list(region.hi)), json.dumps(list(region.source)), trials),
            )

    def rounds(self) -> list[dict[str, Any]]:
        """Each round's kind, space (as YAML data), region corners and source trials."""
        rows = self._select(
            "SELECT round, kind, space, lo, hi, source, trials FROM rounds ORDER BY round")
        return [{"round": r, "kind": k, "space": json.loads(sp), "lo": json.loads(lo),
                 "hi": json.loads(hi), "source": json.loads(src), "trials": n}
                for r, k, sp, lo, hi, src, n in rows]

    def add_epoch(self, epoch: int, loss: float, val_score: float | None, learning_rate: float,
                  seconds: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?)",
                             (epoch, loss, val_score, learning_rate, seconds))

    def epochs(self) -> list[dict[str, Any]]:
        names = ("epoch", "loss", "val_score", "learning_rate", "seconds")
        rows = self._select(f"SELECT {', '.join(names)} FROM epochs ORDER BY epoch")
        return [dict(zip(names, row)) for row in rows]

    def add_change(self, epoch: int, name: str, old: Any, new: Any) -> None:
        with self._db:
            self._db.execute("INSERT INTO changes VALUES (?,?,?,?)",
                             (epoch, name, json.dumps(old), json.dumps(new)))

    def changes(self) -> list[dict[str, Any]]:
        rows = self._select("SELECT epoch, name, old, new FROM changes ORDER BY rowid")
        return [{"epoch": e, "name": n, "old": json.loads(o), "new": json.loads(v)}
                for e, n, o, v in rows]


class EpochScores:
    """The scoreboard of per-epoch reports early stopping compares, shared by every worker of a
    run through its database (WAL: many readers, short writes). Opened lazily in the worker that
    reports."""

    stores_reports = True  # what it is told is in the run's store: the driver need not add it

    def __init__(self, database: str) -> None:
        self.database = database
        self._local = threading.local()  # a connection per thread: threads share an objective

    def __getstate__(self) -> dict[str, Any]:  # a copy sent to a worker opens its own
        return {"database": self.database}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["database"])  # type: ignore[misc]

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any]) -> _StoredOthers:
        """Record a report (committed before this returns); return the other trials' reports at
        that fold and epoch, asked about through the index (so a rule's question costs the same
        with ten trials or ten thousand)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _connect(Path(self.database))
            db.executescript(_INTERMEDIATE)
        with db:
            db.execute("INSERT OR REPLACE INTO intermediate VALUES (?, ?, ?, ?, ?)",
                       (trial, fold, epoch, value, _json_or_none(metrics)))
        return _StoredOthers(db, trial, fold, epoch)

    def close(self) -> None:
        """Close this thread's connection (the next report opens another)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _StoredOthers:
    """The other trials' reports at one fold and epoch, as early stopping's rules ask."""

    def __init__(self, db: sqlite3.Connection, trial: int, fold: int, epoch: int) -> None:
        self.db, self.at = db, (fold, epoch, trial)

    _WHERE = "FROM intermediate WHERE fold = ? AND epoch = ? AND trial != ?"

    def count(self) -> int:
        return int(self.db.execute(f"SELECT count(*) {self._WHERE}", self.at).fetchone()[0])

    def better_than(self, value: float, direction: Direction) -> int:
        sign = ">" if direction.sign > 0 else "<"
        return int(self.db.execute(f"SELECT count(*) {self._WHERE} AND value {sign} ?",
                                   (*self.at, value)).fetchone()[0])

    def nth_best(self, n: int, direction: Direction) -> float:
        order = "DESC" if direction.sign > 0 else "ASC"
        return float(self.db.execute(f"SELECT value {self._WHERE} ORDER BY value {order} "
                                     "LIMIT 1 OFFSET ?", (*self.at, n)).fetchone()[0])


def _is_idle_scratch(folder: Path) -> bool:
    """Whether a run folder holds a scratch run that nothing is writing."""
    try:
        with RunStore.open(folder, readonly=True) as store:
            return store.meta().get("mode") == "scratch" and not store.is_locked()
    except StoreError:
        return False


def _json_or_none(values: Mapping[str, Any]) -> str | None:
    return json.dumps(dict(values), default=str) if values else None


def _result(number: int, round_: int, status: str, params: str, unit: str, seed: int,
            scores: str, duration: float, error: str | None, extra: str | None,
            retest_of: int | None) -> TrialResult:
    trial = Trial(number, json.loads(params), tuple(json.loads(unit)), seed, round_, retest_of)
    return TrialResult(trial, Status(status), tuple(json.loads(scores)), duration, error,
                       json.loads(extra) if extra else {})


def resolve_run(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run's folder from its path, or its name under runs_dir.

    Raises:
        StoreError: naming the runs that exist when there is no such run.
    """
    for candidate in (Path(run), Path(runs_dir) / str(run)):
        if (candidate / DB_NAME).is_file():
            return candidate
    known = sorted(p.name for p in run_folders(Path(runs_dir)))
    listed = f"; runs in {runs_dir}: {', '.join(known[-8:])}" if known else \
        f"; {runs_dir} holds no runs (set --runs-dir?)"
    raise StoreError(f"no run {str(run)!r}{listed}")


def run_folders(root: Path) -> Iterable[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if (p / DB_NAME).is_file()]

