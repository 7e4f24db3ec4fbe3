"""The KV-cache arithmetic against the tensors a real DynamicCache holds after a forward pass."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from zero2hero.errors import InputError
from zero2hero.transformer.kv_cache import (
    KVShape,
    kv_cache_bytes,
    kv_cache_bytes_per_token_per_layer,
    measured_cache_bytes,
)


def _cache_after(model: torch.nn.Module, n_tokens: int, batch_size: int = 1):
    ids = torch.randint(0, model.config.vocab_size, (batch_size, n_tokens), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return model(ids, use_cache=True).cache


def test_tiny_llama_with_grouped_query_attention() -> None:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=8, num_key_value_heads=2)
    model = LlamaForCausalLM(config).eval()
    assert KVShape.from_config(config) == KVShape(n_layers=3, n_heads=8, n_kv_heads=2, head_dim=8)
    assert kv_cache_bytes_per_token_per_layer(config) == 2 * 2 * 8 * 4
    for n_tokens, batch_size in [(1, 1), (13, 1), (7, 3)]:
        cache = _cache_after(model, n_tokens, batch_size)
        assert measured_cache_bytes(cache) == kv_cache_bytes(config, n_tokens, batch_size=batch_size)


def test_tiny_gpt2_without_grouping_and_in_half_precision() -> None:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    assert KVShape.from_config(config).n_kv_heads == 4  # every head keeps its own keys and values
    assert measured_cache_bytes(_cache_after(model, 11)) == kv_cache_bytes(config, 11) == 11 * 2 * (2 * 4 * 12 * 4)
    half = model.to(torch.bfloat16)
    assert measured_cache_bytes(_cache_after(half, 11)) == kv_cache_bytes(config, 11, torch.bfloat16)


def test_refuses_negative_sizes() -> None:
    with pytest.raises(InputError, match="n_tokens"):
        kv_cache_bytes(GPT2Config(n_layer=1), -1)


@pytest.mark.heavy
def test_smollm2_cache_matches_the_formula(smollm2) -> None:
    model, _ = smollm2
    shape = KVShape.from_config(model.config)
    assert (shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.head_dim) == (30, 9, 3, 64)
    assert kv_cache_bytes_per_token_per_layer(model.config) == 1536
    assert measured_cache_bytes(_cache_after(model, 64)) == kv_cache_bytes(model.config, 64) == 64 * 30 * 1536
