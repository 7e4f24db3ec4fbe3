"""Chapter 9 exercises: four small pieces that make an LLM application reproducible and safe to serve — the key a
pipeline caches a stage under, the diff that explains why two runs differ, the check a request passes before it
reaches the model, and the stream that carries a reply to the browser token by token.

Chapter 9 builds the review desk: a pipeline (collect, clean, label, split, fine-tune, evaluate, export, package)
run by DVC, and a web app that serves what it made. DVC reruns a stage only when its inputs change; the manifest of a
run records everything that could change a result; the server refuses what it cannot answer with a clear error
before spending a second of CPU on it, and streams the reply as Server-Sent Events.

You write, in order: a stage's cache key (checked against the SHA-256 of the canonical JSON the docstring
describes, and for the properties a cache needs: the same inputs always give the same key, any change gives another),
the manifest diff (checked on manifests written by hand), the request validator (checked on a table of good and bad
requests written by hand) and the Server-Sent Events generator (checked on event streams written by hand from the
SSE format).

Fill in each function, then run `z2h check 9`. ``hashlib.sha256`` and ``json.dumps`` (its ``sort_keys``,
``separators`` and ``ensure_ascii`` arguments) make the key; import what you use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from zero2hero.app.limits import Limits
from zero2hero.app.validation import RequestError, ReviewRequest
from zero2hero.pipeline.manifest_diff import ABSENT, VOLATILE_KEYS, Change


def stage_cache_key(deps: dict[str, str], params: dict[str, Any], code: str) -> str:
    """The key a stage's result is cached under: the SHA-256 (64 hex digits) of everything that can change it.

    ``deps`` maps each input file to the hash of its content, ``params`` holds the stage's settings and ``code`` is
    the hash of the stage's source. The three go into one JSON object ``{"code": ..., "deps": ..., "params": ...}``
    written canonically — keys sorted at every level, no spaces (``separators=(",", ":")``), non-ASCII characters kept
    (``ensure_ascii=False``) — and the SHA-256 of its UTF-8 bytes, in hexadecimal, is the key. Canonical JSON makes
    the key depend on the values only, never on the order a dict was filled in.

    >>> stage_cache_key({"data/raw.jsonl": "ab12"}, {"min_chars": 20}, "c0de")[:12]
    'c15470b9d040'
    """
    raise NotImplementedError


def diff_manifests(before: dict[str, Any], after: dict[str, Any],
                   ignore: frozenset[str] = VOLATILE_KEYS) -> list[Change]:
    """What differs between two run manifests, as one :class:`Change` per differing value, sorted by path.

    Both manifests are flattened first: the values inside nested dicts get paths of their keys joined by dots
    (``"config.classifier.rank"``); a value that is not a dict (a number, a string, a list) or is an empty dict is a
    leaf, compared whole. Then every path of either side is compared: a path on one side only gives a change whose
    other side is ``ABSENT``. A key in ``ignore`` (by its own name, at any depth: ``"seconds"``, ``"started_at"`` …)
    is skipped with everything under it — those values change on every run and explain nothing.

    >>> diff_manifests({"config": {"rank": 8}, "seconds": 3.1}, {"config": {"rank": 16}, "seconds": 2.9})
    [Change(path='config.rank', before=8, after=16)]
    """
    raise NotImplementedError


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
    raise NotImplementedError


def sse_events(pieces: Iterable[str]) -> Iterator[str]:
    """The reply, as Server-Sent Events: one event per piece of text, then one that says it is done.

    An SSE stream is text: each event is one or more ``field: value`` lines and ends with a blank line. For each
    non-empty piece yield ``"data: " + json.dumps({"text": piece}) + "\\n\\n"``; an empty piece yields nothing.
    After the last piece yield ``"event: done\\ndata: " + json.dumps({"pieces": n, "text": full}) + "\\n\\n"``
    where ``n`` counts the events sent and ``full`` joins their texts. If ``pieces`` raises an exception, yield
    ``"event: error\\ndata: " + json.dumps({"message": str(err)}) + "\\n\\n"`` instead of the done event and stop
    (the client learns why the reply ended; the server does not crash mid-stream). JSON keeps newlines in a piece
    from ending the event early.

    >>> list(sse_events(["Thank", " you"]))  # doctest: +NORMALIZE_WHITESPACE
    ['data: {"text": "Thank"}\\n\\n', 'data: {"text": " you"}\\n\\n',
     'event: done\\ndata: {"pieces": 2, "text": "Thank you"}\\n\\n']
    """
    raise NotImplementedError
