"""Counting the weights that train: all of them in a full fine-tune, a small share with a parameter-efficient
method (chapter 6), which freezes the rest (``requires_grad`` off)."""

from __future__ import annotations

from torch import nn


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters) — both count a method's added weights (LoRA's), as PEFT's count does."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def trainable_summary(model: nn.Module) -> str:
    """The line PEFT's ``print_trainable_parameters`` prints, e.g.
    ``trainable params: 460,800 || all params: 134,975,808 || trainable%: 0.3414``."""
    trainable, total = trainable_parameters(model)
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / total:.4f}"
