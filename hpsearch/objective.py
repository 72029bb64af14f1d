"""The three kinds of objective, one class each behind one small protocol.

An objective is a small picklable object: ``objective(trial)`` runs one trial in a worker and
returns its `TrialResult`, never raising: its scores, what else it reported (per-epoch reports,
a learning curve, metrics), its output in its log, or the error that ended it.
`build_objective` chooses the class for a config once, and checks in the parent everything that
can be checked before any trial runs (the module imports, the class is an estimator, the command
exists, the data loads, the scorer is known), so a mistake costs one clear message instead of a
run of failed trials. Workers load modules and data once per process.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import importlib
import inspect
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hpsearch.config.schema import CommandSpec, CVSpec, EstimatorSpec, FunctionSpec, ObjectiveSpec
from hpsearch.datasets import DataSpec
from hpsearch.errors import CommandFailed, ObjectiveError, did_you_mean
from hpsearch.execution.devices import DeviceSlots
from hpsearch.execution.processes import kill_group, started
from hpsearch.logs import TrialLog, capture
from hpsearch.search.pruning import Pruner, Reporter
from hpsearch.trial import (
    Direction,
    Outcome,
    Status,
    Trial,
    TrialResult,
    as_scores,
    metrics_of,
    result_of_error,
)

if TYPE_CHECKING:
    from hpsearch.config.schema import Config

__all__ = ["Objective", "EstimatorObjective", "FunctionObjective", "CommandObjective",
           "Channel", "build_objective", "import_target", "folds_of", "prepared_folds",
           "mean_history"]

Report = Callable[..., None]


def import_target(target: str, paths: Sequence[str] = ()) -> Any:
    """The object named ``module:attr`` (or ``module.attr``), with `paths` on sys.path.

    ``__main__:name`` is found only when the running program's own main script (a notebook, a
    script run with python) defines it: hpsearch's command line has nothing of the user's there.
    """
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    if module_name == "__main__":
        found = getattr(sys.modules["__main__"], attr, None)
        if getattr(found, "__module__", None) != "__main__":
            raise ObjectiveError(
                f"{target} names something of the Python session that defined it (a notebook, "
                "a script), and this process cannot see it: run from that session "
                "(hpsearch.run, hpsearch.resume), or move it into a module next to the config "
                f"and name it module:{attr}")
        return found
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
    """The run's (train, test) index pairs, the same for every trial; cached per process:
    k folds (stratified for classifiers), or one split of cv.holdout."""
    from sklearn.model_selection import (
        KFold,
        ShuffleSplit,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )

    from hpsearch.datasets import load

    X, y = load(data)
    if cv.holdout is not None:
        split = StratifiedShuffleSplit if classifier else ShuffleSplit
        return list(split(n_splits=1, test_size=cv.holdout, random_state=seed).split(X, y))
    splitter = StratifiedKFold if classifier else KFold
    kwargs = {"shuffle": True, "random_state": seed} if cv.shuffle else {}
    return list(splitter(n_splits=cv.folds, **kwargs).split(X, y))


def _rows(X: Any, index: Any) -> Any:
    """Some rows of an array or a DataFrame."""
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


@functools.lru_cache(maxsize=2)
def prepared_folds(data: DataSpec, cv: CVSpec, seed: int, classifier: bool
                   ) -> list[tuple[Any, Any, Any, Any]]:
    """Per fold, (X_train, y_train, X_val, y_val) prepared as the data section asks
    (categories, gaps, scale), fitted on the fold's training rows; cached per process."""
    from sklearn.base import clone

    from hpsearch.datasets import load, preprocessor

    X, y = load(data)
    prepare = preprocessor(data, X)
    out = []
    for train, test in folds_of(data, cv, seed, classifier):
        X_train, X_val = _rows(X, train), _rows(X, test)
        if prepare is not None:
            fitted = clone(prepare).fit(X_train)
            X_train, X_val = fitted.transform(X_train), fitted.transform(X_val)
        out.append((X_train, y[train], X_val, y[test]))
    return out


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


@dataclass(frozen=True)
class Channel:
    """Where a running trial's start, reports and output go."""

    logs: str | None = None  # the run's logs folder, written as trials print; None: returned
    board: Any = None  # what trials share as they run: starts, reports (store.RunBoard)
    pruner: Pruner | None = None  # early stopping's rule, when it is on


@dataclass(frozen=True)
class Objective:
    """What a trial runs; one subclass per kind.

    A subclass implements `evaluate`, says whether it `reports_epochs` (so that early stopping
    can stop its trials), and `check`s in the parent what can be checked before any trial.
    ``objective(trial)`` wraps `evaluate` in the trial's session (its reports, its log, its
    devices) and returns the TrialResult.
    """

    spec: ObjectiveSpec
    base_dir: str
    data: DataSpec | None = None
    cv: CVSpec = CVSpec()
    cv_seed: int = 0
    direction: Direction = Direction.MAXIMIZE
    channel: Channel = Channel()
    devices: DeviceSlots | None = None
    in_process: ClassVar[bool] = True  # its code runs inside the worker (not a command)

    def __call__(self, trial: Trial) -> TrialResult:
        session = Session(self, trial)
        start = time.perf_counter()
        try:
            with session.running():
                outcome = self.evaluate(self.spec.params(trial.params), trial, session)
        except Exception as error:
            result = result_of_error(trial, error, time.perf_counter() - start)
        else:
            result = TrialResult(trial, Status.COMPLETE, outcome.scores,
                                 time.perf_counter() - start, extra=outcome.extra)
        return session.finish(result)

    def evaluate(self, params: dict[str, Any], trial: Trial, session: Session) -> Outcome:
        raise NotImplementedError

    @property
    def reports_epochs(self) -> bool:
        """Whether its trials report a score every epoch, so early stopping can stop them."""
        return False

    def check(self, config: Config) -> None:
        """Raise ObjectiveError, naming the fix, for what would make every trial fail."""

    def with_channel(self, channel: Channel) -> Objective:
        return dataclasses.replace(self, channel=channel)

    @property
    def target(self) -> Any:
        """The class, instance or function: as given from Python, or imported by its name
        (cached per process)."""
        if not isinstance(self.spec.target, str):
            return self.spec.target
        return _cached_target(self.spec.target, self.spec.path)

    @property
    def classifier(self) -> bool:
        """Whether its folds are stratified (a classifier, or a function on class labels)."""
        from hpsearch.datasets import load

        assert self.data is not None
        return _is_classification(load(self.data)[1])

    def _check_data(self) -> None:
        """The data loads, and can be cut into the folds asked (stratified folds need every
        class in each of them)."""
        if self.data is None:
            return
        from collections import Counter

        from hpsearch.datasets import load

        rows = len(load(self.data)[1])
        folds = self.cv.folds
        if self.cv.holdout is not None:
            return
        if folds > rows:
            raise ObjectiveError(f"cv.folds: {folds} folds, but the data has {rows} rows: use at "
                                 f"most {rows}, or one split (cv: {{holdout: 0.2}})")
        if self.classifier:
            label, count = min(Counter(load(self.data)[1].tolist()).items(),
                               key=lambda item: item[1])
            if count < folds:
                raise ObjectiveError(
                    f"cv.folds: {folds} stratified folds need every class in each fold, and "
                    f"class {label!r} has {count} rows: use at most {count} folds, or one split "
                    "(cv: {holdout: 0.2})")


class Session:
    """One trial while it runs: the `report` of each fold, its log, its devices; `finish` puts
    what it gathered into the trial's result."""

    def __init__(self, objective: Objective, trial: Trial) -> None:
        self.objective, self.trial = objective, trial
        self.reporters: list[Reporter] = []
        logs = objective.channel.logs
        self.log = TrialLog(None if logs is None else Path(logs) / f"{trial.number}.log")

    def reporter(self, fold: int | None = None) -> Reporter:
        """``report(epoch, score, **metrics)`` for a fold (None: the objective validates on its
        own): kept as the learning curve (in the run's store as it comes, where the workers
        see it), and shared for early stopping when that is on (a retest is never stopped)."""
        channel = self.objective.channel
        pruned = channel.pruner is not None and self.trial.retest_of is None
        reporter = Reporter(self.trial.number, fold, self.objective.direction,
                            channel.pruner if pruned else None, channel.board, self.trial.peers)
        self.reporters.append(reporter)
        return reporter

    def start(self) -> None:
        """Record that the trial started (status shows it until its result is stored)."""
        board = self.objective.channel.board
        if board is not None:
            board.started(self.trial.number, self.trial.params)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The trial's start recorded (for status); in-process code gets the worker's own
        devices, and its prints and warnings go to the trial's log."""
        self.start()
        if not self.objective.in_process:
            yield
            return
        if self.objective.devices is not None:
            self.objective.devices.pin()
        with capture(self.log):
            yield

    def finish(self, result: TrialResult) -> TrialResult:
        """The result with the trial's learning curve, the reports its scoreboard did not store
        (the driver stores them), and its log's text when it could not be written here."""
        records = [r for reporter in self.reporters for r in reporter.records]
        extra = dict(result.extra)
        if records and "history" not in extra:
            folds: dict[int, list[dict[str, Any]]] = {}
            for r in records:
                folds.setdefault(r["fold"], []).append(
                    {k: v for k, v in r.items() if k != "fold" and _is_number(v)})
            extra["history"] = mean_history(list(folds.values()))
        unstored = tuple(r for reporter in self.reporters for r in reporter.unshared)
        if result.status is Status.PRUNED:  # the log says how the trial ended
            self.log.write(f"[hpsearch: stopped early, {result.error}]\n")
        return dataclasses.replace(result, extra=extra, reports=unstored, log=self.log.close())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class EstimatorObjective(Objective):
    """A scikit-learn-style estimator, scored by k-fold cross-validation (`cross_validate`); an
    estimator that trains epoch by epoch (``begin``/``train_epoch``) reports the first fold's
    validation score after every epoch."""

    @property
    def reports_epochs(self) -> bool:
        return hasattr(self.target, "begin") and hasattr(self.target, "train_epoch")

    def build(self, trial: Trial) -> Any:
        """The trial's estimator, built once: the sampled and fixed params (on top of an
        instance's own, when the objective is one), and the trial's seed as its random_state
        when it takes one and neither the config nor the instance sets it."""
        params = self.spec.params(trial.params)
        target = self.target
        if isinstance(target, type):
            estimator = target(**params)
        else:
            from sklearn.base import clone

            estimator = clone(target).set_params(**params)
        if estimator.get_params().get("random_state", 0) is None \
                and "random_state" not in params:
            estimator.set_params(random_state=trial.seed % 2**32)
        return estimator

    def pipeline(self, estimator: Any) -> Any:
        """The estimator with the data's preparation in front (categories, gaps, scale), when
        the data section asks for one: fitted with it, on each training fold."""
        from hpsearch.datasets import load, preprocessor

        assert self.data is not None
        prepare = preprocessor(self.data, load(self.data)[0])
        if prepare is None:
            return estimator
        from sklearn.pipeline import make_pipeline

        return make_pipeline(prepare, estimator)

    def fold_data(self, classifier: bool) -> list[tuple[Any, Any, Any, Any]]:
        """Per fold, (X_train, y_train, X_val, y_val), prepared as the data section asks."""
        assert self.data is not None
        return prepared_folds(self.data, self.cv, self.cv_seed, classifier)

    def score(self, model: Any, X: Any, y: Any) -> float:
        """The model's cv.scoring score (its own `score` by default)."""
        from sklearn.metrics import check_scoring

        return float(check_scoring(model, scoring=self.cv.scoring)(model, X, y))

    def evaluate(self, params: dict[str, Any], trial: Trial, session: Session) -> Outcome:
        from sklearn.base import is_classifier
        from sklearn.model_selection import cross_validate

        from hpsearch.datasets import load

        assert self.data is not None
        estimator = self.build(trial)
        if self.channel.pruner is not None and trial.retest_of is None and self.reports_epochs:
            return self._by_epoch(estimator, session.reporter(0))
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

    @property
    def classifier(self) -> bool:
        from sklearn.base import is_classifier

        target = self.target
        try:
            return is_classifier(target() if isinstance(target, type) else target)
        except Exception:  # a class without defaults: ask the data
            return super().classifier

    def check(self, config: Config) -> None:
        """An estimator class (or instance) whose constructor takes every searched and fixed
        parameter, data that loads, and a scorer scikit-learn knows."""
        target = self.target
        if not (hasattr(target, "fit") and hasattr(target, "get_params")):
            raise ObjectiveError(
                f"objective.estimator: {self.spec.name} is not a scikit-learn-style estimator "
                "(with fit and get_params); for a plain function use objective.function"
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
            accepted = sorted((target() if isinstance(target, type) else target).get_params())
        except Exception:  # an estimator without defaults: its constructor will say what it misses
            return
        for name in names:
            if name not in accepted:
                raise ObjectiveError(
                    f"{self.spec.name} takes no parameter '{name}'; "
                    f"{did_you_mean(name, accepted)}it takes: " + ", ".join(accepted))


@dataclass(frozen=True)
class FunctionObjective(Objective):
    """A Python function: without data ``func(params)`` returns a score, fold scores or
    ``{"score": ...}``; with data it is called once per fold as
    ``func(params, X_train, y_train, X_val, y_val)``. It may take ``seed`` and ``report``."""

    @property
    def reports_epochs(self) -> bool:
        return _takes(self.target, "report")

    def evaluate(self, params: dict[str, Any], trial: Trial, session: Session) -> Outcome:
        func = self.target
        extra: dict[str, Any] = {"seed": trial.seed} if _takes(func, "seed") else {}
        reports = _takes(func, "report")
        if self.data is None:
            if reports:
                extra["report"] = session.reporter(None)
            value = func(params, **extra)
            return Outcome(as_scores(value), _with_metrics({}, [metrics_of(value)]))
        from hpsearch.datasets import load

        classifier = _is_classification(load(self.data)[1])
        scores: list[float] = []
        metrics = []
        for fold, (X_train, y_train, X_val, y_val) in enumerate(
                prepared_folds(self.data, self.cv, self.cv_seed, classifier)):
            if reports:  # each fold its own: compared only with the same fold of other trials
                extra["report"] = session.reporter(fold)
            # a copy per fold: a function that pops or sets a key changes no other fold's
            value = func(dict(params), X_train, y_train, X_val, y_val, **extra)
            got = as_scores(value)
            if len(got) != 1:
                raise ValueError(f"returned {len(got)} scores for one fold; return one number")
            scores.append(got[0])
            metrics.append(metrics_of(value))
        return Outcome(tuple(scores), _with_metrics({}, metrics))

    def check(self, config: Config) -> None:
        if not callable(self.target):
            raise ObjectiveError(f"objective.function: {self.spec.name} is not callable")
        self._check_data()


@dataclass(frozen=True)
class CommandObjective(Objective):
    """Any program, run without a shell from the config's folder: ``{name}`` in its arguments
    and in objective.env is each param's value (and ``{trial}``, ``{seed}``).

    Its stdout is read as it comes: a JSON line with an ``epoch`` key reports that epoch's
    ``score`` (its other keys are that epoch's metrics), for early stopping and the learning
    curve; the trial's result is the last JSON line with ``score`` (or ``scores``) and no
    epoch, or else the last report's score; keys beside the score are the trial's metrics.
    A command stopped early gets SIGTERM, and SIGKILL after objective.grace seconds; so does
    everything it started, its whole process group.
    """

    in_process: ClassVar[bool] = False

    @property
    def reports_epochs(self) -> bool:
        return True  # any program may print epoch lines; which do is known only as they run

    def command_line(self, params: Mapping[str, Any], trial: Trial) -> list[str]:
        """The argv with its placeholders filled in (`filled`)."""
        return filled(self.spec.target, {**params, "trial": trial.number, "seed": trial.seed})

    def environment(self, params: Mapping[str, Any], trial: Trial) -> dict[str, str]:
        """objective.env with its placeholders filled in; a variable naming a parameter the
        trial does not have is not set."""
        values = {**params, "trial": trial.number, "seed": trial.seed}
        env = getattr(self.spec, "env", {})
        return {name: _substitute(text, values) for name, text in env.items()
                if _complete(text, values)}

    def evaluate(self, params: dict[str, Any], trial: Trial, session: Session) -> Outcome:
        argv = self.command_line(params, trial)
        slot: contextlib.AbstractContextManager[dict[str, str]] = \
            self.devices.slot() if self.devices is not None else contextlib.nullcontext({})
        with slot as devices:
            env = {**os.environ, **self.environment(params, trial), **devices}
            return _Command(argv, self.base_dir, env, session,
                            getattr(self.spec, "grace", 5.0)).run()

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


MAX_LINE = 1 << 16  # longer stdout lines are read in pieces (never a report)
STDERR_LINES = 20  # the last lines of stderr a failure shows


class _Command:
    """One run of a command: its stdout read line by line as it comes (reports, the result),
    stdout and stderr into the trial's log, stopped with its process group when the trial is
    pruned or interrupted."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], session: Session,
                 grace: float) -> None:
        self.argv, self.cwd, self.env, self.session, self.grace = argv, cwd, env, session, grace
        self.report = session.reporter(None)
        self.final: dict[str, Any] | None = None
        self.last_report: dict[str, Any] | None = None
        self.ignored = 0
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)

    def run(self) -> Outcome:
        process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        assert process.stdout is not None and process.stderr is not None
        errors = threading.Thread(target=self._drain_stderr, args=(process.stderr,),
                                  daemon=True)
        errors.start()
        try:
            with started(process.pid):  # stopped with its worker, should the driver disappear
                for line in iter(lambda: process.stdout.readline(MAX_LINE), b""):  # type: ignore
                    self.session.log.write(line)
                    self._line(line)
                code = process.wait()
        except BaseException:  # pruned, interrupted: the command and all it started stop
            _stop(process, self.grace)
            raise
        finally:
            errors.join(timeout=self.grace)
            process.stdout.close()
            process.stderr.close()
        if self.ignored:
            self.session.log.write(f"[hpsearch: ignored {self.ignored} stdout lines that looked "
                                   "like JSON reports but were not]\n")
        stderr = "\n".join(self.stderr)
        if code != 0:
            reason = f"exited with code {code}" if code > 0 else \
                f"killed by {signal.Signals(-code).name}"
            raise CommandFailed(reason, stderr, self.argv)
        result = self.final or self.last_report
        if result is None:
            raise CommandFailed('printed no score: print a JSON line such as {"score": 0.93} '
                                '(or per epoch {"epoch": 3, "score": 0.91})', stderr, self.argv)
        try:
            scores = as_scores(result)
        except ValueError as error:
            raise CommandFailed(f"its result is not a score ({error})", stderr, self.argv) \
                from None
        metrics = {k: v for k, v in result.items() if k not in ("score", "scores", "epoch")}
        extra: dict[str, Any] = {"metrics": metrics} if self.final is not None and metrics else {}
        if self.ignored:
            extra["ignored_lines"] = self.ignored
        return Outcome(scores, extra)

    def _drain_stderr(self, stream: Any) -> None:
        for line in iter(lambda: stream.readline(MAX_LINE), b""):
            self.session.log.write(line)
            self.stderr.append(line.decode("utf-8", "replace").rstrip("\n"))

    def _line(self, raw: bytes) -> None:
        """One stdout line: a report, a result, or output."""
        text = raw.strip()
        if not text.startswith(b"{"):
            return
        try:
            data = json.loads(text)
        except ValueError:
            self.ignored += 1
            return
        if not isinstance(data, dict):
            return
        if "epoch" in data:
            if not (_is_number(data["epoch"]) and _is_number(data.get("score"))
                    and math.isfinite(data["score"])):
                self.ignored += 1
                return
            self.last_report = data
            self.report(data["epoch"], data["score"], **{k: v for k, v in data.items()
                                                         if k not in ("epoch", "score")})
        elif "score" in data or "scores" in data:
            self.final = data


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the command's process group; SIGKILL to what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        kill_group(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _with_metrics(extra: dict[str, Any], per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics a function returned beside its score, averaged over the folds (numbers), or
    the first fold's (anything else)."""
    names = dict.fromkeys(k for metrics in per_fold for k in metrics)
    if not names:
        return extra
    merged = {}
    for name in names:
        values = [m[name] for m in per_fold if name in m]
        merged[name] = sum(values) / len(values) if all(map(_is_number, values)) else values[0]
    return {**extra, "metrics": merged}


def mean_history(histories: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per-epoch means over the folds (a fold stopped early counts until it stopped)."""
    out = []
    for epoch in range(max(len(h) for h in histories)):
        rows = [h[epoch] for h in histories if epoch < len(h)]
        keys = dict.fromkeys(k for r in rows for k in r)
        out.append({k: sum(r[k] for r in rows if k in r) / sum(k in r for r in rows)
                    for k in keys})
    return out


def filled(argv: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """A command's argv with its {placeholders} filled in from `values` (a trial's params, its
    number and seed); an argument naming a parameter the trial does not have (a conditional
    one) is left out, so write --beta2={beta2} as one argument."""
    return [_substitute(arg, values) for arg in argv if _complete(arg, values)]


def _substitute(text: str, values: Mapping[str, Any]) -> str:
    """{name} replaced by its value, in one pass: a value that holds braces is kept as is."""
    return re.sub(r"\{(\w+)\}", lambda m: _as_text(values[m.group(1)]) if m.group(1) in values
                  else m.group(0), text)


def _complete(text: str, values: Mapping[str, Any]) -> bool:
    """Whether every placeholder of the text has a value: one that names a parameter of a
    branch the trial did not take has none (the config checked all names)."""
    return all(name in values for name in re.findall(r"\{(\w+)\}", text))


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
    spec = config.objective
    if isinstance(spec.target, str) and spec.target.startswith("__main__:"):
        # what a notebook or a script defines: sent to the workers as itself (by value)
        spec = dataclasses.replace(spec, target=import_target(spec.target))
    parallel = config.parallel
    devices = None if parallel.devices is None else DeviceSlots.of(
        list(parallel.devices), parallel.devices_per_trial, parallel.device_variable)
    base = spec.cwd if isinstance(spec, CommandSpec) else config.base_dir
    objective = cls(spec, base, config.data, config.cv, config.search.seed,
                    config.search.direction, devices=devices)
    objective.check(config)
    return objective
