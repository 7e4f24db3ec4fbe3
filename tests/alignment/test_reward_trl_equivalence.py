"""Our Bradley–Terry loss equals TRL's RewardTrainer loss on the same batch, on a BERT and on a causal-LM reward model.

MiniLM's BERT tokenizer has no chat template and no eos token, so TRL is given our sentence-pair ids as a tokenised
dataset; a causal LM with a chat template (the tiny Llama) gets a conversational dataset that TRL tokenises itself.
TRL's centering term is off (``center_rewards_coefficient=None``), so both losses are the plain Bradley–Terry loss.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.alignment.pairs import PAIRS
from tests.pipeline.tiny_models import write_tiny_classifier_base, write_tiny_generator_base
from zero2hero.alignment.preferences import PreferencePair
from zero2hero.alignment.reward import load_reward_model, pair_loss, trl_reward_loss

pytestmark = pytest.mark.usefixtures("one_thread_per_module")



def scrambled(model):
    """The model with noise on every weight and a head of large random weights, so that the rewards of two
    responses differ clearly and the loss is far from log 2."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("classifier", "score")):
                parameter.normal_(0.0, 2.0)
            else:
                parameter.add_(0.3 * torch.randn_like(parameter))
    return model


@pytest.fixture(scope="module", params=["bert", "llama"])
def reward_model(request, tmp_path_factory):
    write = write_tiny_classifier_base if request.param == "bert" else write_tiny_generator_base
    torch.manual_seed(0)
    model, tokenizer = load_reward_model(str(write(tmp_path_factory.mktemp(request.param))))
    return scrambled(model), tokenizer


def our_loss(model, tokenizer, pairs, max_length: int = 128) -> float:
    with torch.no_grad():
        return pair_loss(model.eval(), tokenizer, pairs, max_length).item()


def test_our_loss_equals_trl_reward_trainer_on_the_same_batch(reward_model):
    model, tokenizer = reward_model
    ours = our_loss(model, tokenizer, PAIRS)
    theirs = trl_reward_loss(model, tokenizer, PAIRS, max_length=128)
    assert abs(ours - theirs) <= 1e-5, (ours, theirs)
    assert abs(ours - math.log(2)) > 0.05  # the rewards differ: the check is not log 2 == log 2


def test_swapping_chosen_and_rejected_changes_both_losses_alike(reward_model):
    model, tokenizer = reward_model
    swapped = [PreferencePair(p.prompt, p.rejected, p.chosen, p.rule) for p in PAIRS]
    ours, theirs = our_loss(model, tokenizer, swapped), trl_reward_loss(model, tokenizer, swapped)
    assert abs(ours - theirs) <= 1e-5
    assert abs(ours - our_loss(model, tokenizer, PAIRS)) > 1e-3
