"""Running one chapter's checks under pytest and collecting a per-check outcome for a readable summary."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from zero2hero.checks import check_file, repo_root


@dataclass
class CheckOutcome:
    name: str  # the test function's name, e.g. "test_normalize_unicode_folds_compatibility_forms"
    passed: bool
    message: str  # the first line that says what went wrong ("" when passed)


class _Collector:
    """A pytest plugin that keeps the outcome of each test's call phase (and setup errors)."""

    def __init__(self) -> None:
        self.outcomes: list[CheckOutcome] = []

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 (pytest hook signature)
        if report.when == "call" or (report.when == "setup" and report.failed):
            self.outcomes.append(CheckOutcome(report.head_line or report.nodeid, report.passed, _summary(report)))


def _summary(report) -> str:  # noqa: ANN001
    if report.passed:
        return ""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    if "NotImplementedError" in text:
        return "not implemented yet — replace the `raise NotImplementedError` with your code"
    return text.strip().splitlines()[0][:300] if text.strip() else "failed"


def run_checks(chapter: int, exercises: str | Path) -> list[CheckOutcome]:
    """Run chapter ``chapter``'s checks against ``exercises`` ("solution", "stub" or a file path)."""
    import pytest

    collector = _Collector()
    args = [str(check_file(chapter)), f"--exercises={exercises}", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(repo_root()), "-o", "addopts="]
    # pytest's own output is replaced by our summary; it stays available with `pytest` directly.
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        pytest.main(args, plugins=[collector])
    return collector.outcomes
