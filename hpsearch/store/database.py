"""A run's SQLite database, ``runs/<name>/trials.db``: the only module that touches SQL.

The contract. One process writes a run: the driver, holding the run's lock (`RunStore.lock`). It
creates the run, records each round as it starts and each trial's result the moment it arrives;
nothing else writes trials, rounds or meta. While trials run, the workers that see the run folder
write only through a `RunBoard`: a row in ``running`` when a trial starts (deleted when the
driver stores its result) and the per-epoch reports early stopping compares, each one short
transaction. Readers (`hpsearch.runs`) open the database read-only, at any time, from any
process; they see every committed trial. Each trial's row is committed the moment its result
arrives, in WAL mode, so a crash loses only trials that were running and `hpsearch leaderboard`
can read a run while it is going. Commands that only read open the store read-only: they never
write to a run, not even its schema.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hpsearch.errors import StoreError
from hpsearch.store.folder import (
    CONFIG_NAME,
    DB_NAME,
    LOCK_NAME,
    MODEL_INFO,
    MODEL_NAME,
    log_path,
)
from hpsearch.trial import Direction, Status, Trial, TrialResult

if TYPE_CHECKING:
    from hpsearch.search.region import Region

__all__ = ["RunStore", "RunBoard"]

# The store's layout, kept in SQLite's user_version. 0: written before it was versioned (trials
# may lack retest_of); 1: reports keyed by trial and epoch only; 2: reports keyed by trial, fold
# and epoch; 3: every table below (running trials kept). A newer layout is refused by name,
# never misread.
SCHEMA_VERSION = 3

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
CREATE TABLE IF NOT EXISTS running (  -- trials started and not yet stored: what status shows
    trial   INTEGER PRIMARY KEY,
    params  TEXT NOT NULL,    -- JSON object
    started REAL NOT NULL,    -- unix time
    worker  TEXT NOT NULL     -- process id on host
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

        try:
            handle = open(self.path / LOCK_NAME, "a+")  # noqa: SIM115 - held for the run
        except IsADirectoryError:
            raise StoreError(f"{self.path / LOCK_NAME} is a folder, not the run's lock file: "
                             f"remove it (rmdir {self.path / LOCK_NAME}) to take the run") \
                from None
        except OSError:
            raise _read_only(self.path) from None
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
        except OSError as error:
            raise StoreError(f"cannot create a run folder in {root} ({error.strerror}): give "
                             "a runs folder you can write (--runs-dir)") from None
        config = {**config, "name": folder.name}
        comment = "".join(f"# {line}\n" for line in (note or "").splitlines())
        try:
            (folder / CONFIG_NAME).write_text(comment + yaml.safe_dump(config, sort_keys=False))
            # The store is made whole under another name and then put in place, so that a
            # trials.db always has its tables (one without them is damaged, never young).
            partial = folder / (DB_NAME + ".new")
            db = _connect(partial)
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(_SCHEMA + _INTERMEDIATE)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                meta = {"name": folder.name, "created": time.time(), "status": "running",
                        "direction": config.get("search", {}).get("direction", "maximize"),
                        "config": config}  # as it started: an edit of config.yaml shows
                if scratch:
                    meta["mode"] = "scratch"
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [(k, json.dumps(v)) for k, v in meta.items()])
            finally:
                db.close()
            os.replace(partial, folder / DB_NAME)
        except (OSError, sqlite3.Error) as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise StoreError(f"cannot create the run {folder}: {error}") from None
        store = cls(folder)
        store.lock()
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
        if (folder / DB_NAME).stat().st_size == 0:
            raise StoreError(f"{folder}: its store {DB_NAME} is empty (0 bytes), so it holds no "
                             "trials; start afresh with hpsearch run CONFIG (and remove this "
                             "folder)")
        if not readonly and not os.access(folder, os.W_OK):
            raise _read_only(folder)
        store = None
        try:
            store = cls(folder, readonly=readonly)
            version = store._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{folder}: its store was written by a newer hpsearch (store version "
                    f"{version}; this one reads up to {SCHEMA_VERSION}); upgrade hpsearch to "
                    "open it")
            tables = {t for (t,) in store._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "trials" not in tables:
                raise StoreError(f"{folder}: its store {DB_NAME} has no trials table (not a "
                                 "store of hpsearch, or damaged); start afresh with hpsearch "
                                 "run CONFIG")
            if not readonly and version < SCHEMA_VERSION:
                store._upgrade()
        except sqlite3.DatabaseError as error:
            if store is not None:
                store.close()
            if "readonly" in str(error) or "unable to open" in str(error):
                raise _read_only(folder) from None
            raise _damaged(folder, error) from None
        except BaseException:
            if store is not None:
                store.close()
            raise
        return store

    def _select(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of a query (none from a table an older store lacks); a damaged store is a
        StoreError that names the run."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error) or "no such column" in str(error):
                return []
            raise _damaged(self.path, error) from None
        except sqlite3.DatabaseError as error:
            raise _damaged(self.path, error) from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction; what keeps it from being written (a damaged store, a full or
        read-only disk) is a StoreError that names the run."""
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot write its store {DB_NAME} ({error})") \
                from None

    def _upgrade(self) -> None:
        """Bring a store written by an earlier hpsearch to SCHEMA_VERSION, in place."""
        with self._writing():
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}
            if "retest_of" not in columns:
                self._db.execute("ALTER TABLE trials ADD COLUMN retest_of INTEGER")
            self._db.executescript(_SCHEMA)
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
        with self._writing():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict[str, Any]:
        try:
            return {k: json.loads(v) for k, v in self._select("SELECT key, value FROM meta")}
        except ValueError:
            raise StoreError(f"{self.path}: its store's meta table is damaged (a value is not "
                             "JSON)") from None

    def config(self) -> dict[str, Any]:
        """The resolved config the run was started with, as YAML data.

        Raises:
            StoreError: when it is missing; ConfigError (file:line) when it does not parse.
        """
        from hpsearch.config.files import plain, read_yaml

        path = self.path / CONFIG_NAME
        if not path.is_file():
            raise StoreError(f"{self.path}: its {CONFIG_NAME} is missing, so the run's space "
                             "is unknown: put back the config it ran with (named "
                             f"{CONFIG_NAME}), or start afresh")
        return plain(read_yaml(path))

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

    def add(self, result: TrialResult) -> None:
        """Store a finished trial, with its per-epoch reports and (from a worker that could not
        write it) its log; committed before this returns."""
        t = result.trial
        if result.log is not None:
            path = log_path(self.path, t.number)
            path.parent.mkdir(exist_ok=True)
            path.write_text(result.log, encoding="utf-8")
        reports = [(t.number, r["fold"], r["epoch"], r["score"],
                    _json_or_none({k: v for k, v in r.items()
                                   if k not in ("fold", "epoch", "score")}))
                   for r in result.reports]
        with self._writing():
            self._db.execute("DELETE FROM running WHERE trial = ?", (t.number,))
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
        try:
            return _results(rows)
        except (ValueError, TypeError) as error:  # a row that is not as written
            raise StoreError(f"{self.path}: a trial row of its store is damaged ({error}); "
                             "the other trials: hpsearch export RUN cannot read past it either, "
                             "sqlite3's .recover can") from None

    def reports(self, trials: Sequence[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """Each trial's per-epoch reports (of `trials`, or all), in fold and epoch order: each
        {fold, epoch, score, **metrics}."""
        query = "SELECT trial, fold, epoch, value, metrics FROM intermediate"
        numbers = [] if trials is None else [int(t) for t in trials]
        if trials is not None:
            query += f" WHERE trial IN ({','.join('?' * len(numbers))})"
        rows = self._select(query + " ORDER BY trial, fold, epoch", *numbers)
        out: dict[int, list[dict[str, Any]]] = {}
        try:
            for trial, fold, epoch, value, metrics in rows:
                out.setdefault(trial, []).append({"fold": fold, "epoch": epoch, "score": value,
                                                  **(json.loads(metrics) if metrics else {})})
        except ValueError:
            raise StoreError(f"{self.path}: its store's per-epoch reports are damaged") from None
        return out

    def running(self) -> list[tuple[int, dict[str, Any], float, str]]:
        """The trials started and not yet stored: number, params, start time, worker."""
        rows = self._select("SELECT trial, params, started, worker FROM running WHERE trial NOT "
                            "IN (SELECT number FROM trials) ORDER BY trial")
        try:
            return [(n, json.loads(p), t, w) for n, p, t, w in rows]
        except ValueError:
            raise StoreError(f"{self.path}: its store's running table is damaged") from None

    def forget_running(self) -> None:
        """Forget trials recorded as started, and what those not stored reported (a run starting
        or ending: none is running; a trial run again reports afresh, and early stopping
        compares others with its reports of that run alone)."""
        with self._writing():
            self._db.execute("DELETE FROM running")
            self._db.execute("DELETE FROM intermediate WHERE trial NOT IN "
                             "(SELECT number FROM trials)")

    def summary(self, direction: Direction) -> dict[str, Any]:
        """Counts by status and the best complete trial, straight from the database (as fast
        for ten thousand trials as for ten)."""
        counts = dict(self._select("SELECT status, count(*) FROM trials GROUP BY status"))
        unknown = set(counts) - {s.value for s in Status}
        if unknown:
            raise StoreError(f"{self.path}: a trial row of its store is damaged (status "
                             f"{sorted(map(str, unknown))[0]!r})")
        order = "DESC" if direction.sign > 0 else "ASC"
        best = self._select("SELECT number, mean, params FROM trials WHERE status = 'complete' "
                            f"ORDER BY mean {order}, number LIMIT 1")
        last = self._select("SELECT max(finished) FROM trials")
        try:
            top = None if not best else {"trial": best[0][0], "mean_score": best[0][1],
                                         "params": json.loads(best[0][2])}
        except ValueError:
            raise StoreError(f"{self.path}: a trial row of its store is damaged") from None
        return {"counts": counts, "best": top, "last_finished": last[0][0] if last else None}

    def add_round(self, number: int, kind: str, region: Region, trials: int) -> None:
        with self._writing():
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
        with self._writing():
            self._db.execute("INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?)",
                             (epoch, loss, val_score, learning_rate, seconds))

    def epochs(self) -> list[dict[str, Any]]:
        names = ("epoch", "loss", "val_score", "learning_rate", "seconds")
        rows = self._select(f"SELECT {', '.join(names)} FROM epochs ORDER BY epoch")
        return [dict(zip(names, row)) for row in rows]

    def add_change(self, epoch: int, name: str, old: Any, new: Any) -> None:
        with self._writing():
            self._db.execute("INSERT INTO changes VALUES (?,?,?,?)",
                             (epoch, name, json.dumps(old), json.dumps(new)))

    def changes(self) -> list[dict[str, Any]]:
        rows = self._select("SELECT epoch, name, old, new FROM changes ORDER BY rowid")
        return [{"epoch": e, "name": n, "old": json.loads(o), "new": json.loads(v)}
                for e, n, o, v in rows]


class RunBoard:
    """What the workers of a run share through its database while trials run (WAL: many
    readers, short writes): the trials that started, and the per-epoch reports early stopping
    compares. Opened lazily in the worker."""

    stores_reports = True  # what it is told is in the run's store: the driver need not add it

    def __init__(self, database: str) -> None:
        self.database = database
        self._local = threading.local()  # a connection per thread: threads share an objective

    def __getstate__(self) -> dict[str, Any]:  # a copy sent to a worker opens its own
        return {"database": self.database}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["database"])  # type: ignore[misc]

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = _connect(Path(self.database))
            db.executescript(_INTERMEDIATE)
        return db

    def started(self, trial: int, params: Mapping[str, Any]) -> None:
        """Record that a trial started here (status shows it until the driver stores it)."""
        import socket

        db = self._db()
        with db:
            db.execute("INSERT OR REPLACE INTO running VALUES (?, ?, ?, ?)",
                       (trial, json.dumps(dict(params), default=str), time.time(),
                        f"process {os.getpid()} on {socket.gethostname()}"))

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any], peers: int | None = None) -> _StoredOthers:
        """Record a report (committed before this returns); return the other trials' reports at
        that fold and epoch (of the trials numbered below `peers`, when given), asked about
        through the index (so a rule's question costs the same with ten trials or ten
        thousand)."""
        db = self._db()
        with db:
            db.execute("INSERT OR REPLACE INTO intermediate VALUES (?, ?, ?, ?, ?)",
                       (trial, fold, epoch, value, _json_or_none(metrics)))
        return _StoredOthers(db, trial, fold, epoch, peers)

    def close(self) -> None:
        """Close this thread's connection (the next report opens another)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _StoredOthers:
    """The other trials' reports at one fold and epoch, as early stopping's rules ask."""

    def __init__(self, db: sqlite3.Connection, trial: int, fold: int, epoch: int,
                 peers: int | None = None) -> None:
        self.db, self.at = db, (fold, epoch, trial, 2**62 if peers is None else peers)

    _WHERE = "FROM intermediate WHERE fold = ? AND epoch = ? AND trial != ? AND trial < ?"

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


def _read_only(folder: Path) -> StoreError:
    return StoreError(f"{folder}: cannot take the run for writing: its folder is read-only; it "
                      "reads as any run, and to go on with it, copy it somewhere writable")


def _damaged(folder: Path, error: Exception) -> StoreError:
    return StoreError(f"{folder}: its store {DB_NAME} is damaged ({error}); sqlite3's .recover "
                      "may save its trials, or start afresh with hpsearch run CONFIG")


def _json_or_none(values: Mapping[str, Any]) -> str | None:
    return json.dumps(dict(values), default=str) if values else None


def _results(rows: Sequence[tuple[Any, ...]]) -> list[TrialResult]:
    """Stored rows as results. The JSON columns are decoded in one call each, as one array
    (ten times faster than a call per value at 10,000 trials); when that fails, row by row,
    so that the damaged row is named."""
    try:
        columns = [json.loads("[" + ",".join(row[i] or "{}" for row in rows) + "]")
                   for i in (3, 4, 6, 9)]
        if any(len(column) != len(rows) for column in columns):
            raise ValueError("a value holds a comma outside brackets")
        statuses = {s.value: s for s in Status}
        return [TrialResult(Trial(row[0], params, tuple(unit), row[5], row[1], row[10]),
                            statuses[row[2]], tuple(scores), row[7], row[8], extra)
                for row, params, unit, scores, extra in zip(rows, *columns)]
    except (ValueError, TypeError, KeyError):
        return [_result(*row) for row in rows]


def _result(number: int, round_: int, status: str, params: str, unit: str, seed: int,
            scores: str, duration: float, error: str | None, extra: str | None,
            retest_of: int | None) -> TrialResult:
    try:
        trial = Trial(number, json.loads(params), tuple(json.loads(unit)), seed, round_,
                      retest_of)
        return TrialResult(trial, Status(status), tuple(json.loads(scores)), duration, error,
                           json.loads(extra) if extra else {})
    except ValueError as problem:
        what = "its status" if "Status" in str(problem) else "a value that is not JSON"
        raise ValueError(f"trial {number}: {what}: {problem}") from None
