"""What the tests share: reading a run's store back, as any SQLite tool would."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def stored(run_dir: Path, table: str = "trials") -> list[dict]:
    """The rows of one table of the run's trials.db, as dicts, in the order of its key."""
    con = sqlite3.connect(run_dir / "trials.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    con.close()
    return rows
