"""Presentation: rich renderables and machine-readable dumps. Functions return what to show;
only the CLI prints. The core never imports this module."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hpsearch.api import Retested, RunEvents, RunResult
from hpsearch.coarse_to_fine import Region
from hpsearch.insight import Importance
from hpsearch.space import Space
from hpsearch.trial import Status, TrialResult

# Piped output is not squeezed to 80 columns: a table keeps its natural width there.
_stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ
                  else 240)
stderr = Console(stderr=True, soft_wrap=True)


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
        table.add_column(f"{escape(name)}\n[dim]{scale.label}[/dim]", justify="right")
    for i, row in enumerate(rows):
        shown = space.format(row)
        table.add_row(str(i), *(escape(shown[name]) for name in space.scales))
    return table


# ---------------------------------------------------------------------------------------------
# Leaderboard


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def score_text(result: TrialResult) -> str:
    """'0.9712 ± 0.0050' ('0.9712' for a single score), or '' for a trial without one."""
    if math.isnan(result.mean):
        return ""
    if len(result.scores) == 1:
        return _score(result.mean)
    return f"{_score(result.mean)} ± {_score(result.std)}"


def _score(x: float) -> str:
    """Four decimals for scores such as accuracy, five significant digits for large ones."""
    return f"{x:.4f}" if abs(x) < 10 else f"{x:.5g}"


def leaderboard_rows(run: RunResult, top: int | None = None) -> list[dict[str, Any]]:
    """One row per trial, best first, in scikit-learn's vocabulary (mean_score, std_score,
    params, split scores); values at full precision."""
    rows = []
    for rank, result in run.ranked()[:top]:
        rows.append({
            "rank": rank,
            "trial": result.number,
            "round": result.trial.round,
            "status": result.status.value,
            "mean_score": _plain(result.mean),
            "std_score": _plain(result.std),
            "params": dict(result.params),
            "scores": list(result.scores),
            "metrics": dict(result.extra.get("metrics", {})),
            "duration": result.duration,
            "error": result.error_line or None,
        })
    return rows


def flat_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for csv: params as param_<name> columns, fold scores as split<i>_score columns,
    metrics as metric_<name> columns."""
    folds = max((len(r["scores"]) for r in rows), default=0)
    out = []
    for row in rows:
        flat = {k: v for k, v in row.items()
                if k not in ("params", "scores", "metrics", "error", "duration")}
        flat.update({f"param_{k}": v for k, v in row["params"].items()})
        flat.update({f"split{i}_score": (row["scores"][i] if i < len(row["scores"]) else None)
                     for i in range(folds)})
        flat.update({f"metric_{k}": v for k, v in row["metrics"].items()})
        flat["duration"] = row["duration"]
        flat["error"] = row["error"]
        out.append(flat)
    return out


def leaderboard_table(run: RunResult, top: int | None = None) -> Table:
    """The rich leaderboard: rank, trial, each param on its scale, mean ± std, time."""
    order = run.ranked()
    shown = order[:top]
    failed, pruned = len(run.failed), len(run.pruned)
    title = (f"{escape(run.name)}: {len(order)} trials, {run.complete} complete"
             + (f", {pruned} pruned early" if pruned else "")
             + (f", {failed} failed" if failed else "")
             + f"  [dim]({run.direction.word} is better)[/dim]")
    table = Table(title=title, title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right", style="dim")
    rounds = {r.trial.round for _, r in order}
    if len(rounds) > 1:
        table.add_column("round", justify="right")
    for name, scale in run.space.scales.items():
        if not scale.is_fixed:
            table.add_column(escape(name), justify="right")
    table.add_column("score (mean ± std)", justify="right")
    table.add_column("time", justify="right", style="dim")
    for rank, result in shown:
        values = run.space.format(result.params)
        cells = [str(rank) if rank is not None else "-", str(result.number)]
        if len(rounds) > 1:
            cells.append(str(result.trial.round))
        cells += [escape(values.get(n, "")) for n, s in run.space.scales.items() if not s.is_fixed]
        if result.status is Status.COMPLETE:
            cells.append(score_text(result))
        elif result.status is Status.PRUNED:
            cells.append(f"[dim]pruned at epoch {result.extra.get('epoch', '?')}[/dim]")
        else:
            cells.append(f"[red]{escape(result.status.value)}: "
                         f"{escape(result.error_line[:60])}[/red]")
        cells.append(_seconds(result.duration))
        table.add_row(*cells, style="bold green" if rank == 1 else None)
    if top is not None and len(order) > top:
        table.caption = f"{len(order) - top} more: --top {len(order)} shows all"
    return table


def markdown(run: RunResult, top: int | None = None) -> str:
    names = [n for n, s in run.space.scales.items() if not s.is_fixed]
    lines = ["| rank | trial | round | " + " | ".join(names) + " | score | time | status |",
             "|" + "---|" * (len(names) + 6)]
    for rank, result in run.ranked()[:top]:
        values = run.space.format(result.params)
        cells = [str(rank or "-"), str(result.number), str(result.trial.round),
                 *(values.get(n, "") for n in names), score_text(result),
                 _seconds(result.duration), result.status.value]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def failure_lines(run: RunResult) -> list[str]:
    """'3 of 20 trials failed', then each distinct error with its count, most frequent first;
    for a command, the exact argv of its first trial (ready to paste into a shell) and the last
    lines of its stderr."""
    lines = []
    if run.pruned:
        lines.append(f"{len(run.pruned)} of {len(run.results)} trials stopped early as hopeless "
                     "(search.early_stopping)")
    ignored = [r for r in run.results if r.extra.get("ignored_lines")]
    if ignored:
        lines.append(f"{len(ignored)} trials printed lines that looked like JSON reports but "
                     f"were not, ignored (e.g. trial {ignored[0].number}: see its log)")
    if not run.failed:
        return lines
    lines.append(f"{len(run.failed)} of {len(run.results)} trials failed:")
    for text, count in run.failure_summary().most_common(5):
        lines.append(f"  {count}× {text}")
        first = min((r for r in run.failed if r.error_line == text), key=lambda r: r.number)
        if "argv" in first.extra:
            lines.append(f"     trial {first.number} ran: {shlex.join(first.extra['argv'])}")
        lines += [f"     | {line}" for line in first.extra.get("stderr", [])[-3:]]
    return lines


class Progress(RunEvents):
    """A run watched on stderr: its folder, a live progress bar (done/total, elapsed, ETA, the
    best score so far) and a line per round; with live=False it only keeps the run. Each
    trial's update costs the same however many trials the run has."""

    def __init__(self, live: bool = True) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[best]}"), console=stderr, transient=False,
        )
        self._task: Any = None
        self.run: RunResult | None = None
        self._live = live
        self._started = False

    def run_started(self, run: RunResult, total: int) -> None:
        self.run = run
        if not self._live:
            return
        stderr.print(f"run folder: {escape(str(run.path))}", style="dim")
        self._bar.start()
        self._started = True
        self._task = self._bar.add_task(escape(run.name), total=total,
                                        completed=len(run.results), best="")

    def round_started(self, number: int, region: Region, size: int) -> None:
        if self._started and number > 1 and self.run is not None:  # round 1: the whole space
            self._bar.console.print(escape(round_line(number, region, size, self.run.space)),
                                    style="dim")

    def trial_done(self, result: TrialResult) -> None:
        if not self._started or self.run is None:
            return
        best = self.run.best
        text = "" if best is None else f"best {_score(best.mean)} (trial {best.number})"
        failed, pruned = len(self.run.failed), len(self.run.pruned)
        if pruned:
            text += f" [dim]{pruned} pruned[/dim]"
        if failed:
            text += f" [red]{failed} failed[/red]"
        self._bar.update(self._task, advance=1, best=text)

    def stop(self) -> None:
        if self._started:
            self._bar.stop()
            self._started = False


# ---------------------------------------------------------------------------------------------
# Zoom


def zoom_table(space: Space, region: Region, title: str) -> Table:
    """Parameter, scale, old range, new range, and how many times narrower (in its scale)."""
    table = Table(title=title, title_justify="left")
    for column in ("parameter", "scale", "old range", "new range"):
        table.add_column(column)
    table.add_column("shrink", justify="right")
    for name, scale in space.scales.items():
        if scale.is_fixed:
            continue
        new = region.space.scales[name]
        shrink = scale.shrink_text(new, region.shrink(name, space.dims))
        table.add_row(escape(name), scale.kind, escape(scale.range_text()),
                      escape(new.range_text()), shrink)
    return table


def round_line(number: int, region: Region, size: int, space: Space) -> str:
    """'round 3: 9 trials in lr 1.2e-03..4.5e-02, beta 0.95..0.99' (only what was narrowed)."""
    parts = []
    for name in space.dims:
        if region.shrink(name, space.dims) > 1.0001:
            parts.append(f"{name} {region.space.scales[name].range_text()}")
    return f"round {number}: {size} trials in " + (", ".join(parts) or "the whole space")


# ---------------------------------------------------------------------------------------------
# Insight: importance, the terminal view, export, retest, runs

_BLOCKS = " ▁▂▃▄▅▆▇█"


def importance_table(run: RunResult, found: Importance) -> Table:
    """Each parameter's share of the explained variation, as bars, most important first."""
    table = Table(title=f"{escape(run.name)}: importance over {found.trials} complete trials "
                        f"(random forest on the unit cube, cross-validated R² {found.r2:.2f})",
                  title_justify="left")
    table.add_column("parameter")
    table.add_column("scale", style="dim")
    table.add_column("share", justify="right")
    table.add_column("", min_width=30)
    for name, share in found.shares.items():
        table.add_row(escape(name), run.space.scales[name].kind, f"{share:.0%}",
                      "[cyan]" + "█" * round(share * 30) + "[/cyan]")
    if not found.reliable:
        table.caption = (f"[yellow]too few trials to say[/yellow] ({found.trials}, R² "
                         f"{found.r2:.2f}): run more before trusting this order")
    return table


def profile_table(run: RunResult, order: Sequence[str], bins: int = 40) -> Table:
    """Score against each parameter in the terminal: the best score in each slice of its range
    (in its own scale), as a bar of blocks; the higher the block, the better."""
    from hpsearch.insight import profile

    table = Table(title=f"{escape(run.name)}: best score along each parameter "
                        "(each column a slice of its range, on its scale; taller is better)",
                  title_justify="left")
    table.add_column("parameter")
    table.add_column("low", justify="right", style="dim")
    table.add_column("best score per slice", no_wrap=True)
    table.add_column("high", style="dim")
    profiles = {name: profile(run.space, run.results, name, bins, run.direction)
                for name in order}
    values = [v for p in profiles.values() for v in p if v is not None]
    if not values:
        return table
    gains = [run.direction.gain(v) for v in values]
    low, high = min(gains), max(gains)
    for name, slices in profiles.items():
        bar = "".join("·" if v is None else _BLOCKS[
            1 + round((run.direction.gain(v) - low) / (high - low or 1) * 7)] for v in slices)
        ends = run.space.scales[name].ends()
        table.add_row(escape(name), escape(ends[0]), bar, escape(ends[1]))
    return table


def retest_table(run: RunResult, found: Sequence[Retested]) -> Table:
    """Old and new score and rank side by side: a stale winner shows at once."""
    data = {True: " on the run's own data", False: " on other data",
            None: ""}[found[0].same_data if found else None]
    table = Table(title=f"{escape(run.name)}: retest of the best {len(found)}{data}",
                  title_justify="left")
    for column in ("trial", "old rank", "old score", "new score", "change", "new rank"):
        table.add_column(column, justify="right")
    for item in found:
        new = item.new_mean
        change = "" if math.isnan(new) else f"{new - item.trial.mean:+.4f}"
        moved = ""
        if item.new_rank is not None and item.old_rank is not None:
            step = item.old_rank - item.new_rank
            moved = f" ({'▲' if step > 0 else '▼'}{abs(step)})" if step else ""
        failed = sum(r.status is not Status.COMPLETE for r in item.new)
        table.add_row(f"#{item.trial.number}", str(item.old_rank), score_text(item.trial),
                      "[red]failed[/red]" if math.isnan(new) else _score(new)
                      + (f" [red]({failed} failed)[/red]" if failed else ""),
                      change, "-" if item.new_rank is None else f"{item.new_rank}{moved}")
    return table


def runs_table(runs: Sequence[Mapping[str, Any]], runs_dir: str) -> Table:
    """The runs of a folder: name, date, trials, best score, status."""
    import datetime

    table = Table(title=f"runs in {escape(runs_dir)}", title_justify="left")
    for column in ("name", "created", "trials", "complete", "failed", "best", "status"):
        table.add_column(column, justify="right" if column in ("trials", "complete", "failed",
                                                               "best") else "left")
    colours = {"running": "cyan", "finished": "green", "interrupted": "yellow", "damaged": "red"}
    damaged = []
    for run in runs:
        created = "" if run["created"] is None else datetime.datetime.fromtimestamp(
            run["created"]).strftime("%Y-%m-%d %H:%M")
        best = "" if run["best"] is None else _score(run["best"])
        status = run["status"]
        counts = ["" if run[k] is None else str(run[k]) for k in ("trials", "complete", "failed")]
        table.add_row(escape(run["name"]), created, *counts, best,
                      f"[{colours.get(status, 'white')}]{status}[/]")
        if run.get("error"):
            damaged.append(f"{run['name']}: {run['error']}")
    if damaged:
        table.caption = "[red]damaged[/red] (cannot be read): " + escape("; ".join(damaged))
    return table


class EpochView:
    """Babysitting in the terminal: a line per epoch (loss, validation score, learning rate, a
    sparkline of the validation curve so far), hot changes marked where they apply."""

    def __init__(self, sitter: Any) -> None:
        self.sitter = sitter
        self._paused = False
        for line in sitter.messages:
            stderr.print(f"[yellow]{escape(line)}[/yellow]")
        stderr.print(f"babysitting {escape(str(sitter.store.path))}: edit "
                     f"{escape(str(sitter.control_path))} to steer it", style="dim")

    def epoch(self, sitter: Any, record: Mapping[str, Any]) -> None:
        self._paused = False
        values = [-r["loss"] if r["val_score"] is None else r["val_score"]
                  for r in sitter.store.epochs()[-40:]]
        val = record.get("val_score")
        stderr.print(f"epoch {record['epoch']:>4}  loss {record['loss']:.4f}  "
                     + (f"val {val:.4f}  " if val is not None else "")
                     + f"lr {record['learning_rate']:.2e}  {record['seconds']:.2f}s  "
                     f"[cyan]{sparkline(values)}[/cyan]")
        for line in sitter.messages:
            colour = "magenta" if "→" in line else "yellow"
            stderr.print(f"  [{colour}]◆ {escape(line)}[/{colour}]")

    def paused(self, sitter: Any) -> None:
        if not self._paused:
            stderr.print("paused: set state: run (or stop) in the control file", style="yellow")
            self._paused = True

    def summary(self) -> Table:
        """Every epoch, with the changes marked on the epoch they took effect."""
        rows = self.sitter.store.epochs()
        marks: dict[int, list[str]] = {}
        for change in self.sitter.store.changes():
            marks.setdefault(change["epoch"], []).append(
                f"{change['name']} {change['old']} → {change['new']}")
        table = Table(title=f"{escape(self.sitter.store.name)}: {len(rows)} epochs",
                      title_justify="left")
        for column in ("epoch", "loss", "val score", "learning rate", "change"):
            table.add_column(column, justify="left" if column == "change" else "right")
        for row in rows[-30:]:
            val = row["val_score"]
            table.add_row(str(row["epoch"]), f"{row['loss']:.4f}",
                          "" if val is None else f"{val:.4f}", f"{row['learning_rate']:.2e}",
                          escape("; ".join(marks.get(row["epoch"], []))))
        scores = [r["val_score"] for r in rows if r["val_score"] is not None]
        if scores:
            table.caption = f"validation {sparkline(scores[-60:])}  best {max(scores):.4f}"
        return table


def sparkline(values: Sequence[float]) -> str:
    """▁▂▃▅▇: each value's height between the lowest and the highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    return "".join(_BLOCKS[1 + round((v - low) / (high - low or 1) * 7)] for v in values)
