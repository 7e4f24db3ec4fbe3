"""What a pipeline stage receives: its workspace, the parameters, its cache key and where it may keep checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StageContext:
    """One stage's run. ``params`` is the whole ``params.yaml`` (one dict per config section, plus ``seed``)."""

    name: str
    workspace: Path
    params: dict[str, Any]
    cache_key: str  # the stage's key (zero2hero.pipeline.cache_key.stage_cache_key): deps, params and code
    progress: Callable[[str], None] = field(default=print)

    def path(self, relative: str) -> Path:
        """A path inside the workspace, e.g. ``ctx.path("data/splits/train.jsonl")``."""
        return self.workspace / relative

    def checkpoint_dir(self) -> Path:
        """Where an interrupted run of this stage left (or leaves) its checkpoint: one folder per cache key, so a
        checkpoint of other inputs or settings is never resumed. Not a DVC output; the stage deletes it when done."""
        return self.workspace / "checkpoints" / self.name / self.cache_key[:16]
