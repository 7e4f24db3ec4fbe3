"""Chapter 8 exercises: the small pieces under every prompt experiment — filling a template, laying out a chat,
reading an answer, scoring labels from log-probabilities, and saying how sure a score is.

Chapter 8 is about prompting: formatting an instruction and its context so that a model that is not retrained does
what is asked, and measuring honestly whether a change of prompt (wording, few-shot examples, chain-of-thought)
helps. Every comparison of prompts rests on the functions below.

You write, in order: a template filler with ``{name}`` fields and ``{{``/``}}`` escapes (checked against Python's
``str.format_map`` on many templates), the chat messages of a few-shot prompt (checked through SmolLM2's own chat
template), answer normalisation and number extraction (checked on a table of answers written by hand from the
rules: capitals, spaces, punctuation, "$1,200.00"), label scoring — the log-probability a causal LM gives each label
after the prompt, which classifies without generating text (checked against transformers' own loss), the percentile
bootstrap interval of a mean (checked against ``scipy.stats.bootstrap``) and the majority vote of self-consistency.
Later functions may call earlier ones.

Fill in each function, then run `z2h check 8`. Shapes are in the docstrings. Bad input raises
``zero2hero.errors.InputError`` (``raise InputError(message, hint)``); Python's ``re`` module helps with numbers
(``re.finditer(r"\\d+", text)``), numpy's ``np.random.default_rng(seed)`` draws the resamples, and
``torch.log_softmax`` turns logits into log-probabilities: import what you use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill ``template``: each ``{name}`` becomes ``values[name]``; ``{{`` and ``}}`` are a literal ``{`` and ``}``.

    A name is a Python identifier (letters, digits, ``_``). A name without a value, an empty or malformed field
    (``{}``, ``{a b}``, ``{a:>5}``) and a lone ``{`` or ``}`` raise :class:`~zero2hero.errors.InputError`; a value
    the template does not use is fine. On every valid template the result equals ``template.format_map(values)``.

    >>> render_template("Review: {review}\\nAnswer {{positive|negative}}:", {"review": "Tasty."})
    'Review: Tasty.\\nAnswer {positive|negative}:'
    """
    raise NotImplementedError


def chat_messages(system: str | None, shots: Sequence[tuple[str, str]], user: str) -> list[dict[str, str]]:
    """The chat a model sees: an optional system message, each few-shot example as a user turn followed by the
    assistant's answer, then the final user message the model answers.

    ``shots`` holds (user text, assistant answer) pairs; with ``system=None`` there is no system message. A chat
    template (``tokenizer.apply_chat_template``) turns the list into the model's own text format.

    >>> chat_messages("Be brief.", [("2+2?", "4")], "3+3?")  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'},
     {'role': 'assistant', 'content': '4'}, {'role': 'user', 'content': '3+3?'}]
    """
    raise NotImplementedError


def normalise_answer(text: str) -> str:
    """An answer in a form that compares equal when only its writing differs.

    Lower case; spaces collapsed to one and stripped at both ends; final punctuation (``. , ; : ! ?``) removed;
    every number written plainly: no thousands separators, no currency sign, no leading zeros, no trailing zeros after
    the decimal point (``"$1,200.00"`` -> ``"1200"``, ``"2.50"`` -> ``"2.5"``).

    >>> normalise_answer("  The total is $1,200.00! ")
    'the total is 1200'
    """
    raise NotImplementedError


def extract_number(text: str) -> str | None:
    """The number an answer gives, normalised (:func:`normalise_answer`'s form), or None when it has none.

    The first number after the last ``answer:`` or ``answer is`` (any case) when one follows it, otherwise the last
    number in the text: a chain of thought ends with its answer, and the numbers before it are working.

    >>> extract_number("3 boxes of 400 make 1,200. Answer: $1,200.")
    '1200'
    >>> extract_number("no idea") is None
    True
    """
    raise NotImplementedError


def label_log_probs(model, prompt_ids: Sequence[int], label_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """(n_labels,) float32: the total log-probability of each label's tokens following the prompt.

    ``model`` is a causal LM whose ``model(input_ids).logits`` is (1, n, vocab). For each label, one forward pass
    over ``prompt_ids + label`` (teacher forcing: the label's own tokens are fed in); the logits at position t
    predict token t + 1, so label token j (at position ``len(prompt_ids) + j``) is scored by the log-softmax at
    position ``len(prompt_ids) + j - 1``. The label's log-probability is the sum over its tokens.

    A label of 2 tokens after a prompt of 3 uses the log-probabilities at positions 2 and 3::

        positions   0  1  2  3  4
        tokens      p0 p1 p2 l0 l1
        predicts    p1 p2 l0 l1 -
    """
    raise NotImplementedError


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """(low, high): the percentile bootstrap interval of the mean of ``values`` at the given confidence.

    The n values are resampled with replacement ``n_resamples`` times (numpy ``default_rng(seed)``); the interval is
    the ``(1 - confidence) / 2`` and ``1 - (1 - confidence) / 2`` quantiles of the resampled means. It says how far
    the mean could move had other items of the same kind been drawn. 116 right answers of 150 (0.773):

    >>> low, high = bootstrap_interval([1.0] * 116 + [0.0] * 34)
    >>> round(low, 3), round(high, 3)
    (0.707, 0.833)
    """
    raise NotImplementedError


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer that is not None; a tie goes to the answer seen first; None when all are None.

    Self-consistency samples several chains of thought and keeps the answer most of them reach.

    >>> majority_vote(["12", None, "15", "15", "12"])
    '12'
    """
    raise NotImplementedError
