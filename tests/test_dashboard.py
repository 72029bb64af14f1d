"""The dashboard: its answers read runs and never write them, and a real browser (the system's
Chromium, headless) shows a running search: its name, best score and a count of trials that
rises as trials end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hpsearch.api import note
from hpsearch.cli import cli
from hpsearch.runs import open_run, rounds, status

pytest.importorskip("plotly")

from hpsearch.dashboard import Dashboard, server  # noqa: E402

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)
HELD = """\
import json, os, sys, time
trial, lr = sys.argv[1], float(sys.argv[2])
deadline = time.time() + 120
while not os.path.exists(os.path.join("go", trial)) and time.time() < deadline:
    time.sleep(0.02)
for epoch in (1, 2, 3):
    print(json.dumps({"epoch": epoch, "score": (1 - abs(lr - 0.1)) * epoch / 3}), flush=True)
print(json.dumps({"score": 1 - abs(lr - 0.1)}))
"""


@contextlib.contextmanager
def served(runs: Path, allow_hosts: tuple[str, ...] = ()) -> Iterator[str]:
    """A dashboard of `runs` on a free port of 127.0.0.1 (its URL), stopped after the block."""
    httpd = server(Dashboard(runs), "127.0.0.1", 0, allow_hosts)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def serving(tmp_path):
    """A dashboard of tmp_path/runs on a free port of 127.0.0.1, stopped after the test."""
    (tmp_path / "runs").mkdir()
    with served(tmp_path / "runs") as url:
        yield url


@pytest.fixture
def search(tmp_path):
    """A search of 6 held trials in a process of its own: release(n) lets trial n end."""
    (tmp_path / "go").mkdir()
    (tmp_path / "held.py").write_text(HELD)
    (tmp_path / "c.yaml").write_text(
        f"name: live\nobjective: {{command: [{sys.executable}, held.py, '{{trial}}', "
        "'{lr}']}\nsearch: {trials: 6, seed: 0, rounds: 1, early_stopping: false}\n"
        "parallel: {n_jobs: 2}\nspace: {lr: {log: [1.0e-3, 1.0]}}\n")
    process = subprocess.Popen([sys.executable, "-m", "hpsearch", "run", "c.yaml", "--quiet"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def release(*numbers: int) -> None:
        for n in numbers:
            (tmp_path / "go" / str(n)).touch()
        wanted = max(numbers) + 1
        deadline = time.time() + 120  # against a hang only
        while time.time() < deadline:
            try:
                if status(tmp_path / "runs" / "live")["finished"] >= wanted:
                    return
            except Exception:  # the run folder is not there yet
                pass
            time.sleep(0.05)
        raise AssertionError(f"trials up to {max(numbers)} did not end")

    release.process = process  # type: ignore[attr-defined]
    yield release
    for n in range(6):
        (tmp_path / "go" / str(n)).touch()
    process.wait(timeout=120)


def get(url: str, method: str = "GET", **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {**json.loads(error.read() or b"{}"), "allow": error.headers["Allow"]}


def test_the_answers_read_a_run_and_leave_it_as_it_was(serving, search, tmp_path):
    search(0, 1, 2)
    code, runs = get(f"{serving}/api/runs")
    assert code == 200 and [r["name"] for r in runs] == ["live"]
    assert runs[0]["status"] == "running"
    code, run = get(f"{serving}/api/run?name=live")
    assert code == 200 and run["status"]["finished"] == 3 and run["status"]["planned"] == 6
    assert {r["trial"] for r in run["trials"]} == {0, 1, 2}
    best = max((r for r in run["trials"]), key=lambda r: r["score"])
    assert run["status"]["best"]["trial"] == best["trial"]
    assert [p["epoch"] for p in run["curves"][0]["points"]] == [1, 2, 3]
    assert run["rounds"][0]["region"] == {"lr": "1.00e-03..1.00e+00"}
    code, found = get(f"{serving}/api/importance?name=live")
    assert code == 200 and found == {"pending": True, "shares": {}}  # computed meanwhile
    deadline = time.time() + 60  # against a hang only
    while found.get("pending") and time.time() < deadline:
        time.sleep(0.05)
        found = get(f"{serving}/api/importance?name=live")[1]
    assert found["reliable"] is False and found["trials"] == 3  # too few to say
    code, missing = get(f"{serving}/api/run?name=nope")
    assert code == 404 and "nope" in missing["error"]
    code, outside = get(f"{serving}/api/run?name=..%2F..%2Fetc")
    assert code == 404 and "not a run's name" in outside["error"]
    with urllib.request.urlopen(f"{serving}/plotly.min.js", timeout=30) as answer:
        assert answer.headers["Content-Type"] == "application/javascript"
        assert len(answer.read()) > 1_000_000  # served from here: the page works offline
    # a finished run: every answer reads it, none writes a byte of it
    search(3, 4, 5)
    assert search.process.wait(timeout=120) == 0
    folder = tmp_path / "runs" / "live"

    def files() -> dict[str, tuple[int, int]]:  # the -shm index is where SQLite readers mark
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size)  # their reads: not data
                for p in folder.iterdir() if not p.name.endswith("-shm")}

    before = files()
    for path in ("/", "/api/runs", "/api/run?name=live", "/api/importance?name=live"):
        with urllib.request.urlopen(serving + path, timeout=30) as answer:
            assert answer.status == 200
    assert files() == before


@contextlib.contextmanager
def browser(url: str) -> Iterator[Any]:
    """A page of the system's Chromium (headless, driven by Playwright), 1400 x 900 as a laptop
    shows it, at `url` once its charts are drawn; errors its script raises fail the test."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no Chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_selector("#trials th", timeout=60_000)
            yield page
            assert errors == []
        finally:
            chromium.close()


def wait_for(check, what: str, seconds: float = 60) -> None:
    """Until check() holds (a bound against a hang, not a timing the test depends on)."""
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_a_browser_shows_the_run_its_best_score_and_trials_rising_as_they_end(
        serving, search, tmp_path):
    search(0, 1)
    with browser(serving + "/") as page:
        assert page.inner_text("#name") == "live"
        wait_for(lambda: page.inner_text("#count") == "2", "2 trials shown")
        best = status(tmp_path / "runs" / "live")["best"]["mean_score"]
        assert page.inner_text("#best").startswith(f"{best:.4f} (trial")
        search(2, 3, 4)  # the open page follows, with no reload
        wait_for(lambda: page.inner_text("#count") == "5", "5 trials shown without a reload")
        assert "running" in page.inner_text("#facts")
        wait_for(lambda: page.locator("#trials tbody tr").count() == 6, "every trial listed")


SPACE8 = """\
  lr: {log: [1.0e-5, 1.0]}
  u: {uniform: [0, 1]}
  units: {int: [8, 256]}
  act: {choice: [relu, tanh]}
  beta2: {one_minus_log: [0.9, 0.9999]}
  weight_decay: {log: [1.0e-7, 1.0e-2]}
  hidden_layers: {int: [1, 4]}
  batch_size: {int: [16, 512]}
"""
WIDE = """\
import math
def train(p, report):
    q = 1 - (math.log10(p["lr"]) + 2) ** 2 / 9 - (p["u"] - 0.6) ** 2
    if p["u"] > 0.97:
        q = -5.0  # a diverged trial: the score axes must not flatten the rest for it
    for epoch in range(1, 7):
        report(epoch, q * (1 - 0.4 / epoch))
    return q * (1 - 0.4 / 6)
"""


@pytest.fixture
def finished(runner, tmp_path):
    """Finished runs of 40 trials: `eight` with the quickstart's 8 parameters, `twenty` with
    20 (12 more uniforms)."""
    (tmp_path / "wide.py").write_text(WIDE)
    more = "".join(f"  extra_parameter_{k}: {{uniform: [0, 1]}}\n" for k in range(12))
    for name, space in (("eight", SPACE8), ("twenty", SPACE8 + more)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}\nobjective: {{function: 'wide:train'}}\n"
            "search: {trials: 40, seed: 4}\nparallel: {n_jobs: 1}\nspace:\n" + space)
        result = runner.invoke(cli, ["run", f"{name}.yaml", "-q"])
        assert result.exit_code == 0, result.output
    return tmp_path / "runs"


def column(page: Any, key: str) -> list[str]:
    return page.evaluate("""(key) => {
        const th = document.querySelector(`#trials th[data-key="${key}"]`);
        const at = [...th.parentElement.children].indexOf(th);
        return [...document.querySelectorAll('#trials tbody tr')].map(
            (tr) => tr.children[at].textContent.trim()); }""", key)


def test_a_page_to_work_in_titled_axes_no_sideways_scroll_sort_and_select(finished):
    def looked_at(page: Any, name: str) -> None:
        wait_for(lambda: page.locator("#parallel .parcoords").count() == 1,
                 "parallel coordinates drawn")
        width = page.evaluate("[document.documentElement.scrollWidth, "
                              "document.documentElement.clientWidth]")
        assert width[0] <= width[1], (name, width)  # no sideways scroll at 1400 px
        titles = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .filter((g) => g.querySelector('.xtick')).map((g) => [g.id,
            (g.querySelector('.g-xtitle') || {}).textContent,
            (g.querySelector('.g-ytitle') || {}).textContent])""")
        assert ["scores", "trial", "score"] in titles and ["curves", "epoch", "score"] in titles
        assert all(x and y for _, x, y in titles), titles

    with served(finished) as url, browser(f"{url}/#twenty") as page:
        looked_at(page, "twenty")
    best = open_run(finished / "eight").best
    note(finished / "eight", "the first try")
    note(finished / "eight", "the best of the lot", trial=best.number)
    with served(finished) as url, browser(f"{url}/#eight") as page:
        looked_at(page, "eight")
        # the diverged trials sit on the edge: the axis fits the others
        low, high = page.evaluate("document.getElementById('scores').layout.yaxis.range")
        assert low > -1 and "as triangles on the edge" in page.inner_text("#outliers")
        # slices and a contour of two chosen parameters, the zoom rounds' regions over them
        page.select_option("#slice-x", "u")
        page.select_option("#slice-y", "lr")
        wait_for(lambda: page.evaluate("document.getElementById('contour').layout.xaxis"
                                       ".title.text") == "u", "the contour of u and lr")
        assert page.evaluate("document.getElementById('contour').layout.yaxis.type") == "log"
        regions = page.evaluate("document.getElementById('contour').layout.shapes.length")
        assert regions == len([r for r in rounds(finished / "eight") if r["kind"] == "zoom"]) > 0
        # a click on a parameter's header sorts by it, a second reverses
        assert page.locator("#trials tbody tr").count() == 40
        page.locator("#trials th[data-key='lr']").click()
        up = [float(v) for v in column(page, "lr")]
        page.locator("#trials th[data-key='lr']").click()
        down = [float(v) for v in column(page, "lr")]
        assert up == sorted(up) and down == sorted(up, reverse=True) and len(up) == 40
        # a drag along the u axis selects trials: the table shows those alone
        page.locator("#parallel").scroll_into_view_if_needed()
        x, y, w, h = page.evaluate("""() => {
            const at = document.getElementById('parallel').data[0].dimensions.findIndex(
                (d) => d.label === 'u');
            const r = document.querySelectorAll('#parallel .axis-brush rect.background')[at]
                .getBoundingClientRect();
            return [r.x, r.y, r.width, r.height]; }""")
        page.mouse.move(x + w / 2, y + 0.05 * h)
        page.mouse.down()
        page.mouse.move(x + w / 2, y + 0.5 * h, steps=10)
        page.mouse.up()
        wait_for(lambda: "selected on the parallel axes" in page.inner_text("#selection"),
                 "a selection")
        chosen = int(page.inner_text("#selection").split()[0])
        assert 0 < chosen < 40 and page.locator("#trials tbody tr").count() == chosen
        shown = [float(v) for v in column(page, "u")]
        assert max(shown) - min(shown) < 0.5  # a band of u: half the axis at most
        # the selection as a zoom: the config of a run of those ranges, which runs as given
        page.locator("#zoom").click()
        wait_for(lambda: page.inner_text("#zoom-command") == "hpsearch run eight-selected.yaml",
                 "the zoom's config")
        (finished.parent / "eight-selected.yaml").write_text(page.inner_text("#zoom-config"))
        low, high = (float(v) for v in page.evaluate("selectedRanges().u"))
        assert low <= min(shown) <= max(shown) <= high
        ran = CliRunner().invoke(cli, ["run", str(finished.parent / "eight-selected.yaml"),
                                       "--trials", "3", "--runs-dir", str(finished), "-q"])
        assert ran.exit_code == 0, ran.output
        zoomed = open_run(finished / "eight-selected")
        assert all(low <= r.params["u"] <= high for r in zoomed.results)
        assert sorted(zoomed.space.dims) == sorted(open_run(finished / "eight").space.dims)
        assert not (finished / "eight" / "eight-selected.yaml").exists()  # the page wrote none
        # a row opens the trial's story: its seed, note, curve and how to run it again
        page.locator("#clear").click()
        wait_for(lambda: page.locator("#trials tbody tr").count() == 40, "the selection cleared")
        page.locator(f"#trials tbody tr[data-trial='{best.number}']").click()
        wait_for(lambda: page.inner_text("#trial-title").startswith(f"Trial {best.number} "),
                 "the trial's story")
        facts = page.inner_text("#trial-facts")
        assert f"seed\t{best.trial.seed}" in facts and "note\tthe best of the lot" in facts
        number = best.number
        assert f"hpsearch best eight --trial {number} --out trial-{number}.yaml" in facts
        assert page.locator("#trial-curve .scatterlayer .trace").count() == 1  # its curve
        assert page.inner_text("#run-note") == "note: the first try"
        # two runs side by side: both histories and best-so-far lines, what each searched
        both = [page.locator(f"#runs tr[data-name='{name}'] input") for name in ("eight",
                                                                                 "twenty")]
        for box in both:  # the zoom's run is in the list too: these two alone
            box.click()
        wait_for(lambda: page.locator("#compare-table th").count() == 5, "runs side by side")
        heads = page.locator("#compare-table th").all_inner_texts()
        assert {"twenty: searched", "eight: searched"} <= set(heads)
        assert page.evaluate("document.getElementById('compare-chart').data.length") == 4
        assert "extra_parameter_0" in page.inner_text("#compare-table")  # twenty's alone
        for box in both:
            box.click()
        wait_for(lambda: page.locator("#comparison").is_hidden(), "one run again")
        shot = Path(os.environ.get("HPSEARCH_SCREENSHOT", finished / "dashboard.png"))
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_name_that_is_not_there_is_refused_before_serving(tmp_path):
    (tmp_path / "runs").mkdir()
    out = subprocess.run([sys.executable, "-m", "hpsearch", "dashboard", "nope", "--port", "0"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no run 'nope'" in out.stderr


def test_odd_requests_get_a_short_answer_and_the_server_goes_on(serving, capfd):
    """Names no folder can have, other methods, a burst of 200 requests at once: each gets its
    answer (4xx where it is refused), nothing on the terminal, and the server serves on."""
    for name in ("%00", "good%00", "a" * 300, "..%2F..%2Fetc", "%2Fetc%2Fpasswd"):
        code, answer = get(f"{serving}/api/run?name={name}")
        assert code == 404 and "not a run's name" in answer["error"], (name, answer)
        assert get(f"{serving}/api/importance?name={name}")[0] == 404
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        code, answer = get(f"{serving}/api/runs", method)
        assert code == 405 and answer["allow"] == "GET, HEAD", (method, answer)
    head = urllib.request.Request(f"{serving}/", method="HEAD")
    with urllib.request.urlopen(head, timeout=60) as answer:
        assert answer.status == 200 and answer.read() == b""
        assert int(answer.headers["Content-Length"]) > 1000  # the page's, as GET gives it
    with ThreadPoolExecutor(200) as pool:  # more at once than a listen backlog of 5 queues
        codes = list(pool.map(lambda _: get(f"{serving}/api/runs")[0], range(200)))
    assert codes == [200] * 200
    assert "Traceback" not in "".join(capfd.readouterr())


def test_only_its_own_address_is_answered_so_a_rebound_name_reads_nothing(tmp_path):
    """A page on another site whose name is made to point at 127.0.0.1 (DNS rebinding) sends
    its own name as Host: refused. The address served, localhost, and --allow-host names are
    answered."""
    (tmp_path / "runs").mkdir()
    with served(tmp_path / "runs", allow_hosts=("hp.example.org",)) as url:
        port = url.rsplit(":", 1)[1]
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.2", "[bad"):
            code, answer = get(f"{url}/api/runs", Host=host)
            assert code == 403 and answer == {
                "error": f"Host {host!r} is not this dashboard's address; serve that name "
                         "with --allow-host", "allow": None}, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}",
                     "hp.example.org"):
            assert get(f"{url}/api/runs", Host=host) == (200, []), host


def test_bound_beyond_this_machine_it_says_it_has_no_password(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hpsearch import dashboard
    from hpsearch.cli import cli

    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    heard = {}

    def serve(board, host, port, ready, allow_hosts):  # told, not bound: no port is opened
        heard.update(host=host, allow_hosts=allow_hosts)
        ready(f"http://{host}:{port}/")

    monkeypatch.setattr(dashboard, "serve", serve)
    out = CliRunner().invoke(cli, ["dashboard", "--host", "0.0.0.0", "--port", "8123",
                                   "--allow-host", "hp.example.org"])
    assert out.exit_code == 0, out.output
    assert heard == {"host": "0.0.0.0", "allow_hosts": ("hp.example.org",)}
    assert out.stderr.splitlines()[1].startswith(
        "warning: --host 0.0.0.0: anyone who can reach this machine's port 8123 sees every "
        "run, with no password")
    local = CliRunner().invoke(cli, ["dashboard", "--port", "8123"])
    assert "warning" not in local.output


EPOCHS = """\
import os, time
def train(p, report):
    for epoch in range(1, 6):
        report(epoch, p["x"] * epoch / 5)
    deadline = time.time() + 120
    while not os.path.exists("go") and time.time() < deadline:
        time.sleep(0.02)
    return p["x"]
"""


def test_a_running_trial_s_curve_has_every_epoch_it_reported(serving, tmp_path):
    """Not only the epochs early stopping looks at: each report is in the store as it comes."""
    (tmp_path / "epochs.py").write_text(EPOCHS)
    (tmp_path / "e.yaml").write_text(
        "name: epochs\nobjective: {function: 'epochs:train'}\n"
        "search: {trials: 2, rounds: 1, early_stopping: {method: asha, min_epochs: 2}}\n"
        "parallel: {n_jobs: 1}\nspace: {x: {uniform: [0, 1]}}\n")
    process = subprocess.Popen([sys.executable, "-m", "hpsearch", "run", "e.yaml", "-q"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, curve = time.time() + 120, []  # against a hang only
        while len(curve) < 5 and time.time() < deadline:
            time.sleep(0.05)
            if (tmp_path / "runs" / "epochs").exists():
                code, run = get(f"{serving}/api/run?name=epochs")
                curve = [p["epoch"] for c in run.get("curves", []) if c["running"]
                         for p in c["points"]] if code == 200 else []
        assert curve == [1, 2, 3, 4, 5]
    finally:
        (tmp_path / "go").touch()
        assert process.wait(timeout=120) == 0, process.stderr.read()
