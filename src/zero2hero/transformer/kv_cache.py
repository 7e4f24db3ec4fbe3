"""How many bytes a KV cache holds: the arithmetic, and the same figure read off a real cache.

Every layer keeps one key and one value vector per cached token for each *key/value* head, so

    bytes per token per layer = 2 × n_kv_heads × head_dim × bytes per element.

With grouped-query attention (LLaMA, SmolLM2) several query heads share one key/value head, so ``n_kv_heads`` is
smaller than the number of attention heads and the cache shrinks by the same factor.

``python -m zero2hero.transformer.kv_cache [MODEL] [N_TOKENS]`` prints both for a model (default: SmolLM2).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from zero2hero.errors import InputError


@dataclass(frozen=True)
class KVShape:
    """What sizes a model's KV cache, read from its ``transformers`` config."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @classmethod
    def from_config(cls, config) -> KVShape:
        """Works for GPT-2 (``n_layer``/``n_head``, no GQA) and LLaMA-like configs (``num_key_value_heads``)."""
        n_heads = config.num_attention_heads
        n_kv_heads = getattr(config, "num_key_value_heads", None) or n_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_heads
        return cls(config.num_hidden_layers, n_heads, n_kv_heads, head_dim)


def kv_cache_bytes_per_token_per_layer(config, dtype: torch.dtype = torch.float32) -> int:
    """2 (key and value) × n_kv_heads × head_dim × bytes per element."""
    shape = KVShape.from_config(config)
    return 2 * shape.n_kv_heads * shape.head_dim * torch.empty((), dtype=dtype).element_size()


def kv_cache_bytes(config, n_tokens: int, dtype: torch.dtype = torch.float32, batch_size: int = 1) -> int:
    """Bytes of the keys and values cached for ``n_tokens`` positions of ``batch_size`` sequences, all layers."""
    if n_tokens < 0 or batch_size < 1:
        raise InputError(f"n_tokens={n_tokens}, batch_size={batch_size}", "pass n_tokens >= 0 and batch_size >= 1")
    n_layers = KVShape.from_config(config).n_layers
    return batch_size * n_tokens * n_layers * kv_cache_bytes_per_token_per_layer(config, dtype)


def measured_cache_bytes(cache) -> int:
    """Bytes of the key and value tensors a ``transformers`` ``DynamicCache`` actually holds.

    Each layer's keys and values are ``(batch, n_kv_heads, seq, head_dim)``.
    """
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))


@torch.inference_mode()
def _compare(name_or_path: str, n_tokens: int) -> None:
    from zero2hero.assets import load_causal_lm

    model, _ = load_causal_lm(name_or_path)
    shape = KVShape.from_config(model.config)
    ids = torch.randint(0, model.config.vocab_size, (1, n_tokens), generator=torch.Generator().manual_seed(0))
    cache = model(ids, use_cache=True).cache
    per_layer = kv_cache_bytes_per_token_per_layer(model.config)
    print(f"{name_or_path}: {shape.n_layers} layers, {shape.n_heads} query heads, {shape.n_kv_heads} key/value heads, "
          f"head_dim {shape.head_dim}")
    print(f"formula:  2 × {shape.n_kv_heads} × {shape.head_dim} × 4 bytes = {per_layer:,} bytes per token per layer; "
          f"× {shape.n_layers} layers = {per_layer * shape.n_layers:,} bytes per token (float32)")
    print(f"formula:  {n_tokens} tokens → {kv_cache_bytes(model.config, n_tokens):,} bytes")
    print(f"measured: {n_tokens} tokens → {measured_cache_bytes(cache):,} bytes in the DynamicCache after one forward")
    context = getattr(model.config, "max_position_embeddings", None) or model.config.n_positions
    print(f"at the full context of {context:,} tokens: {kv_cache_bytes(model.config, context) / 1e6:,.1f} MB in "
          f"float32, {kv_cache_bytes(model.config, context, torch.bfloat16) / 1e6:,.1f} MB in bfloat16")
    print(f"without grouped-query attention ({shape.n_heads} key/value heads) it would be "
          f"{shape.n_heads / shape.n_kv_heads:.0f}× larger")


if __name__ == "__main__":
    _compare(sys.argv[1] if len(sys.argv) > 1 else "smollm2", int(sys.argv[2]) if len(sys.argv) > 2 else 256)
