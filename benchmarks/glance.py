"""Reading a big run, as a user types it: the wall time of each reading command on stored runs of
5,000 and 10,000 trials (eight parameters of the quickstart's kinds, five folds each), and whether
importance's capped forest ranks the parameters as a forest on every trial does.

(a) `hpsearch --help` (start-up), then importance, plot (terminal) and plot --out a .png on the
    5,000-trial run; leaderboard (table at 120 columns, and json), export csv, status and compare
    on the 10,000-trial run. Each figure is the median of REPEATS runs of the command.
(b) Importance on the 5,000-trial run as shipped (trees of at most TREE_TRIALS trials,
    SHUFFLED_TRIALS shuffled; five seeds) against a forest of 100 trees each on all 5,000
    trials, all shuffled: the parameters' order, the largest difference of a share, and the
    time of each in this process.

Writes benchmarks/results/glance.md.

    python benchmarks/glance.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hpsearch
from hpsearch import insight
from hpsearch.runs import open_run

REPEATS = 5
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench_objectives, importable by workers

SPACE = {
    "learning_rate": {"scale": "log", "low": 1e-4, "high": 1e-1},
    "beta1": {"scale": "one_minus_log", "low": 0.8, "high": 0.99},
    "beta2": {"scale": "one_minus_log", "low": 0.99, "high": 0.9999},
    "lr_decay": {"scale": "log", "low": 1e-3, "high": 1.0},
    "hidden_layers": {"scale": "int", "low": 1, "high": 3},
    "hidden_units": {"scale": "int", "low": 32, "high": 256, "log": True},
    "batch_size": {"scale": "int", "low": 16, "high": 256, "log": True},
    "batch_norm": [False, True],
}


def make_run(runs: str, name: str, trials: int, seed: int) -> None:
    hpsearch.run({"name": name, "objective": {"function": "bench_objectives:eight_folds",
                                              "path": [str(HERE)]},
                  "search": {"trials": trials, "seed": seed, "rounds": 1},
                  "parallel": {"n_jobs": 1}, "space": SPACE}, runs_dir=runs)


def command_time(args: list[str], home: str) -> float:
    """The median wall time of `hpsearch ARGS`, output to a pipe at 120 columns."""
    env = {**os.environ, "COLUMNS": "120"}
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "hpsearch", *args], capture_output=True,
                              env=env, cwd=home)  # run names are found under runs/ there
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr.decode()
    return statistics.median(times)


def main() -> None:
    lines = ["# Reading a big run", "",
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; medians of {REPEATS} "
             "runs of each command, all measured in one run of `benchmarks/glance.py`. Runs of "
             "eight parameters (the quickstart's kinds), five folds per trial.", ""]
    with tempfile.TemporaryDirectory() as home:
        runs = str(Path(home) / "runs")
        make_run(runs, "big5k", 5000, 1)
        make_run(runs, "big10k", 10000, 2)
        help_time = command_time(["--help"], home)
        timed = [
            ("start-up: `hpsearch --help`", ["--help"]),
            ("`importance` (5,000 trials)", ["importance", "big5k"]),
            ("`plot`, in the terminal (5,000)", ["plot", "big5k"]),
            ("`plot --out plot.png` (5,000)", ["plot", "big5k", "--out", "plot.png"]),
            ("`leaderboard`, table (10,000)", ["leaderboard", "big10k"]),
            ("`leaderboard --format json --top 10000` (10,000)",
             ["leaderboard", "big10k", "--format", "json", "--top", "10000"]),
            ("`export --format csv` (10,000)", ["export", "big10k", "--format", "csv"]),
            ("`status` (10,000)", ["status", "big10k"]),
            ("`compare big10k big5k`", ["compare", "big10k", "big5k"]),
        ]
        lines += ["## (a) Commands", "", "| command | seconds | less start-up |", "|---|---|---|"]
        for label, args in timed:
            seconds = help_time if args == ["--help"] else command_time(args, home)
            lines.append(f"| {label} | {seconds:.2f} | {max(0.0, seconds - help_time):.2f} |")
            print(lines[-1], flush=True)

        run = open_run(Path(runs) / "big5k")
        insight.importance(run.space, run.results)  # scikit-learn imported, not timed below
        start = time.perf_counter()
        capped = [insight.importance(run.space, run.results, seed=s) for s in range(5)]
        capped_time = (time.perf_counter() - start) / 5
        bounds = insight.TREES, insight.TREE_TRIALS, insight.SHUFFLED_TRIALS
        insight.TREES, insight.TREE_TRIALS, insight.SHUFFLED_TRIALS = 100, 10**9, 10**9
        start = time.perf_counter()
        full = insight.importance(run.space, run.results)
        full_time = time.perf_counter() - start
        insight.TREES, insight.TREE_TRIALS, insight.SHUFFLED_TRIALS = bounds
    order = list(full.shares)
    moving = [n for n in order if full.shares[n] >= 0.01]  # the order of the zeros is noise
    same = sum(list(c.shares)[:len(moving)] == moving for c in capped)
    worst = max(abs(c.shares[n] - full.shares[n]) for c in capped for n in order)
    lines += ["", "## (b) Importance, bounded, against a forest on everything (5,000 trials)", "",
              "| forest | seconds (in process) | shares | out-of-bag R² |", "|---|---|---|---|",
              f"| 100 trees, each a bootstrap of all 5,000 trials, all shuffled | "
              f"{full_time:.2f} | " + ", ".join(f"{n} {full.shares[n]:.1%}" for n in order)
              + f" | {full.r2:.2f} |",
              f"| as shipped: {bounds[0]} trees of at most {bounds[1]:,} trials each, "
              f"{bounds[2]:,} shuffled (5 seeds, mean) | {capped_time:.2f} | the "
              f"{len(moving)} parameters above 1 % in the same order in {same} of 5 seeds; "
              f"largest difference of a share {worst:.1%} | "
              f"{statistics.mean(c.r2 for c in capped):.2f} |", ""]
    out = HERE / "results" / "glance.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
