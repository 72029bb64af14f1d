"""The command line: parse options, call the API, render, exit with a clear code.

Exit codes: 0 done, 1 every trial failed, 2 bad input (one or two lines on stderr, no
traceback). Heavy modules are imported inside the commands, so ``hpsearch --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hpsearch.errors import HPSearchError

FORMATS = ("table", "csv", "json")


class BadInput(click.ClickException):
    """A user mistake: printed as one or two lines, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)


class _Group(click.Group):
    """The single error boundary: every HPSearchError becomes a clean message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HPSearchError as error:
            raise BadInput(str(error)) from None


# Options shared by several commands, each defined once.
seed_option = click.option("--seed", type=int, default=None,
                           help="Run seed (default: search.seed). Fixes every sampled point.")
sampler_option = click.option("--sampler", type=click.Choice(["random", "sobol", "grid"]),
                              default=None, help="Sampler (default: search.sampler).")
runs_dir_option = click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
                               show_default=True, help="Folder that holds the runs.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch")
def cli() -> None:
    """Hyperparameter search: random search on the right scales, trials in parallel,
    coarse-to-fine zoom, and a leaderboard you can read at a glance.

    Start with `hpsearch sample CONFIG` to see the points a run would try, then
    `hpsearch run CONFIG`.
    """


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-n", "--trials", "n", type=click.IntRange(min=1), default=None,
              help="How many points (default: search.trials).")
@seed_option
@sampler_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; csv and json print values at full precision.")
def sample(config: str, n: int | None, seed: int | None, sampler: str | None, fmt: str) -> None:
    """Print the points a run of CONFIG would try, without training anything.

    The quickest way to check that each parameter's scale puts samples where you want them.
    """
    from hpsearch import report
    from hpsearch.config import load_config
    from hpsearch.trial import plan_trials

    cfg = load_config(config)
    trials = plan_trials(
        cfg.space,
        sampler or cfg.search.sampler,
        n or cfg.search.trials,
        cfg.search.seed if seed is None else seed,
    )
    rows = [dict(t.params) for t in trials]
    if fmt == "table":
        report.print_out(report.points_table(rows, cfg.space))
    else:
        click.echo(report.dumps(rows, fmt), nl=False)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Number of trials (default: search.trials).")
@click.option("--jobs", "n_jobs", type=int, default=None,
              help="Parallel workers; -1 for all cores (default: parallel.n_jobs).")
@seed_option
@click.option("--name", default=None, help="Run name (default: the config's name).")
@runs_dir_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no leaderboard.")
@click.option("--raise", "raise_errors", is_flag=True,
              help="Run trials one by one and stop at the first failure with its traceback.")
def run(config: str, trials: int | None, n_jobs: int | None, seed: int | None,
        name: str | None, runs_dir: str, quiet: bool, raise_errors: bool) -> None:
    """Sample points of CONFIG's space and train a model at each, in parallel.

    Every trial's fold scores go to runs/<name>/ as soon as it ends; a live progress bar shows
    the best score so far, and the leaderboard follows. Exit code 0 when the run completed, 1
    when every trial failed, 2 for bad input, 130 when interrupted (finished trials are kept).
    """
    from hpsearch import report
    from hpsearch.api import TrialFailedError
    from hpsearch.api import run as run_search
    from hpsearch.errors import AllTrialsFailed

    if n_jobs is not None and (n_jobs == 0 or n_jobs < -1):
        raise click.BadParameter("must be >= 1, or -1 for all cores", param_hint="--jobs")
    progress = None if quiet else report.Progress()
    started: list[Any] = []

    def on_start(result: Any, total: int) -> None:
        started.append(result)
        report.stderr.print(f"run folder: {result.path}", style="dim") if not quiet else None
        if progress is not None:
            progress.start(result, total)

    try:
        result = run_search(
            config, trials=trials, n_jobs=n_jobs, seed=seed, name=name, runs_dir=runs_dir,
            raise_errors=raise_errors, on_start=on_start,
            on_result=progress.advance if progress is not None else None,
        )
    except KeyboardInterrupt:
        _stop_progress(progress)
        if started:
            report.stderr.print(f"Interrupted: finished trials are stored in {started[0].path}")
            if started[0].results:
                report.print_out(report.leaderboard_table(started[0], top=20))
        sys.exit(130)
    except TrialFailedError as error:
        _stop_progress(progress)
        click.echo(error.result.error, err=True)
        click.echo(f"Trial {error.result.number} failed with params {dict(error.result.params)}; "
                   f"stored in {started[0].path}", err=True)
        sys.exit(1)
    except AllTrialsFailed as error:
        _stop_progress(progress)
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    finally:
        _stop_progress(progress)
    for line in report.failure_lines(result):
        click.echo(line, err=True)
    if not quiet:
        report.print_out(report.leaderboard_table(result, top=20))


def _stop_progress(progress: Any) -> None:
    if progress is not None:
        progress.stop()


@cli.command()
@click.argument("run")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Show the best K trials (default: 20 in the table, all otherwise).")
@click.option("--format", "fmt", type=click.Choice([*FORMATS, "markdown"]), default="table",
              show_default=True)
@runs_dir_option
def leaderboard(run: str, top: int | None, fmt: str, runs_dir: str) -> None:
    """Show the trials of RUN (a run folder, or a name under --runs-dir), best first.

    Works while the run is going. csv and json print full precision: rank, trial, round,
    status, mean_score, std_score, params, fold scores, duration, error.
    """
    from hpsearch import report
    from hpsearch.api import open_run

    result = open_run(run, runs_dir)
    if fmt == "table":
        report.print_out(report.leaderboard_table(result, top=top or 20))
    elif fmt == "markdown":
        click.echo(report.markdown(result, top), nl=False)
    else:
        rows = report.leaderboard_rows(result, top)
        click.echo(report.dumps(rows if fmt == "json" else report.flat_rows(rows), fmt), nl=False)


def main() -> None:
    """The console script's entry point."""
    cli.main(prog_name="hpsearch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
