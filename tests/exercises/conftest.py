"""The `ex` fixture: the implementation under check — the reference library or a learner's exercises.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from zero2hero.checks import load_learner_module, reference_namespace, stub_path


@pytest.fixture(scope="module")
def ex(request):  # noqa: ANN001, ANN201
    chapter = request.module.CHAPTER
    choice = request.config.getoption("--exercises")
    if choice == "solution":
        return reference_namespace(request.module.REFERENCE)
    path = stub_path(chapter) if choice == "stub" else Path(choice)
    return load_learner_module(path)
