"""`z2h check` and `z2h list`: time-outs, progress as checks finish, interrupts, and which status is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zero2hero.checks
from zero2hero.checks import status, stub_path
from zero2hero.checks.runner import run_checks
from zero2hero.cli import app


def _learner_file(folder: Path, function: str, body: str) -> Path:
    """Chapter 1's stubs with ``function``'s ``raise NotImplementedError`` replaced by ``body``."""
    text = stub_path(1).read_text(encoding="utf-8")
    start = text.index(f"def {function}(")
    cut = text.index("raise NotImplementedError", start)
    path = folder / "exercises.py"
    path.write_text(text[:cut] + body + text[cut + len("raise NotImplementedError"):], encoding="utf-8")
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _as_course_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` the course's own chapter-1 exercises.py, for the CLI and for the status."""
    monkeypatch.setattr(zero2hero.checks, "stub_path", lambda chapter: path)
    monkeypatch.setattr(status, "stub_path", lambda chapter: path)


def test_a_loop_that_never_ends_times_out(tmp_path: Path) -> None:
    loop = _learner_file(tmp_path, "count_ngrams", "while True:\n        pass")
    z2h = Path(sys.executable).parent / "z2h"
    start = time.monotonic()
    result = subprocess.run([str(z2h), "check", "1", "--file", str(loop), "--timeout", "1"],
                            capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "500"})
    assert result.returncode == 1
    out = result.stdout
    assert out.count("took longer than 1 s — look for a loop that never ends") == 2, out  # the two n-gram checks
    assert "0/12 checks pass" in out and time.monotonic() - start < 120
    # Progress: the file being checked comes first, then one line per check in the order they ran.
    assert out.index(f"checking {loop}") < out.index("normalize whitespace worked example") < out.index(
        "count ngrams edges") < out.index("checks pass")


def test_each_outcome_is_reported_as_its_check_finishes(tmp_path: Path) -> None:
    seen = []
    outcomes = run_checks(1, stub_path(1), on_outcome=seen.append)
    assert len(outcomes) >= 4 and seen == outcomes


def test_interrupt_records_nothing_and_says_so(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learner = _learner_file(tmp_path, "normalize_whitespace", "raise KeyboardInterrupt")
    _as_course_file(monkeypatch, learner)
    result = CliRunner().invoke(app, ["check", "1"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "nothing was recorded" in result.output
    assert "checks pass" not in result.output
    assert not (cache / "check-status.json").exists()
    with pytest.raises(KeyboardInterrupt):
        run_checks(1, learner)


def test_only_the_course_file_records_a_status(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = _learner_file(tmp_path, "normalize_whitespace", "return ' '.join(text.split())")
    assert CliRunner().invoke(app, ["check", "1", "--file", str(other)]).exit_code == 1
    assert not (cache / "check-status.json").exists(), "--file does not overwrite the chapter's status"
    _as_course_file(monkeypatch, other)
    assert CliRunner().invoke(app, ["check", "1"]).exit_code == 1
    assert status.exercise_status(1).endswith("/12 pass")


def test_list_shows_a_syntax_error_instead_of_crashing(tmp_path: Path, cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    broken = _learner_file(tmp_path, "strip_accents", "return text.replace(")
    _as_course_file(monkeypatch, broken)
    line = broken.read_text().splitlines().index("    return text.replace(") + 1  # the unclosed bracket's line
    assert status.exercise_status(1) == f"syntax error line {line}"
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"syntax error line {line}" in result.output


def test_corrupt_status_file_is_treated_as_missing(tmp_path: Path, cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    edited = _learner_file(tmp_path, "normalize_whitespace", "return text")
    _as_course_file(monkeypatch, edited)
    cache.mkdir()
    for corrupt in ('{"1": {"passed": 3, "tot', '{"1": "3/12"}', "\xff"):
        (cache / "check-status.json").write_text(corrupt, encoding="latin-1")
        assert status.exercise_status(1) == "edited — run `z2h check`"
        status.record_status(1, 3, 12)
        assert status.exercise_status(1) == "3/12 pass"
