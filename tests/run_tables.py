"""What the tests share: a run read back as any reader of runs reads it (`hpsearch.runs`), and,
for the tests about the database file itself or what no reader offers, a table of its SQLite
store as any SQLite tool reads it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hpsearch.runs import open_run
from hpsearch.trial import TrialResult


def trials(run_dir: Path) -> list[TrialResult]:
    """A run's trials, by number, through the read side."""
    return sorted(open_run(run_dir).results, key=lambda r: r.number)


def table(run_dir: Path, name: str) -> list[dict]:
    """The rows of one table of the run's trials.db, as dicts, in the order of its key."""
    con = sqlite3.connect(run_dir / "trials.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(f"SELECT * FROM {name} ORDER BY rowid")]
    con.close()
    return rows
