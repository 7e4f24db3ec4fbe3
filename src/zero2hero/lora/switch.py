"""A module trained in full, kept once per adapter, so that several adapters can share one base model.

An adapter for classification trains its own head (``classifier``) besides its low-rank updates. When two such
adapters sit on one base, each needs its own copy of the head: :class:`AdapterHeads` takes the place of the
head, keeps the pretrained one (used when no adapter is active) and one copy per adapter, and runs the copy of
the active adapter. PEFT does the same (its ``ModulesToSaveWrapper``); :func:`zero2hero.lora.inject.set_adapter`
switches these heads together with the LoRA layers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class AdapterHeads(nn.Module):
    """``original`` (frozen) plus one trainable copy per adapter; calls go to the active adapter's copy,
    or to ``original`` when no adapter is active or the active one has no copy of its own."""

    def __init__(self, original: nn.Module) -> None:
        super().__init__()
        self.original = original
        for param in original.parameters():
            param.requires_grad_(False)
        self.copies = nn.ModuleDict()  # adapter name -> its own copy of the module
        self.active: str | None = None

    def add(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """A copy of the module for adapter ``name`` holding the weights ``state`` (made active)."""
        head = copy.deepcopy(self.original)
        head.load_state_dict(state)
        for param in head.parameters():
            param.requires_grad_(True)
        self.copies[name] = head
        self.active = name

    def set_adapter(self, name: str | None) -> None:
        self.active = name

    def current(self) -> nn.Module:
        """The module that runs now."""
        return self.copies[self.active] if self.active in self.copies else self.original

    def forward(self, *args: object, **kwargs: object) -> object:
        """Whatever the wrapped module takes and returns (a head: (..., hidden) -> (..., labels))."""
        return self.current()(*args, **kwargs)
