"""The driver: one run's life, and the loop that joins a strategy, an executor and the store.

A taken run (its store locked) is marked running, its executor entered and the objective wired to
it; then the strategy is driven to its end (`hpsearch.search.strategy.drive`): every trial it
proposes is handed to the `TrialRunner`, and each result is stored the moment it arrives, told to
whoever watches (`RunEvents`) and then to the strategy. The run ends finished, or interrupted and
resumable by whatever stopped it; the store is closed (and its lock released) either way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpsearch.config import AUTO, Config
from hpsearch.errors import (
    AllTrialsFailed,
    InputError,
    NoTrialCompleted,
    SearchStopped,
    TrialFailedError,
)
from hpsearch.events import RunEvents
from hpsearch.execution import Executor, executor_for
from hpsearch.execution.trials import TrialRunner
from hpsearch.result import RunResult
from hpsearch.search.strategy import Round, Strategy, drive
from hpsearch.store.database import RunBoard, RunStore
from hpsearch.store.folder import DB_NAME, LOGS_NAME
from hpsearch.trial import Status, Trial, TrialResult

if TYPE_CHECKING:
    from hpsearch.objective import Objective

log = logging.getLogger("hpsearch")

__all__ = ["search", "run_strategy", "Plan", "planned", "ENGINE"]

# The search engine a run's trials come from, stored with the run: a run of an earlier engine
# (none stored) is resumed with the trials it has kept as they are, the others proposed anew.
ENGINE = 2


@dataclass(frozen=True)
class Plan:
    """How a run of a config searches: its rounds and their sizes, and its look-ahead (see
    `hpsearch.search.coarse_to_fine`)."""

    rounds: int
    lookahead: int
    sizes: tuple[int, ...]
    workers: int


def planned(cfg: Config) -> Plan:
    """The plan of a run of `cfg`: search.rounds and search.lookahead, or with `auto`, as
    `coarse_to_fine` picks them for the budget, the space and the workers."""
    from hpsearch.execution.local import cores
    from hpsearch.search.coarse_to_fine import (
        auto_lookahead,
        auto_rounds,
        first_round,
        round_sizes,
    )

    search = cfg.search
    workers = cores(cfg.parallel.n_jobs)
    if search.lookahead != AUTO:
        lookahead = int(search.lookahead)
    else:  # not reproducible, the trials in flight are the workers: no slack to wait on
        lookahead = auto_lookahead(workers) if search.reproducible else workers
    first = first_round(search.trials, lookahead, len(cfg.space), len(search.enqueue))
    if search.rounds != AUTO:
        rounds = int(search.rounds)
    else:  # every parameter fixed: one configuration, nothing to learn between rounds
        rounds = auto_rounds(search.trials, first) if cfg.space.dims else 1
    return Plan(rounds, lookahead, tuple(round_sizes(search.trials, first, rounds)), workers)


class _Recorder:
    """The runner as the strategy's evaluator: each result stored the moment it arrives, added
    to the run, told to the events; a debugging run stops at the first failure, and
    search.max_failures stops a run."""

    def __init__(self, runner: TrialRunner, cfg: Config, store: RunStore, result: RunResult,
                 events: RunEvents, raise_errors: bool) -> None:
        self.runner, self.cfg, self.store, self.result = runner, cfg, store, result
        self.events, self.raise_errors = events, raise_errors
        self.stored = {r.number: r for r in result.results}
        self.reproducible = True  # False: a trial's point depends on timing, a stored one holds
        self.same_engine = store.meta().get("engine") == ENGINE
        if self.stored and not self.same_engine:
            log.warning("%s: its %d trials so far come from an earlier version's search and are "
                        "kept as they are; the trials left are proposed by this version's",
                        store.path, len(self.stored))

    def known(self, trial: Trial) -> TrialResult | None:
        """A trial's stored result (a resumed run's), checked to be at the point asked (unless
        an earlier engine proposed it, or the search is not reproducible)."""
        stored = self.stored.get(trial.number)
        if stored is not None and self.same_engine and self.reproducible \
                and not _same_point(stored.trial, trial):
            raise InputError(
                f"{self.store.path}: trial {trial.number} in the store has other params than "
                "the run's config gives; the config or the code changed since the run started, "
                "so it cannot be resumed")
        return stored

    def submit(self, trials: Sequence[Trial]) -> None:
        seeds = self.cfg.search.seeds  # the first trials' seeds, when the config gives them
        self.runner.submit([replace(t, seed=seeds[t.number]) if 0 <= t.number < len(seeds)
                            else t for t in trials])

    def next_result(self) -> TrialResult:
        result = self.runner.next_result()
        self.store.add(result)
        if result.log is not None:  # stored: the driver keeps no trial's output
            result = replace(result, log=None)
        self.result.add(result)
        self.events.trial_done(result)
        if self.raise_errors and result.status is not Status.COMPLETE:
            raise TrialFailedError(result)
        limit = self.cfg.search.max_failures
        if limit is not None and len(self.result.failed) >= limit:
            raise SearchStopped(f"stopped after {len(self.result.failed)} failed trials "
                                f"(search.max_failures: {limit}); first error: "
                                f"{self.result.failed[0].error_line}")
        return result


def _same_point(stored: Trial, planned: Trial) -> bool:
    return stored.round == planned.round and all(
        abs(a - b) <= 1e-9 for a, b in zip(stored.unit, planned.unit))


@contextlib.contextmanager
def _running(store: RunStore, cfg: Config, result: RunResult, events: RunEvents, total: int,
             objective: Objective, raise_errors: bool) -> Iterator[_Recorder]:
    """A taken run's life: marked running, its executor entered and the objective wired to it
    (the recorder that runs and stores its trials is yielded), then finished, or interrupted
    (and resumable) by whatever stopped it; the store is closed either way."""
    board: Any = None
    try:
        store.forget_running()  # trials of an earlier, stopped session run no more
        store.set_meta(status="running", planned=total, started=time.time(),
                       done_before=len(result.results))
        result.status = "running"
        events.run_started(result, total)
        parallel = cfg.parallel
        with executor_for(parallel.backend, parallel.n_jobs, parallel.address,
                          in_process=raise_errors) as executor:
            wired = _wired(objective, cfg, store, executor)
            board = wired.channel.board
            runner = TrialRunner(executor, wired, timeout=parallel.timeout,
                                 population=None if raise_errors else
                                 (parallel.population, parallel.population_memory))
            try:
                yield _Recorder(runner, cfg, store, result, events, raise_errors)
            finally:
                runner.close()
        result.status = "finished"
    except BaseException:
        result.status = "interrupted"
        raise
    finally:
        if callable(getattr(type(board), "close", None)):  # the connection trials here opened
            board.close()
        try:
            store.set_meta(status=result.status, ended=time.time())
            store.forget_running()
        finally:
            store.close()


def _wired(objective: Objective, cfg: Config, store: RunStore, executor: Executor) -> Objective:
    """The objective told where its trials' reports and output go: the run folder when the
    workers see it, else back through the executor (a dask cluster)."""
    from hpsearch.objective import Channel
    from hpsearch.search.pruning import SharedScores

    pruner = cfg.search.early_stopping
    assert not isinstance(pruner, str), "decided before a run starts"
    folder = store.path.resolve()  # absolute: a reused worker may have started elsewhere
    if not executor.remote:
        return objective.with_channel(Channel(str(folder / LOGS_NAME),
                                              RunBoard(str(folder / DB_NAME)), pruner))
    board = executor.shared(SharedScores) if pruner is not None else None
    return objective.with_channel(Channel(None, board, pruner))


def run_strategy(strategy: Strategy, cfg: Config, objective: Objective, store: RunStore,
              result: RunResult, events: RunEvents, *, total: int,
              raise_errors: bool = False) -> RunResult:
    """Drive `strategy` to its end in a taken run: each round stored and told as it opens, each
    trial stored as it ends. `total` is the trials the run has when it ends."""

    def opened(round_: Round) -> None:
        store.add_round(round_.number, round_.kind, round_.region, round_.size)
        events.round_started(round_.number, round_.region, round_.size)

    lookahead = cfg.search.lookahead if cfg.search.early_stopping is not None else None
    assert lookahead is None or isinstance(lookahead, int), "decided before a run starts"
    with _running(store, cfg, result, events, total, objective, raise_errors) as recorder:
        recorder.reproducible = strategy.reproducible
        drive(strategy, recorder, known=recorder.known, on_round=opened, lookahead=lookahead,
              workers=planned(cfg).workers)
    return result


def search(cfg: Config, objective: Objective, store: RunStore, result: RunResult, *,
           raise_errors: bool, events: RunEvents) -> RunResult:
    """The search of a config into a taken store, new or resumed where it stopped.

    Raises:
        AllTrialsFailed, NoTrialCompleted: when it stored trials and completed none.
    """
    from hpsearch.search import strategy_for
    from hpsearch.search.warm_start import history

    strategy = strategy_for(cfg.space, cfg.search,
                            history(store.meta().get("warm_start") or [], cfg.space),
                            cfg.objective.path)
    run_strategy(strategy, cfg, objective, store, result, events, total=cfg.search.trials,
              raise_errors=raise_errors)
    if result.results and not result.complete:
        if len(result.failed) == len(result.results):
            raise AllTrialsFailed(len(result.results), result.failed[0].error_line)
        raise NoTrialCompleted(result)
    return result
