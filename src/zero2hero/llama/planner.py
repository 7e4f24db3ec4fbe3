"""Can this machine run a large model? Parameters, memory and decode speed from a model's architecture alone.

Everything here is arithmetic on a handful of numbers (an :class:`Architecture`): nothing is downloaded or loaded.
:mod:`~zero2hero.llama.plan_sources` reads those numbers for a published model, a config folder or a GGUF file.

**Parameters.** With H the hidden size, I the MLP's inner size, V the vocabulary, L the layers, n_q query heads,
n_kv key/value heads and d the head size, one block holds

* attention: H·(n_q·d) for the queries, 2·H·(n_kv·d) for keys and values, (n_q·d)·H for the output projection;
* MLP: 3·H·I when it is gated (SwiGLU: gate, up, down), 2·H·I otherwise (up, down);
* vectors: a bias per output of each linear that has one, and per norm H weights (RMSNorm) or 2·H (LayerNorm,
  weight and bias).

The model adds the token embedding V·H, an output head V·H unless it is tied to the embedding, a final norm and, for
BLOOM, a norm on the embeddings. RoPE and ALiBi have no parameters.

**Weights memory** = matrices × bits per weight / 8 + vectors × 4 bytes (norms and biases stay fp32 in the quantized
formats, as in llama.cpp's files). Bits per weight: fp32 32, fp16 16, Q8_0 8.5, Q4_0 4.5 (chapter 4's block
formats), Q4_K 4.5 (llama.cpp's super-blocks of 256 weights in 144 bytes: two fp16 scales, 12 bytes of 6-bit
sub-block scales and minimums, 128 bytes of 4-bit codes; ``block_q4_K`` in ggml-common.h, read here from the
``gguf`` package's ``GGML_QUANT_SIZES``).

**KV cache** = batch × context × L × 2 × n_kv × d × bytes per element (chapter 3's
:func:`~zero2hero.transformer.kv_cache.kv_cache_bytes`), in fp16 (llama.cpp's default) or fp32 for fp32 weights.

**Fine-tuning memory**: chapter 6's :func:`~zero2hero.lora.memory.predict` (AdamW, fp32 weights; LoRA and QLoRA
rank 8 on q_proj and v_proj; one sequence of 512 tokens) for LLaMA-shaped models; it writes out LLaMA blocks only,
so Falcon and BLOOM get none.

**Decode speed.** Each new token reads every weight once and the whole KV cache, so at best
tokens/s = batch × bandwidth ÷ (weights bytes + KV-cache bytes), with the bandwidth this machine measures
(:func:`~zero2hero.measure.copy_bandwidth_gb_per_s`). It is a ceiling: eager PyTorch adds a fixed cost per
operation (:mod:`~zero2hero.llama.plan_check` measures how close SmolLM2 comes to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from zero2hero.errors import InputError

FP32 = 4  # bytes
QUANTIZED = ("q8_0", "q4_0", "q4_k")
FORMATS = ("fp32", "fp16", *QUANTIZED)
FINETUNE_METHODS = ("full", "lora", "qlora")
LORA_TARGETS = ("q_proj", "v_proj")
LORA_RANK = 8


def bits_per_weight(fmt: str) -> float:
    """Bits one weight matrix entry takes in ``fmt`` (block formats: bytes per block × 8 / values per block)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown weight format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if fmt in ("fp32", "fp16"):
        return 32.0 if fmt == "fp32" else 16.0
    if fmt == "q4_k":
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType.Q4_K]
        return 8 * block_bytes / block
    from zero2hero.quantization.ggml import BITS_PER_WEIGHT

    return BITS_PER_WEIGHT[fmt]


@dataclass(frozen=True)
class Architecture:
    """The numbers that size a decoder-only transformer (names as in the module docstring)."""

    name: str
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    tied_embeddings: bool
    norm: str = "rmsnorm"  # or "layernorm" (weight and bias)
    norms_per_block: int = 2
    embedding_norm: bool = False
    mlp: str = "gated"  # "gated" (SwiGLU, three matrices) or "plain" (two)
    attention_bias: bool = False
    mlp_bias: bool = False
    position: str = "rope"
    attention: str = ""
    licence: str = ""
    source: str = ""
    published_parameters: float | None = None
    published_as: str = ""

    def block_matrices(self) -> int:
        """Weights of one block's linear layers: H·n_q·d + 2·H·n_kv·d + n_q·d·H + (3 or 2)·H·I."""
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return h * q + 2 * h * kv + q * h + (3 if self.mlp == "gated" else 2) * h * self.intermediate

    def block_vectors(self) -> int:
        """Biases and norm parameters of one block."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        biases = (q + 2 * kv + self.hidden) if self.attention_bias else 0
        if self.mlp_bias:
            biases += (2 if self.mlp == "gated" else 1) * self.intermediate + self.hidden
        return biases + self.norms_per_block * self.norm_size()

    def norm_size(self) -> int:
        return self.hidden * (2 if self.norm == "layernorm" else 1)

    def outer_matrices(self) -> int:
        """Token embedding V·H, plus the output head V·H when it is not tied."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def outer_vectors(self) -> int:
        """The final norm, and the embedding norm if there is one."""
        return self.norm_size() * (2 if self.embedding_norm else 1)

    def matrices(self) -> int:
        return self.layers * self.block_matrices() + self.outer_matrices()

    def vectors(self) -> int:
        return self.layers * self.block_vectors() + self.outer_vectors()

    def parameters(self) -> int:
        """Every parameter, a tied head counted once."""
        return self.matrices() + self.vectors()

    def kv_config(self) -> SimpleNamespace:
        """What chapter 3's KV-cache formula reads, under transformers' names."""
        return SimpleNamespace(num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
                               head_dim=self.head_dim, hidden_size=self.hidden, num_hidden_layers=self.layers)

    def memory_shape(self) -> Any:
        """Chapter 6's ``ModelShape`` for LLaMA-shaped models (gated MLP, RMSNorm, no biases), else None."""
        if (self.mlp, self.norm, self.norms_per_block, self.embedding_norm, self.mlp_bias) != (
                "gated", "rmsnorm", 2, False, False):
            return None
        from zero2hero.lora.memory import ModelShape

        return ModelShape("decoder", layers=self.layers, hidden=self.hidden, heads=self.heads,
                          kv_heads=self.kv_heads, head_dim=self.head_dim, intermediate=self.intermediate,
                          vocab=self.vocab, other_embeddings=0, tied_head=self.tied_embeddings,
                          attention_dropout=False, hidden_dropout=False, bias=self.attention_bias)


def weights_bytes(arch: Architecture, fmt: str, embeddings_fp32: bool = False) -> float:
    """Bytes of the weights in ``fmt``: matrices × bits / 8 + vectors × 4 (× 2 in fp16).

    ``embeddings_fp32``: keep the embedding and output head in fp32, as chapter 4's ``quantize_model`` does (it
    replaces only the blocks' linear layers).
    """
    bits = bits_per_weight(fmt)
    vector_bytes = bits / 8 if fmt in ("fp32", "fp16") else FP32
    outer_bytes = FP32 if embeddings_fp32 else bits / 8
    return (arch.layers * arch.block_matrices() * bits / 8 + arch.outer_matrices() * outer_bytes
            + arch.vectors() * vector_bytes)


def kv_bytes(arch: Architecture, context: int, batch: int, fmt: str) -> int:
    """Chapter 3's KV cache at ``context`` tokens for ``batch`` sequences: fp32 for fp32 weights, else fp16."""
    import torch

    from zero2hero.transformer.kv_cache import kv_cache_bytes

    dtype = torch.float32 if fmt == "fp32" else torch.float16
    return kv_cache_bytes(arch.kv_config(), context, dtype, batch)


def finetune_bytes(arch: Architecture, batch: int = 1, length: int = 512) -> dict[str, float] | None:
    """Chapter 6's predicted peak of one AdamW step per method (full, lora, qlora), or None for a non-LLaMA shape."""
    shape = arch.memory_shape()
    if shape is None:
        return None
    from zero2hero.lora.memory import predict

    return {method: predict(shape, method, batch, length, LORA_TARGETS, LORA_RANK).total_bytes
            for method in FINETUNE_METHODS}


def decode_tokens_per_s(weights: float, kv: float, batch: int, bandwidth_gb_per_s: float) -> float:
    """The bandwidth ceiling: one step reads every weight and the whole cache and makes ``batch`` tokens."""
    return batch * bandwidth_gb_per_s * 1e9 / (weights + kv)


@dataclass(frozen=True)
class Ram:
    total_bytes: int
    available_bytes: int


def machine_ram() -> Ram:
    """This machine's RAM, and what other programs leave free now (psutil)."""
    import psutil

    memory = psutil.virtual_memory()
    return Ram(memory.total, memory.available)


def fit_verdict(needed_bytes: float, ram: Ram) -> str:
    """``yes`` if it fits in the free memory, ``tight`` if only in the whole RAM, else ``no``."""
    if needed_bytes <= ram.available_bytes:
        return "yes"
    return "tight" if needed_bytes <= ram.total_bytes else "no"


@dataclass(frozen=True)
class Plan:
    """What running ``arch`` in ``fmt`` at ``context`` × ``batch`` needs, and what to expect on this machine."""

    arch: Architecture
    fmt: str
    context: int
    batch: int
    weights_by_format: dict[str, float]
    kv_bytes: int
    finetune_bytes: dict[str, float] | None
    bandwidth_gb_per_s: float
    ram: Ram
    file_bytes: int | None = None  # a GGUF file: bytes of its tensor data as stored

    @property
    def weights_bytes(self) -> float:
        return self.weights_by_format[self.fmt]

    @property
    def needed_bytes(self) -> float:
        return self.weights_bytes + self.kv_bytes

    @property
    def tokens_per_s(self) -> float:
        return decode_tokens_per_s(self.weights_bytes, self.kv_bytes, self.batch, self.bandwidth_gb_per_s)

    @property
    def fits(self) -> str:
        return fit_verdict(self.needed_bytes, self.ram)


def make_plan(arch: Architecture, fmt: str = "q4_0", context: int = 4096, batch: int = 1,
              bandwidth_gb_per_s: float | None = None, ram: Ram | None = None, file_bytes: int | None = None) -> Plan:
    """The plan for one model; the bandwidth and RAM are measured here unless given."""
    bits_per_weight(fmt)
    if context < 1 or batch < 1:
        raise InputError(f"context and batch must be at least 1, got {context} and {batch}",
                         "e.g. --context 4096 --batch 1")
    if bandwidth_gb_per_s is None:
        from zero2hero.measure import copy_bandwidth_gb_per_s

        bandwidth_gb_per_s = copy_bandwidth_gb_per_s()
    return Plan(arch, fmt, context, batch, {f: weights_bytes(arch, f) for f in FORMATS},
                kv_bytes(arch, context, batch, fmt), finetune_bytes(arch), bandwidth_gb_per_s,
                ram or machine_ram(), file_bytes)


def plan_rows(plans: list[Plan]) -> tuple[list[str], list[list[object]]]:
    """A table: one row per plan (GB = 10⁹ bytes)."""
    columns = ["model", "parameters (B)", *(f"{f} GB" for f in FORMATS), "file GB", "format", "KV GB", "needs GB",
               "fits", "tokens/s ≤", *(f"train {m} GB" for m in FINETUNE_METHODS)]
    rows = []
    for p in plans:
        tune = [p.finetune_bytes[m] / 1e9 if p.finetune_bytes else "—" for m in FINETUNE_METHODS]
        rows.append([p.arch.name, p.arch.parameters() / 1e9, *(p.weights_by_format[f] / 1e9 for f in FORMATS),
                     p.file_bytes / 1e9 if p.file_bytes else "—", p.fmt, p.kv_bytes / 1e9, p.needed_bytes / 1e9,
                     p.fits, p.tokens_per_s, *tune])
    return columns, rows
