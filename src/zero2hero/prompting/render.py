"""From an item of a prompt set to the chat messages and token ids a model reads.

:func:`prompt_messages` lays a prompt out as chat messages: the set's system prompt, each few-shot example as a user
message (the template filled with the example's values) and an assistant message with its answer, then the item's
own user message. A label's answer is shown as its label *word* (``great`` -> "positive"), the word the model is
asked to answer. With ``cot=True`` every user message ends with chain-of-thought's instruction
(:data:`zero2hero.prompting.chain_of_thought.COT_INSTRUCTION`) and each example's answer is its worked reasoning
followed by ``Answer: <answer>``.

:func:`prompt_ids` applies the tokenizer's chat template. A tokenizer without one is refused rather than given a
made-up format: a base model has never seen these messages laid out in any particular way, so its scores would
measure the made-up format, not the prompt. Use a chat (instruct) model such as the default SmolLM2-135M-Instruct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.chain_of_thought import COT_INSTRUCTION
from zero2hero.prompting.functional import chat_messages, render_template
from zero2hero.prompting.promptset import Item, PromptSet, Shot


def _with_cot(text: str, cot: bool) -> str:
    return f"{text}\n\n{COT_INSTRUCTION}" if cot else text


def _shown_answer(ps: PromptSet, answer: str) -> str:
    """The answer as the model should write it: a label's word, anything else as it is."""
    return ps.label_words.get(answer, answer) if ps.kind == "label" else answer


def prompt_messages(ps: PromptSet, item: Item, shots: Sequence[Shot] = (), template: str | None = None,
                    cot: bool = False) -> list[dict[str, str]]:
    """The chat messages of ``item`` asked with ``template`` (default: the set's first) after ``shots``."""
    name = next(iter(ps.templates)) if template is None else template
    if name not in ps.templates:
        raise UnknownNameError(f"the prompt set {ps.name!r} has no template {name!r}",
                               f"choose one of {', '.join(ps.templates)}")
    text = ps.templates[name]
    pairs = []
    for shot in shots:
        answer = _shown_answer(ps, shot.answer)
        if cot:
            if not shot.reasoning:
                raise InputError(f"a few-shot example of {ps.name!r} has no reasoning to show",
                                 "chain-of-thought examples need `reasoning:` in the pool; or drop cot")
            answer = f"{shot.reasoning}\nAnswer: {answer}"
        pairs.append((_with_cot(render_template(text, shot.variables), cot), answer))
    return chat_messages(ps.system, pairs, _with_cot(render_template(text, item.variables), cot))


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]], context_length: int | None = None,
               reserve: int = 0) -> list[int]:
    """The token ids of ``messages`` in the tokenizer's chat template, ready for the assistant's reply.

    With ``context_length``, raises :class:`InputError` when the prompt and ``reserve`` new tokens do not fit.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("this tokenizer has no chat template, so it cannot lay out chat messages",
                         "use a chat (instruct) model such as smollm2")
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    ids = list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
    if context_length is not None and len(ids) + reserve > context_length:
        kept = f" with {reserve} tokens kept for the answer" if reserve else ""
        raise InputError(f"the prompt is {len(ids)} tokens, {len(ids) + reserve - context_length} over the context "
                         f"of {context_length}{kept}",
                         "use fewer or shorter few-shot examples, a shorter template, or shorter inputs")
    return ids
