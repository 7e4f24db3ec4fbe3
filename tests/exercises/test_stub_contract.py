"""Every chapter's stubs mirror the reference (signature and docstring) and cannot pass their checks.

The second test runs each chapter's checks against the untouched stubs: every check must fail there,
otherwise it is a check that cannot fail.
"""

from __future__ import annotations

import importlib
import inspect
import os

import pytest

from zero2hero.checks import (
    chapters_with_exercises,
    is_untouched_stub,
    load_learner_module,
    reference_namespace,
    stub_path,
)
from zero2hero.checks.runner import run_checks

CHAPTERS = chapters_with_exercises()


def _check_module(chapter: int):
    return importlib.import_module(f"tests.exercises.test_ch{chapter:02d}_exercises")


def test_there_are_exercise_chapters() -> None:
    assert 1 in CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_stubs_mirror_the_reference(chapter: int) -> None:
    reference = _check_module(chapter).REFERENCE
    stubs = load_learner_module(stub_path(chapter))
    solution = reference_namespace(reference)
    stub_functions = {name for name, f in vars(stubs).items()
                      if inspect.isfunction(f) and f.__module__ == stubs.__name__ and not name.startswith("_")}
    assert stub_functions == set(reference), "stubs and REFERENCE must list the same functions"
    assert len(stub_functions) >= 4, "each chapter has at least four exercises"
    for name in reference:
        ours, theirs = getattr(stubs, name), getattr(solution, name)
        assert str(inspect.signature(ours)) == str(inspect.signature(theirs)), f"{name}: signature differs"
        assert inspect.getdoc(ours) == inspect.getdoc(theirs), f"{name}: docstring differs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_fails_on_the_untouched_stubs(chapter: int) -> None:
    path = stub_path(chapter)
    if not is_untouched_stub(path):
        # A learner who has started the exercises edits this file; CI always has the pristine stubs.
        assert not os.environ.get("CI"), f"{path} is not the untouched stub file"
        pytest.skip(f"{path} has been edited, so it is not the untouched stub any more")
    outcomes = run_checks(chapter, "stub")
    assert len(outcomes) >= 4
    passing = [o.name for o in outcomes if o.passed]
    assert not passing, f"these checks pass on the untouched stubs, so they cannot fail: {passing}"

