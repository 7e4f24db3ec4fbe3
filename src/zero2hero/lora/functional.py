"""LoRA's arithmetic as plain functions on tensors: the forward pass, merging and unmerging, the parameter count,
and the memory that training with AdamW keeps.

:class:`zero2hero.lora.layer.LoRALinear` is built on these; chapter 6's exercises have you write them.
Shapes: a linear layer's weight ``W`` is ``(out, in)``, ``A`` is ``(r, in)``, ``B`` is ``(out, r)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def low_rank_update(x: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """``x`` (..., in) -> ``scaling · x Aᵀ Bᵀ`` (..., out): the adapter's contribution, computed through the rank.

    Multiplying by ``A`` first squeezes each input down to r numbers, then ``B`` expands them to ``out``: two thin
    products costing ``r · (in + out)`` multiply-adds per input, never the ``out × in`` matrix ``B @ A``.
    """
    return scaling * ((x @ lora_A.T) @ lora_B.T)


def lora_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_A: torch.Tensor,
                 lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """``x`` (..., in) -> (..., out): the frozen layer's output ``x Wᵀ + b`` plus the low-rank update."""
    return F.linear(x, weight, bias) + low_rank_update(x, lora_A, lora_B, scaling)


def delta_weight(lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """The update as a full matrix, ``scaling · B @ A`` (out, in): of rank at most r."""
    return scaling * (lora_B @ lora_A)


def merged_weight(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """``W + scaling · B @ A`` (out, in): one matrix that computes what the base plus the adapter compute."""
    return weight + delta_weight(lora_A, lora_B, scaling)


def unmerged_weight(merged: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """The base weight back from a merged one: ``merged − scaling · B @ A`` (equal to W up to float rounding)."""
    return merged - delta_weight(lora_A, lora_B, scaling)


def lora_parameter_count(layer_shapes: Sequence[tuple[int, int]], rank: int) -> int:
    """Trainable numbers that rank-``rank`` adapters add to layers of weight shapes ``(out, in)``:
    ``r · in`` for A plus ``out · r`` for B, per layer."""
    return sum(rank * (n_in + n_out) for n_out, n_in in layer_shapes)


def adamw_training_state_bytes(parameters: int, trainable: int, weight_bytes: float = 4.0) -> float:
    """Bytes a training run with AdamW keeps from start to end: the weights, the gradients and AdamW's moments.

    ``parameters`` counts every number of the model (frozen and trainable, adapters included), each stored in
    ``weight_bytes`` (4 in fp32, 2 in bf16, 0.5625 in 4-bit NF4); ``trainable`` counts those that learn. Each
    trainable number has an fp32 gradient (4 bytes) and AdamW's two fp32 moments m and v (8 bytes); a frozen one
    has neither. Activations (what the forward pass saves for the backward pass) are not counted: they grow with
    the batch and the sequence length, not with the parameters.

    MiniLM-L6 with a 2-class head has 22,713,986 parameters (``sum(p.numel() for p in model.parameters())``).
    Full fine-tuning trains them all, 16 bytes each:

    >>> adamw_training_state_bytes(22_713_986, 22_713_986)
    363423776.0

    LoRA r = 8 on query and value adds 73,728 numbers and trains them and the head (770): 74,498 trainable
    (PEFT's ``get_nb_trainable_parameters()``), so 4 × 22,787,714 + 12 × 74,498 bytes, 3.9 times less:

    >>> adamw_training_state_bytes(22_713_986 + 73_728, 74_498)
    92044832.0
    """
    return parameters * weight_bytes + 4 * trainable + 8 * trainable
