"""Supervised fine-tuning of the reply generator: a PEFT LoRA adapter on SmolLM2, trained on (review, reply) pairs.

Each example is the desk's prompt (:func:`zero2hero.pipeline.replies.training_text`: the chat template with the
review, the assistant's turn opened) followed by the reference reply and the end-of-sequence token. The model reads
the whole text, but the loss counts only the reply's tokens: the prompt is given, not something to learn to write.

The loop: a seeded order over the examples (reshuffled each pass, chapter 5's ``epoch_order``); ``steps`` optimizer
steps, each on a global batch of ``batch_size`` examples; AdamW with linear warm-up and decay (chapter 5's
schedule); the gradient norm clipped. Under torchrun each process takes every world_size-th example of each global
batch and DDP (gloo on a CPU) averages the gradients; the loss is normalised by the global batch's count of reply
tokens, so one process and two follow the same curve. Every ``checkpoint_every`` steps rank 0 saves the adapter's
weights, the optimizer, the schedule, the step and the random state (chapter 5's ``save_last``); a run started again
resumes from there and ends with the same weights as a run that never stopped.

Entry point for torchrun (what the train_generator stage launches)::

    torchrun --nproc_per_node 2 -m zero2hero.pipeline.reply_sft --config sft.json --data train.jsonl \\
        --out models/generator --checkpoint checkpoints/train_generator/KEY
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from zero2hero.assets import load_causal_lm
from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.files import atomic_dir, atomic_write_text
from zero2hero.finetuning.batching import epoch_order
from zero2hero.finetuning.checkpoint import TrainingState, load_last, save_last
from zero2hero.finetuning.distributed import World, join, mean_over_processes, wait_for_all, world_from_env, wrap
from zero2hero.finetuning.loop import seed_everything
from zero2hero.finetuning.parameters import trainable_parameters
from zero2hero.finetuning.schedule import make_optimizer, make_scheduler, warmup_steps_for
from zero2hero.pipeline.replies import training_text
from zero2hero.pipeline.stage_io import read_records

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

IGNORE = -100  # the label that cross-entropy skips (PyTorch's and transformers' ignore_index)
WARMUP_RATIO = 0.1
MAX_GRAD_NORM = 1.0
RESULT_FILE = "sft_result.json"  # written by rank 0 beside the checkpoint: what the run did


@dataclass(frozen=True)
class ReplySFTConfig:
    """The ``generator`` section's settings of one run (``processes`` and threads are the launcher's business)."""

    base: str = "smollm2"  # "smollm2" or a save_pretrained folder of a causal LM
    rank: int = 8
    alpha: float = 16.0
    targets: str = "q_proj,v_proj"
    steps: int = 200
    learning_rate: float = 1.0e-3
    batch_size: int = 8  # the global batch: examples per optimizer step over all processes
    max_length: int = 256  # tokens per example (prompt + reply); a longer review is cut short to fit
    train_examples: int | None = None  # how many train records to use (a seeded choice); None: all
    checkpoint_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "steps", "batch_size", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"generator.{name} must be a whole number ≥ 1, got {value!r}",
                                 f"set generator.{name} to e.g. 8")
        if self.max_length < 16:
            raise InputError(f"generator.max_length {self.max_length} leaves no room for a prompt and a reply",
                             "use e.g. 256")
        if not 0 < self.learning_rate < 1:
            raise InputError(f"generator.learning_rate {self.learning_rate} is out of range", "use e.g. 1e-3")
        if self.train_examples is not None and self.train_examples < 1:
            raise InputError(f"generator.train_examples {self.train_examples} is below 1", "use null for all")


@dataclass(frozen=True)
class EncodedReply:
    input_ids: list[int]  # prompt tokens, then reply tokens (cut to max_length)
    labels: list[int]  # IGNORE on every prompt position, the token itself on every reply position


@dataclass
class SFTResult:
    losses: list[dict[str, float]]  # per optimizer step: step, loss (mean nats per reply token), learning_rate
    examples: int  # examples trained on (after dropping those whose prompt fills max_length)
    cut: int  # reviews shortened to fit max_length
    dropped: int
    trainable_parameters: int
    total_parameters: int
    seconds: float  # of this run (a resumed run: since it resumed)
    tokens: int  # tokens (prompt and reply) the steps of this run went through, over all processes
    resumed_from_step: int


def encode_reply(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str, max_length: int) -> EncodedReply:
    """Token ids of ``prompt + completion`` and their labels, with the loss masked off the prompt.

    Step by step:

    1. tokenize the prompt and the completion separately, without adding special tokens (the chat template already
       wrote them into the prompt text): so we know exactly which ids are the prompt's;
    2. ``input_ids`` is the two lists one after the other: the model reads the whole conversation;
    3. ``labels`` starts as a copy of ``input_ids`` with every prompt position replaced by -100: cross-entropy skips
       those positions, so the model is never trained to write the system prompt or the review, only the reply;
    4. both are cut to ``max_length`` at the end (a long reply loses its tail, the prompt stays whole).

    The model shifts the labels itself: position t is scored on predicting label t + 1 (see :func:`reply_loss`).
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + reply_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + reply_ids)[:max_length]
    return EncodedReply(input_ids, labels)


def fitted_text(tokenizer: PreTrainedTokenizerBase, review: str, reply: str, max_length: int) -> tuple[str, str]:
    """:func:`training_text` with the review cut short (tokens off its end) until prompt and reply fit in
    ``max_length`` tokens: a long review loses its tail, the reply the model learns stays whole."""
    review_ids = tokenizer(review, add_special_tokens=False)["input_ids"]
    while True:
        prompt, completion = training_text(tokenizer, review, reply)
        over = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in (prompt, completion))
        over -= max_length
        if over <= 0 or not review_ids:
            return prompt, completion
        review_ids = review_ids[:max(0, len(review_ids) - over)]
        review = tokenizer.decode(review_ids)


def encode_records(tokenizer: PreTrainedTokenizerBase, records: Sequence[dict[str, Any]],
                   max_length: int) -> tuple[list[EncodedReply], int, int]:
    """Encode each record's ``text`` and ``reply``, a long review cut (:func:`fitted_text`); drop those left with
    no reply token (the prompt alone fills ``max_length``). Returns (the encoded examples, how many reviews were
    cut, how many examples were dropped)."""
    encoded, cut = [], 0
    for record in records:
        prompt, completion = fitted_text(tokenizer, str(record["text"]), str(record["reply"]), max_length)
        cut += prompt != training_text(tokenizer, str(record["text"]), str(record["reply"]))[0]
        encoded.append(encode_reply(tokenizer, prompt, completion, max_length))
    kept = [example for example in encoded if any(label != IGNORE for label in example.labels)]
    return kept, cut, len(encoded) - len(kept)


def choose_records(records: Sequence[dict[str, Any]], count: int | None, seed: int) -> list[dict[str, Any]]:
    """``count`` records in a seeded random choice (all of them, in a seeded order, when ``count`` is None)."""
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    return [records[i] for i in order[:count]]


def pad_replies(examples: Sequence[EncodedReply], pad_token_id: int) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels``, each (batch, longest), padded on the right; padding gets
    label -100 too, so it is never scored."""
    longest = max(len(example.input_ids) for example in examples)
    rows = [(example.input_ids + [pad_token_id] * (longest - len(example.input_ids)),
             [1] * len(example.input_ids) + [0] * (longest - len(example.input_ids)),
             example.labels + [IGNORE] * (longest - len(example.labels))) for example in examples]
    ids, mask, labels = (torch.tensor([row[i] for row in rows]) for i in range(3))
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def reply_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], normaliser: int) -> torch.Tensor:
    """Summed cross-entropy over the batch's reply tokens divided by ``normaliser`` (a count of reply tokens).

    Logits at position t predict token t + 1, so the logits drop their last position and the labels their first;
    positions labelled -100 (prompt, padding) are skipped.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (b, n, vocab)
    targets = batch["labels"][:, 1:]  # (b, n - 1)
    total = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE,
                            reduction="sum")
    return total / normaliser


def global_batch(step: int, batch_size: int, examples: int, seed: int) -> list[int]:
    """The example indices of optimizer step ``step`` (0-based): the next ``batch_size`` of a seeded order that is
    reshuffled at each pass over the examples (a pure function of its arguments: resuming needs only the step)."""
    positions = range(step * batch_size, (step + 1) * batch_size)
    return [epoch_order(examples, seed, position // examples)[position % examples] for position in positions]


def with_lora(model: PreTrainedModel, config: ReplySFTConfig) -> Any:
    """PEFT's LoRA on ``config.targets`` (every other weight frozen); the adapter's base is named as configured."""
    from peft import LoraConfig, get_peft_model

    from zero2hero.lora.inject import parse_targets

    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=parse_targets(config.targets),
                      lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.peft_config["default"].base_model_name_or_path = base_name(config.base)
    return model


def base_name(base: str) -> str:
    """How the adapter names its base: "smollm2" as it is, a folder as an absolute path."""
    folder = Path(base).expanduser()
    return str(folder.resolve()) if base != "smollm2" and folder.is_dir() else base


def run_identity(config: ReplySFTConfig, examples: Sequence[EncodedReply], world: World) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the settings, the examples, the process count."""
    data = hashlib.sha256(json.dumps([[e.input_ids, e.labels] for e in examples]).encode("utf-8")).hexdigest()
    return {**asdict(config), "data_sha256": data, "world_size": world.world_size}


def train_replies(records: Sequence[dict[str, Any]], config: ReplySFTConfig, out_dir: Path, checkpoint_dir: Path,
                  on_step: Callable[[dict[str, float]], None] | None = None) -> SFTResult:
    """Fine-tune a LoRA adapter on ``records`` ({"text", "reply", ...}); rank 0 saves it to ``out_dir`` (PEFT's
    ``save_pretrained`` and the tokenizer) and the result to ``checkpoint_dir/sft_result.json``.

    Resumes from ``checkpoint_dir/last`` when it is there. ``on_step`` gets each step's record.
    """
    world = world_from_env()
    device = torch.device("cpu")
    join(world, device)
    if config.batch_size % world.world_size:
        raise InputError(f"generator.batch_size {config.batch_size} does not split over {world.world_size} "
                         "processes", f"use a multiple of {world.world_size}")
    seed_everything(config.seed)  # the LoRA matrices' initial values: the same on every process
    model, tokenizer = load_causal_lm(config.base)  # float32; "smollm2" or a model folder
    examples, cut, dropped = encode_records(tokenizer, choose_records(records, config.train_examples, config.seed),
                                            config.max_length)
    if not examples:
        raise InputError(f"no training example fits generator.max_length={config.max_length}",
                         "raise generator.max_length, or check that the train split has records")
    model = with_lora(model, config)
    optimizer = make_optimizer(model, config.learning_rate, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, warmup_steps_for(WARMUP_RATIO, config.steps), config.steps)
    identity = run_identity(config, examples, world)
    last_dir = Path(checkpoint_dir) / "last"
    state = load_last(last_dir, model, optimizer, scheduler, identity) if last_dir.is_dir() else TrainingState()
    resumed_from, started, tokens = state.global_step, time.perf_counter(), 0
    trained = wrap(model, world, device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    while state.global_step < config.steps:
        indices = global_batch(state.global_step, config.batch_size, len(examples), config.seed)
        everyone = [examples[i] for i in indices]
        # every process knows the whole global batch, so each can divide by its count of reply tokens: the sum of
        # the processes' losses is then the global mean, and DDP's average of gradients is that mean's / world size
        reply_tokens = sum(1 for example in everyone for label in example.labels[1:] if label != IGNORE)
        mine = pad_replies(everyone[world.rank::world.world_size], pad_id)
        trained.train()
        loss = reply_loss(trained, mine, reply_tokens) * world.world_size  # DDP divides the gradients back
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], MAX_GRAD_NORM)
        learning_rate = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.global_step += 1
        tokens += sum(len(example.input_ids) for example in everyone)
        record = {"step": state.global_step, "loss": mean_over_processes(loss.item(), world, device),
                  "learning_rate": learning_rate}
        state.history.append(record)
        if state.global_step % config.checkpoint_every == 0 and state.global_step < config.steps:
            if world.is_main:
                save_last(last_dir, model, tokenizer, optimizer, scheduler, state, identity)
            wait_for_all(world)
        if on_step is not None:
            on_step(record)
    trainable, total = trainable_parameters(model)
    result = SFTResult(state.history, len(examples), cut, dropped, trainable, total, time.perf_counter() - started,
                       tokens, resumed_from)
    if world.is_main:
        with atomic_dir(Path(out_dir)) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        atomic_write_text(Path(checkpoint_dir) / RESULT_FILE, json.dumps(asdict(result), indent=2))
    wait_for_all(world)
    return result


def _config_from_json(path: Path) -> ReplySFTConfig:
    try:
        return ReplySFTConfig(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, Zero2HeroError):
            raise
        raise InputError(f"cannot read the configuration in {path}: {err}",
                         "write a JSON object whose keys are ReplySFTConfig fields") from None


def main(argv: list[str] | None = None) -> None:
    """Entry point for torchrun: train on a JSONL file with a JSON config (ReplySFTConfig fields)."""
    parser = argparse.ArgumentParser(description="Fine-tune the reply generator (LoRA) on one or several processes.")
    parser.add_argument("--config", type=Path, required=True, help="JSON object of ReplySFTConfig fields")
    parser.add_argument("--data", type=Path, required=True, help="JSONL records with text and reply")
    parser.add_argument("--out", type=Path, required=True, help="the adapter folder to write (must not exist)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="where checkpoints are kept and resumed from")
    args = parser.parse_args(argv)
    try:
        train_replies(read_records(args.data), _config_from_json(args.config), args.out, args.checkpoint)
    except Zero2HeroError as err:  # one line, no traceback
        sys.exit(f"error: {err}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
