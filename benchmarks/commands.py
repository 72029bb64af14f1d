"""What streaming costs a command trial: hpsearch against a bare `subprocess.run` of the same
command, measured in one run.

The command is a shell script that prints 20 per-epoch JSON reports and a result, so the
measure is hpsearch's own cost per trial: starting the process in its own session, reading
stdout line by line as it comes (and stderr beside it), parsing the reports, keeping the log,
storing the trial with its reports. Three ways, `n_jobs: 1`:

- bare: `subprocess.run(argv, capture_output=True)` and `json.loads` of the last line;
- hpsearch: `hpsearch.run` of the command objective (every trial stored, its reports too);
- hpsearch with early stopping, asha as by default: the reports at its rungs (epochs 4 and 12)
  shared through the run's store as they come;
- hpsearch with early stopping, median, the worst case: every report shared as it comes.

Each figure is the median of REPEATS runs of TRIALS trials. Writes
benchmarks/results/commands.md.

    python benchmarks/commands.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hpsearch

TRIALS = 200
REPEATS = 5
HERE = Path(__file__).resolve().parent
SCRIPT = ('for i in $(seq 1 20); do echo "{\\"epoch\\": $i, \\"score\\": 0.$i, '
          '\\"train_loss\\": 0.1}"; done; echo "{\\"score\\": 0.9, \\"seconds\\": 1}"')
ARGV = ["sh", "-c", SCRIPT]


def bare() -> float:
    start = time.perf_counter()
    for _ in range(TRIALS):
        done = subprocess.run(ARGV, capture_output=True, text=True)
        json.loads(done.stdout.splitlines()[-1])
    return time.perf_counter() - start


def ours(early_stopping: dict | None) -> float:
    # one round, and no early stopping unless it is measured: the streaming itself is timed
    search = {"trials": TRIALS, "seed": 0, "rounds": 1,
              "early_stopping": False if early_stopping is None else early_stopping}
    config = {"name": "cmd", "objective": {"command": ARGV}, "search": search,
              "parallel": {"n_jobs": 1}, "space": {"x": {"uniform": [0, 1]}}}
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        result = hpsearch.run(config, runs_dir=runs)
        elapsed = time.perf_counter() - start
    assert result.complete == TRIALS
    return elapsed


def main() -> None:
    times: dict[str, list[float]] = {"bare": [], "hpsearch": [], "asha": [], "median": []}
    for _ in range(REPEATS):  # interleaved, so that a busy spell weighs on all alike
        times["bare"].append(bare())
        times["hpsearch"].append(ours(None))
        # the same score every epoch: asha never stops a trial (ties go on); a median that
        # waits for a million others never does either, and shares every report
        times["asha"].append(ours({"method": "asha"}))
        times["median"].append(ours({"method": "median", "min_epochs": 1,
                                     "startup": 1_000_000}))
    per = {k: statistics.median(v) / TRIALS * 1e3 for k, v in times.items()}
    lines = ["# Streaming a command's output", "",
             f"Python {sys.version.split()[0]}; {TRIALS} trials of a shell script printing 20 "
             f"epoch reports and a result, `n_jobs: 1`; medians of {REPEATS} runs, all measured "
             "in one run of `benchmarks/commands.py`.", "",
             "| way | ms per trial | over bare |", "|---|---|---|",
             f"| bare `subprocess.run` | {per['bare']:.2f} | – |",
             f"| hpsearch, streamed and stored | {per['hpsearch']:.2f} | "
             f"**{per['hpsearch'] - per['bare']:+.2f} ms** |",
             f"| hpsearch, early stopping by asha (reports at its rungs shared) | "
             f"{per['asha']:.2f} | **{per['asha'] - per['bare']:+.2f} ms** |",
             f"| hpsearch, early stopping by median (all 20 reports shared) | "
             f"{per['median']:.2f} | **{per['median'] - per['bare']:+.2f} ms** |"]
    print("\n".join(lines))
    out = HERE / "results" / "commands.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
