"""One row of the Chapter 4 comparison: build a precision level from the float32 model, then measure its
size, build time, peak memory, perplexity and generation speed — the same way for every level."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from zero2hero.bench.measure import PeakRSS
from zero2hero.errors import InputError
from zero2hero.quantization.evaluate import model_bytes, perplexity, timed_greedy
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
    peak_rss_mb: float
    perplexity: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    sample: str


def measure_level(level: str, fp32_model: nn.Module, tokenizer, text: str, prompt: str, ppl_tokens: int,
                  new_tokens: int) -> LevelResult:
    """Build ``level`` from ``fp32_model`` and measure it. Peak memory is what building and running it
    added to the process (the fp32 model already loaded is not counted)."""
    if level not in LEVELS:
        raise InputError(f"unknown level {level!r}", f"use one of {sorted(LEVELS)}")
    description, build = LEVELS[level]
    with PeakRSS() as rss:
        start = time.perf_counter()
        model = build(fp32_model).eval()
        build_s = time.perf_counter() - start
        timed_greedy(model, tokenizer, "Hello", 2)  # warm-up: first calls pay one-off allocation costs
        gen = timed_greedy(model, tokenizer, prompt, new_tokens)
        ppl = perplexity(model, tokenizer, text, max_tokens=ppl_tokens)
    size = model_bytes(model)
    return LevelResult(level, description, size, build_s, rss.delta_mb, ppl, gen.prefill_tokens_per_s,
                       gen.decode_tokens_per_s, gen.text)
