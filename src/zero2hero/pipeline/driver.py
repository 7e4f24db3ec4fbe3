"""``z2h project run``: prepare the workspace, let ``dvc repro`` run what is stale, then write the manifest and cards.

DVC decides which stages run (a stage whose deps, params and code are those recorded in ``dvc.lock`` is skipped);
the driver only streams its output and reads back each stage's record: a record written during this run means the
stage "ran", an older one that DVC found it up to date ("cached").
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from zero2hero.errors import Zero2HeroError
from zero2hero.pipeline.cards import write_cards
from zero2hero.pipeline.config import ProjectConfig
from zero2hero.pipeline.dag import STAGES
from zero2hero.pipeline.manifest import build_manifest, write_manifest
from zero2hero.pipeline.workspace import dvc_environment, prepare

TAIL_LINES = 12
_FAILED_STAGE = re.compile(r"failed to reproduce '([^']+)'")


@dataclass(frozen=True)
class StageRow:
    stage: str
    seconds: float  # time the stage took in this run; 0.0 when DVC reused its outputs
    status: str  # "ran" or "cached"
    cache_key: str


@dataclass(frozen=True)
class ProjectRun:
    workspace: Path
    rows: list[StageRow]
    seconds: float  # the whole run, DVC's checks included
    manifest: Path
    cards: list[Path]
    metrics: dict[str, float]


def run_project(config: ProjectConfig, workspace: Path, progress: Callable[[str], None] = print) -> ProjectRun:
    """Run the pipeline of ``config`` in ``workspace``; raise :class:`Zero2HeroError` naming the stage that failed."""
    workspace = Path(workspace).resolve()
    start = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    changed = prepare(config, workspace)
    if changed:
        progress(f"updated {', '.join(changed)} in {workspace}")
    _repro(workspace, progress)
    rows = stage_rows(workspace, started_at)
    seconds = time.perf_counter() - start
    manifest = build_manifest(config, workspace, rows, seconds)
    manifest_path = write_manifest(workspace, manifest)
    cards = write_cards(workspace, manifest)
    return ProjectRun(workspace=workspace, rows=rows, seconds=seconds, manifest=manifest_path, cards=cards,
                      metrics=manifest["metrics"])


def _repro(workspace: Path, progress: Callable[[str], None]) -> None:
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    command = [sys.executable, "-m", "dvc", "repro", "--no-run-cache"]
    with subprocess.Popen(command, cwd=workspace, env=dvc_environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                progress(line)
        code = process.wait()
    if code != 0:
        raise _failure(workspace, list(tail))


def _failure(workspace: Path, tail: list[str]) -> Zero2HeroError:
    failed = next((m.group(1) for line in reversed(tail) if (m := _FAILED_STAGE.search(line))), None)
    errors = [line for line in tail if line.startswith("error:")]
    reason = errors[-1] if errors else " | ".join(tail[-3:]) or "no output"
    where = f"stage {failed} failed" if failed else "dvc repro failed"
    return Zero2HeroError(f"{where}: {reason}", f"fix the cause and run again: finished stages are kept "
                                                f"(the full log: cd {workspace} && python -m dvc repro)")


def stage_rows(workspace: Path, started_at: datetime) -> list[StageRow]:
    """One row per stage: "ran" when its record was written after ``started_at``, else "cached"."""
    rows = []
    for stage in STAGES:
        path = workspace / "stages" / f"{stage.name}.json"
        if not path.is_file():
            raise Zero2HeroError(f"stage {stage.name} left no record ({path})", "run the pipeline again")
        record = json.loads(path.read_text(encoding="utf-8"))
        ran = datetime.fromisoformat(record["started_at"]) >= started_at
        rows.append(StageRow(stage=stage.name, seconds=float(record["seconds"]) if ran else 0.0,
                             status="ran" if ran else "cached", cache_key=record["cache_key"]))
    return rows
