"""Built-in network vs scikit-learn's MLPClassifier: time per epoch and accuracy.

Same data (digits, standardized), same architecture, optimizer (Adam), learning rate, batch size
and number of epochs; batch norm off. Each timing is the median of REPEATS fits, both models
timed in the same run, alternating. Writes benchmarks/results/network_vs_sklearn.md.

    python benchmarks/network_vs_sklearn.py
"""

from __future__ import annotations

import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from hpsearch.models import NeuralNetClassifier

EPOCHS = 20
REPEATS = 5
CASES = [  # hidden sizes, batch size
    ((64, 64), 32),
    ((128, 128), 64),
    ((256,), 128),
    ((256, 256, 256), 32),
]


def fit_time(model, X, y) -> float:
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    lines = [
        "# Built-in network vs scikit-learn MLPClassifier",
        "",
        f"digits, {len(X_train)} training rows, Adam lr 1e-3, {EPOCHS} epochs, batch norm off; "
        f"median of {REPEATS} fits each; {platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}.",
        "",
        "| hidden | batch | hpsearch ms/epoch (float32) | (float64) | sklearn ms/epoch (float64) "
        "| speed-up (float32) | hpsearch acc | sklearn acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for hidden, batch in CASES:
        ours_t, ours64_t, theirs_t, ours_a, theirs_a = [], [], [], [], []
        for seed in range(REPEATS):
            ours = NeuralNetClassifier(hidden_units=list(hidden), batch_size=batch, epochs=EPOCHS,
                                       learning_rate=1e-3, random_state=seed)
            theirs = MLPClassifier(hidden, batch_size=batch, max_iter=EPOCHS,
                                   learning_rate_init=1e-3, alpha=0.0, tol=0.0,
                                   n_iter_no_change=EPOCHS + 1,
                                   random_state=seed)
            ours64 = NeuralNetClassifier(hidden_units=list(hidden), batch_size=batch,
                                         epochs=EPOCHS, learning_rate=1e-3, dtype="float64",
                                         random_state=seed)
            ours64_t.append(fit_time(ours64, X_train, y_train) / EPOCHS)
            ours_t.append(fit_time(ours, X_train, y_train) / EPOCHS)
            theirs_t.append(fit_time(theirs, X_train, y_train) / EPOCHS)
            ours_a.append(ours.score(X_test, y_test))
            theirs_a.append(theirs.score(X_test, y_test))
        o, t = statistics.median(ours_t), statistics.median(theirs_t)
        lines.append(
            f"| {'x'.join(map(str, hidden))} | {batch} | {o * 1e3:.1f} | "
            f"{statistics.median(ours64_t) * 1e3:.1f} | {t * 1e3:.1f} | "
            f"{t / o:.2f}x | {statistics.median(ours_a):.4f} | {statistics.median(theirs_a):.4f} |"
        )
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "network_vs_sklearn.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
