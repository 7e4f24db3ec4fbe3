"""Shared test set-up: offline mode, few threads, and the `--exercises` option for exercise checks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from zero2hero.checks.feedback import one_thread

# Nothing may reach a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--exercises",
        default="solution",
        help="what the exercise checks test: 'solution' (the reference library), 'stub' (course/NN-*/exercises.py)"
        " or a path to a learner's exercises.py",
    )


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct (model, tokenizer) from the offline default, loaded once per test session."""
    from zero2hero.assets import load_causal_lm

    return load_causal_lm("smollm2")


@pytest.fixture(scope="session")
def minilm():
    """all-MiniLM-L6-v2 (model, tokenizer) from the offline default, loaded once per test session."""
    from zero2hero.assets import load_encoder

    return load_encoder("minilm")


@pytest.fixture(scope="module")
def one_thread_per_module() -> Iterator[None]:
    """One torch thread for a whole test module: on a small shared CPU, tiny models run many times faster than with
    several. A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread_per_module")``."""
    with one_thread():
        yield
