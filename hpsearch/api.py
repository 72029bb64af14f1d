"""The Python API's verbs: run a search, resume it, zoom into it, re-test or refit its best.
Each takes a run for writing (new, or stored and locked), checks everything it can before a run
folder exists or a trial runs, and lets the driver run the trials. Reading runs is
`hpsearch.runs`; the command line is a thin layer over both.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.config import AUTO, Config, EstimatorSpec, check_name, load_config
from hpsearch.driver import ENGINE, planned, run_strategy, search
from hpsearch.errors import InputError, StoreError, did_you_mean
from hpsearch.events import RunEvents, Watchers
from hpsearch.execution import EXECUTORS
from hpsearch.result import Retested, RunResult
from hpsearch.runs import open_run, resolve, zoom_region
from hpsearch.search.region import Region, whole
from hpsearch.search.strategy import Planned, Round
from hpsearch.search.warm_start import earlier_trials
from hpsearch.store.database import RunStore
from hpsearch.store.folder import CONFIG_NAME, is_run
from hpsearch.trial import Trial, TrialResult, plan_trials, ranked, trial_seed

if TYPE_CHECKING:
    from hpsearch.objective import Objective

log = logging.getLogger("hpsearch")

__all__ = ["run", "resume", "zoom", "zoom_file", "run_next_round", "retest", "refit", "note",
           "Retested", "RunEvents"]


def _with_overrides(cfg: Config, *, trials: int | None = None, n_jobs: int | None = None,
                    seed: int | None = None, name: str | None = None, rounds: int | None = None,
                    backend: str | None = None) -> Config:
    """The config with the keyword overrides of a verb (a command line's options)."""
    search = {k: v for k, v in (("trials", trials), ("seed", seed), ("rounds", rounds))
              if v is not None}
    parallel = {k: v for k, v in (("n_jobs", n_jobs), ("backend", backend)) if v is not None}
    if backend is not None and backend not in EXECUTORS:
        raise InputError(f"backend {backend!r}: {did_you_mean(backend, EXECUTORS)}choose one of "
                         f"{', '.join(EXECUTORS)}")
    changes: dict[str, Any] = {"search": search, "parallel": parallel}
    if name is not None:
        changes["name"] = check_name(name)
    return cfg.replace(**changes)


def _decided(cfg: Config, objective: Objective) -> tuple[Config, list[str]]:
    """A new run's config with what `auto` leaves open decided, and a line for each decision:
    the rounds and the look-ahead from the budget, the space and the workers, early stopping
    from whether the objective reports per-epoch scores. The run stores what was decided, so
    a resume does the same."""
    from hpsearch.search.pruning import Pruner

    search, lines = cfg.search, []
    changes: dict[str, Any] = {}
    if AUTO in (search.rounds, search.lookahead):
        plan = planned(cfg)
        changes.update(rounds=plan.rounds, lookahead=plan.lookahead)
        workers = f"{plan.workers} worker{'s' if plan.workers > 1 else ''}"
        if not cfg.space.dims:
            lines.append(f"space: every parameter is fixed: one configuration, tried "
                         f"{search.trials} time{'s' if search.trials > 1 else ''}, each trial "
                         "with its own seed")
        elif search.strategy is not None:
            lines.append(f"search.strategy: {search.strategy} proposes every trial, learning "
                         f"from results up to {plan.lookahead} trials behind (search.lookahead"
                         f"{': auto for ' + workers if search.lookahead == AUTO else ''})")
        elif plan.rounds == 1 and search.rounds != AUTO:
            pass  # random search as asked; the look-ahead only gates early stopping
        elif plan.rounds == 1:
            lines.append(f"search.rounds: auto: 1 round ({search.trials} trials are too few to "
                         "learn from between rounds" + (f" with {workers} running at once"
                                                        if search.trials >= 20 else "") + ")")
        else:
            learns = (f"results so far, up to {plan.lookahead} trials behind (search.lookahead"
                      f"{': auto for ' + workers if search.lookahead == AUTO else ''})"
                      if search.reproducible else
                      "results in as trials end, never waiting (search.reproducible: false: "
                      "two runs of a seed may differ)")
            lines.append(
                f"search.rounds: {'auto: ' if search.rounds == AUTO else ''}{plan.rounds} "
                f"rounds: {plan.sizes[0]} trials over the whole space, then rounds of "
                f"{min(plan.sizes[1:])} to {max(plan.sizes[1:])} the model plans from the "
                f"{learns}; rounds: 1 for plain random search")
        if search.lookahead == AUTO and cfg.parallel.address and cfg.parallel.n_jobs == -1:
            lines.append(f"search.lookahead: auto counts this machine's {workers}, not the "
                         "cluster's: set parallel.n_jobs to the trials the cluster runs at once "
                         "(or search.lookahead), or fewer will run at once with early stopping")
    if search.early_stopping == AUTO:
        pruner = Pruner() if objective.reports_epochs else None
        changes["early_stopping"] = pruner
        lines.append(
            f"search.early_stopping: auto: asha ({cfg.objective.name} reports per-epoch "
            "scores; false turns it off)" if pruner is not None else
            f"search.early_stopping: auto: off ({cfg.objective.name} reports no per-epoch "
            "scores)")
    return (cfg.replace(search=changes) if changes else cfg), lines


def _as_stored(cfg: Config) -> Config:
    """A stored run's config: a run stored before `auto` existed ran one round without early
    stopping, and goes on so; one stored before the look-ahead existed gets it now (its trials
    so far are kept as they are, see `driver.ENGINE`)."""
    changes: dict[str, Any] = {key: value for key, value in (("rounds", 1),
                                                             ("early_stopping", None))
                               if getattr(cfg.search, key) == AUTO}
    if cfg.search.lookahead == AUTO:
        changes["lookahead"] = planned(cfg).lookahead
    return cfg.replace(search=changes) if changes else cfg


def _near(runs: Sequence[str], base: str) -> tuple[str, ...]:
    """search.warm_start's runs, a folder relative to the config's folder made absolute (so
    that the run's stored config finds it from anywhere); names under the runs folder kept."""
    return tuple(str((Path(base) / r).resolve()) if is_run(Path(base) / r) else r for r in runs)


def _opened(runs: Sequence[str], runs_dir: str | Path) -> list[RunResult]:
    """search.warm_start's runs, opened read-only."""
    try:
        return [open_run(r, runs_dir) for r in runs]
    except StoreError as error:
        raise InputError(f"search.warm_start: {error}") from None


def _checked(cfg: Config) -> Objective:
    """Every check that can be made before a run folder is created or a run is taken; returns
    the checked objective."""
    from hpsearch.objective import build_objective
    from hpsearch.search.pruning import Pruner

    EXECUTORS[cfg.parallel.backend].check(cfg.parallel.address)
    objective = build_objective(cfg)
    if cfg.search.strategy is not None:
        from hpsearch.search import user_strategy

        user_strategy(cfg.search.strategy, cfg.objective.path)
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
    backend: str | None = None,
    seed: int | None = None,
    name: str | None = None,
    warm_start: Sequence[str | Path] = (),
    runs_dir: str | Path = "runs",
    raise_errors: bool = False,
    events: RunEvents | None = None,
    progress: bool | None = None,
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
        progress: a progress line with the best score so far on stderr (a notebook shows it
            under the cell); by default when no `events` are given, False to silence it.
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
    cfg = _with_overrides(cfg, trials=trials, n_jobs=n_jobs, seed=seed, name=name,
                          rounds=rounds, backend=backend)
    cfg = cfg.replace(search={"warm_start": (*_near(cfg.search.warm_start, cfg.base_dir),
                                             *map(str, warm_start))})
    objective = _checked(cfg)
    cfg, decisions = _decided(cfg, objective)
    warm, lines = earlier_trials(_opened(cfg.search.warm_start, runs_dir), cfg.space,
                                 cfg.search.direction)
    with _watching(events, progress) as watchers:
        if decisions or lines:
            watchers.decided(decisions + lines)
        store = RunStore.create(runs_dir, cfg.name, cfg.to_dict(), scratch=raise_errors,
                                note=cfg.session_note())
        store.set_meta(engine=ENGINE)
        if warm:
            store.set_meta(warm_start=warm)
        if cfg.data is not None:
            from hpsearch.datasets import describe

            store.set_meta(data=describe(cfg.data))
        result = RunResult(store.path, cfg.space, cfg.search.direction)
        try:
            search(cfg, objective, store, result, raise_errors=raise_errors, events=watchers)
        except BaseException:
            if not result.results:  # stopped before its first trial: no empty folder is left
                import shutil

                shutil.rmtree(store.path, ignore_errors=True)
            raise
    _refit_best(cfg, objective, result)
    return result


@contextlib.contextmanager
def _watching(events: RunEvents | None, progress: bool | None) -> Iterator[RunEvents]:
    """The run's watchers: `events`, and with `progress` (by default when there are no
    events) a progress line on stderr, stopped when the run ends however it ends."""
    if not (events is None if progress is None else progress):
        yield events or RunEvents()
        return
    from hpsearch.present.report import Progress

    bar = Progress()
    try:
        yield bar if events is None else Watchers(bar, events)
    finally:
        bar.stop()


def _take(run: str | Path, runs_dir: str | Path, *, trials: int | None = None,
          n_jobs: int | None = None, backend: str | None = None,
          data: Mapping[str, Any] | None = None, same_data: bool = False,
          accept_edits: bool = False) -> tuple[RunStore, Config, Objective, RunResult]:
    """A stored run taken for writing: its store (locked), its config with the overrides,
    the checked objective, and its trials so far.

    Args:
        data: a data section in the place of the run's (its preparation kept unless given).
        same_data: refuse data other than the run's (resume).
        accept_edits: go on with a config.yaml edited since the run started.

    Raises:
        StoreError: when another process is writing it.
        InputError: when its config.yaml was edited (and the edits are not accepted).
    """
    store = RunStore.open(resolve(run, runs_dir))
    try:
        store.lock()
        if store.meta().get("mode") == "babysit":
            raise InputError(f"{store.path} is a babysat model, not a search: go on with "
                             f"hpsearch babysit --resume {store.path}")
        stored = store.config()  # its own message when it is missing
        _check_unedited(store, stored, accept_edits)
        before = store.meta().get("data")  # the rows, columns and fingerprint it started with
        if data is not None:
            kept = {k: v for k, v in (stored.get("data") or {}).items()
                    if k in ("scale", "categorical", "impute") and k not in data}
            data = {**kept, **data}
        cfg = _with_overrides(_as_stored(load_config(store.path / CONFIG_NAME, data=data)),
                              trials=trials, n_jobs=n_jobs, backend=backend)
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


def _check_unedited(store: RunStore, config: dict[str, Any], accept_edits: bool) -> None:
    """A run holds the trials of one config: refuse a config.yaml edited since the run
    started, naming the edits, unless they are accepted (then they are the run's from now on).
    A run from before this check records its config as it is now."""
    from hpsearch.config.files import edits

    started = store.meta().get("config")
    changed = [] if started is None else edits(started, config)
    if changed and not accept_edits:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise InputError(f"{store.path}: its config.yaml was edited since the run started "
                         f"({'; '.join(changed[:3])}{more}), and its trials ran with the config "
                         "as it was: start a new run from the edited file, or resume with "
                         "--accept-edits to go on with it")
    if changed:
        log.warning("%s: going on with its edited config.yaml (%s)", store.path,
                    "; ".join(changed))
    if changed or started is None:
        store.set_meta(config=config)


def resume(
    run: str | Path,
    *,
    n_jobs: int | None = None,
    backend: str | None = None,
    data: Mapping[str, Any] | None = None,
    accept_edits: bool = False,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Continue a stopped run (Ctrl-C, a killed driver, a restart) where it stopped.

    Completed (and failed) trials are kept and not repeated; trials that were running are run
    again; the points are those an uninterrupted run samples, so the final store holds the
    intended trials exactly once. A run whose data was given in Python needs the same data
    again (`data={"X": X, "y": y}`, checked by its fingerprint). A run whose config.yaml was
    edited since it started is refused, naming the edits, unless `accept_edits`.

    Raises:
        StoreError: when another process is running it.
        InputError: its config.yaml was edited, or its data changed.
    """
    store, cfg, objective, result = _take(run, runs_dir, n_jobs=n_jobs, backend=backend,
                                          data=data, same_data=True, accept_edits=accept_edits)
    with _watching(events, progress) as watchers:
        search(cfg, objective, store, result, raise_errors=False, events=watchers)
    _refit_best(cfg, objective, result)
    return result


def run_next_round(
    run: str | Path,
    region: Region,
    *,
    trials: int | None = None,
    n_jobs: int | None = None,
    backend: str | None = None,
    data: Mapping[str, Any] | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> RunResult:
    """Run one more round of a stored run inside `region`, into the same run store.

    The round's points are sampled in the region's space and stored with their coordinates in
    the run's first space, so that all rounds line up.
    """
    store, cfg, objective, current = _take(run, runs_dir, trials=trials, n_jobs=n_jobs,
                                           backend=backend, data=data, same_data=data is not None)
    planned = plan_trials(region.space, cfg.search.sampler, cfg.search.trials, cfg.search.seed,
                          round=current.next_round, first_number=current.next_trial)
    planned = [replace(t, unit=tuple(current.space.to_unit(t.params))) for t in planned]
    _extra_round(store, cfg, objective, current, "zoom", region, planned,
                 events or RunEvents())
    _refit_best(cfg, objective, current)
    return current


def _extra_round(store: RunStore, cfg: Config, objective: Objective, current: RunResult,
                 kind: str, region: Region, planned: list[Trial],
                 events: RunEvents) -> list[TrialResult]:
    """One more round of a taken run (a zoom or a retest): its trials' results, each stored as
    it ends."""
    strategy = Planned(cfg.space, cfg.search.direction,
                       Round(planned[0].round, region, len(planned), kind), planned)
    run_strategy(strategy, cfg, objective, store, current, events,
                 total=len(current.results) + len(planned))
    numbers = {t.number for t in planned}
    return sorted((r for r in current.results if r.number in numbers), key=lambda r: r.number)


def zoom_file(run: str | Path, *, top: int | None = None, top_fraction: float | None = None,
              margin: float = 0.25, trials: int | None = None, out: str | Path | None = None,
              force: bool = False, runs_dir: str | Path = "runs",
              taking: bool = False) -> tuple[RunResult, Region, Path]:
    """The zoomed region of a stored run, written as the config of its next round: the same
    scales with narrower bounds, its paths relative to the file (so that it travels with the
    project), with a comment naming the run, round and trials it came from. By default it is
    RUN/zoom-round<N>.yaml, or zoom-round<N>-2.yaml... when that exists; an `out` file that
    exists is kept unless `force`.

    Args:
        trials: the next round's trials (default: the run's search.trials).
        taking: refuse, before anything is written, a run that cannot be taken for writing
            (another process runs it, a read-only folder, a config.yaml edited since it
            started): its next round is run next.

    Returns:
        The run, the region (in the run's first space) and the file written.
    """
    if taking:  # nothing is written for a round that would be refused
        with RunStore.open(resolve(run, runs_dir)) as store:
            store.lock()
            _check_unedited(store, store.config(), accept_edits=False)
    current, region, config = zoom_region(run, top=top, top_fraction=top_fraction,
                                          margin=margin, runs_dir=runs_dir)
    from hpsearch.config.files import write_config

    if trials is not None:
        config["search"]["trials"] = trials
    next_round = current.next_round
    if out is not None and Path(out).exists() and not force:
        raise InputError(f"--out {out} exists (an earlier zoom?): give another name, or "
                         "--force to overwrite it")
    source = ", ".join(f"#{n}" for n in region.source)
    header = (f"Zoomed from run {current.name}, round {next_round - 1}, around its best "
              f"{len(region.source)} trials: {source}\nThe same scales with narrower bounds; "
              "paths are relative to this file. hpsearch run this file, or hpsearch zoom --run "
              "for the next round in place.")
    for copy in range(1, 10_000):
        path = Path(out) if out is not None else current.path / (
            f"zoom-round{next_round}.yaml" if copy == 1 else
            f"zoom-round{next_round}-{copy}.yaml")
        try:
            write_config(path, config, header, overwrite=out is not None)
            return current, region, path
        except FileExistsError:
            continue
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    raise InputError(f"{current.path} holds 10,000 zoom files of round {next_round}")


def zoom(
    run: str | Path,
    *,
    trials: int | None = None,
    top: int | None = None,
    top_fraction: float | None = None,
    margin: float = 0.25,
    n_jobs: int | None = None,
    backend: str | None = None,
    data: Mapping[str, Any] | None = None,
    runs_dir: str | Path = "runs",
    events: RunEvents | None = None,
) -> RunResult:
    """Coarse to fine, one step: narrow each range of a stored run around its best trials (in
    each parameter's own scale) and run that finer round into the same run, as
    ``hpsearch zoom RUN --run`` does. A run whose data was given in Python needs the same data
    again (`data={"X": X, "y": y}`).

    Returns:
        The run, with the new round's trials.
    """
    _, region, _ = zoom_region(run, top=top, top_fraction=top_fraction, margin=margin,
                               runs_dir=runs_dir)
    return run_next_round(run, region, trials=trials, n_jobs=n_jobs, backend=backend,
                          data=data, runs_dir=runs_dir, events=events)


def refit(run: str | Path, *, trial: int | None = None,
          data: Mapping[str, Any] | None = None, runs_dir: str | Path = "runs") -> Any:
    """Fit a stored run's best configuration (or trial `trial`'s) on all the data, with the
    same preparation as in its trials, and keep it in the run folder with its params and the
    versions that made it (`load_model`). Returns the fitted model.

    Raises:
        InputError: for a function or command objective (it trains its own model), a run
            without that trial, or a run whose data was in memory and no `data` is given.
    """
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


def _refit_best(cfg: Config, objective: Objective, result: RunResult) -> None:
    """With search.refit, the best trial fitted on all the data once a run ends (a new run, a
    resumed one, a zoom into it): the model kept is always the best trial's."""
    if cfg.search.refit and result.best is not None:
        with RunStore.open(result.path) as written:
            result.best_model = _refit(written, cfg, objective, result.best)


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
    best = store.summary(cfg.search.direction)["best"]
    store.save_model(model, {
        "trial": chosen.number, "params": dict(chosen.params), "mean_score": chosen.mean,
        "was_best": best is not None and best["trial"] == chosen.number,
        "fitted": time.time(), "rows": len(y),
        "versions": {"hpsearch": __version__, "scikit-learn": sklearn.__version__,
                     "numpy": numpy.__version__, "python": platform.python_version()}})
    return model


def retest(
    run: str | Path,
    *,
    top: int = 3,
    seeds: int = 1,
    data: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    backend: str | None = None,
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
    store, cfg, objective, current = _take(run, runs_dir, n_jobs=n_jobs, backend=backend,
                                           data=data)
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
    region = replace(whole(cfg.space), source=tuple(r.number for _, r in chosen))
    results = _extra_round(store, cfg, objective, current, "retest", region, planned,
                           events or RunEvents())
    found = [Retested(r, rank, [x for x in results if x.trial.retest_of == r.number],
                      same_data=same) for rank, r in chosen]
    scored = [x for x in found if not math.isnan(x.new_mean)]
    order = sorted(scored, key=lambda x: -current.direction.gain(x.new_mean))
    ranks = {x.trial.number: i + 1 for i, x in enumerate(order)}
    return current, [replace(x, new_rank=ranks.get(x.trial.number)) for x in found]


def note(run: str | Path, text: str, *, trial: int | None = None,
         runs_dir: str | Path = "runs") -> dict[str, Any]:
    """Keep a line of text with a run, or with its trial `trial` (an empty text removes it),
    in the run folder (`store.notes`): the dashboard shows it. Works while the run goes on.
    Returns the run's notes.

    Raises:
        InputError: no such run or trial, or a folder that cannot be written.
    """
    from hpsearch.store.notes import write_note

    current = open_run(run, runs_dir)
    numbers = {r.number for r in current.results} | {n for n, _, _ in current.running}
    if trial is not None and trial not in numbers:
        raise InputError(f"{current.path}: no trial {trial} yet (its trials: 0 to "
                         f"{current.next_trial - 1})")
    return write_note(current.path, text, trial)
