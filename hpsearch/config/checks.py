"""YAML data → a checked, frozen `Config`: where a config file's mistakes are caught.

Every error names the file, the line the YAML parser saw the key on (or the ``--set`` override
that set it), the key path (``space.lr.low``), what is wrong and what would be right. What needs
the objective's code or data to check (an import, an estimator's parameters, a data file's
columns) is checked by `hpsearch.objective.build_objective`, also before any trial runs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpsearch.config.files import YamlMapping, apply_override, as_sections, read_yaml
from hpsearch.config.schema import (
    AUTO,
    MAX_NAME,
    MAX_TRIALS,
    OBJECTIVES,
    CommandSpec,
    Config,
    CVSpec,
    EstimatorSpec,
    FunctionSpec,
    ObjectiveSpec,
    ParallelSpec,
    SearchSpec,
)
from hpsearch.datasets import DATASETS, IMPUTERS, SCALERS, DataSpec, InMemory
from hpsearch.errors import ConfigError, ObjectiveError, did_you_mean
from hpsearch.execution import EXECUTORS
from hpsearch.search.pruning import Pruner
from hpsearch.search.sampling import SAMPLERS
from hpsearch.space import Branch, Choice, Scale, Space, branches_of, parse_param
from hpsearch.trial import Direction

__all__ = ["load_config", "read_run_config", "check_name", "SECTIONS"]

SECTIONS: dict[str, tuple[str, ...]] = {
    "": ("name", "objective", "data", "cv", "search", "parallel", "space"),
    "objective": ("estimator", "function", "command", "fixed", "path", "env", "grace", "cwd"),
    "data": ("dataset", "path", "target", "scale", "categorical", "impute", "X", "y", "frame",
             "in_memory"),
    "cv": ("folds", "holdout", "scoring", "direction", "shuffle"),
    "search": ("trials", "sampler", "seed", "rounds", "lookahead", "strategy", "max_failures",
               "early_stopping", "direction", "refit", "warm_start", "enqueue", "reproducible",
               "seeds"),
    "search.early_stopping": ("method", "min_epochs", "reduction", "startup"),
    "parallel": ("n_jobs", "backend", "timeout", "address", "population",
                 "population_memory", "devices", "devices_per_trial", "device_variable"),
}


def _path(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


class _Checker:
    """Reads one parsed YAML document and raises ConfigError with file, line and key path."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(self, message: str, key: str, owner: Any = None, name: Any = None) -> ConfigError:
        line, origin = owner.where(name) if isinstance(owner, YamlMapping) else (None, None)
        return ConfigError(message, file=self.file, line=line, key=key or None, origin=origin)

    def section(self, raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(
                f"must be a mapping of keys ({', '.join(SECTIONS[name])}), got {value!r}",
                name, raw, name,
            )
        self.known_keys(value, name)
        return value

    def known_keys(self, raw: Mapping[str, Any], section: str) -> None:
        allowed = SECTIONS[section]
        for key in raw:
            if key not in allowed:
                where = f"{section}." if section else ""
                raise self.fail(
                    f"unknown key {key!r}; {did_you_mean(key, allowed)}allowed "
                    f"{'here' if section else 'at the top'}: "
                    f"{', '.join(allowed)}",
                    f"{where}{key}", raw, key,
                )

    def typed(self, raw: Mapping[str, Any], section: str, key: str, kind: type | tuple[type, ...],
              default: Any, what: str) -> Any:
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(f"must be {what}, got {value!r}", _path(section, key), raw, key)
        if isinstance(value, float) and kind is int and value.is_integer():
            value = int(value)
        if not isinstance(value, kind):
            raise self.fail(
                f"must be {what}, got {value!r} (of type {type(value).__name__})",
                _path(section, key), raw, key,
            )
        return value

    def one_of(self, raw: Mapping[str, Any], section: str, key: str, options: Any,
               default: str) -> str:
        options = tuple(options)
        value = self.typed(raw, section, key, str, default, "one of " + ", ".join(options))
        if value not in options:
            raise self.fail(
                f"unknown value {value!r}; {did_you_mean(value, options)}choose one of: "
                f"{', '.join(options)}",
                _path(section, key), raw, key,
            )
        return value

    def at_least(self, raw: Mapping[str, Any], section: str, key: str, minimum: int,
                 default: int) -> int:
        value = self.typed(raw, section, key, int, default, f"a whole number >= {minimum}")
        if value < minimum:
            raise self.fail(f"must be >= {minimum}, got {value}", _path(section, key), raw, key)
        return int(value)


def _objective(check: _Checker, raw: Mapping[str, Any], base: Path) -> ObjectiveSpec:
    section = check.section(raw, "objective")
    kinds = [k for k in OBJECTIVES if k in section]
    if len(kinds) != 1:
        found = f"; found {', '.join(kinds)}" if kinds else ""
        raise check.fail(
            "give exactly one of estimator (module:Class), function (module:func) or "
            f"command ([program, args, ...]){found}",
            "objective", raw, "objective" if "objective" in raw else None,
        )
    spec = OBJECTIVES[kinds[0]]
    value = section[spec.kind]
    key = f"objective.{spec.kind}"
    target: Any
    if spec is CommandSpec:
        if isinstance(value, str):
            raise check.fail(
                "must be a list of arguments, run without a shell, e.g. "
                '[python, train.py, --lr, "{lr}"]',
                key, section, spec.kind,
            )
        if not isinstance(value, list) or not value:
            raise check.fail(f"must be a non-empty list of arguments, got {value!r}", key,
                             section, spec.kind)
        target = tuple(str(v) for v in value)
    elif isinstance(value, str):
        if not re.fullmatch(r"[\w.]+[:.]\w+", value.strip()):
            raise check.fail(f"must be module:name, such as {spec.example}, got {value!r}",
                             key, section, spec.kind)
        target = value.strip()
    elif spec is FunctionSpec and callable(value) and not isinstance(value, type):
        target = value  # a function object, from Python (a notebook)
    elif spec is EstimatorSpec and hasattr(value, "fit") and hasattr(value, "get_params"):
        target = value  # an estimator class, or an instance whose params are the base
    else:
        what = "a function" if spec is FunctionSpec else "an estimator class or instance"
        raise check.fail(f"must be module:name, such as {spec.example}, or (from Python) {what}"
                         f", got {value!r}", key, section, spec.kind)
    fixed = section.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise check.fail(f"must be a mapping of parameter values, got {fixed!r}",
                         "objective.fixed", section, "fixed")
    paths = section.get("path", [])
    paths = [paths] if isinstance(paths, str) else paths
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise check.fail("must be a folder or a list of folders", "objective.path", section,
                         "path")
    resolved = tuple(str((base / p).resolve()) for p in paths) or (str(base),)
    if spec is not CommandSpec:
        for key in ("env", "grace", "cwd"):
            if key in section:
                raise check.fail(f"applies to command objectives only (a {spec.kind} runs "
                                 "inside hpsearch's workers; it can set os.environ itself)",
                                 f"objective.{key}", section, key)
        return spec(target, dict(fixed), resolved)
    env = section.get("env") or {}
    if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and re.fullmatch(r"[A-Za-z_]\w*", k)
            and isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for k, v in env.items()):
        raise check.fail("must map variable names to values, e.g. env: {MY_TAG: \"t{trial}\"}, "
                         f"got {env!r}", "objective.env", section, "env")
    grace = check.typed(section, "objective", "grace", (int, float), 5.0, "a number of seconds")
    if grace <= 0:
        raise check.fail(f"must be > 0 seconds, got {grace}", "objective.grace", section,
                         "grace")
    cwd = (base / check.typed(section, "objective", "cwd", str, ".", "a folder")).resolve()
    if not cwd.is_dir():
        raise check.fail(f"folder {cwd} not found (the folder the command runs from)",
                         "objective.cwd", section, "cwd")
    return CommandSpec(target, dict(fixed), resolved, {k: str(v) for k, v in env.items()},
                       float(grace), str(cwd))


def _data(check: _Checker, raw: Mapping[str, Any], base: Path) -> DataSpec | None:
    if raw.get("data") is None:
        return None
    section = check.section(raw, "data")
    sources = [k for k in ("dataset", "path", "X", "frame") if k in section]
    if "in_memory" in section and not sources:
        held = section["in_memory"]
        found = InMemory.held(held.get("fingerprint", "")) if isinstance(held, Mapping) else None
        if found is not None:  # given to this session: the same data, by its fingerprint
            return DataSpec(memory=found, scale=section.get("scale", "none"),
                            impute=section.get("impute"),
                            categorical=tuple(section["categorical"])
                            if isinstance(section.get("categorical"), list)
                            else section.get("categorical"))
        raise check.fail(
            f"this run's data was given in Python ({held}): resume or retest it from Python "
            "with the same data, e.g. hpsearch.resume(run, data={'X': X, 'y': y})",
            "data.in_memory", section, "in_memory")
    if len(sources) != 1:
        raise check.fail(
            f"give one of dataset (one of {', '.join(DATASETS)}), path (a .csv or .npz file), "
            "or from Python X and y (arrays) or frame (a DataFrame) with target"
            + (f"; found {', '.join(sources)}" if sources else ""), "data", raw, "data")
    scale = check.one_of(section, "data", "scale", SCALERS, "none")
    impute = check.one_of(section, "data", "impute", IMPUTERS, "mean") \
        if section.get("impute") is not None else None
    categorical = section.get("categorical")
    if categorical is not None and categorical != "auto" and not (
            isinstance(categorical, list) and all(isinstance(c, str) for c in categorical)):
        raise check.fail(f"must be auto (the text columns) or a list of column names, got "
                         f"{categorical!r}", "data.categorical", section, "categorical")
    prepared: dict[str, Any] = {"scale": scale, "impute": impute,
                "categorical": tuple(categorical) if isinstance(categorical, list)
                else categorical}
    source = sources[0]
    if source == "dataset":
        name = check.one_of(section, "data", "dataset", DATASETS, "")
        return DataSpec(dataset=name, **prepared)
    if source in ("X", "frame"):
        return DataSpec(memory=_in_memory(check, section, source), **prepared)
    path = check.typed(section, "data", "path", str, None, "a file path")
    full = (base / path).resolve()
    if not full.is_file():
        raise check.fail(f"file {path!r} not found (looked in {full.parent})", "data.path",
                         section, "path")
    if full.suffix.lower() not in (".csv", ".npz"):
        raise check.fail(f"must be a .csv or .npz file, got {path!r}", "data.path", section,
                         "path")
    target = check.typed(section, "data", "target", str, None, "a column name")
    if full.suffix.lower() == ".csv" and target is None:
        raise check.fail("a .csv file needs target: the name of the column to predict",
                         "data.target", section, None)
    return DataSpec(path=str(full), target=target, **prepared)


def _in_memory(check: _Checker, section: Mapping[str, Any], source: str) -> InMemory:
    """Data given in Python: X and y, or a DataFrame and its target column."""
    try:
        if source == "X":
            if "y" not in section:
                raise check.fail("X needs y, the target (an array or a Series)", "data.y",
                                 section, None)
            return InMemory(section["X"], section["y"])
        frame, target = section["frame"], section.get("target")
        if not hasattr(frame, "columns"):
            raise check.fail(f"must be a pandas DataFrame, got {type(frame).__name__}",
                             "data.frame", section, "frame")
        if target not in frame.columns:
            raise check.fail(f"target must name the column to predict, one of "
                             f"{', '.join(map(str, frame.columns))}; "
                             f"{did_you_mean(target, frame.columns)}got {target!r}",
                             "data.target", section, "target")
        return InMemory(frame.drop(columns=[target]), frame[target])
    except ObjectiveError as error:
        raise check.fail(str(error).removeprefix("data: "), f"data.{source}", section,
                         source) from None


def _space(check: _Checker, raw: Mapping[str, Any], fixed: Mapping[str, Any]) -> Space:
    if raw.get("space") is None:
        raise check.fail(
            "missing: add the parameters to search, e.g. space: {lr: {scale: log, low: 1.0e-4, "
            "high: 1}}",
            "space", raw, None,
        )
    section = raw["space"]
    if not isinstance(section, Mapping) or not section:
        raise check.fail("must map parameter names to scales, e.g. lr: {log: [1.0e-4, 1]}",
                         "space", raw, "space")
    scales: dict[str, Scale] = {}
    conditions: dict[str, list[Branch]] = {}

    def scale_of(name: str, spec: Any, key: str, section: Mapping[str, Any]) -> Scale:
        try:
            return parse_param(spec)
        except ConfigError as error:
            line, origin = spec.where(error.key) if isinstance(spec, YamlMapping) and \
                error.key in spec else (None, None)
            if line is None and origin is None and isinstance(section, YamlMapping):
                line, origin = section.where(name)
            raise ConfigError(
                error.message, file=check.file, line=line, origin=origin,
                key=key + (f".{error.key}" if error.key else ""),
            ) from None

    def add(section: Mapping[str, Any], prefix: str, path: Branch) -> None:
        """The parameters of a section (the space, or a branch of a choice) and, inside each
        conditional choice, those of its branches."""
        for name, spec in section.items():
            key = f"{prefix}.{name}"
            if not isinstance(name, str) or not name.isidentifier():
                raise check.fail(f"parameter names must be identifiers, got {name!r}", key,
                                 section, name)
            if name in fixed:
                raise check.fail(f"'{name}' is both searched and in objective.fixed; keep one",
                                 key, section, name)
            branches = branches_of(spec)
            if branches is not None and not branches:
                raise check.fail("a choice needs at least one option", key, section, name)
            scale = scale_of(name, spec, key, section) if branches is None \
                else Choice(tuple(branches))
            if name in scales:
                if not (path and conditions.get(name) and scales[name] == scale):
                    raise check.fail(
                        f"'{name}' is defined twice: a parameter has one definition (the same "
                        "one in several branches of a choice is shared); give one of them "
                        "another name", key, section, name)
                conditions[name].append(path)
            else:
                scales[name] = scale
                conditions[name] = [path] if path else []
            for option, inner in (branches or {}).items():
                where = f"{key}.choice.{option}"
                if inner is None:
                    continue  # an option without parameters of its own
                if not isinstance(inner, Mapping):
                    raise check.fail(f"must map the parameters of option {option!r} to their "
                                     f"scales, or be {{}} when it has none; got {inner!r}",
                                     where, branches, option)
                add(inner, where, path + ((name, option),))

    add(section, "space", ())
    return Space(scales, conditions)


def _from_mapping(raw: Any, file: str | None, base: Path, default_name: str) -> Config:
    check = _Checker(file)
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "the config must be a YAML mapping with name, objective and space sections",
            file=file, line=1,
        )
    check.known_keys(raw, "")
    name = str(check.typed(raw, "", "name", (str, int), default_name, "a text"))
    try:
        check_name(name)
    except ConfigError as error:
        raise check.fail(error.message, "name", raw, "name") from None
    objective = _objective(check, raw, base)
    data = _data(check, raw, base)
    if data is not None and not objective.takes_data:
        raise check.fail(
            "a command objective reads its own data; remove the data section or use a function",
            "data", raw, "data",
        )
    cv_raw = check.section(raw, "cv")
    holdout = check.typed(cv_raw, "cv", "holdout", (int, float), None,
                          "a share of the rows, such as 0.2")
    if holdout is not None and not 0 < holdout < 1:
        raise check.fail(f"must be between 0 and 1 (the share of rows to validate on), got "
                         f"{holdout}", "cv.holdout", cv_raw, "holdout")
    if holdout is not None and "folds" in cv_raw:
        raise check.fail("give folds (k-fold cross-validation) or holdout (one split), not both",
                         "cv.holdout", cv_raw, "holdout")
    cv = CVSpec(
        folds=check.at_least(cv_raw, "cv", "folds", 2, 5),
        scoring=check.typed(cv_raw, "cv", "scoring", str, None, "a scikit-learn scorer name"),
        shuffle=check.typed(cv_raw, "cv", "shuffle", bool, True, "true or false"),
        holdout=None if holdout is None else float(holdout),
    )
    search_raw = check.section(raw, "search")
    direction = _direction(check, search_raw, cv_raw)
    search = SearchSpec(
        trials=_trials(check, search_raw),
        sampler=check.one_of(search_raw, "search", "sampler", SAMPLERS, "random"),
        seed=check.at_least(search_raw, "search", "seed", 0, 0),
        rounds=_rounds(check, search_raw),
        lookahead=_lookahead(check, search_raw),
        max_failures=check.at_least(search_raw, "search", "max_failures", 1, 1)
        if search_raw.get("max_failures") is not None else None,
        early_stopping=_early_stopping(check, search_raw),
        direction=direction,
        refit=check.typed(search_raw, "search", "refit", bool, False, "true or false"),
        warm_start=_warm_start(check, search_raw),
        strategy=_strategy(check, search_raw),
        reproducible=check.typed(search_raw, "search", "reproducible", bool, True,
                                 "true or false"),
        seeds=_seeds(check, search_raw),
    )
    if search.strategy is not None and not search.reproducible:
        raise check.fail("applies to the built-in search; a strategy of your own says "
                         "whether it is reproducible itself (its class attribute "
                         "reproducible = False)", "search.reproducible", search_raw,
                         "reproducible")
    if search.refit and not isinstance(objective, EstimatorSpec):
        raise check.fail(f"applies to estimator objectives: a {objective.kind} trains its own "
                         "model, which hpsearch cannot fit again; take the best trial's params "
                         "(hpsearch leaderboard RUN --top 1)", "search.refit", search_raw,
                         "refit")
    if isinstance(search.rounds, int) and search.rounds > search.trials:
        raise check.fail(f"cannot exceed search.trials ({search.trials}): each round needs at "
                         f"least one trial, got {search.rounds}", "search.rounds", search_raw,
                         "rounds")
    parallel = _parallel(check, raw, objective)
    space = _space(check, raw, objective.fixed)
    search = dataclasses.replace(search, enqueue=_enqueue(check, search_raw, space,
                                                          search.trials))
    if isinstance(objective, CommandSpec):
        _check_placeholders(check, raw, objective, space)
    return Config(
        name=name, objective=objective, space=space, data=data, cv=cv, search=search,
        parallel=parallel, source=file, base_dir=str(base),
    )


def _parallel(check: _Checker, raw: Mapping[str, Any], objective: ObjectiveSpec) -> ParallelSpec:
    parallel_raw = check.section(raw, "parallel")
    devices, per_trial, variable = _devices(check, parallel_raw, objective)
    slots = None if devices is None else len(devices) // per_trial
    n_jobs = check.typed(parallel_raw, "parallel", "n_jobs", int, -1 if slots is None else slots,
                         "a whole number (-1 for all cores)")
    if n_jobs == 0 or n_jobs < -1:
        raise check.fail(f"must be >= 1, or -1 for all cores, got {n_jobs}", "parallel.n_jobs",
                         parallel_raw, "n_jobs")
    if slots is not None and (n_jobs == -1 or n_jobs > slots):
        raise check.fail(f"{n_jobs} workers but {slots} device slots ({len(devices or ())} "
                         f"devices, {per_trial} per trial): leave n_jobs out (it defaults to "
                         "the slots) or give it at most that", "parallel.n_jobs", parallel_raw,
                         "n_jobs")
    backend = check.one_of(parallel_raw, "parallel", "backend", EXECUTORS, "loky")
    if devices is not None and EXECUTORS[backend].one_process \
            and not isinstance(objective, CommandSpec):
        raise check.fail("threads share one environment, so a function or an estimator cannot "
                         "get its own devices there: use backend loky (commands can use "
                         "threading)", "parallel.devices", parallel_raw, "devices")
    timeout = check.typed(parallel_raw, "parallel", "timeout", (int, float), None,
                          "a number of seconds")
    if timeout is not None and timeout <= 0:
        raise check.fail(f"must be > 0 seconds, got {timeout}", "parallel.timeout",
                         parallel_raw, "timeout")
    address = check.typed(parallel_raw, "parallel", "address", str, None,
                          "a scheduler address such as tcp://10.0.0.5:8786")
    if address is not None and not EXECUTORS[backend].joins_cluster:
        clusters = " or ".join(name for name, e in EXECUTORS.items() if e.joins_cluster)
        raise check.fail(f"joins a {clusters} cluster; set backend: dask (now {backend})",
                         "parallel.address", parallel_raw, "address")
    population = parallel_raw.get("population", "auto")
    if population is True:
        population = "auto"
    if population is False:
        population = "off"
    if not (population in ("auto", "off") or (isinstance(population, int)
                                              and not isinstance(population, bool)
                                              and population >= 1)):
        raise check.fail(f"must be auto, off or a population size >= 1, got {population!r}",
                         "parallel.population", parallel_raw, "population")
    memory = check.typed(parallel_raw, "parallel", "population_memory", (int, float), 32.0,
                         "a number of megabytes")
    if memory <= 0:
        raise check.fail(f"must be > 0 megabytes, got {memory}", "parallel.population_memory",
                         parallel_raw, "population_memory")
    return ParallelSpec(n_jobs=n_jobs, backend=backend,
                        timeout=None if timeout is None else float(timeout), address=address,
                        population=population, population_memory=float(memory),
                        devices=devices, devices_per_trial=per_trial, device_variable=variable)


def _devices(check: _Checker, raw: Mapping[str, Any], objective: ObjectiveSpec
             ) -> tuple[tuple[str | int, ...] | None, int, str]:
    """parallel.devices, devices_per_trial and device_variable, checked together."""
    devices = raw.get("devices")
    per_trial = check.at_least(raw, "parallel", "devices_per_trial", 1, 1)
    variable = check.typed(raw, "parallel", "device_variable", str, "CUDA_VISIBLE_DEVICES",
                           "an environment variable's name")
    if not re.fullmatch(r"[A-Za-z_]\w*", variable):
        raise check.fail(f"must be an environment variable's name, got {variable!r}",
                         "parallel.device_variable", raw, "device_variable")
    if devices is None:
        return None, per_trial, variable
    if isinstance(devices, (int, str)) and not isinstance(devices, bool):
        devices = [devices]
    if not isinstance(devices, list) or not devices or not all(
            isinstance(d, (int, str)) and not isinstance(d, bool) for d in devices):
        raise check.fail(f"must be a list of device ids, such as [0, 1, 2, 3], got {devices!r}",
                         "parallel.devices", raw, "devices")
    if len(set(map(str, devices))) != len(devices):
        raise check.fail(f"lists a device twice: {devices!r}", "parallel.devices", raw,
                         "devices")
    if per_trial > len(devices):
        raise check.fail(f"{per_trial} devices per trial, but only {len(devices)} devices",
                         "parallel.devices_per_trial", raw, "devices_per_trial")
    return tuple(devices), per_trial, variable


def _trials(check: _Checker, search: Mapping[str, Any]) -> int:
    trials = check.at_least(search, "search", "trials", 1, 20)
    if trials > MAX_TRIALS:
        raise check.fail(f"at most {MAX_TRIALS:,} trials in one run, got {trials:,}; split a "
                         "larger budget over runs (or rounds)", "search.trials", search,
                         "trials")
    return trials


def _direction(check: _Checker, search: Mapping[str, Any], cv: Mapping[str, Any]) -> Direction:
    """search.direction; cv.direction, where earlier configs had it, is read too."""
    given = {name: Direction(check.one_of(section, name, "direction", Direction, "maximize"))
             for name, section in (("search", search), ("cv", cv)) if "direction" in section}
    if len(set(given.values())) > 1:
        raise check.fail(f"says {given['search']} but cv.direction says {given['cv']}; keep "
                         "search.direction", "search.direction", search, "direction")
    return next(iter(given.values()), Direction.MAXIMIZE)


EARLY_STOPPING = {"asha": "asha", "successive_halving": "asha", "median": "median"}


def _warm_start(check: _Checker, raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Earlier runs, by folder (relative to the config's folder) or by name under the runs
    folder, as given: which exist is known when the run starts (`api.run` opens them)."""
    value = raw.get("warm_start")
    if value is None:
        return ()
    runs = [value] if isinstance(value, str) else value
    if not isinstance(runs, list) or not runs or not all(isinstance(r, str) and r for r in runs):
        raise check.fail(f"must be a run (its folder, or its name under the runs folder) or a "
                         f"list of runs, got {value!r}", "search.warm_start", raw, "warm_start")
    return tuple(runs)


def _seeds(check: _Checker, raw: Mapping[str, Any]) -> tuple[int, ...]:
    """The seeds of the first trials, in trial order (`best --format yaml` gives the winner's,
    so that its trial 0 is the winning trial again)."""
    value = raw.get("seeds")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise check.fail(f"must be a list of whole numbers >= 0 (the first trials' seeds), got "
                         f"{value!r}", "search.seeds", raw, "seeds")
    return tuple(value)


def _enqueue(check: _Checker, raw: Mapping[str, Any], space: Space,
             trials: int) -> tuple[dict[str, Any], ...]:
    """Points to evaluate first: each a mapping of values of searched parameters (those left
    out are sampled), each value one its scale gives."""
    value = raw.get("enqueue")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, Mapping) for p in value):
        raise check.fail("must be a list of points, each a mapping of parameter values, e.g. "
                         f"[{{learning_rate: 1.0e-3}}], got {value!r}", "search.enqueue", raw,
                         "enqueue")
    if len(value) > trials:
        raise check.fail(f"{len(value)} points, more than search.trials ({trials}): they count "
                         "in the budget", "search.enqueue", raw, "enqueue")
    for i, point in enumerate(value):
        for name, given in point.items():
            key = f"search.enqueue[{i}].{name}"
            if name not in space.dims:
                raise check.fail(f"no searched parameter {name!r}; "
                                 f"{did_you_mean(str(name), space.dims)}searched: "
                                 + ", ".join(space.dims), key, point, name)
            scale = space.scales[name]
            if not scale.contains(given):
                raise check.fail(f"{given!r} is not a value of {name} ({scale.kind} "
                                 f"{scale.range_text()})", key, point, name)
            if not space.active(name, point):
                branches = " or ".join(", ".join(f"{c} is {o}" for c, o in path)
                                       for path in space.conditions[name])
                raise check.fail(f"{name} exists only when {branches}: give that too", key,
                                 point, name)
    return tuple(dict(point) for point in value)


def _rounds(check: _Checker, raw: Mapping[str, Any]) -> int | str:
    """`rounds: auto` (the default: decided from the budget and the workers) or a number."""
    if str(raw.get("rounds", AUTO)).strip().lower() == AUTO:
        return AUTO
    if isinstance(raw.get("rounds"), str):
        raise check.fail(f"must be auto or a number of rounds (1: plain random search), got "
                         f"{raw['rounds']!r}", "search.rounds", raw, "rounds")
    return check.at_least(raw, "search", "rounds", 1, 1)


def _strategy(check: _Checker, raw: Mapping[str, Any]) -> str | None:
    """`strategy: module:Class`, a user's subclass of hpsearch.search.Strategy (imported when
    the run starts, from objective.path)."""
    value = raw.get("strategy")
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[\w.]+:[\w.]+", value.strip()):
        raise check.fail(f"must name a class as module:Class (a subclass of "
                         f"hpsearch.search.Strategy), got {value!r}", "search.strategy", raw,
                         "strategy")
    return value.strip()


def _lookahead(check: _Checker, raw: Mapping[str, Any]) -> int | str:
    """`lookahead: auto` (the default: from the workers) or a number of trials, 0 or more:
    trial i is proposed from, and compared by early stopping with, the trials numbered below
    i - lookahead."""
    if str(raw.get("lookahead", AUTO)).strip().lower() == AUTO:
        return AUTO
    if isinstance(raw.get("lookahead"), str):
        raise check.fail(f"must be auto or a number of trials (trial i learns from the trials "
                         f"numbered below i - lookahead), got {raw['lookahead']!r}",
                         "search.lookahead", raw, "lookahead")
    return check.at_least(raw, "search", "lookahead", 0, 0)


def _early_stopping(check: _Checker, raw: Mapping[str, Any]) -> Pruner | str | None:
    """`early_stopping: auto` (the default: asha when the objective reports per-epoch scores),
    asha, median, true, false, or a mapping with method and options."""
    value = raw.get("early_stopping", AUTO)
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if value is None or value is False or value == "none":
        return None
    if value is True:
        return Pruner()
    spec: Mapping[str, Any]
    spec = value if isinstance(value, Mapping) else {"method": value}
    section = "search.early_stopping"
    check.known_keys(spec, section)
    method = str(spec.get("method", "asha")).lower()
    if method not in EARLY_STOPPING:
        raise check.fail(f"unknown method {spec.get('method')!r}; "
                         f"{did_you_mean(method, EARLY_STOPPING)}choose auto, asha, median "
                         "or false",
                         section, raw, "early_stopping")
    defaults = Pruner()
    return Pruner(
        EARLY_STOPPING[method],
        min_epochs=check.at_least(spec, section, "min_epochs", 1, defaults.min_epochs),
        reduction=check.at_least(spec, section, "reduction", 2, defaults.reduction),
        startup=check.at_least(spec, section, "startup", 1, defaults.startup),
    )


def check_name(name: str) -> str:
    """A run name is one folder below the runs folder: it can never point outside it."""
    if not re.fullmatch(r"[\w][\w.-]*", name):
        raise ConfigError(f"a run name is letters, digits, '-', '_' and '.', starting with a "
                          f"letter or digit (it names a folder in the runs folder), got {name!r}",
                          key="name")
    if len(name.encode()) > MAX_NAME:
        raise ConfigError(f"a run name names a folder: at most {MAX_NAME} characters, got "
                          f"{len(name.encode())}", key="name")
    return name


def _check_placeholders(check: _Checker, raw: Mapping[str, Any], objective: CommandSpec,
                        space: Space) -> None:
    known = set(space.scales) | set(objective.fixed) | {"trial", "seed"}
    for key, texts in (("command", objective.target), ("env", objective.env.values())):
        for text in texts:
            for name in re.findall(r"\{(\w+)\}", text):
                if name not in known:
                    hint = did_you_mean(f"{{{name}}}", [f"{{{k}}}" for k in sorted(known)])
                    raise check.fail(
                        f"placeholder {{{name}}} names no parameter; {hint}known: "
                        + ", ".join(f"{{{k}}}" for k in sorted(known)),
                        f"objective.{key}", raw.get("objective"), key,
                    )


def read_run_config(path: str | Path) -> tuple[Space, Direction]:
    """What reading a stored run needs of its config.yaml: its space and direction, checked
    with file:line like any config (a run can be read whose data or code moved away)."""
    shown = str(path)
    raw = read_yaml(path)
    check = _Checker(shown)
    if not isinstance(raw, Mapping):
        raise ConfigError("the config must be a YAML mapping with name, objective and space "
                          "sections", file=shown, line=1)
    objective = raw.get("objective")
    fixed = objective.get("fixed") or {} if isinstance(objective, Mapping) else {}
    search: Mapping[str, Any] = raw["search"] if isinstance(raw.get("search"), Mapping) else {}
    cv: Mapping[str, Any] = raw["cv"] if isinstance(raw.get("cv"), Mapping) else {}
    return _space(check, raw, fixed if isinstance(fixed, Mapping) else {}), \
        _direction(check, search, cv)


def load_config(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = (), *,
                data: Mapping[str, Any] | None = None) -> Config:
    """A validated config from a YAML file, or from a mapping (relative paths then start at the
    current folder), with `overrides` (``key.path=value``, as ``--set`` gives them) applied
    before it is checked, and `data` in the place of its data section (a stored run's, given
    again or other data).

    Raises:
        ConfigError: naming the file, line and key of the first mistake (or the override).
    """
    if isinstance(source, Mapping):
        raw: Any = source
        if overrides or data is not None:
            raw = as_sections(source)
            for setting in overrides:
                apply_override(raw, setting)
            if data is not None:
                raw["data"] = as_sections(data)
        return _from_mapping(raw, None, Path.cwd(), "run")
    path = Path(source)
    shown = str(source)
    raw = read_yaml(path)
    if (overrides or data is not None) and not isinstance(raw, YamlMapping):
        raise ConfigError("the config must be a YAML mapping with name, objective and space "
                          "sections", file=shown, line=1)
    for setting in overrides:
        apply_override(raw, setting)
    if data is not None:
        raw["data"] = as_sections(data)
    return _from_mapping(raw, shown, path.resolve().parent, path.stem)

