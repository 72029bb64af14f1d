"""Framework overhead and parallel throughput, measured in one run.

(a) Overhead per trial with a trivial objective, for 1,000 and 10,000 trials: hpsearch (durable
    SQLite store, one commit per trial) against a bare joblib loop over the same precomputed
    points, and against Optuna's random sampler (SQLite storage, and in memory) when installed.
(b) Throughput of CPU-bound ~50 ms trials, n_jobs = 1 and all cores, as a fraction of a bare
    joblib loop over the same points.
(c) The driver's cost per trial as a user sees it: `hpsearch run` on a terminal (a
    pseudo-terminal of 120 columns, so the live progress bar draws), a trivial objective,
    n_jobs 1, at 1,000, 10,000 and 30,000 trials: (wall time − a 1-trial run's) / trials.

Each figure is the median of REPEATS runs. Writes benchmarks/results/overhead.md.

    python benchmarks/overhead.py
"""

from __future__ import annotations

import fcntl
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

import hpsearch
from hpsearch.space import Space, Uniform
from hpsearch.trial import plan_trials

REPEATS = 3
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench_objectives, importable by workers


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def config(function: str, trials: int, n_jobs: int) -> dict:
    return {"name": "bench", "objective": {"function": function, "path": [str(HERE)]},
            "search": {"trials": trials, "seed": 0, "rounds": 1},  # random: the framework timed
            "parallel": {"n_jobs": n_jobs},
            "space": {"x": {"uniform": [0, 1]}, "y": {"log": [1e-4, 1]}}}


def hpsearch_run(function: str, trials: int, n_jobs: int) -> float:
    with tempfile.TemporaryDirectory() as runs:
        return timed(lambda: hpsearch.run(config(function, trials, n_jobs), runs_dir=runs))


def points(trials: int) -> list[dict]:
    space = Space({"x": Uniform(0, 1), "y": Uniform(1e-4, 1)})
    return [dict(t.params) for t in plan_trials(space, "random", trials, 0)]


def bare_joblib(fn, trials: int, n_jobs: int) -> float:
    todo = points(trials)
    return timed(lambda: Parallel(n_jobs=n_jobs)(delayed(fn)(p) for p in todo))


def optuna_run(trials: int, storage: str | None) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 1e-4, 1, log=True)

    with tempfile.TemporaryDirectory() as folder:
        url = None if storage is None else f"sqlite:///{folder}/optuna.db"
        study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
        return timed(lambda: study.optimize(objective, n_trials=trials))


def median(fn, repeats: int = REPEATS) -> float:
    return statistics.median(fn() for _ in range(repeats))


def on_terminal(argv: list[str], cwd: str) -> float:
    """Wall seconds of a command whose stdin, stdout and stderr are a 120-column terminal, its
    output drained as it comes (as a terminal would)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, COLUMNS="120", LINES="40", TERM="xterm-256color")
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True)
    os.close(slave)
    while process.poll() is None:
        if select.select([master], [], [], 0.05)[0]:
            try:
                os.read(master, 1 << 16)
            except OSError:
                break
    process.wait()
    elapsed = time.perf_counter() - start
    os.close(master)
    if process.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}")
    return elapsed


def cli_run(trials: int) -> float:
    """`hpsearch run` of the trivial objective on a terminal, live progress bar on."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "trivial.yaml"
        config.write_text(f"name: trivial\nobjective: {{function: 'bench_objectives:trivial', "
                          f"path: [{HERE}]}}\nsearch: {{trials: 1, seed: 0, rounds: 1}}\n"
                          "parallel: {n_jobs: 1}\nspace: {x: {uniform: [0, 1]}, "
                          "y: {log: [1.0e-4, 1]}}\n")
        hpsearch_cli = str(Path(sys.executable).with_name("hpsearch"))
        return on_terminal([hpsearch_cli, "run", str(config), "--trials", str(trials),
                            "--runs-dir", str(Path(folder) / "runs")], folder)


def main() -> None:
    from bench_objectives import busy, trivial

    cores = os.cpu_count() or 1
    lines = ["# Overhead and throughput", "",
             f"{cores} cores, numpy {np.__version__}, Python {sys.version.split()[0]}; medians of "
             f"{REPEATS} runs, all measured in one run of `benchmarks/overhead.py`.", "",
             "## (a) Framework cost per trial, trivial objective", "",
             "| trials | bare joblib loop | hpsearch (durable SQLite) | hpsearch cost per trial "
             "| Optuna random, SQLite | Optuna random, in memory |",
             "|---|---|---|---|---|---|"]
    for trials in (1_000, 10_000):
        bare = median(lambda n=trials: bare_joblib(trivial, n, 1))
        ours = median(lambda n=trials: hpsearch_run("bench_objectives:trivial", n, 1))
        osql = optuna_run(trials, "sqlite") if trials <= 1_000 else None
        omem = optuna_run(trials, None)
        per = (ours - bare) / trials * 1e3
        lines.append(
            f"| {trials:,} | {bare / trials * 1e3:.3f} ms | {ours / trials * 1e3:.3f} ms | "
            f"**{per:.3f} ms** | {'–' if osql is None else f'{osql / trials * 1e3:.2f} ms'} | "
            f"{'–' if omem is None else f'{omem / trials * 1e3:.3f} ms'} |")
        print(lines[-1], flush=True)
    lines += ["", "Per-trial times are total wall time divided by the trials. Optuna with SQLite "
              "is measured at 1,000 trials only (it slows as the study grows).", "",
              "## (b) Throughput of CPU-bound ~50 ms trials", "",
              "| n_jobs | trials | bare joblib | hpsearch | hpsearch / bare throughput |",
              "|---|---|---|---|---|"]
    for n_jobs in (1, cores):
        trials = 40 * n_jobs
        bare = median(lambda n=trials, j=n_jobs: bare_joblib(busy, n, j))
        ours = median(lambda n=trials, j=n_jobs: hpsearch_run("bench_objectives:busy", n, j))
        lines.append(f"| {n_jobs} | {trials} | {bare:.2f} s | {ours:.2f} s | "
                     f"**{bare / ours:.1%}** |")
        print(lines[-1], flush=True)
    lines += ["", "## (c) The driver's cost per trial, `hpsearch run` on a terminal", "",
              "| trials | wall time | driver cost per trial | against 1,000 |",
              "|---|---|---|---|"]
    start = median(lambda: cli_run(1))
    first = None
    for trials in (1_000, 10_000, 30_000):
        wall = median(lambda n=trials: cli_run(n))
        per = (wall - start) / trials
        first = first or per
        lines.append(f"| {trials:,} | {wall:.2f} s | **{per * 1e3:.3f} ms** | "
                     f"{per / first:.2f}× |")
        print(lines[-1], flush=True)
    lines += ["", f"A 1-trial run (start-up, the leaderboard) takes {start:.2f} s and is "
              "subtracted. The live progress bar redraws while trials arrive; each finished "
              "trial is committed to the run's SQLite store before the next is handed out."]
    out = HERE / "results" / "overhead.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
