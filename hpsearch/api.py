"""The Python API: run a search, open a stored run. The CLI is a thin layer over these."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.config import Config, check_name, load_config
from hpsearch.errors import (
    AllTrialsFailed,
    InputError,
    NoTrialCompleted,
    SearchStopped,
    TrialFailedError,
)
from hpsearch.result import RunResult
from hpsearch.runner import Backend, backend_context, check_backend, execute
from hpsearch.space import Space
from hpsearch.store import CONFIG_NAME, RunStore, resolve_run
from hpsearch.trial import Status, Trial, TrialResult, plan_trials, ranked, trial_seed

if TYPE_CHECKING:
    from hpsearch.coarse_to_fine import Region
    from hpsearch.objective import Objective

log = logging.getLogger("hpsearch")

__all__ = ["run", "resume", "open_run", "status", "compare", "zoom", "zoom_run",
           "run_next_round", "retest", "refit", "load_model", "list_runs", "RunResult",
           "RunEvents", "Retested", "TrialFailedError"]


class RunEvents:
    """What a running search tells whoever watches it (the CLI's progress bar, a notebook).
    Subclass it and override what you need; each method is called in the driver, in order."""

    def run_started(self, run: RunResult, total: int) -> None:
        """The run is taken and about to run trials: `total` trials when it ends (those it
        already has included)."""

    def round_started(self, number: int, region: Region, size: int) -> None:
        """A round of `size` trials begins in `region` (round 1 is the whole space)."""

    def trial_done(self, result: TrialResult) -> None:
        """A trial ended and is stored (`run.results` holds it already)."""

    def decided(self, lines: Sequence[str]) -> None:
        """What a new run decided by itself (`auto`: its rounds, early stopping), one line
        each; told before `run_started`."""


def open_run(run: str | Path, runs_dir: str | Path = "runs") -> RunResult:
    """A stored run, by folder or by name under runs_dir, opened read-only: readable while the
    run is going, and from a folder that cannot be written.

    Raises:
        StoreError, ConfigError: naming the run and what is damaged in it.
    """
    from hpsearch.config import read_run_config

    with RunStore.open(resolve_run(run, runs_dir), readonly=True) as store:
        store.config()  # its own message when the file is missing
        space, direction = read_run_config(store.path / CONFIG_NAME)
        state = _status(store)
        result = RunResult(store.path, space, direction, store.results(), state)
        if state == "running":
            result.running = [(n, params, started) for n, params, started, _ in store.running()]
        return result


def status(run: str | Path, runs_dir: str | Path = "runs") -> dict[str, Any]:
    """Where a run stands, read from its store (also while it runs, from any shell): the
    planned trials; complete, failed, pruned and running counts; each running trial's params
    and elapsed time; the best so far; the time since it (re)started and an estimate of the
    time left. Fast at any size: counts come straight from the database."""
    import time

    from hpsearch.config import read_run_config

    with RunStore.open(resolve_run(run, runs_dir), readonly=True) as store:
        store.config()
        _, direction = read_run_config(store.path / CONFIG_NAME)
        meta, state = store.meta(), _status(store)
        summary = store.summary(direction)
        running = store.running() if state == "running" else []
    counts = summary["counts"]
    complete, pruned = counts.get("complete", 0), counts.get("pruned", 0)
    done = sum(counts.values())
    now = time.time()
    since = meta.get("started") or meta.get("created")
    eta = None
    if state == "running" and since:
        finished_here = done - meta.get("done_before", 0)
        if finished_here > 0:
            eta = max(0, meta.get("planned", done) - done) * (now - since) / finished_here
    return {
        "run": store.path.name, "path": str(store.path), "status": state,
        "planned": meta.get("planned", done), "finished": done, "complete": complete,
        "failed": done - complete - pruned, "pruned": pruned, "running": len(running),
        "running_trials": [{"trial": n, "status": "running", "params": params,
                            "elapsed": now - started, "worker": worker}
                           for n, params, started, worker in running],
        "best": summary["best"], "direction": str(direction),
        "elapsed": None if since is None else now - since, "eta": eta,
    }


QUANTILES = (0.75, 0.5, 0.25)  # of the scores, best side first, as compare shows them


def compare(run_a: str | Path | RunResult, run_b: str | Path | RunResult,
            runs_dir: str | Path = "runs", best_share: float = 0.1) -> dict[str, Any]:
    """Two runs side by side, for "did the zoom help?" or "did my change help?": for each, its
    trials, best score (with its folds' standard error), the scores' quartiles (the better
    side first: 75 % of scores are worse than the first); and for each parameter both
    search, where each run's best trials sit (the best `best_share` of its complete trials, at
    least 3): their lowest, middle and highest value, or their options with counts (a list
    in the order of the runs). A run is a folder, a name under runs_dir, or a RunResult.

    Raises:
        InputError: when the runs do not score the same way (one maximizes, one minimizes).
    """
    import numpy as np

    runs = [r if isinstance(r, RunResult) else open_run(r, runs_dir) for r in (run_a, run_b)]
    if runs[0].direction is not runs[1].direction:
        raise InputError(f"cannot compare {runs[0].name} ({runs[0].direction}s its score) with "
                         f"{runs[1].name} ({runs[1].direction}s it)")
    direction = runs[0].direction
    tops: list[list[TrialResult]] = []
    summaries = []
    for found in runs:
        complete = [r for _, r in found.ranked() if r.status is Status.COMPLETE]
        tops.append(complete[:max(3, math.ceil(best_share * len(complete)))])
        gains = direction.gain(np.array([r.mean for r in complete], dtype=float))
        best = found.best
        summaries.append({
            "run": found.name, "trials": len(found.results), "complete": len(complete),
            "failed": len(found.failed), "pruned": len(found.pruned),
            "best_trials": len(tops[-1]),
            "best": None if best is None else {
                "trial": best.number, "mean_score": best.mean, "std_score": best.std,
                "stderr": best.std / math.sqrt(len(best.scores)) if len(best.scores) > 1
                else None},
            "quantiles": {f"{round(q * 100)}%": float(direction.gain(np.quantile(gains, q)))
                          for q in QUANTILES} if len(complete) else {},
        })
    shared = [n for n in runs[0].space.dims if n in runs[1].space.dims]
    where: dict[str, list[dict[str, Any] | None]] = {}
    for name in shared:
        where[name] = []
        for top in tops:
            values = [r.params[name] for r in top if name in r.params]
            if not values:
                where[name].append(None)
            elif runs[0].space.scales[name].ordered:
                ordered = sorted(values)
                where[name].append({"low": ordered[0], "middle": ordered[len(values) // 2],
                                    "high": ordered[-1], "trials": len(values)})
            else:
                counts: dict[str, int] = {}
                for v in values:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                where[name].append({"options": counts, "trials": len(values)})
    return {"direction": str(direction), "runs": summaries, "best_trials": where}


def _status(store: RunStore) -> str:
    """finished, running, or interrupted (a run marked running whose process is gone)."""
    status = store.meta().get("status", "unknown")
    if status == "running" and not store.is_locked():
        return "interrupted"
    return str(status)


def _with_overrides(cfg: Config, trials: int | None, n_jobs: int | None, seed: int | None,
                    name: str | None, rounds: int | None = None) -> Config:
    search = {k: v for k, v in (("trials", trials), ("seed", seed), ("rounds", rounds))
              if v is not None}
    changes: dict[str, Any] = {"search": search}
    if n_jobs is not None:
        changes["parallel"] = {"n_jobs": n_jobs}
    if name is not None:
        changes["name"] = check_name(name)
    return cfg.replace(**changes)


class _Recorder:
    """Runs trials through the runner and stores each result the moment it arrives.

    Trials already in the store (a resumed run) are not run again: their stored results are
    returned as they are.
    """

    def __init__(self, objective: Objective, cfg: Config, store: RunStore, result: RunResult,
                 events: RunEvents, *, raise_errors: bool = False) -> None:
        self.objective = objective
        self.cfg, self.store, self.result, self.events = cfg, store, result, events
        self.raise_errors = raise_errors
        self.stored = {r.number: r for r in result.results}

    def evaluate(self, trials: list[Trial]) -> list[TrialResult]:
        results = {t.number: self.stored[t.number] for t in trials if t.number in self.stored}
        for t in trials:
            if t.number in results and not _same_point(results[t.number].trial, t):
                raise InputError(
                    f"{self.store.path}: trial {t.number} in the store has other params than "
                    "the run's config gives; the config or the code changed since the run "
                    "started, so it cannot be resumed")
        todo = [t for t in trials if t.number not in results]
        parallel = self.cfg.parallel
        stream = execute(self.objective, todo, n_jobs=parallel.n_jobs, timeout=parallel.timeout,
                         in_process=self.raise_errors,
                         population=(parallel.population, parallel.population_memory))
        limit = self.cfg.search.max_failures
        try:
            for trial_result in stream:
                self.store.add(trial_result)
                if trial_result.log is not None:  # stored: the driver keeps no trial's output
                    trial_result = replace(trial_result, log=None)
                self.result.add(trial_result)
                results[trial_result.number] = trial_result
                self.events.trial_done(trial_result)
                if self.raise_errors and trial_result.status is not Status.COMPLETE:
                    raise TrialFailedError(trial_result)
                if limit is not None and len(self.result.failed) >= limit:
                    raise SearchStopped(
                        f"stopped after {len(self.result.failed)} failed trials "
                        f"(search.max_failures: {limit}); first error: "
                        f"{self.result.failed[0].error_line}")
        finally:
            stream.close()  # on an interrupt, this stops the workers
        return [results[t.number] for t in trials]


def _same_point(stored: Trial, planned: Trial) -> bool:
    return stored.round == planned.round and all(
        abs(a - b) <= 1e-9 for a, b in zip(stored.unit, planned.unit))


@contextlib.contextmanager
def _running(store: RunStore, cfg: Config, result: RunResult, events: RunEvents, total: int,
             objective: Objective) -> Iterator[Objective]:
    """A taken run's life, the same for every way of running trials: marked running, the
    backend entered and the objective wired to it (yielded), then finished, or interrupted
    (and resumable) by whatever stopped it; the store is closed (and its lock released) either
    way."""
    board: Any = None
    try:
        import time

        store.forget_running()  # trials of an earlier, stopped session run no more
        store.set_meta(status="running", planned=total, started=time.time(),
                       done_before=len(result.results))
        result.status = "running"
        events.run_started(result, total)
        with backend_context(cfg.parallel.backend, cfg.parallel.n_jobs,
                             cfg.parallel.address) as backend:
            wired = _wired(objective, cfg, store, backend)
            board = wired.channel.board
            yield wired
        result.status = "finished"
    except BaseException:
        result.status = "interrupted"
        raise
    finally:
        if callable(getattr(type(board), "close", None)):  # the connection trials here opened
            board.close()
        try:
            store.set_meta(status=result.status)
            store.forget_running()
        finally:
            store.close()


def _search(cfg: Config, objective: Objective, store: RunStore, result: RunResult, *,
            raise_errors: bool, events: RunEvents) -> RunResult:
    """The search of a config into a locked store: new, or resumed where it stopped."""
    from hpsearch.coarse_to_fine import search_rounds

    def round_started(number: int, region: Region, size: int) -> None:
        whole = all(lo == 0 and hi == 1 for lo, hi in zip(region.lo, region.hi))
        store.add_round(number, "random" if number == 1 and whole else "zoom", region, size)
        events.round_started(number, region, size)

    rounds = cfg.search.rounds
    assert isinstance(rounds, int), "decided before a run starts (_decided, _as_stored)"
    history = _history(store.meta().get("warm_start") or [], cfg.space)
    with _running(store, cfg, result, events, cfg.search.trials, objective) as wired:
        recorder = _Recorder(wired, cfg, store, result, events, raise_errors=raise_errors)
        search_rounds(cfg.space, cfg.search.direction, cfg.search.trials, rounds,
                      cfg.search.seed, recorder.evaluate, sampler=cfg.search.sampler,
                      on_round=round_started, history=history, enqueue=cfg.search.enqueue)
    _check_outcome(result)
    return result


def _check_outcome(result: RunResult) -> None:
    """A run that stored trials but completed none failed: say why."""
    if not result.results or result.complete:
        return
    if len(result.failed) == len(result.results):
        raise AllTrialsFailed(len(result.results), result.failed[0].error_line)
    raise NoTrialCompleted(result)


def _wired(objective: Objective, cfg: Config, store: RunStore, backend: Backend) -> Objective:
    """The objective told where its trials' reports and output go: the run folder when the
    workers see it, else back through the backend (a dask cluster)."""
    from hpsearch.objective import Channel
    from hpsearch.pruning import SharedScores
    from hpsearch.store import DB_NAME, LOGS_NAME, RunBoard

    pruner = cfg.search.early_stopping
    assert not isinstance(pruner, str), "decided before a run starts (_decided, _as_stored)"
    folder = store.path.resolve()  # absolute: a reused worker may have started elsewhere
    if not backend.remote:
        return objective.with_channel(Channel(str(folder / LOGS_NAME),
                                              RunBoard(str(folder / DB_NAME)), pruner))
    board = backend.shared(SharedScores) if pruner is not None else None
    return objective.with_channel(Channel(None, board, pruner))


def planned_rounds(cfg: Config) -> int:
    """The rounds a run of `cfg` searches in: search.rounds, or with `auto`, as many as
    `coarse_to_fine.auto_rounds` picks for the budget and the workers."""
    from joblib import effective_n_jobs

    from hpsearch.coarse_to_fine import auto_rounds
    from hpsearch.config import AUTO

    if cfg.search.rounds != AUTO:
        return int(cfg.search.rounds)
    return auto_rounds(cfg.search.trials, max(1, effective_n_jobs(cfg.parallel.n_jobs)))


def _decided(cfg: Config, objective: Objective) -> tuple[Config, list[str]]:
    """A new run's config with what `auto` leaves open decided, and a line for each decision:
    the rounds from the budget and the workers, early stopping from whether the objective
    reports per-epoch scores. The run stores what was decided, so a resume does the same."""
    from hpsearch.coarse_to_fine import round_sizes
    from hpsearch.config import AUTO
    from hpsearch.pruning import Pruner

    search, lines = cfg.search, []
    changes: dict[str, Any] = {}
    if search.rounds == AUTO:
        rounds = planned_rounds(cfg)
        changes["rounds"] = rounds
        if rounds == 1:
            lines.append(f"search.rounds: auto: 1 round ({search.trials} trials "
                         "are too few to learn from between rounds)")
        else:
            sizes = round_sizes(search.trials, rounds)
            lines.append(f"search.rounds: auto: coarse to fine, {rounds} rounds of "
                         f"{', '.join(map(str, sizes))} trials (rounds: 1 for plain random "
                         "search)")
    if search.early_stopping == AUTO:
        pruner = Pruner() if objective.reports_epochs else None
        changes["early_stopping"] = pruner
        lines.append(
            f"search.early_stopping: auto: asha ({cfg.objective.name} reports per-epoch "
            "scores; false turns it off)" if pruner is not None else
            f"search.early_stopping: auto: off ({cfg.objective.name} reports no per-epoch "
            "scores)")
    return (cfg.replace(search=changes) if changes else cfg), lines


def _warm_start(cfg: Config, runs_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The trials of search.warm_start's runs that fit this run's space (every parameter it
    searches, with a value its scale gives), as stored in the new run (so that a resume uses
    the same ones), and a line per run saying how many."""
    from hpsearch.errors import StoreError

    found: list[dict[str, Any]] = []
    lines = []
    for ref in cfg.search.warm_start:
        try:
            earlier = open_run(ref, runs_dir)
        except StoreError as error:
            raise InputError(f"search.warm_start: {error}") from None
        if earlier.direction is not cfg.search.direction:
            raise InputError(f"search.warm_start: {earlier.name} {earlier.direction}s its score, "
                             f"this run {cfg.search.direction}s it: their trials do not mix")
        fit = [r for r in earlier.results if _fits(cfg.space, r.params) and
               (r.status is Status.COMPLETE or r.status is Status.PRUNED or r.status.is_failure)]
        found += [{"params": dict(r.params), "status": r.status.value, "scores": list(r.scores),
                   "extra": {"score": r.extra["score"]} if "score" in r.extra else {}}
                  for r in fit]
        lines.append(f"search.warm_start: {len(fit)} of {len(earlier.results)} trials of "
                     f"{earlier.name} feed the model (not run again)")
    return found, lines


def _fits(space: Space, params: Mapping[str, Any]) -> bool:
    """Whether a trial's values are a point of the space: each parameter it has there a value
    its scale gives, each fixed one the same."""
    return all((name in params and scale.contains(params[name])) if space.active(name, params)
               else name not in params for name, scale in space.scales.items())


def _history(stored: Sequence[Mapping[str, Any]], space: Space) -> list[TrialResult]:
    """A warm start's trials as results of this space, numbered below 0 and in round 0: they
    teach the model and are not this run's."""
    return [TrialResult(Trial(-1 - i, t["params"], space.snap(space.to_unit(t["params"])), 0,
                              round=0), Status(t["status"]), tuple(t["scores"]),
                        extra=t.get("extra") or {}) for i, t in enumerate(stored)]


def _as_stored(cfg: Config) -> Config:
    """A stored run's config: a run stored before `auto` existed ran one round without early
    stopping, and goes on so."""
    from hpsearch.config import AUTO

    changes = {key: value for key, value in (("rounds", 1), ("early_stopping", None))
               if getattr(cfg.search, key) == AUTO}
    return cfg.replace(search=changes) if changes else cfg


def _checked(cfg: Config) -> Objective:
    """Every check that can be made before a run folder is created or a run is taken; returns
    the checked objective."""
    from hpsearch.objective import build_objective
    from hpsearch.pruning import Pruner

    check_backend(cfg.parallel.backend, cfg.parallel.address)
    objective = build_objective(cfg)
    if isinstance(cfg.search.early_stopping, Pruner) and not objective.reports_epochs:
        log.warning("search.early_stopping: %s reports no per-epoch scores, so no trial will "
                    "be stopped early (the built-in network does; a function can take a "
                    "`report` argument)", cfg.objective.name)
    return objective


def run(
    config: str | Path | Mapping[str, Any] | Config,
    *,
    trials: int | None = None,
    rounds: int | None = None,
    n_jobs: int | None = None,
    seed: int | None = None,
    name: str | None = None,
    warm_start: Sequence[str | Path] = (),
    runs_dir: str | Path = "runs",
    raise_errors: bool = False,
    events: RunEvents | None = None,
    overrides: Sequence[str] = (),
) -> RunResult:
    """Run a search: sample the trials, train them in parallel, store each as it ends.

    Args:
        config: a YAML path, a mapping, or a loaded Config; keyword overrides win over it.
            In a mapping, objective.function may be a function, objective.estimator an
            estimator class or instance, and data may hold arrays (X, y) or a DataFrame
            (frame, target).
        trials: the run's whole budget, split over `rounds` (see `coarse_to_fine.round_sizes`).
        rounds: coarse-to-fine rounds; 1 is plain random (or Sobol, or grid) search; by
            default search.rounds (auto: decided from the budget and the workers).
        warm_start: earlier runs (folders, or names under runs_dir) whose trials the model
            starts from, added to search.warm_start.
        runs_dir: the folder that holds the runs; this one goes to ``runs_dir/<name>`` (with a
            suffix when that exists).
        raise_errors: run trials one by one in this process and raise TrialFailedError at the
            first failure, for debugging an objective; the run is scratch: the next such run
            of the same name replaces it.
        events: told when the run starts, each round starts and each trial ends.
        overrides: ``key.path=value`` settings applied to the config before it is checked, as
            ``hpsearch run --set`` gives them (``["search.trials=200"]``).

    With search.refit, the best configuration is then fitted on all the data, kept in the
    run folder (`load_model`) and in the result's `best_model`.

    Returns:
        The run, with every trial's result (`to_dataframe()` for a table).

    Raises:
        InputError: bad input, before any trial runs.
        AllTrialsFailed: when every trial failed (all are stored).
        SearchStopped: when search.max_failures trials failed.
        KeyboardInterrupt: after storing what finished and marking the run interrupted.
    """
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    cfg = _with_overrides(cfg, trials, n_jobs, seed, name, rounds)
    if warm_start:
        cfg = cfg.replace(search={"warm_start": (*cfg.search.warm_start,
                                                 *map(str, warm_start))})
    objective = _checked(cfg)
    cfg, decisions = _decided(cfg, objective)
    warm, lines = _warm_start(cfg, runs_dir)
    events = events or RunEvents()
    if decisions or lines:
        events.decided(decisions + lines)
    store = RunStore.create(runs_dir, cfg.name, cfg.to_dict(), scratch=raise_errors,
                            note=cfg.session_note())
    if warm:
        store.set_meta(warm_start=warm)
    if cfg.data is not None:
        from hpsearch.datasets import describe

        store.set_meta(data=describe(cfg.data))
    result = RunResult(store.path, cfg.space, cfg.search.direction)
    try:
        _search(cfg, objective, store, result, raise_errors=raise_errors, events=events)
    except BaseException:
        if not result.results:  # stopped before its first trial: no empty run folder is left
            import shutil

            shutil.rmtree(store.path, ignore_errors=True)
        raise
    if cfg.search.refit and result.best is not None:
        with RunStore.open(result.path) as written:
            result.best_model = _refit(written, cfg, objective, result.best)
    return result


def _take(run: str | Path, runs_dir: str | Path, *, trials: int | None = None,
          n_jobs: int | None = None, data: Mapping[str, Any] | None = None,
          same_data: bool = False) -> tuple[RunStore, Config, Objective, RunResult]:
    """A stored run taken for writing: its store (locked), its config with the overrides,
    the checked objective, and its trials so far.

    Args:
        data: a data section in the place of the run's (its preparation kept unless given).
        same_data: refuse data other than the run's (resume).

    Raises:
        StoreError: when another process is writing it.
    """
    store = RunStore.open(resolve_run(run, runs_dir))
    try:
        store.lock()
        if store.meta().get("mode") == "babysit":
            raise InputError(f"{store.path} is a babysat model, not a search: go on with "
                             f"hpsearch babysit --resume {store.path}")
        stored = store.config()  # its own message when it is missing
        before = store.meta().get("data")  # the rows, columns and fingerprint it started with
        if data is not None:
            kept = {k: v for k, v in (stored.get("data") or {}).items()
                    if k in ("scale", "categorical", "impute") and k not in data}
            data = {**kept, **data}
        cfg = _with_overrides(_as_stored(load_config(store.path / CONFIG_NAME, data=data)),
                              trials, n_jobs, None, None)
        objective = _checked(cfg)
        if same_data and before and cfg.data is not None:
            from hpsearch.datasets import describe

            now = describe(cfg.data)
            if now["fingerprint"] != before["fingerprint"]:
                raise InputError(
                    f"{store.path}: resume needs the data the run started with ({before['rows']}"
                    f" rows x {before['columns']} columns, fingerprint {before['fingerprint']}), "
                    f"got {now['rows']} x {now['columns']}, fingerprint {now['fingerprint']}: "
                    "it changed; evaluate on new data with retest, or start a new run")
    except BaseException:
        store.close()
        raise
    return store, cfg, objective, RunResult(store.path, cfg.space, cfg.search.direction,
                                            store.results())


def _extra_round(store: RunStore, cfg: Config, objective: Objective, current: RunResult,
                 kind: str, region: Region, planned: list[Trial],
                 events: RunEvents) -> list[TrialResult]:
    """One more round of a taken run (a zoom or a retest): its trials, stored as they end."""
    store.add_round(planned[0].round, kind, region, len(planned))
    total = len(current.results) + len(planned)
    with _running(store, cfg, current, events, total, objective) as wired:
        return _Recorder(wired, cfg, store, current, events).evaluate(planned)


def resume(
    run: str | Path,
    *,
    n_jobs: int | None = None,
    data: Mapping[str, Any] | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> RunResult:
    """Continue a stopped run (Ctrl-C, a killed driver, a restart) where it stopped.

    Completed (and failed) trials are kept and not repeated; trials that were running are run
    again; the points are those an uninterrupted run samples, so the final store holds the
    intended trials exactly once. A run whose data was given in Python needs the same data
    again (`data={"X": X, "y": y}`, checked by its fingerprint).

    Raises:
        StoreError: when another process is running it.
    """
    store, cfg, objective, result = _take(run, runs_dir, n_jobs=n_jobs, data=data,
                                          same_data=True)
    return _search(cfg, objective, store, result, raise_errors=False,
                   events=events or RunEvents())


def zoom_run(
    run: str | Path,
    *,
    top: int | None = None,
    top_fraction: float | None = None,
    margin: float = 0.25,
    runs_dir: str | Path = "runs",
) -> tuple[RunResult, Region, dict[str, Any]]:
    """The zoomed region of a stored run and the config of its next round.

    Returns:
        The run, the region (in the run's first space), and the next round's config as YAML
        data: the same scales with narrower bounds.

    Raises:
        InputError: when the run has too few complete trials to zoom.
    """
    from hpsearch.coarse_to_fine import zoom

    current = open_run(run, runs_dir)
    try:
        region = zoom(current.space, current.results, current.direction, top=top,
                      top_fraction=top_fraction, margin=margin)
    except ValueError as error:
        raise InputError(f"{current.path}: {error}; run more trials first") from None
    with RunStore.open(current.path, readonly=True) as store:
        config = store.config()
    config["space"] = region.space.to_yaml()
    config["search"] = {**config.get("search", {}), "rounds": 1}
    return current, region, config


def run_next_round(
    run: str | Path,
    region: Region,
    *,
    trials: int | None = None,
    n_jobs: int | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> RunResult:
    """Run one more round of a stored run inside `region`, into the same run store.

    The round's points are sampled in the region's space and stored with their coordinates in
    the run's first space, so that all rounds line up.
    """
    store, cfg, objective, current = _take(run, runs_dir, trials=trials, n_jobs=n_jobs)
    planned = plan_trials(region.space, cfg.search.sampler, cfg.search.trials, cfg.search.seed,
                          round=current.next_round, first_number=current.next_trial)
    planned = [replace(t, unit=tuple(current.space.to_unit(t.params))) for t in planned]
    _extra_round(store, cfg, objective, current, "zoom", region, planned,
                 events or RunEvents())
    return current


def zoom(
    run: str | Path,
    *,
    trials: int | None = None,
    top: int | None = None,
    top_fraction: float | None = None,
    margin: float = 0.25,
    n_jobs: int | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> RunResult:
    """Coarse to fine, one step: narrow each range of a stored run around its best trials (in
    each parameter's own scale) and run that finer round into the same run, as
    ``hpsearch zoom RUN --run`` does.

    Returns:
        The run, with the new round's trials.
    """
    _, region, _ = zoom_run(run, top=top, top_fraction=top_fraction, margin=margin,
                            runs_dir=runs_dir)
    return run_next_round(run, region, trials=trials, n_jobs=n_jobs, runs_dir=runs_dir,
                          events=events)


def refit(run: str | Path, *, trial: int | None = None,
          data: Mapping[str, Any] | None = None, runs_dir: str | Path = "runs") -> Any:
    """Fit a stored run's best configuration (or trial `trial`'s) on all the data, with the
    same preparation as in its trials, and keep it in the run folder with its params and the
    versions that made it (`load_model`). Returns the fitted model.

    Raises:
        InputError: for a function or command objective (it trains its own model), a run
            without that trial, or a run whose data was in memory and no `data` is given.
    """
    from hpsearch.config import EstimatorSpec

    store, cfg, objective, current = _take(run, runs_dir, data=data)
    try:
        if not isinstance(cfg.objective, EstimatorSpec):
            raise InputError(f"{store.path}: refit applies to estimator objectives; a "
                             f"{cfg.objective.kind} trains its own model, which hpsearch cannot "
                             "fit again: take the best trial's params (hpsearch leaderboard "
                             "RUN --top 1)")
        chosen = current.best if trial is None else next(
            (r for r in current.results if r.number == trial), None)
        if chosen is None:
            raise InputError(f"{store.path}: " + ("no complete trial to refit" if trial is None
                             else f"no trial {trial}"))
        return _refit(store, cfg, objective, chosen)
    finally:
        store.close()


def _refit(store: RunStore, cfg: Config, objective: Objective, chosen: TrialResult) -> Any:
    """The chosen trial's configuration fitted on all the data, and kept in the run folder."""
    import platform
    import time

    import numpy
    import sklearn

    from hpsearch import __version__
    from hpsearch.datasets import load
    from hpsearch.objective import EstimatorObjective

    assert isinstance(objective, EstimatorObjective) and cfg.data is not None
    X, y = load(cfg.data)
    model = objective.pipeline(objective.build(chosen.trial)).fit(X, y)
    store.save_model(model, {
        "trial": chosen.number, "params": dict(chosen.params), "mean_score": chosen.mean,
        "fitted": time.time(), "rows": len(y),
        "versions": {"hpsearch": __version__, "scikit-learn": sklearn.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()}})
    return model


def load_model(run: str | Path, runs_dir: str | Path = "runs") -> Any:
    """The model `refit` (or search.refit) kept in a run folder; a warning when it was made
    with another scikit-learn than this one."""
    import sklearn

    with RunStore.open(resolve_run(run, runs_dir), readonly=True) as store:
        model, info = store.load_model()
    made = info.get("versions", {}).get("scikit-learn")
    if made and made != sklearn.__version__:
        log.warning("%s: its model was fitted with scikit-learn %s, and this is %s: "
                    "predictions may differ, or loading may fail", store.path, made,
                    sklearn.__version__)
    return model


@dataclass(frozen=True)
class Retested:
    """One configuration re-tested: its first score and rank, and the new ones."""

    trial: TrialResult
    old_rank: int | None
    new: list[TrialResult]
    new_rank: int | None = None
    same_data: bool | None = None  # whether it ran on the data the run started with

    @property
    def new_mean(self) -> float:
        scores = [r.mean for r in self.new if r.status is Status.COMPLETE]
        return sum(scores) / len(scores) if scores else float("nan")


def retest(
    run: str | Path,
    *,
    top: int = 3,
    seeds: int = 1,
    data: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> tuple[RunResult, list[Retested]]:
    """Evaluate the best `top` configurations of a run again, `seeds` times each with new seeds,
    optionally on other data (a data section, as in a config) and with the objective's code as
    it is now. The new trials are stored as one more round, marked as retests of their
    originals.

    Returns:
        The run, and each configuration's old and new score and rank, and whether the data
        was the run's own (by its fingerprint).
    """
    from hpsearch.coarse_to_fine import Region

    store, cfg, objective, current = _take(run, runs_dir, n_jobs=n_jobs, data=data)
    before = store.meta().get("data")
    same = None
    if before and cfg.data is not None:
        from hpsearch.datasets import describe

        same = describe(cfg.data)["fingerprint"] == before["fingerprint"]
    originals = ranked([r for r in current.results if r.trial.retest_of is None],
                       current.direction)
    chosen = [(rank, r) for rank, r in originals if rank is not None][:top]
    if not chosen:
        store.close()
        raise InputError(f"{current.path}: no complete trial to retest")
    number, first = current.next_round, current.next_trial
    planned: list[Trial] = []
    for _, original in chosen:
        for _ in range(seeds):
            n = first + len(planned)
            planned.append(replace(original.trial, number=n, seed=trial_seed(cfg.search.seed, n),
                                   round=number, retest_of=original.number))
    d = len(cfg.space)
    region = Region((0.0,) * d, (1.0,) * d, cfg.space, source=tuple(r.number for _, r in chosen))
    results = _extra_round(store, cfg, objective, current, "retest", region, planned,
                           events or RunEvents())
    found = [Retested(r, rank, [x for x in results if x.trial.retest_of == r.number],
                      same_data=same) for rank, r in chosen]
    scored = [x for x in found if not math.isnan(x.new_mean)]
    order = sorted(scored, key=lambda x: -current.direction.gain(x.new_mean))
    ranks = {x.trial.number: i + 1 for i, x in enumerate(order)}
    return current, [replace(x, new_rank=ranks.get(x.trial.number)) for x in found]


def list_runs(runs_dir: str | Path = "runs") -> list[dict[str, Any]]:
    """Every run under runs_dir, newest first: name, created (unix time), trials, complete,
    failed, best score, direction and status (running, finished or interrupted; damaged, with
    what is wrong in `error`, for a run that cannot be read: one never hides the others)."""
    from hpsearch.store import run_folders

    out: list[dict[str, Any]] = []
    for folder in run_folders(Path(runs_dir)):
        try:
            with RunStore.open(folder, readonly=True) as store:
                meta = store.meta()
                found = RunResult(folder, Space({}), meta.get("direction", "maximize"),
                                  store.results())
                status = _status(store)
        except InputError as error:
            out.append({"name": folder.name, "created": None, "trials": None, "complete": None,
                        "failed": None, "best": None, "direction": None, "status": "damaged",
                        "error": str(error).removeprefix(f"{folder}: ")})
            continue
        out.append({
            "name": folder.name,
            "created": meta.get("created"),
            "trials": len(found.results),
            "complete": found.complete,
            "failed": len(found.failed),
            "best": None if found.best is None else found.best.mean,
            "direction": str(found.direction),
            "status": status,
            "error": None,
        })
    return sorted(out, key=lambda r: -(r["created"] or 0))
