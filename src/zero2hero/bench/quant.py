"""`z2h bench quant`: SmolLM2 in fp32 against our int8 / GGML formats and torch's fbgemm int8, on the
same prompt and held-out text in one run — decode speed in alternating rounds, bits per weight, perplexity."""

from __future__ import annotations

from zero2hero.bench import BenchResult
from zero2hero.reporting import Table

DESCRIPTION = ("quantization: fp32 vs our int8/Q8_0/Q4_0/Q4_1 (eager and fused kernels) vs torch dynamic int8 — "
               "decode speed, bits, perplexity")

PROMPT = "The capital of France is"
QUICK_LEVELS = ["fp32", "ours_q8_0", "ours_int8_fused", "torch_int8_mixed"]
FULL_LEVELS = ["fp32", "ours_int8", "ours_q8_0", "ours_q8_0_cached", "ours_q4_0", "ours_q4_1", "ours_int8_fused",
               "ours_int4_g32_fused", "torch_int8", "torch_int8_head_fp32", "torch_int8_mixed"]


def run(quick: bool = False) -> BenchResult:
    import torch

    from zero2hero.assets import load_causal_lm
    from zero2hero.corpus import heldout_text
    from zero2hero.quantization.ggml import BITS_PER_WEIGHT
    from zero2hero.quantization.levels import measure_levels

    model, tokenizer = load_causal_lm("smollm2")
    levels, ppl_tokens, new_tokens, rounds = (QUICK_LEVELS, 128, 8, 2) if quick else (FULL_LEVELS, 1024, 32, 3)
    rows = measure_levels(levels, model, tokenizer, heldout_text(ppl_tokens * 6), PROMPT, ppl_tokens, new_tokens,
                          rounds)
    base = rows[0]
    figures = {
        "threads_count": torch.get_num_threads(), "ppl_tokens_count": ppl_tokens, "new_tokens_count": new_tokens,
        "rounds_count": rounds, **{f"{name}_bits_per_weight": bits for name, bits in BITS_PER_WEIGHT.items()},
        "levels": [{"level": r.level, "size_mb": r.size_bytes / 1e6, "decode_tokens_per_s": r.decode_tokens_per_s,
                    "speedup_level_over_fp32_ratio": r.decode_ratio_to(base), "heldout_ppl": r.perplexity,
                    "ppl_change_ratio": r.perplexity_change_to(base), "peak_added_mb": r.peak_added_mb}
                   for r in rows],
    }
    best = max(rows[1:], key=lambda r: r.decode_tokens_per_s)
    figures["fastest_level"] = best.level
    figures["speedup_fastest_over_fp32_ratio"] = best.decode_ratio_to(base)
    figures["fastest_ppl_change_ratio"] = best.perplexity_change_to(base)
    table = Table(f"SmolLM2-135M-Instruct: fp32 vs quantized (same prompt, same text; decode best of {rounds} "
                  "alternating rounds)", ["level", "MB", "decode tok/s", "× fp32", "perplexity", "Δ ppl"],
                  [[r.level, round(r.size_bytes / 1e6, 1), round(r.decode_tokens_per_s, 2),
                    round(r.decode_ratio_to(base), 2), round(r.perplexity, 3), f"{r.perplexity_change_to(base):+.2%}"]
                   for r in rows])
    notes = [
        f"fastest quantized path: {best.level}, {best.decode_ratio_to(base):.2f}× fp32 decode at "
        f"{best.perplexity_change_to(base):+.2%} perplexity.",
        "ours_* layers without _fused dequantize every weight on each call in eager PyTorch, so they save memory, "
        "not time; the _fused ones run PyTorch's weight-only int8/int4 CPU kernels on our quantized weights.",
        "SmolLM2's float32 weights are themselves dequantized from a Q4_1 file: re-quantizing to Q4_1 is "
        "nearly lossless here, which flatters the 4-bit rows.",
    ]
    return BenchResult("quant", figures, [table], notes)
