from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel

from zero2hero.errors import InputError
from zero2hero.transformer.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from zero2hero.transformer.gpt2 import GPT2, GPT2Config
from zero2hero.transformer.load import from_pretrained, load_into


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = HFConfig(vocab_size=300, n_positions=64, n_embd=64, n_layer=2, n_head=4)
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def test_sdpa_matches_torch() -> None:
    q, k, v = (torch.randn(2, 3, 5, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    ours, weights = scaled_dot_product_attention(q, k, v, causal_mask(5, 5))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5))
    assert torch.all(weights[..., 0, 1:] == 0)  # the first position sees only itself


def test_causal_mask_suffix_queries() -> None:
    assert causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(1, 4).tolist() == [[True, True, True, True]]
    with pytest.raises(InputError):
        causal_mask(4, 3)


def test_logits_equal_transformers(tiny_dir: Path) -> None:
    hf = GPT2LMHeadModel.from_pretrained(tiny_dir).eval()
    ours = from_pretrained(str(tiny_dir))
    ids = torch.randint(0, 300, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = hf(ids).logits
        got, _ = ours(ids)
    assert (got - ref).abs().max().item() < 1e-4


def test_kv_cache_equals_full_forward(tiny_dir: Path) -> None:
    ours = from_pretrained(str(tiny_dir))
    ids = torch.randint(0, 300, (1, 20), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        full, _ = ours(ids)
        _, cache = ours(ids[:, :15])
        step, cache = ours(ids[:, 15:], cache)
    assert cache[0][0].shape == (1, 4, 20, 16)
    assert torch.allclose(step, full[:, 15:], atol=1e-5)


def test_shape_mismatch_is_clear(tiny_dir: Path) -> None:
    hf = GPT2LMHeadModel.from_pretrained(tiny_dir)
    wrong = GPT2(GPT2Config(vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=4))
    with pytest.raises(InputError, match="shape mismatch"):
        load_into(wrong, hf.state_dict())


def test_bad_inputs() -> None:
    with pytest.raises(InputError):
        MultiHeadAttention(10, 3)
    model = GPT2(GPT2Config(vocab_size=50, n_positions=8, n_embd=16, n_layer=1, n_head=2))
    with pytest.raises(InputError, match="context"):
        model(torch.zeros(1, 9, dtype=torch.long))
