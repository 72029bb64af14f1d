"""The dashboard's answers on a run of 10,000 trials (eight parameters, ten reported epochs per
trial: 100,000 per-epoch reports), over HTTP from a server on 127.0.0.1 as the page asks them:
the page itself, the runs, the run (status, scores by trial, the best so far, curves, rounds),
every trial (the table and the parallel coordinates: fetched when trials end), one trial's story,
the zoom around the best trials, and importance. `cold`: the first answer after the store changed (the run read again); `warm`: the
median of REPEATS answers while nothing changes.

Writes benchmarks/results/dashboard.md.

    python benchmarks/dashboard.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import hpsearch
from hpsearch.dashboard import Dashboard, server

REPEATS = 5
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from glance import SPACE  # noqa: E402  (the quickstart's eight kinds of parameter)

TRIALS = 10_000


def seconds(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        answer.read()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        runs = Path(home) / "runs"
        start = time.perf_counter()
        hpsearch.run({"name": "big", "objective": {"function": "bench_objectives:eight_curves",
                                                   "path": [str(HERE)]},
                      "search": {"trials": TRIALS, "seed": 0, "rounds": 1,
                                 "early_stopping": False},
                      "parallel": {"n_jobs": 1}, "space": SPACE}, runs_dir=runs,
                     progress=False)
        made = time.perf_counter() - start
        httpd = server(Dashboard(runs), "127.0.0.1", 0)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        rows = []
        for label, path in (("the page", "/"), ("runs", "/api/runs"),
                            ("run", "/api/run?name=big"),
                            ("every trial", "/api/trials?name=big"),
                            ("a trial's story", "/api/trial?name=big&trial=5000"),
                            ("zoom", "/api/zoom?name=big"),
                            ("importance", "/api/importance?name=big")):
            cold = seconds(base + path)
            if label == "importance":  # answered at once as pending; computed meanwhile
                start = time.perf_counter()
                while b"pending" in urllib.request.urlopen(base + path).read():
                    time.sleep(0.05)
                computed = time.perf_counter() - start
            warm = statistics.median(seconds(base + path) for _ in range(REPEATS))
            rows.append(f"| {label} (`{path}`) | {cold:.3f} | {warm:.3f} |")
            print(rows[-1], flush=True)
        httpd.shutdown()
    rows.append(f"\nImportance is computed in the background: the first answer says it is "
                f"pending; its forest took {computed:.1f} s more on this run.")
    lines = ["# The dashboard on 10,000 trials", "",
             f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, one run of "
             f"`benchmarks/dashboard.py`: a run of {TRIALS:,} trials with ten reported epochs "
             f"each (made in {made:.0f} s), its answers over HTTP in seconds.", "",
             "| answer | cold (s) | warm (s, median of 5) |", "|---|---|---|", *rows]
    (HERE / "results" / "dashboard.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
