"""Lab 6 — LoRA against full fine-tuning, measured: on MiniLM classifying the fine-food reviews (full fine-tuning,
LoRA at several ranks, the head alone: trainable parameters, checkpoint size, seconds per step, peak memory measured
and predicted, validation and test macro-F1), on SmolLM2 learning the Jargon File's voice (full fine-tuning, LoRA,
QLoRA: time, memory, held-out perplexity and definitions before and after), and the cost of an unmerged adapter at
inference."""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zero2hero.errors import InputError
from zero2hero.finetuning.data import LabelledSplits
from zero2hero.finetuning.splits import stratified_subset
from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.finetuning.adaptation import Adaptation
    from zero2hero.finetuning.loop import TrainResult

CHAPTER = 6
TITLE = "Lab 6 — LoRA against full fine-tuning: parameters, time, memory and quality"

LM_TARGETS = "q_proj,v_proj"  # SmolLM2's attention query and value projections (the LoRA paper's choice)


@dataclass
class Config:
    quick: bool = True
    train_examples: int = 1000  # a stratified subset of chapter 5's training split (3,600 reviews)
    validation_examples: int = 0  # 0: the whole validation split (400 reviews)
    test_examples: int = 0  # 0: the whole official test set (1,000 reviews)
    ranks: list[int] = field(default_factory=lambda: [1, 4, 8, 16, 64])
    chosen_rank: int = 8  # the rank whose learning rate is chosen on validation, and the targets' rank
    targets: str = "query,value"
    epochs: int = 3
    batch_size: int = 16
    max_length: int = 128
    full_learning_rate: float = 1e-4
    lora_learning_rates: list[float] = field(default_factory=lambda: [1e-3, 3e-3])  # tried at chosen_rank
    head_learning_rate: float = 1e-2
    timing_batch_size: int = 8  # seconds/step and memory: every method on the same batch of full-length reviews
    timing_steps: int = 3
    timing_rounds: int = 2
    measure_lm_memory: bool = True  # SmolLM2's peak memory in fresh processes (three model loads)
    lm_windows: int = 96  # training windows of the Jargon File
    lm_length: int = 128  # tokens per window
    lm_batch_size: int = 4
    lm_steps: int = 24
    lm_full_learning_rate: float = 5e-5
    lm_lora_learning_rate: float = 1e-3
    lm_eval_tokens: int = 1024  # held-out Jargon File tokens scored for perplexity
    lm_prompts: int = 3
    lm_new_tokens: int = 40
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.ranks or min(self.ranks) < 1:
            raise InputError(f"ranks must be whole numbers ≥ 1, got {self.ranks}", "e.g. ranks 1 8 64")
        if self.chosen_rank not in self.ranks:
            raise InputError(f"chosen_rank {self.chosen_rank} is not among the ranks {self.ranks}",
                             "add it to the ranks")
        if not self.lora_learning_rates:
            raise InputError("no LoRA learning rate to try", "pass e.g. lora_learning_rates 1e-3")


QUICK = {"train_examples": 96, "validation_examples": 48, "test_examples": 96, "ranks": [1, 8],
         "lora_learning_rates": [1e-3], "epochs": 1, "batch_size": 8, "max_length": 48, "timing_batch_size": 2,
         "timing_steps": 1, "timing_rounds": 1, "measure_lm_memory": False, "lm_windows": 4, "lm_length": 32,
         "lm_batch_size": 2, "lm_steps": 2, "lm_eval_tokens": 64, "lm_prompts": 1, "lm_new_tokens": 8}


def run(config: Config, ctx: RunContext) -> LabResult:
    result = LabResult(title=TITLE)
    with tempfile.TemporaryDirectory(prefix="z2h-lab6-") as scratch:
        lab = _Lab(config, ctx, Path(scratch))
        ctx.step(f"MiniLM: LoRA's learning rate chosen on validation at rank {config.chosen_rank}")
        result.add(lab.lora_learning_rate())
        ctx.step(f"MiniLM: full fine-tuning, the head alone, LoRA at ranks {', '.join(map(str, config.ranks))}")
        result.add(lab.classifiers())
        ctx.step("MiniLM: seconds per training step and peak memory of each method, measured and predicted")
        result.add(lab.step_costs())
        ctx.step("SmolLM2 on the Jargon File: full fine-tuning, LoRA and QLoRA, before and after")
        result.add(lab.language_model())
        if config.measure_lm_memory:
            ctx.step("SmolLM2: peak training memory of full fine-tuning, LoRA and QLoRA, measured and predicted")
            result.add(lab.lm_memory())
        ctx.step("inference: an unmerged adapter against the merged model")
        result.add(lab.merged_latency())
        result.add(lab.figures())
    return result


def checkpoint_mb(folder: Path) -> float:
    """Size of the weight files of a saved model or adapter folder (``*.safetensors``), in MB."""
    return sum(path.stat().st_size for path in folder.glob("*.safetensors")) / 1e6


def test_scores(adaptation: Adaptation | None, folder: Path, splits: LabelledSplits, max_length: int) -> Any:
    """The saved classifier's :class:`~zero2hero.finetuning.metrics.ClassificationMetrics` on the test split."""
    from zero2hero.finetuning.classify import load_classifier, predict_probabilities
    from zero2hero.finetuning.metrics import classification_report

    model, tokenizer = adaptation.load(folder) if adaptation is not None else load_classifier(folder)
    probabilities = predict_probabilities(model, tokenizer, [e.text for e in splits.test], max_length=max_length)
    return classification_report([e.label for e in splits.test], probabilities.argmax(dim=1).tolist(),
                                 probabilities.numpy(), splits.label_names)


def greedy_continuation(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
                        new_tokens: int) -> str:
    """``new_tokens`` greedy tokens after ``prompt``, decoded (the prompt left out)."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


@dataclass
class _Variant:
    """One way of fine-tuning MiniLM and what it gave."""

    key: str  # metric prefix: full, head_only, lora_r8, ...
    shown: str
    adaptation: Adaptation | None
    learning_rate: float
    result: TrainResult | None = None
    test: Any = None  # ClassificationMetrics


class _Lab:
    """What the steps share: the splits, the trained variants, the measurements for the figures."""

    def __init__(self, config: Config, ctx: RunContext, scratch: Path) -> None:
        from zero2hero.finetuning.data import load_fine_foods
        from zero2hero.finetuning.splits import make_splits

        self.config, self.ctx, self.scratch = config, ctx, scratch
        c = config
        full = make_splits(load_fine_foods(), validation_share=0.1, seed=c.seed)
        self.splits = LabelledSplits(train=stratified_subset(full.train, c.train_examples, c.seed),
                                     validation=stratified_subset(full.validation, c.validation_examples, c.seed),
                                     test=stratified_subset(full.test, c.test_examples, c.seed),
                                     label_names=full.label_names)
        self.variants: dict[str, _Variant] = {}
        self.runs = 0

    def lora(self, rank: int):  # -> LoRAAdaptation
        from zero2hero.lora.finetune_adaptation import LoRAAdaptation

        return LoRAAdaptation(rank=rank, alpha=2.0 * rank, targets=self.config.targets)  # scaling alpha/r = 2

    def train(self, variant: _Variant) -> _Variant:
        """Train one variant on the splits, scored on validation at each epoch's end; the best epoch is kept."""
        from zero2hero.finetuning.loop import train
        from zero2hero.finetuning.sweep import epoch_end_config
        from zero2hero.finetuning.train_config import TrainConfig

        c = self.config
        self.runs += 1
        config = TrainConfig(learning_rate=variant.learning_rate, epochs=c.epochs, batch_size=c.batch_size,
                             max_length=c.max_length, seed=c.seed, keep_last_checkpoint=False,
                             output_dir=self.scratch / f"run_{self.runs}")
        variant.result = train(self.splits, epoch_end_config(config, len(self.splits.train)), variant.adaptation)
        return variant

    # ---- classification ------------------------------------------------------------------------------------------

    def lora_learning_rate(self) -> Section:
        c = self.config
        tried = [self.train(_Variant(f"lora_r{c.chosen_rank}", f"LoRA r={c.chosen_rank}", self.lora(c.chosen_rank),
                                     rate)) for rate in c.lora_learning_rates]
        best = max(tried, key=lambda v: v.result.best_metrics["macro_f1"])
        self.lora_rate = best.learning_rate
        self.variants[best.key] = best
        section = Section()
        section.notes.append(f"LoRA's peak learning rate, chosen on validation at rank {c.chosen_rank}: "
                             f"{best.learning_rate:g}; every LoRA run below uses it.")
        section.tables.append(Table(
            f"LoRA r={c.chosen_rank} (alpha {2 * c.chosen_rank}) on {c.targets}: the learning rate, on validation",
            ["peak learning rate", "best validation macro-F1", "at step", "train s"],
            [[f"{v.learning_rate:g}", round(v.result.best_metrics["macro_f1"], 4), v.result.best_step,
              round(v.result.seconds, 1)] for v in tried],
            "LoRA's few, freshly initialised weights usually want a learning rate ~10× full fine-tuning's. alpha = "
            "2 × rank (a common rule) keeps the scale alpha / r at 2 at every rank, so the update does not shrink as "
            "the rank grows; the learning rate chosen here is used at every rank."))
        return section

    def classifiers(self) -> Section:
        from zero2hero.finetuning.head_only import HeadOnly

        c = self.config
        variants = [_Variant("full", "full fine-tuning", None, c.full_learning_rate),
                    _Variant("head_only", "head only", HeadOnly(), c.head_learning_rate)]
        variants += [_Variant(f"lora_r{rank}", f"LoRA r={rank}", self.lora(rank), self.lora_rate)
                     for rank in c.ranks if f"lora_r{rank}" not in self.variants]
        for variant in variants:
            self.variants[variant.key] = self.train(variant)
        self.order = ["full", "head_only", *(f"lora_r{rank}" for rank in sorted(c.ranks))]
        section, rows = Section(), []
        total = None
        for key in self.order:
            variant = self.variants[key]
            variant.test = test_scores(variant.adaptation, variant.result.best_dir, self.splits, c.max_length)
            trainable = variant.result.trainable_parameters
            total = total or trainable  # full fine-tuning comes first: every parameter trains
            size = checkpoint_mb(variant.result.best_dir)
            section.metric(f"{key}_trainable_count", trainable, variant.result.trainable_summary)
            section.metric(f"{key}_trainable_share_ratio", trainable / total, "of the model's parameters")
            section.metric(f"{key}_checkpoint_mb", size, "weight files of the best checkpoint")
            section.metric(f"{key}_validation_macro_f1", variant.result.best_metrics["macro_f1"])
            section.metric(f"{key}_test_macro_f1", variant.test.macro_f1, f"{len(self.splits.test)} test reviews")
            section.metric(f"{key}_train_s", variant.result.seconds, f"{c.epochs} epoch(s), evaluations included")
            rows.append([variant.shown, f"{trainable:,}", f"{trainable / total:.3%}", round(size, 2),
                         f"{variant.learning_rate:g}", round(variant.result.seconds, 1),
                         round(variant.result.best_metrics["macro_f1"], 4), round(variant.test.macro_f1, 4),
                         round(variant.test.accuracy, 4)])
        chosen = self.variants[f"lora_r{c.chosen_rank}"]
        full = self.variants["full"]
        section.metric(f"lora_r{c.chosen_rank}_over_full_test_macro_f1_ratio",
                       chosen.test.macro_f1 / full.test.macro_f1,
                       "target ≥ 0.97 with ≤ 2 % of the parameters trainable")
        section.tables.append(Table(
            f"MiniLM on {len(self.splits.train):,} training reviews, {c.epochs} epoch(s), batch {c.batch_size}, "
            f"max {c.max_length} tokens; the kept epoch is the best on validation",
            ["method", "trainable", "share", "checkpoint MB", "peak lr", "train s", "validation macro-F1",
             "test macro-F1", "test accuracy"], rows,
            "A LoRA checkpoint holds the adapter and the head only; it needs the base model (90.9 MB) beside it."))
        return section

    def step_costs(self) -> Section:
        from zero2hero.lora.step_cost import Workload, peak_added_mb, prepare, training_batch
        from zero2hero.measure import interleaved

        c = self.config
        workload = Workload("minilm", c.timing_batch_size, c.max_length)
        batch = training_batch(workload)
        methods = {"full": ("full", c.chosen_rank), "head_only": ("head", c.chosen_rank),
                   **{f"lora_r{rank}": ("ours", rank) for rank in sorted(c.ranks)}}
        timings = interleaved({key: lambda method=method, rank=rank: prepare(workload, method, batch, rank)(
            c.timing_steps) for key, (method, rank) in methods.items()}, rounds=c.timing_rounds,
            own_time=lambda round_: round_.seconds_per_step)
        section, rows = Section(), []
        for key in methods:
            section.metric(f"{key}_step_s", timings[key].best_s,
                           f"{c.timing_batch_size} × {c.max_length} tokens, best of {c.timing_rounds} round(s)")
        measured = {key: peak_added_mb(workload, methods[key][0], 2, methods[key][1])
                    for key in ("full", "head_only", f"lora_r{c.chosen_rank}")}
        measured["qlora"] = peak_added_mb(workload, "qlora", 2, c.chosen_rank)
        self.memory = {"MiniLM": self._memory_rows(workload, measured)}
        for key, added in measured.items():
            section.metric(f"minilm_{key}_peak_added_mb", added, "in a fresh process, over the loaded model")
        full_step = timings["full"].best_s
        for key in methods:
            rows.append([self.variants[key].shown, round(timings[key].best_s, 3),
                         f"{timings[key].best_s / full_step:.2f}×",
                         round(measured[key], 1) if key in measured else "—"])
        rows.append([f"QLoRA r={c.chosen_rank} (NF4 base)", "—", "—", round(measured["qlora"], 1)])
        chosen = f"lora_r{c.chosen_rank}"
        section.metric(f"{chosen}_over_full_step_time_ratio", timings[chosen].best_s / full_step)
        section.metric(f"{chosen}_over_full_added_memory_ratio", measured[chosen] / measured["full"])
        section.tables.append(Table(
            f"One training step of MiniLM on {c.timing_batch_size} × {c.max_length} tokens",
            ["method", "s/step", "÷ full", "peak added MB"], rows,
            "Memory: the peak a fresh process adds over the loaded model in 2 steps (optimizer state, gradients, "
            "activations); the memory table sets it beside the prediction."))
        section.tables.append(self._memory_table("MiniLM"))
        return section

    def _memory_table(self, model: str) -> Table:
        rows = []
        for shown, (estimate, measured) in self.memory[model].items():
            rows.append([shown, *(round(b / 1e6, 1) for b in (estimate.weights_bytes, estimate.gradients_bytes,
                                                              estimate.optimizer_bytes, estimate.activations_bytes)),
                         round(estimate.total_bytes / 1e6, 1), round(measured, 1),
                         f"{estimate.total_bytes / 1e6 / measured - 1:+.1%}"])
        return Table(f"{model}: predicted peak training memory by component against the measured peak (MB)",
                     ["method", "weights", "gradients", "AdamW states", "activations", "predicted peak",
                      "measured peak", "error"], rows,
                     "Measured peak: the exact weight bytes plus what a fresh process adds over them in 2 steps. "
                     "The predicted peak is weights + AdamW states + the larger of activations and gradients (they "
                     "do not peak together), plus short-lived workspace (lora.memory).")

    def _memory_rows(self, workload: Any, measured: dict[str, float]) -> dict[str, tuple[Any, float]]:
        """method -> (predicted MemoryEstimate, measured peak in MB including the weights)."""
        from zero2hero.assets import load_config
        from zero2hero.lora.memory import predict

        config, c = load_config(workload.model), self.config
        targets = c.targets.split(",") if workload.model == "minilm" else LM_TARGETS.split(",")
        labels = 2 if workload.model == "minilm" else 0
        rows = {}
        for shown, key, method in (("full", "full", "full"), ("LoRA", f"lora_r{c.chosen_rank}", "lora"),
                                   ("QLoRA", "qlora", "qlora")):
            if key in measured:
                estimate = predict(config, method, workload.batch_size, workload.length, targets, c.chosen_rank, labels)
                rows[shown] = (estimate, estimate.weights_bytes / 1e6 + measured[key])
        return rows

    # ---- the causal language model -----------------------------------------------------------------------------

    def language_model(self) -> Section:
        from zero2hero.assets import load_causal_lm
        from zero2hero.finetuning.parameters import trainable_parameters
        from zero2hero.lora.causal_lm import definition_prompt, jargon_text_set, train_on_windows
        from zero2hero.lora.inject import add_lora
        from zero2hero.lora.layer import LoRASettings
        from zero2hero.lora.qlora import quantize_base
        from zero2hero.quantization.evaluate import perplexity

        c = self.config
        model, tokenizer = load_causal_lm("smollm2")
        text_set = jargon_text_set(tokenizer, c.lm_windows, c.lm_length, c.seed)
        prompts = [definition_prompt(line) for line in text_set.entry_lines[:c.lm_prompts]]

        def score(model: PreTrainedModel) -> float:
            return perplexity(model, tokenizer, text_set.heldout_text, c.lm_eval_tokens, c.lm_length)

        before = score(model)
        generations = {"before": [greedy_continuation(model, tokenizer, p, c.lm_new_tokens) for p in prompts]}
        section, rows = Section(), []
        section.metric("smollm2_before_heldout_ppl", before, f"{c.lm_eval_tokens} held-out Jargon File tokens")
        self.lm_losses: dict[str, list[float]] = {}
        for key, shown in (("full", "full fine-tuning"), ("lora", f"LoRA r={c.chosen_rank} on {LM_TARGETS}"),
                           ("qlora", "QLoRA: the same LoRA over an NF4 base")):
            model, _ = load_causal_lm("smollm2")
            if key != "full":
                add_lora(model, LM_TARGETS, LoRASettings(c.chosen_rank, 2.0 * c.chosen_rank))
            start = before  # LoRA starts as the base model exactly (B = 0)
            if key == "qlora":
                quantize_base(model)
                start = score(model)  # the 4-bit base is not the base: it starts from its own perplexity
                section.metric("smollm2_nf4_base_heldout_ppl", start, "the NF4 base with its adapters at B = 0")
            rate = c.lm_full_learning_rate if key == "full" else c.lm_lora_learning_rate
            watch = Stopwatch()
            self.lm_losses[key] = train_on_windows(model, text_set.windows, c.lm_steps, c.lm_batch_size, rate, c.seed)
            seconds = watch.seconds / c.lm_steps
            after = score(model)
            generations[key] = [greedy_continuation(model, tokenizer, p, c.lm_new_tokens) for p in prompts]
            trainable, _ = trainable_parameters(model)
            section.metric(f"smollm2_{key}_step_s", seconds, f"{c.lm_batch_size} × {c.lm_length} tokens, lr {rate:g}")
            section.metric(f"smollm2_{key}_heldout_ppl", after, f"after {c.lm_steps} steps")
            section.metric(f"smollm2_{key}_trainable_count", trainable)
            rows.append([shown, f"{trainable:,}", f"{rate:g}", round(seconds, 2), round(start, 2), round(after, 2)])
            del model
        section.tables.append(Table(
            f"SmolLM2-135M on {c.lm_steps} steps of {c.lm_batch_size} Jargon File windows of {c.lm_length} tokens",
            ["model", "trainable", "peak lr", "s/step", "held-out perplexity before", "after"], rows,
            "Perplexity on the Jargon File's held-out last 5 % (entries never trained on); lower is better."))
        section.tables.append(Table(
            "Greedy continuations of held-out entries' first lines", ["entry", "before", "full", "LoRA", "QLoRA"],
            [[line.strip(), *(generations[k][i].strip().replace("\n", " ")
                              for k in ("before", "full", "lora", "qlora"))]
             for i, line in enumerate(text_set.entry_lines[:c.lm_prompts])]))
        return section

    def lm_memory(self) -> Section:
        from zero2hero.lora.step_cost import Workload, peak_added_mb

        c = self.config
        workload = Workload("smollm2", c.lm_batch_size, c.lm_length)
        measured = {"full": peak_added_mb(workload, "full", 2, c.chosen_rank),
                    f"lora_r{c.chosen_rank}": peak_added_mb(workload, "ours", 2, c.chosen_rank),
                    "qlora": peak_added_mb(workload, "qlora", 2, c.chosen_rank)}
        self.memory["SmolLM2"] = self._memory_rows(workload, measured)
        section = Section()
        for key, added in measured.items():
            section.metric(f"smollm2_{key}_peak_added_mb", added, "in a fresh process, over the loaded model")
        peaks = {shown: total for shown, (_, total) in self.memory["SmolLM2"].items()}
        section.metric("smollm2_lora_over_full_peak_memory_ratio", peaks["LoRA"] / peaks["full"],
                       "whole training peak, weights included; target ≤ 0.6")
        section.metric("smollm2_qlora_over_full_peak_memory_ratio", peaks["QLoRA"] / peaks["full"])
        section.tables.append(self._memory_table("SmolLM2"))
        return section

    # ---- inference -------------------------------------------------------------------------------------------

    def merged_latency(self) -> Section:
        import torch

        from zero2hero.finetuning.classify import load_classifier
        from zero2hero.lora.inject import unwrap
        from zero2hero.measure import interleaved

        c = self.config
        chosen = self.variants[f"lora_r{c.chosen_rank}"]
        unmerged, tokenizer = chosen.adaptation.load(chosen.result.best_dir)
        merged = unwrap(copy.deepcopy(unmerged))
        base, _ = load_classifier(self.variants["full"].result.best_dir)  # a plain MiniLM classifier, for reference
        texts = [e.text for e in self.splits.test[:32]]
        batch = tokenizer(texts, padding="max_length", truncation=True, max_length=c.max_length, return_tensors="pt")
        with torch.inference_mode():
            difference = (unmerged(**batch).logits - merged(**batch).logits).abs().max().item()
            models = {"plain": base, "unmerged": unmerged, "merged": merged}
            timings = interleaved({name: lambda m=m: m(**batch) for name, m in models.items()},
                                  rounds=max(3, c.timing_rounds))
        section = Section()
        for name in models:
            section.metric(f"{name}_forward_s", timings[name].best_s, f"{len(texts)} reviews × {c.max_length} tokens")
        section.metric("unmerged_over_merged_time_ratio", timings["unmerged"].best_s / timings["merged"].best_s)
        section.tables.append(Table(
            f"Inference of {len(texts)} reviews × {c.max_length} tokens (best of {max(3, c.timing_rounds)} rounds)",
            ["model", "forward s", "÷ merged"],
            [[name, round(timings[name].best_s, 4), f"{timings[name].best_s / timings['merged'].best_s:.3f}×"]
             for name in models],
            f"Merged: W + (alpha/r)·B·A folded into each weight, the LoRA modules removed. The merged and unmerged "
            f"logits differ by at most {difference:.2e}."))
        return section

    # ---- figures ---------------------------------------------------------------------------------------------

    def figures(self) -> Section:
        section = Section()
        section.figures += [self._quality_figure(), self._memory_figure(), self._loss_figure()]
        return section

    def _quality_figure(self) -> Figure:
        fig, ax = new_figure((6.5, 4.5))
        for key in self.order:
            variant = self.variants[key]
            x = variant.result.trainable_parameters
            ax.scatter([x], [variant.test.macro_f1], s=40, color="#4477aa" if key.startswith("lora") else "#ee6677")
            ax.scatter([x], [variant.result.best_metrics["macro_f1"]], s=40, facecolors="none", edgecolors="grey")
            ax.annotate(variant.shown, (x, variant.test.macro_f1), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        ax.set_xscale("log")
        ax.set(xlabel="trainable parameters (log scale)", ylabel="macro-F1",
               title="Quality against trainable parameters (filled: test, hollow: validation)")
        return self.ctx.save_figure(fig, "f1_vs_trainable.png", "Macro-F1 against trainable parameters",
                                    "MiniLM on the fine-food reviews; LoRA in blue, full fine-tuning and the head "
                                    "alone in red.")

    def _memory_figure(self) -> Figure:
        parts = [("weights", lambda e: e.weights_bytes), ("gradients", lambda e: e.gradients_bytes),
                 ("AdamW states", lambda e: e.optimizer_bytes),
                 ("activations", lambda e: e.activations_bytes + e.workspace_bytes + e.head_gradient_bytes)]
        fig, axes = new_figure((5.5 * len(self.memory), 4.5), ncols=len(self.memory))
        for ax, (model, rows) in zip(np.atleast_1d(axes), self.memory.items(), strict=True):
            names = list(rows)
            bottom = np.zeros(len(names))
            for part, value in parts:
                heights = np.array([value(rows[n][0]) / 1e6 for n in names])
                ax.bar(names, heights, bottom=bottom, label=part)
                bottom += heights
            ax.scatter(names, [rows[n][1] for n in names], color="black", marker="_", s=900, zorder=3,
                       label="measured peak")
            ax.set(ylabel="MB", title=f"{model}: one training step, predicted by component")
            ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "memory_components.png", "Training memory by component",
                                    "Bars: the memory model's prediction (activations and gradients do not peak "
                                    "together, so the bar can exceed the peak); black: the measured peak, weights "
                                    "included.")

    def _loss_figure(self) -> Figure:
        fig, (left, right) = new_figure((11, 4), ncols=2)
        for key in self.order:
            history = self.variants[key].result.history
            losses = np.array([record["train_loss"] for record in history])
            window = max(1, len(losses) // 15)
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            left.plot(range(window, len(losses) + 1), smooth, label=self.variants[key].shown)
        for key, losses in self.lm_losses.items():
            right.plot(range(1, len(losses) + 1), losses, "o-", markersize=3, label=key)
        left.set(xlabel="optimizer step", ylabel="training loss (nats, moving mean)", title="MiniLM, fine-food reviews")
        right.set(xlabel="optimizer step", ylabel="training loss (nats/token)", title="SmolLM2, Jargon File")
        left.legend(fontsize=8)
        right.legend(fontsize=8)
        return self.ctx.save_figure(fig, "loss_curves.png", "Training loss", "Each method at its own learning rate.")
