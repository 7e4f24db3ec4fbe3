"""Scoring one output per kind: a table of outputs and the Scored each must give."""

from __future__ import annotations

import pytest

from zero2hero.prompting.promptset import prompt_set_from_dict
from zero2hero.prompting.scoring import Scored, score_output

LABEL = prompt_set_from_dict({
    "name": "s", "kind": "label", "templates": {"t": "{review}"}, "labels": ["great", "other"],
    "label_words": {"great": "positive", "other": "negative"},
    "items": [{"id": "a", "review": "Lovely.", "reference": "great"}]})
NUMBER = prompt_set_from_dict({"name": "n", "kind": "number", "templates": {"t": "{q}"},
                               "items": [{"id": "a", "q": "How much?", "reference": 1200}]})
JSON = prompt_set_from_dict({
    "name": "j", "kind": "json", "templates": {"t": "{s}"},
    "schema": {"type": "object", "properties": {"customer": {"type": "string"}, "quantity": {"type": "integer"},
                                                "total": {"type": "number"}},
               "required": ["customer", "quantity", "total"], "additionalProperties": False},
    "items": [{"id": "a", "s": "Maria bought 3 jars for 12 dollars.",
               "reference": {"customer": "Maria", "quantity": 3, "total": 12}}]})
FREE = prompt_set_from_dict({"name": "f", "kind": "free", "templates": {"t": "{q}"}, "items": [{"id": "a", "q": "Hi"}]})


@pytest.mark.parametrize(("output", "expected"), [
    ("positive", Scored("great", True, True)),
    (" Positive.", Scored("great", True, True)),
    ("Negative", Scored("other", False, True)),
    ("The review is positive, not negative.", Scored("great", True, True)),
    ("Not positive: negative", Scored("great", True, True)),  # the first label word decides
    ("negative, hardly positive", Scored("other", False, True)),
    ("positively glowing", Scored(None, False, False)),  # whole words only
    ("I cannot tell.", Scored(None, False, False)),
    ("", Scored(None, False, False)),
])
def test_label_outputs(output: str, expected: Scored) -> None:
    assert score_output(LABEL, LABEL.items[0], output) == expected


@pytest.mark.parametrize(("output", "expected"), [
    ("1200", Scored("1200", True, True)),
    ("$1,200.00", Scored("1200", True, True)),
    ("3 boxes of 400 is 1200 in total.", Scored("1200", True, True)),
    ("Answer: 1200. Check: 400 + 800.", Scored("1200", True, True)),  # the number after "Answer:" wins
    ("It is 1100.", Scored("1100", False, True)),
    ("twelve hundred", Scored(None, False, False)),
])
def test_number_outputs(output: str, expected: Scored) -> None:
    assert score_output(NUMBER, NUMBER.items[0], output) == expected


_RIGHT = '{"customer": "Maria", "quantity": 3, "total": 12}'  # keys in sorted order: the normalised answer too


@pytest.mark.parametrize(("output", "expected"), [
    (_RIGHT, Scored(_RIGHT, True, True)),
    (f"Here it is:\n```json\n{_RIGHT}\n```", Scored(_RIGHT, True, True)),
    ('{"total": 12.0, "quantity": 3, "customer": " maria"}',
     Scored('{"customer": " maria", "quantity": 3, "total": 12.0}', True, True)),
    ('{"customer": "Maria", "quantity": 4, "total": 12}', Scored('{"customer": "Maria", "quantity": 4, "total": 12}',
                                                                 False, True)),
    ('{"customer": "Maria", "quantity": "3", "total": 12}',
     Scored('{"customer": "Maria", "quantity": "3", "total": 12}', False, False)),  # fails the schema
    ('{"customer": "Maria"}', Scored('{"customer": "Maria"}', False, False)),
    ("{customer: Maria} then " + _RIGHT, Scored(_RIGHT, True, True)),  # the first object that parses
    ("[1, 2] no object", Scored(None, False, False)),
    ("", Scored(None, False, False)),
])
def test_json_outputs(output: str, expected: Scored) -> None:
    assert score_output(JSON, JSON.items[0], output) == expected


@pytest.mark.parametrize(("output", "expected"), [
    ("Hello there! ", Scored("Hello there!", None, True)),
    ("   ", Scored(None, None, False)),
])
def test_free_outputs(output: str, expected: Scored) -> None:
    assert score_output(FREE, FREE.items[0], output) == expected
