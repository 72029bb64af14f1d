"""What a dead worker costs: 40 trials that each train the built-in network (5-fold CV on
digits), 2 workers, measured three ways in one run:

- no crash;
- one trial kills its process once (as the out-of-memory killer would): the trials that were
  running run again in processes of their own, and the rest go back to the shared workers;
- every trial in a process of its own from the start (`parallel.timeout`), which survives any
  crash but pays a process per trial.

Each figure is the median of REPEATS runs. Writes benchmarks/results/crash_recovery.md.

    python benchmarks/crash_recovery.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import hpsearch

REPEATS = 3
TRIALS = 40
HERE = Path(__file__).resolve().parent


def config(marker: Path | None, timeout: float | None) -> dict:
    parallel: dict = {"n_jobs": 2}
    if timeout is not None:
        parallel["timeout"] = timeout
    return {"name": "crash",
            "objective": {"function": "bench_objectives:network_dies_once",
                          "path": [str(HERE)],
                          "fixed": {"marker": str(marker) if marker else ""}},
            "data": {"dataset": "digits", "scale": "standard"},
            "search": {"trials": TRIALS, "seed": 0, "rounds": 1, "early_stopping": False},
            "parallel": parallel,
            "space": {"learning_rate": {"log": [1e-3, 1e-2]},
                      "hidden_units": {"int": [32, 64]}}}


def timed(marker: bool, timeout: float | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "died" if marker else None
        start = time.perf_counter()
        result = hpsearch.run(config(path, timeout), runs_dir=Path(folder) / "runs")
        elapsed = time.perf_counter() - start
        return elapsed, result.complete


def main() -> None:
    sys.path.insert(0, str(HERE))
    lines = ["# What a dead worker costs", "",
             f"{TRIALS} trials of the built-in network (5-fold CV on digits), 2 workers; "
             f"medians of {REPEATS} runs, measured in one run of `benchmarks/crash_recovery.py`.",
             "", "| run | seconds | complete trials |", "|---|---|---|"]
    for label, marker, timeout in (("no crash", False, None),
                                   ("one trial kills its worker once", True, None),
                                   ("every trial in a process of its own", False, 600.0)):
        runs = [timed(marker, timeout) for _ in range(REPEATS)]
        seconds = statistics.median(r[0] for r in runs)
        lines.append(f"| {label} | {seconds:.1f} | {min(r[1] for r in runs)} |")
        print(lines[-1], flush=True)
    out = HERE / "results" / "crash_recovery.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
