"""Our LoRA equals PEFT's on the real models: with the same seed and settings, ``add_lora`` and
``peft.get_peft_model`` draw the same initial A (and B = 0), and once B is set to the same random values both
give the same outputs and the same gradient for every LoRA weight (and for the head trained in full)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.lora.tiny_models import common_name, perturb, tiny_bert, trainable
from zero2hero.lora.inject import add_lora
from zero2hero.lora.layer import LoRASettings

SETTINGS = LoRASettings(rank=4, alpha=8, dropout=0.0)


def peft_and_ours(base: nn.Module, targets: list[str] | str, task_type: str, train_in_full: list[str],
                  seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Two copies of ``base``: one through ``peft.get_peft_model``, one through ``add_lora``, from the same seed."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    theirs = get_peft_model(copy.deepcopy(base), LoraConfig(
        r=SETTINGS.rank, lora_alpha=SETTINGS.alpha, lora_dropout=SETTINGS.dropout, target_modules=targets,
        task_type=task_type))
    ours = copy.deepcopy(base)
    torch.manual_seed(seed)
    add_lora(ours, targets, SETTINGS, train_in_full=train_in_full)
    return theirs, ours


def assert_equivalent(theirs: nn.Module, ours: nn.Module, input_ids: torch.Tensor, n_layers: int) -> None:
    """Same trainable weights at the start (A random, B zero), then — B and the head set to the same random values
    — the same outputs and gradients within 1e-6."""
    their_weights, our_weights = trainable(theirs), trainable(ours)
    assert their_weights.keys() == our_weights.keys()
    assert sum(".lora_A." in name for name in our_weights) == n_layers
    for name, weight in our_weights.items():
        assert torch.equal(weight, their_weights[name]), name
        if ".lora_B." in name:
            assert torch.count_nonzero(weight) == 0
    perturb(theirs, seed=1)
    perturb(ours, seed=1)
    outputs = []
    for model in (theirs, ours):
        model.eval()
        logits = model(input_ids=input_ids).logits
        logits.pow(2).mean().backward()
        outputs.append(logits.detach())
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-6, rtol=0)
    for name, weight in our_weights.items():
        assert weight.grad is not None and torch.count_nonzero(weight.grad), name
        torch.testing.assert_close(weight.grad, their_weights[name].grad, atol=1e-6, rtol=0, msg=name)


def test_the_parameter_names_match_once_peft_s_prefix_is_removed() -> None:
    theirs, ours = peft_and_ours(tiny_bert(), ["query", "value"], "SEQ_CLS", ["classifier"])
    assert "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight" in dict(
        theirs.named_parameters())
    assert common_name("base_model.model.classifier.modules_to_save.default.bias") == "classifier.bias"
    assert set(trainable(ours)) == set(trainable(theirs))


@pytest.fixture(scope="module")
def minilm_classifier() -> nn.Module:
    """The real all-MiniLM-L6-v2 with a new 2-label head drawn under seed 0."""
    from transformers import AutoModelForSequenceClassification

    from zero2hero.assets import resolve_model_path

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(resolve_model_path("minilm"), num_labels=2,
                                                              dtype="float32").eval()


@pytest.fixture(scope="module")
def minilm_ids() -> torch.Tensor:
    from zero2hero.assets import load_tokenizer

    return load_tokenizer("minilm")(["The coffee was fresh and lovely.", "Stale, bitter and the box arrived broken."],
                     padding=True, return_tensors="pt")["input_ids"]


@pytest.mark.heavy
@pytest.mark.parametrize(("targets", "n_layers"), [(["query", "value"], 6 * 2), ("all-linear", 6 * 6 + 1)])
def test_minilm_classifier_equals_peft(minilm_classifier: nn.Module, minilm_ids: torch.Tensor,
                                       targets: list[str] | str, n_layers: int) -> None:
    theirs, ours = peft_and_ours(minilm_classifier, targets, "SEQ_CLS", ["classifier"])
    assert_equivalent(theirs, ours, minilm_ids, n_layers)


@pytest.mark.heavy
def test_smollm2_causal_lm_equals_peft(smollm2) -> None:
    model, tokenizer = smollm2
    input_ids = tokenizer(["The capital of France is", "LoRA trains two thin matrices"], padding=True,
                          return_tensors="pt")["input_ids"]
    theirs, ours = peft_and_ours(model, ["q_proj", "v_proj"], "CAUSAL_LM", [])
    assert_equivalent(theirs, ours, input_ids, 30 * 2)
