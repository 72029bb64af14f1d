"""The config as frozen records: what to train (`ObjectiveSpec`), how to validate it (`CVSpec`),
how to search (`SearchSpec`) and where to run the trials (`ParallelSpec`), with its `Space` and
data (`hpsearch.datasets.DataSpec`). Built and checked by `hpsearch.config.checks`; trusted
inside.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hpsearch.datasets import DataSpec
from hpsearch.errors import ConfigError
from hpsearch.execution import EXECUTORS
from hpsearch.search.pruning import Pruner
from hpsearch.space import Space
from hpsearch.trial import Direction

__all__ = ["Config", "ObjectiveSpec", "EstimatorSpec", "FunctionSpec", "CommandSpec",
           "OBJECTIVES", "CVSpec", "SearchSpec", "ParallelSpec", "AUTO", "MAX_TRIALS",
           "MAX_NAME"]

MAX_NAME = 200  # characters of a run name: a folder name, with room for a -N suffix
MAX_TRIALS = 1_000_000  # of one run: beyond, its points alone would not fit in memory


@dataclass(frozen=True)
class ObjectiveSpec:
    """What to train, as the config names it; one subclass per kind (estimator, function,
    command). `hpsearch.objective.build_objective` turns it into the objective that runs."""

    target: Any  # module:name, or a command's argv
    fixed: Mapping[str, Any] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    kind: ClassVar[str]
    example: ClassVar[str] = ""
    takes_data: ClassVar[bool] = True

    def params(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's values: the fixed ones, and the sampled ones on top."""
        return {**self.fixed, **sampled}

    @property
    def name(self) -> str:
        """How messages and stored configs name it: sklearn.svm:SVC, mymodule:evaluate, the
        program; a Python object given in a mapping by its module and qualified name."""
        if isinstance(self.target, str):
            return self.target
        named = self.target if callable(self.target) and hasattr(self.target, "__qualname__") \
            else type(self.target)
        return f"{named.__module__}:{named.__qualname__}"

    @property
    def session_only(self) -> bool:
        """Whether it lives only in the Python session that started the run (defined in
        __main__, or inside a function), so another process cannot find it by its name."""
        module, _, qualname = self.name.partition(":")
        return module == "__main__" or "<" in qualname

    def to_yaml(self) -> Any:
        return self.name


@dataclass(frozen=True)
class EstimatorSpec(ObjectiveSpec):
    """A scikit-learn-style estimator class, ``module:Class``."""

    kind: ClassVar[str] = "estimator"
    example: ClassVar[str] = "sklearn.svm:SVC"


@dataclass(frozen=True)
class FunctionSpec(ObjectiveSpec):
    """A Python function, ``module:func``."""

    kind: ClassVar[str] = "function"
    example: ClassVar[str] = "mymodule:evaluate"


@dataclass(frozen=True)
class CommandSpec(ObjectiveSpec):
    """A program and its arguments, run without a shell; it reads its own data. `env` adds
    environment variables (with the same {placeholders}); `grace` is how long a stopped
    command has after SIGTERM before SIGKILL."""

    target: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    grace: float = 5.0
    cwd: str = "."  # the folder it runs from: the config's, unless given
    kind: ClassVar[str] = "command"
    takes_data: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.target[0]

    def to_yaml(self) -> Any:
        return list(self.target)


OBJECTIVES: dict[str, type[ObjectiveSpec]] = {
    spec.kind: spec for spec in (EstimatorSpec, FunctionSpec, CommandSpec)
}


@dataclass(frozen=True)
class CVSpec:
    """k-fold cross-validation (or, with holdout, one split of that share for validation)."""

    folds: int = 5
    scoring: str | None = None
    shuffle: bool = True
    holdout: float | None = None

    @property
    def splits(self) -> int:
        return 1 if self.holdout is not None else self.folds


AUTO = "auto"


@dataclass(frozen=True)
class SearchSpec:
    """How to search. `rounds`, `lookahead` and `early_stopping` may be "auto" until a run
    starts, which decides them from the budget, the space, the workers and the objective
    (`api.run`), and stores what it decided."""

    trials: int = 20
    sampler: str = "random"
    seed: int = 0
    rounds: int | str = AUTO
    lookahead: int | str = AUTO  # trial i learns from the trials numbered below i - this
    max_failures: int | None = None
    early_stopping: Pruner | str | None = AUTO
    direction: Direction = Direction.MAXIMIZE  # which scores are better
    refit: bool = False  # fit the best configuration on all the data at the end
    warm_start: tuple[str, ...] = ()  # earlier runs whose trials the model starts from
    enqueue: tuple[dict[str, Any], ...] = ()  # points evaluated first, in the budget
    strategy: str | None = None  # module:Class of a user's own Strategy
    reproducible: bool = True  # false: learn from every result in, never wait, timing decides
    seeds: tuple[int, ...] = ()  # the first trials' seeds, in order (the rest from `seed`)


@dataclass(frozen=True)
class ParallelSpec:
    n_jobs: int = -1
    backend: str = "loky"
    timeout: float | None = None
    address: str | None = None
    population: str | int = "auto"  # auto, off, or the most members of one population
    population_memory: float = 32.0  # MB for one population's weights, moments, activations
    devices: tuple[str | int, ...] | None = None  # accelerators handed out to running trials
    devices_per_trial: int = 1
    device_variable: str = "CUDA_VISIBLE_DEVICES"

    @property
    def slots(self) -> int | None:
        """How many trials can hold devices at once (None without devices)."""
        return None if self.devices is None else len(self.devices) // self.devices_per_trial


@dataclass(frozen=True)
class Config:
    """A validated config. ``source`` is the file it came from, ``base_dir`` where relative paths
    start."""

    name: str
    objective: ObjectiveSpec
    space: Space
    data: DataSpec | None = None
    cv: CVSpec = CVSpec()
    search: SearchSpec = SearchSpec()
    parallel: ParallelSpec = ParallelSpec()
    source: str | None = None
    base_dir: str = "."

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as YAML data: explicit scale spellings, absolute paths; a Python
        object by its name (an estimator instance as its class and its params).

        `load_config` reads it back to an equal config (one without Python objects).
        """
        objective: dict[str, Any] = {self.objective.kind: self.objective.to_yaml()}
        fixed = dict(self.objective.fixed)
        if isinstance(self.objective, EstimatorSpec) and not isinstance(
                self.objective.target, (str, type)):
            fixed = {**_yaml_safe(self.objective.target.get_params(deep=False)), **fixed}
        if fixed:
            objective["fixed"] = fixed
        if self.objective.path:
            objective["path"] = list(self.objective.path)
        if isinstance(self.objective, CommandSpec):
            if self.objective.env:
                objective["env"] = dict(self.objective.env)
            objective["grace"] = self.objective.grace
            objective["cwd"] = self.objective.cwd
        out: dict[str, Any] = {"name": self.name, "objective": objective}
        if self.data is not None:
            out["data"] = self.data.to_yaml()
        out["cv"] = {k: v for k, v in vars(self.cv).items() if v is not None}
        out["search"] = {k: v for k, v in vars(self.search).items() if v is not None}
        for key in ("warm_start", "enqueue", "seeds"):
            if out["search"][key]:
                out["search"][key] = list(out["search"][key])
            else:
                del out["search"][key]
        out["search"]["direction"] = str(self.search.direction)
        if isinstance(self.search.early_stopping, Pruner):
            out["search"]["early_stopping"] = dict(vars(self.search.early_stopping))
        elif self.search.early_stopping is None:
            out["search"]["early_stopping"] = False
        out["parallel"] = {k: list(v) if isinstance(v, tuple) else v
                           for k, v in vars(self.parallel).items() if v is not None}
        out["space"] = self.space.to_yaml()
        return out

    def session_note(self) -> str | None:
        """What keeps the run from being resumed outside the Python session that started it,
        for the stored config's first lines; None when nothing does."""
        if self.objective.session_only:
            return (f"objective.{self.objective.kind}: {self.objective.name} lives only in the "
                    "Python session that started this run: resume it there (hpsearch.resume), "
                    "or move it into a module and name it module:name")
        if self.data is not None and self.data.memory is not None:
            return (f"data: in memory ({self.data.memory.describe()}): resume or retest it from "
                    "Python, giving the same data (hpsearch.resume(run, data=...))")
        return None

    def replace(self, **changes: Any) -> Config:
        """A copy with fields of its sections changed, e.g. ``replace(search={"trials": 5})``."""
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            current = getattr(self, key)
            if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
                value = dataclasses.replace(current, **value)  # type: ignore[type-var]
            updates[key] = value
        changed = dataclasses.replace(self, **updates)
        if changed.search.trials > MAX_TRIALS:
            raise ConfigError(f"at most {MAX_TRIALS:,} trials in one run, got "
                              f"{changed.search.trials:,}", file=self.source, key="search.trials")
        rounds = changed.search.rounds
        if isinstance(rounds, int) and rounds > changed.search.trials:
            raise ConfigError(f"cannot exceed search.trials ({changed.search.trials}): each round "
                              f"needs at least one trial, got {changed.search.rounds}",
                              file=self.source, key="search.rounds")
        slots, n_jobs = changed.parallel.slots, changed.parallel.n_jobs
        if slots is not None and (n_jobs == -1 or n_jobs > slots):
            raise ConfigError(f"{n_jobs} workers but {slots} device slots: give at most that",
                              file=self.source, key="parallel.n_jobs")
        parallel = changed.parallel
        executor = EXECUTORS[parallel.backend]
        if parallel.address is not None and not executor.joins_cluster:
            raise ConfigError(f"{parallel.backend} runs on this machine, and parallel.address "
                              f"({parallel.address}) joins a cluster: give a cluster's backend",
                              file=self.source, key="parallel.backend")
        if parallel.devices is not None and executor.one_process \
                and not isinstance(changed.objective, CommandSpec):
            raise ConfigError(f"{parallel.backend} runs trials in one process, so a "
                              f"{changed.objective.kind} cannot get its own devices there",
                              file=self.source, key="parallel.backend")
        return changed


def _yaml_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values YAML can hold as they are; others as their repr (read back as text)."""
    safe = (str, int, float, bool, type(None))
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, (list, tuple)) and all(isinstance(x, safe) for x in value):
            out[key] = list(value)
        else:
            out[key] = value if isinstance(value, safe) else repr(value)
    return out


