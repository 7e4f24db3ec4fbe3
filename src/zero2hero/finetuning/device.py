"""Where the training runs: the CPU, or a CUDA GPU with bfloat16 autocast.

On a GPU, ``torch.autocast(dtype=bfloat16)`` runs the matrix products in bfloat16 (about twice as fast on
tensor cores, half the activation memory) while the weights, the gradients and the optimizer state stay in
float32. bfloat16 has float32's exponent range, so unlike float16 it needs no loss scaling. On the CPU we
train in plain float32.
"""

from __future__ import annotations

import contextlib

import torch

from zero2hero.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the GPU of this process when CUDA is available, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r}", f"choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available",
                         "use device 'auto' or 'cpu' on this machine")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA; nothing on the CPU (float32 throughout)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
