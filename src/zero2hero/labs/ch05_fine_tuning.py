"""Lab 5 — fine-tune MiniLM on the fine-food reviews (great / other) and judge it fairly: against three
cheaper baselines on the same splits, with the learning rate and the number of epochs chosen on validation
only, an overfitting run on purpose, the spread over seeds, one test evaluation, and error analysis."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example, LabelledSplits
from zero2hero.finetuning.splits import stratified_subset
from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.finetuning.metrics import ClassificationMetrics
    from zero2hero.finetuning.sweep import ScoredRun

CHAPTER = 5
TITLE = "Lab 5 — Fine-tuning a pretrained encoder for sentiment"

# Baselines: metric prefix -> shown name.
BASELINES = {"majority": "majority class", "tfidf_lr": "TF-IDF + logistic regression",
             "probe": "linear probe (frozen MiniLM)"}


@dataclass
class Config:
    quick: bool = True
    train_examples: int = 0  # 0: the whole training split (3,600 reviews once validation is set apart)
    validation_examples: int = 0  # 0: the whole validation split (400 reviews)
    test_examples: int = 0  # 0: the whole official test set (1,000 reviews)
    sweep_train_examples: int = 600  # the sweep and the seed runs train on this stratified subset of train
    learning_rates: list[float] = field(default_factory=lambda: [1e-5, 3e-5, 1e-4, 3e-4])
    max_epochs: int = 4
    seeds: int = 3
    max_length: int = 128
    batch_size: int = 32
    overfit_examples: int = 200
    overfit_epochs: int = 12
    overfit_learning_rate: float = 2e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seeds < 2:
            raise InputError(f"seeds must be at least 2 to measure a spread, got {self.seeds}",
                             "pass seeds=2 or more")
        if not self.learning_rates or self.max_epochs < 1:
            raise InputError("the sweep needs at least one learning rate and one epoch",
                             "pass e.g. learning rates 3e-5 1e-4 and max_epochs 2")


QUICK = {"train_examples": 160, "validation_examples": 80, "test_examples": 200, "sweep_train_examples": 160,
         "learning_rates": [1e-4, 3e-4], "max_epochs": 2, "seeds": 2, "max_length": 48, "batch_size": 8,
         "overfit_examples": 32, "overfit_epochs": 6, "overfit_learning_rate": 3e-4}


def run(config: Config, ctx: RunContext) -> LabResult:
    result = LabResult(title=TITLE)
    with tempfile.TemporaryDirectory(prefix="z2h-lab5-") as scratch:
        lab = _Lab(config, ctx, Path(scratch))
        ctx.step("the fine-food reviews: seeded stratified validation split, duplicates across splits")
        result.add(lab.data())
        ctx.step("baselines scored on validation: majority class, TF-IDF + logistic regression, linear probe")
        result.add(lab.baselines())
        ctx.step(f"fine-tuning MiniLM: {len(config.learning_rates)} learning rates × up to {config.max_epochs} epochs")
        result.add(lab.sweep())
        ctx.step(f"overfitting on purpose: {config.overfit_examples} reviews, up to {config.overfit_epochs} epochs")
        result.add(lab.overfit())
        ctx.step(f"the chosen setting over {config.seeds} seeds")
        result.add(lab.seeds())
        ctx.step("the chosen setting trained on the whole training split")
        result.add(lab.final_model())
        ctx.step("the one test evaluation: baselines and the fine-tuned model")
        result.add(lab.test())
        ctx.step("error analysis: the most confident mistakes")
        result.add(lab.mistakes())
    return result


def model_probabilities(model_dir: Path, examples: list[Example], max_length: int) -> np.ndarray:
    """The saved classifier's class probabilities (len(examples), num_labels), texts cut as in training."""
    from zero2hero.finetuning.classify import load_classifier, predict_probabilities

    model, tokenizer = load_classifier(model_dir)
    texts = [example.text for example in examples]
    return predict_probabilities(model, tokenizer, texts, max_length=max_length).numpy().astype(np.float64)


class _Lab:
    """What the steps share: the splits, the runs trained so far (a setting is never trained twice), the choice."""

    def __init__(self, config: Config, ctx: RunContext, scratch: Path) -> None:
        self.config, self.ctx, self.scratch = config, ctx, scratch
        self.runs: dict[tuple[int, float, int, int], ScoredRun] = {}

    def train(self, splits: LabelledSplits, learning_rate: float, epochs: int, seed: int) -> ScoredRun:
        from zero2hero.finetuning.sweep import train_scored_each_epoch
        from zero2hero.finetuning.train_config import TrainConfig

        key = (id(splits), learning_rate, epochs, seed)
        if key not in self.runs:
            config = TrainConfig(learning_rate=learning_rate, epochs=epochs, seed=seed,
                                 batch_size=self.config.batch_size, max_length=self.config.max_length,
                                 output_dir=self.scratch / f"run_{len(self.runs)}")
            self.runs[key] = train_scored_each_epoch(splits, config)
        return self.runs[key]

    # ---- data ------------------------------------------------------------------------------------------------

    def data(self) -> Section:
        from zero2hero.finetuning.data import load_fine_foods
        from zero2hero.finetuning.splits import find_duplicates, make_splits

        c = self.config
        full = make_splits(load_fine_foods(), validation_share=0.1, seed=c.seed)
        self.splits = LabelledSplits(train=stratified_subset(full.train, c.train_examples, c.seed),
                                     validation=stratified_subset(full.validation, c.validation_examples, c.seed),
                                     test=stratified_subset(full.test, c.test_examples, c.seed),
                                     label_names=full.label_names)
        sweep_train = stratified_subset(self.splits.train, c.sweep_train_examples, c.seed)
        self.sweep_splits = self.splits if sweep_train == self.splits.train else replace(self.splits, train=sweep_train)
        section, rows = Section(), []
        for name, examples in (("train", self.splits.train), ("sweep train (subset of train)", sweep_train),
                               ("validation", self.splits.validation), ("test", self.splits.test)):
            shares = [sum(e.label == i for e in examples) / len(examples) for i in range(len(full.label_names))]
            rows.append([name, len(examples), *(f"{share:.1%}" for share in shares)])
        for split in ("train", "validation", "test"):
            section.metric(f"{split}_examples_count", len(getattr(self.splits, split)))
        section.metric("sweep_train_examples_count", len(sweep_train), "the sweep's and the seed runs' training set")
        duplicates = find_duplicates(self.splits)
        dup_rows = [[pair.replace("~", " ~ "), duplicates.exact[pair], duplicates.near[pair],
                     duplicates.conflicting[pair]] for pair in duplicates.exact]
        for pair in ("train~validation", "train~test", "validation~test"):
            for kind in ("exact", "near"):
                name = f"{pair.replace('~', '_')}_{kind}_duplicates_count"
                section.metric(name, duplicates.figures()[name], f"{kind} duplicates across {pair}")
        samples = [[f"{m.other_split}[{m.other_index}] ~ {m.split}[{m.index}]", f"{m.similarity:.2f}",
                    m.text[:120], m.other_text[:120]] for matches in duplicates.samples.values() for m in matches]
        section.tables += [
            Table("The splits (validation: a seeded stratified share of the official training file)",
                  ["split", "reviews", *(f"share '{n}'" for n in full.label_names)], rows,
                  "The test set is the official test file; it is scored once, in the last steps."),
            Table(f"Duplicates within and across the splits (near: word 3-gram Jaccard ≥ {duplicates.threshold})",
                  ["splits", "exact", "near", "with conflicting labels"], dup_rows,
                  "A review repeated across train and test inflates test scores: the model has seen the answer."),
        ]
        if samples:
            section.tables.append(Table("Examples of duplicate pairs", ["where", "similarity", "text", "other text"],
                                        samples[:6]))
        return section

    # ---- baselines -------------------------------------------------------------------------------------------

    def baselines(self) -> Section:
        from zero2hero.assets import load_encoder
        from zero2hero.finetuning import baselines as b
        from zero2hero.finetuning.metrics import classification_report

        encoder, tokenizer = load_encoder("minilm")
        estimators = {"majority": b.majority_class(), "tfidf_lr": b.tfidf_logistic_regression(self.config.seed),
                      "probe": b.linear_probe(encoder, tokenizer, self.config.max_length, self.config.seed)}
        self.baseline_models, section, rows = {}, Section(), []
        validation, names = self.splits.validation, self.splits.label_names
        for key, estimator in estimators.items():
            watch = Stopwatch()
            self.baseline_models[key] = b.fit(estimator, self.splits.train)
            seconds = watch.seconds
            probs = b.probabilities(estimator, validation, len(names))
            scores = classification_report([e.label for e in validation], probs.argmax(axis=1), probs, names)
            section.metric(f"{key}_validation_macro_f1", scores.macro_f1, f"{BASELINES[key]}, validation")
            section.metric(f"{key}_fit_s", seconds, f"{BASELINES[key]}: fitting on {len(self.splits.train)} reviews")
            rows.append([BASELINES[key], round(seconds, 2), round(scores.accuracy, 4), round(scores.macro_f1, 4)])
        section.tables.append(Table("Baselines trained on the training split, scored on validation",
                                    ["baseline", "fit s", "validation accuracy", "validation macro-F1"], rows,
                                    "The linear probe's fit time includes embedding the training reviews."))
        return section

    # ---- the sweep -------------------------------------------------------------------------------------------

    def sweep(self) -> Section:
        from zero2hero.finetuning.sweep import best_setting

        c = self.config
        self.sweep_runs = [self.train(self.sweep_splits, rate, c.max_epochs, c.seed) for rate in c.learning_rates]
        self.choice = best_setting(self.sweep_runs)
        rate, epochs, metrics = self.choice
        section = Section()
        section.metric("sweep_best_validation_macro_f1", metrics["macro_f1"],
                       f"learning rate {rate:g}, {epochs} epochs")
        section.metric("sweep_best_epochs_count", epochs, "epochs of the best sweep setting")
        section.metric("sweep_train_s", sum(r.result.seconds for r in self.sweep_runs),
                       f"{len(self.sweep_runs)} runs on {len(self.sweep_splits.train)} reviews")
        rows = [[f"{r.config.learning_rate:g}",
                 *(f"{m['macro_f1']:.3f} / {m['val_loss']:.3f}" for m in r.epoch_metrics),
                 round(r.result.seconds, 1)] for r in self.sweep_runs]
        section.tables.append(Table(
            "Validation macro-F1 / validation loss after each epoch, one run per learning rate",
            ["learning rate", *(f"epoch {e}" for e in range(1, c.max_epochs + 1)), "train s"], rows,
            f"Each learning rate is one {c.max_epochs}-epoch run scored at every epoch's end (warm-up then linear "
            f"decay over the whole run), so 'epoch 2' is not a 2-epoch run; {c.max_epochs}× cheaper than one run per "
            "epoch count. The chosen setting is then trained again for exactly that many epochs."))
        section.notes.append(f"Chosen on validation: learning rate {rate:g}, {epochs} epoch(s), validation "
                             f"macro-F1 {metrics['macro_f1']:.3f}. The test set played no part in the choice.")
        if self.sweep_splits is not self.splits:
            section.notes.append(f"The sweep and the seed runs train on a stratified subset of "
                                 f"{len(self.sweep_splits.train)} of the {len(self.splits.train)} training reviews "
                                 "(to keep the runs affordable on a CPU); the selected model trains on all of them.")
        section.figures += [self._heatmap(), self._loss_curves()]
        return section

    def _heatmap(self) -> Figure:
        c = self.config
        scores = np.array([[m["macro_f1"] for m in r.epoch_metrics] for r in self.sweep_runs])  # (rates, epochs)
        fig, ax = new_figure((1.6 + 1.3 * c.max_epochs, 1.4 + 0.7 * len(c.learning_rates)))
        image = ax.imshow(scores, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(scores):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white" if value < scores.mean() else "black")
        ax.set_xticks(range(c.max_epochs), [str(e) for e in range(1, c.max_epochs + 1)])
        ax.set_yticks(range(len(c.learning_rates)), [f"{rate:g}" for rate in c.learning_rates])
        ax.set_xlabel("epoch")
        ax.set_ylabel("peak learning rate")
        fig.colorbar(image, ax=ax, label="validation macro-F1")
        ax.set_title("Learning rate × epochs")
        return self.ctx.save_figure(fig, "sweep_heatmap.png", "Sweep: validation macro-F1 per learning rate and epoch",
                                    f"MiniLM fine-tuned on {len(self.sweep_splits.train)} reviews, max length "
                                    f"{c.max_length}; one run per learning rate, scored at each epoch's end.")

    def _loss_curves(self) -> Figure:
        fig, (left, right) = new_figure((11, 4), ncols=2)
        for run in self.sweep_runs:
            per_epoch = run.config.eval_every_steps
            steps = [record["step"] / per_epoch for record in run.result.history]
            losses = [record["train_loss"] for record in run.result.history]
            window = max(1, per_epoch // 4)
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            line, = left.plot(steps[window - 1:], smooth, label=f"lr {run.config.learning_rate:g}")
            right.plot(range(1, len(run.epoch_metrics) + 1), [m["val_loss"] for m in run.epoch_metrics], "o-",
                       color=line.get_color(), label=f"lr {run.config.learning_rate:g}")
        left.set(xlabel="epoch", ylabel="training loss (nats, moving mean)", title="Training loss")
        right.set(xlabel="epoch", ylabel="validation loss (nats)", title="Validation loss at each epoch's end",
                  xticks=range(1, self.config.max_epochs + 1))
        left.legend()
        right.legend()
        return self.ctx.save_figure(fig, "loss_curves.png", "Training and validation loss per learning rate",
                                    "Too small a learning rate learns slowly; too large a one can diverge or forget.")

    # ---- overfitting -----------------------------------------------------------------------------------------

    def overfit(self) -> Section:
        from zero2hero.finetuning.loop import train
        from zero2hero.finetuning.sweep import epoch_end_config, epoch_metrics
        from zero2hero.finetuning.train_config import TrainConfig

        c = self.config
        small = stratified_subset(self.splits.train, c.overfit_examples, c.seed)
        config = TrainConfig(learning_rate=c.overfit_learning_rate, epochs=c.overfit_epochs, seed=c.seed,
                             batch_size=c.batch_size, max_length=c.max_length, output_dir=self.scratch / "overfit")
        config = replace(epoch_end_config(config, len(small)), early_stopping_patience=3)  # scored every epoch
        result = train(replace(self.splits, train=small), config)
        train_accuracy = [float((model_probabilities(folder, small, c.max_length).argmax(axis=1)
                                 == [e.label for e in small]).mean()) for folder in (result.best_dir, result.last_dir)]
        scored = epoch_metrics(result)
        train_loss = [statistics.fmean(r["train_loss"] for r in result.history if r["epoch"] == e)
                      for e in range(len(scored))]
        best_epoch = 1 + [m["macro_f1"] for m in scored].index(result.best_metrics["macro_f1"])
        section = Section()
        section.metric("overfit_train_examples_count", len(small))
        section.metric("overfit_epochs_count", len(scored), "epochs run before stopping")
        section.metric("overfit_last_train_accuracy", train_accuracy[1], "the last model on its own training reviews")
        section.metric("overfit_best_train_accuracy", train_accuracy[0], "the kept (best-on-validation) model")
        section.metric("overfit_first_validation_loss", scored[0]["val_loss"], "after epoch 1")
        section.metric("overfit_last_validation_loss", scored[-1]["val_loss"], "after the last epoch")
        section.metric("overfit_min_validation_loss", min(m["val_loss"] for m in scored))
        ending = (f"early stopping ended it after {len(scored)} of {c.overfit_epochs} epochs"
                  if result.stopped_early and len(scored) < c.overfit_epochs
                  else f"it ran all {len(scored)} epochs")
        section.notes.append(f"Overfitting run: {len(small)} reviews, learning rate {c.overfit_learning_rate:g}; "
                             f"{ending} (patience: 3 evaluations without a better validation macro-F1). The kept "
                             f"model is epoch {best_epoch}'s.")
        fig, (left, right) = new_figure((11, 4), ncols=2)
        epochs = range(1, len(scored) + 1)
        left.plot(epochs, train_loss, "o-", label="training loss (mean over the epoch)")
        left.plot(epochs, [m["val_loss"] for m in scored], "s-", label="validation loss")
        right.plot(epochs, [m["accuracy"] for m in scored], "s-", color="#228833", label="validation accuracy")
        right.axhline(train_accuracy[1], color="#ee6677", ls="--", label="training accuracy of the last model")
        for ax in (left, right):
            ax.axvline(best_epoch, color="grey", ls=":", label=f"kept: epoch {best_epoch}")
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
        left.set(ylabel="loss (nats)", title=f"Memorising {len(small)} reviews")
        right.set(ylabel="accuracy", title="Validation accuracy stalls while training accuracy → 1")
        section.figures.append(self.ctx.save_figure(
            fig, "overfitting.png", "Overfitting on purpose, and early stopping",
            "Training loss falls towards 0 while validation loss turns up: the model memorises instead of learning."))
        return section

    # ---- seeds and the final model ---------------------------------------------------------------------------

    def seeds(self) -> Section:
        rate, epochs, _ = self.choice
        runs = [self.train(self.sweep_splits, rate, epochs, self.config.seed + i) for i in range(self.config.seeds)]
        scores = [run.epoch_metrics[-1]["macro_f1"] for run in runs]
        section = Section()
        section.metric("seeds_validation_macro_f1_mean_f1", statistics.fmean(scores))
        section.metric("seeds_validation_macro_f1_std_f1", statistics.stdev(scores), "sample standard deviation")
        section.metric("seeds_validation_macro_f1_range_f1", max(scores) - min(scores), "best seed minus worst")
        section.tables.append(Table(
            f"The chosen setting (learning rate {rate:g}, {epochs} epochs) over seeds, on "
            f"{len(self.sweep_splits.train)} reviews",
            ["seed", "validation accuracy", "validation macro-F1", "validation loss"],
            [[self.config.seed + i, round(r.epoch_metrics[-1]["accuracy"], 4), round(s, 4),
              round(r.epoch_metrics[-1]["val_loss"], 4)] for i, (r, s) in enumerate(zip(runs, scores, strict=True))],
            "The seed sets the new head's initial weights, the shuffling and dropout. A difference between two "
            "settings smaller than this spread is not evidence that one is better."))
        return section

    def final_model(self) -> Section:
        rate, epochs, _ = self.choice
        self.final = self.train(self.splits, rate, epochs, self.config.seed)
        section = Section()
        section.metric("finetuned_validation_macro_f1", self.final.result.best_metrics["macro_f1"],
                       "the kept checkpoint (best validation macro-F1 of the run)")
        section.metric("finetuned_train_s", self.final.result.seconds, f"{len(self.splits.train)} reviews, "
                       f"{epochs} epoch(s), evaluation included")
        section.notes.append(f"The selected model: learning rate {rate:g}, {epochs} epoch(s) on all "
                             f"{len(self.splits.train)} training reviews, seed {self.config.seed}; kept at step "
                             f"{self.final.result.best_step} (best validation macro-F1).")
        return section

    # ---- test --------------------------------------------------------------------------------------------------

    def test(self) -> Section:
        from zero2hero.finetuning import baselines as b
        from zero2hero.finetuning.metrics import classification_report

        test, names = self.splits.test, self.splits.label_names
        probabilities = {key: b.probabilities(model, test, len(names)) for key, model in self.baseline_models.items()}
        probabilities["finetuned"] = model_probabilities(self.final.result.best_dir, test, self.config.max_length)
        self.test_probabilities = probabilities["finetuned"]
        reports = {key: classification_report([e.label for e in test], probs.argmax(axis=1), probs, names)
                   for key, probs in probabilities.items()}
        section, rows = Section(), []
        for key, report in reports.items():
            shown = BASELINES.get(key, "fine-tuned MiniLM")
            section.metric(f"{key}_test_accuracy", report.accuracy, f"{shown}, {len(test)} test reviews")
            section.metric(f"{key}_test_macro_f1", report.macro_f1, shown)
            section.metric(f"{key}_test_expected_calibration_error_ratio", report.expected_calibration_error, shown)
            rows.append([shown, round(report.accuracy, 4), round(report.macro_f1, 4),
                         round(report.expected_calibration_error, 4), report.roc_auc and round(report.roc_auc, 4)])
        section.tables.append(Table(f"The one test evaluation ({len(test)} reviews of the official test file)",
                                    ["model", "accuracy", "macro-F1", "ECE", "ROC-AUC"], rows,
                                    "ECE: expected calibration error, the confidence-vs-accuracy gap (0 is ideal)."))
        section.figures += [self._confusion(reports["finetuned"]), self._reliability(reports)]
        return section

    def _confusion(self, report: ClassificationMetrics) -> Figure:
        counts = np.array(report.confusion)  # (true, predicted)
        fig, ax = new_figure((4.5, 4))
        ax.imshow(counts, cmap="Blues")
        for (i, j), value in np.ndenumerate(counts):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > counts.max() / 2 else "black")
        ax.set_xticks(range(len(report.label_names)), report.label_names)
        ax.set_yticks(range(len(report.label_names)), report.label_names)
        ax.set(xlabel="predicted", ylabel="true", title="Fine-tuned MiniLM on the test set")
        return self.ctx.save_figure(fig, "confusion_matrix.png", "Confusion matrix (test)",
                                    "Rows: the true label; columns: the prediction.")

    def _reliability(self, reports: dict[str, ClassificationMetrics]) -> Figure:
        fig, ax = new_figure((5, 4.5))
        ax.plot([0, 1], [0, 1], color="grey", ls="--", label="perfectly calibrated")
        for key, marker in (("finetuned", "o-"), ("tfidf_lr", "s-"), ("probe", "^-")):
            used = [b for b in reports[key].reliability if b.count]
            shown = BASELINES.get(key, "fine-tuned MiniLM")
            ax.plot([b.mean_confidence for b in used], [b.accuracy for b in used], marker,
                    label=f"{shown} (ECE {reports[key].expected_calibration_error:.3f})")
        ax.set(xlabel="confidence (mean of the bin)", ylabel="accuracy in the bin", xlim=(0.45, 1.02),
               ylim=(0, 1.02), title="Reliability diagram (test)")
        ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "reliability_diagram.png", "Reliability diagram (test)",
                                    "Below the diagonal: more confident than right (overconfident).")

    def mistakes(self) -> Section:
        test, names = self.splits.test, self.splits.label_names
        predicted = self.test_probabilities.argmax(axis=1)
        confidence = self.test_probabilities.max(axis=1)
        wrong = [i for i, e in enumerate(test) if predicted[i] != e.label]
        wrong.sort(key=lambda i: -confidence[i])
        rows: list[list[Any]] = [[names[test[i].label], names[predicted[i]], round(float(confidence[i]), 3),
                                  test[i].text[:240]] for i in wrong[:8]]
        section = Section()
        section.metric("finetuned_test_mistakes_count", len(wrong))
        section.tables.append(Table("The fine-tuned model's most confident mistakes on the test set",
                                    ["true", "predicted", "confidence", "review (first 240 characters)"], rows,
                                    "Read them: a wrong label, sarcasm, a mixed review, or a real blind spot?"))
        return section
