"""Time to a good model: the best CV accuracy found so far against wall time, on the
quickstart's task (digits, 5-fold CV accuracy, 60 trials, 2 workers), 3 seeds:

- hpsearch's default (`hpsearch run configs/quickstart.yaml`: the model-based search, asha);
- hpsearch's random search with early stopping (`--rounds 1`);
- Optuna's TPE with its Hyperband pruner, the same network and folds, the first fold reporting
  its validation score each epoch as hpsearch's network does, two worker processes sharing a
  journal file;
- scikit-learn's HalvingRandomSearchCV (60 candidates, epochs as the resource: 2, 6, 18) and
  RandomizedSearchCV (60 candidates) over MLPClassifier with the same scales (learning rate,
  β1, β2, layers, units, batch size; 20 epochs), n_jobs=2.

The curves count complete trials only (a stopped trial's score is not a model). scikit-learn's
searches give their best when they end. Writes benchmarks/results/time_to_good_model.md and,
with matplotlib, time_to_good_model.png.

    python benchmarks/time_to_good_model.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, TRIALS, FOLDS, WORKERS = 20, 60, 5, 2


def hpsearch_curve(seed: int, random: bool) -> list[tuple[float, float]]:
    import hpsearch

    points: list[tuple[float, float]] = []
    start = time.perf_counter()

    class Timed(hpsearch.RunEvents):
        def trial_done(self, result) -> None:
            if not math.isnan(result.mean):
                points.append((time.perf_counter() - start, result.mean))

    with tempfile.TemporaryDirectory() as runs:
        hpsearch.run(ROOT / "configs" / "quickstart.yaml", seed=seed, n_jobs=WORKERS,
                     rounds=1 if random else None, runs_dir=runs, events=Timed())
    return points


def _data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold

    X, y = load_digits(return_X_y=True)
    return X, y, list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(X, y))


def _optuna_worker(path: str, seed: int, worker: int, trials: int) -> None:
    import optuna
    from sklearn.preprocessing import StandardScaler

    from hpsearch.models import NeuralNetClassifier

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, folds = _data()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    study = optuna.load_study(study_name="q", storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=seed * 100 + worker),
                              pruner=optuna.pruners.HyperbandPruner(min_resource=1,
                                                                    max_resource=EPOCHS))

    def objective(trial):
        layers = trial.suggest_int("hidden_layers", 1, 3)
        params = dict(
            learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
            beta1=1 - trial.suggest_float("one_minus_beta1", 0.01, 0.2, log=True),
            beta2=1 - trial.suggest_float("one_minus_beta2", 1e-4, 1e-2, log=True),
            lr_decay=trial.suggest_float("lr_decay", 1e-3, 1.0, log=True),
            hidden_layers=layers,
            hidden_units=trial.suggest_int("hidden_units", 32, 256, log=True),
            batch_size=trial.suggest_int("batch_size", 16, 256, log=True),
            batch_norm=trial.suggest_categorical("batch_norm", [False, True]))
        scores = []
        for k, (train, test) in enumerate(folds):
            scaler = StandardScaler().fit(X[train])
            net = NeuralNetClassifier(optimizer="adam", epochs=EPOCHS, random_state=seed,
                                      **params)
            net.begin(scaler.transform(X[train]), y[train],
                      validation=(scaler.transform(X[test]), y[test]))
            while net.epoch_ < EPOCHS:
                record = net.train_epoch()
                if k == 0:
                    trial.report(record["val_score"], net.epoch_)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
            net.end()
            scores.append(net.score(scaler.transform(X[test]), y[test]))
        return float(np.mean(scores))

    study.optimize(objective, n_trials=trials)


def optuna_curve(seed: int) -> list[tuple[float, float]]:
    import optuna

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "journal.log")
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(path))
        optuna.create_study(study_name="q", storage=storage, direction="maximize")
        start = time.time()
        workers = [multiprocessing.get_context("spawn").Process(
            target=_optuna_worker, args=(path, seed, w, TRIALS // WORKERS))
            for w in range(WORKERS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        trials = optuna.load_study(study_name="q", storage=storage).trials
    return sorted((t.datetime_complete.timestamp() - start, t.value) for t in trials
                  if t.state == optuna.trial.TrialState.COMPLETE)


class _OneMinusLog:
    def __init__(self, low: float, high: float) -> None:
        from scipy.stats import loguniform

        self.gap = loguniform(1 - high, 1 - low)

    def rvs(self, random_state=None):
        return 1 - self.gap.rvs(random_state=random_state)


class _Layers:
    def rvs(self, random_state=None):
        rng = np.random.default_rng(random_state.integers(2**32)
                                    if hasattr(random_state, "integers") else random_state)
        units = int(round(math.exp(rng.uniform(math.log(32), math.log(256)))))
        return (units,) * int(rng.integers(1, 4))


def sklearn_point(seed: int, halving: bool) -> list[tuple[float, float]]:
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, folds = _data()
    space = {"mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-1),
             "mlpclassifier__beta_1": _OneMinusLog(0.8, 0.99),
             "mlpclassifier__beta_2": _OneMinusLog(0.99, 0.9999),
             "mlpclassifier__hidden_layer_sizes": _Layers(),
             "mlpclassifier__batch_size": [int(round(b)) for b in np.geomspace(16, 256, 9)]}
    model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=EPOCHS, random_state=seed))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if halving:
            search = HalvingRandomSearchCV(model, space, n_candidates=TRIALS, factor=3,
                                           resource="mlpclassifier__max_iter", min_resources=2,
                                           max_resources=EPOCHS, cv=folds, n_jobs=WORKERS,
                                           random_state=seed)
        else:
            search = RandomizedSearchCV(model, space, n_iter=TRIALS, cv=folds, n_jobs=WORKERS,
                                        random_state=seed)
        search.fit(X, y)
    return [(time.perf_counter() - start, float(search.best_score_))]


METHODS = {
    "hpsearch default": lambda seed: hpsearch_curve(seed, random=False),
    "hpsearch random + asha": lambda seed: hpsearch_curve(seed, random=True),
    "Optuna TPE + Hyperband": optuna_curve,
    "HalvingRandomSearchCV (MLP)": lambda seed: sklearn_point(seed, halving=True),
    "RandomizedSearchCV (MLP)": lambda seed: sklearn_point(seed, halving=False),
}


def best_so_far(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, best = [], -math.inf
    for t, v in sorted(points):
        best = max(best, v)
        out.append((t, best))
    return out


def reached(curve: list[tuple[float, float]], target: float) -> float:
    """When a best-so-far curve first reaches `target` (inf: never)."""
    return next((t for t, v in curve if v >= target - 1e-12), math.inf)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    curves = {(m, s): best_so_far(METHODS[m](s)) for s in range(args.seeds) for m in METHODS}
    for (m, s), c in curves.items():
        print(f"seed {s} {m}: {c[-1][0]:.1f} s, best {c[-1][1]:.4f}", flush=True)
    mine = "hpsearch default"
    lines = ["# Time to a good model", "",
             f"The quickstart's task (digits, {FOLDS}-fold CV accuracy, {TRIALS} trials, "
             f"{WORKERS} workers), measured in one run of `benchmarks/time_to_good_model.py` on "
             "2 cores. Per seed: when each search ended and its best CV accuracy, and when "
             "hpsearch's default first had a trial at least as good (– : never).", "",
             "| seed | search | ended (s) | best | hpsearch default reached it at (s) |",
             "|---|---|---|---|---|"]
    for s in range(args.seeds):
        for m in METHODS:
            end, best = curves[m, s][-1]
            at = reached(curves[mine, s], best)
            lines.append(f"| {s} | {m} | {end:.1f} | {best:.4f} | "
                         + ("–" if math.isinf(at) else f"{at:.1f}") + " |")
    out = ROOT / "benchmarks" / "results" / "time_to_good_model.md"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, args.seeds, figsize=(5 * args.seeds, 4), sharey=True)
        for s, ax in enumerate(np.atleast_1d(axes)):
            for m in METHODS:
                t, v = zip(*curves[m, s])
                ax.step(t, v, where="post", label=m, marker="o" if len(t) == 1 else None)
            ax.set(title=f"seed {s}", xlabel="wall time (s)", ylim=(0.95, 0.99))
        np.atleast_1d(axes)[0].set_ylabel("best CV accuracy so far")
        np.atleast_1d(axes)[-1].legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=90)
        lines += ["", "![best so far against time](time_to_good_model.png)"]
    except ImportError:
        pass
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
