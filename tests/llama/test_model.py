"""Our LLaMA equals transformers' LlamaForCausalLM: on tiny random models, on tiny GGUF files, and on SmolLM2."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.llama.conftest import tiny_llama, write_llama_gguf
from zero2hero.errors import InputError
from zero2hero.llama.gguf_model import llama_from_gguf
from zero2hero.llama.model import Llama, LlamaConfig, RMSNorm, apply_rotary, from_transformers, rotary_cos_sin
from zero2hero.transformer.generate import SamplingConfig, generate
from zero2hero.transformer.kv_cache import kv_cache_bytes

Q = gguf.GGMLQuantizationType


def _ids(n: int, batch: int = 2, vocab: int = 96, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("heads", "kv_heads", "tie"), [(4, 2, False), (4, 4, True), (4, 1, False), (2, 2, False)])
def test_logits_equal_transformers(heads: int, kv_heads: int, tie: bool) -> None:
    hf = tiny_llama(tie, heads, kv_heads)
    ours = from_transformers(hf)
    assert ours.config.num_key_value_heads == kv_heads and (ours.lm_head is None) == tie
    ids = _ids(40)
    with torch.inference_mode():
        ref, got = hf(ids).logits, ours(ids)[0]
    assert ref.abs().max() > 1  # far from zero, so a 1e-4 agreement means something
    assert (got - ref).abs().max().item() < 1e-4


def test_kv_cache_equals_the_full_forward() -> None:
    ours = from_transformers(tiny_llama())
    ids = _ids(20)
    with torch.inference_mode():
        full, _ = ours(ids)
        _, cache = ours(ids[:, :13])
        step, cache = ours(ids[:, 13:19], cache)
        last, cache = ours(ids[:, 19:], cache)
    assert len(cache) == 2 and cache[0][0].shape == (2, 2, 20, 16)  # only the 2 key/value heads are cached
    held = sum(t.numel() * t.element_size() for layer in cache for t in layer)
    assert held == kv_cache_bytes(ours.config, 20, batch_size=2) == 2 * 2 * 20 * 2 * 2 * 16 * 4  # chapter 3's formula
    assert (torch.cat([step, last], dim=1) - full[:, 13:]).abs().max() < 1e-4


def test_chapter_3_generation_loop_equals_transformers_greedy_generate() -> None:
    hf = tiny_llama(seed=3)
    prompt = _ids(7, batch=1, seed=4)
    expected = hf.generate(prompt, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0)
    ours = generate(from_transformers(hf), prompt[0].tolist(), SamplingConfig(max_new_tokens=20))
    assert ours == expected[0, 7:].tolist()


def test_rms_norm_equals_torch() -> None:
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0)) * 4
    ours = RMSNorm(16, 1e-6)
    reference = torch.nn.RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        reference.weight.copy_(ours.weight)
    assert torch.allclose(ours(x), reference(x), atol=1e-6)


def test_rotary_scores_depend_only_on_the_distance() -> None:
    q, k = torch.randn(2, 1, 1, 1, 32, generator=torch.Generator().manual_seed(0)).unbind(0)  # each (1, 1, 1, 32)

    def score(query_position: int, key_position: int) -> float:
        cos, sin = rotary_cos_sin(torch.tensor([query_position, key_position]), 32, 10000.0)
        return float((apply_rotary(q, cos[:1], sin[:1]) * apply_rotary(k, cos[1:], sin[1:])).sum())

    assert score(5, 3) == pytest.approx(score(105, 103), abs=1e-4)
    assert score(5, 3) != pytest.approx(score(5, 4), abs=1e-3)
    cos, sin = rotary_cos_sin(torch.tensor([7]), 32, 10000.0)
    assert torch.allclose(apply_rotary(q, cos, sin).norm(), q.norm())  # a rotation keeps lengths


@pytest.mark.parametrize(("change", "match"), [
    ({"num_key_value_heads": 2, "num_attention_heads": 3}, "cannot be grouped"),
    ({"head_dim": 15}, "odd"),
    ({"hidden_size": 0}, "hidden_size=0"),
    ({"rope_theta": -1.0}, "rope_theta=-1.0"),
])
def test_bad_configs_are_refused(change: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        LlamaConfig(**change)


def test_context_overflow_and_unsupported_variants_are_refused() -> None:
    ours = Llama(LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, head_dim=4, max_position_embeddings=4))
    with pytest.raises(InputError, match="5 positions exceed the context of 4"):
        ours(torch.zeros(1, 5, dtype=torch.long))
    hf = tiny_llama()
    hf.config.attention_bias = True
    with pytest.raises(InputError, match="attention_bias"):
        from_transformers(hf)


@pytest.mark.parametrize("qtype", [Q.F32, Q.F16, Q.Q8_0, Q.Q4_0, Q.Q4_1], ids=lambda q: q.name)
def test_a_llama_gguf_loads_like_transformers_loads_it(tmp_path: Path, qtype: Q) -> None:
    """The file holds the query/key rows in llama.cpp's order; both loaders must undo it to agree."""
    path = write_llama_gguf(tmp_path / "tiny.gguf", tiny_llama(tie=qtype == Q.Q4_0), qtype)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype="float32").eval()
    ours = llama_from_gguf(path)
    assert ours.config.tie_word_embeddings == (qtype == Q.Q4_0)
    ids = _ids(30)
    with torch.inference_mode():
        ref, got = hf(ids).logits, ours(ids)[0]
    assert ref.abs().max() > 1 and (got - ref).abs().max().item() < 1e-4


PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The three primary colours are"]


@pytest.fixture(scope="module")
def smollm2_ours() -> Llama:
    return llama_from_gguf()


@pytest.mark.heavy
def test_smollm2_from_our_reader_equals_transformers_from_the_same_gguf(smollm2, smollm2_ours: Llama) -> None:
    hf, tokenizer = smollm2
    assert smollm2_ours.config.num_key_value_heads == 3 and smollm2_ours.config.tie_word_embeddings
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.inference_mode():
            ref, got = hf(ids).logits, smollm2_ours(ids)[0]
        assert (got - ref).abs().max().item() < 1e-4, prompt


@pytest.mark.heavy
def test_smollm2_greedy_continuations_equal_transformers(smollm2, smollm2_ours: Llama) -> None:
    hf, tokenizer = smollm2
    for prompt in PROMPTS:
        ids = tokenizer(prompt)["input_ids"]
        expected = hf.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, eos_token_id=None,
                               pad_token_id=tokenizer.eos_token_id)[0, len(ids):].tolist()
        assert len(expected) == 32
        assert generate(smollm2_ours, ids, SamplingConfig(max_new_tokens=32)) == expected, prompt
