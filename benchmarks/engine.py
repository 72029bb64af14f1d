"""The engine: how busy it keeps the workers, and what its model costs per trial.

(a) Workers busy, in a simulation: W workers, trials of random durations (log-normal, median
    1, sigma 0.5: some take three times the median), the real strategy and the real driver
    loop, time simulated (planning counts as instant here; (b) measures it). Round r is planned
    from the trials numbered below its first minus the look-ahead L: L = 0 is a run whose
    rounds wait for each other, L = auto is the default. 100 and 1,000 trials.
(b) The model's cost per trial: a whole run of instant trials in one process (`evaluate_all`,
    2 workers' look-ahead), 8 parameters, 1,000 and 10,000 trials, against Optuna's TPE asking
    and telling the same number of trials (sequential, its fastest). On an idle machine, and on
    a busy one (a process per core spinning beside it, as trials do in a real run).

Writes benchmarks/results/engine.md.

    python benchmarks/engine.py [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import math
import multiprocessing
import os
import statistics
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

from hpsearch.search.coarse_to_fine import CoarseToFine, auto_lookahead
from hpsearch.search.strategy import drive, evaluate_all
from hpsearch.space import Log, Space, Uniform
from hpsearch.trial import Status, Trial, TrialResult

SPACE8 = Space({(f"l{i}" if i % 2 else f"u{i}"): (Log(1e-4, 1.0) if i % 2 else Uniform(0, 1))
                for i in range(8)})


def score(trial: Trial) -> TrialResult:
    u = np.array(trial.unit)
    value = -float(((u - 0.3) ** 2).sum()) + 0.2 * math.cos(7 * u[0])
    return TrialResult(trial, Status.COMPLETE, (value,))


class Simulated:
    """W workers ending trials in simulated time: a trial takes its `duration` (here drawn
    log-normal, σ = 0.5), each trial's kept in `durations`; `score` gives its result."""

    def __init__(self, workers: int, seed: int) -> None:
        self.free, self.now, self.busy = workers, 0.0, 0.0
        self.queue: deque[Trial] = deque()
        self.running: list[tuple[float, int, Trial]] = []
        self.durations: dict[int, float] = {}
        self.rng = np.random.default_rng(seed)

    def duration(self, trial: Trial) -> float:
        return float(self.rng.lognormal(0.0, 0.5))

    def score(self, trial: Trial) -> TrialResult:
        return score(trial)

    def submit(self, trials) -> None:
        self.queue.extend(trials)
        while self.free and self.queue:
            trial = self.queue.popleft()
            duration = self.durations[trial.number] = self.duration(trial)
            heapq.heappush(self.running, (self.now + duration, trial.number, trial))
            self.free -= 1
            self.busy += duration

    def next_result(self) -> TrialResult:
        self.now, _, trial = heapq.heappop(self.running)
        self.free += 1
        self.submit([])
        return self.score(trial)


class InstantPlans(CoarseToFine):
    """Plans taken as ready at once: in simulated time the planning thread's real seconds
    would otherwise count as trials' durations."""

    def ready(self, number: int) -> bool:
        return True


def busy_share(workers: int, trials: int, lookahead: int | None, seed: int) -> float:
    """The workers' busy share; lookahead None: one round (the run's tail alone idles)."""
    evaluator = Simulated(workers, seed)
    strategy = InstantPlans(SPACE8, "maximize", trials=trials, seed=seed,
                            rounds=1 if lookahead is None else None, lookahead=lookahead or 0)
    drive(strategy, evaluator)
    return evaluator.busy / (workers * evaluator.now)


def spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def ours(trials: int) -> float:
    strategy = CoarseToFine(SPACE8, "maximize", trials=trials, seed=0,
                            lookahead=auto_lookahead(2))
    start = time.perf_counter()
    evaluate_all(strategy, lambda batch: [score(t) for t in batch])
    return (time.perf_counter() - start) / trials


def tpe(trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    dists = {name: optuna.distributions.FloatDistribution(s.low, s.high,
                                                          log=isinstance(s, Log))
             for name, s in SPACE8.scales.items()}
    start = time.perf_counter()
    for number in range(trials):
        ot = study.ask(dists)
        trial = Trial(number, ot.params, tuple(SPACE8.to_unit(ot.params)), 0)
        study.tell(ot, score(trial).mean)
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer seeds, no 10,000 trials")
    args = parser.parse_args()
    seeds = 2 if args.quick else 5
    lines = [f"# The engine (`benchmarks/engine.py`, Python {sys.version.split()[0]}, "
             f"{os.cpu_count()} cores, one run)", "",
             "## (a) Workers busy (simulated time; median over "
             f"{seeds} seeds)", "",
             "| workers | trials | one round (the tail alone) | L = 0 (rounds wait) | "
             "L = workers | L = auto | L = 2 × workers |", "|---|---|---|---|---|---|---|"]
    for workers in (2, 8, 32):
        for trials in (100, 1000):
            auto = auto_lookahead(workers)
            row = [statistics.median(busy_share(workers, trials, lookahead, seed)
                                     for seed in range(seeds))
                   for lookahead in (None, 0, workers, auto, 2 * workers)]
            cells = [f"{v:.1%}" for v in row]
            cells[3] += f" (L = {auto})"
            lines.append(f"| {workers} | {trials:,} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines += ["", "## (b) The model's cost per trial (ms; 8 parameters; median of "
              f"{3 if not args.quick else 1} runs)", "",
              "| trials | machine | hpsearch default | Optuna TPE |", "|---|---|---|---|"]
    sizes = (1000,) if args.quick else (1000, 10_000)
    for trials in sizes:
        for busy in (False, True):
            stop = multiprocessing.Event()
            spinners = [multiprocessing.Process(target=spin, args=(stop,))
                        for _ in range(os.cpu_count() or 1)] if busy else []
            for p in spinners:
                p.start()
            try:
                repeats = 1 if args.quick or trials > 1000 else 3
                mine = statistics.median(ours(trials) for _ in range(repeats)) * 1000
                theirs = statistics.median(tpe(trials) for _ in range(repeats)) * 1000 \
                    if trials <= 1000 else math.nan
            finally:
                stop.set()
                for p in spinners:
                    p.join()
            lines.append(f"| {trials:,} | {'busy' if busy else 'idle'} | {mine:.2f} | "
                         + ("not run (TPE's cost grows with the trials)" if math.isnan(theirs)
                            else f"{theirs:.2f}") + " |")
            print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "engine.md"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
