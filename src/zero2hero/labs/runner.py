"""Running labs into run directories: one lab (`z2h lab N`) or all of them (`z2h tour`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError
from zero2hero.files import (
    atomic_write_text,
    ensure_writable_dir,
    move_into_place,
    sweep_stale_temporaries,
    temporary_dir,
)
from zero2hero.labs import LabInfo, available_labs
from zero2hero.measure import Stopwatch
from zero2hero.reporting import LabResult, RunContext, run_dir_name, write_files


@dataclass
class LabRun:
    chapter: int
    result: LabResult
    seconds: float
    folder: Path


def make_config(lab: LabInfo, quick: bool, overrides: dict[str, Any] | None = None,
                option_names: dict[str, str] | None = None) -> Any:
    """The lab's Config: its defaults, then its ``QUICK`` values in quick mode, then the user's ``overrides``.

    A value the user passed always wins over quick sizing. An override the lab does not take is refused
    (``None`` means "not passed"); ``option_names`` maps a field to the command-line option that sets it,
    so the error names what the user typed.
    """
    module = lab.load()
    known = {f.name for f in fields(module.Config)}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        names = option_names or {}
        takes = ["--full", "--out", *sorted(names[k] for k in known if k in names)]
        shown = ", ".join(names.get(k, k) for k in unknown)
        raise InputError(f"lab {lab.chapter} does not take {shown}",
                         f"the options of lab {lab.chapter} are: {', '.join(takes)} (see `z2h lab --help`)")
    values = {**(module.QUICK if quick else {}), **given}
    return module.Config(quick=quick, **values)


def run_lab_into(lab: LabInfo, config: Any, folder: Path, progress: Callable[[str], None] | None = None,
                 heading_level: int = 1) -> LabRun:
    """Run one lab writing its files into ``folder`` (which must exist)."""
    watch = Stopwatch()
    result = lab.load().run(config, RunContext(folder, progress))
    result.lab = lab.lab_id
    write_files(folder, result, config, watch.seconds, heading_level)
    return LabRun(lab.chapter, result, watch.seconds, folder)


def run_lab(lab: LabInfo, config: Any, out_root: Path, progress: Callable[[str], None] | None = None) -> LabRun:
    """Run one lab into a new ``out_root/<timestamp>-<lab>/``, atomically (see :func:`_new_run_folder`)."""
    final = _new_run_folder(out_root, lab.lab_id)
    with temporary_dir(final) as tmp:
        run = run_lab_into(lab, config, tmp, progress)
        run.folder = move_into_place(tmp, final, unique=True)
    return run


def _new_run_folder(out_root: Path, name: str) -> Path:
    """Where a run will go: ``out_root`` is checked to be writable before anything runs, and temporaries a
    killed run left there are swept. The folder itself is written under a temporary name and renamed when
    complete; a run started in the same second as another gets ``-2``, ``-3``... instead of replacing it."""
    sweep_stale_temporaries(ensure_writable_dir(out_root))
    return Path(out_root) / run_dir_name(name)


def run_tour(out_root: Path, progress: Callable[[str], None] | None = None) -> tuple[Path, list[LabRun]]:
    """Every available lab in quick mode, each in a sub-folder, with one combined report.md."""
    final = _new_run_folder(out_root, "tour")
    runs: list[LabRun] = []
    with temporary_dir(final) as tmp:
        for lab in available_labs().values():
            sub = tmp / lab.lab_id
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
        atomic_write_text(tmp / "report.md", "\n".join(lines))
        final = move_into_place(tmp, final, unique=True)
    for r in runs:
        r.folder = final / r.folder.name
    return final, runs
