"""The command line: parse options, call the API, render, exit with a clear code.

Exit codes: 0 done, 1 every trial failed (or search.max_failures stopped the run), 2 bad
input (one or two lines on stderr, no traceback), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM). Heavy modules are imported inside the commands, so ``hpsearch --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from hpsearch.errors import InputError
from hpsearch.execution import EXECUTORS
from hpsearch.search.sampling import SAMPLERS

if TYPE_CHECKING:
    from hpsearch.config import Config
    from hpsearch.trial import Trial

FORMATS = ("table", "csv", "json")


class BadInput(click.ClickException):
    """A user mistake: printed as one or two lines, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)


class _Group(click.Group):
    """The single error boundary: bad input (an InputError) becomes a clean message and exit
    code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise BadInput(str(error)) from None


# Options shared by several commands, each defined once.
seed_option = click.option("--seed", type=int, default=None,
                           help="Run seed (default: search.seed). Fixes every sampled point.")
sampler_option = click.option("--sampler", type=click.Choice(list(SAMPLERS)),
                              default=None, help="Sampler (default: search.sampler).")
runs_dir_option = click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
                               show_default=True, help="Folder that holds the runs.")
excel_safe_option = click.option(
    "--excel-safe", is_flag=True,
    help="With --format csv: text cells that start with =, +, -, @ or a tab get a leading ' "
         "so that a spreadsheet shows them and never runs them (numbers are unchanged).")
set_option = click.option("--set", "overrides", metavar="KEY=VALUE", multiple=True,
                          help="Override a key of CONFIG, such as --set search.trials=200 or "
                               "--set space.lr.high=1e-2 (repeatable; the value reads as YAML).")


class _Warnings(logging.Handler):
    """hpsearch's warnings (a dead worker, an objective that cannot be stopped early), one
    line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.secho(f"warning: {record.getMessage()}", fg="yellow", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch")
def cli() -> None:
    """Hyperparameter search: random search on the right scales, trials in parallel,
    coarse-to-fine zoom, and a leaderboard you can read at a glance.

    Start with `hpsearch sample CONFIG` to see the points a run would try, then
    `hpsearch run CONFIG`.
    """
    logger = logging.getLogger("hpsearch")
    if not any(isinstance(h, _Warnings) for h in logger.handlers):
        logger.addHandler(_Warnings(logging.WARNING))
        logger.propagate = False


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-n", "--trials", "n", type=click.IntRange(min=1), default=None,
              help="How many points (default: search.trials).")
@seed_option
@sampler_option
@set_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; csv and json print values at full precision.")
@excel_safe_option
def sample(config: str, n: int | None, seed: int | None, sampler: str | None,
           overrides: tuple[str, ...], fmt: str, excel_safe: bool) -> None:
    """Print the points a run of CONFIG would try, without training anything.

    The quickest way to check that each parameter's scale puts samples where you want them.
    """
    from hpsearch.config import load_config
    from hpsearch.driver import planned
    from hpsearch.present import report
    from hpsearch.trial import plan_trials

    _check_excel_safe(excel_safe, fmt)
    cfg = load_config(config, overrides)
    count, seed = n or cfg.search.trials, cfg.search.seed if seed is None else seed
    if cfg.search.strategy is not None:
        if sampler is not None:
            raise click.BadParameter(f"search.strategy ({cfg.search.strategy}) proposes the "
                                     "points, not a sampler", param_hint="--sampler")
        trials = _proposed(cfg, count, seed)
    else:
        trials = plan_trials(cfg.space, sampler or cfg.search.sampler, count, seed,
                             enqueue=cfg.search.enqueue)
    rows = [dict(t.params) for t in trials]
    if fmt == "table":
        report.print_out(report.points_table(rows, cfg.space))
    else:
        click.echo(report.dumps(rows, fmt, excel_safe), nl=False)
    plan = planned(cfg)
    if cfg.search.strategy is not None:
        if len(rows) < count:
            click.echo(f"search.strategy: {cfg.search.strategy} proposes "
                       f"{f'these {len(rows)}' if rows else 'no trial'} before any result, and "
                       f"the other {count - len(rows)} from the results.", err=True)
    elif plan.rounds > 1:  # only round 1's points are known before the run
        first = plan.sizes[0]
        if (sampler or cfg.search.sampler) == "grid":
            tried = f"a grid of {first} of its own"
        else:
            tried = f"the first {first} of these" if len(rows) >= first else \
                f"these {len(rows)} and {first - len(rows)} more"
        click.echo(f"A run tries {tried} in round 1; its {plan.rounds - 1} later rounds pick "
                   "their points near the best results (search.rounds; 1 for random search "
                   "only).", err=True)


def _proposed(cfg: Config, count: int, seed: int) -> list[Trial]:
    """The trials a config's own strategy (search.strategy) proposes before any result: asked
    in order until one needs results (a misbehaving strategy is a StrategyError)."""
    from hpsearch.driver import planned
    from hpsearch.search import strategy_for

    plan = planned(cfg)
    search = cfg.replace(search={"trials": count, "seed": seed, "rounds": plan.rounds,
                                 "lookahead": plan.lookahead}).search
    strategy = strategy_for(cfg.space, search, (), cfg.objective.path)
    trials = []
    try:
        for number in range(strategy.first, strategy.first + count):
            if strategy.needs(number) > strategy.first:
                break
            trials.append(strategy.ask(number)[0])
    finally:
        strategy.close()
    return trials


def _check_excel_safe(excel_safe: bool, fmt: str) -> None:
    if excel_safe and fmt != "csv":
        raise click.BadParameter("applies to --format csv (json and parquet keep types)",
                                 param_hint="--excel-safe")


def _check_jobs(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and (value == 0 or value < -1):
        raise click.BadParameter("must be >= 1, or -1 for all cores")
    return value


jobs_option = click.option("--jobs", "n_jobs", type=int, default=None, callback=_check_jobs,
                           help="Parallel workers; -1 for all cores (default: parallel.n_jobs).")
backend_option = click.option("--backend", type=click.Choice(list(EXECUTORS)), default=None,
                              help="Where trials run (default: parallel.backend).")
quiet_option = click.option("-q", "--quiet", is_flag=True,
                            help="No progress bar and no leaderboard.")


def _drive(start: Callable[[Any], Any], quiet: bool) -> None:
    """Run a search through `start(events)` with a live progress bar, then show failures and
    the leaderboard; map every outcome to its exit code."""
    from hpsearch.errors import AllTrialsFailed, RunFailed, StrategyError, TrialFailedError
    from hpsearch.present import report

    progress = report.Progress(live=not quiet)

    def failures() -> list[str]:
        return report.failure_lines(progress.run) if progress.run is not None else []

    def stop(code: int, *lines: str) -> NoReturn:
        progress.stop()
        for line in lines:
            click.echo(line, err=True)
        if progress.run is not None and progress.run.results and not quiet:
            report.print_out(report.leaderboard_table(progress.run, top=20))
        sys.exit(code)

    try:
        result = start(progress)
    except KeyboardInterrupt as interrupted:
        code = 143 if isinstance(interrupted, Terminated) else 130
        run = progress.run
        if run is None or not run.results:
            stop(code, "Interrupted before any trial ended: nothing was stored")
        stop(code, f"Interrupted: finished trials are stored in {run.path}; continue with: "
                   f"hpsearch resume {run.path}")
    except StrategyError as error:
        run = progress.run
        if run is None or not run.results:
            stop(2, f"Error: {error}")
        ended = len(run.results)
        stop(2, f"Error: {error}", f"The {ended} trial{'s' * (ended != 1)} that ended "
             f"{'are' if ended != 1 else 'is'} stored in {run.path}; once the strategy is "
             f"fixed, continue with: hpsearch resume {run.path}")
    except TrialFailedError as error:
        failed = error.result
        where = progress.run.path if progress.run is not None else "the run"
        ran = [f"It ran: {shlex.join(failed.extra['argv'])}"] if "argv" in failed.extra else []
        stop(1, str(failed.error), *ran, f"Trial {failed.number} {failed.status.value} with "
             f"params {dict(failed.params)}; stored in {where}")
    except AllTrialsFailed as error:
        stop(1, *failures(), f"Error: {error.summary}", "Rerun with --raise to stop at the "
             "first failure with its full output (traceback, or the command's stderr).")
    except RunFailed as error:
        stop(1, *failures(), f"Error: {error}")
    finally:
        progress.stop()
    for line in report.failure_lines(result) + report.seed_lines(result):
        click.echo(line, err=True)
    if not quiet:
        report.print_out(report.leaderboard_table(result, top=20))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Number of trials, over all rounds (default: search.trials).")
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="Coarse-to-fine rounds sharing the trials (default: search.rounds, auto: "
                   "from the budget and the workers).")
@jobs_option
@backend_option
@seed_option
@click.option("--name", default=None, help="Run name (default: the config's name).")
@click.option("--warm-start", "warm_start", metavar="RUN", multiple=True,
              help="Start the model from an earlier run's trials, not run again (repeatable; "
                   "adds to search.warm_start).")
@set_option
@runs_dir_option
@click.option("--resume", "resume_run", metavar="RUN", default=None,
              help="Continue the stopped run RUN instead (same as `hpsearch resume RUN`).")
@click.option("--accept-edits", is_flag=True,
              help="With --resume: go on with a run whose config.yaml was edited since it "
                   "started.")
@quiet_option
@click.option("--raise", "raise_errors", is_flag=True,
              help="Run trials one by one and stop at the first failure with its traceback.")
def run(config: str | None, trials: int | None, rounds: int | None, n_jobs: int | None,
        backend: str | None, seed: int | None, name: str | None, warm_start: tuple[str, ...],
        overrides: tuple[str, ...], runs_dir: str, resume_run: str | None, accept_edits: bool,
        quiet: bool, raise_errors: bool) -> None:
    """Sample points of CONFIG's space and train a model at each, in parallel.

    Every trial's fold scores go to runs/<name>/ as soon as it ends; a live progress bar shows
    the best score so far, and the leaderboard follows. Exit code 0 when the run completed, 1
    when every trial failed, 2 for bad input, 130 when interrupted (finished trials are kept,
    and `hpsearch resume RUN` continues).
    """
    from hpsearch import api

    if resume_run is not None:
        if config is not None or trials or rounds or seed is not None or name or raise_errors \
                or overrides or warm_start:
            raise click.UsageError("--resume RUN takes no CONFIG and none of --trials, "
                                   "--rounds, --seed, --name, --warm-start, --set, --raise: "
                                   "the run keeps its own")
        _drive(lambda events: api.resume(resume_run, n_jobs=n_jobs, backend=backend,
                                         accept_edits=accept_edits, runs_dir=runs_dir,
                                         events=events), quiet)
        return
    if accept_edits:
        raise click.UsageError("--accept-edits goes with --resume RUN")
    if config is None:
        raise click.UsageError("give a CONFIG file, or --resume RUN")
    _drive(lambda events: api.run(config, trials=trials, rounds=rounds, n_jobs=n_jobs,
                                  backend=backend, seed=seed, name=name, warm_start=warm_start,
                                  runs_dir=runs_dir,
                                  raise_errors=raise_errors, events=events,
                                  overrides=overrides), quiet)


@cli.command()
@click.argument("run")
@jobs_option
@backend_option
@click.option("--accept-edits", is_flag=True,
              help="Go on with a run whose config.yaml was edited since it started (its "
                   "trials so far ran with the config as it was).")
@runs_dir_option
@quiet_option
def resume(run: str, n_jobs: int | None, backend: str | None, accept_edits: bool, runs_dir: str,
           quiet: bool) -> None:
    """Continue RUN where it stopped (Ctrl-C, a killed driver, a restart).

    Finished trials are kept and not repeated, trials that were running run again, and the
    points are the ones an uninterrupted run samples.
    """
    from hpsearch import api

    _drive(lambda events: api.resume(run, n_jobs=n_jobs, backend=backend,
                                     accept_edits=accept_edits, runs_dir=runs_dir,
                                     events=events), quiet)


@cli.command()
@click.argument("run")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Show the best K trials (default: 20 in the table, all otherwise).")
@click.option("--format", "fmt", type=click.Choice([*FORMATS, "markdown"]), default="table",
              show_default=True)
@click.option("--columns", default=None, metavar="NAME,...",
              help="The parameters and metrics to show, as many as fit (default: the "
                   "parameters that move the score most first).")
@excel_safe_option
@runs_dir_option
def leaderboard(run: str, top: int | None, fmt: str, columns: str | None, excel_safe: bool,
                runs_dir: str) -> None:
    """Show the trials of RUN (a run folder, or a name under --runs-dir), best first.

    Works while the run is going (running trials are marked). The table fits the terminal:
    rank, trial and score are never cut, parameters that do not fit are named below it;
    --top 1 shows the best trial's card. csv and json print full precision: rank, trial,
    round, status, mean_score, std_score, params, fold scores, metrics, duration, error.
    """
    from hpsearch.errors import did_you_mean
    from hpsearch.present import report
    from hpsearch.runs import open_run

    _check_excel_safe(excel_safe, fmt)
    result = open_run(run, runs_dir)
    names = [n.strip() for n in (columns or "").split(",") if n.strip()]
    known = [*result.space.dims, *report.metric_names(result)]
    for name in names:
        if name not in known:
            raise InputError(f"--columns: {result.name} has no searched parameter or metric "
                             f"{name!r}; {did_you_mean(name, known)}its parameters and "
                             "metrics: " + ", ".join(known))
    if fmt == "table":
        report.print_out(report.leaderboard_table(result, top=top or 20, columns=names))
    elif fmt == "markdown":
        click.echo(report.markdown(result, top), nl=False)
    else:
        rows = report.leaderboard_rows(result, top)
        click.echo(report.dumps(rows if fmt == "json" else report.flat_rows(rows), fmt,
                                excel_safe), nl=False)


@cli.command()
@click.argument("run")
@click.option("--top", type=click.IntRange(min=2), default=None,
              help="Zoom on the best K complete trials (default: the best 20 %, at least 3).")
@click.option("--top-fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Or on this share of the complete trials.")
@click.option("--margin", type=click.FloatRange(min=0), default=0.25, show_default=True,
              help="Widen the box of the best trials by this share of its width on each side.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Trials of the next round (default: the run's search.trials).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the zoomed config (default: RUN/zoom-round<N>.yaml, or "
                   "zoom-round<N>-2.yaml... when that exists).")
@click.option("--force", is_flag=True, help="Overwrite the --out file when it exists.")
@click.option("--run", "run_it", is_flag=True, help="Run the next round into the same run.")
@jobs_option
@backend_option
@runs_dir_option
@quiet_option
def zoom(run: str, top: int | None, top_fraction: float | None, margin: float,
         trials: int | None, out: str | None, force: bool, run_it: bool, n_jobs: int | None,
         backend: str | None, runs_dir: str, quiet: bool) -> None:
    """Narrow each range of RUN around its best trials, in that parameter's own scale.

    The box of the best trials in each parameter's scale (log10 of the value for log,
    log10(1 - beta) for one_minus_log), widened by --margin, clipped to the range; int ranges
    are rounded outwards, a choice keeps the options seen among the best. Writes a config of
    the same scales with the narrower bounds (its paths relative to itself, so that it moves
    with the project; an earlier file is never overwritten without --force), prints old and
    new ranges, and with --run runs the next round into the same run.
    """
    from hpsearch.api import run_next_round, zoom_file
    from hpsearch.present import report

    if top is not None and top_fraction is not None:
        raise click.BadParameter("give --top or --top-fraction, not both", param_hint="--top")
    current, region, path = zoom_file(run, top=top, top_fraction=top_fraction, margin=margin,
                                      trials=trials, out=out, force=force, runs_dir=runs_dir,
                                      taking=run_it)
    report.print_out(report.zoom_table(current.space, region,
                                       f"{current.name}: zoom on {len(region.source)} trials"))
    for warning in region.warnings:
        report.stderr.print(f"[yellow]warning:[/yellow] {report.escape(warning)}")
    report.stderr.print(f"zoomed config written to {path}")
    if run_it:
        _drive(lambda events: run_next_round(current.path, region, trials=trials,
                                             n_jobs=n_jobs, backend=backend, events=events),
               quiet)


@cli.command()
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@runs_dir_option
def importance(run: str, fmt: str, runs_dir: str) -> None:
    """How much each hyperparameter of RUN explains of the score.

    Permutation importance of a random forest fitted to the complete trials' unit
    coordinates: a log-scaled parameter is judged per decade, as it was sampled.
    """
    from hpsearch.insight import importance as compute
    from hpsearch.present import report
    from hpsearch.runs import open_run, searched

    result = open_run(run, runs_dir)
    searched(result, "rank")
    try:
        found = compute(result.space, result.results)
    except ValueError as error:
        raise InputError(f"{result.path}: {error}") from None
    if fmt == "json":
        click.echo(json.dumps({"run": result.name, "trials": found.trials, "r2": found.r2,
                               "reliable": found.reliable, "shares": found.shares}, indent=1))
        return
    report.print_out(report.importance_table(result, found))


@cli.command()
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@runs_dir_option
def status(run: str, fmt: str, runs_dir: str) -> None:
    """Where RUN stands, also while it runs, from any shell: planned trials; complete,
    failed, pruned and running; each running trial's params and time; the best so far; the
    time left (estimated)."""
    from hpsearch.runs import status as read

    found = read(run, runs_dir)
    if fmt == "json":
        click.echo(json.dumps(found, indent=1, default=str))
        return
    from hpsearch.present import report

    report.print_out(report.status_view(found))


@cli.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--best", "best_share", type=click.FloatRange(0, 1, min_open=True), default=0.1,
              show_default=True, help="The share of each run's complete trials counted as its "
                                      "best (at least 3).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@runs_dir_option
def compare(run_a: str, run_b: str, best_share: float, fmt: str, runs_dir: str) -> None:
    """Two runs side by side: did the zoom help, did a change to the objective help?

    For each run: its trials, best score (± its folds' std) and score quantiles, and whether
    the best scores differ by more than the folds' noise; for each parameter both search,
    where each run's best trials sit.
    """
    from hpsearch.runs import compare as compared
    from hpsearch.runs import open_run

    runs = [open_run(run_a, runs_dir), open_run(run_b, runs_dir)]
    found = compared(runs[0], runs[1], best_share=best_share)
    if fmt == "json":
        click.echo(json.dumps(found, indent=1, default=str))
        return
    from hpsearch.present import report

    report.print_out(report.compare_view(found, runs[0].space))


@cli.command()
@click.argument("run")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the figure to FILE.png, .svg or .html (needs matplotlib: "
                   "pip install 'hpsearch[plot]').")
@runs_dir_option
def plot(run: str, out: str | None, runs_dir: str) -> None:
    """Score against each parameter of RUN, on its own scale.

    In the terminal: the best score along each parameter's range. With --out: a figure with
    one panel per parameter (log axis for log, 1 - beta on a log axis for one_minus_log),
    trials coloured by round, the two that move the score most against each other with each
    round's zoom region, and the best trials' learning curves where trials recorded them.
    Score axes show the good part of the scores; far worse trials sit on the edge, counted.
    """
    from hpsearch.present import report
    from hpsearch.runs import open_run, rounds, searched

    if out is not None:  # refused before anything is drawn
        from hpsearch.present.plot import check_out

        check_out(out)
    result = open_run(run, runs_dir)
    searched(result, "plot")
    order = report.param_order(result)
    report.print_out(report.profile_table(result, order))
    if out is not None:
        from hpsearch.present.plot import write_plot

        path = write_plot(result, rounds(result.path), order, out)
        report.stderr.print(f"figure written to {path}")


@cli.command()
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "parquet", "tensorboard"]),
              default="csv", show_default=True)
@click.option("--out", type=click.Path(), default=None,
              help="Write to a file (needed for parquet; a folder for tensorboard) instead of "
                   "stdout.")
@click.option("--per-epoch", "per_epoch", is_flag=True,
              help="One row per trial, fold and epoch reported: the learning curves.")
@excel_safe_option
@runs_dir_option
def export(run: str, fmt: str, out: str | None, per_epoch: bool, excel_safe: bool,
           runs_dir: str) -> None:
    """Every trial of RUN, one row each, ready for pandas.

    Columns: trial, round, status, retest, retest_of, seed, param_<name>, split<i>_score,
    mean_score, std_score, rank_score, stopped_epoch, stopped_score, metric_<name>, duration,
    error. With --per-epoch: trial, round, status, param_<name>, fold, epoch, score,
    metric_<name>, a row for each epoch a trial reported. tensorboard: a folder per trial with
    its per-epoch scalars and its params and final score as HParams (--out DIR).
    """
    from hpsearch.present import report
    from hpsearch.runs import open_run

    _check_excel_safe(excel_safe, fmt)
    found = open_run(run, runs_dir)
    if fmt == "tensorboard":
        if out is None:
            raise click.BadParameter("tensorboard writes a folder: give --out DIR",
                                     param_hint="--out")
        from hpsearch.present.tensorboard import write_tensorboard

        folder, written = write_tensorboard(found, out)
        report.stderr.print(f"{written} trials written to {folder}: tensorboard --logdir "
                            f"{folder}")
        return
    rows = found.epoch_rows() if per_epoch else found.rows()
    if fmt == "parquet":
        if out is None:
            raise click.BadParameter("parquet is binary: give --out FILE.parquet",
                                     param_hint="--out")
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise click.BadParameter("parquet needs pyarrow: pip install 'hpsearch[parquet]' "
                                     "(or use --format csv)", param_hint="--format") from None
        pq.write_table(pa.Table.from_pylist(rows), out)
        return
    text = report.dumps(rows, fmt, excel_safe)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise click.BadParameter(f"cannot write {out}: {error}", param_hint="--out") from None


@cli.command()
@click.argument("run")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Re-test the best K configurations.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Evaluate each N times, each with a new seed.")
@click.option("--data", "data", default=None,
              help="Other data: a bundled dataset name, or a .csv or .npz file.")
@click.option("--target", default=None, help="The column to predict, with a .csv --data.")
@jobs_option
@backend_option
@runs_dir_option
@quiet_option
def retest(run: str, top: int, seeds: int, data: str | None, target: str | None,
           n_jobs: int | None, backend: str | None, runs_dir: str, quiet: bool) -> None:
    """Evaluate the best configurations of RUN again: new seeds, the objective's code as it is
    now, and optionally new data.

    The new trials are stored as one more round, marked as retests, and the old and new
    scores and ranks are shown side by side, so a stale winner shows at once.
    """
    from hpsearch import api
    from hpsearch.datasets import DATASETS
    from hpsearch.present import report

    spec = None
    if data is not None:
        spec = {"dataset": data} if data in DATASETS else {"path": str(Path(data).resolve())}
        if target is not None:
            spec["target"] = target
    outcome: list[Any] = []

    def start(events: Any) -> Any:
        current, found = api.retest(run, top=top, seeds=seeds, data=spec, n_jobs=n_jobs,
                                    backend=backend, runs_dir=runs_dir, events=events)
        outcome.extend((current, found))
        return current

    _drive(start, quiet=True)
    report.print_out(report.retest_table(*outcome))


@cli.command()
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json", "args"]), default="yaml",
              show_default=True)
@click.option("--trial", type=click.IntRange(min=0), default=None,
              help="This trial's configuration (default: the best complete one).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write it to FILE (a YAML file's paths relative to it).")
@runs_dir_option
def best(run: str, fmt: str, trial: int | None, out: str | None, runs_dir: str) -> None:
    """The winning configuration of RUN, ready to use.

    yaml: the run's config with each parameter fixed at the best trial's value (`hpsearch run`
    on it tries that configuration 5 times: first with the trial's own seed, then with 4 others,
    and says how much the score moves with the seed; or copy the values); json:
    the trial's number, score and params; args: a command objective's command line as that
    trial ran it.
    """
    from hpsearch.runs import best_config

    current, chosen, config = best_config(run, trial, runs_dir)
    complete = chosen.status.value == "complete"
    score = f"{chosen.mean:.6g} ± {chosen.std:.2g}" if complete else chosen.status.value
    if fmt == "json":
        text = json.dumps({"run": current.name, "trial": chosen.number,
                           "status": chosen.status.value,
                           "score": chosen.mean if complete else None,
                           "std": chosen.std if complete else None,
                           "seed": chosen.trial.seed, "params": dict(chosen.params)},
                          indent=1) + "\n"
    elif fmt == "args":
        from hpsearch.objective import filled

        command = config.get("objective", {}).get("command")
        if command is None:
            raise InputError(f"{current.path}: --format args is for command objectives (this "
                             "run trains in Python); use --format yaml or json")
        fixed = config["objective"].get("fixed") or {}
        text = shlex.join(filled(command, {**fixed, **chosen.params, "trial": chosen.number,
                                           "seed": chosen.trial.seed})) + "\n"
    else:
        from hpsearch.config.files import relocated

        header = (f"# trial {chosen.number} of {current.name} ({score}): its values as a "
                  f"config.\n# hpsearch run on this file tries it {config['search']['trials']} "
                  "times:\n# trial 0 with this trial's seed (search.seeds), the same trial "
                  "again; the others with\n# seeds of their own, to show how much the score "
                  "moves with the seed.\n")
        import yaml

        folder = Path(out).resolve().parent if out is not None else Path.cwd()
        text = header + yaml.safe_dump(relocated(config, folder), sort_keys=False,
                                       allow_unicode=True)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"--out {out}: cannot write it ({error.strerror})") from None
    click.echo(f"trial {chosen.number} of {current.name} written to {out}", err=True)


@cli.command()
@click.argument("run")
@click.option("--trial", type=click.IntRange(min=0), default=None,
              help="Fit this trial's configuration (default: the best).")
@runs_dir_option
def refit(run: str, trial: int | None, runs_dir: str) -> None:
    """Fit the best configuration of RUN (or --trial N's) on all the data, prepared as in its
    trials, and keep it in the run folder: hpsearch.load_model(RUN) returns it.

    Like scikit-learn's best_estimator_; for estimator objectives (a function or a command
    trains its own model).
    """
    from hpsearch import api
    from hpsearch.present import report
    from hpsearch.runs import model_path, resolve

    model = api.refit(run, trial=trial, runs_dir=runs_dir)
    report.stderr.print(f"fitted {type(model).__name__} on all the data: "
                        f"{model_path(run, runs_dir)}; load it with "
                        f"hpsearch.load_model({str(resolve(run, runs_dir))!r})")


@cli.command()
@click.argument("run")
@click.argument("text", required=False)
@click.option("--trial", type=click.IntRange(min=0), default=None,
              help="The trial the note is about (default: the run).")
@runs_dir_option
def note(run: str, text: str | None, trial: int | None, runs_dir: str) -> None:
    """Keep a line of TEXT with RUN, or with one of its trials: the dashboard shows it. An empty
    TEXT ("") removes it; without TEXT, print the run's notes."""
    from hpsearch import api
    from hpsearch.runs import notes

    found = notes(run, runs_dir) if text is None else api.note(run, text, trial=trial,
                                                                runs_dir=runs_dir)
    if text is not None:
        what = "the run" if trial is None else f"trial {trial}"
        click.echo(f"{'noted for' if text else 'removed the note of'} {what}", err=True)
        return
    if found["run"]:
        click.echo(f"run: {found['run']}")
    for number, said in found["trials"].items():
        click.echo(f"trial {number}: {said}")
    if not found["run"] and not found["trials"]:
        click.echo("no notes (hpsearch note RUN TEXT [--trial N] keeps one)", err=True)


@cli.command()
@click.argument("run")
@click.argument("trial", type=click.IntRange(min=0))
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing as the trial prints, until it ends.")
@runs_dir_option
def logs(run: str, trial: int, follow: bool, runs_dir: str) -> None:
    """Print what TRIAL of RUN printed (stdout and stderr of a command; prints and warnings of
    a function or an estimator), also while it runs.

    Kept in RUN/logs/TRIAL.log, bounded: beyond 1 MB, the start and the latest output, with a
    line saying what was left out.
    """
    from hpsearch.runs import open_run, trial_log

    result = open_run(run, runs_dir)
    path = trial_log(result.path, trial)

    def ended() -> bool:
        current = open_run(result.path)
        return current.status != "running" or any(r.number == trial for r in current.results)

    if follow:
        from hpsearch.logs import follow as follow_log

        def out(data: bytes) -> None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

        follow_log(path, ended, out)
        return
    if path.is_file():
        sys.stdout.buffer.write(path.read_bytes())
        sys.stdout.buffer.flush()
    elif ended() and not any(r.number == trial for r in result.results):
        raise InputError(f"{result.path}: no trial {trial} (its trials: 0 to "
                         f"{result.next_trial - 1})")
    else:
        click.echo(f"trial {trial} printed nothing" + ("" if ended() else " yet"), err=True)


@cli.command()
@click.argument("names", metavar="[RUN]...", nargs=-1)
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="The port to serve on (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 opens "
                   "it to the network (anyone who reaches the port sees the runs).")
@click.option("--allow-host", "allow_hosts", metavar="NAME", multiple=True,
              help="Also answer pages that reach it by this name (a reverse proxy's; "
                   "repeatable). Other names are refused, so that a page elsewhere cannot read "
                   "your runs by pointing its own name here.")
@runs_dir_option
def dashboard(names: tuple[str, ...], port: int, host: str, allow_hosts: tuple[str, ...],
              runs_dir: str) -> None:
    """The runs in your browser, to work in: each run's status and time left, its history
    with the best so far, parallel coordinates to select trials with, slices and a contour,
    every trial in a table to sort and filter, a trial's story, learning curves, the regions
    each round searched, importance, a zoom from the selection, several runs side by side;
    updated every two seconds while runs go on.

    It only reads the runs (never writes). On a remote machine, forward the port over SSH:
    ssh -L 8050:127.0.0.1:8050 user@host, then open http://127.0.0.1:8050/ here.
    """
    from hpsearch.dashboard import LOCAL, Dashboard, serve
    from hpsearch.runs import resolve

    if not Path(runs_dir).is_dir():
        raise InputError(f"--runs-dir {runs_dir}: no such folder (where are your runs? "
                         "hpsearch runs --runs-dir DIR lists them)")
    # a typo is said now, not shown as an empty page
    names = tuple(resolve(name, runs_dir).name for name in names)

    def ready(url: str) -> None:
        click.echo(f"hpsearch dashboard: {url} (Ctrl-C stops it)", err=True)
        if host not in LOCAL:
            click.echo(f"warning: --host {host}: anyone who can reach this machine's port "
                       f"{url.rsplit(':', 1)[1].strip('/')} sees every run, with no password; "
                       "from another machine, SSH is the safe way in: ssh -L "
                       "8050:127.0.0.1:8050 user@host", err=True)

    try:
        serve(Dashboard(runs_dir, names), host, port, ready, allow_hosts)
    except KeyboardInterrupt:
        click.echo("dashboard stopped", err=True)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@runs_dir_option
def runs(fmt: str, runs_dir: str) -> None:
    """The runs in the runs folder: name, date, trials, best score, and status (running,
    finished, interrupted: stopped before its end, resumable; or damaged, with the reason)."""
    from hpsearch.present import report
    from hpsearch.runs import list_runs

    found = list_runs(runs_dir)
    if fmt == "json":
        click.echo(json.dumps(found, indent=1))
        return
    if not found:
        report.stderr.print(f"no runs in {runs_dir}")
        return
    report.print_out(report.runs_table(found, runs_dir))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--params", "params_file", type=click.Path(dir_okay=False), default=None,
              help="A YAML or JSON file of the model's hyperparameters.")
@click.option("--from-run", default=None, metavar="RUN", help="Take the params of a trial of RUN.")
@click.option("--trial", type=int, default=None, help="That trial's number (default: the best).")
@click.option("--resume", "resume_run", default=None, metavar="RUN",
              help="Go on with the babysat run RUN from its last checkpoint.")
@click.option("--name", default=None, help="Run name (default: the config's name).")
@runs_dir_option
def babysit(config: str | None, params_file: str | None, from_run: str | None,
            trial: int | None, resume_run: str | None, name: str | None, runs_dir: str) -> None:
    """Train one model of CONFIG epoch by epoch, and steer it while it trains (panda mode).

    The run folder's control.yaml is read after every epoch: change the learning rate, a beta,
    the decay or the number of epochs and it applies from the next epoch (structural changes
    are refused); set state: pause, run or stop. Every epoch is checkpointed, so --resume RUN
    goes on exactly where it stopped. Params come from --params, from a trial of another run
    (--from-run RUN [--trial N]), or else the middle of each range.
    """
    from hpsearch.babysit import Babysitter
    from hpsearch.present import report

    if resume_run is not None:
        if config or params_file or from_run:
            raise click.UsageError("--resume RUN takes no CONFIG, --params or --from-run")
        sitter = Babysitter.resume(resume_run, runs_dir)
    else:
        if config is None:
            raise click.UsageError("give a CONFIG, or --resume RUN")
        sitter = Babysitter.start(config, _babysit_params(params_file, from_run, trial,
                                                          runs_dir), name=name,
                                  runs_dir=runs_dir)
    view = report.EpochView(sitter)
    diverged = None
    try:
        why = sitter.run(on_epoch=view.epoch, on_pause=view.paused)
    except KeyboardInterrupt:
        why = "interrupted"
    except FloatingPointError as error:  # the model's loss went to NaN or inf
        why, diverged = "diverged", error
    try:
        report.print_out(view.summary())
    finally:
        sitter.close()
    if diverged is not None:
        click.echo(f"Error: {diverged}; the epochs before it are stored in {sitter.store.path}",
                   err=True)
        sys.exit(1)
    report.stderr.print(f"{why}: continue with hpsearch babysit --resume {sitter.store.path}"
                        if why != "done" else f"done: {sitter.store.path}")
    if why == "interrupted":
        sys.exit(130)


def _babysit_params(params_file: str | None, from_run: str | None, trial: int | None,
                    runs_dir: str) -> dict[str, Any]:
    if params_file is not None and from_run is not None:
        raise click.UsageError("give --params or --from-run, not both")
    if params_file is not None:
        import yaml

        try:
            with open(params_file, encoding="utf-8") as handle:
                values = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as error:
            raise InputError(f"{params_file}: cannot read params ({error})") from None
        if not isinstance(values, dict):
            raise InputError(f"{params_file}: must map parameter names to values")
        return values
    if from_run is not None:
        from hpsearch.runs import open_run

        source = open_run(from_run, runs_dir)
        if trial is None:
            if source.best is None:
                raise InputError(f"{source.path}: no complete trial to take params from")
            return dict(source.best.params)
        for result in source.results:
            if result.number == trial:
                return dict(result.params)
        raise InputError(f"{source.path}: no trial {trial}")
    return {}


class Terminated(KeyboardInterrupt):
    """SIGTERM (a kill, a batch scheduler's preemption, docker stop), which ends a run as Ctrl-C
    does: finished trials kept, the run interrupted and resumable; exit code 143."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def main() -> None:
    """The console script's entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    cli.main(prog_name="hpsearch")


if __name__ == "__main__":  # pragma: no cover
    main()
