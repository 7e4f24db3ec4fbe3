"""The LoRA layer and its injection: a zero start, merging, scaling, what it refuses, what it targets and trains."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.lora.tiny_models import ids, logits, tiny_bert, tiny_llama, trainable
from zero2hero.errors import InputError
from zero2hero.lora.inject import add_lora, find_targets, merge, trainable_parameters, unmerge, unwrap
from zero2hero.lora.layer import LoRALinear, LoRASettings


def lora_over_linear(settings: LoRASettings, seed: int = 0) -> tuple[nn.Linear, LoRALinear]:
    """A random 12 → 10 linear layer and a LoRA layer over it whose B is random too (as after training)."""
    torch.manual_seed(seed)
    base = nn.Linear(12, 10)
    layer = LoRALinear(base, settings)
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    return base, layer


def test_b_starts_at_zero_so_the_layer_and_the_model_compute_what_the_base_does() -> None:
    torch.manual_seed(0)
    base = nn.Linear(12, 10)
    layer = LoRALinear(base, LoRASettings(4, 8))
    assert torch.count_nonzero(layer.lora_B["default"].weight) == 0
    assert torch.count_nonzero(layer.lora_A["default"].weight) == 4 * 12
    x = torch.randn(3, 5, 12)
    assert torch.equal(layer(x), base(x))
    model = tiny_bert()
    before = logits(model, ids())
    add_lora(model, "all-linear", LoRASettings(4, 8))
    assert torch.equal(logits(model, ids()), before)


def test_the_update_is_alpha_over_r_times_x_a_b_or_alpha_over_root_r_when_rank_stabilised() -> None:
    x = torch.randn(4, 12)
    for stabilised, scaling in ((False, 8 / 4), (True, 8 / math.sqrt(4))):
        base, layer = lora_over_linear(LoRASettings(4, 8, rank_stabilised=stabilised))
        a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
        assert layer.settings["default"].scaling == pytest.approx(scaling)
        with torch.no_grad():
            torch.testing.assert_close(layer(x), base(x) + scaling * x @ a.T @ b.T, atol=1e-5, rtol=0)


def test_merge_gives_a_plain_linear_layer_with_w_plus_delta_and_unmerge_restores_w() -> None:
    base, layer = lora_over_linear(LoRASettings(4, 8))
    original = base.weight.detach().clone()
    x = torch.randn(6, 12)
    with torch.no_grad():
        unmerged = layer(x)
        plain = nn.Linear(12, 10)
        plain.weight.copy_(original + 2.0 * layer.lora_B["default"].weight @ layer.lora_A["default"].weight)
        plain.bias.copy_(base.bias)
        layer.merge()
        torch.testing.assert_close(layer(x), unmerged, atol=1e-5, rtol=0)
        torch.testing.assert_close(layer(x), plain(x), atol=1e-6, rtol=0)
        assert not torch.allclose(base.weight, original)  # the update really sits in the weight now
        layer.unmerge()
    torch.testing.assert_close(base.weight, original, atol=1e-6, rtol=0)


def test_merging_and_unwrapping_a_model_keep_its_outputs() -> None:
    model = tiny_llama()
    add_lora(model, "q_proj,v_proj", LoRASettings(4, 8))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.2)
    adapted = logits(model, ids())
    merge(model)
    torch.testing.assert_close(logits(model, ids()), adapted, atol=1e-5, rtol=0)
    unmerge(model)
    plain = unwrap(model)
    assert not any(isinstance(module, LoRALinear) for module in plain.modules())
    torch.testing.assert_close(logits(plain, ids()), adapted, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rank", [0, -2])
def test_a_rank_below_one_is_refused(rank: int) -> None:
    with pytest.raises(InputError, match="rank must be a whole number ≥ 1") as caught:
        LoRASettings(rank)
    assert caught.value.hint


def test_a_rank_larger_than_the_layer_is_refused() -> None:
    with pytest.raises(InputError, match=r"rank 5 is larger than the layer \(4 × 8\)") as caught:
        LoRALinear(nn.Linear(8, 4), LoRASettings(5))
    assert "rank ≤ 4" in caught.value.hint


def test_targets_that_match_nothing_list_the_linear_layers() -> None:
    with pytest.raises(InputError, match="q_proj match no linear layer of BertForSequenceClassification") as caught:
        add_lora(tiny_bert(), "q_proj", LoRASettings(4))
    for name in ("query", "key", "value", "dense", "classifier"):
        assert name in caught.value.hint


def test_all_linear_leaves_out_the_classifier_and_the_lm_head() -> None:
    bert_names = find_targets(tiny_bert(), ["all-linear"])
    assert len(bert_names) == 2 * 6 + 1  # q, k, v, attention output, intermediate, output per layer; the pooler
    assert "classifier" not in bert_names
    llama_names = find_targets(tiny_llama(), ["all-linear"])
    assert len(llama_names) == 2 * 7 and "lm_head" not in llama_names


def test_the_trainable_count_equals_peft_s() -> None:
    from peft import LoraConfig, get_peft_model

    ours = tiny_bert()
    add_lora(ours, "query,value", LoRASettings(4, 8), train_in_full=["classifier"])
    theirs = get_peft_model(tiny_bert(), LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                                                    task_type="SEQ_CLS"))
    peft_trainable, peft_all = theirs.get_nb_trainable_parameters()
    trained, total = trainable_parameters(ours)
    head = sum(p.numel() for p in ours.classifier.parameters())
    assert trained == peft_trainable == 2 * 2 * (4 * 32 + 32 * 4) + head
    # PEFT's "all params" counts the head twice: it keeps the pretrained head beside the copy that trains
    # (modules_to_save); ours trains the head in place, so its total is smaller by one head.
    assert peft_all == total + head


def test_gradients_reach_only_a_b_and_the_modules_trained_in_full() -> None:
    model = tiny_bert()
    add_lora(model, "query,value", LoRASettings(4, 8), train_in_full=["classifier"])
    model(input_ids=ids()).logits.pow(2).sum().backward()
    with_grad = {name for name, param in model.named_parameters() if param.grad is not None}
    assert with_grad == set(trainable(model))
    assert with_grad == {name for name in with_grad if ".lora_A." in name or ".lora_B." in name} | {
        "classifier.weight", "classifier.bias"}
    assert all(torch.count_nonzero(model.get_parameter(name).grad) for name in with_grad if ".lora_B." in name)
