"""What one training step costs, measured: seconds per step, and the peak memory training adds over the loaded
model, measured in a fresh process — for full fine-tuning, PEFT's LoRA, our LoRA, QLoRA (ours over an NF4 base)
and head-only training, on MiniLM (classifying fine-food reviews) or SmolLM2 (predicting their next tokens).

Every review in a batch is cut to exactly ``length`` tokens, so no method gains from shorter padding. Attention is
the eager implementation, in float32, the case :mod:`zero2hero.lora.memory` writes out. ``z2h bench lora`` and lab 6
use it; ``python -m zero2hero.lora.step_cost memory MODEL METHOD BATCH LENGTH STEPS RANK`` is the fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zero2hero.errors import InputError, Zero2HeroError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

ALPHA, LEARNING_RATE = 16.0, 1e-4
TARGETS = {"minilm": ["query", "value"], "smollm2": ["q_proj", "v_proj"]}
METHODS = ("full", "peft", "ours", "qlora", "head")
PREDICTED_AS = {"full": "full", "peft": "lora", "ours": "lora", "qlora": "qlora"}  # head-only: no prediction


@dataclass(frozen=True)
class Workload:
    model: str  # "minilm" (sequence classification) or "smollm2" (next-token prediction)
    batch_size: int
    length: int  # tokens per example (every example is cut to exactly this)


@dataclass
class Round:
    seconds_per_step: float


def training_batch(workload: Workload) -> dict[str, torch.Tensor]:
    """``batch_size`` fine-food reviews cut to exactly ``length`` tokens: input_ids, attention_mask (and
    token_type_ids) ``(batch, length)``; labels ``(batch,)`` for MiniLM, the input ids themselves for SmolLM2."""
    import torch

    from zero2hero.assets import load_tokenizer
    from zero2hero.finetuning.data import load_fine_foods

    tokenizer = load_tokenizer(workload.model)
    reviews = load_fine_foods().train
    encoded = tokenizer([review.text for review in reviews], truncation=True, max_length=workload.length)
    chosen = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) == workload.length][:workload.batch_size]
    if len(chosen) < workload.batch_size:
        raise Zero2HeroError(f"only {len(chosen)} reviews reach {workload.length} tokens", "use a shorter length")
    batch = {key: torch.tensor([values[i] for i in chosen]) for key, values in encoded.items()}
    batch["labels"] = (torch.tensor([reviews[i].label for i in chosen]) if workload.model == "minilm"
                       else batch["input_ids"].clone())
    return batch


def load_model(model: str) -> PreTrainedModel:
    """MiniLM with a fresh two-class head, or SmolLM2; float32, eager attention, seeded (the same new head)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from zero2hero.assets import new_head_loading, resolve_model_path
    from zero2hero.finetuning.loop import seed_everything

    seed_everything(0)
    if model == "minilm":
        with new_head_loading():
            return AutoModelForSequenceClassification.from_pretrained(resolve_model_path("minilm"), num_labels=2,
                                                                      dtype="float32", attn_implementation="eager")
    return AutoModelForCausalLM.from_pretrained(resolve_model_path(model), dtype="float32", attn_implementation="eager")


def with_method(model: PreTrainedModel, model_name: str, method: str, rank: int = 8) -> PreTrainedModel:
    """``model`` ready to train by ``method``: full (every weight), peft, ours (add_lora), qlora (ours over NF4),
    head (only the classifier head learns; MiniLM only). LoRA is rank ``rank``, alpha 16, on :data:`TARGETS`."""
    from zero2hero.lora.inject import add_lora
    from zero2hero.lora.layer import LoRASettings
    from zero2hero.lora.qlora import quantize_base

    if method not in METHODS:
        raise InputError(f"unknown training method {method!r}", f"use one of {', '.join(METHODS)}")
    head = ["classifier"] if model_name == "minilm" else []
    if method == "head":
        if not head:
            raise InputError("head-only training needs a classifier", "use it with minilm")
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("classifier."))
        return model
    if method == "peft":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=rank, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS[model_name],
                            task_type="SEQ_CLS" if model_name == "minilm" else "CAUSAL_LM")
        return get_peft_model(model, config)
    if method in ("ours", "qlora"):
        add_lora(model, TARGETS[model_name], LoRASettings(rank=rank, alpha=ALPHA), train_in_full=head)
    if method == "qlora":
        quantize_base(model)
    return model


def prepare(workload: Workload, method: str, batch: dict[str, torch.Tensor], rank: int = 8) -> Callable[[int], Round]:
    """Load a fresh model for ``method`` and take one warm-up step; return the training of ``steps`` steps to time.

    The first step ever pays for lazy set-up (thread pools, kernels chosen): it is not timed.
    """
    train = training(with_method(load_model(workload.model), workload.model, method, rank), batch)
    train(1)
    return train


def training(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> Callable[[int], Round]:
    """``steps`` -> a fresh AdamW (chapter 5's ``make_optimizer``) and ``steps`` optimizer steps on ``batch``."""
    import torch

    from zero2hero.finetuning.loop import optimizer_step
    from zero2hero.finetuning.schedule import make_optimizer, make_scheduler
    from zero2hero.measure import Stopwatch

    def train(steps: int) -> Round:
        watch = Stopwatch()
        optimizer = make_optimizer(model, LEARNING_RATE, 0.0)
        scheduler = make_scheduler(optimizer, 0, 1_000)  # a nearly constant learning rate over a few steps
        for _ in range(steps):
            optimizer_step(model, optimizer, scheduler, [batch], 1.0, torch.device("cpu"))
        return Round(watch.seconds / steps)

    return train


def predicted_added_mb(workload: Workload, method: str, rank: int = 8) -> float | None:
    """What :mod:`zero2hero.lora.memory` predicts training adds over the loaded model, in MB (None: head-only,
    which the model does not cover)."""
    from zero2hero.assets import load_config
    from zero2hero.lora.memory import predict

    if method not in PREDICTED_AS:
        return None
    estimate = predict(load_config(workload.model), PREDICTED_AS[method], workload.batch_size, workload.length,
                       targets=TARGETS[workload.model], rank=rank, num_labels=2 if workload.model == "minilm" else 0)
    return estimate.added_bytes / 1e6


def peak_added_mb(workload: Workload, method: str, steps: int, rank: int = 8) -> float:
    """The peak memory ``steps`` training steps by ``method`` add over the loaded model, in a fresh Python process
    (memory one method freed would be reused by the next in the same process and hide its cost).

    The child runs with ``MALLOC_MMAP_THRESHOLD_=65536``: every block of 64 KiB or more goes back to the system when
    freed, so resident memory follows the tensors alive instead of what glibc's ``malloc`` keeps for reuse.
    """
    command = [sys.executable, "-m", __name__, "memory", workload.model, method, str(workload.batch_size),
               str(workload.length), str(steps), str(rank)]
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the memory of {method} on {workload.model} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_added_mb"]


def _measure_memory(model: str, method: str, batch_size: int, length: int, steps: int, rank: int) -> None:
    """In a fresh process: load and prepare, read every weight once, then print the peak memory ``steps`` training
    steps add (optimizer state, gradients, activations)."""

    from zero2hero.measure import PeakMemory, make_resident

    workload = Workload(model, batch_size, length)
    batch = training_batch(workload)
    prepared = with_method(load_model(model), model, method, rank)
    make_resident(prepared)  # the mapped weight file's pages would otherwise count as added by training
    train = training(prepared, batch)
    with PeakMemory() as peak:
        train(steps)
    print(json.dumps({"peak_added_mb": peak.added_mb}))


if __name__ == "__main__":
    _measure_memory(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
