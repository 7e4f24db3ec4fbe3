"""Scoring one generated output against an item's reference, by the prompt set's kind.

- ``label``: the label word that comes first in the output (whole words, after :func:`normalise_answer`) gives the
  label; no label word: not parsed.
- ``number``: :func:`extract_number` (the number after the last "Answer:", else the last number) against the
  normalised reference.
- ``json``: the first ``{...}`` that parses as a JSON object; it must meet the set's schema (else ``parsed`` is
  False, though ``answer`` shows the object found), and it is correct when every field of the reference is equal
  (text compared normalised, numbers by value).
- ``free``: nothing to check automatically: ``correct`` is None, ``parsed`` says whether there is any text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import jsonschema

from zero2hero.prompting.functional import extract_number, normalise_answer
from zero2hero.prompting.promptset import Item, PromptSet


@dataclass(frozen=True)
class Scored:
    answer: str | None  # the extracted, normalised answer (None: nothing could be parsed)
    correct: bool | None  # None for kind "free"
    parsed: bool  # whether an answer could be extracted / the JSON parsed and met the schema


def score_output(ps: PromptSet, item: Item, output: str) -> Scored:
    """How ``output`` answers ``item``: the answer found, whether it is correct and whether one was found at all."""
    if ps.kind == "label":
        label = first_label(ps, output)
        return Scored(label, label is not None and label == item.reference, label is not None)
    if ps.kind == "number":
        number = extract_number(output)
        return Scored(number, number is not None and number == normalise_answer(item.reference or ""),
                      number is not None)
    if ps.kind == "json":
        return _score_json(ps, item, output)
    text = output.strip()
    return Scored(text or None, None, bool(text))


def first_label(ps: PromptSet, output: str) -> str | None:
    """The label whose word appears first in ``output`` as a whole word, or None."""
    text = normalise_answer(output)
    found = []
    for label, word in (ps.label_words or {label: label for label in ps.labels}).items():
        match = re.search(rf"(?<!\w){re.escape(normalise_answer(word))}(?!\w)", text)
        if match:
            found.append((match.start(), label))
    return min(found)[1] if found else None


def first_json_object(text: str) -> dict | None:
    """The first ``{...}`` in ``text`` that parses as a JSON object (e.g. inside a ```json code block), or None."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def same_value(value: object, reference: object) -> bool:
    """Whether a JSON field equals its reference: numbers by value (12 == 12.0), text after normalise_answer."""
    if isinstance(reference, bool) or isinstance(value, bool):
        return value is reference
    if isinstance(reference, int | float) and isinstance(value, int | float):
        return float(value) == float(reference)
    if isinstance(reference, str) and isinstance(value, str):
        return normalise_answer(value) == normalise_answer(reference)
    return value == reference


def _score_json(ps: PromptSet, item: Item, output: str) -> Scored:
    found = first_json_object(output)
    if found is None:
        return Scored(None, False, False)
    answer = json.dumps(found, ensure_ascii=False, sort_keys=True)
    if not jsonschema.validators.validator_for(ps.schema)(ps.schema).is_valid(found):
        return Scored(answer, False, False)
    reference = json.loads(item.reference or "{}")
    return Scored(answer, all(key in found and same_value(found[key], value) for key, value in reference.items()), True)
