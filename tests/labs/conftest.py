"""Each lab's quick run, made once per test session and shared by the lab's own test and the contract test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zero2hero.labs import get_lab
from zero2hero.labs.runner import LabRun, make_config, run_lab

# Labs that load a pretrained causal LM or train for tens of seconds: their quick runs are marked heavy.
HEAVY_LABS = {3, 4, 5, 6, 7, 8, 9, 10}


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], LabRun]:
    runs: dict[int, LabRun] = {}

    def get(chapter: int) -> LabRun:
        if chapter not in runs:
            lab = get_lab(chapter)
            runs[chapter] = run_lab(lab, make_config(lab, quick=True), tmp_path_factory.mktemp(f"lab{chapter}"))
        return runs[chapter]

    return get
