"""Lab 4 — every precision level of SmolLM2-135M-Instruct measured the same way (size, build time, peak
memory, perplexity on held-out text, prefill / decode speed, a sample), MiniLM embedding drift per level,
and the error analysis of the formats on a real weight matrix."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.quantization.levels import LevelResult

CHAPTER = 4
TITLE = "Lab 4 — Inference and quantization, measured before and after"

DRIFT_SENTENCES = [
    "The library opens at nine on weekdays.", "Quantization stores weights with fewer bits.",
    "She walked to the station in the rain.", "Prices rose sharply after the announcement.",
    "A small model can run on a laptop CPU.", "The cat slept on the warm windowsill.",
]


@dataclass
class Config:
    quick: bool = True
    levels: list[str] = field(default_factory=lambda: [
        "fp32", "bf16", "ours_int8", "ours_q8_0", "ours_q8_0_cached", "ours_q4_0", "ours_int4_g128",
        "ours_q4_1", "ours_nf4", "ours_int8_fused", "ours_int4_g32_fused", "torch_int8", "torch_int8_head_fp32",
        "torch_int8_mixed"])
    ppl_tokens: int = 2048
    new_tokens: int = 24
    speed_rounds: int = 2  # every level decodes once per round; each keeps its fastest round
    prompt: str = "The capital of France is"


QUICK = {"levels": ["fp32", "ours_q8_0", "ours_int8_fused", "torch_int8_mixed"], "ppl_tokens": 128, "new_tokens": 8}


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.assets import load_causal_lm
    from zero2hero.corpus import heldout_text

    result = LabResult(title=TITLE)
    ctx.step("error analysis of the formats on a real weight matrix")
    model, tokenizer = load_causal_lm("smollm2")
    result.add(_format_errors(model))
    ctx.step("activation outliers per kind of linear layer")
    text = heldout_text(config.ppl_tokens * 6)
    result.add(_outliers(model, tokenizer(text, return_tensors="pt").input_ids[:, :128]))
    ctx.step(f"SmolLM2 at {len(config.levels)} precision levels: size, memory, perplexity, speed")
    result.add(_levels(model, tokenizer, text, config, ctx))
    ctx.step("MiniLM embedding drift per level")
    result.add(_drift())
    return result


def _levels(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str, config: Config,
            ctx: RunContext) -> Section:
    from zero2hero.quantization.levels import measure_levels
    from zero2hero.quantization.library import bitsandbytes_status

    rows = measure_levels(config.levels, model, tokenizer, text, config.prompt, config.ppl_tokens,
                          config.new_tokens, config.speed_rounds, progress=ctx.step)
    base, section = rows[0], Section()
    table = Table(f"SmolLM2-135M-Instruct at each precision level (ratios against {base.level})",
                  ["level", "bytes (MB)", "build s", "peak +MB", "perplexity", "Δppl", "prefill tok/s",
                   "decode tok/s", f"decode × {base.level}"], [])
    for r in rows:
        table.rows.append([r.level, round(r.size_bytes / 1e6, 1), round(r.build_s, 2), round(r.peak_added_mb),
                           round(r.perplexity, 3), f"{r.perplexity_change_to(base):+.2%}",
                           round(r.prefill_tokens_per_s, 1), round(r.decode_tokens_per_s, 2),
                           round(r.decode_ratio_to(base), 2)])
        section.metric(f"{r.level}_ppl", r.perplexity, f"perplexity on {config.ppl_tokens} held-out tokens")
        section.metric(f"{r.level}_size_bytes", r.size_bytes, "serialized state_dict")
        section.metric(f"{r.level}_decode_tokens_per_s", r.decode_tokens_per_s,
                       f"greedy, KV cache, best of {config.speed_rounds} alternating rounds")
    section.tables += [table, Table(f"Greedy samples for {config.prompt!r}", ["level", "continuation"],
                                    [[r.level, r.sample.replace("\n", " ⏎ ")] for r in rows])]
    section.figures += _figures(rows, ctx)
    best = max(rows, key=lambda r: r.decode_tokens_per_s)
    section.notes += [
        f"bitsandbytes 8-bit / NF4: {bitsandbytes_status()[1]}.",
        f"fastest decode: {best.level} at {best.decode_tokens_per_s:.2f} tokens/s, "
        f"{best.decode_ratio_to(base):.2f}× {base.level} ({base.decode_tokens_per_s:.2f}).",
        "ours_* layers without _fused dequantize the whole weight on every call in eager PyTorch: extra memory "
        "traffic and Python work per layer, so they are slower than fp32; only a fused kernel (ours_*_fused, "
        "torch's fbgemm, llama.cpp's) turns fewer bytes into more speed."]
    return section


def _format_errors(model: PreTrainedModel) -> Section:
    from zero2hero.quantization.analysis import error_stats, outlier_effect
    from zero2hero.quantization.linear import FORMATS, QuantLinear

    linear = model.model.layers[0].mlp.down_proj
    weight = linear.weight.detach()
    rows, section = [], Section()
    for fmt in FORMATS:
        stats = error_stats(weight, QuantLinear(linear, fmt).dequantized())
        bits = QuantLinear(linear, fmt).storage_bytes() * 8 / weight.numel()
        rows.append([fmt, round(bits, 3), f"{stats.mse:.3e}", f"{stats.max_abs_error:.4f}", round(stats.snr_db, 1)])
        section.metric(f"{fmt}_snr_db", stats.snr_db, "layer 0 down_proj")
        section.metric(f"{fmt}_bits_per_weight", bits, "layer 0 down_proj, scales included")
    outliers = outlier_effect()
    for name, value in outliers.items():
        section.metric(name, value, "int8 absmax error on the ordinary values")
    section.notes.append(
        f"one outlier of 50 among 4,096 normal values multiplies the per-tensor int8 MSE of the others by "
        f"{outliers['outlier_tensor_mse'] / outliers['clean_tensor_mse']:.0f}×; groups of 64 bring it back to "
        f"{outliers['outlier_group64_mse'] / outliers['clean_tensor_mse']:.2f}× the clean error.")
    section.tables.append(Table(f"Formats on layer 0 down_proj {tuple(weight.shape)}",
                                ["format", "bits/weight", "MSE", "max |error|", "SNR dB"], rows))
    return section


def _outliers(model: PreTrainedModel, ids: torch.Tensor) -> Section:
    from zero2hero.quantization.analysis import activation_outliers

    ratios = activation_outliers(model, ids)
    section = Section()
    for kind, ratio in ratios.items():
        section.metric(f"{kind}_activation_outlier_ratio", ratio,
                       "max / median input-feature magnitude, worst layer of this kind")
    worst = max(ratios, key=ratios.get)
    section.notes.append(f"the inputs of {worst} have the strongest outlier features ({ratios[worst]:.0f}× the median "
                        "feature): torch_int8_mixed keeps those layers (and lm_head) in fp32.")
    section.tables.append(Table(f"Activation outliers on {ids.shape[1]} held-out tokens",
                 ["layer kind", "max / median feature magnitude (worst layer)"],
                 [[kind, round(ratio, 1)] for kind, ratio in ratios.items()],
                 "One int8 scale per activation tensor gives the typical features 255 / ratio of the levels."))
    return section


def _drift() -> Section:
    from zero2hero.assets import load_encoder
    from zero2hero.embeddings import embed_sentences
    from zero2hero.quantization.evaluate import embedding_drift, model_bytes
    from zero2hero.quantization.library import torch_dynamic_int8
    from zero2hero.quantization.linear import quantize_model

    encoder, tokenizer = load_encoder("minilm")
    reference = embed_sentences(DRIFT_SENTENCES, encoder, tokenizer)
    variants = {"bf16": copy.deepcopy(encoder).to(torch.bfloat16), "torch_int8": torch_dynamic_int8(encoder)}
    for fmt in ("int8", "q8_0", "q4_0", "q4_1", "nf4"):
        variants[f"ours_{fmt}"] = quantize_model(copy.deepcopy(encoder), fmt, skip=())
    rows, section = [["fp32", round(model_bytes(encoder) / 1e6, 2), 1.0]], Section()
    for name, variant in variants.items():
        cosine = embedding_drift(reference, embed_sentences(DRIFT_SENTENCES, variant, tokenizer))
        rows.append([name, round(model_bytes(variant) / 1e6, 2), round(cosine, 5)])
        section.metric(f"minilm_{name}_cosine", cosine, "mean cosine to the fp32 embeddings")
    section.tables.append(Table("all-MiniLM-L6-v2 (genuinely fp32): embedding drift",
                                ["level", "bytes (MB)", "mean cosine vs fp32"], rows))
    return section


def _figures(rows: list[LevelResult], ctx: RunContext) -> list[Figure]:
    from matplotlib import colormaps

    fig, ax = new_figure((9, 4.5))
    markers = "osD^v<>PX*hp"
    for i, r in enumerate(rows):
        # Several levels share a size or a perplexity: a legend keeps every one readable where labels would overlap.
        ax.scatter(r.size_bytes / 1e6, r.perplexity, marker=markers[i % len(markers)], s=50, alpha=0.8,
                   color=colormaps["tab20"](i % 20), label=r.level)
    ax.set_xlabel("serialized size (MB)")
    ax.set_ylabel("perplexity (held-out text)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    size_plot = ctx.save_figure(fig, "size_vs_perplexity.png", "Size vs perplexity",
                                "Each precision level of SmolLM2: smaller is left, better is lower.")
    fig, ax = new_figure((7, 4.5))
    names = [r.level for r in rows]
    ax.barh(names, [r.decode_tokens_per_s for r in rows])
    ax.axvline(rows[0].decode_tokens_per_s, color="black", linestyle="--", linewidth=1, label=f"{rows[0].level}")
    ax.legend()
    ax.set_xlabel("decode tokens/s (greedy, KV cache)")
    speed_plot = ctx.save_figure(fig, "tokens_per_s.png", "Decode tokens/s per level",
                                 "Higher is faster; same prompt, same machine.")
    return [size_plot, speed_plot]
