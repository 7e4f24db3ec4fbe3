"""Lab results and run directories: metrics with units, tables, figures, a markdown report.

A lab returns a :class:`LabResult`. :func:`write_run` turns it into ``runs/<timestamp>-<lab>/`` with
``report.md``, ``metrics.json``, ``config.json``, ``environment.json`` and the PNG figures — written
under a temporary name and renamed at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from zero2hero.files import atomic_write_text
from zero2hero.units import unit_of

# Libraries whose versions every report records.
_TRACKED_PACKAGES = (
    "torch", "transformers", "tokenizers", "safetensors", "accelerate", "gguf", "peft", "trl",
    "numpy", "scikit-learn", "llama-cpp-python", "stopwordsiso",
)


@dataclass
class Metric:
    """One measured number. Its name ends with a unit suffix (see :mod:`zero2hero.units`); ``unit`` is
    the unit that suffix declares."""

    name: str
    value: float
    description: str = ""

    @property
    def unit(self) -> str:
        return unit_of(self.name)


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
class Section:
    """What one step of a lab produced: a lab's helpers return one, its ``run`` adds it to the result."""

    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # markdown paragraphs: observations from this run

    def metric(self, name: str, value: float, description: str = "") -> None:
        """Record a measured number; its name must end with a unit suffix (``ValueError`` otherwise)."""
        unit_of(name)
        self.metrics.append(Metric(name, float(value), description))

    def value(self, name: str) -> float:
        return next(m.value for m in self.metrics if m.name == name)


@dataclass
class LabResult(Section):
    """Everything a lab run measured. ``lab`` is the lab's id (its module name), set by the runner."""

    title: str = ""
    lab: str = ""

    def add(self, section: Section) -> None:
        """Append a step's metrics, tables, figures and notes (a metric name may appear only once)."""
        for metric in section.metrics:
            if any(m.name == metric.name for m in self.metrics):
                raise ValueError(f"metric {metric.name!r} is reported twice")
        self.metrics += section.metrics
        self.tables += section.tables
        self.figures += section.figures
        self.notes += section.notes


def new_figure(figsize: tuple[float, float], ncols: int = 1, nrows: int = 1, squeeze: bool = True) -> tuple[Any, Any]:
    """A matplotlib figure and its axes (one, a row of ``ncols``, or a grid; ``squeeze=False`` always gives a 2-D
    array of axes), drawn off-screen.

    Built with matplotlib's object-oriented API rather than pyplot: no window, no global state to close,
    and the same result on a laptop with a display and on a headless server.
    """
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


class RunContext:
    """Handed to a lab while it runs: the folder to write figures into, and progress reporting."""

    def __init__(self, out_dir: Path, progress: Any = None) -> None:
        self.out_dir = out_dir
        self._progress = progress

    def save_figure(self, fig: Any, filename: str, title: str, caption: str = "") -> Figure:
        """Save a matplotlib figure (see :func:`new_figure`) as PNG into the run folder."""
        fig.savefig(self.out_dir / filename, dpi=110, bbox_inches="tight")
        return Figure(title, filename, caption)

    def step(self, description: str) -> None:
        """Report that the lab moved on to a new step (shown by the CLI's progress display)."""
        if self._progress is not None:
            self._progress(description)


def environment() -> dict[str, Any]:
    """Library versions, hardware and the course corpus (SHA-256, Debian package versions), recorded with every run."""
    import psutil

    from zero2hero.provenance import corpus_provenance

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
        "corpus": corpus_provenance(),
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


def run_dir_name(lab: str) -> str:
    """``<timestamp>-<lab>``; two runs started in the same second get a suffix when they are moved into place."""
    return f"{_timestamp()}-{lab}"


def write_files(folder: Path, result: LabResult, config: Any, seconds: float, heading_level: int = 1) -> str:
    """Write report.md, metrics.json, config.json and environment.json into an (open) run folder."""
    report = render_markdown(result, config, seconds, heading_level)
    atomic_write_text(folder / "report.md", report)
    metrics = {m.name: {"value": m.value, "unit": m.unit, "description": m.description} for m in result.metrics}
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(folder / "config.json", json.dumps(_jsonable(config), indent=2))
    atomic_write_text(folder / "environment.json", json.dumps(environment(), indent=2))
    return report
