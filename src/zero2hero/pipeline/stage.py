"""``python -m zero2hero.pipeline.stage NAME``: run one stage in the current workspace (DVC's stage command).

It reads ``params.yaml`` and ``code.yaml``, computes the stage's cache key from its inputs' hashes, its parameters
and its code fingerprint, seeds ``random``, numpy and torch with ``params.seed``, fixes the torch thread count and
asks for deterministic kernels, runs ``zero2hero.pipeline.stages.<NAME>.run(ctx)`` and writes
``stages/<NAME>.json``. A :class:`~zero2hero.errors.Zero2HeroError` is printed on one line, exit code 1.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from zero2hero.errors import Zero2HeroError
from zero2hero.files import atomic_write_text, os_error
from zero2hero.pipeline.cache_key import path_sha256, stage_cache_key
from zero2hero.pipeline.dag import get_stage, stage_deps, stage_params
from zero2hero.pipeline.stage_context import StageContext


def determinism_settings(seed: int) -> dict[str, Any]:
    """What every stage fixes before it runs: the seed, the torch thread count, deterministic kernels."""
    return {"seed": seed, "torch_threads": torch_threads(), "deterministic_algorithms": True,
            "python_hash_seed": os.environ.get("PYTHONHASHSEED")}


def torch_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else every core: the same on every run of one machine."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy and torch; one torch thread count; deterministic algorithms (warn where none exist)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads())
    torch.use_deterministic_algorithms(True, warn_only=True)


def stage_key(name: str, workspace: Path, params: dict[str, Any], code: dict[str, str]) -> str:
    """The stage's cache key (:func:`stage_cache_key`) for the inputs now in ``workspace``."""
    stage = get_stage(name)
    deps = {}
    for dep in stage_deps(stage, params):
        path = workspace / dep
        if not path.exists():
            raise Zero2HeroError(f"stage {name} needs {dep}, which does not exist", "run the whole pipeline: "
                                 "z2h project run")
        deps[dep] = path_sha256(path)
    return stage_cache_key(deps, stage_params(stage, params), code[name])


def run_stage(name: str, workspace: Path) -> dict[str, Any]:
    """Run stage ``name`` in ``workspace``; return the record written to ``stages/<name>.json``."""
    params = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    code = yaml.safe_load((workspace / "code.yaml").read_text(encoding="utf-8"))
    cache_key = stage_key(name, workspace, params, code)
    seed_everything(int(params["seed"]))
    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    start = time.perf_counter()
    module = importlib.import_module(get_stage(name).module)
    ctx = StageContext(name=name, workspace=workspace, params=params, cache_key=cache_key,
                       progress=lambda line: print(f"[{name}] {line}", flush=True))
    details = module.run(ctx)
    record = {"stage": name, "cache_key": cache_key, "started_at": started_at,
              "seconds": round(time.perf_counter() - start, 3), "details": details}
    atomic_write_text(workspace / "stages" / f"{name}.json", json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m zero2hero.pipeline.stage NAME", file=sys.stderr)
        return 2
    try:
        record = run_stage(argv[0], Path.cwd())
    except Zero2HeroError as error:
        print(f"error: stage {argv[0]}: {error}", file=sys.stderr, flush=True)
        return 1
    except OSError as error:
        print(f"error: stage {argv[0]}: {os_error(error)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"error: stage {argv[0]} interrupted", file=sys.stderr, flush=True)
        return 130
    print(f"[{argv[0]}] done in {record['seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
