"""The review request validator: every rule, every problem listed at once, in order."""

from __future__ import annotations

import pytest

from zero2hero.app.limits import Limits
from zero2hero.app.validation import RequestError, ReviewRequest, validate_review_request

LIMITS = Limits(max_review_chars=10, max_new_tokens=5)


def problems(payload: object) -> list[str]:
    with pytest.raises(RequestError) as caught:
        validate_review_request(payload, LIMITS)
    return caught.value.problems


def test_a_valid_request_gets_the_default_length_or_its_own() -> None:
    assert validate_review_request({"text": "Tasty tea"}, LIMITS) == ReviewRequest("Tasty tea", 5)
    assert validate_review_request({"text": "Tasty tea", "max_new_tokens": 1}, LIMITS) == ReviewRequest("Tasty tea", 1)
    assert validate_review_request({"text": "x" * 10, "max_new_tokens": 5}, LIMITS).text == "x" * 10


@pytest.mark.parametrize("payload", [[], "text", None, 3])
def test_a_payload_that_is_not_an_object_is_one_problem(payload: object) -> None:
    assert len(problems(payload)) == 1 and "JSON object" in problems(payload)[0]


@pytest.mark.parametrize(("payload", "expected"), [
    ({}, 'text: is missing'),
    ({"text": 3}, 'text: must be a string, got int'),
    ({"text": "  \n "}, 'text: is blank'),
    ({"text": "x" * 11}, 'text: has 11 characters, at most 10 are accepted'),
    ({"text": "ok", "max_new_tokens": True}, 'max_new_tokens: must be a whole number, got bool'),
    ({"text": "ok", "max_new_tokens": 2.0}, 'max_new_tokens: must be a whole number, got float'),
    ({"text": "ok", "max_new_tokens": 0}, 'max_new_tokens: must be from 1 to 5, got 0'),
    ({"text": "ok", "max_new_tokens": 6}, 'max_new_tokens: must be from 1 to 5, got 6'),
    ({"text": "ok", "txt": "ok"}, "txt: unknown key (allowed: text, max_new_tokens)"),
])
def test_each_rule_names_its_problem(payload: dict, expected: str) -> None:
    assert problems(payload) == [expected]


def test_every_problem_is_listed_in_order() -> None:
    assert problems({"text": "", "max_new_tokens": "many", "stream": True, "lang": "en"}) == [
        "text: is blank", "max_new_tokens: must be a whole number, got str",
        "lang: unknown key (allowed: text, max_new_tokens)", "stream: unknown key (allowed: text, max_new_tokens)"]


def test_the_error_is_a_learner_error_with_a_hint() -> None:
    from zero2hero.errors import Zero2HeroError

    with pytest.raises(Zero2HeroError, match='text: is missing') as caught:
        validate_review_request({}, LIMITS)
    assert caught.value.hint


def test_limits_refuse_nonsense() -> None:
    from zero2hero.errors import InputError

    with pytest.raises(InputError, match="max_new_tokens"):
        Limits(max_new_tokens=0)
    with pytest.raises(InputError, match="unknown serving limit"):
        Limits.from_dict({"max_tokens": 3})
    assert Limits.from_dict({"max_batch_items": 3}).max_batch_bytes == 3 * Limits().max_request_bytes
