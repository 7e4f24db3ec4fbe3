"""What a second process buys: one point's training tokens/s on one process and on two (torchrun, DDP over gloo).

Three ways to use the same two cores, each run as a child process with its own fresh cache (so nothing is read
from a finished point), timed by the point itself (training steps only: not start-up, not evaluation), in
alternation over rounds, each keeping its best (:func:`zero2hero.measure.interleaved`):

* one process, one thread: the baseline;
* one process, two threads: torch splits each matrix product over both cores;
* two processes of one thread each: each takes half of every batch, DDP averages the gradients after backward.

On 2 cores shared with other work, expect far from 2×: the processes exchange every gradient at every step,
and small matrices do not split well over threads either. The numbers are what this machine measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from zero2hero.errors import Zero2HeroError
from zero2hero.llama.scaling.plan import ScalingPlan
from zero2hero.measure import interleaved

LAYOUTS = {"one_process_one_thread": (1, 1), "one_process_two_threads": (1, 2), "two_processes": (2, 1)}


def torchrun_point(plan: ScalingPlan, size: str, tokens: int, processes: int, threads: int,
                   data_dir: Path) -> dict:
    """Train one point under ``torchrun --nproc_per_node processes`` with ``threads`` threads each, in a fresh
    cache that links to the cached ``data_dir``; return the point as the entry point prints it."""
    with tempfile.TemporaryDirectory(prefix="z2h-ddp-") as tmp:
        (Path(tmp) / "cache").mkdir()
        (Path(tmp) / "cache" / "data").symlink_to(Path(data_dir).resolve())
        plan_file = Path(tmp) / "plan.json"
        plan_file.write_text(json.dumps(asdict(plan)), encoding="utf-8")
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                   "-m", "zero2hero.llama.scaling.train", "--plan", str(plan_file), "--size", size,
                   "--tokens", str(tokens), "--cache", str(Path(tmp) / "cache")]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise Zero2HeroError(f"training on {processes} process(es) failed: {result.stderr.strip()[-400:]}",
                             "run the same torchrun command by hand to see the whole error")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ddp_speedup(plan: ScalingPlan, size: str, tokens: int, data_dir: Path, rounds: int = 2) -> dict[str, float]:
    """Tokens/s of each layout (best of ``rounds``) and the two-process speed-ups, as benchmark-style keys."""
    timings = interleaved({name: (lambda p=processes, t=threads: torchrun_point(plan, size, tokens, p, t, data_dir))
                           for name, (processes, threads) in LAYOUTS.items()},
                          rounds=rounds, own_time=lambda point: point["train_seconds"])
    speeds = {f"{name}_tokens_per_s": timing.result["tokens_per_s"] for name, timing in timings.items()}
    speeds["speedup_two_processes_over_one_thread_ratio"] = (speeds["two_processes_tokens_per_s"]
                                                             / speeds["one_process_one_thread_tokens_per_s"])
    speeds["speedup_two_processes_over_two_threads_ratio"] = (speeds["two_processes_tokens_per_s"]
                                                              / speeds["one_process_two_threads_tokens_per_s"])
    return speeds
