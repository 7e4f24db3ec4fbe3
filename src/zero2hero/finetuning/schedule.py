"""The optimizer and its learning-rate schedule: AdamW with decoupled weight decay, linear warm-up then linear decay.

Weight decay pulls every weight a little towards zero at each step (a regulariser). It is *not* applied to
biases and LayerNorm weights: they are few, they shift and scale activations rather than mix features, and
pulling a LayerNorm scale towards 0 would just shrink the layer's output. Hence two parameter groups.

The learning rate climbs linearly from 0 to its peak over the warm-up steps (the moment estimates of Adam
are still noisy at the start, and large early steps can wreck the pretrained weights), then falls linearly
to 0 at the last step. :func:`linear_warmup_then_decay` is that curve; it equals transformers'
``get_linear_schedule_with_warmup`` (tested).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def no_decay_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters that get no weight decay: every bias and every LayerNorm weight."""
    names = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full_name = f"{module_name}.{param_name}" if module_name else param_name
            if isinstance(module, nn.LayerNorm) or param_name == "bias":
                names.add(full_name)
    return names


def make_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, in two groups: with weight decay, and without (biases, LayerNorm).

    ``fused=True`` updates every parameter in one kernel, as transformers' Trainer does by default
    (``adamw_torch_fused``): on a CPU the step is several times faster than the per-tensor loop.
    """
    skip = no_decay_parameter_names(model)
    trainable = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    groups = [
        {"params": [param for name, param in trainable if name not in skip], "weight_decay": weight_decay},
        {"params": [param for name, param in trainable if name in skip], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, fused=True)


def linear_warmup_then_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """The factor multiplying the peak learning rate before optimizer step ``step`` (0-based).

    0 → 1 linearly over ``warmup_steps``, then 1 → 0 linearly until ``total_steps``; never negative.
    Step 0 gets 0, step ``warmup_steps`` gets 1; with ``warmup_steps = 0`` the decay starts at once.
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def make_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """lr = peak × :func:`linear_warmup_then_decay` (call ``.step()`` after each optimizer step)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: linear_warmup_then_decay(step, warmup_steps, total_steps))


def warmup_steps_for(warmup_ratio: float, total_steps: int) -> int:
    """The number of warm-up steps for a ratio of the run, rounded up (as transformers' TrainingArguments do)."""
    return math.ceil(total_steps * warmup_ratio)
