"""Checking a review request before any model sees it: every problem is collected, so one answer lists them all.

A request is a JSON object ``{"text": "...", "max_new_tokens": 64}``. The rules, checked in this order:

1. the payload is a JSON object (a dict), else nothing more can be checked;
2. "text" is present, is a string, is not blank after stripping, and has at most ``limits.max_review_chars``
   characters;
3. "max_new_tokens", when present, is an integer (``True`` is not a number here) in ``1..limits.max_new_tokens``;
   when absent it defaults to ``limits.max_new_tokens``;
4. no other key is present (a typo such as "txt" is reported rather than silently ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

from zero2hero.app.limits import Limits
from zero2hero.errors import InputError

KNOWN_KEYS = ("text", "max_new_tokens")


@dataclass(frozen=True)
class ReviewRequest:
    text: str  # the review, as sent
    max_new_tokens: int  # the reply's length bound, in tokens


class RequestError(InputError):
    """A request broke one or more rules; ``problems`` lists each one as a sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid request: " + "; ".join(problems), "fix the listed problems and send it again")
        self.problems = problems


def validate_review_request(payload: object, limits: Limits) -> ReviewRequest:
    """The review request in ``payload`` (a parsed JSON body), or :class:`RequestError` listing every problem.

    ``payload`` must be a JSON object (a dict); otherwise the only problem is ``"the request body must be a JSON
    object"``. Its keys:

    * ``"text"`` (required): a string, not blank once stripped, at most ``limits.max_review_chars`` characters;
    * ``"max_new_tokens"`` (optional, default ``limits.max_new_tokens``): a whole number (``bool`` is not one),
      from 1 to ``limits.max_new_tokens``;
    * any other key is a problem (a misspelt option must not be ignored silently).

    Every problem is collected, in that order (text, max_new_tokens, unknown keys in sorted order), each a string that
    starts with the key it is about and a colon (``"text: ..."``, ``"max_new_tokens: ..."``, ``"colour: ..."``).
    The returned request holds the text as given (not stripped).

    >>> validate_review_request({"text": "Tasty tea."}, Limits(max_new_tokens=96))
    ReviewRequest(text='Tasty tea.', max_new_tokens=96)
    """
    # 1. Nothing else can be checked when the body is not an object (a list, a string, null).
    if not isinstance(payload, dict):
        raise RequestError(["the request body must be a JSON object"])
    problems: list[str] = []
    # 2. The review: present, a string, not blank, not longer than the model is allowed to read.
    text = payload.get("text")
    if "text" not in payload:
        problems.append("text: is missing")
    elif not isinstance(text, str):
        problems.append(f"text: must be a string, got {type(text).__name__}")
    elif not text.strip():
        problems.append("text: is blank")
    elif len(text) > limits.max_review_chars:
        problems.append(f"text: has {len(text)} characters, at most {limits.max_review_chars} are accepted")
    # 3. The reply's length bound: a whole number in range. bool is a subclass of int, so True would pass as 1.
    max_new_tokens = payload.get("max_new_tokens", limits.max_new_tokens)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        problems.append(f"max_new_tokens: must be a whole number, got {type(max_new_tokens).__name__}")
    elif not 1 <= max_new_tokens <= limits.max_new_tokens:
        problems.append(f"max_new_tokens: must be from 1 to {limits.max_new_tokens}, got {max_new_tokens}")
    # 4. Any other key: a misspelt option ("max_tokens") is reported rather than silently ignored.
    for key in sorted(str(key) for key in payload if key not in KNOWN_KEYS):
        problems.append(f"{key}: unknown key (allowed: {', '.join(KNOWN_KEYS)})")
    if problems:
        raise RequestError(problems)
    return ReviewRequest(text=text, max_new_tokens=max_new_tokens)
