"""The reward model: the Bradley–Terry loss, how a pair is tokenised, scoring, training, accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_classifier_base
from zero2hero.alignment.preferences import PreferencePair
from zero2hero.alignment.reward import (
    RewardConfig,
    bradley_terry_loss,
    encode_for_reward,
    load_reward_model,
    pair_accuracy,
    reward_scores,
    train_reward_model,
)
from zero2hero.assets import load_tokenizer
from zero2hero.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def naive(chosen: list[float], rejected: list[float]) -> float:
    """The loss written out from its definition, one pair at a time."""
    return sum(-math.log(1 / (1 + math.exp(-(c - r)))) for c, r in zip(chosen, rejected, strict=True)) / len(chosen)


def test_bradley_terry_loss_equals_its_definition():
    chosen, rejected = [2.0, 0.0, -1.5, 0.3], [0.0, 0.0, 1.0, 0.4]
    loss = bradley_terry_loss(torch.tensor(chosen), torch.tensor(rejected))
    assert loss.shape == () and abs(loss.item() - naive(chosen, rejected)) < 1e-6
    assert abs(bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item() - math.log(2)) < 1e-7


def test_bradley_terry_loss_is_stable_for_large_margins():
    loss = bradley_terry_loss(torch.tensor([-200.0, 200.0]), torch.tensor([200.0, -200.0]))
    assert torch.isfinite(loss) and abs(loss.item() - 200.0) < 1e-3  # (400 + 0) / 2


def test_bradley_terry_gradient_pushes_chosen_up_and_rejected_down():
    chosen, rejected = torch.tensor([0.5], requires_grad=True), torch.tensor([0.2], requires_grad=True)
    bradley_terry_loss(chosen, rejected).backward()
    assert chosen.grad.item() < 0 < rejected.grad.item()


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory) -> str:
    return str(write_tiny_classifier_base(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="module")
def tiny_bert(tiny_bert_folder):
    torch.manual_seed(0)
    return load_reward_model(tiny_bert_folder)


def test_load_reward_model_gives_one_output_per_sequence(tiny_bert):
    model, tokenizer = tiny_bert
    assert model.config.num_labels == 1 and not model.training
    scores = reward_scores(model, tokenizer, ["What is 2 + 2?", "Say hi."], ["4", "hi"])
    assert scores.shape == (2,) and scores.dtype == torch.float32


def test_a_bert_tokenizer_reads_prompt_and_response_as_a_sentence_pair(tiny_bert):
    _, tokenizer = tiny_bert
    ids = encode_for_reward(tokenizer, "what is two plus two", "four")
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "what", "is", "two", "plus", "two", "[SEP]", "four",
                                                    "[SEP]"]


def test_a_chat_tokenizer_reads_the_conversation_through_its_template():
    tokenizer = load_tokenizer("smollm2")
    text = tokenizer.decode(encode_for_reward(tokenizer, "What is 2 + 2?", "4"))
    assert text.endswith("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n")


def test_scores_do_not_depend_on_batching_or_padding(tiny_bert):
    model, tokenizer = tiny_bert
    prompts = ["What is 2 + 2?", "Spell the word 'tiger' backwards.", "Is this review positive? I loved it."]
    responses = ["4", "Sure! Here is the answer: regit. I hope this helps.", "positive"]
    together = reward_scores(model, tokenizer, prompts, responses, batch_size=16)
    alone = reward_scores(model, tokenizer, prompts, responses, batch_size=1)
    assert torch.allclose(together, alone, atol=1e-5)
    assert len(set(together.tolist())) == 3


def test_reward_scores_needs_one_response_per_prompt(tiny_bert):
    model, tokenizer = tiny_bert
    with pytest.raises(InputError, match="2 prompts but 1 responses"):
        reward_scores(model, tokenizer, ["a", "b"], ["x"])


# Pairs preferring the padded answer: the randomly initialised head of seed 1 happens to prefer the short ones,
# so training has to turn it around.
PAIRS = [PreferencePair(f"What is {a} + {b}?", f"Sure! The answer is {a + b}. I hope this helps.", str(a + b),
                        "human") for a, b in [(1, 2), (3, 4), (5, 6), (7, 1), (2, 9), (4, 4), (6, 3), (8, 8)]]


def test_training_teaches_the_model_to_prefer_the_chosen_responses(tiny_bert_folder):
    torch.manual_seed(1)
    model, tokenizer = load_reward_model(tiny_bert_folder)
    config = RewardConfig(steps=30, batch_size=4, learning_rate=3e-3, max_length=48, seed=0)
    before = pair_accuracy(model, tokenizer, PAIRS)
    messages = []
    model, losses = train_reward_model(model, tokenizer, PAIRS, config, progress=lambda *step: messages.append(step))
    assert len(losses) == 30 and sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    assert before == 0.0 and pair_accuracy(model, tokenizer, PAIRS) == 1.0
    assert [step[:2] for step in messages] == [(i, 30) for i in range(1, 31)] and [s[2] for s in messages] == losses
    assert not model.training


@pytest.mark.parametrize(("settings", "message"), [({"steps": 0}, "steps must be at least 1"),
                                                   ({"batch_size": -1}, "batch_size must be at least 1"),
                                                   ({"learning_rate": 0.0}, "learning_rate must be positive")])
def test_reward_config_refuses_bad_settings(settings, message):
    with pytest.raises(InputError, match=message):
        RewardConfig(**settings)


def test_no_pairs_is_an_error(tiny_bert):
    model, tokenizer = tiny_bert
    with pytest.raises(InputError, match="no preference pairs"):
        train_reward_model(model, tokenizer, [], RewardConfig(steps=1))
    with pytest.raises(InputError, match="no preference pairs"):
        pair_accuracy(model, tokenizer, [])
