"""The LM head at the response positions only: the same loss, log-probabilities and gradients as the full logits."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment.response_logits import response_loss, response_token_logprobs
from zero2hero.alignment.sft import IGNORE_INDEX, collate, encode_example, sft_loss
from zero2hero.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

EXAMPLES = [("What is 3 + 4?", "7"), ("Write the word 'cat' in capital letters.", "CAT"),
            ("Turn this into a comma-separated list: sun moon star", "sun, moon, star")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = collate([encode_example(tokenizer, prompt, answer) for prompt, answer in EXAMPLES],
                    tokenizer.pad_token_id)
    return AutoModelForCausalLM.from_pretrained(folder), batch


def with_random_lora(model):
    """PEFT LoRA on q and v with random (not zero) B matrices, so the adapters change the outputs."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    return get_peft_model(copy.deepcopy(model), config)


def full_logits_sums(model, batch) -> torch.Tensor:
    """Each row's summed log-probability of its labelled tokens, from the full (batch, t, vocab) logits."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    targets = batch["labels"][:, 1:]
    log_probs = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (log_probs * (targets != IGNORE_INDEX)).sum(-1)


def rows_summed(token_logps: torch.Tensor, rows: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.zeros(batch_size).index_add(0, rows, token_logps)


def full_sft_loss(model, batch) -> torch.Tensor:
    return sft_loss(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                    batch["labels"])


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "peft"])
def test_the_loss_and_log_probabilities_equal_those_of_the_full_logits(tiny, wrapped):
    base, batch = tiny
    model = with_random_lora(base) if wrapped else base
    with torch.no_grad():
        assert abs(response_loss(model, **batch).item() - full_sft_loss(model, batch).item()) < 1e-5
        token_logps, rows = response_token_logprobs(model, **batch)
        expected = full_logits_sums(model, batch)
    assert token_logps.shape == rows.shape == ((batch["labels"][:, 1:] != IGNORE_INDEX).sum(),)
    assert rows.tolist() == sorted(rows.tolist()) and set(rows.tolist()) == {0, 1, 2}
    assert torch.allclose(rows_summed(token_logps, rows, 3), expected, atol=1e-5)


def test_lora_adapters_apply_and_disable_adapter_gives_the_base_model_back(tiny):
    base, batch = tiny
    model = with_random_lora(base)
    with torch.no_grad():
        adapted = rows_summed(*response_token_logprobs(model, **batch), 3)
        with model.disable_adapter():
            disabled = rows_summed(*response_token_logprobs(model, **batch), 3)
        plain = rows_summed(*response_token_logprobs(base, **batch), 3)
    assert (adapted - plain).abs().max() > 1e-2  # the random adapters change the log-probabilities
    assert torch.allclose(disabled, plain, atol=1e-5)
    assert torch.allclose(disabled, full_logits_sums(base, batch).detach(), atol=1e-5)


def test_gradients_of_the_lora_weights_equal_those_through_the_full_logits(tiny):
    base, batch = tiny
    model = with_random_lora(base)
    weights = [p for name, p in model.named_parameters() if "lora_" in name]

    def gradients(loss: torch.Tensor) -> list[torch.Tensor]:
        return [g.clone() for g in torch.autograd.grad(loss, weights)]

    ours, full = gradients(response_loss(model, **batch)), gradients(full_sft_loss(model, batch))
    assert any(g.abs().max() > 1e-4 for g in full)
    for mine, theirs in zip(ours, full, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6, rtol=1e-4)
    # and through the per-token log-probabilities, as DPO uses them (a weighted sum of sequence log-probabilities)
    weighting = torch.tensor([1.0, -2.0, 0.5])
    ours = gradients((rows_summed(*response_token_logprobs(model, **batch), 3) * weighting).sum())
    full = gradients((full_logits_sums(model, batch) * weighting).sum())
    for mine, theirs in zip(ours, full, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6, rtol=1e-4)


def test_a_batch_without_response_tokens_and_a_model_that_caps_its_logits_are_refused(tiny):
    base, batch = tiny
    no_response = {**batch, "labels": torch.full_like(batch["labels"], IGNORE_INDEX)}
    with pytest.raises(InputError, match="no response token"):
        response_loss(base, **no_response)
    capped = copy.deepcopy(base)
    capped.config.final_logit_softcapping = 30.0
    with pytest.raises(InputError, match="final_logit_softcapping"):
        response_token_logprobs(capped, **batch)
