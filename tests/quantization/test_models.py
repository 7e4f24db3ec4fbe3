"""Quantized layers and whole models: the layer computes with exactly the dequantized weight, the
model's quality degrades in the expected order, and the measurement helpers agree with transformers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from zero2hero.embeddings import embed_sentences
from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.quantization import QuantLinear, quantize_model
from zero2hero.quantization.analysis import activation_outliers
from zero2hero.quantization.evaluate import embedding_drift, model_bytes, perplexity, perplexity_from_logits
from zero2hero.quantization.library import torch_dynamic_int8

TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
        "must be in want of a wife. However little known the feelings or views of such a man may be.")


@pytest.mark.parametrize("fmt", ["int8", "q8_0", "q4_0", "q4_1", "int4_g128", "nf4"])
def test_quant_linear_uses_dequantized_weight(fmt) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(256, 64)
    layer = QuantLinear(linear, fmt)
    x = torch.randn(3, 5, 256)
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.dequantized(), linear.bias))
    rel = (layer.dequantized() - linear.weight).norm() / linear.weight.norm()
    assert rel < (0.01 if fmt in ("int8", "q8_0") else 0.15)
    assert layer.storage_bytes() < linear.weight.numel() * 4 / 3
    cached = QuantLinear(linear, fmt, cache=True)
    torch.testing.assert_close(cached(x), layer(x))


def test_quantize_model_errors() -> None:
    with pytest.raises(InputError, match="no nn.Linear"):
        quantize_model(nn.Sequential(nn.ReLU()), "q8_0")
    with pytest.raises(InputError, match="unknown quantization format"):
        quantize_model(nn.Sequential(nn.Linear(32, 32)), "q3")
    with pytest.raises(InputError, match="does not divide"):
        quantize_model(nn.Sequential(nn.Linear(40, 8)), "q4_0")
    with pytest.raises(Zero2HeroError):
        torch_dynamic_int8(nn.Sequential(nn.ReLU()))
    with pytest.raises(Zero2HeroError, match="keeps every linear"):
        torch_dynamic_int8(nn.Sequential(nn.Linear(8, 8)), keep_fp32=("0",))
    with pytest.raises(InputError, match="no nn.Linear"):
        activation_outliers(nn.Sequential(nn.ReLU()), torch.zeros(1, 4))


def test_torch_int8_keeps_named_layers_in_fp32() -> None:
    model = nn.Sequential()
    model.add_module("up_proj", nn.Linear(16, 32))
    model.add_module("down_proj", nn.Linear(32, 16))
    mixed = torch_dynamic_int8(model, keep_fp32=("down_proj",))
    assert type(mixed.down_proj) is nn.Linear and type(mixed.up_proj) is not nn.Linear
    assert type(model.up_proj) is nn.Linear  # the original is untouched


def test_activation_outliers_finds_the_outlier_feature() -> None:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("a_proj", nn.Linear(64, 64))
    model.add_module("b_proj", nn.Linear(64, 64))
    with torch.no_grad():
        model.a_proj.weight[7] *= 0  # b_proj's input feature 7 becomes a constant outlier
        model.a_proj.bias[7] = 500.0
    ratios = activation_outliers(model, torch.randn(1, 10, 64))
    assert set(ratios) == {"a_proj", "b_proj"}
    assert ratios["a_proj"] < 10 < 100 < ratios["b_proj"]


def test_perplexity_matches_transformers_loss(smollm2) -> None:
    model, tokenizer = smollm2
    ids = tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model(ids, labels=ids)
    ours = perplexity_from_logits(out.logits[0], ids[0])
    assert ours == pytest.approx(float(torch.exp(out.loss)), rel=1e-5)
    assert perplexity(model, tokenizer, TEXT) == pytest.approx(ours, rel=1e-4)
    with pytest.raises(InputError):
        perplexity_from_logits(out.logits, ids)


@pytest.mark.heavy
def test_smollm2_quality_order(smollm2) -> None:
    model, tokenizer = smollm2
    fp32 = perplexity(model, tokenizer, TEXT)
    q8 = perplexity(quantize_model(copy.deepcopy(model), "q8_0"), tokenizer, TEXT)
    q4 = perplexity(quantize_model(copy.deepcopy(model), "q4_0"), tokenizer, TEXT)
    assert abs(q8 / fp32 - 1) < 0.02 < q4 / fp32 - 1
    # The weights came from a Q4_1 file: Q4_1 again is (almost) lossless.
    q41 = quantize_model(copy.deepcopy(model), "q4_1")
    layer = q41.model.layers[0].self_attn.q_proj
    torch.testing.assert_close(layer.dequantized(), model.model.layers[0].self_attn.q_proj.weight, atol=1e-3, rtol=0)


def test_model_bytes_counts_a_tied_embedding_once(smollm2) -> None:
    model, _ = smollm2
    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    assert 4 * n_params < model_bytes(model) < 4 * n_params * 1.01


def test_minilm_drift_small_for_8_bit(minilm) -> None:
    model, tokenizer = minilm
    sentences = ["A cat sat on the mat.", "Stock markets fell today.", "Quantization saves memory."]
    ref = embed_sentences(sentences, model, tokenizer)
    assert embedding_drift(ref, ref) == pytest.approx(1.0)
    q8, q4 = (embedding_drift(ref, embed_sentences(sentences, quantize_model(copy.deepcopy(model), fmt, skip=()),
                                                   tokenizer)) for fmt in ("q8_0", "q4_0"))
    assert 1.0 >= q8 > 0.999 and q8 > q4 > 0.9
    dyn = torch_dynamic_int8(model)
    assert model_bytes(dyn) < 0.8 * model_bytes(model)  # the fp32 word embeddings stay
    assert embedding_drift(ref, embed_sentences(sentences, dyn, tokenizer)) > 0.95
