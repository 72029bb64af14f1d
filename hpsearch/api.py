"""The Python API: run a search, open a stored run. The CLI is a thin layer over these."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.config import Config, load_config
from hpsearch.errors import AllTrialsFailed, HPSearchError
from hpsearch.runner import error_summary, execute
from hpsearch.space import Space, parse_param
from hpsearch.store import RunStore, resolve_run
from hpsearch.trial import Status, TrialResult, plan_trials, ranked

__all__ = ["run", "open_run", "RunResult", "TrialFailedError"]


@dataclass
class RunResult:
    """A run's trials and what follows from them."""

    path: Path
    space: Space
    direction: str
    results: list[TrialResult] = field(default_factory=list)
    status: str = "finished"

    @property
    def name(self) -> str:
        return self.path.name

    def ranked(self) -> list[tuple[int | None, TrialResult]]:
        """Best first, with ranks (ties share the lowest; trials without a score last)."""
        return ranked(self.results, self.direction)

    @property
    def best(self) -> TrialResult | None:
        order = self.ranked()
        return order[0][1] if order and order[0][0] is not None else None

    @property
    def failed(self) -> list[TrialResult]:
        return [r for r in self.results if r.status is Status.FAILED]

    def failure_summary(self) -> Counter[str]:
        """How often each distinct error line occurred."""
        return Counter(error_summary(r.error) for r in self.failed)


class TrialFailedError(Exception):
    """Raised by ``run(..., raise_errors=True)`` at the first failing trial (after storing it)."""

    def __init__(self, result: TrialResult) -> None:
        super().__init__(result.error)
        self.result = result


def _space_of(config: Mapping[str, Any]) -> Space:
    return Space({name: parse_param(spec) for name, spec in config["space"].items()})


def open_run(run: str | Path, runs_dir: str | Path = "runs") -> RunResult:
    """A stored run, by folder or by name under runs_dir; readable while the run is going."""
    with RunStore.open(resolve_run(run, runs_dir)) as store:
        config = store.config()
        return RunResult(
            path=store.path,
            space=_space_of(config),
            direction=config.get("cv", {}).get("direction", "maximize"),
            results=store.results(),
            status=store.meta().get("status", "unknown"),
        )


def _with_overrides(cfg: Config, trials: int | None, n_jobs: int | None, seed: int | None,
                    name: str | None) -> Config:
    search = {k: v for k, v in (("trials", trials), ("seed", seed)) if v is not None}
    changes: dict[str, Any] = {"search": search}
    if n_jobs is not None:
        changes["parallel"] = {"n_jobs": n_jobs}
    if name is not None:
        changes["name"] = name
    return cfg.replace(**changes)


def run(
    config: str | Path | Mapping[str, Any] | Config,
    *,
    trials: int | None = None,
    n_jobs: int | None = None,
    seed: int | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    raise_errors: bool = False,
    on_start: Callable[[RunResult, int], None] | None = None,
    on_result: Callable[[TrialResult], None] | None = None,
) -> RunResult:
    """Run a search: sample the trials, train them in parallel, store each as it ends.

    Args:
        config: a YAML path, a mapping, or a loaded Config; keyword overrides win over it.
        runs_dir: the folder that holds the runs; this one goes to ``runs_dir/<name>`` (with a
            suffix when that exists).
        raise_errors: run trials one by one in this process and raise TrialFailedError at the
            first failure, for debugging an objective.
        on_start, on_result: progress callbacks (the run and its trial count; each result).

    Returns:
        The run, with every trial's result.

    Raises:
        HPSearchError: bad input, before any trial runs.
        AllTrialsFailed: when every trial failed (all are stored).
        KeyboardInterrupt: after storing what finished and marking the run interrupted.
    """
    from hpsearch.objective import build_objective

    cfg = config if isinstance(config, Config) else load_config(config)
    cfg = _with_overrides(cfg, trials, n_jobs, seed, name)
    if cfg.search.rounds > 1:
        raise HPSearchError(f"search.rounds: {cfg.search.rounds} rounds need zoom, which this "
                            "version does not have yet; set rounds: 1")
    objective = build_objective(cfg)
    plan = plan_trials(cfg.space, cfg.search.sampler, cfg.search.trials, cfg.search.seed)
    store = RunStore.create(runs_dir, cfg.name, cfg.to_dict())
    result = RunResult(store.path, cfg.space, cfg.cv.direction, status="running")
    if on_start is not None:
        on_start(result, len(plan))
    stream = execute(objective, plan, n_jobs=cfg.parallel.n_jobs, backend=cfg.parallel.backend,
                     in_process=raise_errors)
    try:
        for trial_result in stream:
            store.add(trial_result)
            result.results.append(trial_result)
            if on_result is not None:
                on_result(trial_result)
            if raise_errors and trial_result.status is Status.FAILED:
                raise TrialFailedError(trial_result)
    except BaseException:
        stream.close()  # stops the workers
        result.status = "interrupted"
        store.set_meta(status=result.status)
        store.close()
        raise
    result.status = "finished"
    store.set_meta(status=result.status)
    store.close()
    if result.results and len(result.failed) == len(result.results):
        raise AllTrialsFailed(len(result.results), error_summary(result.failed[0].error))
    return result

