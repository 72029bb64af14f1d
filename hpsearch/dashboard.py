"""`hpsearch dashboard`: a local web page of runs that follows them while they run.

The server is the standard library's (`http.server`): one page, a few JSON answers, nothing to
install but plotly, whose Python package ships the plotly.js the page draws its charts with,
served from here so that the page works with no internet. It reads runs through the read side
(`hpsearch.runs`) only and never writes. A run's trials are read again only when its store
changed (its files' sizes and times), so a page that asks every two seconds costs a few file
stats while nothing happens, and one read of the store when a trial ends.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hpsearch.errors import InputError
from hpsearch.insight import HIGHLIGHT, good_range
from hpsearch.result import RunResult
from hpsearch.runs import (
    changed,
    notes,
    open_run,
    rounds,
    run_paths,
    run_summary,
    status,
    trial_log,
)
from hpsearch.space import Choice, parse_param
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Dashboard", "serve"]

POINTS = 2000  # at most this many trials in the score-by-trial chart (the best always in)
RECHECK = 10.0  # seconds between two readings of a running run whose store did not change
NAME_BYTES = 255  # the longest file name the systems we run on allow
LOCAL = ("127.0.0.1", "localhost", "::1")


def _plotly_js() -> bytes:
    try:
        import plotly
    except ImportError:
        raise InputError("hpsearch dashboard needs plotly (its charts): pip install "
                         "'hpsearch[dashboard]'") from None
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def _clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _best_line(complete: list[TrialResult], direction: Direction) -> list[dict[str, Any]]:
    """The best score so far, at each trial (in number order) that improved it."""
    line: list[dict[str, Any]] = []
    for result in complete:
        if not line or direction.better(result.mean, line[-1]["score"]):
            line.append({"trial": result.number, "score": result.mean})
    return line


def _bounds(run: RunResult, round_: dict[str, Any]) -> dict[str, list[Any]]:
    """A round's region on each ordered parameter's plot axis ([low, high] as the slices and
    the contour draw it); a choice has none."""
    out = {}
    for i, name in enumerate(run.space.dims):
        scale = run.space.scales[name]
        if scale.ticks() is None and round_.get("lo") is not None:
            out[name] = sorted(scale.plot_value(scale.from_unit(round_[side][i]))
                               for side in ("lo", "hi"))
    return out


def _tail(path: Path, lines: int = 20) -> list[str]:
    """The last lines of a trial's log (bounded by `logs.TrialLog`), none when it has none."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _range_text(spec: Any) -> str:
    try:
        return parse_param(spec).range_text()
    except Exception:  # a conditional choice's branches: shown as given
        return json.dumps(spec, default=str)


class Dashboard:
    """What the page shows, read from a runs folder (or the runs named), cached per run until
    its store changes."""

    def __init__(self, runs_dir: str | Path = "runs", names: tuple[str, ...] = ()) -> None:
        self.runs_dir, self.names = Path(runs_dir), names
        self._cache: dict[Path, tuple[tuple[float, ...], RunResult]] = {}
        self._summaries: dict[Path, tuple[tuple[float, ...], float, dict[str, Any]]] = {}
        self._importance: dict[Path, tuple[int, dict[str, Any]]] = {}
        self._computing: set[Path] = set()
        self._lock = threading.Lock()

    def runs(self) -> list[dict[str, Any]]:
        """The runs, newest first, as `hpsearch runs` lists them; a run is read again only
        when its store changed, or a running one every RECHECK seconds (a driver that died
        leaves its store as it was, and the run shows interrupted then)."""
        found = []
        for folder in run_paths(self.runs_dir):
            if self.names and folder.name not in self.names:
                continue
            stamp, now = changed(folder), time.monotonic()
            with self._lock:
                cached = self._summaries.get(folder)
            if cached is None or cached[0] != stamp or (
                    cached[2]["status"] == "running" and now - cached[1] > RECHECK):
                cached = (stamp, now, run_summary(folder))
                with self._lock:
                    self._summaries[folder] = cached
            found.append(cached[2])
        return _clean(sorted(found, key=lambda r: -(r["created"] or 0)))

    def _open(self, name: str) -> RunResult:
        if Path(name).name != name or name in ("", ".", "..") or "\0" in name \
                or len(name.encode(errors="replace")) > NAME_BYTES:  # a run of the folder only
            raise InputError(f"{name[:60]!r}: not a run's name")
        if self.names and name not in self.names:
            raise InputError(f"{name}: not one of the runs this dashboard shows")
        folder = self.runs_dir / name
        stamp = changed(folder)
        with self._lock:
            cached = self._cache.get(folder)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        run = open_run(folder)
        with self._lock:
            self._cache[folder] = (stamp, run)
        return run

    def run(self, name: str) -> dict[str, Any]:
        """A run's state, scores by trial with the best so far, learning curves and rounds."""
        run = self._open(name)
        where = status(run.path)
        ranked = [r for _, r in run.ranked()]
        best = ranked[:HIGHLIGHT]  # their learning curves, and every running trial's
        watched = [r.number for r in best if r.status is Status.COMPLETE] + \
            [n for n, _, _ in run.running]
        curves = run.curves(watched) if watched else {}
        points = sorted(run.results, key=lambda r: r.number)
        if len(points) > POINTS:  # evenly thinned, the best kept
            step = len(points) / POINTS
            keep = {points[int(i * step)].number for i in range(POINTS)} | \
                {r.number for r in best}
            points = [r for r in points if r.number in keep]
        complete = sorted((r for r in run.results if r.status is Status.COMPLETE),
                          key=lambda r: r.number)
        return _clean({
            "name": run.name, "status": where, "direction": run.direction.word,
            "params": list(run.space.dims),
            "score_range": list(good_range([r.mean for r in complete], run.direction))
            if complete else None,
            "best_line": _best_line(complete, run.direction),
            "notes": notes(run.path),
            "trials": [{"trial": r.number, "round": r.trial.round, "status": r.status.value,
                        "score": r.mean if r.status is Status.COMPLETE else
                        r.extra.get("score") if r.status is Status.PRUNED else None}
                       for r in points],
            "curves": [{"trial": n, "running": n not in {r.number for r in best},
                        "score": next((r.mean for r in best if r.number == n), None),
                        "points": [{"epoch": p["epoch"], "score": p["score"]}
                                   for p in curves.get(n, []) if p["fold"] == 0]}
                       for n in watched],
            "rounds": [{"round": r["round"], "kind": r["kind"], "trials": r["trials"],
                        "region": {k: _range_text(v) for k, v in r["space"].items()},
                        "bounds": _bounds(run, r)}
                       for r in rounds(run.path)],
        })

    def trials(self, name: str) -> dict[str, Any]:
        """Every trial of a run, best first, the running ones last, as the leaderboard has them
        (params, metrics, the stop or failure reason), each parameter's value on its plot axis
        too; the parameters ordered as the command line orders them (those that move the
        score most first), with their axes (log, reversed, a choice's options)."""
        from hpsearch.present.interactive import axis_of
        from hpsearch.present.report import leaderboard_rows, param_order

        run = self._open(name)
        order = param_order(run)
        rows = leaderboard_rows(run)
        said = notes(run.path)["trials"]
        for row in rows:
            row["note"] = said.get(row["trial"])
            row["plot"] = {n: run.space.scales[n].plot_value(row["params"][n])
                           for n in order if n in row["params"]}
            row["reason"] = row.pop("error")
            del row["scores"]
        return _clean({"order": order, "axes": {n: axis_of(run.space, n) for n in order},
                       "trials": rows})

    def trial(self, name: str, number: str) -> dict[str, Any]:
        """One trial's story: its params, seed, score per fold, learning curve per fold,
        metrics, why it stopped or failed, the last lines of its log, its note, and the commands
        that run it again."""
        run = self._open(name)
        found = [r for r in run.results if str(r.number) == number]
        if not found:
            running = [t for t in run.running if str(t[0]) == number]
            if not running:
                raise InputError(f"{name}: no trial {number[:20]}")
            return _clean({"trial": running[0][0], "status": "running",
                           "params": running[0][1], "curve": run.curve(running[0][0]),
                           "log": _tail(trial_log(run.path, running[0][0]))})
        result = found[0]
        kind = "command" if "argv" in result.extra else "python"
        again = [f"hpsearch best {run.name} --trial {result.number} --out trial-"
                 f"{result.number}.yaml && hpsearch run trial-{result.number}.yaml"]
        if kind == "command":
            again.append(f"hpsearch best {run.name} --trial {result.number} --format args")
        return _clean({
            "trial": result.number, "round": result.trial.round, "status": result.status.value,
            "seed": result.trial.seed, "params": dict(result.params),
            "score": result.mean if result.status is Status.COMPLETE else None,
            "folds": list(result.scores), "metrics": dict(result.extra.get("metrics", {})),
            "reason": result.error_line or None, "duration": result.duration,
            "curve": run.curve(result.number), "log": _tail(trial_log(run.path, result.number)),
            "note": notes(run.path)["trials"].get(result.number), "again": again})

    def compare(self, names: str) -> dict[str, Any]:
        """Runs side by side (comma-separated names): each one's scores by trial and best so
        far, and for every parameter any of them searches, the range each searched and its best
        trial's value."""
        found = [self._open(n) for n in dict.fromkeys(names.split(",")) if n][:8]
        if not found:
            raise InputError("names: give the runs to compare, separated by commas")
        params = list(dict.fromkeys(n for run in found for n in run.space.dims))
        out: list[dict[str, Any]] = []
        scores: list[float] = []
        for run in found:
            complete = sorted((r for r in run.results if r.status is Status.COMPLETE),
                              key=lambda r: r.number)
            best = run.best
            out.append({
                "name": run.name, "direction": run.direction.word,
                "trials": [{"trial": r.number, "score": r.mean} for r in complete[-POINTS:]],
                "best_line": _best_line(complete, run.direction),
                "space": {n: run.space.scales[n].range_text() for n in params
                          if n in run.space.scales},
                "best": None if best is None else {"trial": best.number, "score": best.mean,
                                                   "params": dict(best.params)}})
            scores += [r.mean for r in complete]
        same = len({run.direction for run in found}) == 1
        return _clean({"params": params, "runs": out,
                       "score_range": list(good_range(scores, found[0].direction))
                       if scores and same else None})

    def zoom(self, name: str, ranges: str | None) -> dict[str, Any]:
        """The config of a zoom, to copy or download (nothing is written): into `ranges` (JSON:
        a parameter's [low, high] in its values, a choice's options), or without them around
        the best trials as `hpsearch zoom` does; with each range as the command line prints
        it and the command that runs it."""
        import yaml

        from hpsearch.runs import zoom_region, zoom_to

        run = self._open(name)
        if ranges:
            try:
                chosen = json.loads(ranges)
                for key, value in chosen.items():  # a choice comes by its options' positions
                    scale = run.space.scales.get(key)
                    if isinstance(value, dict) and isinstance(scale, Choice):
                        chosen[key] = [scale.values[int(i)] for i in value.get("options", [])
                                       if 0 <= int(i) < len(scale.values)]
            except (ValueError, TypeError, AttributeError):
                raise InputError("ranges: not a JSON mapping of parameters to ranges") from None
            _, space, config = zoom_to(run.path, chosen)
            config["name"] = f"{run.name}-selected"
            command = f"hpsearch run {run.name}-selected.yaml"
        else:
            _, region, config = zoom_region(run.path)
            space = region.space
            command = f"hpsearch zoom {run.name} --run   # or --out FILE, to look first"
        text = (f"# {'The ranges selected on the dashboard' if ranges else 'Zoomed'} from run "
                f"{run.name}: the same scales, narrower.\n"
                + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        return {"ranges": {n: space.scales[n].range_text() for n in space.dims},
                "config": text, "command": command,
                "file": f"{run.name}-{'selected' if ranges else 'zoom'}.yaml"}

    def importance(self, name: str) -> dict[str, Any]:
        """Each parameter's share of the score's variation, computed in the background (a
        forest on 10,000 trials takes seconds): the last answer at once, `pending` while the
        first is being computed; computed again when the run has 10 % more complete trials."""
        run = self._open(name)
        with self._lock:
            cached = self._importance.get(run.path)
            stale = cached is None or run.complete >= cached[0] * 1.1 + 1
            if stale and run.path not in self._computing:
                self._computing.add(run.path)
                threading.Thread(target=self._compute, args=(run,), daemon=True).start()
        return {"pending": True, "shares": {}} if cached is None else cached[1]

    def _compute(self, run: RunResult) -> None:
        from hpsearch.insight import importance

        try:
            found = importance(run.space, run.results)
            answer = {"shares": found.shares, "reliable": found.reliable, "r2": found.r2,
                      "trials": found.trials}
        except ValueError as error:  # too few trials yet
            answer = {"shares": {}, "reliable": False, "why": str(error)}
        with self._lock:
            self._importance[run.path] = (run.complete, _clean(answer))
            self._computing.discard(run.path)


class _Handler(BaseHTTPRequestHandler):
    dashboard: Dashboard
    page: bytes
    plotly: bytes
    hosts: frozenset[str]  # the names a request's Host may give (see `allowed_hosts`)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _not_allowed(self) -> None:
        self._json({"error": f"{self.command}: the dashboard only reads (GET)"},
                   HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _answer(self, body: bool) -> None:
        self._body = body
        host = self.headers.get("Host")
        if host is not None and _host_name(host) not in self.hosts:
            # a page elsewhere whose name now points here (DNS rebinding) reads nothing
            self._json({"error": f"Host {host[:80]!r} is not this dashboard's address; serve "
                        "that name with --allow-host"}, HTTPStatus.FORBIDDEN)
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                self._send(self.page, "text/html; charset=utf-8")
            elif url.path == "/favicon.ico":  # none: said without an error in the console
                self._send(b"", "image/x-icon", HTTPStatus.NO_CONTENT)
            elif url.path == "/plotly.min.js":
                self._send(self.plotly, "application/javascript", cache=True)
            elif url.path == "/api/runs":
                self._json(self.dashboard.runs())
            elif url.path == "/api/run" and "name" in query:
                self._json(self.dashboard.run(query["name"]))
            elif url.path == "/api/trials" and "name" in query:
                self._json(self.dashboard.trials(query["name"]))
            elif url.path == "/api/trial" and "name" in query and "trial" in query:
                self._json(self.dashboard.trial(query["name"], query["trial"]))
            elif url.path == "/api/compare" and "names" in query:
                self._json(self.dashboard.compare(query["names"]))
            elif url.path == "/api/zoom" and "name" in query:
                self._json(self.dashboard.zoom(query["name"], query.get("ranges")))
            elif url.path == "/api/importance" and "name" in query:
                self._json(self.dashboard.importance(query["name"]))
            else:
                self._json({"error": f"no such page: {url.path[:80]}"}, HTTPStatus.NOT_FOUND)
        except InputError as error:
            self._json({"error": str(error)}, HTTPStatus.NOT_FOUND)
        except ConnectionError:  # the page went away mid-answer: nobody to tell
            pass
        except Exception as error:  # one line on the terminal, an answer to the page
            said = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            sys.stderr.write(f"hpsearch dashboard: {url.path[:80]}: {said}\n")
            self._json({"error": said}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _json(self, data: Any, code: HTTPStatus = HTTPStatus.OK,
              headers: dict[str, str] | None = None) -> None:
        self._send(json.dumps(data, default=str).encode(), "application/json", code=code,
                   headers=headers)

    def _send(self, body: bytes, kind: str, code: HTTPStatus = HTTPStatus.OK,
              cache: bool = False, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "_body", True):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: a page that asks every two seconds would fill the terminal."""


def _host_name(host: str) -> str | None:
    """The name in a Host header ("name:port", "[::1]:port"), lowercase; None if malformed."""
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:
        return None


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The names a request's Host may give: the address served, the loopback names, and
    `extra` (--allow-host); bound to every interface, the machine's names too."""
    names = {host.strip("[]").lower(), *LOCAL, *(name.lower() for name in extra)}
    if host in ("0.0.0.0", "::", ""):
        import socket

        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        with contextlib.suppress(OSError):
            names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    return frozenset(names)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of requests waits its turn instead of being reset

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A page that went away mid-answer is nobody's error; anything else is one line."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"hpsearch dashboard: {type(error).__name__}: {error}\n")


def server(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8050,
           allow_hosts: tuple[str, ...] = ()) -> ThreadingHTTPServer:
    """The dashboard's server, bound and not yet serving; it answers requests whose Host is
    one of `allowed_hosts(host, allow_hosts)`.

    Raises:
        InputError: the port is taken, or plotly is missing.
    """
    handler = type("Handler", (_Handler,), {
        "dashboard": dashboard, "plotly": _plotly_js(), "hosts": allowed_hosts(host, allow_hosts),
        "page": resources.files("hpsearch.present").joinpath("dashboard.html").read_bytes()})
    try:
        return _Server((host, port), handler)
    except OSError as error:
        raise InputError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror}); "
                         "give another --port") from None


def serve(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8050,
          ready: Any = None, allow_hosts: tuple[str, ...] = ()) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM); `ready(url)` is told once it listens."""
    httpd = server(dashboard, host, port, allow_hosts)
    url = f"http://{host}:{httpd.server_address[1]}/"
    if ready is not None:
        ready(url)
    try:
        httpd.serve_forever(poll_interval=0.25)
    finally:
        httpd.server_close()
