"""`z2h bench generate`: our generation loop (with and without the KV cache) against ``model.generate`` on
SmolLM2-135M-Instruct — alternating rounds, tokens/s, peak memory, and the share of memory bandwidth used."""

from __future__ import annotations

from zero2hero.bench import BenchResult
from zero2hero.reporting import Table

DESCRIPTION = "our generation loop (KV cache / none) vs model.generate on SmolLM2: tokens/s, memory, bandwidth"
PROMPT = "The history of the printing press"


def run(quick: bool = False) -> BenchResult:
    from zero2hero.assets import load_causal_lm
    from zero2hero.measure import copy_bandwidth_gb_per_s
    from zero2hero.transformer.generate import encode_prompt
    from zero2hero.transformer.speed import compare_decoding

    model, tok = load_causal_lm("smollm2")
    n, rounds = (32, 2) if quick else (512, 2)
    c = compare_decoding(model, encode_prompt(tok, PROMPT), n, tok.eos_token_id, rounds=rounds)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bandwidth = copy_bandwidth_gb_per_s()
    decode = c.runs["ours_cache"].stats.decode_tokens_per_s
    figures = {
        "new_tokens_count": n,
        "rounds_count": rounds,
        "engines": [{"engine": name, "total_s": r.seconds, "tokens_per_s": n / r.seconds,
                     **({"prefill_tokens_per_s": r.stats.prefill_tokens_per_s,
                         "decode_tokens_per_s": r.stats.decode_tokens_per_s} if r.stats else {}),
                     "peak_added_mb": r.peak_added_mb} for name, r in c.runs.items()],
        "speedup_ours_over_generate_ratio": c.ratio("ours_cache", "generate"),
        "speedup_cache_over_no_cache_ratio": c.ratio("ours_cache", "ours_no_cache"),
        "greedy_identical_prefix_count": c.identical_prefix(),
        "weight_mb": weight_bytes / 1e6,
        "copy_bandwidth_gb_per_s": bandwidth,
        "weight_read_gb_per_s": weight_bytes * decode / 1e9,
        "bandwidth_used_ratio": weight_bytes * decode / 1e9 / bandwidth,
    }
    rows = [[name, round(r.seconds, 2), round(n / r.seconds, 2),
             round(r.stats.prefill_tokens_per_s, 1) if r.stats else "",
             round(r.stats.decode_tokens_per_s, 2) if r.stats else "", round(r.peak_added_mb, 1)]
            for name, r in c.runs.items()]
    table = Table(f"SmolLM2-135M fp32, greedy, {n} new tokens, prompt {PROMPT!r}, best of {rounds} alternating rounds",
                  ["engine", "seconds", "tokens/s (all)", "prefill tok/s", "decode tok/s", "peak +MB"], rows)
    notes = [f"KV cache {figures['speedup_cache_over_no_cache_ratio']:.2f}× faster than recomputing; our loop "
             f"{figures['speedup_ours_over_generate_ratio']:.3f}× model.generate; the first "
             f"{figures['greedy_identical_prefix_count']} of {n} greedy tokens identical; decode reads "
             f"{figures['weight_mb']:.0f} MB of weights per token = {figures['weight_read_gb_per_s']:.2f} GB/s of a "
             f"measured {bandwidth:.2f} GB/s copy bandwidth."]
    return BenchResult("generate", figures, [table], notes)
