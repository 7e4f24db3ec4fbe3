"""The planner against measurements: SmolLM2 in each format this CPU runs, predicted vs measured.

Formats: fp32 and bf16 through transformers, chapter 4's Q8_0 and Q4_0 through
:func:`~zero2hero.quantization.linear.quantize_model` (embedding and tied head stay fp32). Tolerances: memory
within 15 %, decode tokens/s within 2× either way.

**Memory** predicted: the planner's weights formula plus chapter 3's KV cache for the tokens held; measured: the
bytes of the state dict (``model_bytes``) plus the key and value tensors of a real cache.

**Speed** predicted: seconds per token = bytes moved ÷ bandwidth + a fixed cost per token. The planner's ceiling
counts the bytes *stored*; an eager layer moves more. Per weight of a block's linear layers, per token:

* fp32: the matrix-vector product reads 4 bytes; bf16: 2 bytes.
* Q8_0 (``dequantize_q8_0``): the int8 slice is copied (read 1 + write 1), turned to float (read 1 + write 4),
  scaled (read 4 + write 4), then multiplied (read 4): 19 bytes.
* Q4_0 (``dequantize_q4_0``): low and high nibbles (read 0.5 + write 0.5, twice), joined (read 1 + write 1), to
  float (read 1 + write 4), minus 8 (read 4 + write 4), scaled (read 4 + write 4), multiplied (read 4): 29 bytes.

The output head (the tied embedding, V × H) is read once per token in its dtype; the cache at its mean length.
The fixed cost is what a tiny model with SmolLM2's 30 layers, in the same format, takes per token beyond its own
bytes: Python and operator dispatch, which a 7B model hides behind its gigabytes and a 135M model cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zero2hero.llama.plan_sources import resolve
from zero2hero.llama.planner import Architecture, weights_bytes

CHECK_FORMATS = ("fp32", "bf16", "q8_0", "q4_0")
MEMORY_TOLERANCE = 0.15
SPEED_TOLERANCE = 2.0
TRAFFIC_BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "q8_0": 19, "q4_0": 29}  # block linears, see the docstring
PROMPT = "The capital of France is"


@dataclass(frozen=True)
class CheckRow:
    """One format: memory (MB = 10⁶ bytes) and decode tokens/s, predicted and measured."""

    fmt: str
    predicted_mb: float
    measured_mb: float
    ceiling_tokens_per_s: float  # the planner's bandwidth ceiling (stored bytes)
    predicted_tokens_per_s: float  # bytes moved ÷ bandwidth + the fixed cost per token
    measured_tokens_per_s: float

    @property
    def memory_error(self) -> float:
        """measured ÷ predicted − 1."""
        return self.measured_mb / self.predicted_mb - 1

    @property
    def speed_ratio(self) -> float:
        """How far apart predicted and measured tokens/s are: the larger over the smaller (≥ 1)."""
        p, m = self.predicted_tokens_per_s, self.measured_tokens_per_s
        return max(p, m) / min(p, m)

    @property
    def within_tolerance(self) -> bool:
        return abs(self.memory_error) <= MEMORY_TOLERANCE and self.speed_ratio <= SPEED_TOLERANCE


def traffic_bytes(arch: Architecture, fmt: str, cached_tokens: int) -> float:
    """Bytes one decode step moves (module docstring): block linears, output head, vectors, KV cache."""
    import torch

    from zero2hero.transformer.kv_cache import kv_cache_bytes

    dtype = torch.bfloat16 if fmt == "bf16" else torch.float32
    element = 2 if fmt == "bf16" else 4
    head = arch.vocab * arch.hidden * element  # the tied embedding, read whole by the output head
    return (arch.layers * arch.block_matrices() * TRAFFIC_BYTES_PER_WEIGHT[fmt] + head + arch.vectors() * element
            + kv_cache_bytes(arch.kv_config(), cached_tokens, dtype))


def predicted_weights_bytes(arch: Architecture, fmt: str) -> float:
    """The planner's formula for the model as this check builds it: bf16 is fp16's size; ours keep embeddings fp32."""
    return weights_bytes(arch, "fp16" if fmt == "bf16" else fmt, embeddings_fp32=fmt in ("q8_0", "q4_0"))


def prepare(model: Any, fmt: str) -> Any:
    """``model`` (a float32 transformers causal LM) in ``fmt``."""
    import torch

    from zero2hero.quantization.linear import quantize_model

    if fmt == "bf16":
        return model.to(torch.bfloat16)
    return quantize_model(model, fmt) if fmt in ("q8_0", "q4_0") else model


def decode_tokens_per_s(model: Any, prompt_ids: list[int], new_tokens: int, rounds: int = 2) -> float:
    """The best decode tokens/s of ``rounds`` greedy runs of chapter 3's generation loop."""
    from zero2hero.transformer.generate import GenerationStats, SamplingConfig, generate

    best = 0.0
    for _ in range(rounds):
        stats = GenerationStats()
        generate(model, prompt_ids, SamplingConfig(max_new_tokens=new_tokens), stats)
        best = max(best, stats.decode_tokens_per_s)
    return best


def tiny_twin(arch: Architecture) -> tuple[Any, Architecture]:
    """A randomly initialised LLaMA with ``arch``'s layer count, every width small (dimensions multiple of 32)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from zero2hero.llama.plan_sources import from_transformers_config

    config = LlamaConfig(vocab_size=128, hidden_size=96, intermediate_size=64, num_hidden_layers=arch.layers,
                         num_attention_heads=3, num_key_value_heads=1, head_dim=32, max_position_embeddings=512,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), from_transformers_config(config, "tiny twin")


def fixed_cost_s(arch: Architecture, fmt: str, bandwidth: float, new_tokens: int) -> float:
    """Seconds per token that do not scale with bytes: the tiny twin's time per token beyond its own traffic."""
    model, tiny = tiny_twin(arch)
    model = prepare(model, fmt)
    seconds = 1 / decode_tokens_per_s(model, [1, 2, 3, 4, 5, 6], new_tokens)
    return max(0.0, seconds - traffic_bytes(tiny, fmt, 6 + new_tokens // 2) / bandwidth)


def measured_bytes(model: Any, ids: list[int]) -> int:
    """State-dict bytes plus the bytes of the KV cache one forward pass over ``ids`` leaves."""
    import torch

    from zero2hero.quantization.evaluate import model_bytes
    from zero2hero.transformer.kv_cache import measured_cache_bytes

    with torch.inference_mode():
        cache = model(torch.tensor([ids]), use_cache=True).cache
    return model_bytes(model) + measured_cache_bytes(cache)


def check_smollm2(formats: tuple[str, ...] = CHECK_FORMATS, new_tokens: int = 32,
                  progress: Callable[[str], None] | None = None) -> list[CheckRow]:
    """Predicted vs measured for SmolLM2-135M-Instruct in each of ``formats`` on this machine."""
    import torch

    from zero2hero.assets import load_causal_lm
    from zero2hero.measure import copy_bandwidth_gb_per_s
    from zero2hero.transformer.kv_cache import kv_cache_bytes

    arch, _ = resolve("smollm2")
    rows = []
    for fmt in formats:
        if progress:
            progress(f"SmolLM2 in {fmt}: memory and {new_tokens} greedy tokens")
        model, tokenizer = load_causal_lm("smollm2")
        model = prepare(model, fmt)
        prompt = tokenizer(PROMPT).input_ids
        held = len(prompt) + new_tokens
        dtype = torch.bfloat16 if fmt == "bf16" else torch.float32
        stored = predicted_weights_bytes(arch, fmt)
        predicted = stored + kv_cache_bytes(arch.kv_config(), held, dtype)
        measured = measured_bytes(model, prompt + [tokenizer.eos_token_id] * new_tokens)
        bandwidth = copy_bandwidth_gb_per_s() * 1e9  # measured next to the decode: a shared machine's load varies
        tokens_per_s = decode_tokens_per_s(model, prompt, new_tokens)
        step_s = traffic_bytes(arch, fmt, len(prompt) + new_tokens // 2) / bandwidth
        rows.append(CheckRow(fmt, predicted / 1e6, measured / 1e6, bandwidth / stored,
                             1 / (step_s + fixed_cost_s(arch, fmt, bandwidth, new_tokens)), tokens_per_s))
    return rows


def check_table(rows: list[CheckRow]) -> tuple[list[str], list[list[object]]]:
    columns = ["format", "MB predicted", "MB measured", "Δ memory %", "tokens/s ceiling", "tokens/s predicted",
               "tokens/s measured", "apart ×", "within 15 % / 2×"]
    return columns, [[r.fmt, r.predicted_mb, r.measured_mb, 100 * r.memory_error, r.ceiling_tokens_per_s,
                      r.predicted_tokens_per_s, r.measured_tokens_per_s, r.speed_ratio,
                      "yes" if r.within_tolerance else "no"] for r in rows]
