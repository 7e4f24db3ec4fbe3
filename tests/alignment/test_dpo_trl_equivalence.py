"""Our DPO loss over our sequence log-probabilities equals TRL's DPOTrainer loss on the same batch of pairs.

The policy is the tiny Llama with noise added to its weights and the reference the tiny Llama itself, so the two
differ and the loss is not the trivial log 2 of a policy equal to its reference.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from tests.alignment.pairs import PAIRS
from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment.dpo import dpo_loss, encode_pairs, sequence_logprobs, trl_dpo_loss
from zero2hero.alignment.sft import collate

pytestmark = pytest.mark.usefixtures("one_thread_per_module")



@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from zero2hero.assets import load_causal_lm

    reference, tokenizer = load_causal_lm(str(write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))))
    policy = copy.deepcopy(reference)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return policy, reference, tokenizer


def our_loss(policy, reference, tokenizer, pairs, beta: float, max_length: int = 128) -> float:
    encoded = encode_pairs(tokenizer, pairs, max_length)
    batch = collate([chosen for chosen, _ in encoded] + [rejected for _, rejected in encoded], tokenizer.pad_token_id)
    with torch.no_grad():
        policy_chosen, policy_rejected = sequence_logprobs(policy, **batch).chunk(2)
        reference_chosen, reference_rejected = sequence_logprobs(reference, **batch).chunk(2)
    return dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta).item()


@pytest.mark.parametrize(("count", "beta"), [(1, 0.1), (5, 0.5)])
def test_our_dpo_loss_equals_trl_dpo_trainer_on_the_same_batch(models, count, beta):
    policy, reference, tokenizer = models
    ours = our_loss(policy, reference, tokenizer, PAIRS[:count], beta)
    theirs = trl_dpo_loss(policy, reference, tokenizer, PAIRS[:count], beta=beta, max_length=128)
    assert abs(ours - theirs) <= 1e-5, (ours, theirs)
    assert abs(ours - math.log(2)) > 0.005  # policy and reference differ: not the trivial log 2


def test_equal_when_max_length_cuts_the_responses_and_the_models_are_left_as_they_were(models):
    policy, reference, tokenizer = models
    prompt_lengths = [encode_pairs(tokenizer, [pair], 512)[0][0]["prompt_length"] for pair in PAIRS]
    max_length = max(prompt_lengths) + 3  # every response keeps at least three tokens, the long ones are cut
    ours = our_loss(policy, reference, tokenizer, PAIRS, 0.5, max_length)
    assert abs(ours - trl_dpo_loss(policy, reference, tokenizer, PAIRS, beta=0.5, max_length=max_length)) <= 1e-5
    assert abs(ours - our_loss(policy, reference, tokenizer, PAIRS, 0.5)) > 1e-3  # the cut changed the loss
    assert "forward" not in vars(policy) and "forward" not in vars(reference)  # TRL patched its own copies
    assert our_loss(policy, reference, tokenizer, PAIRS, 0.5, max_length) == ours
