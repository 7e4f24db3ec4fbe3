"""Running labs into run directories: one lab (`z2h lab N`) or all of them (`z2h tour`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zero2hero.labs import LabInfo, available_labs
from zero2hero.reporting import LabResult, RunContext, Stopwatch, atomic_dir, run_dir_name, write_files


@dataclass
class LabRun:
    chapter: int
    result: LabResult
    seconds: float
    folder: Path


def make_config(lab: LabInfo, quick: bool, overrides: dict[str, Any] | None = None) -> Any:
    """The lab's Config with ``quick`` and any overrides the lab's Config accepts."""
    config_cls = lab.load().Config
    known = {f.name for f in fields(config_cls)}
    values = {k: v for k, v in (overrides or {}).items() if k in known and v is not None}
    return config_cls(quick=quick, **values)


def run_lab_into(lab: LabInfo, config: Any, folder: Path, progress: Callable[[str], None] | None = None,
                 heading_level: int = 1) -> LabRun:
    """Run one lab writing its files into ``folder`` (which must exist)."""
    watch = Stopwatch()
    result = lab.load().run(config, RunContext(folder, progress))
    write_files(folder, result, config, watch.seconds, heading_level)
    return LabRun(lab.chapter, result, watch.seconds, folder)


def run_lab(lab: LabInfo, config: Any, out_root: Path, progress: Callable[[str], None] | None = None) -> LabRun:
    """Run one lab into ``out_root/<timestamp>-<lab>/``, atomically."""
    final = out_root / run_dir_name(lab.slug)
    with atomic_dir(final) as tmp:
        run = run_lab_into(lab, config, tmp, progress)
    run.folder = final
    return run


def run_tour(out_root: Path, progress: Callable[[str], None] | None = None) -> tuple[Path, list[LabRun]]:
    """Every available lab in quick mode, each in a sub-folder, with one combined report.md."""
    final = out_root / run_dir_name("tour")
    runs: list[LabRun] = []
    with atomic_dir(final) as tmp:
        for lab in available_labs().values():
            sub = tmp / lab.slug
            sub.mkdir()
            chapter_progress = (lambda msg, c=lab.chapter: progress(f"chapter {c}: {msg}")) if progress else None
            runs.append(run_lab_into(lab, make_config(lab, quick=True), sub, chapter_progress, heading_level=2))
        total = sum(r.seconds for r in runs)
        lines = ["# zero2hero tour — every lab in quick mode", "",
                 f"{len(runs)} labs in {total:.1f} s. Each section is also a report of its own in its folder.", "",
                 "| chapter | lab | seconds | report |", "|---|---|---|---|"]
        lines += [f"| {r.chapter} | {r.result.title} | {r.seconds:.1f} | "
                  f"[{r.folder.name}/report.md]({r.folder.name}/report.md) |" for r in runs]
        for r in runs:
            # Figures live in each lab's sub-folder: prefix their links in the combined report.
            section = (r.folder / "report.md").read_text(encoding="utf-8")
            for fig in r.result.figures:
                section = section.replace(f"]({fig.filename})", f"]({r.folder.name}/{fig.filename})")
            lines += ["", section]
        (tmp / "report.md").write_text("\n".join(lines), encoding="utf-8")
    for r in runs:
        r.folder = final / r.folder.name
    return final, runs
