"""Shared test set-up: offline mode, few threads, and the `--exercises` option for exercise checks."""

from __future__ import annotations

import os

# Nothing may reach a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser) -> None:  # noqa: ANN001
    parser.addoption(
        "--exercises",
        default="solution",
        help="what the exercise checks test: 'solution' (the reference library), 'stub' (course/NN-*/exercises.py)"
        " or a path to a learner's exercises.py",
    )
