"""Greedy, batched, left-padded generation through the chat template, and the accuracy it feeds."""

from __future__ import annotations

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment import evaluate
from zero2hero.alignment.evaluate import generate_responses, instruction_accuracy
from zero2hero.alignment.instructions import Instruction
from zero2hero.errors import InputError

PROMPTS = ["What is 3 + 4?", "Spell the word 'garden' backwards.", "Hi", "Convert to JSON: city: lemon. Thanks!"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():  # a fresh initialisation only repeats the newline; larger MLP outputs make it write words
        for layer in model.model.layers:
            layer.mlp.down_proj.weight.mul_(20.0)
    return model, AutoTokenizer.from_pretrained(folder)


def test_generation_is_deterministic_and_one_response_per_prompt(tiny):
    model, tokenizer = tiny
    first = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=4)
    assert len(first) == len(PROMPTS) and all(isinstance(text, str) for text in first)
    assert first == generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=4)
    assert all(text == text.strip() for text in first)


def test_left_padded_batches_give_the_same_replies_as_one_prompt_at_a_time(tiny):
    model, tokenizer = tiny
    batched = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=4)
    alone = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=1)
    assert batched == alone
    assert any(batched)  # the tiny model writes something (not only special tokens)


def test_replies_are_the_greedy_continuation_of_the_chat_templated_prompt(tiny):
    model, tokenizer = tiny
    ids = tokenizer.apply_chat_template([{"role": "user", "content": PROMPTS[0]}], add_generation_prompt=True,
                                        tokenize=True, return_dict=True)["input_ids"]
    tokens = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(5):  # five greedy steps by hand
            next_id = model(input_ids=tokens).logits[0, -1].argmax()
            tokens = torch.cat([tokens, next_id.view(1, 1)], dim=1)
    assert tokenizer.eos_token_id not in tokens[0, len(ids):].tolist()  # no early stop: all five tokens count
    by_hand = tokenizer.decode(tokens[0, len(ids):], skip_special_tokens=True).strip()
    assert generate_responses(model, tokenizer, PROMPTS[:1], max_new_tokens=5)[0] == by_hand


def test_generation_refuses_bad_sizes(tiny):
    model, tokenizer = tiny
    with pytest.raises(InputError):
        generate_responses(model, tokenizer, PROMPTS, max_new_tokens=0)


ITEMS = [
    Instruction("arithmetic", "arithmetic/0", "What is 3 + 4?", "7"),
    Instruction("arithmetic", "arithmetic/1", "What is 1 + 1?", "2"),
    Instruction("words", "words/0", "Write the word 'cat' in capital letters.", "CAT"),
    Instruction("sentiment", "sentiment/0", "Is this review positive ...", "negative"),
]


def test_accuracy_is_the_share_of_correct_responses_overall_and_per_task(monkeypatch):
    answers = {"What is 3 + 4?": "7", "What is 1 + 1?": "3", "Write the word 'cat' in capital letters.": "cat",
               "Is this review positive ...": "Negative."}
    calls = []

    def fake(model, tokenizer, prompts, max_new_tokens):
        calls.append(max_new_tokens)
        return [answers[prompt] for prompt in prompts]

    monkeypatch.setattr(evaluate, "generate_responses", fake)
    accuracy = instruction_accuracy(None, None, ITEMS, max_new_tokens=9)
    assert accuracy == {"all": 0.5, "arithmetic": 0.5, "words": 0.0, "sentiment": 1.0}
    assert list(accuracy) == ["all", "arithmetic", "words", "sentiment"]
    assert calls == [9]
    with pytest.raises(InputError):
        instruction_accuracy(None, None, [])


def test_accuracy_on_the_tiny_model_counts_its_own_responses(tiny):
    model, tokenizer = tiny
    responses = generate_responses(model, tokenizer, PROMPTS, max_new_tokens=4)
    assert all(responses)
    # the first two items' answers are what the model writes, the last two's are not
    answers = [*responses[:2], "not this", "nor this"]
    items = [Instruction("format", f"format/{k}", prompt, answer)
             for k, (prompt, answer) in enumerate(zip(PROMPTS, answers, strict=True))]
    assert instruction_accuracy(model, tokenizer, items, max_new_tokens=4) == {"all": 0.5, "format": 0.5}
