"""Shared by the chapter 5 tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread_per_module: None) -> None:
    """Every chapter 5 test module runs torch on one thread (see tests/conftest.py)."""
