"""Regret against wall-clock time at scale, in simulated time: W workers, trials whose duration
depends on their parameters and has a heavy tail, the real strategies and the real driver loop.

The task: a network's loss as a narrow valley in log α × log(1 − β), with layers, units and
batch size that barely change it but set the cost: a trial takes (layers × units ÷ batch size),
normalized to a median of 1 over the space, times a log-normal factor of σ = 1 (a trial 7 times
its cost is 1 in 50). Planning counts as instant (`benchmarks/engine.py` measures its cost).

Methods, each at W workers:
- `default`: hpsearch's search, reproducible (look-ahead auto: trial i learns from the trials
  numbered below its round's first minus L, and waits for them);
- `not reproducible`: the same search with `search.reproducible: false` (never waits, learns
  from every result in);
- `random`: one round of random points (the tail alone idles: what never waiting gets);
- `tpe + liar`: Optuna's TPE with `constant_liar`, asked the moment a worker frees up.

Early-stopping methods (random search with asha, TPE with Hyperband) need per-epoch reports,
which this simulation does not model; `benchmarks/time_to_good_model.py` compares them on the
quickstart's real trials.

Reported: the workers' busy share, and as a share of what the same trials would keep them busy
never waiting for a result (started in number order as workers free up: the run's tail alone
idles); the end of the run and the median regret (true loss of the best trial ended by then) at
a quarter, half, three quarters and all of the time random search takes.

    python benchmarks/wall_clock.py [--seeds 5] [--trials 1000]

Writes benchmarks/results/wall_clock.md.
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from engine import InstantPlans, Simulated  # benchmarks/engine.py, beside this file
from joblib import Parallel, delayed

from hpsearch.search.coarse_to_fine import auto_lookahead
from hpsearch.search.strategy import Strategy, drive
from hpsearch.space import Int, Log, OneMinusLog, Space
from hpsearch.trial import Status, Trial, TrialResult

SPACE = Space({"lr": Log(1e-6, 1.0), "beta": OneMinusLog(0.5, 0.99999),
               "layers": Int(1, 4), "units": Int(16, 512, log=True),
               "batch": Int(16, 512, log=True)})
MEDIAN_COST = 2.5  # layers × units ÷ batch at the space's median point (2.5 × 90.5 ÷ 90.5)


def loss(p) -> float:
    a = math.log10(p["lr"]) - math.log10(3e-3)
    b = math.log10(1 - p["beta"]) - math.log10(1e-2)
    return (4 * (a - 0.8 * b) ** 2 + 0.5 * b * b + 0.02 * (p["layers"] - 2) ** 2
            + 0.01 * math.log2(p["units"] / 128) ** 2 + 0.01 * math.log2(p["batch"] / 64) ** 2)


def cost(p) -> float:
    return p["layers"] * p["units"] / p["batch"] / MEDIAN_COST


class Workers(Simulated):
    """W workers in simulated time: a trial takes its cost times a log-normal factor (σ = 1)
    drawn from its number, so every method's trial n meets the same luck."""

    def __init__(self, workers: int, seed: int) -> None:
        super().__init__(workers, seed)
        self.seed = seed
        self.ended: list[tuple[float, float]] = []  # (time, true loss)

    def duration(self, trial: Trial) -> float:
        luck = np.random.default_rng([self.seed, trial.number]).lognormal(0.0, 1.0)
        return cost(trial.params) * float(luck)

    def score(self, trial: Trial) -> TrialResult:
        value = loss(trial.params)
        self.ended.append((self.now, value))
        return TrialResult(trial, Status.COMPLETE, (-value,))


def ours(reproducible: bool, rounds: int | None = None) -> Callable[[int, int, int], Workers]:
    def method(workers: int, trials: int, seed: int) -> Workers:
        lookahead = auto_lookahead(workers) if reproducible else workers
        strategy: Strategy = InstantPlans(SPACE, "maximize", trials=trials, seed=seed,
                                          rounds=rounds, lookahead=lookahead,
                                          reproducible=reproducible)
        evaluator = Workers(workers, seed)
        drive(strategy, evaluator, workers=workers)
        return evaluator
    return method


def tpe_liar(workers: int, trials: int, seed: int) -> Workers:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=seed, constant_liar=True))
    dists = {"lr": optuna.distributions.FloatDistribution(1e-6, 1.0, log=True),
             "one_minus_beta": optuna.distributions.FloatDistribution(1e-5, 0.5, log=True),
             "layers": optuna.distributions.IntDistribution(1, 4),
             "units": optuna.distributions.IntDistribution(16, 512, log=True),
             "batch": optuna.distributions.IntDistribution(16, 512, log=True)}
    evaluator = Workers(workers, seed)
    asked: dict[int, object] = {}

    def ask(number: int) -> Trial:
        ot = study.ask(dists)
        params = dict(ot.params)
        params["beta"] = 1 - params.pop("one_minus_beta")
        asked[number] = ot
        return Trial(number, params, tuple(SPACE.to_unit(params)), seed)

    number = 0
    evaluator.submit([ask(n) for n in range(min(workers, trials))])
    number = min(workers, trials)
    for _ in range(trials):
        result = evaluator.next_result()
        study.tell(asked.pop(result.number), result.mean)
        if number < trials:
            evaluator.submit([ask(number)])
            number += 1
    return evaluator


METHODS = {"default": ours(True), "not reproducible": ours(False), "random": ours(True, 1),
           "tpe + liar": tpe_liar}


def never_waiting(durations: dict[int, float], workers: int) -> float:
    """The busy share of the same trials, started in number order the moment a worker frees
    up, never waiting for a result: what only the run's tail leaves idle."""
    ends = [0.0] * workers
    for number in sorted(durations):
        heapq.heapreplace(ends, ends[0] + durations[number])
    return sum(durations.values()) / (workers * max(ends))


def run(method: str, workers: int, trials: int, seed: int) -> tuple[float, float, list, float]:
    """Busy share, end time, (time, loss) of each trial as it ended, and the busy share of
    the same trials never waiting."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        evaluator = METHODS[method](workers, trials, seed)
    return (evaluator.busy / (workers * evaluator.now), evaluator.now, evaluator.ended,
            never_waiting(evaluator.durations, workers))


def regret_at(ended: list[tuple[float, float]], when: float) -> float:
    done = [value for t, value in ended if t <= when]
    return min(done) if done else math.inf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", default="32,128")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    lines = [f"# Regret against wall-clock time (`benchmarks/wall_clock.py`, simulated time, "
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores)", "",
             f"{args.trials} trials, {args.seeds} seeds, durations = cost (layers × units ÷ "
             "batch, median 1) × log-normal (σ = 1); regret = true loss of the best trial "
             "ended by then (the optimum is 0); times as a share of random search's end "
             "(median over seeds).", ""]
    for workers in map(int, args.workers.split(",")):
        jobs = [(m, s) for m in METHODS for s in range(args.seeds)]
        found = Parallel(n_jobs=args.jobs)(delayed(run)(m, workers, args.trials, s)
                                            for m, s in jobs)
        cells = dict(zip(jobs, found))
        ends = {s: cells["random", s][1] for s in range(args.seeds)}
        lines += [f"## {workers} workers", "",
                  "| method | workers busy | of never waiting | ends at | regret at 25 % | "
                  "50 % | 75 % | 100 % |", "|---|---|---|---|---|---|---|---|"]
        for m in METHODS:
            busy = statistics.median(cells[m, s][0] for s in range(args.seeds))
            share = statistics.median(cells[m, s][0] / cells[m, s][3]
                                      for s in range(args.seeds))
            end = statistics.median(cells[m, s][1] / ends[s] for s in range(args.seeds))
            regrets = [statistics.median(regret_at(cells[m, s][2], share * ends[s])
                                         for s in range(args.seeds))
                       for share in (0.25, 0.5, 0.75, 1.0)]
            lines.append(f"| {m} | {busy:.1%} | {share:.0%} | {end:.2f} | "
                         + " | ".join(f"{r:.3g}" for r in regrets) + " |")
            print(lines[-1], flush=True)
        lines.append("")
    out = Path(__file__).parent / "results" / "wall_clock.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
