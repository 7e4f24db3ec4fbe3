"""`z2h bench finetune`: our fine-tuning loop against transformers' ``Trainer`` on MiniLM — training examples/s
over alternating rounds, the peak memory each adds, and the fine-tuned model's inference examples/s.

Both train the same fresh model (same seed, so the same new head) on the same fine-food reviews with the same
optimizer, schedule and clipping. Every review is at least ``max_length`` tokens long, so every batch is exactly
``batch_size × max_length`` tokens whatever order each path draws: no path gains from shorter padding. A round
times training only (from building the optimizer to the last step): loading the model is outside the clock,
for both. Peak memory is measured in a fresh process per path (``python -m zero2hero.bench.finetune memory
ours``), because memory one path freed would be reused by the next in the same process and hide its cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zero2hero.bench import BenchResult
from zero2hero.errors import Zero2HeroError
from zero2hero.reporting import Table

if TYPE_CHECKING:
    from zero2hero.finetuning.data import Example
    from zero2hero.finetuning.train_config import TrainConfig

DESCRIPTION = "our fine-tuning loop vs transformers' Trainer on MiniLM: training examples/s, memory, inference"
GOAL_RATIO = 0.9  # ours should train at least this fraction of the Trainer's speed


@dataclass(frozen=True)
class Sizing:
    steps: int  # optimizer steps per round
    batch_size: int
    max_length: int  # tokens per example (every example is cut to exactly this)
    rounds: int


FULL = Sizing(steps=8, batch_size=16, max_length=128, rounds=3)
QUICK = Sizing(steps=3, batch_size=8, max_length=64, rounds=2)


@dataclass
class Round:
    """One timed training round: its seconds, how many examples it trained on, each step's loss."""

    seconds: float
    examples: int
    losses: list[float]
    model: Any = None  # the trained model (ours), for the inference measurement


def run(quick: bool = False) -> BenchResult:
    from zero2hero.finetuning.classify import predict_probabilities
    from zero2hero.measure import best_of, interleaved

    sizing = QUICK if quick else FULL
    examples, label_names = full_length_examples(sizing)
    timings = interleaved({name: lambda prepare=prepare: prepare(examples, label_names, sizing)()
                           for name, prepare in CANDIDATES.items()},
                          rounds=sizing.rounds, own_time=lambda round_: round_.seconds)
    memory = {name: peak_added_mb(name, quick) for name in CANDIDATES}
    model, tokenizer = timings["ours"].result.model
    texts = [example.text for example in examples]
    inference = best_of(lambda: predict_probabilities(model, tokenizer, texts, sizing.batch_size, sizing.max_length),
                        repeats=sizing.rounds)
    figures: dict[str, Any] = {
        "model": "all_minilm_l6_v2",
        "rounds_count": sizing.rounds,
        "steps_per_round_count": sizing.steps,
        "batch_examples_count": sizing.batch_size,
        "example_tokens_count": sizing.max_length,
    }
    for name, timing in timings.items():
        best = timing.result
        figures |= {f"{name}_train_s": timing.best_s, f"{name}_train_examples_count": best.examples,
                    f"{name}_train_examples_per_s": best.examples / timing.best_s,
                    f"{name}_first_step_loss": best.losses[0], f"{name}_last_step_loss": best.losses[-1],
                    f"{name}_peak_added_mb": memory[name]}
    ratio = figures["ours_train_examples_per_s"] / figures["trainer_train_examples_per_s"]
    figures["speedup_ours_over_trainer_ratio"] = ratio
    figures["inference_examples_per_s"] = len(texts) / inference.best_s
    rows = [[name, round(timing.best_s, 2), round(figures[f"{name}_train_examples_per_s"], 2),
             round(memory[name], 1), round(timing.result.losses[0], 4), round(timing.result.losses[-1], 4)]
            for name, timing in timings.items()]
    table = Table(f"MiniLM fine-tuning, {sizing.steps} steps of {sizing.batch_size} × {sizing.max_length} tokens, "
                  f"best of {sizing.rounds} alternating rounds",
                  ["loop", "seconds", "examples/s", "peak +MB", "first loss", "last loss"], rows)
    verdict = "meets" if ratio >= GOAL_RATIO else "misses"
    notes = [f"Our loop trains at {ratio:.3f}× the Trainer's speed: it {verdict} the goal of ≥ {GOAL_RATIO}×.",
             f"The fine-tuned model labels {figures['inference_examples_per_s']:.1f} reviews/s "
             f"(batches of {sizing.batch_size}, {sizing.max_length} tokens each, best of {sizing.rounds})."]
    return BenchResult("finetune", figures, [table], notes)


def full_length_examples(sizing: Sizing) -> tuple[list[Example], list[str]]:
    """The first ``steps × batch_size`` training reviews that reach ``max_length`` tokens, and the label names."""
    from transformers import AutoTokenizer

    from zero2hero.assets import resolve_model_path
    from zero2hero.finetuning.data import load_fine_foods

    data = load_fine_foods()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    needed = sizing.steps * sizing.batch_size
    lengths = tokenizer([example.text for example in data.train], truncation=True, max_length=sizing.max_length)
    chosen = [example for example, ids in zip(data.train, lengths["input_ids"], strict=True)
              if len(ids) == sizing.max_length][:needed]
    if len(chosen) < needed:
        raise Zero2HeroError(f"only {len(chosen)} reviews reach {sizing.max_length} tokens, {needed} are needed",
                             "use fewer steps or a shorter length")
    return chosen, data.label_names


def _config(sizing: Sizing) -> TrainConfig:
    from zero2hero.finetuning.train_config import TrainConfig

    return TrainConfig(model="minilm", batch_size=sizing.batch_size, max_length=sizing.max_length, device="cpu")


def prepare_ours(examples: list[Example], label_names: list[str], sizing: Sizing) -> Callable[[], Round]:
    """Load a fresh model and pad the batches; return the training to time (our loop's optimizer steps)."""
    import torch

    from zero2hero.finetuning.batching import encode_examples, pad_batch
    from zero2hero.finetuning.loop import load_model_and_tokenizer, optimizer_step, seed_everything
    from zero2hero.finetuning.schedule import make_optimizer, make_scheduler, warmup_steps_for
    from zero2hero.measure import Stopwatch, make_resident

    config = _config(sizing)
    seed_everything(config.seed)
    model, tokenizer = load_model_and_tokenizer(config, label_names)
    make_resident(model)  # before any measurement: see measure.make_resident
    encoded = encode_examples(tokenizer, examples, config.max_length)
    batches = [pad_batch(encoded[start:start + config.batch_size], tokenizer.pad_token_id)
               for start in range(0, len(encoded), config.batch_size)]

    def train() -> Round:
        watch = Stopwatch()
        optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
        scheduler = make_scheduler(optimizer, warmup_steps_for(config.warmup_ratio, sizing.steps), sizing.steps)
        losses = [optimizer_step(model, optimizer, scheduler, [batch], config.max_grad_norm, torch.device("cpu"))[0]
                  for batch in batches]
        return Round(watch.seconds, sum(len(batch["labels"]) for batch in batches), losses, (model, tokenizer))

    return train


def prepare_trainer(examples: list[Example], label_names: list[str], sizing: Sizing) -> Callable[[], Round]:
    """Load a fresh model and build a ``Trainer`` with the same settings; return ``trainer.train()`` to time."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    from zero2hero.finetuning.batching import encode_examples
    from zero2hero.finetuning.loop import load_model_and_tokenizer, seed_everything
    from zero2hero.finetuning.schedule import warmup_steps_for
    from zero2hero.measure import Stopwatch, make_resident

    config = _config(sizing)
    seed_everything(config.seed)
    model, tokenizer = load_model_and_tokenizer(config, label_names)
    make_resident(model)  # before any measurement: see measure.make_resident
    rows = [{"input_ids": e.input_ids, "token_type_ids": e.token_type_ids, "labels": e.label}
            for e in encode_examples(tokenizer, examples, config.max_length)]

    def train() -> Round:
        with tempfile.TemporaryDirectory(prefix="z2h-bench-trainer-") as scratch:  # the Trainer saves nothing here
            args = TrainingArguments(
                output_dir=scratch, max_steps=sizing.steps, per_device_train_batch_size=config.batch_size,
                learning_rate=config.learning_rate, weight_decay=config.weight_decay,
                warmup_steps=warmup_steps_for(config.warmup_ratio, sizing.steps), lr_scheduler_type="linear",
                max_grad_norm=config.max_grad_norm, seed=config.seed, use_cpu=True, bf16=False, report_to=[],
                logging_steps=1, eval_strategy="no", save_strategy="no", disable_tqdm=True)
            trainer = Trainer(model=model, args=args, train_dataset=rows,
                              data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)
            trainer.remove_callback(PrinterCallback)
            watch = Stopwatch()
            trainer.train()
            seconds = watch.seconds
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        return Round(seconds, trainer.state.global_step * config.batch_size, losses)

    return train


CANDIDATES = {"ours": prepare_ours, "trainer": prepare_trainer}


def peak_added_mb(name: str, quick: bool) -> float:
    """The peak memory one round of candidate ``name`` adds, measured in a fresh Python process."""
    command = [sys.executable, "-m", __name__, "memory", name] + (["--quick"] if quick else [])
    # Every freed block of 64 KiB or more goes back to the system: resident memory then follows the tensors alive,
    # not what glibc's malloc keeps for reuse (see zero2hero.lora.step_cost.peak_added_mb).
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the memory of {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_added_mb"]


def _measure_memory(name: str, quick: bool) -> None:
    """In a fresh process: prepare the candidate, then print the peak memory its training round adds."""
    from zero2hero.measure import PeakMemory

    sizing = QUICK if quick else FULL
    examples, label_names = full_length_examples(sizing)
    train = CANDIDATES[name](examples, label_names, sizing)
    with PeakMemory() as peak:
        train()
    print(json.dumps({"peak_added_mb": peak.added_mb}))


if __name__ == "__main__":
    _measure_memory(sys.argv[2], quick="--quick" in sys.argv[3:])
