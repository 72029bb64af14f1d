"""Design trials for the model: the default search driven as a run with W workers drives it,
against Optuna's TPE (sequential) and TPE with constant_liar and 32 trials in flight (ended in
a seeded random order), on cross-validated regressions, 100 trials; a cell is the best CV mean a
method reached. `svr_check` is a support-vector regression on Friedman #1 (300 rows, noise 1,
5 folds) built as the acceptance check `quality` builds it; the others are
`search_quality.py`'s tasks.

    TAG=name SEEDS=16 python benchmarks/design_variants.py svr_check,svr_diabetes d2,d32,tpe,tpecl

Methods: `d2` / `d32` the default at 2 / 32 workers told the fold scores, `m2` at 2 workers told
their mean alone, `tpe`, `tpecl`, `nr32` (search.reproducible: false at 32 workers), `L<n>` a
look-ahead of n at 32 workers, `v<W>;key=value` the default with a CoarseToFine keyword changed.
Each cell is appended to CELLS (default /tmp/design_cells.jsonl) as it ends, its method tagged
with TAG; `results/search_design.md` says which code each tag of the recorded cells
(`results/search_design_cells.jsonl`) ran.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from joblib import Parallel, delayed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TRIALS = int(os.environ.get("TRIALS", 100))
CELLS = os.environ.get("CELLS", "/tmp/design_cells.jsonl")


def _svr_check():
    import search_quality as sq
    from sklearn.datasets import make_friedman1
    from sklearn.svm import SVR

    X, y = make_friedman1(n_samples=300, noise=1.0, random_state=0)
    return sq._regression(X, y, lambda p: SVR(C=p["C"], epsilon=p["epsilon"], gamma=p["gamma"]))


def _register() -> None:
    import search_quality as sq

    sq.CV_TASKS["svr_check"] = (sq.CV_TASKS["svr_friedman"][0], _svr_check)


def default_best(task: str, seed: int, workers: int, mean_only: bool,
                 lookahead: int | None = None, **changed) -> float:
    import search_quality as sq

    from hpsearch.search.coarse_to_fine import CoarseToFine, auto_lookahead
    from hpsearch.search.strategy import evaluate_all
    from hpsearch.trial import Status, TrialResult

    space, folds = sq.CV_TASKS[task][0], sq._folds(task)

    def evaluate(trials):
        out = []
        for t in trials:
            scores = tuple(float(x) for x in folds(dict(t.params)))
            out.append(TrialResult(t, Status.COMPLETE,
                                   (float(np.mean(scores)),) if mean_only else scores))
        return out

    strategy = CoarseToFine(space, "maximize", trials=TRIALS, seed=seed,
                            lookahead=lookahead or auto_lookahead(workers), **changed)
    try:
        return max(r.mean for r in evaluate_all(strategy, evaluate))
    finally:
        strategy.close()


def tpe_best(task: str, seed: int, in_flight: int) -> float:
    import optuna
    import search_quality as sq

    from hpsearch.space import OneMinusLog

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, folds = sq.CV_TASKS[task][0], sq._folds(task)
    dists = sq._optuna_space(space)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=seed, constant_liar=in_flight > 1))
    rng = np.random.default_rng(seed)
    pending, asked, best = [], 0, -np.inf
    while asked < min(in_flight, TRIALS):
        pending.append(study.ask(dists))
        asked += 1
    while pending:
        t = pending.pop(int(rng.integers(len(pending))))
        params = {k: (1 - v if isinstance(space.scales[k], OneMinusLog) else v)
                  for k, v in t.params.items()}
        value = float(np.mean(folds(params)))
        study.tell(t, value)
        best = max(best, value)
        if asked < TRIALS:
            pending.append(study.ask(dists))
            asked += 1
    return best


def run(task: str, method: str, seed: int) -> float:
    import search_quality as sq
    from threadpoolctl import threadpool_limits

    _register()
    with threadpool_limits(1):
        if method in ("d2", "d32", "m2"):
            return default_best(task, seed, 32 if method == "d32" else 2, method == "m2")
        if method in ("tpe", "tpecl"):
            return tpe_best(task, seed, 32 if method == "tpecl" else 1)
        if method == "nr32":
            found = sq.METHODS["not_reproducible"](sq.Task(task, seed), TRIALS, seed, 32)
            return max(r.mean for r in found)
        if method.startswith("L"):
            return default_best(task, seed, 32, False, int(method[1:]))
        workers, *changes = method[1:].split(";")  # v32;global_share=0.1
        changed = {k: int(v) if v.isdigit() else float(v)
                   for k, v in (c.split("=") for c in changes)}
        return default_best(task, seed, int(workers), False, **changed)


def main() -> None:
    tasks, methods = sys.argv[1].split(","), sys.argv[2].split(",")
    first, last = int(os.environ.get("SEED_FROM", 1)), int(os.environ.get("SEEDS", 8))
    tag = os.environ.get("TAG", "new")
    jobs = [(t, m, s) for t in tasks for m in methods for s in range(first, last + 1)]
    found = Parallel(n_jobs=int(os.environ.get("JOBS", 2)), return_as="generator")(
        delayed(run)(*job) for job in jobs)
    for (task, method, seed), best in zip(jobs, found):
        with open(CELLS, "a") as f:
            f.write(json.dumps({"task": task, "seed": seed, "trials": TRIALS, "best": best,
                                "method": method if method.startswith("tpe")
                                else f"{method}:{tag}"}) + "\n")


if __name__ == "__main__":
    main()
