"""What the training, evaluation and export stages share: reading the split records, writing an out whole, and
starting the processes of a training run under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.files import move_into_place, temporary_dir

SPLITS = ("train", "dev", "test")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (one JSON object per line; blank lines skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the records in {path}: {err}",
                         "run the pipeline's earlier stages first (z2h project run)") from None


def read_splits(workspace: Path) -> dict[str, list[dict[str, Any]]]:
    """``{"train": [...], "dev": [...], "test": [...]}`` from ``data/splits/`` of the workspace."""
    return {name: read_records(Path(workspace) / "data" / "splits" / f"{name}.jsonl") for name in SPLITS}


@contextmanager
def replaced_dir(final: Path) -> Iterator[Path]:
    """A temporary sibling folder that replaces ``final`` when the block succeeds; on an error, or Ctrl-C, nothing
    changes and the temporary folder is removed. A stage's out is thus the old one or the whole new one (a run
    killed between removing the old and renaming the new leaves none, and the stage runs again)."""
    final = Path(final)
    with temporary_dir(final) as tmp:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        move_into_place(tmp, final)


def free_port() -> int:
    """A TCP port nobody listens on now, for the processes of one run to meet at."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_torchrun(module: str, arguments: list[str], processes: int, threads_per_process: int) -> None:
    """``python -m torch.distributed.run --nproc_per_node P -m module arguments`` with ``threads_per_process``
    torch threads in each process; a failed run raises :class:`Zero2HeroError` with the end of its output."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", module, *arguments]
    env = os.environ | {"OMP_NUM_THREADS": str(threads_per_process)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise Zero2HeroError(f"the {processes}-process training run of {module} failed: {' | '.join(lines[-3:])}",
                             "fix the cause shown above; the next run resumes from the last checkpoint")
