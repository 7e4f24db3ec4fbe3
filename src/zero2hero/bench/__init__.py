"""Benchmarks: a ratio against a peer measured in the same run, on the same machine.

A benchmark is a module ``zero2hero.bench.<name>`` defining ``DESCRIPTION: str`` and
``run(quick: bool = False) -> BenchResult``. ``z2h bench <name>`` prints its table; with ``--json``,
one JSON object of its figures, whose names carry their units (``decode_tokens_per_s``, ``peak_rss_mb``).
Benchmarks are not timed tests: they report, they do not assert.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from zero2hero.errors import UnknownNameError
from zero2hero.reporting import Table


@dataclass
class BenchResult:
    name: str
    figures: dict[str, float | int | str | bool]  # unit-carrying names: "ours_seconds", "speed_ratio"
    table: Table
    notes: list[str] = field(default_factory=list)


def available_benchmarks() -> dict[str, str]:
    """Benchmark name (dashes) -> module name."""
    names = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_") and module.name != "measure":
            names[module.name.replace("_", "-")] = f"{__name__}.{module.name}"
    return dict(sorted(names.items()))


def get_benchmark(name: str) -> ModuleType:
    benchmarks = available_benchmarks()
    if name not in benchmarks:
        raise UnknownNameError(f"unknown benchmark {name!r}", f"choose one of: {', '.join(benchmarks)}")
    return importlib.import_module(benchmarks[name])
