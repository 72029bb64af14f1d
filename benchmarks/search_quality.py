"""Search quality: random, grid, Sobol, hpsearch's default search, a naive zoom, and Optuna's
TPE and GP samplers (when installed), at equal budgets, over tasks with a known optimum, with 2
workers or many.

Every method picks its best trial by the *observed* score (noisy where the task is noisy); its
regret is the *true* loss there minus the optimum. Cells are (task, budget, seed); "wins" count
paired cells where a method's regret is lower than the other's (ties apart).

Workers: hpsearch's default is what a run with that many workers does (its look-ahead, rounds
and points depend only on the seed and the results, not on when trials end, so it is computed
in one process). Optuna's samplers are sequential with 2 workers (each trial sees every result
before it: the strongest form of them), and with more they keep that many trials in flight
(`constant_liar=True`), a simulated executor ending them in the order of durations drawn at
random (0.5 to 1.5). Random search, grid and Sobol do not depend on workers. On a
cross-validated task two regrets within TIE are a tie: the same number of misclassified samples,
split differently over folds of unequal sizes (one more sample moves the regret by about 1/n).

    python benchmarks/search_quality.py                 # all methods, 10 seeds, budgets 30, 100
    python benchmarks/search_quality.py --seeds 3 --methods random,zoom5
    python benchmarks/search_quality.py --workers 32 --budgets 100 --methods default,random,tpe
    python benchmarks/search_quality.py --cells cells.jsonl --tasks net_digits --seeds 5
    python benchmarks/search_quality.py --cells cells.jsonl --report   # every task, as it is
        # a slow task with fewer seeds; a later run with the same --cells reports every task
        # with the seeds it has

Writes benchmarks/results/search_quality.md.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from hpsearch.search.coarse_to_fine import CoarseToFine, auto_lookahead
from hpsearch.search.region import zoom
from hpsearch.search.strategy import drive, evaluate_all
from hpsearch.space import Choice, Int, Log, OneMinusLog, Space, Uniform
from hpsearch.trial import Status, Trial, TrialResult, plan_trials, trials_at

# ---------------------------------------------------------------------------------------------
# Tasks: a space, a true loss, and an observation (the true loss plus noise, if any)


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10 - 0.397887


_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p):
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-(_H_ALPHA * np.exp(-(_H_A * (x - _H_P) ** 2).sum(axis=1))).sum() + 3.32237)


def dl_valley(p):
    """A deep-learning-like loss: a narrow diagonal valley in log α × log(1 − β), two integer
    parameters that barely matter."""
    a = math.log10(p["lr"]) - math.log10(3e-3)
    b = math.log10(1 - p["beta"]) - math.log10(1e-2)
    return (4 * (a - 0.8 * b) ** 2 + 0.5 * b * b + 0.02 * (p["layers"] - 2) ** 2
            + 0.01 * math.log2(p["units"] / 128) ** 2)


def _svc_task():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))

    def accuracies(p):
        model = make_pipeline(StandardScaler(), SVC(C=p["C"], gamma=p["gamma"]))
        return cross_val_score(model, X, y, cv=folds)

    return accuracies


def _net_task():
    """The quickstart: the built-in network on digits, its eight parameters, 5-fold CV."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hpsearch.models import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))

    def accuracies(p):  # a diverged network scores as chance
        model = make_pipeline(StandardScaler(), NeuralNetClassifier(
            optimizer="adam", epochs=20, random_state=0, **p))
        return cross_val_score(model, X, y, cv=folds, error_score=0.1)

    return accuracies


def _trees_task():
    """A tree ensemble: extremely randomized trees' four parameters (three integers) on digits,
    5-fold CV accuracy: a score in steps of one sample, plateaus, fold noise."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = load_digits(return_X_y=True)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))

    def accuracies(p):
        return cross_val_score(ExtraTreesClassifier(random_state=0, **p), X, y, cv=folds)

    return accuracies


def _regression(X, y, make, folds=5):
    """Fold scores of a regressor: negative mean squared error on the target standardized."""
    from sklearn.model_selection import KFold

    y = (y - y.mean()) / y.std()
    splits = list(KFold(folds, shuffle=True, random_state=0).split(X))

    def scores(p):
        out = []
        for train, val in splits:
            model = make(p).fit(X[train], y[train])
            out.append(-float(np.mean((model.predict(X[val]) - y[val]) ** 2)))
        return out

    return scores


def _svr_diabetes():
    """A support-vector regression: C, epsilon and gamma on log scales, a smooth CV score."""
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    X, y = load_diabetes(return_X_y=True)
    return _regression(StandardScaler().fit_transform(X), y,
                       lambda p: SVR(C=p["C"], epsilon=p["epsilon"], gamma=p["gamma"]))


def _svr_friedman():
    """The same kind on Friedman #1 (400 rows, noise 1): a sharper optimum in gamma."""
    from sklearn.datasets import make_friedman1
    from sklearn.svm import SVR

    X, y = make_friedman1(n_samples=400, noise=1.0, random_state=1)
    return _regression(X, y, lambda p: SVR(C=p["C"], epsilon=p["epsilon"], gamma=p["gamma"]))


def _enet_diabetes():
    """A regression with a plateau: an elastic net whose large alphas zero every coefficient
    (the score is then flat), alpha on log, l1_ratio uniform, polynomial features."""
    import warnings

    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(PolynomialFeatures(2).fit_transform(X)[:, 1:])
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    return _regression(X, y, lambda p: ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"],
                                                  max_iter=2000))


def _classifier(X, y, make, folds=5):
    from sklearn.model_selection import StratifiedKFold

    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y))

    def scores(p):
        try:
            return [float(make(p).fit(X[tr], y[tr]).score(X[va], y[va])) for tr, va in splits]
        except (ValueError, FloatingPointError):  # a diverged fit scores as chance
            return [1.0 / len(np.unique(y))] * folds

    return scores


def _sgd_wine():
    """A linear model with choices and a conditional parameter: SGD's loss and penalty, alpha
    on log, l1_ratio only for the elastic net, on the wine data standardized."""
    import warnings

    from sklearn.datasets import load_wine
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    return _classifier(StandardScaler().fit_transform(X), y, lambda p: SGDClassifier(
        random_state=0, max_iter=50, tol=None, **p))


def _hgb_breast_cancer():
    """A gradient-boosted model: learning rate and L2 on log, leaves and leaf size as integers."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = load_breast_cancer(return_X_y=True)
    return _classifier(X, y, lambda p: HistGradientBoostingClassifier(
        max_iter=20, early_stopping=False, random_state=0, **p))


def _trees_wine():
    """A tree ensemble with integers: extremely randomized trees on wine (trees, depth and leaf
    size as integers, the share of features): a score in steps of one sample, plateaus."""
    from sklearn.datasets import load_wine
    from sklearn.ensemble import ExtraTreesClassifier

    X, y = load_wine(return_X_y=True)
    return _classifier(X, y, lambda p: ExtraTreesClassifier(random_state=0, **p))


def _net_wine():
    """The built-in network on wine, with the deep-learning scales: learning rate on log,
    Adam's β1 and β2 on 1 − β, units on an integer log scale; seeded (so not noise-free)."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    from hpsearch.models import NeuralNetClassifier

    X, y = load_wine(return_X_y=True)
    return _classifier(StandardScaler().fit_transform(X), y, lambda p: NeuralNetClassifier(
        optimizer="adam", epochs=15, batch_size=32, random_state=0, **p))


QUICKSTART_SPACE = Space({
    "learning_rate": Log(1e-4, 1e-1), "beta1": OneMinusLog(0.8, 0.99),
    "beta2": OneMinusLog(0.99, 0.9999), "lr_decay": Log(1e-3, 1.0),
    "hidden_layers": Int(1, 3), "hidden_units": Int(32, 256, log=True),
    "batch_size": Int(16, 256, log=True), "batch_norm": Choice((False, True))})
TREES_SPACE = Space({
    "n_estimators": Int(10, 200, log=True), "max_depth": Int(2, 30),
    "min_samples_leaf": Int(1, 50, log=True), "max_features": Uniform(0.05, 1.0)})
CV_TASKS = {"svc_breast_cancer": (Space({"C": Log(1e-3, 1e3), "gamma": Log(1e-5, 1e1)}),
                                  _svc_task),
            "net_digits": (QUICKSTART_SPACE, _net_task),
            "trees_digits": (TREES_SPACE, _trees_task),
            "svr_diabetes": (Space({"C": Log(1e-2, 1e3), "epsilon": Log(1e-3, 10.0),
                                    "gamma": Log(1e-4, 10.0)}), _svr_diabetes),
            "svr_friedman": (Space({"C": Log(1e-2, 1e3), "epsilon": Log(1e-3, 10.0),
                                    "gamma": Log(1e-4, 10.0)}), _svr_friedman),
            "enet_diabetes": (Space({"alpha": Log(1e-4, 1e2), "l1_ratio": Uniform(0.0, 1.0)}),
                              _enet_diabetes),
            "sgd_wine": (Space({"loss": Choice(("hinge", "log_loss", "modified_huber")),
                                "penalty": Choice(("l2", "l1", "elasticnet")),
                                "alpha": Log(1e-6, 1.0), "l1_ratio": Uniform(0.05, 0.95)},
                               {"l1_ratio": ((("penalty", "elasticnet"),),)}), _sgd_wine),
            "hgb_breast_cancer": (Space({"learning_rate": Log(1e-2, 1.0),
                                         "max_leaf_nodes": Int(4, 64, log=True),
                                         "min_samples_leaf": Int(2, 100, log=True),
                                         "l2_regularization": Log(1e-4, 10.0)}),
                                  _hgb_breast_cancer),
            "trees_wine": (Space({"n_estimators": Int(5, 100, log=True),
                                  "max_depth": Int(1, 20),
                                  "min_samples_leaf": Int(1, 30, log=True),
                                  "max_features": Uniform(0.05, 1.0)}), _trees_wine),
            "net_wine": (Space({"learning_rate": Log(1e-4, 1.0),
                                "beta1": OneMinusLog(0.5, 0.999),
                                "beta2": OneMinusLog(0.9, 0.9999),
                                "hidden_units": Int(4, 128, log=True)}), _net_wine)}

TASKS: dict[str, tuple[Space, Callable, float]] = {
    "branin": (Space({"x1": Uniform(-5, 10), "x2": Uniform(0, 15)}), branin, 0.0),
    "hartmann6": (Space({f"x{i}": Uniform(0, 1) for i in range(6)}), hartmann6, 0.0),
    "dl_valley": (Space({"lr": Log(1e-6, 1.0), "beta": OneMinusLog(0.5, 0.99999),
                         "layers": Int(1, 4), "units": Int(16, 512, log=True)}), dl_valley, 0.05),
}


# ---------------------------------------------------------------------------------------------
# Methods: each returns the trials it evaluated; the best is picked by observed loss


_FOLDS: dict[str, Callable] = {}


def _folds(name: str) -> Callable:
    if name not in _FOLDS:
        _FOLDS[name] = CV_TASKS[name][1]()
    return _FOLDS[name]


class Task:
    """A task's space and how a trial is scored: a synthetic loss (plus noise, if any), or a
    real one's fold accuracies, whose mean is both what is observed and what counts."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.folds = _folds(name) if name in CV_TASKS else None
        if self.folds is not None:
            self.space, self.true, self.noise = CV_TASKS[name][0], None, 0.0
        else:
            self.space, self.true, self.noise = TASKS[name]
        self.rng = np.random.default_rng([seed, 99])
        self.seconds = 0.0  # spent evaluating: the rest of a method's time is its own

    def evaluate(self, trials: list[Trial]) -> list[TrialResult]:
        start = time.perf_counter()
        out = []
        for t in trials:
            if self.folds is not None:
                scores = tuple(float(a) for a in self.folds(dict(t.params)))
            else:  # maximize −loss
                scores = (-(self.true(t.params) + self.noise * self.rng.standard_normal()),)
            out.append(TrialResult(t, Status.COMPLETE, scores, 0.0))
        self.seconds += time.perf_counter() - start
        return out

    def regret(self, results: list[TrialResult]) -> float:
        """The true loss of the trial picked as best by its observed score: for a
        cross-validated task 1 − its CV accuracy (a classifier) or its CV mean squared error;
        `report` subtracts the least any method found, as these tasks' optima are unknown."""
        best = max(results, key=lambda r: r.mean)
        if self.folds is None:
            return self.true(best.params)
        return (0.0 if self.name in REGRESSIONS else 1.0) - best.mean


def by_sampler(sampler: str):
    def method(task: Task, budget: int, seed: int, workers: int) -> list[TrialResult]:
        return task.evaluate(plan_trials(task.space, sampler, budget, seed))
    return method


class InFlight:
    """`workers` trials in flight, each ending after a random duration (0.5 to 1.5, drawn from
    the seed and its number), results in the order they end: a run's executor in simulated
    time (the order decides what a search that is not reproducible learns from)."""

    def __init__(self, task: Task, workers: int, seed: int) -> None:
        self.task, self.seed, self.now = task, seed, 0.0
        self.running: list[tuple[float, int, Trial]] = []

    def submit(self, trials: list[Trial]) -> None:
        for t in trials:
            duration = np.random.default_rng([self.seed, 7, t.number]).uniform(0.5, 1.5)
            heapq.heappush(self.running, (self.now + duration, t.number, t))

    def next_result(self) -> TrialResult:
        self.now, _, trial = heapq.heappop(self.running)
        return self.task.evaluate([trial])[0]


def by_rounds(rounds: int | None, reproducible: bool = True):
    """The model-based search as a run with `workers` does it; rounds None: `auto`."""
    def method(task: Task, budget: int, seed: int, workers: int) -> list[TrialResult]:
        lookahead = auto_lookahead(workers) if reproducible else max(1, workers)
        strategy = CoarseToFine(task.space, "maximize", trials=budget, seed=seed, rounds=rounds,
                                lookahead=lookahead, reproducible=reproducible)
        if reproducible:  # the same trials whatever the timing: computed in trial order
            try:
                return evaluate_all(strategy, task.evaluate)
            finally:
                strategy.close()
        drive(strategy, InFlight(task, workers, seed), workers=max(1, workers))
        return list(strategy.results)
    return method


def naive_zoom(task: Task, budget: int, seed: int, workers: int) -> list[TrialResult]:
    """The issue's baseline: 3 equal rounds, uniform in the box of the top 5 %, margin 10 %."""
    results: list[TrialResult] = []
    space = task.space
    sizes = [budget // 3 + (1 if i < budget % 3 else 0) for i in range(3)]
    for r, size in enumerate(sizes, start=1):
        if r == 1:
            trials = plan_trials(space, "random", size, seed)
        else:
            region = zoom(space, results, "maximize", top_fraction=0.05, margin=0.10)
            lo, hi = np.array(region.lo), np.array(region.hi)
            u = lo + np.random.default_rng([seed, r]).random((size, len(space))) * (hi - lo)
            trials = trials_at(space, u, seed, round=r, first_number=len(results))
        results.extend(task.evaluate(trials))
    return results


def _optuna_space(space: Space) -> dict:
    import optuna

    dists = {}
    for name, s in space.scales.items():
        if isinstance(s, OneMinusLog):  # 1 − β on a log scale: the same search space
            dists[name] = optuna.distributions.FloatDistribution(1 - s.high, 1 - s.low, log=True)
        elif isinstance(s, Int):
            dists[name] = optuna.distributions.IntDistribution(s.low, s.high, log=s.log)
        elif isinstance(s, Choice):
            dists[name] = optuna.distributions.CategoricalDistribution(s.values)
        else:
            dists[name] = optuna.distributions.FloatDistribution(s.low, s.high,
                                                                 log=isinstance(s, Log))
    return dists


def by_optuna(kind: str):
    """Optuna's TPE or GP sampler: sequential with 2 workers or fewer, else `workers` trials in
    flight, ended in the order of random durations (TPE with constant_liar)."""
    def method(task: Task, budget: int, seed: int, workers: int) -> list[TrialResult]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        in_flight = 1 if workers <= 2 else workers
        if kind == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=in_flight > 1)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        dists = _optuna_space(task.space)
        durations = np.random.default_rng([seed, 7])
        running: list[tuple[float, int, object, Trial]] = []  # (end, number, optuna trial, ours)
        results: list[TrialResult] = []
        now = 0.0
        for number in range(budget):
            if len(running) == in_flight:
                now, _, ot, trial = heapq.heappop(running)
                (result,) = task.evaluate([trial])
                study.tell(ot, result.mean)
                results.append(result)
            ot = study.ask(dists)
            params = {k: (1 - v if isinstance(task.space.scales[k], OneMinusLog) else v)
                      for k, v in ot.params.items()}
            trial = Trial(number, params, tuple(task.space.to_unit(params)), seed)
            heapq.heappush(running, (now + durations.uniform(0.5, 1.5), number, ot, trial))
        while running:
            _, _, ot, trial = heapq.heappop(running)
            (result,) = task.evaluate([trial])
            study.tell(ot, result.mean)
            results.append(result)
        return results
    return method


METHODS = {
    "default": by_rounds(None),
    "not_reproducible": by_rounds(None, reproducible=False),
    "random": by_sampler("random"),
    "grid": by_sampler("grid"),
    "sobol": by_sampler("sobol"),
    "naive_zoom": naive_zoom,
    "zoom3": by_rounds(3),
    "zoom5": by_rounds(5),
    "zoom10": by_rounds(10),
    "tpe": by_optuna("tpe"),
    "gp": by_optuna("gp"),
}
OPTUNA = {"tpe", "gp"}
BY_WORKERS = {"default", "not_reproducible", "zoom3", "zoom5", "zoom10", "tpe", "gp"}
REGRESSIONS = {"svr_diabetes", "svr_friedman", "enet_diabetes"}  # scored by MSE, not accuracy


Key = tuple[str, str, int, int, int]  # task, method, budget, seed, workers


def key(task: str, method: str, budget: int, seed: int, workers: int) -> Key:
    """A cell's key: workers 0 for a method that does not depend on them, 2 for Optuna's
    sequential runs (at 1 and 2 workers alike)."""
    if method not in BY_WORKERS:
        workers = 0
    elif method in OPTUNA:
        workers = max(workers, 2)
    return task, method, budget, seed, workers


def cell(task_name: str, method: str, budget: int, seed: int, workers: int
         ) -> tuple[float, float]:
    """A method's regret on a task, and the seconds it spent on its own (not evaluating)."""
    task = Task(task_name, seed)
    start = time.perf_counter()
    results = METHODS[method](task, budget, seed, workers)
    return task.regret(results), time.perf_counter() - start - task.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="30,100")
    parser.add_argument("--workers", type=int, default=2, help="workers the searches plan for")
    parser.add_argument("--tasks", default="branin,hartmann6,dl_valley,svc_breast_cancer,"
                                           "trees_digits,net_digits")
    parser.add_argument("--methods", default="default,random,tpe,gp")
    parser.add_argument("--jobs", type=int, default=2, help="cells computed in parallel")
    parser.add_argument("--out", help="default: benchmarks/results/search_quality.md with 2 "
                        "workers, search_quality_<W>_workers.md with W")
    parser.add_argument("--report", action="store_true", help="compute nothing: report the "
                        "cells the --cells file has (each task with the seeds it has)")
    parser.add_argument("--cells", help="a JSON-lines file of finished cells: read (cells in it "
                        "are not computed again) and appended to, so that a long run resumes; "
                        "delete a method's lines after changing it")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    out = args.out or str(results / ("search_quality.md" if args.workers == 2 else
                                     f"search_quality_{args.workers}_workers.md"))
    methods = [m for m in args.methods.split(",") if m not in OPTUNA or _has_optuna()]
    tasks, budgets = args.tasks.split(","), [int(b) for b in args.budgets.split(",")]
    table, costs = _read_cells(args.cells)
    start = time.perf_counter()
    for task_name in tasks:
        for budget in budgets:
            todo = [(m, seed) for seed in range(args.seeds) for m in methods
                    if key(task_name, m, budget, seed, args.workers) not in table
                    and not args.report]
            found = Parallel(n_jobs=args.jobs)(
                delayed(cell)(task_name, m, budget, seed, args.workers) for m, seed in todo)
            done = {key(task_name, m, budget, seed, args.workers): v
                    for (m, seed), v in zip(todo, found)}
            table.update({k: v[0] for k, v in done.items()})
            costs.update({k: v[1] for k, v in done.items()})
            _append_cells(args.cells, done)
            view = Cells(table, args.workers)
            medians = {m: statistics.median(view[task_name, m, budget, s]
                                            for s in view.seeds(task_name, [budget], [m]))
                       for m in methods}
            print(f"{task_name} {budget}: "
                  + ", ".join(f"{m} {v:.4g}" for m, v in medians.items()), flush=True)
    report(Cells(table, args.workers), Cells(costs, args.workers), tasks, budgets, methods,
           time.perf_counter() - start, out)


class Cells:
    """The cells of one worker count, looked up by (task, method, budget, seed)."""

    def __init__(self, table: dict[Key, float], workers: int) -> None:
        self.table, self.workers = table, workers

    def __getitem__(self, k: tuple[str, str, int, int]) -> float:
        return self.table[key(*k, self.workers)]

    def __contains__(self, k: tuple[str, str, int, int]) -> bool:
        return key(*k, self.workers) in self.table

    def seeds(self, task: str, budgets: list[int], methods: list[str]) -> list[int]:
        """The seeds of a task that every method has a cell of at every budget: those computed
        now, and those kept in the cells file (a slow task may have fewer)."""
        found = {k[3] for k in self.table if k[0] == task}
        return sorted(s for s in found
                      if all((task, m, b, s) in self for m in methods for b in budgets))


def _read_cells(path: str | None) -> tuple[dict[Key, float], dict[Key, float]]:
    """Regrets and own seconds by key. Lines without workers come from before the engine that
    plans per worker count: their Optuna cells are the sequential ones, their `default` the
    search of rounds that waited for each other (kept as `rounds_v1`)."""
    if not path or not Path(path).exists():
        return {}, {}
    table, costs = {}, {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        method = r["method"] if "workers" in r or r["method"] != "default" else "rounds_v1"
        k = key(r["task"], method, r["budget"], r["seed"], r.get("workers", 2))
        table[k] = r["regret"]
        if "seconds" in r:
            costs[k] = r["seconds"]
    return table, costs


def _append_cells(path: str | None, cells: dict[Key, tuple[float, float]]) -> None:
    if path:
        with open(path, "a") as f:
            for (task, method, budget, seed, workers), (regret, seconds) in cells.items():
                f.write(json.dumps({"task": task, "method": method, "budget": budget,
                                    "seed": seed, "workers": workers, "regret": regret,
                                    "seconds": round(seconds, 4)}) + "\n")


def _has_optuna() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("optuna is not installed: its samplers are left out (pip install optuna)")
        return False
    return True


TIE = 1e-4  # on cross-validated classifiers; synthetic tasks tie only when equal
TIE_MSE = 1e-6  # on cross-validated regressions (mean squared error of a standardized target)


def _order(task: str, a: float, b: float) -> int:
    """-1 when regret a is lower (better) than b, 0 for a tie, 1 when higher."""
    tie = (TIE_MSE if task in REGRESSIONS else TIE) if task in CV_TASKS else 0.0
    if abs(a - b) <= tie:
        return 0
    return -1 if a < b else 1


def report(table: Cells, costs: Cells, tasks, budgets, methods, seconds, out) -> None:
    seeds = {t: table.seeds(t, budgets, methods) for t in tasks}
    cells = [(t, b, s) for t in tasks for b in budgets for s in seeds[t]]

    def wins(a: str, b: str, cells=cells) -> tuple[int, int, int]:
        found = [_order(t, table[t, a, n, s], table[t, b, n, s]) for t, n, s in cells]
        return found.count(-1), found.count(0), found.count(1)

    # a cross-validated task's optimum is unknown: regret is from the best any cell found
    floor = {t: min(v for k, v in table.table.items() if k[0] == t) if t in CV_TASKS else 0.0
             for t in tasks}

    def median(t: str, m: str, b: int) -> float:
        return statistics.median(table[t, m, b, s] for s in seeds[t]) - floor[t]

    refs = [m for m in ("random", "tpe", "gp") if m in methods]
    counts = sorted({len(v) for v in seeds.values()})
    lines = [f"# Search quality, {table.workers} workers", "",
             f"{len(tasks)} tasks × budgets {budgets} × "
             + " or ".join(map(str, counts)) + " seeds ("
             + ", ".join(f"{t} {len(seeds[t])}" for t in tasks) + f") = {len(cells)} paired "
             f"cells per method ({seconds:.0f} s for the cells computed in this session; "
             "the others read from the cells file). Median regret (true loss "
             "of the trial each method picked as best, minus the optimum; for the "
             "cross-validated tasks, its CV error (1 − accuracy, or the mean squared error) "
             "minus the least any method found in any cell):", "",
             "| method | " + " | ".join(f"{t} @{b}" for t in tasks for b in budgets) + " | "
             + " | ".join(f"wins/ties/losses vs {r}" for r in refs) + " |",
             "|---" * (len(tasks) * len(budgets) + 1 + len(refs)) + "|"]
    for m in methods:
        meds = [median(t, m, b) for t in tasks for b in budgets]
        row = f"| {m} | " + " | ".join(f"{v:.3g}" for v in meds)
        for r in refs:
            row += " | " + ("–" if m == r else " / ".join(map(str, wins(m, r))))
        lines.append(row + " |")
    top = max(budgets)
    last = [(t, top, s) for t in tasks for s in seeds[t]]
    for r in (r for r in refs if "default" in methods):
        won, tied, lost = wins("default", r, last)
        lines += ["", f"At {top} trials the default beats {r} in {won} of {len(last)} paired "
                  f"cells, ties it in {tied} and loses {lost}: {won / max(1, won + lost):.0%} "
                  "of the cells that are not ties. Per task (wins / ties / losses): " + ", ".join(
                      f"{t} " + " / ".join(map(str, wins("default", r,
                                                         [c for c in last if c[0] == t])))
                      for t in tasks) + "."]
    for r in (r for r in ("tpe", "gp") if r in methods):
        lines += ["", f"Median regret at {top} trials divided by {r}'s (below 1: better):", "",
                  "| method | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
        for m in methods:
            ratios = []
            for t in tasks:
                ref = median(t, r, top)
                ratios.append(f"{median(t, m, top) / ref:.2f}" if ref > 0 else "–")
            lines.append(f"| {m} | " + " | ".join(ratios) + " |")
    timed = [t for t in tasks if t in TASKS]  # synthetic: a trial costs nothing
    if timed:
        lines += ["", f"The methods' own seconds per {top}-trial run (proposals, not trials; "
                  "median over the synthetic tasks' cells timed in this or an earlier session):",
                  ""]
        for m in methods:
            own = [costs[t, m, top, s] for t in timed for s in seeds[t] if (t, m, top, s) in costs]
            if own:
                lines.append(f"- {m}: {statistics.median(own):.3g} s ({len(own)} runs)")
    Path(out).parent.mkdir(exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
