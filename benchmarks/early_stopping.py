"""Early stopping on the quickstart: how many more configurations fit in the same CPU time, and
whether the best result gets worse.

For each seed, in one run: the quickstart as shipped (60 trials, no early stopping); the same 60
trials with `early_stopping: asha` (and `median`); then asha with as many trials as fit in the
time the plain run took. Writes benchmarks/results/early_stopping.md.

    python benchmarks/early_stopping.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

import hpsearch

ROOT = Path(__file__).resolve().parents[1]


def quickstart(seed: int, trials: int, early_stopping: str | None) -> dict:
    config = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    # one round of random search, so that only early stopping differs between the runs
    config["search"].update(seed=seed, trials=trials, rounds=1,
                            early_stopping=early_stopping or False)
    return config


def measure(config: dict) -> tuple[float, int, int, float]:
    """Seconds, trials, complete trials, best mean CV accuracy."""
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(config, runs_dir=runs)
        seconds = time.perf_counter() - start
    complete = [r for r in result.results if r.status.value == "complete"]
    return seconds, len(result.results), len(complete), result.best.mean


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    lines = ["# Early stopping on the quickstart", "",
             "Digits, the quickstart's space and 5-fold CV, 2 cores, all runs in one session. "
             "`same time` runs asha with as many trials as fit in the plain run's time.", "",
             "| seed | run | trials | complete | seconds | trials per second | best CV accuracy |",
             "|---|---|---|---|---|---|---|"]
    ratios, deltas = [], []
    for seed in range(args.seeds):
        plain = measure(quickstart(seed, 60, None))
        rows = [("plain", plain)]
        for method in ("asha", "median"):
            rows.append((f"{method}, same trials", measure(quickstart(seed, 60, method))))
        per_trial = rows[1][1][0] / 60
        fit = int(plain[0] / per_trial)
        same = measure(quickstart(seed, fit, "asha"))
        rows.append(("asha, same time", same))
        ratios.append((same[1] / same[0]) / (plain[1] / plain[0]))
        deltas.append(same[3] - plain[3])
        for name, (seconds, trials, complete, best) in rows:
            lines.append(f"| {seed} | {name} | {trials} | {complete} | {seconds:.1f} | "
                         f"{trials / seconds:.2f} | {best:.4f} |")
            print(lines[-1], flush=True)
    lines += ["", f"Median over seeds: asha tries **{statistics.median(ratios):.1f}×** as many "
              "configurations per second as the plain run; in the same time, its best CV "
              f"accuracy differs from the plain run's by {statistics.median(deltas):+.4f} "
              "(median)."]
    out = Path(__file__).parent / "results" / "early_stopping.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))


if __name__ == "__main__":
    main()
