"""What quantisation costs each trained size: held-out perplexity at fp32 and with every matmul weight quantised.

For each size, the final fp32 weights that :func:`~zero2hero.llama.scaling.run.run_plan` keeps (the plan's largest
budget) are loaded, every matrix that multiplies is quantised in a format and decoded back to fp32, and the model is
evaluated on the held-out tokens the study's losses come from. Decoding back to fp32 gives the same products as a
kernel that multiplies by the packed weights, up to float rounding: only the weights' values change.

What is quantised: the attention and MLP weights of every block, and the tied embedding/output matrix (vocab ×
width), as a llama.cpp file of one type stores ``token_embd``; the RMSNorm scales stay fp32, as llama.cpp keeps them.

Blocks run along the *flattened* row-major weight, as :mod:`zero2hero.quantization.linear` does for NF4 and Q4_K:
our widths (16 to 192) are shorter than a Q4_K super-block of 256 values, so per-row blocks would turn almost
every tensor into llama.cpp's fallback. A tensor whose size 256 does not divide (the key/value projections of s2,
24 × 48) is stored in Q5_0, the type llama.cpp falls back to for Q4_K; :func:`fallback_share` says how much that is.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from safetensors.torch import load_file

from zero2hero.errors import AssetMissingError, InputError
from zero2hero.llama.model import Llama, LlamaConfig
from zero2hero.llama.scaling.family import non_embedding_params
from zero2hero.llama.scaling.plan import ScalingPlan
from zero2hero.llama.scaling.run import plan_cache, plan_data
from zero2hero.llama.scaling.train import WEIGHTS_FILE, evaluate
from zero2hero.quantization import ggml
from zero2hero.quantization.kquant import SUPER_BLOCK, dequantize_q4_k, quantize_q4_k
from zero2hero.quantization.nf4 import nf4_dequantize, nf4_quantize
from zero2hero.quantization.q5_0 import dequantize_q5_0, quantize_q5_0

FORMATS = ("q8_0", "q4_0", "q4_1", "nf4", "q4_k")
FOUR_BIT = ("q4_0", "q4_1", "nf4", "q4_k")
NF4_BLOCK = 64


def roundtrip(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """``weight`` (any shape) quantised in ``fmt`` over its flattened values and decoded: float32, same shape."""
    flat = weight.detach().float().reshape(1, -1)  # (1, numel): blocks may straddle rows
    if fmt in ("q8_0", "q4_0", "q4_1"):
        decoded = getattr(ggml, f"dequantize_{fmt}")(getattr(ggml, f"quantize_{fmt}")(flat))
    elif fmt == "nf4":
        decoded = nf4_dequantize(*nf4_quantize(flat, NF4_BLOCK), tuple(flat.shape))
    elif fmt == "q4_k" and flat.shape[1] % SUPER_BLOCK:
        decoded = dequantize_q5_0(quantize_q5_0(flat))
    elif fmt == "q4_k":
        decoded = dequantize_q4_k(quantize_q4_k(flat))
    else:
        raise InputError(f"unknown quantisation format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    return decoded.reshape(weight.shape)


def matmul_weights(model: Llama) -> list[str]:
    """Names of the state-dict tensors that multiply: every 2-D weight (linear layers, embedding/output matrix)."""
    return [name for name, tensor in model.state_dict().items() if tensor.dim() == 2]


def quantized_copy(model: Llama, fmt: str) -> Llama:
    """A copy of ``model`` whose matmul weights went through :func:`roundtrip` in ``fmt`` (``model`` is untouched)."""
    quantized = copy.deepcopy(model)
    state = quantized.state_dict()
    with torch.no_grad():
        for name in matmul_weights(quantized):
            state[name].copy_(roundtrip(state[name], fmt))
    return quantized


def fallback_share(model: Llama) -> float:
    """The share of matmul weights that Q4_K stores in Q5_0 (tensors whose size 256 does not divide)."""
    sizes = [model.state_dict()[name].numel() for name in matmul_weights(model)]
    return sum(n for n in sizes if n % SUPER_BLOCK) / sum(sizes)


@dataclass(frozen=True)
class QuantRow:
    """One size in one format: its held-out loss and perplexity, and the increase over the same size at fp32."""

    size: str
    params: int  # non-embedding N
    format: str  # "fp32" or one of FORMATS
    loss: float  # nats/token
    perplexity: float
    increase_pct: float  # 100 × (perplexity / fp32 perplexity − 1)


def quantization_rows(models: dict[str, Llama], validation_ids: torch.Tensor, context: int, n_tokens: int,
                      formats: Sequence[str] = FORMATS) -> list[QuantRow]:
    """fp32 then every format, for every size in ``models`` (name -> model), evaluated on ``n_tokens`` held-out
    tokens with :func:`~zero2hero.llama.scaling.train.evaluate`."""
    rows = []
    for size, model in models.items():
        params = non_embedding_params(model.config)
        reference = evaluate(model, validation_ids, context, n_tokens)
        for fmt in ("fp32", *formats):
            loss = reference if fmt == "fp32" else evaluate(quantized_copy(model, fmt), validation_ids, context,
                                                            n_tokens)
            rows.append(QuantRow(size, params, fmt, loss, math.exp(loss), 100 * math.expm1(loss - reference)))
    return rows


def load_kept(plan: ScalingPlan, root: Path | None = None) -> dict[str, Llama]:
    """The fp32 model of every size of ``plan`` at its largest budget, as :func:`run_plan` kept it."""
    cache = plan_cache(plan, root)
    models = {}
    for size in plan.sizes:
        folder = cache.weights_dir(size, max(plan.budgets))
        if not (folder / WEIGHTS_FILE).is_file():
            raise AssetMissingError(f"no kept weights of {size} at {max(plan.budgets):,} tokens in {folder}",
                                    "run run_plan(plan) first: it keeps each size's weights at the largest budget")
        model = Llama(LlamaConfig(**json.loads((folder / "config.json").read_text(encoding="utf-8"))))
        model.load_state_dict(load_file(folder / WEIGHTS_FILE), strict=True)
        models[size] = model
    return models


def quantize_sizes(plan: ScalingPlan, root: Path | None = None,
                   formats: Sequence[str] = FORMATS) -> list[QuantRow]:
    """:func:`quantization_rows` of every size the plan trained, on the plan's held-out tokens."""
    cache = plan_cache(plan, root)
    return quantization_rows(load_kept(plan, root), plan_data(plan, cache).validation, plan.context,
                             plan.validation_tokens, formats)


def best_four_bit(rows: Sequence[QuantRow], size: str) -> QuantRow:
    """The 4-bit row of ``size`` with the lowest perplexity."""
    candidates = [row for row in rows if row.size == size and row.format in FOUR_BIT]
    if not candidates:
        raise InputError(f"no 4-bit rows for size {size!r}", f"quantise it in one of {', '.join(FOUR_BIT)} first")
    return min(candidates, key=lambda row: row.perplexity)


def quantization_figure(rows: Sequence[QuantRow]) -> Figure:
    """Perplexity increase over fp32 (%) against N, one line per format, log-scaled N."""
    figure = Figure(figsize=(6, 4.2))
    axes = figure.subplots()
    for fmt in dict.fromkeys(row.format for row in rows if row.format != "fp32"):
        chosen = sorted((row for row in rows if row.format == fmt), key=lambda row: row.params)
        axes.plot([row.params for row in chosen], [row.increase_pct for row in chosen], "o-", label=fmt)
    axes.axhline(10.0, color="grey", linestyle="--", linewidth=1, label="10 % (the course's goal for 4 bits)")
    axes.set_xscale("log")
    axes.set_xlabel("non-embedding parameters N")
    axes.set_ylabel("perplexity increase over fp32 (%)")
    axes.set_title("Quantising every matmul weight, per trained size")
    axes.legend(fontsize=7)
    axes.set_ylim(bottom=min(0.0, float(np.min([row.increase_pct for row in rows]))))
    figure.tight_layout()
    return figure
