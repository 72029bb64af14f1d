"""Population training: trials per second with populations of 1, 4, 16 and 64 members against
one model per joblib task (`population: off`), at equal per-trial results.

Two structures, on the quickstart's data, CV and optimizer, with the learning rate, β1, β2 and
decay sampled: the quickstart's median network (2 x 90 units, batch 64) and a small one (2 x 32
units, batch 16). 32 trials, 2 workers, each figure the median of REPEATS runs in one session.

Then where one training step's time goes, per member, for populations of 1, 4, 16 and 64 of the
median network on one core: the whole step, and its eight matrix products alone (the same shapes,
timed apart). The matrix products are the floor no population can go under; the rest is
elementwise work and per-call overhead. Last, the quickstart itself, off against auto.
Writes benchmarks/results/population.md.

    python benchmarks/population.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import hpsearch

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
TRIALS = 32
STRUCTURES = {"quickstart median (2 x 90, batch 64)": (90, 64),
              "small (2 x 32, batch 16)": (32, 16)}


def config(units: int, batch: int, population: str | int) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    space = cfg["space"]
    for name in ("hidden_layers", "hidden_units", "batch_size", "batch_norm"):
        space.pop(name)
    cfg["objective"]["fixed"].update(hidden_layers=2, hidden_units=units, batch_size=batch)
    cfg["search"].update(trials=TRIALS, seed=11, rounds=1, early_stopping=False)
    cfg["parallel"] = {"n_jobs": 2, "population": population}
    return cfg


def measure(cfg: dict) -> tuple[float, dict[int, float]]:
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(cfg, runs_dir=runs)
        seconds = time.perf_counter() - start
    return seconds, {r.number: r.mean for r in result.results}


def _member_step_us(seconds: float, K: int, steps: int) -> float:
    return seconds / K / steps * 1e6


def kernel(K: int, units: int = 90, batch: int = 64) -> tuple[float, float]:
    """Microseconds per member and step: the whole training step, and its matrix products."""
    from hpsearch.models._network import Hyper, Population

    X, y = load_digits(return_X_y=True)
    X = ((X - X.mean(0)) / (X.std(0) + 1e-9)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[y]
    rng = np.random.default_rng(0)
    hyper = Hyper(10 ** rng.uniform(-4, -1, K), np.full(K, 0.01), np.full(K, 0.9),
                  np.full(K, 0.999), np.full(K, 1e-8), np.zeros(K), np.full(K, 0.9))
    net = Population((64, units, units, 10), task="classification", activation="relu",
                     init="he", optimizer="adam", batch_norm=False, hyper=hyper, seeds=range(K))
    rows = np.broadcast_to(np.arange(1437), (K, 1437))
    steps = -(-1437 // batch)
    net.train_epoch(X, Y, rows, batch, 0)  # warm up
    start = time.perf_counter()
    for epoch in range(3):
        net.train_epoch(X, Y, rows, batch, epoch)
    whole = _member_step_us((time.perf_counter() - start) / 3, K, steps)

    def f(*shape: int) -> np.ndarray:
        return rng.standard_normal((K, *shape)).astype(np.float32)

    a0, h, d_out = f(batch, 64), f(batch, units), f(batch, 10)
    W1, W2, W3 = f(64, units), f(units, units), f(units, 10)
    products = [(a0, W1), (h, W2), (h, W3),  # forward
                (a0.transpose(0, 2, 1), h), (h.transpose(0, 2, 1), h),  # weight gradients
                (h.transpose(0, 2, 1), d_out),
                (d_out, W3.transpose(0, 2, 1)), (h, W2.transpose(0, 2, 1))]  # back to inputs
    repeats = 200
    start = time.perf_counter()
    for _ in range(repeats):
        for left, right in products:
            np.matmul(left, right)
    matmul = _member_step_us((time.perf_counter() - start) / repeats, K, 1)
    return whole, matmul


def quickstart(population: str) -> tuple[float, float]:
    """Seconds for the quickstart's 60 random trials (one round, no early stopping, as it was
    shipped when this was measured), and its best score."""
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfg["parallel"]["population"] = population
    cfg["search"].update(rounds=1, early_stopping=False)
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(cfg, runs_dir=runs)
        return time.perf_counter() - start, result.best.mean


def main() -> None:
    lines = ["# Population training", "",
             f"{TRIALS} trials of the built-in network, 5-fold CV on digits, 2 workers; each time "
             f"the median of {REPEATS} runs of `hpsearch.run`, all in one session.", "",
             "| structure | population | seconds | trials per second | speed-up vs off | "
             "trials whose score differs from off |", "|---|---|---|---|---|---|"]
    for label, (units, batch) in STRUCTURES.items():
        base_time, base_scores = None, None
        for population in ("off", 1, 4, 16, 64):
            runs = [measure(config(units, batch, population)) for _ in range(REPEATS)]
            seconds = statistics.median(r[0] for r in runs)
            scores = runs[0][1]
            if population == "off":
                base_time, base_scores = seconds, scores
            differ = sum(abs(scores[k] - base_scores[k]) > 1e-6 for k in scores)
            lines.append(f"| {label} | {population} | {seconds:.1f} | {TRIALS / seconds:.2f} | "
                         f"{base_time / seconds:.2f}x | {differ} |")
            print(lines[-1], flush=True)
    lines += ["", "## Where one step's time goes", "",
              "The quickstart's median network (64-90-90-10, batch 64, Adam), one core, "
              "microseconds per member and training step (median of 3):", "",
              "| population | whole step | its 8 matrix products | the rest (elementwise, "
              "per-call overhead) | step vs 1 member |", "|---|---|---|---|---|"]
    alone = None
    with threadpool_limits(1):
        for K in (1, 4, 16, 64):
            whole, matmul = (statistics.median(x) for x in zip(*(kernel(K) for _ in range(3))))
            alone = alone or whole
            lines.append(f"| {K} | {whole:.0f} | {matmul:.0f} | {whole - matmul:.0f} | "
                         f"{alone / whole:.2f}x |")
            print(lines[-1], flush=True)
    lines += ["", "## The quickstart", "",
              "`configs/quickstart.yaml`'s 60 random trials (whose structures vary; one round, no "
              "early stopping), median of "
              f"{REPEATS} runs:", "", "| population | seconds | best CV accuracy |",
              "|---|---|---|"]
    for population in ("off", "auto"):
        runs = [quickstart(population) for _ in range(REPEATS)]
        lines.append(f"| {population} | {statistics.median(r[0] for r in runs):.1f} | "
                     f"{runs[0][1]:.4f} |")
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "population.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
