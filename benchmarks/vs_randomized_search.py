"""The quickstart with no flags against scikit-learn's RandomizedSearchCV over MLPClassifier, the
tool a newcomer would otherwise reach for: the same data (digits, standardized inside each fold),
the same folds, 60 configurations, 2 workers, 20 epochs, Adam.

MLPClassifier has no batch normalization and no learning-rate decay for Adam, so its search covers
the quickstart's other six parameters on the same scales: learning_rate_init log 1e-4..1e-1,
beta_1 and beta_2 as 1 − 10^r, hidden_layer_sizes from 1..3 layers of 32..256 units (log), and
batch_size 16..256 (log).

For each seed: scikit-learn's wall time and best CV accuracy; hpsearch's wall time, best CV
accuracy, and the time it first held a trial as good as scikit-learn's best ("time to match");
and the quickstart's best with early stopping turned off, to see what stopping trials cost.
Writes benchmarks/results/vs_randomized_search.md.

    python benchmarks/vs_randomized_search.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

import hpsearch

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATIONS = 60
SAME = 1e-4  # two CV accuracies this close count as the same best: the same misclassified
# samples, split differently over the folds (one sample more moves the accuracy by 1/1797)


class _LogUniform:
    """Samples whose log10 is uniform between two bounds; `one_minus` gives 1 − the sample,
    `integer` rounds it."""

    def __init__(self, low: float, high: float, one_minus: bool = False,
                 integer: bool = False) -> None:
        self.low, self.high, self.one_minus, self.integer = low, high, one_minus, integer

    def rvs(self, random_state: np.random.RandomState | None = None, size: None = None) -> float:
        rng = random_state if random_state is not None else np.random.RandomState()
        value = 10 ** rng.uniform(np.log10(self.low), np.log10(self.high))
        if self.integer:
            return int(round(value))
        return 1 - value if self.one_minus else value


class _Layers:
    """1 to 3 hidden layers of the same width, 32..256 units on a log scale."""

    def rvs(self, random_state: np.random.RandomState | None = None, size: None = None
            ) -> tuple[int, ...]:
        rng = random_state if random_state is not None else np.random.RandomState()
        units = int(round(10 ** rng.uniform(np.log10(32), np.log10(256))))
        return (units,) * int(rng.randint(1, 4))


def sklearn_search(seed: int) -> tuple[float, float]:
    """Seconds and best mean CV accuracy of RandomizedSearchCV over MLPClassifier."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, alpha=0.0,
                                                          random_state=seed))
    space = {
        "mlpclassifier__learning_rate_init": _LogUniform(1e-4, 1e-1),
        "mlpclassifier__beta_1": _LogUniform(0.01, 0.2, one_minus=True),
        "mlpclassifier__beta_2": _LogUniform(1e-4, 1e-2, one_minus=True),
        "mlpclassifier__hidden_layer_sizes": _Layers(),
        "mlpclassifier__batch_size": _LogUniform(16, 256, integer=True),
    }
    search = RandomizedSearchCV(model, space, n_iter=CONFIGURATIONS, scoring="accuracy",
                                cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                n_jobs=2, random_state=seed, error_score=0.0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return time.perf_counter() - start, float(search.best_score_)


class _Clock(hpsearch.RunEvents):
    """When each trial ended, and the best score then; what the run decided by itself."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.bests: list[tuple[float, float]] = []
        self.lines: list[str] = []

    def decided(self, lines: list[str]) -> None:
        self.lines = list(lines)

    def trial_done(self, trial: object) -> None:
        run = self.run
        if run.best is not None:
            self.bests.append((time.perf_counter() - self.start, run.best.mean))

    def run_started(self, run: object, total: int) -> None:
        self.run = run


def quickstart(seed: int, **search: object) -> tuple[float, float, list[tuple[float, float]], str]:
    """The quickstart as shipped (its seed changed, `search` keys added): seconds, best,
    (seconds, best so far) after each trial, and what the run decided by itself."""
    config = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    config["search"].update(seed=seed, **search)
    config["parallel"]["n_jobs"] = 2
    clock = _Clock()
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(config, runs_dir=runs, events=clock)
        seconds = time.perf_counter() - start
    return seconds, result.best.mean, clock.bests, "; ".join(clock.lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    lines = ["# The quickstart against RandomizedSearchCV over MLPClassifier", "",
             f"Digits, 5-fold CV, {CONFIGURATIONS} configurations, 2 workers, 20 epochs, all "
             "runs in one session of `benchmarks/vs_randomized_search.py`. `time to match`: "
             "when hpsearch first held a trial as good as scikit-learn's best.", "",
             "| seed | scikit-learn s | best | hpsearch s | best | time to match s | "
             "sooner (total) | sooner (to match) | hpsearch without early stopping: s | best |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    total_ratios, match_ratios, same, kept = [], [], 0, 0
    decided = ""
    for seed in range(args.seeds):
        theirs, their_best = sklearn_search(seed)
        ours, our_best, bests, decided = quickstart(seed)
        slow, slow_best, _, _ = quickstart(seed, early_stopping=False)
        kept += our_best >= slow_best - SAME
        match = next((t for t, best in bests if best >= their_best), None)
        total_ratios.append(theirs / ours)
        if match is not None:
            match_ratios.append(theirs / match)
        same += our_best >= their_best - SAME
        lines.append(f"| {seed} | {theirs:.1f} | {their_best:.4f} | {ours:.1f} | "
                     f"{our_best:.4f} | {'–' if match is None else f'{match:.1f}'} | "
                     f"{theirs / ours:.1f}× | "
                     f"{'not matched' if match is None else f'{theirs / match:.1f}×'} | "
                     f"{slow:.1f} | {slow_best:.4f} |")
        print(lines[-1], flush=True)
    lines += ["", f"hpsearch decided: {decided}.", "",
              f"Median over seeds: hpsearch ends **{statistics.median(total_ratios):.1f}×** "
              "sooner" + (f" and matches scikit-learn's best "
                          f"**{statistics.median(match_ratios):.1f}×** sooner"
                          if match_ratios else "")
              + f"; its best is as good or better in {same} of {args.seeds} seeds, and as good "
              f"as or better than without early stopping in {kept} of {args.seeds}."]
    out = Path(__file__).parent / "results" / "vs_randomized_search.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-3:]))


if __name__ == "__main__":
    main()
