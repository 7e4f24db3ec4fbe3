"""The same fine-tune through transformers' ``Trainer``: the library path beside our loop.

The hyper-parameters of :class:`~zero2hero.finetuning.train_config.TrainConfig` map one to one onto
``TrainingArguments`` (learning_rate, per_device_train_batch_size, gradient_accumulation_steps, warmup_steps,
weight_decay, max_grad_norm, lr_scheduler_type="linear", seed); the optimizer is the Trainer's AdamW with the
same two parameter groups; ``DataCollatorWithPadding`` pads each batch as our ``pad_batch`` does.

One thing is changed on purpose, the order of the examples: the Trainer draws its own with a
``RandomSampler``, which cannot reproduce ours. transformers 5 builds its training ``DataLoader`` in
``Trainer.get_train_dataloader`` → ``_get_dataloader(sampler_fn=self._get_train_sampler)``, and accelerate
calls the sampler's ``set_epoch(epoch)`` at every epoch; overriding ``_get_train_sampler`` (a documented
extension point) to return our :class:`~zero2hero.finetuning.batching.EpochOrderSampler` makes both paths
see the same batches in the same order, which lets the tests compare them step by step.

What still differs:

* Under gradient accumulation, transformers 5.24 sees that ``BertForSequenceClassification.forward`` takes
  ``**kwargs`` and assumes the model scales its loss by the number of items in the accumulated batch
  (``num_items_in_batch``) — but the sequence-classification loss is a plain mean and ignores it. So the
  Trainer does not divide each batch's loss by ``gradient_accumulation_steps``: its gradient is the *sum*
  over the accumulated batches where ours is their mean, and the loss it logs is the sum too. Gradient
  clipping then bites earlier and AdamW sees a k-times larger gradient (which it mostly normalises away).
  ``divide_loss_by_accumulation=True`` (the default here) sets ``trainer.model_accepts_loss_kwargs = False``
  so the Trainer divides as our loop does; pass False to see the library's default behaviour.
* Our loop also evaluates after the last step when it is not a multiple of ``eval_every_steps``; the
  Trainer evaluates only every ``eval_steps``. The validation loss is a mean over examples in both (the
  Trainer repeats each batch's mean loss once per example before averaging).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zero2hero.finetuning.batching import EncodedExample, EpochOrderSampler, encode_examples
from zero2hero.finetuning.checkpoint import replace_folder
from zero2hero.finetuning.data import LabelledSplits
from zero2hero.finetuning.loop import TrainResult, load_model_and_tokenizer, seed_everything
from zero2hero.finetuning.metrics import classification_report
from zero2hero.finetuning.parameters import trainable_parameters, trainable_summary
from zero2hero.finetuning.schedule import warmup_steps_for
from zero2hero.finetuning.train_config import TrainConfig

if TYPE_CHECKING:
    from transformers import EvalPrediction


@dataclass(frozen=True)
class _Rows:
    """Our encoded examples as the list-of-dicts dataset the Trainer's collator takes."""

    examples: list[EncodedExample]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        example = self.examples[i]
        row = {"input_ids": example.input_ids, "labels": example.label}
        return row if example.token_type_ids is None else row | {"token_type_ids": example.token_type_ids}


def _metrics_for(label_names: list[str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """The Trainer's ``compute_metrics``: accuracy and macro-F1 from its logits and labels (it adds eval_loss)."""

    def metrics(prediction: EvalPrediction) -> dict[str, float]:
        predicted = np.argmax(prediction.predictions, axis=-1).tolist()
        scores = classification_report(prediction.label_ids.tolist(), predicted, None, label_names)
        return {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1}

    return metrics


def _history(log_history: list[dict[str, float]]) -> list[dict[str, Any]]:
    """The Trainer's log as our per-step records: step, train_loss, learning_rate, and at evaluations the metrics."""
    records: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        record = records.setdefault(int(entry["step"]), {"step": int(entry["step"])})
        if "loss" in entry:
            record |= {"train_loss": float(entry["loss"]), "learning_rate": float(entry["learning_rate"])}
        if "eval_macro_f1" in entry:
            record |= {"val_loss": entry["eval_loss"], "accuracy": entry["eval_accuracy"],
                       "macro_f1": entry["eval_macro_f1"]}
    return [records[step] for step in sorted(records) if "train_loss" in records[step]]


def train_with_trainer(splits: LabelledSplits, config: TrainConfig, *, keep_best: bool = True,
                       divide_loss_by_accumulation: bool = True) -> TrainResult:
    """Fine-tune as :func:`~zero2hero.finetuning.loop.train` does, with ``Trainer`` doing the loop.

    ``keep_best`` saves a checkpoint at each better validation macro-F1 and writes the best model and its
    tokenizer to ``<output_dir>/best`` at the end (False: nothing is saved, as in the equivalence tests).
    Runs on the CPU in float32 (``use_cpu=True``, no bf16).
    """
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

    class OurOrderTrainer(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> EpochOrderSampler:
            return EpochOrderSampler(len(self.train_dataset), config.seed)

    started = time.perf_counter()
    seed_everything(config.seed)  # as our loop does before loading: the same fresh head
    model, tokenizer = load_model_and_tokenizer(config, splits.label_names)
    train_set = _Rows(encode_examples(tokenizer, splits.train, config.max_length))
    validation_set = _Rows(encode_examples(tokenizer, splits.validation, config.max_length))
    total_steps = config.epochs * math.ceil(math.ceil(len(train_set) / config.batch_size)
                                            / config.gradient_accumulation_steps)
    args = TrainingArguments(
        output_dir=str(config.output_dir / "trainer"), num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.gradient_accumulation_steps,
        warmup_steps=warmup_steps_for(config.warmup_ratio, total_steps), weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm, lr_scheduler_type="linear", seed=config.seed, data_seed=config.seed,
        use_cpu=True, bf16=False, report_to=[], logging_steps=1, eval_strategy="steps",
        eval_steps=config.eval_every_steps, metric_for_best_model="macro_f1", greater_is_better=True,
        save_strategy="best" if keep_best else "no", save_total_limit=1 if keep_best else None,
        load_best_model_at_end=keep_best, disable_tqdm=True)
    callbacks = ([EarlyStoppingCallback(config.early_stopping_patience)]
                 if config.early_stopping_patience is not None else [])
    trainer = OurOrderTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=validation_set,
                              data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                              compute_metrics=_metrics_for(splits.label_names), callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # it prints every log line; the history is returned instead
    if divide_loss_by_accumulation:
        trainer.model_accepts_loss_kwargs = False  # see the module docstring
    trainer.train()
    history = _history(trainer.state.log_history)
    best_dir = config.output_dir / "best"
    if keep_best:  # the best model (loaded back at the end) and the tokenizer, written whole then renamed
        replace_folder(best_dir, lambda tmp: trainer.save_model(str(tmp)))
    evaluated = [record for record in history if "macro_f1" in record]
    best = max(evaluated, key=lambda record: record["macro_f1"], default={})
    keys = ("val_loss", "accuracy", "macro_f1")
    return TrainResult(
        history=history, best_step=best.get("step"), best_metrics={key: best[key] for key in keys if key in best},
        final_metrics={key: evaluated[-1][key] for key in keys} if evaluated else {},
        stopped_early=trainer.state.global_step < total_steps, best_dir=best_dir,
        last_dir=config.output_dir / "trainer", seconds=time.perf_counter() - started,
        trainable_parameters=trainable_parameters(model)[0], trainable_summary=trainable_summary(model))
