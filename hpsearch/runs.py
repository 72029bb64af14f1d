"""The read side: every way to look at stored runs, for the command line, a notebook, a
dashboard. Nothing here writes: a run is opened read-only, so it can be read while it runs, from
any process, and from a folder that cannot be written.

A run is given as its folder, or as its name under `runs_dir`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.config import read_run_config
from hpsearch.config.files import edits
from hpsearch.errors import InputError
from hpsearch.result import RunResult
from hpsearch.space import Space
from hpsearch.store.database import RunStore
from hpsearch.store.folder import (
    CONFIG_NAME,
    MODEL_NAME,
    log_path,
    resolve_run,
    run_folders,
    store_stamp,
)
from hpsearch.store.notes import read_notes
from hpsearch.trial import Status, TrialResult

if TYPE_CHECKING:
    from hpsearch.search.region import Region

__all__ = ["open_run", "status", "compare", "list_runs", "load_model", "rounds", "zoom_region",
           "searched", "best_config", "run_summary", "resolve", "trial_log", "model_path",
           "run_paths", "changed", "notes", "zoom_to"]

log = logging.getLogger("hpsearch")


def resolve(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run's folder, from its folder or its name under runs_dir.

    Raises:
        StoreError: naming the runs there are when there is no such run.
    """
    return resolve_run(run, runs_dir)


def open_run(run: str | Path, runs_dir: str | Path = "runs") -> RunResult:
    """A stored run, by folder or by name under runs_dir, opened read-only: readable while the
    run is going, and from a folder that cannot be written.

    Raises:
        StoreError, ConfigError: naming the run and what is damaged in it.
    """
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
    and elapsed time; the best so far; the time since it (re)started (to its end, once it is
    not running) and an estimate of the time left. Fast at any size: counts come straight
    from the database."""
    import time

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
    # a run that is not going on took the time from its start to its end (a driver killed
    # before it could say: its last trial's)
    end = now if state == "running" else meta.get("ended") or summary["last_finished"] or since
    return {
        "run": store.path.name, "path": str(store.path), "status": state,
        "planned": meta.get("planned", done), "finished": done, "complete": complete,
        "failed": done - complete - pruned, "pruned": pruned, "running": len(running),
        "running_trials": [{"trial": n, "status": "running", "params": params,
                            "elapsed": now - started, "worker": worker}
                           for n, params, started, worker in running],
        "best": summary["best"], "direction": str(direction),
        "elapsed": None if since is None else max(0.0, end - since), "eta": eta,
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


def rounds(run: str | Path, runs_dir: str | Path = "runs") -> list[dict[str, Any]]:
    """Each round of a run: its number, kind (random, zoom, retest), space (as YAML data), the
    region's corners in the first space's unit cube (lo, hi), the trials it was drawn around
    (source) and how many trials it was given."""
    with RunStore.open(resolve_run(run, runs_dir), readonly=True) as store:
        return store.rounds()


def trial_log(run: str | Path, trial: int, runs_dir: str | Path = "runs") -> Path:
    """Where a run keeps what a trial printed (the file may not exist yet)."""
    return log_path(resolve_run(run, runs_dir), trial)


def model_path(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """Where a run keeps its refitted model (see `load_model`)."""
    return resolve_run(run, runs_dir) / MODEL_NAME


def load_model(run: str | Path, runs_dir: str | Path = "runs") -> Any:
    """The model `refit` (or search.refit) kept in a run folder; a warning when it was the best
    trial's and is not any more (a later round found a better one), or was made with another
    scikit-learn than this one."""
    import sklearn

    with RunStore.open(resolve_run(run, runs_dir), readonly=True) as store:
        model, info = store.load_model()
        best = store.summary(read_run_config(store.path / CONFIG_NAME)[1])["best"]
    if info.get("was_best") and best is not None and best["trial"] != info["trial"]:
        log.warning("%s: its model is trial %s's (%.6g), and the best is now trial %d's "
                    "(%.6g): fit it with hpsearch refit %s", store.path, info["trial"],
                    info.get("mean_score", math.nan), best["trial"], best["mean_score"],
                    store.path)
    made = info.get("versions", {}).get("scikit-learn")
    if made and made != sklearn.__version__:
        log.warning("%s: its model was fitted with scikit-learn %s, and this is %s: "
                    "predictions may differ, or loading may fail", store.path, made,
                    sklearn.__version__)
    return model


BEST_TRIALS = 5  # trials of a best config: the one configuration with 5 seeds


def best_config(run: str | Path, trial: int | None = None, runs_dir: str | Path = "runs"
                ) -> tuple[RunResult, TrialResult, dict[str, Any]]:
    """The best complete trial of a run (or trial `trial`, whatever its status) and the run's
    config with that trial's values as its space (each parameter fixed), as YAML data with
    absolute paths: `hpsearch run` on it tries that one configuration BEST_TRIALS times, never
    stopped early: trial 0 with the chosen trial's seed (the same trial again), the others with
    seeds of their own (how much the score moves with the seed). Warm start, enqueued points
    and a strategy of its own are left out; the name gets "-best" (or "-trial<N>"). A
    config.yaml edited since the run started is said, and the config the trials ran with is
    the one given.

    Raises:
        InputError: no complete trial, or no trial `trial`.
    """
    current = open_run(run, runs_dir)
    if trial is None:
        if current.best is None:
            raise InputError(f"{current.path}: no complete trial yet")
        chosen = current.best
    else:
        found = [r for r in current.results if r.number == trial]
        if not found:
            raise InputError(f"{current.path}: no trial {trial} (its trials: 0 to "
                             f"{current.next_trial - 1})")
        chosen = found[0]
    with RunStore.open(current.path, readonly=True) as store:
        config, started = store.config(), store.meta().get("config")
    edited = [] if started is None else edits(started, config)
    if edited and started is not None:  # the trial ran with the config as the run had it
        more = f" and {len(edited) - 3} more" if len(edited) > 3 else ""
        log.warning("%s: its config.yaml was edited since the run started (%s%s); this is "
                    "the config its trials ran with", current.path, "; ".join(edited[:3]), more)
        config = dict(started)
    config["name"] = f"{config.get('name', current.name)}-" + \
        ("best" if trial is None else f"trial{trial}")
    config["space"] = {name: value if isinstance(value, (bool, int, float, str)) else
                       {"fixed": value} for name, value in chosen.params.items()}
    search = {k: v for k, v in config.get("search", {}).items()
              if k not in ("warm_start", "enqueue", "strategy", "lookahead", "seeds")}
    # the other trials' seeds come from the chosen one's, never the run's: none is its again
    config["search"] = {**search, "trials": BEST_TRIALS, "rounds": 1, "early_stopping": False,
                        "seed": chosen.trial.seed, "seeds": [chosen.trial.seed]}
    return current, chosen, config


def searched(run: RunResult, what: str) -> None:
    """Raise InputError when every parameter of `run` is fixed (a run of one configuration,
    such as `hpsearch best`'s): there is nothing to `what`."""
    if not run.space.dims:
        raise InputError(f"{run.path}: every parameter is fixed (one configuration, tried "
                         f"{len(run.results)} times): nothing to {what}")


def zoom_region(
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
    from hpsearch.search.region import zoom

    current = open_run(run, runs_dir)
    searched(current, "zoom")
    try:
        region = zoom(current.space, current.results, current.direction, top=top,
                      top_fraction=top_fraction, margin=margin)
    except ValueError as error:
        raise InputError(f"{current.path}: {error}; run more trials first") from None
    return current, region, _config_over(current, region.space)


def _config_over(run: RunResult, space: Space) -> dict[str, Any]:
    """The config of a run's next round, over `space`: the run's own, one round."""
    with RunStore.open(run.path, readonly=True) as store:
        config = store.config()
    config["space"] = space.to_yaml()
    config["search"] = {**config.get("search", {}), "rounds": 1}
    return config


def zoom_to(run: str | Path, ranges: Mapping[str, Any], runs_dir: str | Path = "runs"
            ) -> tuple[RunResult, Space, dict[str, Any]]:
    """A run's space narrowed to the ranges chosen (a dashboard's selection): a parameter's
    [low, high] in its own values, or a choice's options as a list; the others as they were.
    Returns the run, the narrowed space and the config of a run of it (as `zoom_region`).

    Raises:
        InputError: a parameter the run does not search, or a range it cannot take.
    """
    from hpsearch.space import Choice

    current = open_run(run, runs_dir)
    narrowed = {}
    for name, chosen in ranges.items():
        scale = current.space.scales.get(name)
        if scale is None or scale.is_fixed:
            raise InputError(f"{current.name}: {name!r} is not a parameter it searches")
        try:
            if isinstance(scale, Choice):
                narrowed[name] = scale.narrow(0, 1, seen=list(chosen))
            else:
                low, high = sorted(float(v) for v in chosen)
                narrowed[name] = scale.narrow(scale.to_unit(low), scale.to_unit(high))
        except (TypeError, ValueError) as error:
            raise InputError(f"{current.name}: {name}: cannot narrow it to {chosen!r} "
                             f"({error})") from None
    space = current.space.restricted({**current.space.scales, **narrowed})
    return current, space, _config_over(current, space)


def list_runs(runs_dir: str | Path = "runs") -> list[dict[str, Any]]:
    """Every run under runs_dir, newest first: name, created (unix time), trials, complete,
    failed, best score, direction and status (running, finished or interrupted; damaged, with
    what is wrong in `error`, for a run that cannot be read: one never hides the others)."""
    found = [run_summary(folder) for folder in run_folders(Path(runs_dir))]
    return sorted(found, key=lambda r: -(r["created"] or 0))


def notes(run: str | Path, runs_dir: str | Path = "runs") -> dict[str, Any]:
    """A run's notes: {"run": its note or None, "trials": {number: note}} (`hpsearch note`)."""
    return read_notes(resolve_run(run, runs_dir))


def run_paths(runs_dir: str | Path = "runs") -> list[Path]:
    """The folders of the runs under runs_dir (none when it is no folder)."""
    return list(run_folders(Path(runs_dir)))


def changed(run: str | Path) -> tuple[int, ...]:
    """A stamp of a run's folder that changes whenever its store does (equal while nothing is
    written), cheap enough to ask every second: a reader reads the run again only then."""
    return store_stamp(Path(run))


def run_summary(folder: Path) -> dict[str, Any]:
    """One run folder as `list_runs` gives it."""
    try:
        with RunStore.open(folder, readonly=True) as store:
            meta = store.meta()
            found = RunResult(folder, Space({}), meta.get("direction", "maximize"),
                              store.results())
            status = _status(store)
    except InputError as error:
        return {"name": folder.name, "created": None, "trials": None, "complete": None,
                "failed": None, "best": None, "direction": None, "status": "damaged",
                "error": str(error).removeprefix(f"{folder}: ")}
    return {
        "name": folder.name,
        "created": meta.get("created"),
        "trials": len(found.results),
        "complete": found.complete,
        "failed": len(found.failed),
        "best": None if found.best is None else found.best.mean,
        "direction": str(found.direction),
        "status": status,
        "error": None,
    }


def _status(store: RunStore) -> str:
    """finished, running, or interrupted (a run marked running whose process is gone)."""
    status = store.meta().get("status", "unknown")
    if status == "running" and not store.is_locked():
        return "interrupted"
    return str(status)


