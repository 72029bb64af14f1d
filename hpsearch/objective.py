"""The three kinds of objective, each a picklable callable ``objective(trial) -> Outcome``.

`build_objective` checks everything it can in the parent, before any trial runs (the module
imports, the class is an estimator, the command exists, the data loads, the scorer is known), so
a mistake costs one clear message instead of a run of failed trials. Workers receive the small
objective object and load modules and data once per process.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.config import Config, CVSpec, DataSpec, ObjectiveSpec
from hpsearch.errors import ObjectiveError, TrialPruned
from hpsearch.pruning import Pruner, Reporter
from hpsearch.trial import Outcome, Status, Trial, TrialResult, as_scores

__all__ = ["Objective", "build_objective", "import_target"]


def import_target(target: str, paths: Sequence[str] = ()) -> Any:
    """The object named ``module:attr`` (or ``module.attr``), with `paths` on sys.path."""
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        where = f" (searched {', '.join(paths)} and the installed packages)" if paths else ""
        raise ObjectiveError(f"cannot import '{module_name}' for {target}: {error}{where}") \
            from None
    except Exception as error:  # the user's module raised while importing
        raise ObjectiveError(
            f"importing '{module_name}' for {target} raised {type(error).__name__}: {error}"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        import difflib

        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean '{module_name}:{close[0]}'?" if close else ""
        raise ObjectiveError(f"module '{module_name}' has no '{attr}'{hint}") from None


@functools.lru_cache(maxsize=8)
def _cached_target(target: str, paths: tuple[str, ...]) -> Any:
    return import_target(target, paths)


def _folds(data: DataSpec, cv: CVSpec, seed: int, classifier: bool) -> list[tuple[Any, Any]]:
    """The k (train, test) index pairs; the same for every trial of a run."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from hpsearch.datasets import load

    X, y = load(data)
    splitter = StratifiedKFold if classifier else KFold
    kwargs = {"shuffle": True, "random_state": seed} if cv.shuffle else {}
    return list(splitter(n_splits=cv.folds, **kwargs).split(X, y))


@functools.lru_cache(maxsize=4)
def folds_of(data: DataSpec, cv: CVSpec, seed: int, classifier: bool) -> list[Any]:
    """The run's k (train, test) index pairs, cached per process."""
    return _folds(data, cv, seed, classifier)


def _is_classification(y: Any) -> bool:
    from sklearn.utils.multiclass import type_of_target

    return type_of_target(y) in ("binary", "multiclass")


@dataclass(frozen=True)
class Objective:
    """What a trial runs: ``objective(trial)`` returns its fold scores (and what else it
    reported) or raises."""

    spec: ObjectiveSpec
    data: DataSpec | None
    cv: CVSpec
    cv_seed: int
    base_dir: str
    # early stopping: the run's store (where workers share per-epoch scores) and the rule
    prune: tuple[str, Pruner] | None = None

    def __call__(self, trial: Trial) -> Outcome:
        params = {**self.spec.fixed, **trial.params}
        report = self._reporter(trial)
        try:
            if self.spec.kind == "estimator":
                return self._estimator(params, trial.seed, report)
            if self.spec.kind == "function":
                return Outcome(self._function(params, trial.seed, report))
            return Outcome(self._command(params, trial))
        finally:
            if isinstance(report, Reporter):
                report.close()

    def _reporter(self, trial: Trial) -> Callable[[int, float], None]:
        if self.prune is None or trial.retest_of is not None:
            return _no_report
        return Reporter(self.prune[0], trial.number, self.prune[1], self.cv.direction)

    @property
    def reports_epochs(self) -> bool:
        """Whether early stopping can stop its trials: the built-in network (or any estimator
        with begin/train_epoch), or a function that takes `report`."""
        target = _cached_target(str(self.spec.target), self.spec.path) \
            if self.spec.kind != "command" else None
        if self.spec.kind == "estimator":
            return hasattr(target, "begin") and hasattr(target, "train_epoch")
        return self.spec.kind == "function" and _takes(target, "report")

    # -- estimator: k-fold cross-validation through scikit-learn

    def make_estimator(self, params: Mapping[str, Any], seed: int) -> Any:
        """The estimator for one trial: sampled and fixed params, the trial's seed as its
        random_state when it takes one, and the data scaler in front when one is asked for."""
        cls = _cached_target(str(self.spec.target), self.spec.path)
        estimator = cls(**params)
        if "random_state" in estimator.get_params() and "random_state" not in params:
            estimator.set_params(random_state=seed % 2**32)
        assert self.data is not None
        if self.data.scale != "none":
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import MinMaxScaler, StandardScaler

            scaler = StandardScaler() if self.data.scale == "standard" else MinMaxScaler()
            estimator = make_pipeline(scaler, estimator)
        return estimator

    def _estimator(self, params: dict[str, Any], seed: int,
                   report: Callable[[int, float], None]) -> Outcome:
        from sklearn.base import is_classifier
        from sklearn.model_selection import cross_validate

        from hpsearch.datasets import load

        assert self.data is not None
        estimator = self.make_estimator(params, seed)
        X, y = load(self.data)
        folds = folds_of(self.data, self.cv, self.cv_seed, is_classifier(estimator))
        if report is not _no_report and self.reports_epochs:
            return self._by_epoch(estimator, X, y, folds, report)
        done = cross_validate(estimator, X, y, cv=folds, scoring=self.cv.scoring,
                              error_score="raise", return_estimator=True)
        histories = [getattr(_final_step(e), "history_", None) for e in done["estimator"]]
        extra = {"history": _mean_history([h for h in histories if h])} \
            if all(histories) else {}
        return Outcome(as_scores(done["test_score"]), extra)

    def _by_epoch(self, estimator: Any, X: Any, y: Any, folds: list[tuple[Any, Any]],
                  report: Callable[[int, float], None]) -> Outcome:
        """Cross-validation epoch by epoch, as `cross_validate` would fit and score, reporting
        the first fold's validation score after every epoch so a hopeless trial stops early."""
        from sklearn.base import clone
        from sklearn.metrics import check_scoring

        assert self.data is not None
        scores, histories = [], []
        for index, (train, test) in enumerate(folds):
            model = clone(_final_step(estimator))
            X_train, X_val = scaled(self.data.scale, X[train], X[test])
            model.begin(X_train, y[train], validation=(X_val, y[test]))
            while model.epoch_ < model.epochs:
                record = model.train_epoch()
                if index == 0:
                    report(record["epoch"], record["val_score"])
            model.end()
            scores.append(check_scoring(model, scoring=self.cv.scoring)(model, X_val, y[test]))
            histories.append(model.history_)
        return Outcome(as_scores(scores), {"history": _mean_history(histories)})

    # -- population: many trials of the built-in network as one batched computation

    def population_key(self, trial: Trial) -> tuple[Any, ...] | None:
        """What this trial's networks must share with others to train in one population; None
        when it cannot (another estimator, early stopping inside the network)."""
        if self.spec.kind != "estimator" or not self.reports_epochs:
            return None
        from hpsearch.models._together import population_key

        try:
            model = _final_step(self.make_estimator({**self.spec.fixed, **trial.params}, 0))
        except (TypeError, ValueError):
            return None  # its constructor fails: alone, it fails with a clear error
        return population_key(model)

    def members_per_population(self) -> int:
        """How many of one trial's folds can share a population: those with equally many
        training rows (5-fold CV of 1797 rows gives 1437 rows twice and 1438 three times)."""
        from collections import Counter

        from hpsearch.datasets import load

        assert self.data is not None
        X, y = load(self.data)
        sizes = Counter(len(train) for train, _ in folds_of(self.data, self.cv, self.cv_seed,
                                                             _is_classification(y)))
        return max(sizes.values())

    def member_bytes(self, trial: Trial) -> int:
        """The memory one of the trial's networks needs inside a population."""
        from hpsearch.datasets import load
        from hpsearch.models._together import member_bytes

        assert self.data is not None
        X, y = load(self.data)
        model = _final_step(self.make_estimator({**self.spec.fixed, **trial.params}, 0))
        outputs = len(np.unique(y)) if model._task == "classification" else 1
        return member_bytes(model, X.shape[1], outputs)

    def population(self, trials: list[Trial], max_size: int) -> list[TrialResult]:
        """The trials' cross-validations, every (trial, fold) pair a member of a population
        (see hpsearch.models.fit_together); each result equals the trial's alone."""
        from sklearn.base import clone, is_classifier
        from sklearn.metrics import check_scoring

        from hpsearch.datasets import load
        from hpsearch.models._together import fit_together

        start = time.perf_counter()
        assert self.data is not None
        X, y = load(self.data)
        models, data, validation, owners = [], [], [], []
        failed: dict[int, str] = {}
        folds: list[tuple[Any, Any, Any, Any]] = []
        for trial in trials:
            try:
                estimator = self.make_estimator({**self.spec.fixed, **trial.params}, trial.seed)
            except Exception:
                failed[trial.number] = traceback.format_exc()
                continue
            if not folds:
                splits = folds_of(self.data, self.cv, self.cv_seed, is_classifier(estimator))
                for train, test in splits:
                    X_train, X_val = scaled(self.data.scale, X[train], X[test])
                    folds.append((X_train, y[train], X_val, y[test]))
            for index, (X_train, y_train, X_val, y_val) in enumerate(folds):
                models.append(clone(_final_step(estimator)))
                data.append((X_train, y_train))
                watched = self.prune is not None and index == 0 and trial.retest_of is None
                validation.append((X_val, y_val) if watched else None)
                owners.append((trial, index))
        reporters = {t.number: self._reporter(t) for t in trials}
        pruned: dict[int, TrialPruned] = {}

        def on_epoch(i: int, record: dict[str, float]) -> bool:
            trial = owners[i][0]
            if trial.number in pruned:
                return True
            if "val_score" in record:
                try:
                    reporters[trial.number](int(record["epoch"]), record["val_score"])
                except TrialPruned as stop:
                    pruned[trial.number] = stop
                    return True
            return False

        try:
            errors = fit_together(models, data, validation=validation, on_epoch=on_epoch,
                                  max_size=max_size)
        finally:
            for report in reporters.values():
                if isinstance(report, Reporter):
                    report.close()
        per_member = (time.perf_counter() - start) / max(1, len(models))
        results = []
        for trial in trials:
            mine = [i for i, (t, _) in enumerate(owners) if t.number == trial.number]
            duration = per_member * len(mine)
            error = failed.get(trial.number) or next(
                (f"{type(errors[i]).__name__}: {errors[i]}" for i in mine if errors[i]), None)
            if error is not None:
                results.append(TrialResult(trial, Status.FAILED, (), duration, error))
            elif trial.number in pruned:
                stop = pruned[trial.number]
                results.append(TrialResult(trial, Status.PRUNED, (), duration, stop.reason,
                                           extra={"epoch": stop.epoch}))
            else:
                try:
                    scores = as_scores([check_scoring(models[i], scoring=self.cv.scoring)(
                        models[i], folds[owners[i][1]][2], folds[owners[i][1]][3])
                        for i in mine])
                except Exception:
                    results.append(TrialResult(trial, Status.FAILED, (), duration,
                                               traceback.format_exc()))
                    continue
                history = _mean_history([models[i].history_ for i in mine])
                results.append(TrialResult(trial, Status.COMPLETE, scores, duration,
                                           extra={"history": history}))
        return results

    # -- function: func(params) or func(params, X_train, y_train, X_val, y_val) per fold

    def _function(self, params: dict[str, Any], seed: int,
                  report: Callable[[int, float], None]) -> tuple[float, ...]:
        func = _cached_target(str(self.spec.target), self.spec.path)
        extra: dict[str, Any] = {"seed": seed} if _takes(func, "seed") else {}
        if _takes(func, "report"):
            extra["report"] = report
        if self.data is None:
            return as_scores(func(params, **extra))
        from hpsearch.datasets import load

        X, y = load(self.data)
        folds = folds_of(self.data, self.cv, self.cv_seed, _is_classification(y))
        scores: list[float] = []
        for train, test in folds:
            X_train, X_val = scaled(self.data.scale, X[train], X[test])
            fold = as_scores(func(params, X_train, y[train], X_val, y[test], **extra))
            if len(fold) != 1:
                raise ValueError(f"returned {len(fold)} scores for one fold; return one number")
            scores.append(fold[0])
        return tuple(scores)

    # -- command: argv with {placeholders}, no shell; the last stdout line is JSON

    def command_line(self, params: Mapping[str, Any], trial: Trial) -> list[str]:
        values = {**params, "trial": trial.number, "seed": trial.seed}
        argv = []
        for arg in self.spec.target:
            for name, value in values.items():
                arg = arg.replace("{" + name + "}", _as_text(value))
            argv.append(arg)
        return argv

    def _command(self, params: dict[str, Any], trial: Trial) -> tuple[float, ...]:
        argv = self.command_line(params, trial)
        done = subprocess.run(
            argv, cwd=self.base_dir, capture_output=True, text=True, errors="replace",
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise CommandFailed(f"exited with code {done.returncode}", done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            raise CommandFailed("printed no score: its last stdout line must be JSON such as "
                                '{"score": 0.93}', done.stderr)
        try:
            return as_scores(json.loads(lines[-1]))
        except (ValueError, TypeError) as error:
            raise CommandFailed(
                f"last stdout line is not a JSON score ({error}): {lines[-1][:200]!r}", done.stderr
            ) from None


class CommandFailed(Exception):
    """A command objective that failed; carries the tail of its stderr."""

    def __init__(self, reason: str, stderr: str) -> None:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        super().__init__(reason + (f"\n--- stderr (last lines) ---\n{tail}" if tail else ""))


def _final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _mean_history(histories: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per-epoch means over the folds (a fold stopped early counts until it stopped)."""
    out = []
    for epoch in range(max(len(h) for h in histories)):
        rows = [h[epoch] for h in histories if epoch < len(h)]
        keys = dict.fromkeys(k for r in rows for k in r)
        out.append({k: sum(r[k] for r in rows if k in r) / sum(k in r for r in rows)
                    for k in keys})
    return out


def _as_text(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def scaled(kind: str, train: Any, test: Any) -> tuple[Any, Any]:
    """Features scaled as data.scale asks, fitted on the training rows only."""
    if kind == "none":
        return train, test
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = (StandardScaler() if kind == "standard" else MinMaxScaler()).fit(train)
    return scaler.transform(train), scaler.transform(test)


@functools.lru_cache(maxsize=16)
def _takes(func: Callable[..., Any], name: str) -> bool:
    """Whether a function accepts the keyword `name`."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _no_report(epoch: int, value: float) -> None:
    """`report` when early stopping is off: the trial always goes on."""


# ---------------------------------------------------------------------------------------------
# Checks made once in the parent


def build_objective(config: Config) -> Objective:
    """The objective of a config, checked before any trial runs.

    Raises:
        ObjectiveError: with a one-line message naming what is wrong and the fix.
    """
    objective = Objective(config.objective, config.data, config.cv, config.search.seed,
                          config.base_dir)
    spec = config.objective
    if spec.kind == "command":
        _check_command(spec, config.base_dir)
        return objective
    target = import_target(str(spec.target), spec.path)
    if spec.kind == "estimator":
        _check_estimator(target, spec, config)
    elif not callable(target):
        raise ObjectiveError(f"objective.function: {spec.target} is not callable")
    if config.data is not None:
        from hpsearch.datasets import load

        load(config.data)
        if config.cv.scoring is not None and spec.kind == "estimator":
            _check_scoring(config.cv.scoring)
    return objective


def _check_estimator(target: Any, spec: ObjectiveSpec, config: Config) -> None:
    """An estimator class whose constructor takes every searched and fixed parameter."""
    if not (inspect.isclass(target) and hasattr(target, "fit") and hasattr(target, "get_params")):
        raise ObjectiveError(
            f"objective.estimator: {spec.target} is not a scikit-learn-style estimator class "
            "(with fit and get_params); for a plain function use objective.function"
        )
    if config.data is None:
        raise ObjectiveError(
            "objective.estimator needs data: add e.g. data: {dataset: digits} or "
            "data: {path: train.csv, target: label}"
        )
    try:
        default: Any = target()
        accepted = set(default.get_params())
    except Exception:  # an estimator without defaults: its constructor will say what it misses
        return
    for name in [*config.space.scales, *spec.fixed]:
        if name not in accepted:
            import difflib

            close = difflib.get_close_matches(name, sorted(accepted), n=1)
            hint = f" did you mean '{close[0]}'?" if close else ""
            raise ObjectiveError(
                f"{spec.target} takes no parameter '{name}';{hint} it takes: "
                + ", ".join(sorted(accepted))
            )


def _check_scoring(scoring: str) -> None:
    from sklearn.metrics import get_scorer, get_scorer_names

    try:
        get_scorer(scoring)
    except ValueError:
        import difflib

        close = difflib.get_close_matches(scoring, get_scorer_names(), n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise ObjectiveError(
            f"cv.scoring: unknown scorer {scoring!r}; {hint}see sklearn.metrics.get_scorer_names()"
        ) from None


def _check_command(spec: ObjectiveSpec, base_dir: str) -> None:
    program = spec.target[0]
    local = os.path.join(base_dir, program)
    if os.sep in program or (os.altsep and os.altsep in program):
        found = os.path.exists(local)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise ObjectiveError(
            f"objective.command: program {program!r} not found (looked on PATH and in "
            f"{base_dir}); give its path or install it"
        )
