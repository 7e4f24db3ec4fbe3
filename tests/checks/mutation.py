"""What the hint tests share: a reference function with one line changed, and the message its check fails with."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from zero2hero.checks.feedback import CheckFailure, one_thread


def failure_message(check: Callable, *args: object) -> str:
    """The :class:`CheckFailure` message of ``check(*args)`` (one thread, as ``z2h check`` runs it)."""
    with one_thread(), pytest.raises(CheckFailure) as failure:
        check(*args)
    return str(failure.value)


def with_changed_line(reference: dict[str, str], function: str, old: str, new: str) -> SimpleNamespace:
    """The reference functions (``reference``: name → module), ``function`` taken from a copy of its module in which
    ``old`` is replaced by ``new`` — the way a learner's solution differs from the reference by one mistake."""
    module = importlib.import_module(reference[function])
    source = inspect.getsource(module)
    assert source.count(old) == 1, f"{module.__name__} no longer holds {old!r} once"
    namespace = {"__name__": module.__name__}
    exec(compile(source.replace(old, new), module.__file__, "exec"), namespace)
    # the copy's classes (RequestError, Change, ...) are new objects: the checks know the originals, so use those
    namespace.update({name: value for name, value in vars(module).items() if inspect.isclass(value)})
    functions = {name: getattr(importlib.import_module(path), name) for name, path in reference.items()}
    return SimpleNamespace(**(functions | {function: namespace[function]}))
