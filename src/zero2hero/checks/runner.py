"""Running one chapter's checks under pytest and collecting a per-check outcome for a readable summary.

Each check may take at most ``timeout_s`` seconds (pytest-timeout), so a loop that never ends in a
learner's code fails that check instead of hanging ``z2h check``; each outcome is handed to
``on_outcome`` as soon as its check finishes, so progress shows while the checks run.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from zero2hero.checks import check_file, repo_root
from zero2hero.checks.feedback import CheckFailure

DEFAULT_TIMEOUT_S = 60.0


@dataclass
class CheckOutcome:
    name: str  # the test function's name, e.g. "test_normalize_unicode_folds_compatibility_forms"
    passed: bool
    message: str  # what went wrong, possibly several lines ("" when passed)


class _Collector:
    """A pytest plugin that keeps the outcome of each test's call phase (and setup errors), and notes Ctrl-C."""

    def __init__(self, timeout_s: float, on_outcome: Callable[[CheckOutcome], None] | None) -> None:
        self.outcomes: list[CheckOutcome] = []
        self.interrupted = False
        self._timeout_s = timeout_s
        self._on_outcome = on_outcome
        self._stdout, self._stderr = sys.stdout, sys.stderr  # the caller's, before pytest's output is hidden

    def pytest_runtest_logreport(self, report) -> None:  # pytest hook signature
        if report.when == "call" or (report.when == "setup" and report.failed):
            message = _timeout_message(self._timeout_s) if _timed_out(report) else _summary(report)
            outcome = CheckOutcome(report.head_line or report.nodeid, report.passed, message)
            self.outcomes.append(outcome)
            if self._on_outcome is not None:
                with redirect_stdout(self._stdout), redirect_stderr(self._stderr):
                    self._on_outcome(outcome)

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True


def _timed_out(report) -> bool:
    return report.failed and "from pytest-timeout" in str(report.longrepr)


def _timeout_message(timeout_s: float) -> str:
    return f"took longer than {timeout_s:g} s — look for a loop that never ends"


_FAILURE_PREFIX = f"{CheckFailure.__module__}.{CheckFailure.__name__}: "
_MAX_LINES = 16  # of an unexpected error's message; a CheckFailure's own message is shown whole


def _summary(report) -> str:
    """What went wrong, for a learner: a check's whole explanation (expected / got / hint), or the first lines
    of any other error."""
    if report.passed:
        return ""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = (crash.message if crash is not None else str(report.longrepr)).strip()
    if "NotImplementedError" in text:
        return "not implemented yet — replace the `raise NotImplementedError` with your code"
    if text.startswith(_FAILURE_PREFIX):
        return text.removeprefix(_FAILURE_PREFIX)
    return "\n".join(text.splitlines()[:_MAX_LINES]) or "failed"


def run_checks(chapter: int, exercises: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S,
               on_outcome: Callable[[CheckOutcome], None] | None = None) -> list[CheckOutcome]:
    """Run chapter ``chapter``'s checks against ``exercises`` ("solution", "stub" or a file path).

    Raises ``KeyboardInterrupt`` when the run was interrupted (pytest itself swallows it), so that a
    partial result is never taken for a whole one.
    """
    import pytest

    collector = _Collector(timeout_s, on_outcome)
    args = [str(check_file(chapter)), f"--exercises={exercises}", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(repo_root()), "-o", "addopts=", f"--timeout={timeout_s}", "--capture=sys"]
    # pytest's own output is replaced by our summary; it stays available with `pytest` directly.
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        pytest.main(args, plugins=[collector])
    if collector.interrupted:
        raise KeyboardInterrupt
    return collector.outcomes
