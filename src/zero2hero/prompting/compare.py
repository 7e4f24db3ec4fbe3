"""``z2h prompt compare``: two prompt runs on the same prompt set, paired over the items both answered.

Each run's first condition is compared (a run of one condition per prompt is the usual case); the paired bootstrap
interval of the difference and an exact McNemar test come from :func:`~zero2hero.prompting.stats.compare_paired`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.prompting.report import SavedRun, read_run
from zero2hero.prompting.stats import PairedComparison, compare_paired


@dataclass
class RunComparison:
    condition_a: str
    condition_b: str
    items: int  # the common item ids compared
    comparison: PairedComparison


def _first_condition(run: SavedRun) -> tuple[str, dict[str, float]]:
    """The run's first condition and its item id -> 1.0 / 0.0 (correct or not)."""
    if not run.records:
        raise InputError(f"{run.folder} holds no records", "run z2h prompt run again")
    condition = run.records[0]["condition"]
    correct = {r["id"]: float(r["correct"]) for r in run.records
               if r["condition"] == condition and r.get("correct") is not None}
    return condition, correct


def compare_runs(run_a: Path, run_b: Path) -> RunComparison:
    """B's first condition against A's, over the item ids both have; :class:`InputError` when the runs used
    different prompt sets, have no item in common, or have nothing checkable (free-text sets)."""
    a, b = read_run(run_a), read_run(run_b)
    set_a, set_b = a.meta.get("prompt_set"), b.meta.get("prompt_set")
    if set_a != set_b:
        raise InputError(f"the runs used different prompt sets ({set_a!r} and {set_b!r})",
                         "compare two runs of the same prompt set")
    (name_a, correct_a), (name_b, correct_b) = _first_condition(a), _first_condition(b)
    if not correct_a or not correct_b:
        raise InputError(f"the prompt set {set_a!r} has no right answers to compare",
                         "score its rubric with z2h prompt score and compare the rubric means")
    common = [item for item in correct_a if item in correct_b]
    if not common:
        raise InputError("the two runs have no item id in common",
                         "run both on the same items (the same --split and --limit)")
    comparison = compare_paired([correct_a[i] for i in common], [correct_b[i] for i in common],
                                names=(f"A ({name_a})", f"B ({name_b})"))
    return RunComparison(name_a, name_b, len(common), comparison)
