"""Presentation: rich renderables and machine-readable dumps. Functions return what to show;
only the CLI prints. The core never imports this module."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hpsearch.space import Space

_stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)


def print_out(renderable: Any) -> None:
    """The product goes to stdout."""
    _stdout.print(renderable)


def _plain(value: Any) -> Any:
    """JSON-ready: floats at full precision, NaN as null, other odd types as text."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_plain(value))
    return str(value)  # str(float) is its shortest exact form


def dumps(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """Rows as csv (header of keys, full-precision values) or json (a list of objects)."""
    if fmt == "json":
        return json.dumps([_plain(r) for r in rows], indent=1) + "\n"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def points_table(rows: Sequence[Mapping[str, Any]], space: Space) -> Table:
    """Sampled points, each value formatted for its scale."""
    table = Table(title=f"{len(rows)} points", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    for name, scale in space.scales.items():
        kind = scale.kind + (" log" if getattr(scale, "log", False) else "")
        table.add_column(f"{escape(name)}\n[dim]{kind}[/dim]", justify="right")
    for i, row in enumerate(rows):
        shown = space.format(row)
        table.add_row(str(i), *(escape(shown[name]) for name in space.scales))
    return table
