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


def main() -> None:
    """The console script's entry point."""
    cli.main(prog_name="hpsearch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
