"""The reply prompt of the review desk: one text, used to train the reply generator, to evaluate it and to serve it.

Training, evaluation and both serving backends (transformers and llama.cpp) must see exactly the same prompt: a model
fine-tuned on one layout and served with another silently loses what it learned. So the prompt is built in one
place, by the tokenizer's own chat template (chapter 8), and every other module calls :func:`render_reply_prompt`.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

SYSTEM_PROMPT = ("You answer customer reviews for a food shop. Write one short, polite reply of two or three "
                 "sentences: thank happy customers, apologise to unhappy ones, and address what the review is about.")


def reply_messages(review: str) -> list[dict[str, str]]:
    """The chat messages that ask for a reply to ``review``: the desk's system prompt and the review as the user."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"Review: {review.strip()}"}]


def render_reply_prompt(tokenizer: PreTrainedTokenizerBase, review: str) -> str:
    """The prompt text up to where the reply starts: the chat template applied, with the assistant's turn opened."""
    return tokenizer.apply_chat_template(reply_messages(review), tokenize=False, add_generation_prompt=True)


def training_text(tokenizer: PreTrainedTokenizerBase, review: str, reply: str) -> tuple[str, str]:
    """``(prompt, completion)`` for supervised fine-tuning: the loss is taken on the completion's tokens only.

    The completion is the reply followed by the end-of-sequence token, so the model also learns where to stop.
    """
    return render_reply_prompt(tokenizer, review), reply.strip() + (tokenizer.eos_token or "")
