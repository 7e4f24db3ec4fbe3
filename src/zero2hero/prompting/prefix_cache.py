"""Prefix caching: a prompt's shared beginning (the system prompt and the few-shot examples) is run through the model
once, and its keys and values are reused by every prompt that starts with it.

Every example of a fixed-shot evaluation begins with the same few hundred tokens; only the last ~100 (the example
itself) differ. A causal model's keys and values at a position depend only on the tokens up to it, so the shared
prefix's KV cache is the same for all of them: computing it once and starting every example from it gives the same
numbers and skips most of the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from zero2hero.errors import InputError

State = TypeVar("State")  # what an engine keeps for the prefix: per-layer keys and values, or llama.cpp's position


@dataclass
class PrefixCache(Generic[State]):
    """The token ids of a cached prefix and the engine's state after running them."""

    ids: list[int]
    state: State

    def rest_of(self, ids: Sequence[int]) -> list[int] | None:
        """The ids after the prefix when ``ids`` start with it and go further; None when the cache cannot serve them
        (then the engine runs ``ids`` from the start)."""
        n = len(self.ids)
        if len(ids) > n and list(ids[:n]) == self.ids:
            return list(ids[n:])
        return None


def check_prefix(prefix_ids: Sequence[int], context_length: int) -> list[int]:
    """``prefix_ids`` as a list, or :class:`InputError` when it is empty or fills the whole context."""
    if not prefix_ids:
        raise InputError("the prefix to cache is empty", "cache the shared beginning of the prompts (1 token or more)")
    if len(prefix_ids) >= context_length:
        raise InputError(f"the prefix is {len(prefix_ids)} tokens, the context {context_length}",
                         "use fewer shots so that the examples fit after it")
    return list(prefix_ids)
