"""A pipeline workspace: a DVC project (``dvc init --no-scm``) holding ``params.yaml``, ``code.yaml`` and ``dvc.yaml``.

Each file is rewritten only when its content changes, so DVC sees exactly the parameters and code that did change.
Preparing also clears what a killed run left behind: half-written temporaries (``zero2hero.files``) and DVC's
read/write locks held by processes that no longer run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from zero2hero.errors import Zero2HeroError
from zero2hero.files import atomic_write_text, ensure_writable_dir, sweep_stale_temporaries
from zero2hero.pipeline.config import ProjectConfig, to_params
from zero2hero.pipeline.dag import STAGES, code_fingerprints, write_dvc_yaml, write_if_changed

DEFAULT_ROOT = Path("runs") / "project"
RWLOCK = Path(".dvc") / "tmp" / "rwlock"


def default_workspace(config: ProjectConfig) -> Path:
    """``runs/project/<name>`` (``<name>-quick`` in quick mode)."""
    return DEFAULT_ROOT / config.run_name


def dvc_environment() -> dict[str, str]:
    """The environment for DVC and its stage commands: this Python's folder first on PATH, no usage reports."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def prepare(config: ProjectConfig, workspace: Path) -> list[str]:
    """Make ``workspace`` a DVC project for ``config``; return the names of the files that changed."""
    workspace = ensure_writable_dir(Path(workspace), option="--workspace")
    if not (workspace / ".dvc").is_dir():
        _dvc_init(workspace)
    _clear_dead_locks(workspace / RWLOCK)
    for folder in {(workspace / out).parent for stage in STAGES for out in stage.outs} | {workspace / "stages"}:
        if folder.is_dir():
            sweep_stale_temporaries(folder)
    changed = []
    if write_if_changed(workspace / "params.yaml", yaml.safe_dump(to_params(config), sort_keys=False)):
        changed.append("params.yaml")
    if refresh_code(workspace):
        changed.append("code.yaml")
    if write_dvc_yaml(workspace):
        changed.append("dvc.yaml")
    return changed


def refresh_code(workspace: Path) -> bool:
    """Rewrite ``code.yaml`` with the stages' current code fingerprints; True when one of them changed."""
    return write_if_changed(Path(workspace) / "code.yaml", yaml.safe_dump(code_fingerprints(), sort_keys=True))


def _dvc_init(workspace: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "--quiet"], cwd=workspace,
                          env=dvc_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Zero2HeroError(f"`dvc init` failed in {workspace}: {last[0]}",
                             "check that dvc is installed (pip install dvc) and the folder is writable")


def _clear_dead_locks(rwlock: Path) -> None:
    """Drop the entries of DVC's ``rwlock`` whose process is gone (a killed run leaves them, and DVC then refuses
    to touch those paths). Entries of a running DVC are kept, so two runs in one workspace still exclude each
    other."""
    if not rwlock.is_file():
        return
    try:
        locks = json.loads(rwlock.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError:
        return
    cleaned = {"write": {path: info for path, info in locks.get("write", {}).items() if _alive(info["pid"])},
               "read": {path: alive for path, infos in locks.get("read", {}).items()
                        if (alive := [info for info in infos if _alive(info["pid"])])}}
    if cleaned != locks:
        atomic_write_text(rwlock, json.dumps(cleaned))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: a zombie (killed, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text(encoding="utf-8").rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check above has to do
