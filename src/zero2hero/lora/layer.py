"""The LoRA layer: a frozen linear layer plus a trainable low-rank update (Hu et al. 2021).

A full fine-tune learns a new weight ``W + ΔW`` with ``ΔW`` as large as ``W`` (out × in numbers). LoRA bets
that the update a task needs has a *low rank*: ``ΔW = B @ A`` with ``A`` (r × in) and ``B`` (out × r) for a
small rank r, so only ``r × (in + out)`` numbers are trained. For a 384 × 384 attention projection and r = 8
that is 6,144 numbers instead of 147,456 (4 %).

    y = x @ Wᵀ + b  +  (alpha / r) · dropout(x) @ Aᵀ @ Bᵀ
        └ frozen ┘     └──────── trainable, starts at 0 ────────┘

``B`` starts at zero, so at step 0 the model is exactly the pretrained one; ``A`` starts random (the same
Kaiming-uniform draw as ``nn.Linear``'s default, as PEFT does), so the gradient of ``B`` is not zero and
training can move. ``alpha / r`` (or ``alpha / √r``, "rank-stabilised" LoRA) scales the update so that
changing r does not force a new learning rate.

A layer holds one or more named adapters (a ``ModuleDict`` per matrix, as PEFT does), of which one is active:
one frozen base can serve several tasks by switching adapters, without reloading anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.lora.functional import delta_weight, low_rank_update


@dataclass(frozen=True)
class LoRASettings:
    """The hyperparameters of one adapter."""

    rank: int = 8  # r: the rank of the update B @ A
    alpha: float = 16.0  # the update is scaled by alpha / r (alpha / √r when rank_stabilised)
    dropout: float = 0.0  # dropout applied to the adapter's input only (the base path sees x unchanged)
    rank_stabilised: bool = False  # rsLoRA (Kalajdzievski 2023): scale alpha / √r

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or self.rank < 1:
            raise InputError(f"the LoRA rank must be a whole number ≥ 1, got {self.rank!r}", "try --rank 8")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}", "try 0.05 or 0")
        if self.alpha <= 0:
            raise InputError(f"LoRA alpha must be positive, got {self.alpha!r}", "alpha = 2 × rank is common")

    @property
    def scaling(self) -> float:
        """The factor in front of ``B @ A``."""
        return self.alpha / math.sqrt(self.rank) if self.rank_stabilised else self.alpha / self.rank


class LoRALinear(nn.Module):
    """``base`` (an ``nn.Linear``, or any module with ``in_features``/``out_features`` such as a 4-bit one)
    frozen, with named low-rank adapters beside it. Input ``(..., in_features)``, output ``(..., out_features)``.
    """

    def __init__(self, base: nn.Module, settings: LoRASettings, adapter: str = "default") -> None:
        super().__init__()
        self.base = base
        self.in_features: int = base.in_features
        self.out_features: int = base.out_features
        for param in base.parameters():  # the pretrained weight never changes
            param.requires_grad_(False)
        self.lora_A = nn.ModuleDict()  # adapter name -> nn.Linear(in, r): A is (r, in)
        self.lora_B = nn.ModuleDict()  # adapter name -> nn.Linear(r, out): B is (out, r)
        self.lora_dropout = nn.ModuleDict()
        self.settings: dict[str, LoRASettings] = {}
        self.active: str | None = None  # None: the base layer alone
        self.merged: str | None = None  # the adapter whose update sits inside the base weight, if any
        self.add_adapter(adapter, settings)

    def add_adapter(self, name: str, settings: LoRASettings) -> None:
        """A new adapter ``name`` (made active): A random, B zero, so the layer's output does not change."""
        if settings.rank > min(self.in_features, self.out_features):
            raise InputError(f"rank {settings.rank} is larger than the layer ({self.out_features} × "
                             f"{self.in_features}): the update could not be low-rank",
                             f"use a rank ≤ {min(self.in_features, self.out_features)}")
        if name in self.settings:
            raise InputError(f"this model already has an adapter named {name!r}", "pick another name")
        # Creating the two nn.Linear draws their default random weights, then A is drawn again and B zeroed:
        # the same sequence of random numbers as PEFT, so with the same seed both give the same A.
        self.lora_A[name] = nn.Linear(self.in_features, settings.rank, bias=False)
        self.lora_B[name] = nn.Linear(settings.rank, self.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A[name].weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B[name].weight)
        self.lora_dropout[name] = nn.Dropout(settings.dropout) if settings.dropout > 0 else nn.Identity()
        self.settings[name] = settings
        weight = self._base_weight()
        if weight is not None:  # adapters live on the base's device (and in float32 over a 4-bit base)
            dtype = weight.dtype if weight.is_floating_point() else torch.float32
            self.lora_A[name].to(weight.device, dtype)
            self.lora_B[name].to(weight.device, dtype)
        self.active = name

    def delta_weight(self, name: str | None = None) -> torch.Tensor:
        """The adapter's update ``scaling · B @ A``, shaped like the base weight ``(out, in)``."""
        name = name or self._active()
        return delta_weight(self.lora_A[name].weight, self.lora_B[name].weight, self.settings[name].scaling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., in) -> (..., out): the frozen base's output plus the active adapter's (unless merged)."""
        result = self.base(x)
        name = self.active
        if name is None or self.merged == name:  # no adapter, or its update is already inside the weight
            return result
        # the low-rank path: in -> r -> out, two thin matrix products instead of one (out × in) update
        a, b = self.lora_A[name].weight, self.lora_B[name].weight
        update = low_rank_update(self.lora_dropout[name](x.to(a.dtype)), a, b, self.settings[name].scaling)
        return result + update.to(result.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """Add the active adapter's update into the base weight: W ← W + scaling · B @ A.

        The merged layer costs exactly what the base does at inference (no extra matrix products).
        Only a floating-point base can be merged (a 4-bit weight would have to be re-quantized).
        """
        name = self._active()
        if self.merged is not None:
            raise InputError(f"adapter {self.merged!r} is already merged", "unmerge() it first")
        self._float_weight().add_(self.delta_weight(name).to(self.base.weight.dtype))
        self.merged = name

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the merged update back out: W ← W − scaling · B @ A (equal to the original up to rounding)."""
        if self.merged is None:
            raise InputError("no adapter is merged into this layer", "merge() first")
        self._float_weight().sub_(self.delta_weight(self.merged).to(self.base.weight.dtype))
        self.merged = None

    def set_adapter(self, name: str | None) -> None:
        """Make ``name`` the active adapter (None: the base alone). A merged layer must be unmerged first."""
        if name is not None and name not in self.settings:
            raise InputError(f"no adapter named {name!r}", f"adapters here: {', '.join(self.settings)}")
        if self.merged is not None and name != self.merged:
            raise InputError(f"adapter {self.merged!r} is merged into the weight", "unmerge() before switching")
        self.active = name

    def _active(self) -> str:
        if self.active is None:
            raise InputError("no adapter is active", "set_adapter(name) first")
        return self.active

    def _base_weight(self) -> torch.Tensor | None:
        weight = getattr(self.base, "weight", None)
        return weight if isinstance(weight, torch.Tensor) else None

    def _float_weight(self) -> torch.Tensor:
        weight = self._base_weight()
        if weight is None or not weight.is_floating_point():
            raise InputError(f"cannot merge into a {type(self.base).__name__} base (its weight is not floating point)",
                             "merge over a float model: load the base in fp32, then merge the adapter")
        return weight.data

    def extra_repr(self) -> str:
        ranks = ", ".join(f"{name}: r={s.rank}" for name, s in self.settings.items())
        return f"in={self.in_features}, out={self.out_features}, adapters=({ranks}), active={self.active!r}"
