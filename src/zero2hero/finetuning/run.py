"""``z2h finetune`` as one library call: data → splits → our training loop → test metrics → a run folder.

:func:`finetune` trains in a *work folder* ``<out>/<timestamp>-finetune.unfinished/`` that keeps the
loop's checkpoints (``best/``, ``last/``): a run that is interrupted leaves it, and ``resume=`` that folder
continues exactly where it stopped (the same options are required; the loop refuses others). When the
run is complete, the run folder ``<out>/<timestamp>-finetune/`` is written under a temporary name and
renamed into place, like a lab's: ``report.md``, ``metrics.json``, ``config.json``, ``environment.json``,
the figures, and ``model/`` (the best checkpoint, loadable by ``from_pretrained`` and ``pipeline``; with an
``adaptation``, what that method saves, e.g. LoRA's adapter folder). Then the work folder is removed.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError
from zero2hero.files import (
    atomic_write_text,
    ensure_writable_dir,
    move_into_place,
    sweep_stale_temporaries,
    temporary_dir,
)
from zero2hero.finetuning.adaptation import Adaptation, adaptation_settings
from zero2hero.finetuning.data import LabelledData, LabelledSplits, load_fine_foods, load_labelled_file
from zero2hero.finetuning.loop import TrainResult, train
from zero2hero.finetuning.metrics import ClassificationMetrics, classification_report
from zero2hero.finetuning.splits import make_splits, stratified_split
from zero2hero.finetuning.train_config import TrainConfig
from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure, run_dir_name, write_files

RUN_NAME = "finetune"
UNFINISHED = ".unfinished"  # suffix of the work folder of a run that has not finished


@dataclass
class FinetuneConfig:
    """What ``z2h finetune`` takes. Hyper-parameters are checked by :class:`TrainConfig`."""

    data: Path | None = None  # a labelled CSV, TSV or JSONL file; None: the fine-food reviews
    test: Path | None = None  # a test file with the same columns; None: the official test set, or a share of data
    text_column: str = "text"
    label_column: str = "label"
    model: str = "minilm"  # an offline default name, a local save_pretrained folder or a hub name
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    validation_share: float = 0.1  # of the training data, stratified
    test_share: float = 0.2  # carved from ``data`` (stratified) when no ``test`` file is given
    eval_every_steps: int = 50
    seed: int = 0
    adaptation: Adaptation | None = None  # None: every weight trains; else a parameter-efficient method (chapter 6)


@dataclass
class FinetuneRun:
    folder: Path  # the finished run folder
    result: LabResult  # what the report shows
    training: TrainResult
    test: ClassificationMetrics
    seconds: float


def finetune(config: FinetuneConfig, out_root: Path = Path("runs"), resume: Path | None = None,
             progress: Callable[[str], None] | None = None) -> FinetuneRun:
    """Fine-tune ``config.model`` on ``config.data`` and write a run folder into ``out_root`` (see the module doc).

    ``resume``: the ``.unfinished`` work folder of an interrupted run, to continue it; the finished run
    folder then goes beside it. Raises :class:`InputError` for bad data, bad hyper-parameters, or a work
    folder made with other options.
    """
    show = progress or (lambda message: None)
    watch = Stopwatch()
    show("reading the data")
    splits, test_source = load_splits(config)
    train_config = TrainConfig(model=config.model, num_labels=len(splits.label_names), epochs=config.epochs,
                               learning_rate=config.learning_rate, batch_size=config.batch_size,
                               max_length=config.max_length, eval_every_steps=config.eval_every_steps,
                               seed=config.seed, output_dir=Path("."))
    work = _check_work_folder(resume) if resume is not None else _new_work_folder(out_root)
    train_config = replace(train_config, output_dir=work)
    has_checkpoint = (work / "last").is_dir()
    show(f"fine-tuning {config.model} on {len(splits.train):,} examples"
         + (" (resuming from the last checkpoint)" if has_checkpoint else "")
         + f"; checkpoints in {work} — if interrupted, run the same command with --resume {work}")
    try:
        training = train(splits, train_config, config.adaptation, resume=has_checkpoint)
    except Exception:  # bad input found while training: leave no empty work folder (Ctrl-C keeps it, to resume)
        if resume is None and not (work / "last").exists():
            shutil.rmtree(work, ignore_errors=True)
        raise
    show(f"testing the best checkpoint on {len(splits.test):,} examples")
    test = test_metrics(work / "best", splits, config)
    show("writing the report")
    final = work.parent / work.name.removesuffix(UNFINISHED)
    with temporary_dir(final) as tmp:
        shutil.copytree(work / "best", tmp / "model")
        _remember_max_length(tmp / "model", config.max_length)
        result = _report(RunContext(tmp), config, splits, test_source, training, test)
        write_files(tmp, result, {"finetune": _finetune_settings(config), "train": _train_settings(train_config)},
                    watch.seconds)
        atomic_write_text(tmp / "test_metrics.json", test.to_json("test"))
        atomic_write_text(tmp / "history.json", json.dumps(training.history, indent=2))
        folder = move_into_place(tmp, final, unique=True)
    shutil.rmtree(work, ignore_errors=True)
    return FinetuneRun(folder, result, training, test, watch.seconds)


def load_splits(config: FinetuneConfig) -> tuple[LabelledSplits, str]:
    """Train, validation and test examples, and a sentence saying where the test set comes from."""
    if config.data is None:
        if config.test is not None:
            raise InputError("a test file was given without a training file", "pass --data with --test")
        data, test_source = load_fine_foods(), "the official test set of the fine-food reviews"
    else:
        examples, names = load_labelled_file(config.data, config.text_column, config.label_column)
        if config.test is not None:
            test, _ = load_labelled_file(config.test, config.text_column, config.label_column, label_names=names)
            test_source = f"the test file {config.test}"
        else:
            examples, test = stratified_split(examples, config.test_share, config.seed)
            test_source = (f"a stratified {config.test_share:.0%} of {config.data} (no test file was given), "
                           "set aside before training")
        data = LabelledData(train=examples, test=test, label_names=names)
    return make_splits(data, config.validation_share, config.seed), test_source


def test_metrics(model_dir: Path, splits: LabelledSplits, config: FinetuneConfig) -> ClassificationMetrics:
    """Accuracy, F1, ROC-AUC and calibration of the model in ``model_dir`` on the test split (loaded from disk, by
    the adaptation when there is one)."""
    from zero2hero.finetuning.classify import load_classifier, predict_probabilities

    model, tokenizer = (config.adaptation.load if config.adaptation else load_classifier)(model_dir)
    probabilities = predict_probabilities(model, tokenizer, [e.text for e in splits.test], config.batch_size,
                                          config.max_length)  # (n_test, n_labels)
    return classification_report([e.label for e in splits.test], probabilities.argmax(dim=-1).tolist(),
                                 probabilities.numpy(), splits.label_names)


def _new_work_folder(out_root: Path) -> Path:
    """``<out_root>/<timestamp>-finetune.unfinished`` (``-2``, ``-3``... when a run started in the same second)."""
    sweep_stale_temporaries(ensure_writable_dir(out_root))
    name = run_dir_name(RUN_NAME)
    for n in range(1, 1_000):
        work = Path(out_root) / f"{name if n == 1 else f'{name}-{n}'}{UNFINISHED}"
        final = work.with_name(work.name.removesuffix(UNFINISHED))
        if final.exists():
            continue
        try:
            work.mkdir()
        except FileExistsError:
            continue
        return work
    raise InputError(f"{out_root} has no free run folder name for {name}", "wait a second and run again")


def _check_work_folder(folder: Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder", "pass the .unfinished folder an interrupted run left")
    if (folder / "report.md").is_file():
        raise InputError(f"{folder} is a finished run, there is nothing to resume",
                         "run without --resume to train again")
    if not folder.name.endswith(UNFINISHED):
        raise InputError(f"{folder} is not the work folder of a fine-tuning run (its name ends in {UNFINISHED})",
                         "pass the folder the interrupted run named, e.g. runs/<timestamp>-finetune.unfinished")
    return folder


def _remember_max_length(model_dir: Path, max_length: int) -> None:
    """Save the tokenizer with ``model_max_length`` = the training length: ``classify`` then cuts texts where
    training did (and so does ``pipeline(..., truncation=True)``)."""
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_dir, model_max_length=max_length).save_pretrained(model_dir)


def _finetune_settings(config: FinetuneConfig) -> dict[str, Any]:
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "adaptation"}
    return {**settings, "adaptation": adaptation_settings(config.adaptation) if config.adaptation else None}


def _train_settings(config: TrainConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name != "output_dir"}


# ---- the report ----------------------------------------------------------------------------------------------

def _report(ctx: RunContext, config: FinetuneConfig, splits: LabelledSplits, test_source: str,
            training: TrainResult, test: ClassificationMetrics) -> LabResult:
    data_name = str(config.data) if config.data else "the fine-food reviews"
    method = f" with {config.adaptation.describe()}" if config.adaptation else ""
    result = LabResult(title=f"Fine-tuning {config.model}{method} on {data_name}", lab=RUN_NAME)
    result.add(_data_section(splits, test_source))
    result.add(_training_section(ctx, training))
    result.add(_parameters_section(training))
    if config.adaptation:
        result.add(config.adaptation.report(ctx.out_dir / "model"))
    result.add(_test_section(ctx, splits, test, plain_model=config.adaptation is None))
    return result


def _data_section(splits: LabelledSplits, test_source: str) -> Section:
    section = Section()
    rows = []
    for name in ("train", "validation", "test"):
        examples = getattr(splits, name)
        counts = Counter(example.label for example in examples)
        rows.append([name, len(examples), *(counts[i] for i in range(len(splits.label_names)))])
        section.metric(f"{name}_examples_count", len(examples))
    section.tables.append(Table("Data", ["split", "examples", *splits.label_names], rows,
                                f"The validation split is a stratified share of the training data; the test set is "
                                f"{test_source}."))
    return section


def _training_section(ctx: RunContext, training: TrainResult) -> Section:
    section = Section()
    evaluated = [record for record in training.history if "macro_f1" in record]
    section.metric("train_steps_count", len(training.history), "optimizer steps")
    section.metric("train_s", training.seconds, "wall time of the training loop (of this part, when resumed)")
    if training.best_metrics:
        section.metric("best_validation_macro_f1", training.best_metrics["macro_f1"],
                       f"validation macro-F1 of the kept checkpoint (step {training.best_step})")
    section.tables.append(Table("Validation history", ["step", "epoch", "train loss", "validation loss",
                                                       "validation accuracy", "validation macro-F1"],
                                [[r["step"], r["epoch"], r["train_loss"], r["val_loss"], r["accuracy"], r["macro_f1"]]
                                 for r in evaluated],
                                f"The best checkpoint (step {training.best_step}) is the one in model/."
                                + (" Training stopped early: macro-F1 stopped improving." if training.stopped_early
                                   else "")))
    section.figures.append(_loss_curve(ctx, training))
    return section


def _test_section(ctx: RunContext, splits: LabelledSplits, test: ClassificationMetrics, plain_model: bool) -> Section:
    section = Section()
    section.metric("test_accuracy", test.accuracy, "share of test examples labelled right")
    section.metric("test_macro_f1", test.macro_f1, "mean of the classes' F1, each class counting the same")
    for slug, scores in zip(_label_slugs(splits.label_names), test.per_class, strict=True):
        section.metric(f"test_{slug}_f1", scores.f1, f"F1 of the class {scores.name!r}")
    if test.roc_auc is not None:
        section.metric("test_roc_auc_ratio", test.roc_auc, "ROC-AUC (one-vs-rest, macro-averaged for more classes)")
    if test.expected_calibration_error is not None:
        section.metric("test_expected_calibration_error_ratio", test.expected_calibration_error,
                       "ECE over 10 confidence bins: 0 is perfectly calibrated")
    majority = Counter(example.label for example in splits.train).most_common(1)[0][0]
    section.metric("majority_baseline_test_accuracy", sum(e.label == majority for e in splits.test) / len(splits.test),
                   f"always answering the most common training label, {splits.label_names[majority]!r}")
    section.tables.append(Table("Test scores per class", ["label", "precision", "recall", "F1", "support"],
                                [[c.name, c.precision, c.recall, c.f1, c.support] for c in test.per_class]))
    section.figures.append(_confusion_figure(ctx, test))
    if plain_model:  # an adaptation's report says how to use what it saved
        section.notes.append("Load the model with `AutoModelForSequenceClassification.from_pretrained(\"model\")` or "
                             "`pipeline(\"text-classification\", model=\"model\")`, or run `z2h classify <this "
                             "folder> \"some text\"`.")
    return section


def _parameters_section(training: TrainResult) -> Section:
    """How many weights trained."""
    section = Section()
    section.metric("trainable_parameters_count", training.trainable_parameters, training.trainable_summary)
    section.notes.append(f"Weights that trained: `{training.trainable_summary}`.")
    return section


def _label_slugs(names: list[str]) -> list[str]:
    """Label names as parts of metric names (lower snake case); ``class_<i>`` when that is empty or not unique."""
    slugs = [re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") for name in names]
    if "" in slugs or len(set(slugs)) < len(slugs):
        return [f"class_{i}" for i in range(len(names))]
    return slugs


def _loss_curve(ctx: RunContext, training: TrainResult) -> Figure:
    fig, ax = new_figure((6, 4))
    ax.plot([r["step"] for r in training.history], [r["train_loss"] for r in training.history],
            color="#4477aa", linewidth=1, label="training loss (per step)")
    evaluated = [r for r in training.history if "val_loss" in r]
    ax.plot([r["step"] for r in evaluated], [r["val_loss"] for r in evaluated], "o-", color="#ee6677",
            label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.legend()
    return ctx.save_figure(fig, "loss_curve.png", "Loss curve",
                           "Training loss of each step and validation loss at each evaluation.")


def _confusion_figure(ctx: RunContext, test: ClassificationMetrics) -> Figure:
    n = len(test.label_names)
    fig, ax = new_figure((1.2 * n + 2.5, 1.2 * n + 2))
    ax.imshow(test.confusion, cmap="Blues")
    darkest = max(max(row) for row in test.confusion)
    for i, row in enumerate(test.confusion):
        for j, count in enumerate(row):  # white on the dark cells, black on the light ones
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > darkest / 2 else "black")
    ax.set_xticks(range(n), test.label_names, rotation=45 if n > 3 else 0)
    ax.set_yticks(range(n), test.label_names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    return ctx.save_figure(fig, "confusion_matrix.png", "Confusion matrix (test)",
                           "Row: the true label; column: the predicted one; the diagonal is right.")
