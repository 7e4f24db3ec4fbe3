"""Transformers' ``quantization_config=`` path with bitsandbytes, on this CPU: a tiny LLaMA built locally, and
(heavy) SmolLM2's perplexity change."""

from __future__ import annotations

from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from zero2hero.errors import UnknownNameError, Zero2HeroError
from zero2hero.quantization.evaluate import perplexity
from zero2hero.quantization.library import bitsandbytes_status, load_quantized


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LlamaForCausalLM]:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).eval()
    folder = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(folder)
    return folder, model


def test_status_says_it_runs_here() -> None:
    usable, why = bitsandbytes_status()
    assert usable and ("CPU" in why or "CUDA" in why)


@pytest.mark.parametrize(("method", "layer_type", "max_error"), [("bnb-8bit", "Linear8bitLt", 0.05),
                                                                 ("bnb-nf4", "Linear4bit", 0.5)])
def test_quantized_tiny_llama_stays_close(tiny_llama, method: str, layer_type: str, max_error: float) -> None:
    folder, reference = tiny_llama
    model = load_quantized(str(folder), method)
    layers = model.model.layers[0]
    for linear in (layers.self_attn.q_proj, layers.self_attn.v_proj, layers.mlp.down_proj):
        assert type(linear).__name__ == layer_type and isinstance(linear, getattr(bnb.nn, layer_type))
    assert model.get_memory_footprint() < 0.7 * reference.get_memory_footprint()
    ids = torch.randint(0, 128, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = reference(ids).logits, model(ids).logits
    error = (got - expected).abs().max().item()
    assert 0 < error < max_error  # quantized (not identical), and close


def test_unknown_method_and_missing_gpu_are_explained(tiny_llama) -> None:
    folder, _ = tiny_llama
    with pytest.raises(UnknownNameError, match="bnb-8bit"):
        load_quantized(str(folder), "bnb-3bit")
    if not torch.cuda.is_available():
        with pytest.raises(Zero2HeroError, match="no CUDA GPU"):
            load_quantized(str(folder), "bnb-8bit", device="cuda")


@pytest.mark.heavy
def test_smollm2_perplexity_change(smollm2) -> None:
    from zero2hero.corpus import heldout_text

    model, tokenizer = smollm2
    text = heldout_text(512 * 6)
    base = perplexity(model, tokenizer, text, max_tokens=512)
    eight = perplexity(load_quantized("smollm2", "bnb-8bit"), tokenizer, text, max_tokens=512)
    nf4 = perplexity(load_quantized("smollm2", "bnb-nf4"), tokenizer, text, max_tokens=512)
    assert 0 < eight / base - 1 < 0.06   # measured +2.45 % on 1,024 tokens
    assert 0.10 < nf4 / base - 1 < 0.45  # measured +25.5 %
