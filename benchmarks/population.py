"""Population training: trials per second with populations of 1, 4, 16 and 64 members against
one model per joblib task (`population: off`), at equal per-trial results.

Two structures, on the quickstart's data, CV and optimizer, with the learning rate, β1, β2 and
decay sampled: the quickstart's median network (2 x 90 units, batch 64) and a small one (2 x 32
units, batch 16). 32 trials, 2 workers, each figure the median of REPEATS runs in one session.
Writes benchmarks/results/population.md.

    python benchmarks/population.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import yaml

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
    cfg["search"].update(trials=TRIALS, seed=11)
    cfg["parallel"] = {"n_jobs": 2, "population": population}
    return cfg


def measure(cfg: dict) -> tuple[float, dict[int, float]]:
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(cfg, runs_dir=runs)
        seconds = time.perf_counter() - start
    return seconds, {r.number: r.mean for r in result.results}


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
    out = Path(__file__).parent / "results" / "population.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
