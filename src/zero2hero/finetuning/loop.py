"""Fine-tuning a pretrained encoder for text classification: the training loop, written out step by step.

What ``Trainer.train()`` does for you, in plain PyTorch:

1. load the pretrained encoder with a fresh classification head (a linear layer on the [CLS] vector);
2. tokenize the texts once; each epoch, shuffle them (seeded) and cut batches, padded per batch;
3. for each optimizer step: forward and backward over ``gradient_accumulation_steps`` batches (their
   gradients add up, each loss divided by the number of batches, so the sum is a mean), clip the gradient
   norm, take an AdamW step, move the learning rate along its warm-up/decay schedule, zero the gradients;
4. every ``eval_every_steps`` steps: measure validation loss, accuracy and macro-F1, keep the best model
   (by macro-F1), save a ``last`` checkpoint to resume from, stop early when macro-F1 has not improved for
   ``early_stopping_patience`` evaluations.

:func:`zero2hero.finetuning.with_trainer.train_with_trainer` runs the same fine-tune through transformers'
``Trainer``; the tests check that both give the same loss, step for step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.finetuning.adaptation import Adaptation, adaptation_identity
from zero2hero.finetuning.batching import (
    EncodedExample,
    batch_indices,
    encode_examples,
    epoch_order,
    pad_batch,
    rank_share,
)
from zero2hero.finetuning.checkpoint import TrainingState, load_last, save_best, save_last
from zero2hero.finetuning.data import Example, LabelledSplits
from zero2hero.finetuning.device import autocast, resolve_device
from zero2hero.finetuning.distributed import World, join, mean_over_processes, wait_for_all, world_from_env, wrap
from zero2hero.finetuning.early_stopping import early_stopping
from zero2hero.finetuning.metrics import classification_report
from zero2hero.finetuning.parameters import trainable_parameters, trainable_summary
from zero2hero.finetuning.schedule import make_optimizer, make_scheduler, warmup_steps_for
from zero2hero.finetuning.train_config import TrainConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class TrainResult:
    """What a run produced: the per-step history, the best and last validation metrics, where the models are."""

    history: list[dict[str, Any]]  # per optimizer step: step, epoch, train_loss, learning_rate, and at
    # evaluation steps val_loss, accuracy, macro_f1
    best_step: int | None
    best_metrics: dict[str, float]
    final_metrics: dict[str, float]
    stopped_early: bool
    best_dir: Path
    last_dir: Path
    seconds: float
    trainable_parameters: int  # the weights the optimizer updated (with an adaptation, e.g. LoRA: a small share)
    trainable_summary: str  # PEFT's line: trainable params: ... || all params: ... || trainable%: ...

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "best_dir": str(self.best_dir), "last_dir": str(self.last_dir)}, indent=2)


def evaluate(model: torch.nn.Module, examples: Sequence[EncodedExample], label_names: list[str], batch_size: int,
             pad_token_id: int, device: torch.device) -> dict[str, float]:
    """Validation loss (mean cross-entropy per example), accuracy and macro-F1 of ``model`` on ``examples``.

    Macro-F1 averages the F1 of each class (of ``label_names``) with equal weight, so a model that always
    predicts the majority class scores poorly even when its accuracy looks fine.
    """
    model.eval()  # dropout off
    total_loss, predictions = 0.0, []
    with torch.no_grad(), autocast(device):
        for start in range(0, len(examples), batch_size):
            batch = {key: value.to(device) for key, value in pad_batch(examples[start:start + batch_size],
                                                                         pad_token_id).items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()  # (batch, num_labels)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            predictions += logits.argmax(dim=-1).tolist()
    scores = classification_report([example.label for example in examples], predictions, None, label_names)
    return {"val_loss": total_loss / len(examples), "accuracy": scores.accuracy, "macro_f1": scores.macro_f1}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (the new head's initial weights, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_model_and_tokenizer(config: TrainConfig, label_names: list[str], adaptation: Adaptation | None = None,
                             ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The pretrained encoder with a fresh head of ``num_labels`` outputs, and its tokenizer.

    With an ``adaptation`` (e.g. chapter 6's LoRA) the model is then prepared by it: its layers added, and every
    weight frozen but the ones it trains.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from zero2hero.assets import new_head_loading, resolve_model_path

    source = resolve_model_path(config.model)
    with new_head_loading():
        model = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=config.num_labels, dtype="float32",
            id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})
    if adaptation is not None:
        adaptation.prepare(model)
    return model, AutoTokenizer.from_pretrained(source)


def run_identity(config: TrainConfig, splits: LabelledSplits, world: World,
                 adaptation: Adaptation | None = None) -> dict[str, Any]:
    """What makes a run: every setting but where it writes and runs, the adaptation's settings, a hash of its
    data, the process count."""
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in ("output_dir", "device")}
    rows = [[example.text, example.label] for example in splits.train + splits.validation]
    data = hashlib.sha256(json.dumps([rows, splits.label_names]).encode("utf-8")).hexdigest()
    return {**settings, **adaptation_identity(adaptation), "data_sha256": data, "world_size": world.world_size}


def accumulate_gradients(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]],
                         device: torch.device) -> float:
    """Forward and backward over the batches of one optimizer step; return their mean loss.

    Each loss is divided by the number of batches before ``backward``: gradients *add up* across backward
    calls, so the accumulated gradient is the mean over the batches, as if they were one big batch.
    Under DDP, ``no_sync`` skips the gradient all-reduce for all but the last batch (one exchange per step).
    """
    model.train()  # dropout on
    total = 0.0
    for i, batch in enumerate(batches):
        batch = {key: value.to(device) for key, value in batch.items()}
        last = i == len(batches) - 1
        sync = model.no_sync() if hasattr(model, "no_sync") and not last else contextlib.nullcontext()
        with sync:
            with autocast(device):
                loss = model(**batch).loss  # mean cross-entropy over the batch
            (loss / len(batches)).backward()
        total += loss.item()
    return total / len(batches)


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, batches: list[dict[str, torch.Tensor]],
                   max_grad_norm: float, device: torch.device) -> tuple[float, float]:
    """One update of the weights from ``batches``; returns (their mean loss, the learning rate used).

    ``batches``: the padded batches of this step (gradient accumulation: one or more), each a dict of
    ``input_ids`` and ``attention_mask`` (batch, length) and ``labels`` (batch,) that ``model(**batch)`` takes.
    In order: in train mode, for each batch (moved to ``device``) the forward pass and its ``.loss`` divided by
    the number of batches, then ``backward``; clip the gradients' global norm to ``max_grad_norm``; read the
    learning rate (``scheduler.get_last_lr()[0]``); ``optimizer.step()``; ``scheduler.step()``;
    ``optimizer.zero_grad()``. The loss returned is the mean of the batches' undivided losses.
    """
    loss = accumulate_gradients(model, batches, device)
    # clipping: if the gradient's global L2 norm exceeds max_grad_norm, scale it down to that norm, so
    # one unlucky batch cannot throw the pretrained weights far away
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    learning_rate = scheduler.get_last_lr()[0]
    optimizer.step()  # AdamW: w -= lr * (m̂ / (√v̂ + eps) + weight_decay * w), m̂ and v̂ the moment estimates
    scheduler.step()  # the learning rate for the next step
    optimizer.zero_grad(set_to_none=True)  # else the next backward would add to these gradients
    return loss, learning_rate


def train(splits: LabelledSplits, config: TrainConfig, adaptation: Adaptation | None = None, *, resume: bool = False,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Fine-tune ``config.model`` on ``splits.train``, evaluating on ``splits.validation``.

    ``adaptation``: None trains every weight; a parameter-efficient method (e.g. chapter 6's ``LoRAAdaptation``)
    trains only the weights it chooses, and ``best/`` then holds what it saves (see ``adaptation``).

    ``resume=True`` continues from ``<output_dir>/last`` exactly where that run stopped (same weights,
    optimizer, schedule, random state and data position); it refuses a checkpoint of another configuration,
    and a configuration that keeps no ``last/`` (``keep_last_checkpoint=False``).
    ``on_step`` is called with each step's history record (after its evaluation, if any).
    Several processes (``WORLD_SIZE`` > 1, set by torchrun) train together with DDP: see ``distributed``.
    """
    _check_splits(splits, config)
    if resume and not config.keep_last_checkpoint:
        raise InputError("this run keeps no last checkpoint (keep_last_checkpoint=False), so it cannot resume",
                         "train from the start, or set keep_last_checkpoint=True to be able to resume")
    started = time.perf_counter()
    world = world_from_env()
    device = resolve_device(config.device, world.local_rank)
    join(world, device)
    seed_everything(config.seed)

    # 1. the model, the data and how many steps the run has
    model, tokenizer = load_model_and_tokenizer(config, splits.label_names, adaptation)
    model.to(device)
    train_set = encode_examples(tokenizer, splits.train, config.max_length)
    validation_set = encode_examples(tokenizer, splits.validation, config.max_length)
    batches_per_epoch = math.ceil(len(train_set) // world.world_size / config.batch_size)  # see rank_share
    total_steps = config.epochs * math.ceil(batches_per_epoch / config.gradient_accumulation_steps)

    # 2. the optimizer, the schedule, and where the run starts (step 0, or the last checkpoint)
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    scheduler = make_scheduler(optimizer, warmup_steps_for(config.warmup_ratio, total_steps), total_steps)
    identity = run_identity(config, splits, world, adaptation)
    best_dir, last_dir = config.output_dir / "best", config.output_dir / "last"
    state = load_last(last_dir, model, optimizer, scheduler, identity) if resume else TrainingState()
    trained_model = wrap(model, world, device)

    progress = tqdm(total=total_steps, initial=state.global_step, desc="fine-tuning", unit="step",
                    disable=not (world.is_main and sys.stderr.isatty()))
    while state.epoch < config.epochs and not _stop_early(state, config):
        # 3. this epoch's batches: the seeded order, this process's share, cut into batches
        order = rank_share(epoch_order(len(train_set), config.seed, state.epoch), world.rank, world.world_size)
        batches = batch_indices(order, config.batch_size)
        for first in range(state.batches_done, len(batches), config.gradient_accumulation_steps):
            group = batches[first:first + config.gradient_accumulation_steps]
            padded = [pad_batch([train_set[i] for i in indices], tokenizer.pad_token_id) for indices in group]

            # 4. one optimizer step
            loss, learning_rate = optimizer_step(trained_model, optimizer, scheduler, padded,
                                                 config.max_grad_norm, device)
            state.global_step += 1
            state.batches_done = first + len(group)
            record = {"step": state.global_step, "epoch": state.epoch, "learning_rate": learning_rate,
                      "train_loss": mean_over_processes(loss, world, device)}
            state.history.append(record)

            # 5. evaluate, keep the best model, save where we are
            if state.global_step % config.eval_every_steps == 0 or state.global_step == total_steps:
                _evaluate_and_save(model, tokenizer, optimizer, scheduler, state, validation_set, config,
                                   adaptation, world, device, identity)
            progress.update(1)
            progress.set_postfix(_postfix(state))
            if on_step is not None:
                on_step(record)
            if _stop_early(state, config):
                break
        else:  # the epoch ran to its end
            state.epoch += 1
            state.batches_done = 0
    progress.close()
    return _finish(state, config, model, best_dir, last_dir, world, time.perf_counter() - started)


def _check_splits(splits: LabelledSplits, config: TrainConfig) -> None:
    if len(splits.label_names) != config.num_labels:
        raise InputError(f"the data has {len(splits.label_names)} labels but num_labels is {config.num_labels}",
                         f"set num_labels={len(splits.label_names)}")
    for name, examples in (("train", splits.train), ("validation", splits.validation)):
        if not examples:
            raise InputError(f"the {name} split is empty", "give it at least one example")
        wrong = [example for example in examples if not 0 <= example.label < config.num_labels]
        if wrong:
            raise InputError(f"{len(wrong)} {name} examples have a label outside 0..{config.num_labels - 1}, "
                             f"e.g. {_show(wrong[0])}", "labels are indices into label_names")


def _show(example: Example) -> str:
    return f"label {example.label} on {example.text[:40]!r}"


def _evaluate_and_save(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, optimizer: torch.optim.Optimizer,
                       scheduler: torch.optim.lr_scheduler.LRScheduler, state: TrainingState,
                       validation_set: list[EncodedExample], config: TrainConfig, adaptation: Adaptation | None,
                       world: World, device: torch.device, identity: dict[str, Any]) -> None:
    """Evaluate; on a better macro-F1 replace ``best/``; then replace ``last/`` (rank 0 writes, the others wait)."""
    metrics = evaluate(model, validation_set, list(model.config.id2label.values()), config.batch_size,
                       tokenizer.pad_token_id, device)
    state.history[-1].update(metrics)
    # The early-stopping rule (chapter 5's exercise): the best evaluation is the first with the highest
    # macro-F1, and every evaluation since it counts against the patience.
    scores = [record["macro_f1"] for record in state.history if "macro_f1" in record]
    best, _ = early_stopping(scores, config.early_stopping_patience or len(scores) + 1)
    improved = best == len(scores) - 1
    state.evaluations_without_improvement = len(scores) - 1 - best
    if improved:
        state.best_macro_f1, state.best_step = metrics["macro_f1"], state.global_step
    if world.is_main:
        if improved:
            save_best(config.output_dir / "best", model, tokenizer, adaptation, base_model_name(config))
        if config.keep_last_checkpoint:
            save_last(config.output_dir / "last", model, tokenizer, optimizer, scheduler, state, identity)
    wait_for_all(world)


def base_model_name(config: TrainConfig) -> str:
    """The pretrained model as an adaptation's checkpoint names it: an offline default or hub name as given, a
    local folder as an absolute path (so it is still found when used from another working folder)."""
    from zero2hero.assets import ASSETS

    folder = Path(config.model).expanduser()
    return str(folder.resolve()) if config.model not in ASSETS and folder.is_dir() else config.model


def _stop_early(state: TrainingState, config: TrainConfig) -> bool:
    patience = config.early_stopping_patience
    return patience is not None and state.evaluations_without_improvement >= patience


def _postfix(state: TrainingState) -> dict[str, str]:
    """The progress bar's right side: the step's loss and the latest validation metrics."""
    shown = {"loss": f"{state.history[-1]['train_loss']:.4f}"}
    evaluated = [record for record in state.history if "macro_f1" in record]
    if evaluated:
        shown |= {"val_acc": f"{evaluated[-1]['accuracy']:.3f}", "val_f1": f"{evaluated[-1]['macro_f1']:.3f}"}
    return shown


_METRICS = ("val_loss", "accuracy", "macro_f1")


def _finish(state: TrainingState, config: TrainConfig, model: torch.nn.Module, best_dir: Path, last_dir: Path,
            world: World, seconds: float) -> TrainResult:
    """The run's result; rank 0 also writes it to ``<output_dir>/history.json``."""
    evaluated = [record for record in state.history if "macro_f1" in record]
    best = next((record for record in evaluated if record["step"] == state.best_step), {})
    result = TrainResult(
        history=state.history, best_step=state.best_step,
        best_metrics={key: best[key] for key in _METRICS if key in best},
        final_metrics={key: evaluated[-1][key] for key in _METRICS} if evaluated else {},
        stopped_early=_stop_early(state, config), best_dir=best_dir, last_dir=last_dir, seconds=seconds,
        trainable_parameters=trainable_parameters(model)[0], trainable_summary=trainable_summary(model))
    if world.is_main:
        atomic_write_text(config.output_dir / "history.json", result.to_json())
    return result
