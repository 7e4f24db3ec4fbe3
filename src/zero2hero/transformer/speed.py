"""Decoding speed, measured fairly: our generation loop with and without the KV cache against
``model.generate`` on the same model and prompt, in alternating rounds (lab 3 and ``z2h bench generate``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from zero2hero.measure import PeakMemory, interleaved
from zero2hero.transformer.generate import GenerationStats, SamplingConfig, generate

ENGINES = ("ours_cache", "generate", "ours_no_cache")


@dataclass
class EngineRun:
    """One engine's best round: seconds for all new tokens, the ids it produced, our loop's prefill/decode
    split (None for ``model.generate``), and the resident memory the run added."""

    seconds: float
    new_ids: list[int]
    stats: GenerationStats | None
    peak_added_mb: float


@dataclass
class DecodeComparison:
    new_tokens: int
    runs: dict[str, EngineRun]

    def ratio(self, fast: str, slow: str) -> float:
        """How many times faster ``fast`` generated than ``slow`` (time of slow ÷ time of fast)."""
        return self.runs[slow].seconds / self.runs[fast].seconds

    def identical_prefix(self, a: str = "ours_cache", b: str = "generate") -> int:
        """How many leading greedy tokens two engines share."""
        same = 0
        for x, y in zip(self.runs[a].new_ids, self.runs[b].new_ids, strict=False):
            if x != y:
                break
            same += 1
        return same


def _ours(model: Any, prompt_ids: list[int], n: int, use_cache: bool) -> Callable[[], tuple]:
    def run() -> tuple:
        stats = GenerationStats()
        with PeakMemory() as memory:
            ids = generate(model, prompt_ids, SamplingConfig(n, use_cache=use_cache), stats)
        return ids, stats, memory.added_mb
    return run


def _hf_generate(model: Any, prompt_ids: list[int], n: int, pad_id: int) -> Callable[[], tuple]:
    def run() -> tuple:
        with torch.inference_mode(), PeakMemory() as memory:
            out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                 pad_token_id=pad_id)
        return out[0, len(prompt_ids):].tolist(), None, memory.added_mb
    return run


def compare_decoding(model: Any, prompt_ids: list[int], new_tokens: int, pad_id: int, rounds: int = 2,
                     engines: tuple[str, ...] = ENGINES) -> DecodeComparison:
    """Greedy-generate ``new_tokens`` with each engine, alternating over ``rounds``; each keeps its best round.

    ``ours_cache`` feeds one new token per step with the KV cache, ``ours_no_cache`` re-runs the whole
    sequence every step, ``generate`` is Hugging Face's ``model.generate`` (KV cache, greedy).
    """
    factories = {
        "ours_cache": lambda: _ours(model, prompt_ids, new_tokens, use_cache=True),
        "ours_no_cache": lambda: _ours(model, prompt_ids, new_tokens, use_cache=False),
        "generate": lambda: _hf_generate(model, prompt_ids, new_tokens, pad_id),
    }
    unknown = set(engines) - set(factories)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)}; choose from {ENGINES}")
    _ours(model, prompt_ids[:4], 2, use_cache=True)()  # warm-up: a process's first calls pay one-off costs
    timings = interleaved({name: factories[name]() for name in engines}, rounds=rounds)
    runs = {name: EngineRun(t.best_s, *t.result) for name, t in timings.items()}
    return DecodeComparison(new_tokens, runs)
