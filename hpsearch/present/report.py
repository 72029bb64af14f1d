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
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hpsearch.events import RunEvents
from hpsearch.result import Retested, RunResult, stopped_at
from hpsearch.space import Space
from hpsearch.trial import Status, TrialResult

if TYPE_CHECKING:  # numpy's modules: imported where used, not to show a table
    from hpsearch.insight import Importance
    from hpsearch.search.region import Region

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
    if type(value) is str:
        return value
    if value is None or value != value:  # NaN is not equal to itself
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_plain(value))
    return str(value)  # str(float) is its shortest exact form


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet run a cell


def _excel_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, kept as text by a leading quote; any
    other value as it is (numbers are never text here, so never changed)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def dumps(rows: Sequence[Mapping[str, Any]], fmt: str, excel_safe: bool = False) -> str:
    """Rows as csv (header of keys, full-precision values) or json (a list of objects). With
    `excel_safe`, csv text cells that start like a formula get a leading quote (CSV injection:
    a spreadsheet runs `=...` cells)."""
    if fmt == "json":
        return json.dumps([_plain(r) for r in rows], indent=1) + "\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # writes None as an empty cell
    plain = (str, int, float, bool)
    table = [columns] + [[v if type(v) in plain and v == v else _cell(v)  # NaN != NaN
                          for v in map(row.get, columns)] for row in rows]
    if excel_safe:
        table = [[_excel_safe(v) for v in line] for line in table]
    writer.writerows(table)
    return out.getvalue()


def points_table(rows: Sequence[Mapping[str, Any]], space: Space) -> Table:
    """Sampled points, each value formatted for its scale."""
    table = Table(title=f"{len(rows)} points", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    for name, scale in space.scales.items():
        table.add_column(f"{escape(name)}\n[dim]{scale.label}[/dim]", justify="right")
    for i, row in enumerate(rows):
        shown = space.format(row)
        table.add_row(str(i), *(escape(shown.get(name, "")) for name in space.scales))
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
            **stopped_at(result),
            "params": dict(result.params),
            "scores": list(result.scores),
            "metrics": dict(result.extra.get("metrics", {})),
            "duration": result.duration,
            "error": result.error_line or None,
        })
    now = time.time()
    for number, params, started in run.running:
        rows.append({"rank": None, "trial": number, "round": None, "status": "running",
                     "mean_score": None, "std_score": None, "stopped_epoch": None,
                     "stopped_score": None, "params": params, "scores": [],
                     "metrics": {}, "duration": now - started, "error": None})
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


def _status_cell(result: TrialResult) -> str:
    """The score column: mean ± std; a stopped trial's score at the epoch it was stopped at;
    a failed one's status alone (its error is in the summary below the table, so that a long
    message never widens the column and hides the parameters)."""
    if result.status is Status.COMPLETE:
        return score_text(result)
    if result.status is Status.PRUNED:
        score = result.extra.get("score")
        shown = _score(score) + " " if isinstance(score, (int, float)) else ""
        return f"[dim]{shown}@ epoch {result.extra.get('epoch', '?')}[/dim]"
    return f"[red]{escape(result.status.value)}[/red]"


def _title(run: RunResult) -> str:
    failed, pruned = len(run.failed), len(run.pruned)
    return (f"{escape(run.name)}: {len(run.results)} trials, {run.complete} complete"
            + (f", {pruned} pruned early" if pruned else "")
            + (f", {failed} failed" if failed else "")
            + (f", {len(run.running)} running" if run.running else "")
            + f"  [dim]({run.direction.word} is better)[/dim]")


def _width(cells: Sequence[str]) -> int:
    from rich.text import Text

    return max((Text.from_markup(c).cell_len for c in cells), default=0)


def param_order(run: RunResult, shown: Sequence[TrialResult] = ()) -> list[str]:
    """The searched parameters, those that move the score most first (insight.spread: fast at
    any size); those every shown trial shares last."""
    from hpsearch.insight import spread

    moves = spread(run.space, run.results)
    names = list(run.space.dims)
    same = {n for n in names if len({repr(r.params.get(n)) for r in shown}) <= 1} \
        if shown else set()
    return sorted(names, key=lambda n: (n in same, -moves.get(n, 0.0), names.index(n)))


def leaderboard_table(run: RunResult, top: int | None = None, columns: Sequence[str] = (),
                      width: int | None = None) -> Any:
    """The rich leaderboard as it fits `width` columns (the terminal's): rank, trial, the
    score (mean ± std) and the time, never cut; then as many parameters, each on its scale, as
    fit, those that move the score most first (or the `columns` asked for), and a note naming
    the others. With top=1, or a terminal too narrow for a table, the best trial's card."""
    width = width or _stdout.width
    order = run.ranked()
    shown = order[:top]
    if top == 1 and order:
        return best_card(run)
    rounds = len({r.trial.round for _, r in order}) > 1
    now = time.time()
    rows = [([str(rank) if rank is not None else "-", str(r.number)]
             + ([str(r.trial.round)] if rounds else []),
             _status_cell(r), _seconds(r.duration)) for rank, r in shown]
    rows += [(["-", str(number)] + (["?"] if rounds else []),
              "[cyan]running[/cyan]", _seconds(now - started))
             for number, _, started in run.running]
    heads = ["rank", "trial"] + (["round"] if rounds else [])
    fixed = [_width([h, *(cells[i] for cells, *_ in rows)]) for i, h in enumerate(heads)]
    fixed += [_width(["score (mean ± std)", *(r[1] for r in rows)]),
              _width(["time", *(r[2] for r in rows)])]
    used = sum(fixed) + 3 * len(fixed) + 1
    if used > width and order:
        return best_card(run)
    params = {r.number: {**run.space.format(r.params), **_metric_cells(r)} for _, r in shown}
    running = {number: run.space.format(p) for number, p, _ in run.running}
    values = {**params, **running}
    names = list(columns) or param_order(run, [r for _, r in shown])
    chosen: list[str] = []
    left: list[str] = []
    for name in names:  # the most telling (or asked) first; a column that does not fit is left
        need = _width([name, *(values[n].get(name, "") for n in values)]) + 3
        if used + need <= width and (columns or not left):
            chosen.append(name)
            used += need
        else:
            left.append(name)
    metrics = [n for n in chosen if n not in run.space.scales]
    table = Table(title=_title(run), title_justify="left", caption_justify="left")
    for head in heads:
        table.add_column(head, justify="right", no_wrap=True,
                         style="dim" if head == "trial" else None)
    shown_names = [n for n in run.space.scales if n in chosen] + metrics  # the config's order
    for name in shown_names:
        table.add_column(escape(name), justify="right", no_wrap=True)
    table.add_column("score (mean ± std)", justify="right", no_wrap=True)
    table.add_column("time", justify="right", style="dim", no_wrap=True)
    for cells, score, seconds in rows:
        number = int(cells[1])
        shown_values = values.get(number, {})
        table.add_row(*cells, *(escape(shown_values.get(n, "")) for n in shown_names), score,
                      seconds,
                      style="bold green" if cells[0] == "1" else None)
    notes = []
    if top is not None and len(order) > top:
        notes.append(f"{len(order) - top} more: --top {len(order)} shows all")
    if left and columns:
        notes.append(f"not shown, too wide for {width} columns: {', '.join(left)} (fewer "
                     "--columns, or a wider terminal)")
    elif left:
        notes.append(f"not shown: {', '.join(left)} (--columns {','.join(left[:2])} shows them)")
    table.caption = escape("; ".join(notes)) if notes else None
    return table


def metric_names(run: RunResult) -> list[str]:
    """The metrics the run's trials reported beside their score (a result line's
    test_accuracy, a function's train score), in the order first seen."""
    names: dict[str, None] = {}
    for result in run.results:
        names.update(dict.fromkeys(result.extra.get("metrics", {})))
    return list(names)


def _metric_cells(result: TrialResult) -> dict[str, str]:
    return {name: _score(value) if isinstance(value, (int, float)) and not
            isinstance(value, bool) else str(value)
            for name, value in result.extra.get("metrics", {}).items()}


def best_card(run: RunResult) -> Any:
    """The best trial on its own, one line each: score, fold scores, every parameter, round,
    duration: what `--top 1` and a narrow terminal show."""
    best = run.best or (run.ranked()[0][1] if run.results else None)
    card = Table(title=_title(run), title_justify="left", show_header=False)
    card.add_column("", style="bold")
    card.add_column("", overflow="fold")
    if best is None:
        card.add_row("best", "no trial yet")
        return card
    card.add_row("best trial", f"{best.number} (round {best.trial.round}, "
                               f"{best.status.value})")
    card.add_row("score", _status_cell(best))
    for i, score in enumerate(best.scores):
        card.add_row(f"fold {i}", _score(score))
    shown = run.space.format(best.params)
    for name in run.space.scales:
        if name in best.params:
            card.add_row(escape(name), escape(shown.get(name, "")))
    for name, value in best.extra.get("metrics", {}).items():
        card.add_row(escape(name), escape(str(value)))
    card.add_row("time", _seconds(best.duration))
    return card


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


def seed_lines(run: RunResult) -> list[str]:
    """For a run of one configuration (every parameter fixed, as `best --format yaml` writes
    it) with two or more complete trials: how much its score moves with the seed."""
    import statistics

    complete = sorted((r for r in run.results if r.status is Status.COMPLETE),
                      key=lambda r: r.number)
    if run.space.dims or len(complete) < 2:
        return []
    means = [r.mean for r in complete]
    first = complete[0]
    return [f"One configuration, {len(means)} seeds: {min(means):.6g} to {max(means):.6g} "
            f"(mean {statistics.fmean(means):.6g}, std {statistics.stdev(means):.2g}); "
            f"trial {first.number} (seed {first.trial.seed}): {first.mean:.6g}"]


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
        # a notebook draws rich's live bar with ipywidgets (the `notebook` extra); without it,
        # a line at each tenth of the trials instead of a bar that never shows
        self._lines = live and stderr.is_jupyter and not _importable("ipywidgets")
        self._said, self._total = 0, 0  # tenths said, trials planned

    def decided(self, lines: Sequence[str]) -> None:
        if self._live:
            for line in lines:
                stderr.print(escape(line), style="dim")

    def run_started(self, run: RunResult, total: int) -> None:
        self.run = run
        if not self._live:
            return
        stderr.print(f"run folder: {escape(str(run.path))}", style="dim")
        self._total = total
        if self._lines:
            stderr.print(escape("(a live progress bar here needs ipywidgets: pip install "
                                "'hpsearch[notebook]')"), style="dim")
        else:
            self._bar.start()
            self._task = self._bar.add_task(escape(run.name), total=total,
                                            completed=len(run.results), best="")
        self._started = True

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
        if not self._lines:
            self._bar.update(self._task, advance=1, best=text)
            return
        done = len(self.run.results)
        if done * 10 // max(1, self._total) > self._said or done == self._total:
            self._said = done * 10 // max(1, self._total)
            stderr.print(f"{escape(self.run.name)}: {done}/{self._total} trials  {text}")

    def stop(self) -> None:
        if self._started:
            if not self._lines:
                self._bar.stop()
            self._started = False


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Zoom


def zoom_table(space: Space, region: Region, title: str) -> Table:
    """Parameter, scale, old range, new range, and how many times narrower (in its scale)."""
    rows = []
    for name, scale in space.scales.items():
        if scale.is_fixed:
            continue
        new = region.space.scales[name]
        rows.append((escape(name), scale.kind, escape(scale.range_text()),
                     escape(new.range_text()), scale.shrink_text(new, region.shrink(name,
                                                                                   space.dims))))
    table = Table(title=title, title_justify="left")
    # names and scales wrap in a narrow terminal; ranges and factors are never cut
    table.add_column("parameter", overflow="fold")
    table.add_column("scale", overflow="fold")
    for i, column in enumerate(("old range", "new range", "shrink"), start=2):
        table.add_column(column, justify="right" if column == "shrink" else "left",
                         no_wrap=True, min_width=_width([column, *(r[i] for r in rows)]))
    for row in rows:
        table.add_row(*row)
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
                        f"(random forest on the unit cube, out-of-bag R² {found.r2:.2f})",
                  title_justify="left", caption_justify="left")
    table.add_column("parameter")
    table.add_column("scale", style="dim")
    table.add_column("share", justify="right")
    table.add_column("", min_width=30)
    for name, share in found.shares.items():
        table.add_row(escape(name), run.space.scales[name].kind, f"{share:.0%}",
                      "[cyan]" + "█" * round(share * 30) + "[/cyan]")
    notes = []
    if not found.reliable:
        notes.append(f"[yellow]too few trials to say[/yellow] ({found.trials}, R² "
                     f"{found.r2:.2f}): run more before trusting this order")
    later = sum(r.status is Status.COMPLETE and r.trial.round > 1 for r in run.results)
    if later:
        notes.append(f"{later} of these trials come from rounds after the first, crowded where "
                     "the score is best: the shares say what matters there; a run with "
                     "search.rounds: 1 says what matters over the whole space")
    pruned = sum(r.status is Status.PRUNED for r in run.results)
    if pruned:
        notes.append(f"{pruned} trials stopped early are left out")
    table.caption = "\n".join(notes) or None
    return table


def profile_table(run: RunResult, order: Sequence[str], bins: int = 40) -> Table:
    """Score against each parameter in the terminal: the best score in each slice of its range
    (in its own scale), as a bar of blocks; the higher the block, the better."""
    from hpsearch.insight import good_range, profile

    table = Table(title=f"{escape(run.name)}: best score along each parameter "
                        "(each column a slice of its range, on its scale; taller is better)",
                  title_justify="left")
    ends = {name: run.space.scales[name].ends() for name in order}
    table.add_column("parameter", overflow="fold")  # a long name wraps; values are never cut
    table.add_column("low", justify="right", style="dim", no_wrap=True,
                     min_width=_width(["low", *(escape(e[0]) for e in ends.values())]))
    table.add_column("best score per slice", no_wrap=True, min_width=bins)
    table.add_column("high", style="dim", no_wrap=True,
                     min_width=_width(["high", *(escape(e[1]) for e in ends.values())]))
    profiles = {name: profile(run.space, run.results, name, bins, run.direction)
                for name in order}
    values = [v for p in profiles.values() for v in p if v is not None]
    if not values:
        return table
    # shaded over the good part of the range, so that a few terrible slices do not flatten
    # the rest into full blocks; slices below it get the lowest block
    low, high = (run.direction.gain(v) for v in good_range(values, run.direction))
    for name, slices in profiles.items():
        bar = "".join("·" if v is None else _BLOCKS[
            1 + round(max(0.0, run.direction.gain(v) - low) / (high - low or 1) * 7)]
                      for v in slices)
        table.add_row(escape(name), escape(ends[name][0]), bar, escape(ends[name][1]))
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


def status_view(found: Mapping[str, Any]) -> Table:
    """A run's status: progress, counts, the best so far, what runs now and for how long."""
    done, planned = found["finished"], found["planned"]
    eta = "" if found["eta"] is None else f", about {_seconds(found['eta'])} left"
    table = Table(title=f"{escape(found['run'])}: {found['status']}, {done} of {planned} trials"
                        f"{eta}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("trials", f"{found['complete']} complete, {found['failed']} failed, "
                            f"{found['pruned']} pruned, {found['running']} running")
    best = found["best"]
    if best is not None:
        table.add_row("best", f"{_score(best['mean_score'])} (trial {best['trial']}): "
                              + escape(", ".join(f"{k}={_short(v)}"
                                                 for k, v in best["params"].items())))
    for trial in found["running_trials"]:
        table.add_row(f"trial {trial['trial']}", f"running {_seconds(trial['elapsed'])}: "
                      + escape(", ".join(f"{k}={_short(v)}" for k, v in trial["params"].items())))
    return table


def compare_view(found: Mapping[str, Any], space: Space) -> Any:
    """Two runs side by side: trials, best score and quantiles, whether the best scores differ
    by more than their folds' noise, and where each run's best trials sit per parameter."""
    from rich.console import Group

    runs = found["runs"]
    names = [r["run"] for r in runs]
    if names[0] == names[1]:
        names = ["first " + names[0], "second " + names[1]]
    quantiles = list(runs[0]["quantiles"] or runs[1]["quantiles"])
    table = Table(title=f"{escape(names[0])} against {escape(names[1])} "
                        f"({'higher' if found['direction'] == 'maximize' else 'lower'} is better)",
                  title_justify="left", caption_justify="left")
    table.add_column("run", overflow="fold")
    table.add_column("trials", justify="right")
    table.add_column("best (trial)", justify="right", no_wrap=True)
    for q in quantiles:
        table.add_column("p" + q.rstrip("%"), justify="right", no_wrap=True)
    for name, run in zip(names, runs):
        best = run["best"]
        lost = ", ".join(f"{run[k]} {k}" for k in ("failed", "pruned") if run[k])
        table.add_row(escape(name), f"{run['trials']}" + (f" ({lost})" if lost else ""),
                      "-" if best is None else f"{_score(best['mean_score'])} "
                      f"± {_score(best['std_score'])} (#{best['trial']})",
                      *(_score(run["quantiles"][q]) if q in run["quantiles"] else ""
                        for q in quantiles))
    table.caption = ("pNN: NN % of a run's complete trials score worse; ± the folds' std. "
                     + escape(_verdict(names, runs, found["direction"])))
    where = Table(title="where the best trials sit (their lowest..highest value, middle in "
                        "brackets)", title_justify="left")
    where.add_column("parameter")
    for name, run in zip(names, runs):
        where.add_column(f"{escape(name)}: best {run['best_trials']}")
    for param, sides in found["best_trials"].items():
        scale = space.scales[param]
        cells = []
        for side in sides:
            if side is None:
                cells.append("")
            elif "options" in side:
                cells.append(", ".join(f"{k} {v}" for k, v in side["options"].items()))
            else:
                cells.append(f"{scale.format(side['low'])}..{scale.format(side['high'])} "
                             f"({scale.format(side['middle'])})")
        where.add_row(escape(param), *map(escape, cells))
    return Group(table, where) if found["best_trials"] else Group(table)


def _verdict(names: Sequence[str], runs: Sequence[Mapping[str, Any]], direction: str) -> str:
    """Which best score is better, and whether by more than twice the two best trials'
    combined standard error over their folds (a difference within that may be luck)."""
    bests = [r["best"] for r in runs]
    if bests[0] is None or bests[1] is None:
        return ""
    gap = bests[1]["mean_score"] - bests[0]["mean_score"]
    if gap == 0:
        return "The best scores are equal."
    better = int((gap > 0) == (direction == "maximize"))
    text = f"{names[better]}'s best is better by {abs(gap):.4f}"
    errors = [b["stderr"] for b in bests]
    if None in errors:
        return text + "."
    noise = 2 * math.sqrt(errors[0] ** 2 + errors[1] ** 2)
    return text + (f": more than twice the folds' standard error ({noise / 2:.4f})."
                   if abs(gap) > noise else
                   f", within twice the folds' standard error ({noise / 2:.4f}): it may be luck.")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def runs_table(runs: Sequence[Mapping[str, Any]], runs_dir: str) -> Table:
    """The runs of a folder: name, date, trials, best score, status."""
    import datetime

    table = Table(title=f"runs in {escape(runs_dir)}", title_justify="left")
    for column in ("name", "created", "trials", "complete", "failed", "best", "status"):
        # a long name wraps; dates, counts and scores are never cut
        table.add_column(column, justify="right" if column in ("trials", "complete", "failed",
                                                               "best") else "left",
                         overflow="fold" if column == "name" else "ellipsis",
                         no_wrap=column != "name")
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
