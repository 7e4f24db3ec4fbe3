"""The pieces of prompting and of evaluating prompts as plain functions, written step by step: chapter 8's exercises.

A prompt is a template filled with an item's values and laid out as chat messages; the model's answer is turned into
something comparable (normalised text, a number); a label can be read from the model's log-probabilities instead of
from generated text; and a score measured on a hundred items needs an interval before two prompts are compared.
:mod:`zero2hero.prompting.render`, :mod:`~zero2hero.prompting.scoring`, :mod:`~zero2hero.prompting.label_scoring` and
:mod:`~zero2hero.prompting.stats` build on these; the checks compare them with ``str.format_map``, the SmolLM2 chat
template, transformers' own loss and ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from zero2hero.errors import InputError

# ---- templates and chat messages -------------------------------------------------------------------------------


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill ``template``: each ``{name}`` becomes ``values[name]``; ``{{`` and ``}}`` are a literal ``{`` and ``}``.

    A name is a Python identifier (letters, digits, ``_``). A name without a value, an empty or malformed field
    (``{}``, ``{a b}``, ``{a:>5}``) and a lone ``{`` or ``}`` raise :class:`~zero2hero.errors.InputError`; a value
    the template does not use is fine. On every valid template the result equals ``template.format_map(values)``.

    >>> render_template("Review: {review}\\nAnswer {{positive|negative}}:", {"review": "Tasty."})
    'Review: Tasty.\\nAnswer {positive|negative}:'
    """
    parts: list[str] = []  # pieces of the result, joined once at the end
    i = 0
    while i < len(template):
        char = template[i]
        # 1. a doubled brace is an escaped literal brace: emit one and skip both
        if char in "{}" and template[i + 1:i + 2] == char:
            parts.append(char)
            i += 2
        # 2. a single "{" opens a field: the name runs to the next "}"
        elif char == "{":
            end = template.find("}", i + 1)
            if end == -1:
                raise InputError(f"the template has a '{{' at character {i} that is never closed",
                                 "close the field with '}' or write '{{' for a literal brace")
            name = template[i + 1:end]
            if not name.isidentifier():
                raise InputError(f"the template's field {{{name}}} at character {i} is not a variable name",
                                 "a field is {name} with a name of letters, digits and '_'; write '{{' and '}}' "
                                 "for literal braces")
            if name not in values:
                raise InputError(f"the template uses {{{name}}} but no value is given for {name!r}",
                                 f"give a value for {name!r} (given: {', '.join(sorted(values)) or 'none'})")
            parts.append(str(values[name]))
            i = end + 1
        # 3. a single "}" outside a field is an error, as in str.format
        elif char == "}":
            raise InputError(f"the template has a lone '}}' at character {i}", "write '}}' for a literal brace")
        # 4. any other character is copied as it is
        else:
            parts.append(char)
            i += 1
    return "".join(parts)


def chat_messages(system: str | None, shots: Sequence[tuple[str, str]], user: str) -> list[dict[str, str]]:
    """The chat a model sees: an optional system message, each few-shot example as a user turn followed by the
    assistant's answer, then the final user message the model answers.

    ``shots`` holds (user text, assistant answer) pairs; with ``system=None`` there is no system message. A chat
    template (``tokenizer.apply_chat_template``) turns the list into the model's own text format.

    >>> chat_messages("Be brief.", [("2+2?", "4")], "3+3?")  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'},
     {'role': 'assistant', 'content': '4'}, {'role': 'user', 'content': '3+3?'}]
    """
    # 1. the system message first, only when there is one
    messages = [] if system is None else [{"role": "system", "content": system}]
    # 2. each worked example is a question and the answer the model should imitate
    for question, answer in shots:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    # 3. the question this prompt asks, last: the model continues after it
    messages.append({"role": "user", "content": user})
    return messages


# ---- answers: normalising text, extracting a number --------------------------------------------------------------

# a number as written in an answer: an optional minus and currency sign, digits with optional thousands commas
# ("1,200" but not "12,00"), an optional decimal part; it may not continue a word or another number ("v2", "1.2.3")
NUMBER = re.compile(r"(?<![\w.])(?P<sign>-)?[$€£]?(?P<whole>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<fraction>\d+))?(?!\d)")
_ANSWER_MARKER = re.compile(r"answer\s*(?:is\b|:)", re.IGNORECASE)
_FINAL_PUNCTUATION = ".,;:!?"


def _canonical_number(match: re.Match[str]) -> str:
    # "1,200" -> "1200", "007" -> "7", "2.50" -> "2.5", "3.0" -> "3", "-0" -> "0"; the currency sign is dropped
    whole = match["whole"].replace(",", "").lstrip("0") or "0"
    fraction = (match["fraction"] or "").rstrip("0")
    number = f"{whole}.{fraction}" if fraction else whole
    return f"-{number}" if match["sign"] and number != "0" else number


def normalise_answer(text: str) -> str:
    """An answer in a form that compares equal when only its writing differs.

    Lower case; spaces collapsed to one and stripped at both ends; final punctuation (``. , ; : ! ?``) removed;
    every number written plainly: no thousands separators, no currency sign, no leading zeros, no trailing zeros after
    the decimal point (``"$1,200.00"`` -> ``"1200"``, ``"2.50"`` -> ``"2.5"``).

    >>> normalise_answer("  The total is $1,200.00! ")
    'the total is 1200'
    """
    # 1. case and spacing: "Positive" and " positive  " are the same answer
    text = " ".join(text.lower().split())
    # 2. final punctuation: "positive." is "positive" (then strip again: "yes !" -> "yes")
    text = text.rstrip(_FINAL_PUNCTUATION).strip()
    # 3. each number in its canonical form
    return NUMBER.sub(_canonical_number, text)


def extract_number(text: str) -> str | None:
    """The number an answer gives, normalised (:func:`normalise_answer`'s form), or None when it has none.

    The first number after the last ``answer:`` or ``answer is`` (any case) when one follows it, otherwise the last
    number in the text: a chain of thought ends with its answer, and the numbers before it are working.

    >>> extract_number("3 boxes of 400 make 1,200. Answer: $1,200.")
    '1200'
    >>> extract_number("no idea") is None
    True
    """
    # 1. after the last "answer:" / "answer is", the first number is the answer
    markers = list(_ANSWER_MARKER.finditer(text))
    if markers:
        after = NUMBER.search(text, markers[-1].end())
        if after:
            return _canonical_number(after)
    # 2. otherwise the last number anywhere in the text
    numbers = list(NUMBER.finditer(text))
    return _canonical_number(numbers[-1]) if numbers else None


# ---- label scoring ---------------------------------------------------------------------------------------------


@torch.inference_mode()
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
    if not prompt_ids:
        raise InputError("the prompt has no tokens", "a label's first token needs at least one token before it")
    if not label_ids or any(len(label) == 0 for label in label_ids):
        raise InputError("there are no labels, or a label has no tokens", "tokenize each label to at least one token")
    scores = []
    for label in label_ids:
        # 1. the prompt followed by this label, as a batch of one sequence
        ids = torch.tensor([list(prompt_ids) + list(label)])  # (1, n)
        # 2. one forward pass; log_softmax turns each position's logits into log-probabilities over the vocabulary
        log_probs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)  # (n, vocab)
        # 3. the positions that predict the label's tokens: each one just before the token it predicts
        start = len(prompt_ids) - 1
        positions = torch.arange(start, start + len(label))  # (n_label,)
        # 4. each such position's log-probability of the label token that actually follows it, summed
        scores.append(log_probs[positions, torch.tensor(list(label))].sum())
    return torch.stack(scores)


# ---- statistics: an interval for a mean, a vote ----------------------------------------------------------------


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
    if not 0 < confidence < 1:
        raise InputError(f"confidence {confidence} is not between 0 and 1", "use e.g. 0.95 for a 95% interval")
    if n_resamples < 1:
        raise InputError(f"n_resamples is {n_resamples}", "resample at least once; 2000 is usual")
    sample = np.asarray(values, dtype=np.float64)  # (n,)
    if sample.ndim != 1 or sample.size == 0:
        raise InputError(f"the values have shape {sample.shape}", "give a non-empty list of numbers")
    rng = np.random.default_rng(seed)
    # 1. each row: n indices drawn with replacement, i.e. one resample of the items
    indices = rng.integers(0, sample.size, size=(n_resamples, sample.size))  # (n_resamples, n)
    # 2. the mean of each resample
    means = sample[indices].mean(axis=1)  # (n_resamples,)
    # 3. the middle `confidence` of those means: cut (1 - confidence) / 2 off each tail
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer that is not None; a tie goes to the answer seen first; None when all are None.

    Self-consistency samples several chains of thought and keeps the answer most of them reach.

    >>> majority_vote(["12", None, "15", "15", "12"])
    '12'
    """
    counts: dict[str, int] = {}  # answer -> count, in the order the answers first appear
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
    best = None
    for answer, count in counts.items():
        # strictly more: a later answer with the same count does not replace the earlier one
        if best is None or count > counts[best]:
            best = answer
    return best
