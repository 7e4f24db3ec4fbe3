"""Rendering: the chat messages of a prompt, and its token ids through SmolLM2's own chat template."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zero2hero.assets import load_tokenizer
from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.chain_of_thought import COT_INSTRUCTION
from zero2hero.prompting.promptset import prompt_set_from_dict
from zero2hero.prompting.render import prompt_ids, prompt_messages

SENTIMENT = prompt_set_from_dict({
    "name": "s", "kind": "label", "system": "Classify reviews.",
    "templates": {"plain": "Review: {review}\nSentiment:", "ask": "Is this positive? {review}"},
    "labels": ["great", "other"], "label_words": {"great": "positive", "other": "negative"},
    "items": [{"id": "a", "review": "Lovely tea.", "reference": "great"}],
    "pool": [{"review": "Stale crackers.", "answer": "other", "reasoning": "Stale is a complaint."},
             {"review": "Best honey ever.", "answer": "great"}],
})


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("smollm2")


def test_messages_hold_the_system_prompt_the_shots_and_the_item() -> None:
    messages = prompt_messages(SENTIMENT, SENTIMENT.items[0], SENTIMENT.pool)
    assert messages == [
        {"role": "system", "content": "Classify reviews."},
        {"role": "user", "content": "Review: Stale crackers.\nSentiment:"},
        {"role": "assistant", "content": "negative"},  # the label word, not the label name
        {"role": "user", "content": "Review: Best honey ever.\nSentiment:"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "Review: Lovely tea.\nSentiment:"},
    ]


def test_a_named_template_and_no_system_prompt() -> None:
    ps = prompt_set_from_dict({"name": "n", "kind": "number", "templates": {"t": "{q}", "u": "Q: {q} A:"},
                               "items": [{"id": "a", "q": "2+2?", "reference": 4}]})
    assert prompt_messages(ps, ps.items[0], template="u") == [{"role": "user", "content": "Q: 2+2? A:"}]
    with pytest.raises(UnknownNameError, match="has no template 'v'"):
        prompt_messages(ps, ps.items[0], template="v")


def test_chain_of_thought_shows_reasoning_then_the_answer() -> None:
    messages = prompt_messages(SENTIMENT, SENTIMENT.items[0], SENTIMENT.pool[:1], cot=True)
    assert messages[1]["content"] == f"Review: Stale crackers.\nSentiment:\n\n{COT_INSTRUCTION}"
    assert messages[2]["content"] == "Stale is a complaint.\nAnswer: negative"
    assert messages[3]["content"] == f"Review: Lovely tea.\nSentiment:\n\n{COT_INSTRUCTION}"
    with pytest.raises(InputError, match="has no reasoning"):
        prompt_messages(SENTIMENT, SENTIMENT.items[0], SENTIMENT.pool[1:], cot=True)


def test_the_ids_are_the_chatml_text_smollm2_expects(tokenizer) -> None:
    messages = prompt_messages(SENTIMENT, SENTIMENT.items[0], SENTIMENT.pool[:1])
    expected = ("<|im_start|>system\nClassify reviews.<|im_end|>\n"
                "<|im_start|>user\nReview: Stale crackers.\nSentiment:<|im_end|>\n"
                "<|im_start|>assistant\nnegative<|im_end|>\n"
                "<|im_start|>user\nReview: Lovely tea.\nSentiment:<|im_end|>\n"
                "<|im_start|>assistant\n")
    hand_built = [{"role": "system", "content": "Classify reviews."},
                  {"role": "user", "content": "Review: Stale crackers.\nSentiment:"},
                  {"role": "assistant", "content": "negative"},
                  {"role": "user", "content": "Review: Lovely tea.\nSentiment:"}]
    assert tokenizer.apply_chat_template(hand_built, tokenize=False, add_generation_prompt=True) == expected
    ids = prompt_ids(tokenizer, messages)
    assert tokenizer.decode(ids) == expected
    assert ids == tokenizer(expected, add_special_tokens=False)["input_ids"]


def test_a_prompt_over_the_context_is_refused_with_the_overshoot(tokenizer) -> None:
    messages = prompt_messages(SENTIMENT, SENTIMENT.items[0], SENTIMENT.pool)
    n = len(prompt_ids(tokenizer, messages))
    assert len(prompt_ids(tokenizer, messages, context_length=n + 5, reserve=5)) == n  # an exact fit is fine
    with pytest.raises(InputError, match=rf"the prompt is {n} tokens, 1 over the context of {n + 4} with 5 tokens"):
        prompt_ids(tokenizer, messages, context_length=n + 4, reserve=5)
    with pytest.raises(InputError, match=rf"^the prompt is {n} tokens, 10 over the context of {n - 10} — "):
        prompt_ids(tokenizer, messages, context_length=n - 10)


def test_a_tokenizer_without_a_chat_template_is_refused() -> None:
    with pytest.raises(InputError, match="this tokenizer has no chat template.* use a chat \\(instruct\\) model"):
        prompt_ids(SimpleNamespace(chat_template=None), [{"role": "user", "content": "hi"}])
