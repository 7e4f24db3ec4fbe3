"""``z2h finetune --task causal-lm``: a causal language model fine-tuned on a learner's own text file, as one call.

The file (UTF-8 text) is split once: its last 10 % (cut at a line start) is held out, the rest is tokenized and cut
into back-to-back windows of ``max_length`` tokens. Training is chapter 6's loop over windows
(:func:`zero2hero.lora.causal_lm.train_on_windows`), with LoRA (``lora`` settings) or every weight training. The
run folder ``<out>/<timestamp>-finetune/`` has chapter 5's shape: ``report.md``, ``metrics.json``, ``config.json``,
``environment.json``, ``history.json`` (the loss of each step), the loss curve, and ``model/`` — the LoRA adapter in
PEFT's format with the tokenizer, or the whole model as ``save_pretrained`` writes it. Perplexity on the held-out
part is measured before and after training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
from zero2hero.lora.layer import LoRASettings
from zero2hero.measure import PeakMemory, Stopwatch
from zero2hero.reporting import LabResult, RunContext, Section, Table, new_figure, run_dir_name, write_files

RUN_NAME = "finetune"
FULL_LEARNING_RATE = 5e-5  # lab 6's SmolLM2 rates: every weight training, or LoRA's few new ones
LORA_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class CausalLMConfig:
    """What ``z2h finetune --task causal-lm`` takes."""

    data: Path  # a UTF-8 text file
    model: str = "smollm2"  # an offline default name, a local save_pretrained folder or a hub name
    lora: LoRASettings | None = None  # None: every weight trains
    targets: str = "q_proj,v_proj"  # with lora: the linear layers to adapt (PEFT's suffix rule), or all-linear
    epochs: int = 1
    learning_rate: float | None = None  # None: 1e-3 with LoRA, 5e-5 without
    batch_size: int = 16
    max_length: int = 128  # tokens per training window, and per perplexity window
    heldout_share: float = 0.1
    eval_tokens: int = 4096  # at most this many held-out tokens are scored
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}",
                                 f"pass a positive --{name.replace('_', '-')}")
        if self.max_length < 2:
            raise InputError(f"max-length must be at least 2 tokens, got {self.max_length}", "e.g. --max-length 128")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InputError(f"the learning rate must be positive, got {self.learning_rate}", "e.g. --lr 1e-3")
        if not 0 < self.heldout_share < 1:
            raise InputError(f"the held-out share must be between 0 and 1, got {self.heldout_share}", "e.g. 0.1")

    @property
    def peak_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_LEARNING_RATE if self.lora else FULL_LEARNING_RATE


@dataclass
class CausalLMRun:
    folder: Path  # the finished run folder
    result: LabResult
    before_ppl: float
    after_ppl: float
    seconds: float


def split_text(text: str, heldout_share: float) -> tuple[str, str]:
    """(training part, held-out part): the held-out part is the last ``heldout_share`` of the text, starting at a
    line start when the text has one there."""
    cut = int(len(text) * (1 - heldout_share))
    cut = text.rfind("\n", 0, cut) + 1 or cut
    return text[:cut], text[cut:]


def finetune_causal_lm(config: CausalLMConfig, out_root: Path = Path("runs"),
                       progress: Callable[[str], None] | None = None) -> CausalLMRun:
    """Fine-tune ``config.model`` on the text file ``config.data`` and write a run folder into ``out_root`` (see
    the module doc). Raises :class:`InputError` for an empty, binary or too short file or bad settings."""
    from zero2hero.assets import load_causal_lm
    from zero2hero.finetuning.parameters import trainable_parameters, trainable_summary
    from zero2hero.lora.causal_lm import train_on_windows
    from zero2hero.lora.text_windows import consecutive_windows
    from zero2hero.quantization.evaluate import perplexity
    from zero2hero.text.io import read_text_file

    show = progress or (lambda message: None)
    watch = Stopwatch()
    show(f"reading {config.data}")
    train_text, heldout = split_text(read_text_file(config.data), config.heldout_share)
    sweep_stale_temporaries(ensure_writable_dir(Path(out_root)))
    model, tokenizer = load_causal_lm(config.model)
    windows = consecutive_windows(tokenizer, train_text, config.max_length)  # (n_windows, max_length)
    heldout_tokens = min(len(tokenizer(heldout).input_ids), config.eval_tokens)
    if heldout_tokens < 2:
        raise InputError(f"the held-out last {config.heldout_share:.0%} of {config.data} holds fewer than 2 tokens",
                         "pass a longer text file")
    before = perplexity(model, tokenizer, heldout, config.eval_tokens, config.max_length)
    if config.lora is not None:
        from zero2hero.lora.inject import add_lora

        add_lora(model, config.targets, config.lora)
    steps = config.epochs * math.ceil(len(windows) / config.batch_size)
    trainable, total = trainable_parameters(model)
    show(f"fine-tuning {config.model} on {len(windows):,} windows of {config.max_length} tokens, {steps} steps")
    train_watch = Stopwatch()
    with PeakMemory() as memory:
        losses = train_on_windows(model, windows, steps, config.batch_size, config.peak_learning_rate, config.seed)
    train_s = train_watch.seconds
    after = perplexity(model, tokenizer, heldout, config.eval_tokens, config.max_length)
    show("writing the run folder")
    final = Path(out_root) / run_dir_name(RUN_NAME)
    with temporary_dir(final) as tmp:
        save_model(model, tokenizer, tmp / "model", config)
        model_mb = sum(path.stat().st_size for path in (tmp / "model").glob("*.safetensors")) / 1e6
        section = Section()
        section.metric("train_windows_count", len(windows), f"windows of {config.max_length} tokens")
        section.metric("heldout_tokens_count", heldout_tokens, f"scored, from the last {config.heldout_share:.0%}")
        section.metric("train_steps_count", steps, f"{config.epochs} epoch(s) of batches of {config.batch_size}")
        section.metric("train_s", train_s, "wall time of the training steps")
        section.metric("train_tokens_per_s", steps * config.batch_size * config.max_length / train_s,
                       "trained tokens per second")
        section.metric("train_peak_memory_mb", memory.peak_mb, "highest resident memory while training")
        section.metric("trainable_parameters_count", trainable, f"of {total:,}: {trainable_summary(model)}")
        section.metric("model_mb", model_mb, "weight files in model/")
        section.metric("heldout_before_ppl", before, "perplexity on the held-out part before training")
        section.metric("heldout_after_ppl", after, "and after")
        result = _report(RunContext(tmp), config, section, losses, before, after)
        write_files(tmp, result, _settings(config), watch.seconds)
        atomic_write_text(tmp / "history.json", json.dumps([{"step": i + 1, "train_loss": loss}
                                                            for i, loss in enumerate(losses)], indent=2))
        folder = move_into_place(tmp, final, unique=True)
    return CausalLMRun(folder, result, before, after, watch.seconds)


def save_model(model: Any, tokenizer: Any, folder: Path, config: CausalLMConfig) -> None:
    """The LoRA adapter (PEFT's format, naming ``config.model`` as its base) or the whole model, and the tokenizer."""
    if config.lora is not None:
        from zero2hero.lora.adapter_files import save_adapter

        save_adapter(model, folder, config.model, task_type="CAUSAL_LM")
    else:
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _settings(config: CausalLMConfig) -> dict[str, Any]:
    return {"task": "causal-lm", **asdict(config), "peak_learning_rate": config.peak_learning_rate}


def _report(ctx: RunContext, config: CausalLMConfig, section: Section, losses: list[float], before: float,
            after: float) -> LabResult:
    method = (f" with LoRA (rank {config.lora.rank}, alpha {config.lora.alpha:g}, on {config.targets})"
              if config.lora else "")
    result = LabResult(title=f"Fine-tuning {config.model}{method} on the text of {config.data}", lab=RUN_NAME)
    section.tables.append(Table("Held-out perplexity", ["model", "perplexity"],
                                [["before fine-tuning", before], ["after", after]],
                                f"On the last {config.heldout_share:.0%} of the file, never trained on; lower is "
                                "better."))
    fig, ax = new_figure((6, 4))
    ax.plot(range(1, len(losses) + 1), losses, color="#4477aa")
    ax.set(xlabel="optimizer step", ylabel="training loss (nats/token)")
    section.figures.append(ctx.save_figure(fig, "loss_curve.png", "Loss curve", "Training loss of each step."))
    usage = ("`z2h generate --adapter <this folder>/model \"some text\"` uses the adapter; `z2h lora merge <this "
             "folder>/model --out DIR` folds it into a plain model." if config.lora else
             "Load model/ with `AutoModelForCausalLM.from_pretrained(\"model\")`.")
    section.notes.append(usage)
    result.add(section)
    return result
