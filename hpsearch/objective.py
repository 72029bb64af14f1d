"""The three kinds of objective, one class each behind one small protocol.

An objective is a small picklable object: ``objective(trial)`` runs one trial in a worker and
returns its `Outcome` (fold scores, and what else it reported) or raises. `build_objective`
chooses the class for a config once, and checks in the parent everything that can be checked
before any trial runs (the module imports, the class is an estimator, the command exists, the data
loads, the scorer is known), so a mistake costs one clear message instead of a run of failed
trials. Workers load modules and data once per process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpsearch.config import (
    CommandSpec,
    Config,
    CVSpec,
    DataSpec,
    EstimatorSpec,
    FunctionSpec,
    ObjectiveSpec,
)
from hpsearch.errors import CommandFailed, ObjectiveError, did_you_mean
from hpsearch.pruning import Pruner, Reporter
from hpsearch.trial import Outcome, Trial, as_scores

__all__ = ["Objective", "EstimatorObjective", "FunctionObjective", "CommandObjective",
           "build_objective", "import_target", "folds_of", "scaled"]

Report = Callable[[int, float], None]


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
        names = {n: f"{module_name}:{n}" for n in dir(module) if not n.startswith("_")}
        hint = did_you_mean(attr, names, end="")
        raise ObjectiveError(f"module '{module_name}' has no '{attr}'"
                             + (f"; {hint}" if hint else "")) from None


@functools.lru_cache(maxsize=8)
def _cached_target(target: str, paths: tuple[str, ...]) -> Any:
    return import_target(target, paths)


@functools.lru_cache(maxsize=4)
def folds_of(data: DataSpec, cv: CVSpec, seed: int, classifier: bool) -> list[Any]:
    """The run's k (train, test) index pairs, the same for every trial; cached per process."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from hpsearch.datasets import load

    X, y = load(data)
    splitter = StratifiedKFold if classifier else KFold
    kwargs = {"shuffle": True, "random_state": seed} if cv.shuffle else {}
    return list(splitter(n_splits=cv.folds, **kwargs).split(X, y))


@functools.lru_cache(maxsize=2)
def _fold_data(data: DataSpec, cv: CVSpec, seed: int, classifier: bool
               ) -> list[tuple[Any, Any, Any, Any]]:
    from hpsearch.datasets import load

    X, y = load(data)
    out = []
    for train, test in folds_of(data, cv, seed, classifier):
        X_train, X_val = scaled(data.scale, X[train], X[test])
        out.append((X_train, y[train], X_val, y[test]))
    return out


def scaled(kind: str, train: Any, test: Any) -> tuple[Any, Any]:
    """Features scaled as data.scale asks, fitted on the training rows only."""
    if kind == "none":
        return train, test
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = (StandardScaler() if kind == "standard" else MinMaxScaler()).fit(train)
    return scaler.transform(train), scaler.transform(test)


def _is_classification(y: Any) -> bool:
    from sklearn.utils.multiclass import type_of_target

    return type_of_target(y) in ("binary", "multiclass")


@functools.lru_cache(maxsize=16)
def _takes(func: Callable[..., Any], name: str) -> bool:
    """Whether a function accepts the keyword `name`."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _no_report(epoch: int, value: float) -> None:
    """`report` when early stopping is off: the trial always goes on."""


@dataclass(frozen=True)
class Objective:
    """What a trial runs; one subclass per kind.

    ``objective(trial)`` returns the trial's Outcome or raises. A subclass implements
    `evaluate`, says whether it `reports_epochs` (so that early stopping can stop its trials),
    and `check`s in the parent what can be checked before any trial.
    """

    spec: ObjectiveSpec
    base_dir: str
    data: DataSpec | None = None
    cv: CVSpec = CVSpec()
    cv_seed: int = 0
    # early stopping: the run's database (where workers share per-epoch scores) and the rule
    prune: tuple[str, Pruner] | None = None

    def __call__(self, trial: Trial) -> Outcome:
        report = self.reporter(trial)
        try:
            return self.evaluate(self.spec.params(trial.params), trial, report)
        finally:
            if isinstance(report, Reporter):
                report.close()

    def evaluate(self, params: dict[str, Any], trial: Trial, report: Report) -> Outcome:
        raise NotImplementedError

    @property
    def reports_epochs(self) -> bool:
        """Whether its trials report a score every epoch, so early stopping can stop them."""
        return False

    def check(self, config: Config) -> None:
        """Raise ObjectiveError, naming the fix, for what would make every trial fail."""

    def reporter(self, trial: Trial) -> Report:
        """The trial's ``report(epoch, score)``: shared with the run when early stopping is on
        (a retest is never stopped), a no-op otherwise."""
        if self.prune is None or trial.retest_of is not None:
            return _no_report
        return Reporter(self.prune[0], trial.number, self.prune[1], self.cv.direction)

    def with_pruning(self, database: str, pruner: Pruner) -> Objective:
        return dataclasses.replace(self, prune=(database, pruner))

    @property
    def target(self) -> Any:
        """The imported class or function (cached per process)."""
        return _cached_target(str(self.spec.target), self.spec.path)

    def _check_data(self) -> None:
        if self.data is not None:
            from hpsearch.datasets import load

            load(self.data)


@dataclass(frozen=True)
class EstimatorObjective(Objective):
    """A scikit-learn-style estimator, scored by k-fold cross-validation (`cross_validate`); an
    estimator that trains epoch by epoch (``begin``/``train_epoch``) reports the first fold's
    validation score after every epoch."""

    @property
    def reports_epochs(self) -> bool:
        return hasattr(self.target, "begin") and hasattr(self.target, "train_epoch")

    def build(self, trial: Trial) -> Any:
        """The trial's estimator, built once: sampled and fixed params, and the trial's seed as
        its random_state when it takes one and the config does not set it."""
        params = self.spec.params(trial.params)
        estimator = self.target(**params)
        if "random_state" in estimator.get_params() and "random_state" not in params:
            estimator.set_params(random_state=trial.seed % 2**32)
        return estimator

    def pipeline(self, estimator: Any) -> Any:
        """The estimator with the data scaler in front, when one is asked for."""
        assert self.data is not None
        if self.data.scale == "none":
            return estimator
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        scaler = StandardScaler() if self.data.scale == "standard" else MinMaxScaler()
        return make_pipeline(scaler, estimator)

    def fold_data(self, classifier: bool) -> list[tuple[Any, Any, Any, Any]]:
        """Per fold, (X_train, y_train, X_val, y_val) with the features scaled as data.scale
        asks (fitted on the training rows); cached per process."""
        assert self.data is not None
        return _fold_data(self.data, self.cv, self.cv_seed, classifier)

    def score(self, model: Any, X: Any, y: Any) -> float:
        """The model's cv.scoring score (its own `score` by default)."""
        from sklearn.metrics import check_scoring

        return float(check_scoring(model, scoring=self.cv.scoring)(model, X, y))

    def evaluate(self, params: dict[str, Any], trial: Trial, report: Report) -> Outcome:
        from sklearn.base import is_classifier
        from sklearn.model_selection import cross_validate

        from hpsearch.datasets import load

        assert self.data is not None
        estimator = self.build(trial)
        if report is not _no_report and self.reports_epochs:
            return self._by_epoch(estimator, report)
        X, y = load(self.data)
        folds = folds_of(self.data, self.cv, self.cv_seed, is_classifier(estimator))
        done = cross_validate(self.pipeline(estimator), X, y, cv=folds, scoring=self.cv.scoring,
                              error_score="raise", return_estimator=True)
        fitted = [e.steps[-1][1] if hasattr(e, "steps") else e for e in done["estimator"]]
        histories = [getattr(e, "history_", None) for e in fitted]
        extra = {"history": mean_history([h for h in histories if h])} \
            if all(histories) else {}
        return Outcome(as_scores(done["test_score"]), extra)

    def _by_epoch(self, estimator: Any, report: Report) -> Outcome:
        """Cross-validation epoch by epoch, as `cross_validate` would fit and score, reporting
        the first fold's validation score after every epoch so a hopeless trial stops early."""
        from sklearn.base import clone, is_classifier

        scores, histories = [], []
        for index, (X_train, y_train, X_val, y_val) in enumerate(
                self.fold_data(is_classifier(estimator))):
            model = clone(estimator)
            model.begin(X_train, y_train, validation=(X_val, y_val))
            while model.epoch_ < model.epochs:
                record = model.train_epoch()
                if index == 0:
                    report(record["epoch"], record["val_score"])
            model.end()
            scores.append(self.score(model, X_val, y_val))
            histories.append(model.history_)
        return Outcome(as_scores(scores), {"history": mean_history(histories)})

    def check(self, config: Config) -> None:
        """An estimator class whose constructor takes every searched and fixed parameter, data
        that loads, and a scorer scikit-learn knows."""
        target = import_target(str(self.spec.target), self.spec.path)
        if not (inspect.isclass(target) and hasattr(target, "fit")
                and hasattr(target, "get_params")):
            raise ObjectiveError(
                f"objective.estimator: {self.spec.target} is not a scikit-learn-style estimator "
                "class (with fit and get_params); for a plain function use objective.function"
            )
        if self.data is None:
            raise ObjectiveError(
                "objective.estimator needs data: add e.g. data: {dataset: digits} or "
                "data: {path: train.csv, target: label}"
            )
        self._check_params(target, [*config.space.scales, *self.spec.fixed])
        self._check_data()
        if self.cv.scoring is not None:
            _check_scoring(self.cv.scoring)


    def _check_params(self, target: Any, names: list[str]) -> None:
        try:
            accepted = sorted(target().get_params())
        except Exception:  # an estimator without defaults: its constructor will say what it misses
            return
        for name in names:
            if name not in accepted:
                raise ObjectiveError(
                    f"{self.spec.target} takes no parameter '{name}'; "
                    f"{did_you_mean(name, accepted)}it takes: " + ", ".join(accepted))


@dataclass(frozen=True)
class FunctionObjective(Objective):
    """A Python function: without data ``func(params)`` returns a score, fold scores or
    ``{"score": ...}``; with data it is called once per fold as
    ``func(params, X_train, y_train, X_val, y_val)``. It may take ``seed`` and ``report``."""

    @property
    def reports_epochs(self) -> bool:
        return _takes(self.target, "report")

    def evaluate(self, params: dict[str, Any], trial: Trial, report: Report) -> Outcome:
        func = self.target
        extra: dict[str, Any] = {"seed": trial.seed} if _takes(func, "seed") else {}
        if _takes(func, "report"):
            extra["report"] = report
        if self.data is None:
            return Outcome(as_scores(func(params, **extra)))
        from hpsearch.datasets import load

        X, y = load(self.data)
        scores: list[float] = []
        for train, test in folds_of(self.data, self.cv, self.cv_seed, _is_classification(y)):
            X_train, X_val = scaled(self.data.scale, X[train], X[test])
            fold = as_scores(func(params, X_train, y[train], X_val, y[test], **extra))
            if len(fold) != 1:
                raise ValueError(f"returned {len(fold)} scores for one fold; return one number")
            scores.append(fold[0])
        return Outcome(tuple(scores))

    def check(self, config: Config) -> None:
        if not callable(import_target(str(self.spec.target), self.spec.path)):
            raise ObjectiveError(f"objective.function: {self.spec.target} is not callable")
        self._check_data()


@dataclass(frozen=True)
class CommandObjective(Objective):
    """Any program, run without a shell from the config's folder: ``{name}`` in its arguments is
    each param's value (and ``{trial}``, ``{seed}``); its last stdout line is JSON with ``score``
    or ``scores``."""

    def command_line(self, params: Mapping[str, Any], trial: Trial) -> list[str]:
        values = {**params, "trial": trial.number, "seed": trial.seed}
        argv = []
        for arg in self.spec.target:
            for name, value in values.items():
                arg = arg.replace("{" + name + "}", _as_text(value))
            argv.append(arg)
        return argv

    def evaluate(self, params: dict[str, Any], trial: Trial, report: Report) -> Outcome:
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
            return Outcome(as_scores(json.loads(lines[-1])))
        except (ValueError, TypeError) as error:
            raise CommandFailed(
                f"last stdout line is not a JSON score ({error}): {lines[-1][:200]!r}", done.stderr
            ) from None

    def check(self, config: Config) -> None:
        program = self.spec.target[0]
        if os.sep in program or (os.altsep and os.altsep in program):
            found = os.path.exists(os.path.join(self.base_dir, program))
        else:
            found = shutil.which(program) is not None
        if not found:
            raise ObjectiveError(
                f"objective.command: program {program!r} not found (looked on PATH and in "
                f"{self.base_dir}); give its path or install it"
            )


def mean_history(histories: list[list[dict[str, float]]]) -> list[dict[str, float]]:
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


def _check_scoring(scoring: str) -> None:
    from sklearn.metrics import get_scorer, get_scorer_names

    try:
        get_scorer(scoring)
    except ValueError:
        raise ObjectiveError(
            f"cv.scoring: unknown scorer {scoring!r}; "
            f"{did_you_mean(scoring, get_scorer_names(), n=3)}see "
            "sklearn.metrics.get_scorer_names()"
        ) from None


# The one place an objective's kind decides its class.
_CLASSES: dict[type[ObjectiveSpec], type[Objective]] = {
    EstimatorSpec: EstimatorObjective,
    FunctionSpec: FunctionObjective,
    CommandSpec: CommandObjective,
}


def build_objective(config: Config) -> Objective:
    """The objective of a config, checked before any trial runs.

    Raises:
        ObjectiveError: with a one-line message naming what is wrong and the fix.
    """
    cls = _CLASSES[type(config.objective)]
    objective = cls(config.objective, config.base_dir, config.data, config.cv,
                    config.search.seed)
    objective.check(config)
    return objective
