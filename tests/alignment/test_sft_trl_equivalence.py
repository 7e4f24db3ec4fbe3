"""Our response-only SFT loss equals TRL's SFTTrainer loss on the same batch of instructions."""

from __future__ import annotations

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment.instructions import Instruction
from zero2hero.alignment.sft import collate, encode_example, sft_loss
from zero2hero.alignment.sft_train import trl_sft_loss
from zero2hero.errors import InputError

ITEMS = [
    Instruction("arithmetic", "arithmetic/0", "What is 3 + 4?", "7"),
    Instruction("words", "words/2", "Spell the word 'garden' backwards.", "nedrag"),
    Instruction("format", "format/3", "Convert to JSON: city: lemon", '{"city": "lemon"}'),
    Instruction("sentiment", "sentiment/0", "Is this review positive (5 stars) or negative (fewer stars)?\n\n"
                "The tea arrived stale and the box was crushed. I would not order it again.", "negative"),
    Instruction("format", "format/0", "Turn this into a comma-separated list: tiger violin winter",
                "tiger, violin, winter"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():  # a model that already prefers some tokens, so the loss is not the same for every batch
        model.model.embed_tokens.weight.mul_(8.0)
    return model, AutoTokenizer.from_pretrained(folder)


def our_loss(model, tokenizer, items, max_length: int) -> float:
    batch = collate([encode_example(tokenizer, item.prompt, item.answer, max_length) for item in items],
                    tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return sft_loss(logits, batch["labels"]).item()


@pytest.mark.parametrize("count", [1, 3, 5])
def test_our_sft_loss_equals_trl_sft_trainer_on_the_same_batch(tiny, count):
    model, tokenizer = tiny
    ours = our_loss(model, tokenizer, ITEMS[:count], 128)
    theirs = trl_sft_loss(model, tokenizer, ITEMS[:count], max_length=128)
    assert abs(ours - theirs) <= 1e-5, (ours, theirs)


def test_equal_when_max_length_cuts_the_responses(tiny):
    model, tokenizer = tiny
    prompt_lengths = [encode_example(tokenizer, item.prompt, item.answer, 512)["prompt_length"] for item in ITEMS]
    max_length = max(prompt_lengths) + 2  # the longest prompt keeps two response tokens, the others more
    ours = our_loss(model, tokenizer, ITEMS, max_length)
    assert abs(ours - trl_sft_loss(model, tokenizer, ITEMS, max_length=max_length)) <= 1e-5
    assert abs(ours - our_loss(model, tokenizer, ITEMS, 512)) > 1e-3  # the cut changed which tokens count


def test_the_losses_differ_when_the_prompt_is_not_masked(tiny):
    # the comparison can fail: the full-sequence loss (prompt tokens included) is another number
    model, tokenizer = tiny
    batch = collate([encode_example(tokenizer, item.prompt, item.answer, 128) for item in ITEMS],
                    tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    everything = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    assert abs(sft_loss(logits, everything).item() - trl_sft_loss(model, tokenizer, ITEMS)) > 1e-3


def test_trl_leaves_the_model_it_was_given_unchanged(tiny):
    model, tokenizer = tiny
    forward = model.forward
    before = our_loss(model, tokenizer, ITEMS, 128)
    trl_sft_loss(model, tokenizer, ITEMS[:2])
    assert model.forward == forward  # the trainer patched its own copy
    assert our_loss(model, tokenizer, ITEMS, 128) == before
    with pytest.raises(InputError):
        trl_sft_loss(model, tokenizer, [])
