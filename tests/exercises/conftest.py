"""The `ex` fixture: the implementation under check — the reference library or a learner's exercises.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zero2hero.checks import load_learner_module, reference_namespace, stub_path
from zero2hero.checks.feedback import one_thread


@pytest.fixture(scope="module")
def ex(request):
    chapter = request.module.CHAPTER
    choice = request.config.getoption("--exercises")
    if choice == "solution":
        return reference_namespace(request.module.REFERENCE)
    path = stub_path(chapter) if choice == "stub" else Path(choice)
    return load_learner_module(path)


@pytest.fixture(autouse=True)
def _torch_on_one_thread() -> Iterator[None]:
    """Every check runs torch on one thread (see :func:`zero2hero.checks.feedback.one_thread`)."""
    with one_thread():
        yield
