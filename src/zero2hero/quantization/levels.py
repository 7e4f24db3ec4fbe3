"""The Chapter 4 comparison: build precision levels from the float32 model, then measure each one's size,
build time, peak memory, perplexity and generation speed the same way — decode speed in alternating rounds
over all levels, so that a busy moment of the machine slows one round of every level, not one level."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.measure import PeakMemory, Stopwatch, interleaved
from zero2hero.quantization.evaluate import model_bytes, perplexity

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase
from zero2hero.quantization.fused import FUSED_FORMATS, fuse_model
from zero2hero.quantization.library import torch_dynamic_int8
from zero2hero.quantization.linear import FORMATS, quantize_model

# Level name -> (description, builder from the float32 model). Builders never modify their input.
LEVELS: dict[str, tuple[str, Callable[[nn.Module], nn.Module]]] = {
    "fp32": ("float32 (SmolLM2: dequantized from its Q4_1 file)", lambda m: m),
    "bf16": ("bfloat16 weights and compute", lambda m: copy.deepcopy(m).to(torch.bfloat16)),
    **{f"ours_{fmt}": (f"ours, {desc}, dequantized on the fly",
                       lambda m, fmt=fmt: quantize_model(copy.deepcopy(m), fmt)) for fmt, desc in FORMATS.items()},
    "ours_q8_0_cached": ("ours, Q8_0 with the dequantized weight kept (cache)",
                         lambda m: quantize_model(copy.deepcopy(m), "q8_0", cache=True)),
    **{f"ours_{fmt}_fused": (f"ours, {desc}", lambda m, fmt=fmt: fuse_model(copy.deepcopy(m), fmt))
       for fmt, desc in FUSED_FORMATS.items()},
    "torch_int8": ("torch dynamic int8 (fbgemm), per-channel, every linear incl. lm_head", torch_dynamic_int8),
    "torch_int8_head_fp32": ("torch dynamic int8 (fbgemm), per-channel, lm_head kept fp32",
                             lambda m: torch_dynamic_int8(m, keep_fp32=("lm_head",))),
    "torch_int8_mixed": ("torch dynamic int8 (fbgemm), per-channel, lm_head and down_proj (outlier inputs) kept fp32",
                         lambda m: torch_dynamic_int8(m, keep_fp32=("lm_head", "down_proj"))),
}


@dataclass
class LevelResult:
    level: str
    description: str
    size_bytes: int
    build_s: float
    peak_added_mb: float  # what building the level and one short generation added to the process's memory
    perplexity: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    sample: str

    def decode_ratio_to(self, base: LevelResult) -> float:
        """This level's decode speed over ``base``'s (> 1: faster)."""
        return self.decode_tokens_per_s / base.decode_tokens_per_s

    def perplexity_change_to(self, base: LevelResult) -> float:
        """Relative perplexity change against ``base`` (0.05 = 5 % worse)."""
        return self.perplexity / base.perplexity - 1


def measure_levels(levels: list[str], fp32_model: nn.Module, tokenizer: PreTrainedTokenizerBase, text: str,
                   prompt: str, ppl_tokens: int, new_tokens: int, rounds: int = 2,
                   progress: Callable[[str], None] | None = None) -> list[LevelResult]:
    """Build every level from ``fp32_model`` (never modified) and measure it; rows in the order of ``levels``.

    Size, build time, peak memory and perplexity are measured once per level (they do not depend on the
    machine's load, or barely); greedy decoding of ``new_tokens`` after ``prompt`` is timed with our
    generation loop, every level once per round for ``rounds`` rounds, each keeping its fastest round.
    """
    from zero2hero.transformer.generate import GenerationStats, SamplingConfig, encode_prompt, generate

    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise InputError(f"unknown levels {unknown}", f"use some of {sorted(LEVELS)}")
    if new_tokens < 2:
        raise InputError(f"new_tokens must be at least 2, got {new_tokens}", "decode speed needs two or more steps")
    prompt_ids = encode_prompt(tokenizer, prompt)
    built, rows = {}, {}
    for level in levels:
        if progress:
            progress(f"building and scoring {level}")
        with PeakMemory() as memory:
            watch = Stopwatch()
            model = LEVELS[level][1](fp32_model).eval()
            build_s = watch.seconds
            generate(model, prompt_ids, SamplingConfig(2))  # warm-up: first calls pay one-off allocation costs
        built[level] = model
        rows[level] = (build_s, memory.added_mb, perplexity(model, tokenizer, text, max_tokens=ppl_tokens))

    def decode(model: nn.Module) -> Callable[[], tuple[list[int], GenerationStats]]:
        def run() -> tuple[list[int], GenerationStats]:
            stats = GenerationStats()
            return generate(model, prompt_ids, SamplingConfig(new_tokens), stats), stats
        return run

    if progress:
        progress(f"decode speed: {len(levels)} levels alternating over {rounds} rounds")
    timings = interleaved({level: decode(model) for level, model in built.items()}, rounds=rounds)
    results = []
    for level in levels:
        build_s, peak_mb, ppl = rows[level]
        ids, stats = timings[level].result
        results.append(LevelResult(level, LEVELS[level][0], model_bytes(built[level]), build_s, peak_mb, ppl,
                                   stats.prefill_tokens_per_s, stats.decode_tokens_per_s,
                                   tokenizer.decode(ids, skip_special_tokens=True)))
    return results
