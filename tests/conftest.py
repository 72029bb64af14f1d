"""Shared fixtures: an in-process CLI runner in an isolated folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

# A test that stops a run with Ctrl-C needs SIGINT to reach it; a shell that runs the suite in
# the background (`.ci/run &`) starts it with SIGINT ignored, which every child would inherit.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CliRunner whose working folder is a fresh temporary one (relative runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text) -> Path of a file in the test's folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HPSEARCH_TEST", "1")
