"""The examples in the package's docstrings run, and give what they show; every module imports without a model."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import zero2hero

MODULES = sorted(module.name for module in pkgutil.walk_packages(zero2hero.__path__, "zero2hero.")
                 if module.name != "zero2hero.__main__")  # running it is running the CLI


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)  # importing must not load a model or read a data file
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail (output above)"


def test_the_examples_are_found() -> None:
    attempted = {name: doctest.testmod(importlib.import_module(name)).attempted for name in MODULES}
    assert attempted["zero2hero.tokenization.bpe"] >= 2 and attempted["zero2hero.text.normalize"] >= 1
