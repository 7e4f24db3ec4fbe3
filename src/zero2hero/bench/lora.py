"""`z2h bench lora`: full fine-tuning, PEFT's LoRA and our LoRA on the same model, batch and length — seconds per
training step over alternating rounds, the peak memory each adds (measured in a fresh process), and the memory
:mod:`zero2hero.lora.memory` predicts beside it.

LoRA is r = 8, alpha = 16 on the attention's query and value projections (``query,value`` in MiniLM,
``q_proj,v_proj`` in SmolLM2); MiniLM classifies fine-food reviews (its new two-class head trains in full),
SmolLM2 learns to predict the same reviews' next tokens. Every review in a batch is cut to exactly ``length``
tokens, so no path gains from shorter padding. Attention is the eager implementation, in float32, the case the
memory model writes out. A round loads a fresh model and takes one warm-up step (lazy set-up), outside the clock,
then times a fresh AdamW's ``steps`` optimizer steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zero2hero.bench import BenchResult
from zero2hero.lora.step_cost import TARGETS, Workload, peak_added_mb, predicted_added_mb, prepare, training_batch
from zero2hero.reporting import Table

DESCRIPTION = "full fine-tuning vs PEFT LoRA vs our LoRA (r=8): seconds/step and peak memory, predicted beside measured"
GOAL_RATIO = 1.1  # our LoRA step should take at most this multiple of PEFT's
RANK = 8
LABELS = {"minilm": "all_minilm_l6_v2", "smollm2": "smollm2_135m"}
METHODS = ("full", "peft", "ours")


@dataclass(frozen=True)
class Sizing:
    workloads: tuple[Workload, ...]
    steps: int  # timed optimizer steps per round (after one warm-up step)
    rounds: int


FULL = Sizing((Workload("minilm", 8, 128), Workload("smollm2", 2, 64)), steps=3, rounds=3)
QUICK = Sizing((Workload("minilm", 2, 32),), steps=2, rounds=2)  # SmolLM2's full fine-tune is too slow for quick


def run(quick: bool = False) -> BenchResult:
    from zero2hero.measure import interleaved

    sizing = QUICK if quick else FULL
    figures: dict[str, Any] = {"rank_count": RANK, "timed_steps_count": sizing.steps, "rounds_count": sizing.rounds}
    tables, notes = [], []
    for workload in sizing.workloads:
        batch = training_batch(workload)
        timings = interleaved({method: lambda method=method, workload=workload, batch=batch:
                               prepare(workload, method, batch)(sizing.steps) for method in METHODS},
                              rounds=sizing.rounds,
                              own_time=lambda round_: round_.seconds_per_step)
        measured = {method: peak_added_mb(workload, method, sizing.steps) for method in METHODS}
        predicted = {method: predicted_added_mb(workload, method) for method in METHODS}
        prefix = workload.model
        rows = []
        for method in METHODS:
            seconds = timings[method].best_s
            figures |= {f"{prefix}_{method}_step_s": seconds, f"{prefix}_{method}_peak_added_mb": measured[method],
                        f"{prefix}_{method}_predicted_added_mb": predicted[method]}
            rows.append([method, round(seconds, 3), round(measured[method], 1), round(predicted[method], 1),
                         f"{predicted[method] / measured[method] - 1:+.0%}"])
        step, memory = {m: timings[m].best_s for m in METHODS}, measured
        figures |= {
            f"{prefix}_ours_step_time_over_peft_ratio": step["ours"] / step["peft"],
            f"speedup_ours_over_peft_{prefix}_ratio": step["peft"] / step["ours"],
            f"{prefix}_lora_over_full_step_time_ratio": step["ours"] / step["full"],
            f"{prefix}_lora_over_full_peak_memory_ratio": memory["ours"] / memory["full"],
        }
        tables.append(Table(f"{LABELS[workload.model]}: {workload.batch_size} × {workload.length} tokens, "
                            f"LoRA r={RANK} on {','.join(TARGETS[workload.model])}, best of {sizing.rounds} "
                            f"alternating rounds of {sizing.steps} steps",
                            ["method", "s/step", "peak +MB", "predicted +MB", "error"], rows))
        ratio = step["ours"] / step["peft"]
        notes.append(f"{LABELS[workload.model]}: our LoRA step takes {ratio:.3f}× PEFT's "
                     f"({'meets' if ratio <= GOAL_RATIO else 'misses'} the goal of ≤ {GOAL_RATIO}×); LoRA takes "
                     f"{step['ours'] / step['full']:.2f}× the time and {memory['ours'] / memory['full']:.2f}× the "
                     f"added memory of full fine-tuning.")
    if quick:
        notes.append("Quick mode measures MiniLM only, on a tiny batch: SmolLM2's full fine-tune is too slow for it.")
    return BenchResult("lora", figures, tables, notes)


