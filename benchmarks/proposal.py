"""The cost of a round's proposal step: fitting the model and choosing the next round's points,
at 8 and 20 parameters, with 100 and 1,000 trials done, for rounds of 20 and 140 points, with
one BLAS thread as in a run (the planning thread shares the cores with running trials).

Trials are random points of a space of log and uniform parameters with a smooth score; each
figure is the median of REPEATS proposals (the first, which imports scikit-learn, left out).
Writes benchmarks/results/proposal.md.

    python benchmarks/proposal.py
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from hpsearch.search.coarse_to_fine import CoarseToFine
from hpsearch.space import Log, Space, Uniform
from hpsearch.trial import Status, TrialResult, plan_trials

REPEATS = 5


def results(d: int, done: int) -> tuple[Space, list[TrialResult]]:
    space = Space({(f"l{i:02d}" if i % 2 else f"u{i:02d}"):
                   (Log(1e-4, 1.0) if i % 2 else Uniform(0, 1)) for i in range(d)})
    out = []
    for t in plan_trials(space, "random", done, 0):
        score = -sum((math.log10(v) + 2) ** 2 if k.startswith("l") else (v - 0.3) ** 2
                     for k, v in t.params.items())
        out.append(TrialResult(t, Status.COMPLETE, (score,)))
    return space, out


def main() -> None:
    lines = ["# The proposal step", "",
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; the median of {REPEATS} "
             "proposals each, measured in one run of `benchmarks/proposal.py`: seconds to fit the "
             "model to the trials done (from scratch: in a run, each fit starts from the "
             "previous one's and takes fewer steps) and pick a round's points, one BLAS thread.",
             "",
             "| parameters | trials done | points proposed | seconds |", "|---|---|---|---|"]
    CoarseToFine(results(2, 10)[0], "maximize", trials=2, seed=0).propose(
        results(2, 10)[1], 10, 2, np.random.default_rng(0))  # imports
    for d in (8, 20):
        for done in (100, 1000):
            space, trials = results(d, done)
            strategy = CoarseToFine(space, "maximize", trials=done, seed=0)
            for n in (20, 140):
                times = []
                for repeat in range(REPEATS):
                    start = time.perf_counter()
                    with threadpool_limits(1):
                        strategy.propose(trials, done, n, np.random.default_rng(repeat))
                    times.append(time.perf_counter() - start)
                lines.append(f"| {d} | {done:,} | {n} | {statistics.median(times):.2f} |")
                print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "proposal.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
