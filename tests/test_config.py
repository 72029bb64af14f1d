"""Config loading: sections, defaults, paths, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.config import load_config
from hpsearch.errors import ConfigError
from hpsearch.space import Int, Log

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
name: tiny
objective: {function: "math:sqrt"}
space:
  lr: {scale: log, low: 1e-4, high: 1}
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_config_gets_defaults(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.name == "tiny"
    assert cfg.objective.kind == "function"
    assert cfg.objective.path == (str(tmp_path.resolve()),)  # the config's folder imports
    assert cfg.space.scales["lr"] == Log(1e-4, 1.0)  # 1e-4 is read as a number
    assert (cfg.search.trials, cfg.search.sampler, cfg.search.seed) == (20, "random", 0)
    assert (cfg.cv.folds, cfg.search.direction) == (5, "maximize")
    assert cfg.parallel.n_jobs == -1 and cfg.parallel.backend == "loky"


def test_direction_belongs_to_the_search_and_is_still_read_from_cv(tmp_path):
    assert load_config(write(tmp_path, MINIMAL + "search: {direction: minimize}\n")) \
        .search.direction == "minimize"
    assert load_config(write(tmp_path, MINIMAL + "cv: {direction: minimize}\n")) \
        .search.direction == "minimize"


def test_name_defaults_to_the_file_stem(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL.replace("name: tiny\n", ""), "my-search.yaml"))
    assert cfg.name == "my-search"


def test_resolved_config_reads_back_equal(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + "  layers: {int: [1, 3]}\n  epochs: 5\n"))
    again = load_config(cfg.to_dict())
    assert again.space == cfg.space
    assert again.objective == cfg.objective
    assert (again.search, again.cv, again.parallel) == (cfg.search, cfg.cv, cfg.parallel)
    assert again.space.scales["layers"] == Int(1, 3)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    load_config(path)


BAD = [
    # (text appended to or replacing the config, line, key, message)
    ("space:\n  lr: {scale: log, low: 1e-4, high: 1\n", 5, None, "YAML syntax error"),
    ("space:\n  lr: {scale: logg, low: 1, high: 2}\n", 4, "space.lr.scale", "did you mean"),
    ("space:\n  lr: {scale: uniform, low: 5, high: 1}\n", 4, "space.lr.low", "low < high"),
    ("space:\n  lr: {scale: log, low: 0, high: 1}\n", 4, "space.lr.low", "low > 0"),
    ("space:\n  b: {one_minus_log: [0.9, 1.5]}\n", 4, "space.b.high", "0 < high < 1"),
    ("space:\n  n: {scale: int, low: 2.5, high: 4}\n", 4, "space.n.low", "whole number"),
    ("space:\n  act: {scale: choice, values: []}\n", 4, "space.act.values", "at least one"),
    ("space:\n  lr:\n    scale: log\n    low: 1e-4\n    hihg: 1\n", 7, "space.lr.hihg", "'high'"),
    ("", 1, "space", "missing"),
    ("spaec:\n  lr: [1, 2]\n", 3, "spaec", "did you mean 'space'"),
    ("search: {trials: 0}\nspace: {x: [1, 2]}\n", 3, "search.trials", ">= 1"),
    ("search: {sampler: sobl}\nspace: {x: [1, 2]}\n", 3, "search.sampler", "did you mean 'sobol'"),
    ("search: {trials: many}\nspace: {x: [1, 2]}\n", 3, "search.trials", "whole number"),
    ("cv: {direction: max}\nspace: {x: [1, 2]}\n", 3, "cv.direction", "maximize"),
    ("search: {direction: min}\nspace: {x: [1, 2]}\n", 3, "search.direction", "minimize"),
    ("search: {direction: minimize}\ncv: {direction: maximize}\nspace: {x: [1, 2]}\n", 3,
     "search.direction", "keep search.direction"),
    ("parallel: {n_jobs: 0}\nspace: {x: [1, 2]}\n", 3, "parallel.n_jobs", "-1 for all cores"),
    ("data: {dataset: mnist}\nspace: {x: [1, 2]}\n", 3, "data.dataset", "choose one of"),
    ("data: {path: nope.csv, target: y}\nspace: {x: [1, 2]}\n", 3, "data.path", "not found"),
    ("space: {x: [1, 2]}\nspace: {y: [1, 2]}\n", 4, None, "duplicate key 'space'"),
    ("search:\n  trials: 4\n  rounds: 5\nspace: {x: [1, 2]}\n", 5, "search.rounds",
     "cannot exceed search.trials"),
]


@pytest.mark.parametrize("tail, line, key, message", BAD)
def test_errors_name_file_line_and_key(tmp_path, tail, line, key, message):
    head = 'name: bad\nobjective: {function: "math:sqrt"}\n'
    path = write(tmp_path, head + tail)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    error = info.value
    assert (error.line, error.key) == (line, key)
    assert str(error).startswith(f"{path}:{line}:")


def test_objective_needs_exactly_one_kind(tmp_path):
    path = write(tmp_path, "objective: {fixed: {a: 1}}\nspace: {x: [1, 2]}\n")
    with pytest.raises(ConfigError, match="give exactly one of estimator"):
        load_config(path)


def test_command_placeholders_must_name_parameters(tmp_path):
    path = write(tmp_path, 'objective: {command: [echo, "{lr}", "{trial}", "{lrr}"]}\n'
                           "space: {lr: {log: [1.0e-4, 1]}}\n")
    with pytest.raises(ConfigError, match=r"placeholder \{lrr\}.*did you mean '\{lr\}'"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path, "name: !!python/object/apply:os.system ['true']\n" + MINIMAL)
    with pytest.raises(ConfigError, match="YAML"):
        load_config(path)
