"""What one SFT or DPO optimizer step costs, our loop against TRL's trainer, on the same model, batch and length.

Both sides train PEFT's LoRA (r=8, alpha 16, no dropout, on q, k, v, o) with AdamW at the same constant learning
rate (no weight decay), clip the gradient norm to 1.0 in SFT and not in DPO (as our ``train_sft`` and ``train_dpo``
do), and see the same examples: SFT, ``batch_size`` instructions (the four tasks in turn); DPO, ``batch_size``
preference pairs built from them (2 × ``batch_size`` sequences, the reference being the policy with its adapter
off). Tokens are the same too: the chat template, response-only labels, right padding to the batch's longest
sequence, cut at ``max_length``.

The clock covers exactly the optimizer steps: forward, loss, backward, clipping and the AdamW update, on a batch
already made. Ours times the step function our training loops call (:func:`~zero2hero.alignment.sft_train.sft_step`,
:func:`~zero2hero.alignment.dpo.dpo_step`) on a collated batch; TRL's is read from its trainer's callbacks, from
``on_step_begin`` to ``on_step_end``, so it leaves out the trainer's set-up (tokenising the data set, wrapping the
model, building the optimizer) and its dataloader, as ours leaves out encoding and collating. Each side first takes
one untimed step (lazy set-up: AdamW's state, thread pools). ``python -m zero2hero.alignment.step_timing memory KIND
TRAINER MODEL BATCH LENGTH STEPS`` measures the peak memory in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zero2hero.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.alignment.instructions import Instruction
    from zero2hero.alignment.preferences import PreferencePair

KINDS = ("sft", "dpo")
TRAINERS = ("ours", "trl")
LEARNING_RATE = 1e-4
BETA = 0.1
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class Workload:
    kind: str  # "sft" or "dpo"
    model: str  # a model name ("smollm2") or a folder holding a causal LM and its tokenizer
    batch_size: int  # instructions (SFT) or preference pairs (DPO) per step
    max_length: int  # tokens per sequence at most


@dataclass
class Round:
    seconds_per_step: float


def step_items(batch_size: int) -> list[Instruction]:
    """``batch_size`` instructions, the four tasks in turn (short arithmetic to long sentiment prompts)."""
    from zero2hero.alignment.instructions import TASKS, build_instructions

    items = build_instructions(per_template=(batch_size + 3) // 4)
    by_task = [[item for item in items if item.task == task] for task in TASKS]
    return [by_task[i % len(TASKS)][i // len(TASKS)] for i in range(batch_size)]


def step_pairs(batch_size: int) -> list[PreferencePair]:
    """One preference pair per instruction of :func:`step_items`."""
    from zero2hero.alignment.preferences import build_pairs

    return build_pairs(step_items(batch_size))


def lora_config() -> Any:
    from peft import LoraConfig

    from zero2hero.alignment.sft_train import LORA_ALPHA, LORA_RANK, LORA_TARGETS

    return LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                      bias="none", task_type="CAUSAL_LM")


def prepare(workload: Workload, trainer: str) -> Callable[[int], Round]:
    """Load a fresh model and :func:`set_up` ``trainer`` on it."""
    from zero2hero.assets import load_causal_lm

    return set_up(*load_causal_lm(workload.model), workload, trainer)


def set_up(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, workload: Workload, trainer: str
           ) -> Callable[[int], Round]:
    """``trainer`` set up to train ``model`` on ``workload``; the returned run takes one untimed step, then
    ``steps`` timed ones, and gives their mean seconds per step."""
    if workload.kind not in KINDS or trainer not in TRAINERS:
        raise InputError(f"unknown step {workload.kind!r} by {trainer!r}",
                         f"use a kind in {', '.join(KINDS)} and a trainer in {', '.join(TRAINERS)}")
    if trainer == "ours":
        return _timed_loop(_our_sft_step(model, tokenizer, workload) if workload.kind == "sft"
                           else _our_dpo_step(model, tokenizer, workload))
    return _trl_steps(model, tokenizer, workload)


def _timed_loop(step: Callable[[], float]) -> Callable[[int], Round]:
    from zero2hero.measure import Stopwatch

    def run(steps: int) -> Round:
        step()  # untimed: the first step builds AdamW's state
        watch = Stopwatch()
        for _ in range(steps):
            step()
        return Round(watch.seconds / steps)

    return run


def _our_sft_step(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, workload: Workload
                  ) -> Callable[[], float]:
    """:func:`zero2hero.alignment.sft_train.train_sft`'s step (:func:`~zero2hero.alignment.sft_train.sft_step`) on
    a fixed collated batch."""
    import torch

    from zero2hero.alignment.sft import collate, encode_example
    from zero2hero.alignment.sft_train import sft_step, with_lora

    batch = collate([encode_example(tokenizer, item.prompt, item.answer, workload.max_length)
                     for item in step_items(workload.batch_size)], tokenizer.pad_token_id)
    policy = with_lora(model).train()
    parameters = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=0.0)
    return lambda: sft_step(policy, batch, optimizer, parameters)


def _our_dpo_step(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, workload: Workload
                  ) -> Callable[[], float]:
    """:func:`zero2hero.alignment.dpo.train_dpo`'s step (:func:`~zero2hero.alignment.dpo.dpo_step`; LoRA, the
    reference = the adapter off) on a fixed batch of pairs."""
    import torch
    from peft import get_peft_model

    from zero2hero.alignment.dpo import dpo_step, encode_pairs, pair_batch

    batch = pair_batch(encode_pairs(tokenizer, step_pairs(workload.batch_size), workload.max_length),
                       tokenizer.pad_token_id)
    policy = get_peft_model(model, lora_config()).train()
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=LEARNING_RATE,
                                  weight_decay=0.0)
    return lambda: dpo_step(policy, None, batch, optimizer, BETA)


def _trl_steps(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, workload: Workload
               ) -> Callable[[int], Round]:
    """TRL's SFTTrainer or DPOTrainer on the same data; each step timed by a callback."""
    from datasets import Dataset, disable_progress_bars
    from transformers import PrinterCallback, TrainerCallback

    from zero2hero.measure import Stopwatch

    disable_progress_bars()  # the data set's tokenising bars
    times: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.watch = Stopwatch()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times.append(self.watch.seconds)

    common = dict(per_device_train_batch_size=workload.batch_size, max_length=workload.max_length,
                  learning_rate=LEARNING_RATE, lr_scheduler_type="constant", weight_decay=0.0,
                  max_grad_norm=MAX_GRAD_NORM, bf16=False, gradient_checkpointing=False, use_cpu=True, report_to=[],
                  disable_tqdm=True, save_strategy="no", logging_strategy="no", seed=0)

    def run(steps: int) -> Round:
        with tempfile.TemporaryDirectory() as output_dir:
            if workload.kind == "sft":
                from trl import SFTConfig, SFTTrainer

                rows = [{"prompt": [{"role": "user", "content": item.prompt}],
                         "completion": [{"role": "assistant", "content": item.answer}]}
                        for item in step_items(workload.batch_size)]
                args = SFTConfig(output_dir=output_dir, max_steps=1 + steps, completion_only_loss=True, **common)
                trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                     processing_class=tokenizer, peft_config=lora_config(), callbacks=[StepClock()])
            else:
                from trl import DPOConfig, DPOTrainer

                rows = [{"prompt": [{"role": "user", "content": pair.prompt}],
                         "chosen": [{"role": "assistant", "content": pair.chosen}],
                         "rejected": [{"role": "assistant", "content": pair.rejected}]}
                        for pair in step_pairs(workload.batch_size)]
                # no clipping for DPO: train_dpo does not clip either
                args = DPOConfig(output_dir=output_dir, max_steps=1 + steps, beta=BETA, loss_type=["sigmoid"],
                                 **(common | {"max_grad_norm": 0.0}))
                trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                     processing_class=tokenizer, peft_config=lora_config(), callbacks=[StepClock()])
            trainer.remove_callback(PrinterCallback)  # it would print the run's summary
            trainer.train()
        timed = times[1:]  # the first step is the untimed one
        return Round(sum(timed) / len(timed))

    return run


def write_tiny_llama(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 64-wide Llama (tied embeddings, like SmolLM2) with SmolLM2's tokenizer and chat template, saved
    into ``folder``: the quick bench's model, and the tests' stand-in for SmolLM2."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from zero2hero.assets import load_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer("smollm2")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, max_position_embeddings=1024,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def peak_added_mb(workload: Workload, trainer: str, steps: int) -> float:
    """The peak memory setting ``trainer`` up and running 1 + ``steps`` steps adds over the loaded model, measured
    in a fresh Python process (see :func:`zero2hero.lora.step_cost.peak_added_mb` for why, and for the
    ``MALLOC_MMAP_THRESHOLD_`` setting)."""
    command = [sys.executable, "-m", __name__, "memory", workload.kind, trainer, workload.model,
               str(workload.batch_size), str(workload.max_length), str(steps)]
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the memory of {trainer}'s {workload.kind} step failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_added_mb"]


def _measure_memory(workload: Workload, trainer: str, steps: int) -> None:
    """In a fresh process: load the model (read once, so its mapped pages count as loaded), then print the peak
    memory the trainer's set-up and steps add."""
    from zero2hero.assets import load_causal_lm
    from zero2hero.measure import PeakMemory, make_resident

    model, tokenizer = load_causal_lm(workload.model)
    make_resident(model)
    with PeakMemory() as peak:
        set_up(model, tokenizer, workload, trainer)(steps)
    print(json.dumps({"peak_added_mb": peak.added_mb}))


if __name__ == "__main__":
    _measure_memory(Workload(sys.argv[2], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])), sys.argv[3],
                    int(sys.argv[7]))
