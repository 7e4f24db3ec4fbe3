"""Stage train_classifier: one LoRA fine-tune of the classifier base per label (sentiment, topic).

Each is chapter 5's training loop with chapter 6's LoRA adaptation: trained on the train split, evaluated on dev a few
times an epoch, the best evaluation (by macro-F1) kept, stopped early when dev stops improving. With
``classifier.processes`` > 1 the loop runs under torchrun through chapter 5's entry point
(``zero2hero.finetuning.distributed``); ``classifier.batch_size`` is the global batch, each process takes its share.
The loop's output folder lives in the stage's checkpoint folder, so a killed run resumes from its ``last/``.

Out: ``models/classifier/<label>/``, the adapter folder of the best evaluation (with its tokenizer, which remembers
the training length), loadable by :func:`zero2hero.lora.finetune_adaptation.load_adapted_classifier`.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.finetuning.data import Example, LabelledSplits
from zero2hero.finetuning.train_config import TrainConfig
from zero2hero.lora.finetune_adaptation import LoRAAdaptation
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_splits, replaced_dir, run_torchrun

LABELS = ("sentiment", "topic")
EVALUATIONS_PER_EPOCH = 4  # dev evaluations (and checkpoints) per epoch
PATIENCE = EVALUATIONS_PER_EPOCH  # a whole epoch of evaluations without a better dev macro-F1 stops training


def label_splits(splits: dict[str, list[dict[str, Any]]], label: str) -> LabelledSplits:
    """The records as chapter 5's splits for one label: train, validation (the dev split), test; the classes are
    the sorted names the rules gave, over all splits (the rules define them, training does not)."""
    names = sorted({str(record[label]) for records in splits.values() for record in records})
    if len(names) < 2:
        raise InputError(f"every record has the same {label} ({names[0] if names else 'none'})",
                         "a classifier needs at least two classes: use more reviews or other rules")
    index = {name: i for i, name in enumerate(names)}

    def examples(records: list[dict[str, Any]]) -> list[Example]:
        return [Example(str(record["text"]), index[str(record[label])]) for record in records]

    return LabelledSplits(train=examples(splits["train"]), validation=examples(splits["dev"]),
                          test=examples(splits["test"]), label_names=names)


def train_config(params: dict[str, Any], seed: int, train_examples: int, output_dir: Path,
                 num_labels: int) -> TrainConfig:
    """Chapter 5's settings from the ``classifier`` section; ``batch_size`` there is the global batch."""
    processes = int(params["processes"])
    if params["batch_size"] % processes:
        raise InputError(f"classifier.batch_size {params['batch_size']} does not split over {processes} processes",
                         f"use a multiple of {processes}")
    steps_per_epoch = max(1, train_examples // params["batch_size"])
    return TrainConfig(model=str(params["base"]), num_labels=num_labels, epochs=int(params["epochs"]),
                       learning_rate=float(params["learning_rate"]), batch_size=params["batch_size"] // processes,
                       max_length=int(params["max_length"]), device="cpu", seed=seed,
                       eval_every_steps=max(1, math.ceil(steps_per_epoch / EVALUATIONS_PER_EPOCH)),
                       early_stopping_patience=PATIENCE, output_dir=output_dir)


def adaptation(params: dict[str, Any]) -> LoRAAdaptation:
    return LoRAAdaptation(rank=int(params["rank"]), alpha=float(params["alpha"]), targets=str(params["targets"]))


def train_label(splits: LabelledSplits, config: TrainConfig, lora: LoRAAdaptation, processes: int,
                threads: int) -> dict[str, Any]:
    """Train one classifier (in this process, or under torchrun); return chapter 5's ``history.json``."""
    resume = (config.output_dir / "last").is_dir()
    if processes == 1:
        import torch

        from zero2hero.finetuning.loop import train

        torch.set_num_threads(threads)
        train(splits, config, lora, resume=resume)
    else:
        inputs = config.output_dir.parent / f"{config.output_dir.name}-inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        rows = {name: [asdict(example) for example in getattr(splits, name)] for name in ("train", "validation")}
        atomic_write_text(inputs / "splits.json", json.dumps(rows | {"label_names": splits.label_names}))
        settings = {**asdict(config), "output_dir": str(config.output_dir)}
        atomic_write_text(inputs / "config.json", json.dumps(settings))
        spec = {"class": f"{LoRAAdaptation.__module__}:{LoRAAdaptation.__name__}", "settings": asdict(lora)}
        atomic_write_text(inputs / "adaptation.json", json.dumps(spec))
        run_torchrun("zero2hero.finetuning.distributed",
                     ["--config", str(inputs / "config.json"), "--data", str(inputs / "splits.json"),
                      "--adaptation", str(inputs / "adaptation.json"), *(["--resume"] if resume else [])],
                     processes, threads)
    return json.loads((config.output_dir / "history.json").read_text(encoding="utf-8"))


def remember_max_length(folder: Path, max_length: int) -> None:
    """Save the tokenizer with ``model_max_length`` = the training length, so classifying cuts texts where training
    did (as ``z2h finetune`` does)."""
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(folder, model_max_length=max_length).save_pretrained(folder)


def run(ctx: StageContext) -> dict[str, Any]:
    params, seed = ctx.params["classifier"], int(ctx.params["seed"])
    splits = read_splits(ctx.workspace)
    details: dict[str, Any] = {"base": params["base"], "processes": params["processes"], "labels": {}}
    with replaced_dir(ctx.path("models/classifier")) as out:
        for label in LABELS:
            ctx.progress(f"fine-tuning the {label} classifier on {len(splits['train'])} reviews")
            data = label_splits(splits, label)
            config = train_config(params, seed, len(data.train), ctx.checkpoint_dir() / label, len(data.label_names))
            history = train_label(data, config, adaptation(params), int(params["processes"]),
                                  int(params["threads_per_process"]))
            shutil.copytree(config.output_dir / "best", out / label)
            remember_max_length(out / label, config.max_length)
            details["labels"][label] = {
                "classes": data.label_names, "train_examples": len(data.train), "dev_examples": len(data.validation),
                "steps": len(history["history"]), "best_step": history["best_step"],
                "dev_best": history["best_metrics"], "stopped_early": history["stopped_early"],
                "seconds": history["seconds"], "trainable_parameters": history["trainable_parameters"]}
    shutil.rmtree(ctx.checkpoint_dir(), ignore_errors=True)
    return details
