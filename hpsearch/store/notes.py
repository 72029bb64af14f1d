"""A run's notes: a line of text for the run and for any of its trials, written by a person
(`hpsearch note`), kept in the run folder's notes.json beside the store, so that a note can be
added while the run goes on without touching what its driver writes. Written whole each time
(a temporary file renamed), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hpsearch.errors import StoreError

__all__ = ["NOTES_NAME", "read_notes", "write_note"]

NOTES_NAME = "notes.json"
MAX_CHARACTERS = 2000  # a note is a line or a few, not a document


def read_notes(folder: Path) -> dict[str, Any]:
    """{"run": text or None, "trials": {number: text}} of a run folder (empty when it has
    none).

    Raises:
        StoreError: the notes file is not one this module wrote.
    """
    path = Path(folder) / NOTES_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"run": None, "trials": {}}
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: cannot read the run's notes ({error}); move it away to "
                         "start them again") from None
    if not isinstance(data, dict) or not isinstance(data.get("trials", {}), dict):
        raise StoreError(f"{path}: not a notes file; move it away to start the notes again")
    return {"run": data.get("run"), "trials": {int(k): str(v) for k, v in
                                               data.get("trials", {}).items()}}


def write_note(folder: Path, text: str, trial: int | None = None) -> dict[str, Any]:
    """Set the run's note, or trial `trial`'s; an empty text removes it. Returns the notes.

    Raises:
        StoreError: the folder cannot be written, or the text is too long.
    """
    if len(text) > MAX_CHARACTERS:
        raise StoreError(f"a note of {len(text):,} characters: at most {MAX_CHARACTERS:,}")
    notes = read_notes(folder)
    if trial is None:
        notes["run"] = text or None
    elif text:
        notes["trials"][trial] = text
    else:
        notes["trials"].pop(trial, None)
    path = Path(folder) / NOTES_NAME
    partial = path.with_name(f".{NOTES_NAME}.{os.getpid()}")
    try:
        partial.write_text(json.dumps({"run": notes["run"], "trials": {
            str(k): v for k, v in sorted(notes["trials"].items())}}, indent=1,
            ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot write the note ({error.strerror})") from None
    return notes
