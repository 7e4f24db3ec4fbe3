"""The settings of a fine-tuning run, checked when they are made: a wrong value fails at once, not an hour in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.finetuning.device import DEVICES


@dataclass
class TrainConfig:
    """Every knob of a fine-tuning run. Out-of-range values raise :class:`InputError` at construction."""

    model: str = "minilm"  # an offline default name, a local save_pretrained folder or a hub name
    num_labels: int = 2
    epochs: int = 1
    learning_rate: float = 5e-5  # the peak, reached at the end of warm-up
    batch_size: int = 16  # examples per forward pass (per process)
    gradient_accumulation_steps: int = 1  # forward passes per optimizer step
    warmup_ratio: float = 0.1  # share of the optimizer steps spent warming up
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # gradients are rescaled so their global L2 norm is at most this
    max_length: int = 128  # tokens per text, longer texts are cut
    eval_every_steps: int = 50  # optimizer steps between two evaluations (and checkpoints)
    early_stopping_patience: int | None = 3  # evaluations without a better validation macro-F1; None: never stop
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA + bf16 autocast when available), "cpu" or "cuda"
    output_dir: Path = field(default_factory=lambda: Path("runs/finetune"))
    keep_last_checkpoint: bool = True  # False: no last/ is written (nothing to resume from, much less to write)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        _at_least("num_labels", self.num_labels, 2)
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "eval_every_steps"):
            _at_least(name, getattr(self, name), 1)
        _at_least("max_length", self.max_length, 2)  # room for [CLS] and [SEP]
        _at_least("seed", self.seed, 0)
        if self.early_stopping_patience is not None:
            _at_least("early_stopping_patience", self.early_stopping_patience, 1)
        _within("learning_rate", self.learning_rate, 0.0, 1.0, "e.g. 5e-5; fine-tuning uses 1e-5 to 1e-4")
        _within("warmup_ratio", self.warmup_ratio, -1e-12, 1.0, "e.g. 0.1 for 10% of the steps; 0 for none")
        _within("weight_decay", self.weight_decay, -1e-12, 1.0, "e.g. 0.01; 0 for none")
        _within("max_grad_norm", self.max_grad_norm, 0.0, math.inf, "e.g. 1.0")
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}", f"choose one of {', '.join(DEVICES)}")
        if not self.model:
            raise InputError("no model given", "pass 'minilm', a save_pretrained folder or a hub name")


def _at_least(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InputError(f"{name} must be a whole number ≥ {low}, got {value!r}", f"pass {name} ≥ {low}")


def _within(name: str, value: float, low: float, high: float, example: str) -> None:
    """low < value < high (an open interval; callers pass low slightly below 0 to allow 0)."""
    if not isinstance(value, int | float) or not low < value < high:
        raise InputError(f"{name}={value!r} is out of range", example)
