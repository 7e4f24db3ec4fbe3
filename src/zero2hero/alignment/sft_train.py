"""Instruction tuning: our SFT loop (LoRA or full fine-tuning), and TRL's ``SFTTrainer`` loss on the same batch.

:func:`train_sft` is chapter 5's loop with chapter 10's loss: each step takes the next ``batch_size`` items of a
seeded order (reshuffled at each pass, :func:`zero2hero.finetuning.batching.epoch_order`), encodes them with the
chat template (:func:`~zero2hero.alignment.sft.encode_example`), pads them (:func:`~zero2hero.alignment.sft.collate`)
and takes one :func:`sft_step`: the response-only loss, then an AdamW step, the gradient norm clipped to 1 (TRL's
default too). The loss is :func:`~zero2hero.alignment.sft.sft_loss`'s, computed by
:func:`~zero2hero.alignment.response_logits.response_loss` without the full (batch, t, vocab) logits: the LM head
runs at the response positions only.

:func:`trl_sft_loss` asks TRL for the loss of one batch made of the same items, through the trainer's own data
preparation, collator and ``compute_loss``: the test asserts it equals ours.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from zero2hero.alignment.instructions import Instruction
from zero2hero.alignment.response_logits import response_loss
from zero2hero.alignment.sft import collate, encode_example
from zero2hero.errors import InputError
from zero2hero.finetuning.batching import epoch_order
from zero2hero.finetuning.loop import seed_everything
from zero2hero.progress import StepProgress

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

METHODS = ("lora", "full")
LORA_RANK = 8
LORA_ALPHA = 16
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
MAX_GRAD_NORM = 1.0


@dataclass
class SFTConfig:
    """The settings of one SFT run.

    ``learning_rate`` 2e-4 suits LoRA (``method="lora"``: PEFT LoRA, rank 8, alpha 16, no dropout, on the attention
    projections q/k/v/o; every other weight frozen). Full fine-tuning (``method="full"``: every weight trains) needs
    a ten times smaller one: pass ``learning_rate=2e-5``.
    """

    method: str = "lora"
    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 2e-4
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown SFT method {self.method!r}", f"use one of {', '.join(METHODS)}")
        for name in ("steps", "batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"SFT {name} must be a whole number ≥ 1, got {value!r}", f"set {name} to e.g. 8")
        if self.max_length < 32:
            raise InputError(f"SFT max_length {self.max_length} is too short for a chat-templated prompt",
                             "use max_length ≥ 32 (128 fits the instruction set)")
        if not isinstance(self.learning_rate, (int, float)) or not 0 < self.learning_rate < 1 \
                or not math.isfinite(self.learning_rate):
            raise InputError(f"SFT learning_rate must be between 0 and 1, got {self.learning_rate!r}",
                             "use 2e-4 for LoRA or 2e-5 for full fine-tuning")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"SFT seed must be a whole number, got {self.seed!r}", "set seed to e.g. 0")


@dataclass
class SFTHistory:
    """What a run did: the loss of every step, its wall-clock seconds, and its speed."""

    losses: list[float]
    seconds: float
    tokens_per_s: float  # every non-padding token the model read (prompt and response), per second of training


def with_lora(model: PreTrainedModel) -> Any:
    """``model`` wrapped by PEFT's LoRA (rank 8, alpha 16, no dropout, on q/k/v/o), every base weight frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                        bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def train_sft(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[Instruction],
              config: SFTConfig, progress: StepProgress | None = None,
              ) -> tuple[PreTrainedModel, SFTHistory]:
    """Fine-tune ``model`` on ``items`` (prompt → answer) for ``config.steps`` AdamW steps; return it and its history.

    The model's weights change in place. With LoRA the adapter is merged into the weights at the end, so the
    returned model is a plain transformers model either way (ready for generation, saving or DPO). ``progress``, if
    given, is called after each step as ``progress(step, config.steps, loss)`` (steps count from 1).

    Each step's loss is :func:`~zero2hero.alignment.sft.sft_loss` of the model's logits, computed without
    materialising them: :func:`sft_step` applies the LM head at the response positions only (same value, same
    gradients, a fraction of the head's cost).
    """
    if not items:
        raise InputError("no instructions to fine-tune on", "pass at least one Instruction")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    # 1. every item encoded once: the chat-templated prompt, the answer, the end of turn
    examples = [encode_example(tokenizer, item.prompt, item.answer, config.max_length) for item in items]
    # 2. the LoRA matrices' initial values come from the seed
    seed_everything(config.seed)
    trained = with_lora(model) if config.method == "lora" else model
    parameters = [parameter for parameter in trained.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    trained.train()
    losses, tokens, started = [], 0, time.perf_counter()
    for step in range(config.steps):
        # 3. the step's items: the next batch_size positions of the seeded order, a new shuffle at each pass
        positions = range(step * config.batch_size, (step + 1) * config.batch_size)
        batch = collate([examples[epoch_order(len(examples), config.seed, p // len(examples))[p % len(examples)]]
                         for p in positions], pad_id)
        # 4. forward, response-only loss, backward, clipped AdamW step
        losses.append(sft_step(trained, batch, optimizer, parameters))
        tokens += int(batch["attention_mask"].sum())
        if progress is not None:
            progress(step + 1, config.steps, losses[-1])
    seconds = time.perf_counter() - started
    trained.eval()
    # 5. LoRA: fold B·A·alpha/r into each adapted weight and drop the wrapper
    result = trained.merge_and_unload() if config.method == "lora" else trained
    return result, SFTHistory(losses=losses, seconds=seconds, tokens_per_s=tokens / max(seconds, 1e-9))


def sft_step(model: Any, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
             parameters: Sequence[torch.nn.Parameter]) -> float:
    """One optimizer step of :func:`train_sft` on a collated ``batch`` (input_ids, attention_mask, labels, each
    (batch, t)): the response-only loss, its backward, the gradient norm of ``parameters`` clipped to 1, the
    ``optimizer``'s update. Returns the loss."""
    loss = response_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
    optimizer.step()
    return loss.item()


def trl_sft_loss(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[Instruction],
                 max_length: int = 128) -> float:
    """TRL's ``SFTTrainer`` loss on one batch made of all ``items`` (response tokens only), without training.

    The items become a conversational prompt-completion data set; the trainer tokenises it with the chat template
    (``completion_only_loss=True`` masks the prompt), its own dataloader makes the batch and its ``compute_loss``
    scores it. The trainer patches the model it is given (a fused LM head), so it gets a copy: ``model`` is unchanged.
    """
    from datasets import Dataset, disable_progress_bars, enable_progress_bars, is_progress_bar_enabled
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    if not items:
        raise InputError("no instructions to compute the loss of", "pass at least one Instruction")
    rows = [{"prompt": [{"role": "user", "content": item.prompt}],
             "completion": [{"role": "assistant", "content": item.answer}]} for item in items]
    bars_were_on = is_progress_bar_enabled()
    disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="z2h-trl-sft-") as folder:
            args = TRLSFTConfig(output_dir=folder, per_device_train_batch_size=len(items), max_length=max_length,
                                completion_only_loss=True, bf16=False, activation_checkpointing=False, use_cpu=True,
                                report_to=[], disable_tqdm=True, save_strategy="no", logging_strategy="no")
            trainer = SFTTrainer(model=copy.deepcopy(model), args=args, train_dataset=Dataset.from_list(rows),
                                 processing_class=tokenizer)
            # one batch holding every item (the sampler's order does not change a mean over all response tokens)
            batch = next(iter(trainer.get_train_dataloader()))  # CPU tensors: nothing to move
            if batch["input_ids"].shape[0] != len(items):
                raise InputError(f"TRL kept {batch['input_ids'].shape[0]} of {len(items)} items within max_length="
                                 f"{max_length}", "raise max_length so every prompt leaves room for its answer")
            with torch.no_grad():
                return float(trainer.compute_loss(trainer.model, batch))
    finally:
        if bars_were_on:
            enable_progress_bars()
