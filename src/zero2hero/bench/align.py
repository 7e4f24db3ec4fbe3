"""`z2h bench align`: our SFT and DPO steps against TRL's SFTTrainer and DPOTrainer on the same model, batch and
length — seconds per optimizer step over alternating rounds, and the peak memory each adds (in a fresh process,
full mode only).

Both sides train PEFT's LoRA (r=8 on q, k, v, o: the chapter's default method) on SmolLM2-135M-Instruct, or a tiny
2-layer Llama with SmolLM2's tokenizer in quick mode; what a step covers, and what it leaves out on each side, is in
:mod:`zero2hero.alignment.step_timing`. A round loads a fresh model and sets its trainer up outside the clock.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zero2hero.bench import BenchResult
from zero2hero.reporting import Table

DESCRIPTION = "our SFT and DPO steps vs TRL's SFTTrainer and DPOTrainer (LoRA r=8): seconds/step and peak memory"
GOAL_RATIO = 0.9  # our step should run at least this fraction of TRL's speed
TRAINERS = ("ours", "trl")


@dataclass(frozen=True)
class Sizing:
    batch_size: int  # SFT examples, or DPO pairs (twice as many sequences), per step
    max_length: int
    steps: int  # timed optimizer steps per round (after one untimed step)
    rounds: int


FULL = Sizing(batch_size=8, max_length=128, steps=3, rounds=3)
QUICK = Sizing(batch_size=2, max_length=64, steps=1, rounds=2)


def run(quick: bool = False) -> BenchResult:
    from zero2hero.alignment.step_timing import KINDS, write_tiny_llama

    sizing = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as folder:
        model = str(write_tiny_llama(Path(folder))) if quick else "smollm2"
        measured = {kind: _measure(kind, model, sizing, memory=not quick) for kind in KINDS}
    label = "tiny_llama" if quick else "smollm2_135m"
    figures: dict[str, Any] = {"model": label, "batch_count": sizing.batch_size,
                               "max_length_tokens_count": sizing.max_length, "timed_steps_count": sizing.steps,
                               "rounds_count": sizing.rounds}
    rows, notes = [], []
    for kind, (seconds, memory) in measured.items():
        for trainer in TRAINERS:
            figures[f"{kind}_{trainer}_step_s"] = seconds[trainer]
            figures |= {f"{kind}_{trainer}_peak_added_mb": memory[trainer]} if memory else {}
            rows.append([kind.upper(), trainer, round(seconds[trainer], 3), round(1 / seconds[trainer], 2),
                         round(memory[trainer], 1) if memory else "not measured"])
        ratio = seconds["trl"] / seconds["ours"]
        figures[f"{kind}_speed_ours_over_trl_ratio"] = ratio
        added = f" and adds {memory['ours']:.0f} MB at its peak against TRL's {memory['trl']:.0f} MB" if memory else ""
        notes.append(f"{kind.upper()}: our step runs at {ratio:.2f}× TRL's speed "
                     f"({'meets' if ratio >= GOAL_RATIO else 'misses'} the goal of ≥ {GOAL_RATIO}×){added}.")
    title = (f"{label}, LoRA r=8 on q,k,v,o: {sizing.batch_size} SFT examples or DPO pairs per step, at most "
             f"{sizing.max_length} tokens, best of {sizing.rounds} alternating rounds of {sizing.steps} steps")
    tables = [Table(title, ["step", "trainer", "s/step", "steps/s", "peak +MB"], rows)]
    if quick:
        notes.append("Quick mode runs a tiny 2-layer Llama, whose ratios say little about SmolLM2's, and measures no "
                     "memory: a fresh process per trainer would cost more than the rest of the run.")
    return BenchResult("align", figures, tables, notes)


def _measure(kind: str, model: str, sizing: Sizing, memory: bool) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per step (best of alternating rounds) and, with ``memory``, the peak memory added (fresh processes)
    of each trainer."""
    from zero2hero.alignment.step_timing import Workload, peak_added_mb, prepare
    from zero2hero.measure import interleaved

    workload = Workload(kind, model, sizing.batch_size, sizing.max_length)
    timings = interleaved({trainer: lambda trainer=trainer: prepare(workload, trainer)(sizing.steps)
                           for trainer in TRAINERS},
                          rounds=sizing.rounds, own_time=lambda round_: round_.seconds_per_step)
    return ({trainer: timings[trainer].best_s for trainer in TRAINERS},
            {trainer: peak_added_mb(workload, trainer, sizing.steps) for trainer in TRAINERS} if memory else {})
