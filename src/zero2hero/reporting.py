"""Lab results and run directories: metrics with units, tables, figures, a markdown report.

A lab returns a :class:`LabResult`. :func:`write_run` turns it into ``runs/<timestamp>-<lab>/`` with
``report.md``, ``metrics.json``, ``config.json``, ``environment.json`` and the PNG figures — written
under a temporary name and renamed at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

# Libraries whose versions every report records.
_TRACKED_PACKAGES = (
    "torch", "transformers", "tokenizers", "safetensors", "accelerate", "gguf", "peft", "trl",
    "numpy", "scikit-learn", "llama-cpp-python", "stopwordsiso",
)


@dataclass
class Metric:
    """One measured number; ``unit`` is always given ("s", "MB", "tokens/s", "ratio", "count", ...)."""

    name: str
    value: float
    unit: str
    description: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""

    def to_markdown(self) -> str:
        def cell(value: Any) -> str:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"| {' | '.join(self.columns)} |", f"|{'---|' * len(self.columns)}"]
        lines += [f"| {' | '.join(cell(v) for v in row)} |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Figure:
    """A PNG written into the run directory; ``filename`` is relative to it."""

    title: str
    filename: str
    caption: str = ""


@dataclass
class LabResult:
    lab: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # markdown paragraphs: observations from this run

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def add_metric(self, name: str, value: float, unit: str, description: str = "") -> None:
        self.metrics.append(Metric(name, float(value), unit, description))


class RunContext:
    """Handed to a lab while it runs: the folder to write figures into, and progress reporting."""

    def __init__(self, out_dir: Path, progress: Any = None) -> None:
        self.out_dir = out_dir
        self._progress = progress

    def save_figure(self, fig: Any, filename: str, title: str, caption: str = "") -> Figure:
        """Save a matplotlib figure as PNG into the run folder and close it."""
        import matplotlib.pyplot as plt

        fig.savefig(self.out_dir / filename, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return Figure(title, filename, caption)

    def step(self, description: str) -> None:
        """Report that the lab moved on to a new step (shown by the CLI's progress display)."""
        if self._progress is not None:
            self._progress(description)


def environment() -> dict[str, Any]:
    """Library versions and hardware, recorded with every run."""
    import psutil

    versions = {}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "packages": versions,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def _jsonable(config: Any) -> Any:
    if is_dataclass(config):
        config = asdict(config)
    return json.loads(json.dumps(config, default=str))


def render_markdown(result: LabResult, config: Any, seconds: float, heading_level: int = 1) -> str:
    """The report of one lab run as markdown (figures linked by relative path)."""
    h = "#" * heading_level
    parts = [f"{h} {result.title}", f"Lab `{result.lab}` — ran in {seconds:.1f} s."]
    if result.metrics:
        metrics = Table("Metrics", ["metric", "value", "unit", "what it is"],
                        [[m.name, m.value, m.unit, m.description] for m in result.metrics])
        parts += [f"{h}# Metrics", metrics.to_markdown()]
    for table in result.tables:
        parts += [f"{h}# {table.title}", table.to_markdown()]
        if table.caption:
            parts.append(f"*{table.caption}*")
    for figure in result.figures:
        parts += [f"{h}# {figure.title}", f"![{figure.title}]({figure.filename})"]
        if figure.caption:
            parts.append(f"*{figure.caption}*")
    if result.notes:
        parts += [f"{h}# Observations", *result.notes]
    parts += [f"{h}# Configuration", "```json", json.dumps(_jsonable(config), indent=2), "```"]
    return "\n\n".join(parts) + "\n"


def _timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``final``; rename it to ``final`` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def run_dir_name(lab: str) -> str:
    return f"{_timestamp()}-{lab}"


def write_files(folder: Path, result: LabResult, config: Any, seconds: float, heading_level: int = 1) -> str:
    """Write report.md, metrics.json, config.json and environment.json into an (open) run folder."""
    report = render_markdown(result, config, seconds, heading_level)
    (folder / "report.md").write_text(report, encoding="utf-8")
    metrics = {m.name: {"value": m.value, "unit": m.unit, "description": m.description} for m in result.metrics}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(_jsonable(config), indent=2), encoding="utf-8")
    (folder / "environment.json").write_text(json.dumps(environment(), indent=2), encoding="utf-8")
    return report


class Stopwatch:
    """Wall-clock seconds since creation (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

