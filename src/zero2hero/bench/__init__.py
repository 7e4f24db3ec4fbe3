"""Benchmarks: a figure measured against a peer in the same run, on the same machine.

A benchmark is a module ``zero2hero.bench.<name>`` defining ``DESCRIPTION: str`` and
``run(quick: bool = False) -> BenchResult``. ``z2h bench <name>`` prints its tables; with ``--json``, one
JSON object of its figures. The contract (docs/contracts.md), checked when a result is built:

* a figure's name is ``<subject>_<quantity>_<unit suffix>`` (see :mod:`zero2hero.units`); a ratio's name
  says its direction (``speedup_ours_over_rust_ratio``);
* numbers are stored unrounded — rounding happens only in the tables;
* per-level results are a list of row objects under one key, each row following the same rule;
* timings come from :mod:`zero2hero.measure`, the candidates alternating over rounds.

Benchmarks are not timed tests: they report, they do not assert.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from zero2hero.errors import UnknownNameError
from zero2hero.reporting import Table
from zero2hero.units import naming_problem


def contract_problems(figures: dict[str, Any], where: str = "") -> list[str]:
    """Every way ``figures`` breaks the bench contract (empty when it follows it)."""
    problems = []
    for key, value in figures.items():
        if isinstance(value, list):  # rows: one object per level / engine / trainer
            if not value or not all(isinstance(row, dict) for row in value):
                problems.append(f"{where}{key}: a list must hold row objects")
            for i, row in enumerate(value if isinstance(value, list) else []):
                problems += contract_problems(row, f"{where}{key}[{i}].") if isinstance(row, dict) else []
        elif isinstance(value, str):  # a label: the row's level or engine name, a model name
            if not key.replace("_", "").isalnum() or key != key.lower():
                problems.append(f"{where}{key}: a label's name must be lower snake case")
        elif isinstance(value, bool | int | float):
            problem = naming_problem(key)
            if problem:
                problems.append(where + problem)
        else:
            problems.append(f"{where}{key}: {type(value).__name__} is not a number, bool, label or list of rows")
    return problems


@dataclass
class BenchResult:
    name: str
    figures: dict[str, Any]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        problems = contract_problems(self.figures)
        if problems:
            raise ValueError(f"bench {self.name} breaks the figure contract: " + "; ".join(problems))


def available_benchmarks() -> dict[str, str]:
    """Benchmark name (dashes) -> module name."""
    names = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_"):
            names[module.name.replace("_", "-")] = f"{__name__}.{module.name}"
    return dict(sorted(names.items()))


def get_benchmark(name: str) -> ModuleType:
    benchmarks = available_benchmarks()
    if name not in benchmarks:
        raise UnknownNameError(f"unknown benchmark {name!r}", f"choose one of: {', '.join(benchmarks)}")
    return importlib.import_module(benchmarks[name])


def benchmark_description(name: str) -> str:
    """A benchmark's ``DESCRIPTION``, read from its source without importing it (so listing needs no torch)."""
    import ast
    import importlib.util

    source = Path(importlib.util.find_spec(available_benchmarks()[name]).origin).read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DESCRIPTION" for t in node.targets):
            return ast.literal_eval(node.value)
    return ""
