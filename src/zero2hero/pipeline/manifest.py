"""``manifest.json``: what one pipeline run was made of, so that two runs can be compared (``z2h project diff``).

It records the resolved config and its hash, the git commit of the zero2hero sources, library versions, the
hardware, the SHA-256 of every data file and model folder, each stage's cache key, status and time, the metrics of
``reports/eval.json`` and the determinism settings. Keys that change on every run (times) are the ones
:data:`zero2hero.pipeline.manifest_diff.VOLATILE_KEYS` ignores.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zero2hero.files import atomic_write_text
from zero2hero.pipeline.cache_key import file_sha256, tree_sha256
from zero2hero.pipeline.config import ProjectConfig, to_params
from zero2hero.pipeline.stage import determinism_settings

if TYPE_CHECKING:
    from zero2hero.pipeline.driver import StageRow

LIBRARIES = ("torch", "transformers", "peft", "dvc", "fastapi", "llama-cpp-python")
SOURCES = Path(__file__).resolve().parents[1]  # src/zero2hero


def build_manifest(config: ProjectConfig, workspace: Path, rows: list[StageRow], seconds: float) -> dict[str, Any]:
    """The manifest of the run whose stage table is ``rows`` (see the module doc for the keys)."""
    params = to_params(config)
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "name": config.name,
        "quick": config.quick,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "config": params,
        "config_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "git_commit": git_commit(),
        "libraries": library_versions(),
        "hardware": hardware(),
        "data": data_hashes(workspace),
        "models": model_hashes(workspace),
        "stages": {row.stage: {"cache_key": row.cache_key, "status": row.status, "seconds": row.seconds}
                   for row in rows},
        "metrics": read_metrics(workspace),
        "determinism": determinism_settings(config.seed),
    }


def write_manifest(workspace: Path, manifest: dict[str, Any]) -> Path:
    path = Path(workspace) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def git_commit(folder: Path = SOURCES) -> str | None:
    """The commit checked out where the zero2hero sources are, or None outside a git checkout (an installed wheel)."""
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def library_versions() -> dict[str, str]:
    """Python's version and those of the libraries the pipeline runs on (llama-cpp-python only when installed)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict[str, Any]:
    """The CPU's name, its cores, the RAM and the GPU (None without one)."""
    import psutil
    import torch

    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def data_hashes(workspace: Path) -> dict[str, str]:
    """``{path: sha256}`` of ``data/*.jsonl`` and ``data/splits/*``."""
    workspace = Path(workspace)
    files = sorted(workspace.glob("data/*.jsonl")) + sorted(workspace.glob("data/splits/*"))
    return {path.relative_to(workspace).as_posix(): file_sha256(path) for path in files if path.is_file()}


def model_hashes(workspace: Path) -> dict[str, str]:
    """``{path: sha256}`` of each model folder or file under ``models/`` and ``export/`` (:func:`tree_sha256`)."""
    workspace = Path(workspace)
    hashes = {}
    for path in sorted(workspace.glob("models/*")) + sorted(workspace.glob("export/*")):
        hashes[path.relative_to(workspace).as_posix()] = tree_sha256(path) if path.is_dir() else file_sha256(path)
    return hashes


def read_metrics(workspace: Path) -> dict[str, Any]:
    """The flat ``summary`` numbers of ``reports/eval.json`` (empty when the evaluation has not run)."""
    path = Path(workspace) / "reports" / "eval.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("summary", {})
