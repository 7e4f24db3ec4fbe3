"""DPO: the loss, sequence log-probabilities, the vocabulary check, training, the KL estimate and the win rate."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment.dpo import (
    DPOConfig,
    check_same_vocabulary,
    dpo_loss,
    encode_pairs,
    kl_to_reference,
    reward_margins,
    sequence_logprobs,
    train_dpo,
    win_rate,
)
from zero2hero.alignment.preferences import PreferencePair
from zero2hero.alignment.sft import IGNORE_INDEX, collate
from zero2hero.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

PAIRS = [PreferencePair(f"What is {a} + {b}?", str(a + b), f"Sure! The answer is {a + b}. I hope this helps.",
                        "concise") for a, b in [(1, 2), (3, 4), (5, 6), (7, 1), (2, 9), (4, 4)]]


def test_dpo_loss_equals_its_definition():
    policy_chosen, policy_rejected = [-3.0, -10.0, -2.0], [-4.0, -8.0, -7.0]
    reference_chosen, reference_rejected = [-3.5, -9.0, -2.5], [-3.0, -9.5, -6.0]
    beta = 0.5
    expected = sum(-math.log(1 / (1 + math.exp(-beta * ((pc - rc) - (pr - rr)))))
                   for pc, pr, rc, rr in zip(policy_chosen, policy_rejected, reference_chosen, reference_rejected,
                                             strict=True)) / 3
    loss = dpo_loss(*(torch.tensor(v) for v in (policy_chosen, policy_rejected, reference_chosen,
                                                reference_rejected)), beta=beta)
    assert loss.shape == () and abs(loss.item() - expected) < 1e-6


def test_dpo_loss_is_log_2_when_the_policy_is_the_reference_and_stable_far_from_it():
    logps = torch.tensor([-5.0, -20.0])
    assert abs(dpo_loss(logps, logps - 3, logps, logps - 3).item() - math.log(2)) < 1e-7
    far = dpo_loss(torch.tensor([-1e4]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), beta=1.0)
    assert torch.isfinite(far) and abs(far.item() - 1e4) < 1


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    from zero2hero.assets import load_causal_lm

    return load_causal_lm(str(tiny_folder))


def test_sequence_logprobs_sums_the_response_tokens_only(tiny):
    model, tokenizer = tiny
    examples = [pair for chosen, rejected in encode_pairs(tokenizer, PAIRS[:2]) for pair in (chosen, rejected)]
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        together = sequence_logprobs(model, **batch)
        for row, example in enumerate(examples):  # one sequence at a time, no padding, token by token
            ids = torch.tensor([example["input_ids"]])
            log_probs = model(input_ids=ids).logits[0].log_softmax(-1)
            expected = sum(log_probs[t - 1, ids[0, t]].item() for t in range(example["prompt_length"], ids.shape[1]))
            assert abs(together[row].item() - expected) < 1e-4
    assert (batch["labels"] == IGNORE_INDEX).any()


class Vocabulary:
    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)


def test_check_same_vocabulary_names_the_sizes_or_the_first_differing_token():
    same = {"a": 0, "b": 1, "c": 2}
    check_same_vocabulary(Vocabulary(same), Vocabulary(dict(same)))
    with pytest.raises(InputError) as caught:
        check_same_vocabulary(Vocabulary(same), Vocabulary({**same, "d": 3}))
    assert "has 3 tokens but the reference's has 4" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(InputError, match=r"differ first at id 1: 'b' vs 'x'"):
        check_same_vocabulary(Vocabulary(same), Vocabulary({"a": 0, "x": 1, "c": 2}))


def test_train_dpo_refuses_a_reference_with_another_vocabulary(tiny):
    from transformers import LlamaConfig, LlamaForCausalLM

    model, tokenizer = tiny
    other = LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32))
    with pytest.raises(InputError, match=r"policy's vocabulary has 49,152 tokens but the reference's has 1,000"):
        train_dpo(copy.deepcopy(model), other, tokenizer, PAIRS, DPOConfig(steps=1))


@pytest.mark.parametrize(("settings", "message"), [({"method": "qlora"}, "unknown DPO method"),
                                                   ({"steps": 0}, "steps must be at least 1"),
                                                   ({"beta": 0.0}, "beta must be positive"),
                                                   ({"learning_rate": -1e-5}, "learning_rate must be positive")])
def test_dpo_config_refuses_bad_settings(settings, message):
    with pytest.raises(InputError, match=message):
        DPOConfig(**settings)


def test_dpo_config_learning_rate_defaults_by_method():
    assert DPOConfig().lr == 5e-5 and DPOConfig(method="full").lr == 5e-6 and DPOConfig(learning_rate=1e-3).lr == 1e-3


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_few_dpo_steps_raise_the_implicit_reward_margin(tiny, method):
    model, tokenizer = tiny
    reference = copy.deepcopy(model)
    assert torch.allclose(reward_margins(model, reference, tokenizer, PAIRS), torch.zeros(len(PAIRS)))
    learning_rate = 5e-3 if method == "lora" else 1e-3  # full fine-tuning moves every weight: smaller steps
    config = DPOConfig(steps=4, batch_size=3, beta=0.1, learning_rate=learning_rate, method=method, max_length=96)
    messages = []
    # reference=None: LoRA uses the policy with its adapters off, full fine-tuning a frozen copy
    policy, losses = train_dpo(copy.deepcopy(model), None, tokenizer, PAIRS, config,
                               progress=lambda *step: messages.append(step))
    assert type(policy) is type(model) and not policy.training  # LoRA merged back into a plain model
    assert len(losses) == 4 and abs(losses[0] - math.log(2)) < 1e-5 and losses[-1] < losses[0]
    assert (reward_margins(policy, reference, tokenizer, PAIRS) > 0).all()
    assert messages == [(step, 4, loss) for step, loss in enumerate(losses, start=1)]


def test_lora_training_keeps_a_passed_reference_frozen(tiny):
    model, tokenizer = tiny
    reference = copy.deepcopy(model)
    before = [parameter.clone() for parameter in reference.parameters()]
    train_dpo(copy.deepcopy(model), reference, tokenizer, PAIRS, DPOConfig(steps=2, batch_size=2, learning_rate=1e-2))
    assert all(torch.equal(a, b) for a, b in zip(before, reference.parameters(), strict=True))
    assert not any(parameter.requires_grad for parameter in reference.parameters())


def test_a_policy_that_is_already_a_peft_model_is_merged_first(tiny):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny
    wrapped = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    policy, losses = train_dpo(wrapped, copy.deepcopy(model), tokenizer, PAIRS[:2], DPOConfig(steps=1, batch_size=2))
    assert type(policy) is type(model) and abs(losses[0] - math.log(2)) > 1e-4  # the SFT adapters were kept


def test_kl_to_reference_is_zero_for_the_reference_itself_and_positive_after_a_change(tiny):
    model, tokenizer = tiny
    prompts = [pair.prompt for pair in PAIRS[:3]]
    state = torch.random.get_rng_state()
    assert kl_to_reference(model, copy.deepcopy(model), tokenizer, prompts, max_new_tokens=6) == 0.0
    assert torch.equal(state, torch.random.get_rng_state())  # the global random state is left as it was
    changed = copy.deepcopy(model)
    torch.manual_seed(4)
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    kl = kl_to_reference(changed, model, tokenizer, prompts, max_new_tokens=6)
    assert kl > 0
    assert kl == kl_to_reference(changed, model, tokenizer, prompts, max_new_tokens=6)  # seeded: the same again


def test_win_rate_counts_ties_as_half():
    judge = {"good": 1.0, "bad": 0.0, "ok": 0.5}
    assert win_rate(["bad", "bad", "good", "ok"], ["good", "bad", "bad", "ok"],
                    lambda i, response: judge[response]) == (1 + 0.5 + 0 + 0.5) / 4
    seen = []
    win_rate(["a", "b"], ["c", "d"], lambda i, response: seen.append((i, response)) or 0.0)
    assert sorted(seen) == [(0, "a"), (0, "c"), (1, "b"), (1, "d")]
    with pytest.raises(InputError, match="2 responses before but 1 after"):
        win_rate(["a", "b"], ["c"], lambda i, response: 0.0)


@pytest.mark.heavy
def test_a_few_dpo_steps_with_lora_on_smollm2_raise_the_margin():
    from zero2hero.assets import load_causal_lm

    policy, tokenizer = load_causal_lm("smollm2")
    reference, _ = load_causal_lm("smollm2")
    torch.manual_seed(0)
    config = DPOConfig(steps=4, batch_size=2, beta=0.1, learning_rate=5e-4, max_length=96)
    policy, losses = train_dpo(policy, reference, tokenizer, PAIRS[:4], config)
    margins = reward_margins(policy, reference, tokenizer, PAIRS[:4])
    assert abs(losses[0] - math.log(2)) < 1e-4 and margins.mean() > 0.05, (losses, margins)
