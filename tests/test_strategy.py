"""The strategy protocol: what the driver asks and tells a strategy, in which order, whatever the
order trials end in; and the built-in strategies behind it."""

from __future__ import annotations

import json
import math
import random
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.cli import cli
from hpsearch.config import load_config
from hpsearch.runs import list_runs
from hpsearch.search import strategy_for, user_strategy
from hpsearch.search.coarse_to_fine import CoarseToFine
from hpsearch.search.region import whole
from hpsearch.search.strategy import Planned, Round, Sampling, drive, evaluate_all
from hpsearch.space import Choice, Int, Log, Space, Uniform
from hpsearch.trial import Status, Trial, TrialResult, plan_trials

SPACE = Space({"lr": Log(1e-4, 1.0), "units": Int(8, 64), "act": Choice(("relu", "tanh")),
               "drop": Uniform(0.0, 0.5)})


def score(trial: Trial) -> TrialResult:
    value = -(math.log10(trial.params["lr"]) + 2) ** 2 - (trial.params["drop"] - 0.1) ** 2
    return TrialResult(trial, Status.COMPLETE, (value,))


class Shuffled:
    """An evaluator whose trials end in a random order (a busy cluster)."""

    def __init__(self, seed: int) -> None:
        self.rng, self.running, self.submitted = random.Random(seed), [], []

    def submit(self, trials):
        self.running += trials
        self.submitted.append([t.number for t in trials])

    def next_result(self):
        return score(self.running.pop(self.rng.randrange(len(self.running))))


class Told(CoarseToFine):
    """Coarse to fine that records what it is asked and told."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def ask(self, number):
        self.calls.append(("ask", number))
        return super().ask(number)

    def tell(self, result):
        self.calls.append(("tell", result.number))
        super().tell(result)


def told(seed: int) -> Told:
    strategy = Told(SPACE, "maximize", trials=40, seed=0, rounds=4)
    drive(strategy, Shuffled(seed))
    return strategy


def test_results_are_told_in_number_order_whatever_order_trials_end_in():
    strategy = told(seed=1)
    tells = [n for call, n in strategy.calls if call == "tell"]
    assert tells == list(range(40))
    # each trial asked once, after every result it needs has been told
    for i, (call, number) in enumerate(strategy.calls):
        if call == "ask":
            needed = strategy.needs(number)
            assert {n for c, n in strategy.calls[:i] if c == "tell"} >= set(range(needed))


def test_the_same_seed_gives_the_same_trials_whatever_the_timing():
    runs = [told(seed) for seed in (1, 2, 3)]
    points = [[r.trial.unit for r in run.results] for run in runs]
    assert points[0] == points[1] == points[2]
    assert runs[0].calls == runs[1].calls == runs[2].calls
    in_order = evaluate_all(CoarseToFine(SPACE, "maximize", trials=40, seed=0, rounds=4),
                            lambda trials: [score(t) for t in trials])
    assert [r.trial.unit for r in in_order] == points[0]


def test_rounds_open_in_order_with_their_sizes_and_regions():
    strategy = CoarseToFine(SPACE, "maximize", trials=40, seed=0, rounds=4, lookahead=3)
    sizes = strategy.sizes
    evaluator = Shuffled(0)
    rounds: list[Round] = []
    drive(strategy, evaluator, on_round=rounds.append)
    assert sorted(n for batch in evaluator.submitted for n in batch) == list(range(40))
    assert evaluator.submitted[0] == list(range(sizes[0]))  # round 1 at once
    assert [(r.number, r.size, r.kind) for r in rounds] == \
        [(1, sizes[0], "random")] + [(n, s, "zoom") for n, s in zip((2, 3, 4), sizes[1:])]
    assert rounds[0].region.is_whole and not rounds[-1].region.is_whole


class Gated(Sampling):
    """Sampling whose trial 6 is planned in the background, ready once trial 4 is told."""

    def ready(self, number):
        return number != 6 or len(self.results) >= 5


def test_a_free_worker_is_not_held_by_a_plan_in_progress_and_peers_are_set():
    evaluator = InOrder()
    strategy = Gated(SPACE, "maximize", trials=10, seed=0)
    drive(strategy, evaluator, lookahead=3)
    # trial i waits for the trials below i - 3; trial 6 also for its plan, while results come
    assert evaluator.submitted == [[0, 1, 2, 3], [4], [5], [6, 7, 8], [9]]
    assert evaluator.peers == {n: n - 3 for n in range(10)}
    plain = InOrder()
    drive(Sampling(SPACE, "maximize", trials=10, seed=0), plain)  # no early stopping: no gate
    assert plain.submitted == [list(range(10))] and set(plain.peers.values()) == {None}


class InOrder:
    """An evaluator whose trials end in the order they were submitted."""

    def __init__(self, scored=score) -> None:
        self.running, self.submitted, self.peers = [], [], {}
        self.scored = scored

    def submit(self, trials):
        self.running += trials
        self.submitted.append([t.number for t in trials])
        self.peers.update({t.number: t.peers for t in trials})

    def next_result(self):
        return self.scored(self.running.pop(0))


def test_known_results_are_told_and_not_run_again():
    first = evaluate_all(CoarseToFine(SPACE, "maximize", trials=30, seed=5, rounds=3),
                         lambda trials: [score(t) for t in trials])
    stored = {r.number: r for r in first[:14]}  # a run stopped in its second round
    evaluator = Shuffled(0)
    resumed = Told(SPACE, "maximize", trials=30, seed=5, rounds=3)
    drive(resumed, evaluator, known=lambda trial: stored.get(trial.number))
    assert sorted(n for batch in evaluator.submitted for n in batch) == list(range(14, 30))
    assert [r.trial.unit for r in resumed.results] == [r.trial.unit for r in first]


def test_a_strategy_that_waits_for_a_trial_it_never_proposed_is_named():
    class Stuck(Sampling):
        def needs(self, number):
            return number + 1

    with pytest.raises(RuntimeError, match="Stuck needs the result of trial 0"):
        drive(Stuck(SPACE, "maximize", trials=3, seed=0), Shuffled(0))


def test_sampling_is_the_samplers_points_with_the_enqueued_first():
    for sampler in ("random", "sobol", "grid"):
        enqueue = [{"lr": 1e-3}]
        trials = evaluate_all(Sampling(SPACE, "maximize", trials=9, seed=4, sampler=sampler,
                                       enqueue=enqueue), lambda ts: [score(t) for t in ts])
        expected = plan_trials(SPACE, sampler, 9, 4, enqueue=enqueue)
        assert [r.trial for r in trials] == expected
        assert trials[0].params["lr"] == 1e-3


def test_planned_trials_run_as_one_round_from_their_own_numbers():
    planned = plan_trials(SPACE, "random", 4, 0, round=3, first_number=20)
    round_ = Round(3, whole(SPACE), 4, "retest")
    strategy = Planned(SPACE, "maximize", round_, planned)
    opened: list[Round] = []
    evaluator = Shuffled(0)
    drive(strategy, evaluator, on_round=opened.append)
    assert opened == [round_] and evaluator.submitted == [[20, 21, 22, 23]]


def test_a_config_names_its_strategy_by_rounds_and_warm_start(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("objective: {function: m:f}\nsearch: {trials: 30, rounds: 1}\n"
                      "space: {x: {uniform: [0, 1]}}\n")
    cfg = load_config(config)
    cfg = cfg.replace(search={"lookahead": 2})
    assert type(strategy_for(cfg.space, cfg.search)) is Sampling
    three = cfg.replace(search={"rounds": 3, "lookahead": 2})
    assert type(strategy_for(three.space, three.search)) is CoarseToFine
    history = [TrialResult(Trial(-1 - i, {"x": x}, (x,), 0, round=0), Status.COMPLETE, (x,))
               for i, x in enumerate((0.1, 0.5, 0.9))]
    warm = strategy_for(cfg.space, cfg.search, history)
    assert type(warm) is CoarseToFine and warm.warm


# ---------------------------------------------------------------------------------------------
# A user's own strategy (search.strategy: module:Class), as in examples/own_strategy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_strategy"


def test_a_users_strategy_proposes_the_same_trials_whatever_order_trials_end_in():
    cls = user_strategy("perturb_best:PerturbBest", [str(EXAMPLE)])
    runs = []
    for order in range(3):
        strategy = cls(SPACE, "maximize", trials=40, seed=4, lookahead=5)
        drive(strategy, Shuffled(order))
        runs.append([r.trial for r in strategy.results])
    assert runs[0] == runs[1] == runs[2]
    results = strategy.results
    # after its random start it moves the best so far a little: later trials are closer to the
    # optimum (lr 1e-2, drop 0.1) than the random ones
    assert statistics.median(r.mean for r in results[20:]) > \
        statistics.median(r.mean for r in results[:10])


def test_search_strategy_runs_a_users_class_and_says_so(runner):
    out = runner.invoke(cli, ["run", str(EXAMPLE / "search.yaml"), "--trials", "14",
                              "--jobs", "2"])
    assert out.exit_code == 0, out.output
    assert "search.strategy: perturb_best:PerturbBest proposes every trial" in out.output
    (run,) = list_runs()
    assert run["trials"] == 14


@pytest.mark.parametrize("value, message", [
    ("perturb_best:Nope", "search.strategy: module 'perturb_best' has no 'Nope'"),
    ("perturb_best:np", "search.strategy: perturb_best:np is not a subclass of "
                        "hpsearch.search.Strategy"),
    ("no_such_module:X", "search.strategy: cannot import 'no_such_module'"),
    ("PerturbBest", "search.strategy: must name a class as module:Class"),
])
def test_a_bad_search_strategy_is_refused_before_any_trial(runner, value, message):
    config = Path("c.yaml")
    config.write_text((EXAMPLE / "search.yaml").read_text().replace(
        "strategy: perturb_best:PerturbBest", f"strategy: {value}"))
    (Path("perturb_best.py")).write_text((EXAMPLE / "perturb_best.py").read_text())
    out = runner.invoke(cli, ["run", str(config)])
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not Path("runs").exists() or not list(Path("runs").iterdir())


BROKEN = """\
import math
from hpsearch.search import Strategy
from hpsearch.trial import Trial


class Fine(Strategy):
    def ask(self, n):
        return self.trial(n, [0.5, 0.5]), None


class Abstract(Strategy):
    pass


class BadInit(Fine):
    def __init__(self, *args, **kwargs):
        raise ValueError("no config for me")


class Short(Strategy):
    def ask(self, n):
        return self.trial(n, [0.5]), None


class Raises(Fine):
    def ask(self, n):
        if n >= 2:
            raise RuntimeError("my strategy broke")
        return super().ask(n)


class NoAnswer(Strategy):
    def ask(self, n):
        return None


class NaN(Strategy):
    def ask(self, n):
        return self.trial(n, [math.nan, 0.5]), None


class OwnTrial(Strategy):
    def ask(self, n):
        return Trial(n, {"x": 2.0, "y": 0.5}, (2.0, 0.5), 0), None


class Renumbered(Strategy):
    def ask(self, n):
        return self.trial(n + 100, [0.5, 0.5]), None


class Exits(Strategy):
    def ask(self, n):
        raise SystemExit(0)


class BadTell(Fine):
    def tell(self, result):
        raise KeyError("oops")


class Ahead(Fine):
    def needs(self, n):
        return n + 1


class NoNeeds(Fine):
    def needs(self, n):
        return None


class BadRound(Strategy):
    def ask(self, n):
        return self.trial(n, [0.5, 0.5]), "round one"
"""


def at(text: str) -> int:
    """The line of BROKEN that holds `text`."""
    return next(i for i, line in enumerate(BROKEN.splitlines(), 1) if text in line)


@pytest.mark.parametrize("cls, ended, message", [
    ("Abstract", 0, "broke:Abstract(...) raised TypeError: Can't instantiate abstract class "
                    "Abstract"),
    ("BadInit", 0, "broke:BadInit(...) raised ValueError: no config for me (at broke.py:"
                   f"{at('no config for me')})"),
    ("Short", 0, "Short.ask(0) raised ValueError: a point of 1 coordinate for a space of 2 "
                 f"searched parameters (x, y) (at broke.py:{at('[0.5]')})"),
    ("Raises", 0, "Raises.ask(2) raised RuntimeError: my strategy broke (at broke.py:"
                  f"{at('my strategy broke')})"),
    ("NoAnswer", 0, "NoAnswer.ask(0) returned None; it returns (trial, round or None)"),
    ("NaN", 0, "NaN.ask(0) raised ValueError: x's coordinate is nan: each is in 0..1"),
    ("OwnTrial", 0, "OwnTrial.ask(0) returned a trial off the unit cube: x's coordinate is 2.0"),
    ("Renumbered", 0, "Renumbered.ask(0) returned trial 100: each trial is numbered as asked"),
    ("Exits", 0, f"Exits.ask(0) raised SystemExit: 0 (at broke.py:{at('SystemExit')})"),
    ("BadTell", 1, f"BadTell.tell(trial 0) raised KeyError: 'oops' (at broke.py:{at('oops')})"),
    ("Ahead", 0, "Ahead.needs(0) returned 1: a trial can wait for the trials numbered below it"),
    ("NoNeeds", 0, "NoNeeds.needs(0) returned None: a trial number"),
    ("BadRound", 0, "BadRound.ask(0) returned a str ('round one') as its round"),
])
def test_a_strategy_that_misbehaves_is_named_in_one_line_never_the_objective(
        runner, cls, ended, message):
    """Whatever a user's strategy raises or returns amiss stops the run with its class, method
    and what went wrong (exit 2, no traceback); what ended stays stored, the run resumable."""
    Path("broke.py").write_text(BROKEN)
    Path("sum_xy.py").write_text("def f(p):\n    return p['x'] + p['y']\n")
    Path("c.yaml").write_text(f"name: c\nobjective: {{function: 'sum_xy:f'}}\n"
                              f"search: {{trials: 4, strategy: 'broke:{cls}'}}\n"
                              "parallel: {n_jobs: 1}\n"
                              "space: {x: {uniform: [0, 1]}, y: {uniform: [0, 1]}}\n")
    out = runner.invoke(cli, ["run", "c.yaml", "-q"])
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.exit_code == 2, out.output
    assert lines[0].startswith(f"Error: search.strategy: {message}"), lines
    assert "Traceback" not in out.output and "objective" not in out.output
    if ended:
        assert lines[1:] == [f"The 1 trial that ended is stored in {Path('runs', 'c')}; once "
                             f"the strategy is fixed, continue with: hpsearch resume "
                             f"{Path('runs', 'c')}"]
        (run,) = list_runs()
        assert run["status"] == "interrupted" and run["trials"] == 1
    else:
        assert len(lines) == 1
        assert not Path("runs").exists() or not list(Path("runs").iterdir())


def test_sample_shows_the_points_a_users_strategy_proposes_before_any_result(runner):
    for name in ("perturb_best.py", "search.yaml"):
        Path(name).write_text((EXAMPLE / name).read_text())
    out = runner.invoke(cli, ["sample", "search.yaml", "-n", "30", "--format", "json",
                              "--set", "search.lookahead=4"])
    assert out.exit_code == 0, out.output
    cls = user_strategy("perturb_best:PerturbBest", ["."])
    strategy = cls(load_config("search.yaml").space, "maximize", trials=30, seed=0,
                   lookahead=4)
    expected = [strategy.ask(n)[0].params for n in range(5)]  # needs nothing up to trial 4
    assert json.loads(out.stdout) == expected  # full precision
    assert "perturb_best:PerturbBest proposes these 5 before any result, and the other 25 " \
        "from the results" in out.stderr
    refused = runner.invoke(cli, ["sample", "search.yaml", "--sampler", "sobol"])
    assert refused.exit_code == 2 and "proposes the points, not a sampler" in refused.output
    Path("broke.py").write_text(BROKEN)
    broken = runner.invoke(cli, ["sample", "search.yaml", "--set",
                                 "search.strategy=broke:Short"])
    assert broken.exit_code == 2
    assert "search.strategy: Short.ask(0) raised ValueError: a point of 1 coordinate" in \
        broken.output


def test_a_trial_the_strategy_gave_peers_keeps_them_under_early_stopping():
    trials = plan_trials(SPACE, "random", 6, 0)
    trials[4] = Trial(4, trials[4].params, trials[4].unit, 9, peers=0)  # never to be stopped
    evaluator = InOrder()
    drive(Planned(SPACE, "maximize", Round(1, whole(SPACE), 6), trials), evaluator, lookahead=2)
    assert evaluator.peers == {0: -2, 1: -1, 2: 0, 3: 1, 4: 0, 5: 3}


def test_not_reproducible_it_keeps_the_workers_busy_and_learns_from_every_result_in():
    """search.reproducible: false: as many trials in flight as workers, the next asked the
    moment one ends, results told as they end, a round planned from all told by then."""

    class Counted(Shuffled):
        def __init__(self, seed):
            super().__init__(seed)
            self.most = 0

        def submit(self, trials):
            super().submit(trials)
            self.most = max(self.most, len(self.running))

    strategy = Told(SPACE, "maximize", trials=40, seed=0, rounds=4, lookahead=4,
                    reproducible=False)
    evaluator = Counted(1)
    rounds: list[Round] = []
    drive(strategy, evaluator, on_round=rounds.append, workers=4)
    assert evaluator.most == 4 and evaluator.submitted[0] == [0, 1, 2, 3]
    assert all(len(batch) == 1 for batch in evaluator.submitted[1:])
    tells = [n for call, n in strategy.calls if call == "tell"]
    assert sorted(tells) == list(range(40)) and tells != list(range(40))  # as trials ended
    for i, (call, number) in enumerate(strategy.calls):
        if call == "ask" and number in strategy.starts[1:]:  # a round: every result in, 3 out
            assert sum(c == "tell" for c, _ in strategy.calls[:i]) == number - 4 + 1
    assert [r.number for r in rounds] == [1, 2, 3, 4] and not rounds[-1].region.is_whole
    # the reproducible search of the same seed learns from fewer: rounds wait on the slowest
    assert strategy.needs(strategy.starts[2]) == 0
    assert CoarseToFine(SPACE, "maximize", trials=40, seed=0, rounds=4,
                        lookahead=4).needs(strategy.starts[2]) == strategy.starts[2] - 4


def test_not_reproducible_a_config_says_so_and_a_resume_keeps_what_was_stored(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("objective: {function: m:f}\nsearch: {trials: 30, reproducible: false}\n"
                      "space: {x: {uniform: [0, 1]}, y: {log: [1.0e-3, 1]}}\n")
    search = load_config(config).search
    assert search.reproducible is False
    strategy = strategy_for(load_config(config).space, replace(search, rounds=4, lookahead=2))
    assert isinstance(strategy, CoarseToFine) and not strategy.reproducible
    def scored(trial):
        return TrialResult(trial, Status.COMPLETE, (-abs(trial.params["x"] - 0.3),))

    stored = {n: scored(strategy.trial(n, (0.5, 0.5))) for n in range(6)}  # another point
    evaluator = InOrder(scored)
    drive(strategy, evaluator, known=lambda t: stored.get(t.number), workers=2)
    assert sorted(n for batch in evaluator.submitted for n in batch) == list(range(6, 30))
    assert {r.number for r in strategy.results} == set(range(30))


def test_a_run_that_need_not_be_reproducible_says_so_and_one_with_its_own_strategy_is_refused(
        runner):
    Path("bowl.py").write_text("def f(p):\n    return -(p['x'] - 0.3) ** 2\n")
    Path("c.yaml").write_text("objective: {function: bowl:f}\n"
                              "search: {trials: 24, reproducible: false}\n"
                              "parallel: {n_jobs: 2, backend: threading}\n"
                              "space: {x: {uniform: [0, 1]}}\n")
    out = runner.invoke(cli, ["run", "c.yaml"])
    assert out.exit_code == 0, out.output
    assert "search.reproducible: false: two runs of a seed may differ" in out.output
    (run,) = list_runs()
    assert run["trials"] == 24
    Path("d.yaml").write_text((EXAMPLE / "search.yaml").read_text().replace(
        "strategy: perturb_best:PerturbBest",
        "strategy: perturb_best:PerturbBest\n  reproducible: false"))
    out = runner.invoke(cli, ["run", "d.yaml"])
    assert out.exit_code == 2 and "search.reproducible: applies to the built-in search" in \
        out.output, out.output
