"""Chapter 9 exercise checks: `z2h check 9` runs them on course/09-end-to-end-app/exercises.py.

Oracles: ``hashlib.sha256`` of the canonical JSON the docstring describes (cache keys), manifests and their
differences written by hand, a table of requests and the keys of their problems written by hand from the validation
rules, and Server-Sent Events streams written by hand from the SSE format.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

from zero2hero.app.limits import Limits
from zero2hero.app.validation import RequestError, ReviewRequest
from zero2hero.checks.feedback import Hint, call_learner, expect, expect_equal, fail
from zero2hero.pipeline.manifest_diff import ABSENT, Change

CHAPTER = 9
REFERENCE = {
    "stage_cache_key": "zero2hero.pipeline.cache_key",
    "diff_manifests": "zero2hero.pipeline.manifest_diff",
    "validate_review_request": "zero2hero.app.validation",
    "sse_events": "zero2hero.app.streaming",
}


# ---- the cache key -----------------------------------------------------------------------------------------------

KEY_CASES = [  # (deps, params, code)
    ({"data/raw.jsonl": "ab12"}, {"min_chars": 20}, "c0de"),
    ({}, {}, ""),
    ({"data/splits/train.jsonl": "9f" * 32, "data/splits/dev.jsonl": "11" * 32},
     {"classifier": {"rank": 8, "alpha": 16, "targets": "query,value", "learning_rate": 0.001}, "seed": 0},
     "e3" * 32),
    ({"b.txt": "2", "a.txt": "1"}, {"z": [3, 2, 1], "a": {"y": None, "x": True}}, "code"),
    ({"données/avis.jsonl": "café"}, {"système": "réponse polie — courte"}, "ü"),
    ({"x": "1"}, {"rate": 1.0e-3, "steps": 16, "share": 0.1}, "k"),
]


def _canonical(deps: dict, params: dict, code: str, **dumps: Any) -> str:
    settings = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False} | dumps
    text = json.dumps({"code": code, "deps": deps, "params": params}, **settings)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key_hints(deps: dict, params: dict, code: str) -> list[Hint]:
    plain = json.dumps({"code": code, "deps": deps, "params": params}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode("utf-8")
    return [
        (lambda got: got == _canonical(deps, params, code, sort_keys=False),
         "sort the keys (json.dumps(..., sort_keys=True)): otherwise the key depends on the order a dict was filled"),
        (lambda got: got == _canonical(deps, params, code, separators=None),
         "write the JSON without spaces: separators=(',', ':')"),
        (lambda got: got == _canonical(deps, params, code, ensure_ascii=True),
         "keep non-ASCII characters as they are (ensure_ascii=False), then encode the text as UTF-8"),
        (lambda got: got == hashlib.md5(plain).hexdigest() or got == hashlib.sha1(plain).hexdigest(),
         "the key is SHA-256 (hashlib.sha256), 64 hexadecimal digits"),
        (lambda got: got == hashlib.sha256(plain).digest(), "return the hexadecimal text: .hexdigest(), not .digest()"),
        (lambda got: got == _canonical(params, deps, code),
         'the object is {"code": code, "deps": deps, "params": params}: check each name holds the right value'),
    ]


def test_stage_cache_key_is_the_sha256_of_canonical_json(ex) -> None:
    for deps, params, code in KEY_CASES:
        what = f"stage_cache_key({deps!r}, {params!r}, {code!r})"
        hints = _key_hints(deps, params, code)
        got = call_learner(what, ex.stage_cache_key, (dict(deps), dict(params), code), hints)
        expect(isinstance(got, str), what, f"expected a str of 64 hex digits, got {type(got).__name__}", got, hints)
        expect_equal(got, _canonical(deps, params, code), what, hints)


def _shuffled(mapping: dict, rng: random.Random) -> dict:
    """The same dict filled in another order, at every level."""
    items = list(mapping.items())
    rng.shuffle(items)
    return {key: _shuffled(value, rng) if isinstance(value, dict) else value for key, value in items}


def test_stage_cache_key_ignores_dict_order_and_changes_with_every_input(ex) -> None:
    rng = random.Random(0)
    deps = {"data/splits/train.jsonl": "aa", "data/splits/dev.jsonl": "bb", "data/splits/test.jsonl": "cc"}
    params = {"generator": {"steps": 16, "rank": 8, "learning_rate": 1e-3, "targets": "q_proj,v_proj"}, "seed": 0}
    key = call_learner("stage_cache_key(deps, params, 'code')", ex.stage_cache_key, (deps, params, "code"))
    for attempt in range(5):
        again = call_learner("stage_cache_key of the same values filled in another order", ex.stage_cache_key,
                     (_shuffled(deps, rng), _shuffled(params, rng), "code"))
        expect_equal(again, key, f"the key of the same deps and params filled in another order (try {attempt + 1})",
                     [(None, "sort the keys at every level (json.dumps sorts nested dicts too with sort_keys=True)")])
    changed = {
        "one input file's hash": ({**deps, "data/splits/train.jsonl": "ab"}, params, "code"),
        "one more input file": ({**deps, "rules.yaml": "dd"}, params, "code"),
        "one input file fewer": ({k: v for k, v in deps.items() if k != "data/splits/dev.jsonl"}, params, "code"),
        "a nested parameter": (deps, {**params, "generator": {**params["generator"], "steps": 17}}, "code"),
        "the seed": (deps, {**params, "seed": 1}, "code"),
        "the code's hash": (deps, params, "code2"),
        "a file renamed, same content": ({"data/splits/train2.jsonl": "aa", "data/splits/dev.jsonl": "bb",
                                          "data/splits/test.jsonl": "cc"}, params, "code"),
    }
    seen = {key: "the original inputs"}
    for change, args in changed.items():
        got = call_learner(f"stage_cache_key after changing {change}", ex.stage_cache_key, args)
        expect(got not in seen, f"stage_cache_key after changing {change}",
               f"gives the same key as {seen.get(got)}: a cache would reuse a stale result", got,
               [(None, "every input (deps' names and hashes, every parameter, the code hash) must go into the key")])
        seen[got] = change


# ---- the manifest diff -------------------------------------------------------------------------------------------

RUN_A = {
    "config": {"name": "review-desk", "seed": 0, "classifier": {"rank": 8, "alpha": 16, "epochs": 1},
               "generator": {"steps": 200, "rank": 8}},
    "git_commit": "4f2a9c1",
    "versions": {"python": "3.11.2", "torch": "2.13.0", "transformers": "5.24.0"},
    "data": {"data/splits/train.jsonl": "aa11", "data/splits/test.jsonl": "bb22"},
    "stages": {"split": {"cache_key": "k1", "seconds": 0.8, "status": "ran"},
               "train_generator": {"cache_key": "k2", "seconds": 512.0, "status": "ran"}},
    "metrics": {"sentiment_accuracy": 0.84, "reply_token_f1": 0.41},
    "started_at": "2026-11-26T10:00:00",
    "seconds": 900.5,
}
RUN_B = {
    "config": {"name": "review-desk", "seed": 0, "classifier": {"rank": 16, "alpha": 16, "epochs": 1},
               "generator": {"steps": 200, "rank": 8}, "export": {"gguf_format": "q8_0"}},
    "git_commit": "4f2a9c1",
    "versions": {"python": "3.11.2", "torch": "2.13.0", "transformers": "5.25.0"},
    "data": {"data/splits/train.jsonl": "aa11", "data/splits/test.jsonl": "bb22"},
    "stages": {"split": {"cache_key": "k1", "seconds": 0.1, "status": "cached"},
               "train_generator": {"cache_key": "k3", "seconds": 530.0, "status": "ran"}},
    "metrics": {"sentiment_accuracy": 0.86, "reply_token_f1": 0.41},
    "started_at": "2026-11-26T11:00:00",
    "seconds": 700.0,
}
RUN_CHANGES = [  # written by hand: what differs between RUN_A and RUN_B, sorted by path, volatile keys left out
    Change("config.classifier.rank", 8, 16),
    Change("config.export.gguf_format", ABSENT, "q8_0"),
    Change("metrics.sentiment_accuracy", 0.84, 0.86),
    Change("stages.train_generator.cache_key", "k2", "k3"),
    Change("versions.transformers", "5.24.0", "5.25.0"),
]

DIFF_CASES = [  # (before, after, ignore or None for the default, expected)
    ({"config": {"rank": 8}, "seconds": 3.1}, {"config": {"rank": 16}, "seconds": 2.9}, None,
     [Change("config.rank", 8, 16)]),
    (RUN_A, RUN_A, None, []),
    (RUN_A, RUN_B, None, RUN_CHANGES),
    ({"a": {"x": 1}}, {"a": {"y": 2}}, None, [Change("a.x", 1, ABSENT), Change("a.y", ABSENT, 2)]),
    ({"m": {"x": 1}}, {"m": 5}, None, [Change("m", ABSENT, 5), Change("m.x", 1, ABSENT)]),
    ({"m": {}}, {"m": {"x": 1}}, None, [Change("m", {}, ABSENT), Change("m.x", ABSENT, 1)]),
    ({"stages": ["a", "b"]}, {"stages": ["a", "c"]}, None, [Change("stages", ["a", "b"], ["a", "c"])]),
    ({"z": 1, "a": {"c": 1, "b": 1}}, {"z": 2, "a": {"c": 2, "b": 2}}, None,
     [Change("a.b", 1, 2), Change("a.c", 1, 2), Change("z", 1, 2)]),
    ({"timings": {"clean": 1.0}, "n": 1}, {"timings": {"clean": 2.0, "split": 1.0}, "n": 1}, frozenset({"timings"}),
     []),
    ({"x": None}, {}, None, [Change("x", None, ABSENT)]),
    ({"x": 1}, {"x": 1.0}, None, []),
]


def _diff_hints(before: dict, after: dict, expected: list[Change]) -> list[Hint]:
    return [
        (lambda got: isinstance(got, list) and sorted(got, key=lambda c: c.path) == expected and got != expected,
         "sort the changes by path (sorted(changes, key=lambda change: change.path))"),
        (lambda got: isinstance(got, list) and any(c.path.rsplit(".", 1)[-1] in {"seconds", "started_at", "status"}
                                                  for c in got if isinstance(c, Change)),
         "skip a key whose own name is in `ignore`, at every depth (stages.split.seconds too)"),
        (lambda got: isinstance(got, list) and any(isinstance(c, Change) and (c.before is None or c.after is None)
                                                  for c in got) and all(
            c.before is not None and c.after is not None for c in expected),
         "a key missing on one side is ABSENT there (the constant imported from zero2hero.pipeline.manifest_diff), "
         "not None: None is a value a manifest can hold"),
        (lambda got: isinstance(got, list) and any(isinstance(c, Change) and (isinstance(c.before, dict) and c.before
                                                                              or isinstance(c.after, dict) and c.after)
                                                  for c in got),
         "flatten nested dicts all the way down: a change is one leaf value, with its dotted path"),
    ]


def test_diff_manifests_on_manifests_written_by_hand(ex) -> None:
    for before, after, ignore, expected in DIFF_CASES:
        args = (before, after) if ignore is None else (before, after, ignore)
        shown = "RUN_A" if before is RUN_A else json.dumps(before)
        what = f"diff_manifests({shown}, {'RUN_B' if after is RUN_B else json.dumps(after)}" + (
            f", ignore={set(ignore)})" if ignore is not None else ")")
        hints = _diff_hints(before, after, expected)
        got = call_learner(what, ex.diff_manifests, args, hints)
        expect(isinstance(got, list) and all(isinstance(c, Change) for c in got), what,
               f"expected a list of Change, got {got!r}", got, hints)
        expect_equal(got, expected, what, hints)


def test_diff_manifests_leaves_its_inputs_alone(ex) -> None:
    before, after = json.loads(json.dumps(RUN_A)), json.loads(json.dumps(RUN_B))
    call_learner("diff_manifests(RUN_A, RUN_B)", ex.diff_manifests, (before, after))
    expect(before == RUN_A and after == RUN_B, "diff_manifests(RUN_A, RUN_B)", "changed the manifests it was given",
           hints=[(None, "build new dicts or paths; do not pop or delete keys from the manifests")])


# ---- the request validator ---------------------------------------------------------------------------------------

LIMITS = Limits(max_review_chars=40, max_new_tokens=32)
NOT_AN_OBJECT = "the request body must be a JSON object"
VALID = [  # (payload, expected request), from the rules in the docstring
    ({"text": "Tasty tea."}, ReviewRequest("Tasty tea.", 32)),
    ({"text": "Tasty tea.", "max_new_tokens": 5}, ReviewRequest("Tasty tea.", 5)),
    ({"text": "  spaced  "}, ReviewRequest("  spaced  ", 32)),
    ({"text": "x" * 40, "max_new_tokens": 32}, ReviewRequest("x" * 40, 32)),
    ({"text": "y", "max_new_tokens": 1}, ReviewRequest("y", 1)),
]
INVALID = [  # (payload, the keys of the problems, in order), from the rules in the docstring
    ("just a string", None),
    ([{"text": "a list"}], None),
    (None, None),
    ({}, ["text"]),
    ({"text": ""}, ["text"]),
    ({"text": "  \n\t "}, ["text"]),
    ({"text": 5}, ["text"]),
    ({"text": None}, ["text"]),
    ({"text": "x" * 41}, ["text"]),
    ({"text": "ok", "max_new_tokens": 0}, ["max_new_tokens"]),
    ({"text": "ok", "max_new_tokens": 33}, ["max_new_tokens"]),
    ({"text": "ok", "max_new_tokens": -3}, ["max_new_tokens"]),
    ({"text": "ok", "max_new_tokens": True}, ["max_new_tokens"]),
    ({"text": "ok", "max_new_tokens": 5.0}, ["max_new_tokens"]),
    ({"text": "ok", "max_new_tokens": "5"}, ["max_new_tokens"]),
    ({"text": "ok", "colour": "red"}, ["colour"]),
    ({"max_new_tokens": 0, "zeta": 1, "colour": "red", "text": ""}, ["text", "max_new_tokens", "colour", "zeta"]),
    ({"text": "x" * 41, "max_new_tokens": 99}, ["text", "max_new_tokens"]),
]


def _validation_hints(payload: object) -> list[Hint]:
    return [
        (lambda got: isinstance(got, list) and len(got) == 1 and isinstance(payload, dict) and len(payload) > 1,
         "collect every problem before raising, not only the first one"),
        (lambda got: isinstance(got, ReviewRequest) and isinstance(payload, dict)
         and isinstance(payload.get("max_new_tokens"), bool),
         "True is an int in Python (bool subclasses int): refuse bool explicitly"),
        (lambda got: isinstance(got, ReviewRequest) and isinstance(payload, dict)
         and isinstance(payload.get("text"), str) and not payload["text"].strip(),
         "a text of spaces only is blank: test text.strip()"),
    ]


def _problems(what: str, call: Callable[[], Any], hints: list[Hint]) -> list[str] | ReviewRequest:
    """The problems ``call`` raised in a RequestError, or what it returned."""
    try:
        return call()
    except NotImplementedError:
        raise
    except RequestError as err:
        problems = err.problems
        expect(isinstance(problems, list) and all(isinstance(p, str) for p in problems), what,
               f"RequestError.problems should be a list of str, got {problems!r}", problems, hints)
        return problems
    except Exception as err:
        fail(what, f"raised {type(err).__name__}: {err} (expected RequestError(problems))", err,
             [(None, "raise zero2hero.app.validation.RequestError(problems) with the list of every problem found")])


def test_validate_review_request_accepts_good_requests(ex) -> None:
    for payload, expected in VALID:
        what = f"validate_review_request({payload!r}, Limits(max_review_chars=40, max_new_tokens=32))"
        hints = [(lambda got, given=payload["text"]: isinstance(got, ReviewRequest) and got.text != given,
                  "keep the text as given: strip only to test that it is not blank")]
        got = _problems(what, lambda p=payload: ex.validate_review_request(p, LIMITS), hints)
        expect(isinstance(got, ReviewRequest), what, f"refused a valid request with problems {got!r}", got, hints)
        expect_equal(got, expected, what, hints)


def test_validate_review_request_lists_every_problem_in_order(ex) -> None:
    for payload, keys in INVALID:
        what = f"validate_review_request({payload!r}, Limits(max_review_chars=40, max_new_tokens=32))"
        hints = _validation_hints(payload)
        got = _problems(what, lambda p=payload: ex.validate_review_request(p, LIMITS), hints)
        expect(not isinstance(got, ReviewRequest), what, f"accepted it as {got!r}; expected RequestError", got, hints)
        if keys is None:
            expect_equal(got, [NOT_AN_OBJECT], what, hints)
            continue
        prefixes = [problem.split(":", 1)[0] if ":" in problem else problem for problem in got]
        expect_equal(prefixes, keys, f"{what}: the key each problem starts with ('key: what is wrong'); "
                                     f"the problems were {got!r}", hints)


# ---- Server-Sent Events ------------------------------------------------------------------------------------------

def _failing(pieces: list[str], message: str) -> Iterator[str]:
    yield from pieces
    raise RuntimeError(message)


SSE_CASES = [  # (name, pieces factory, events written by hand from the SSE format)
    ("['Thank', ' you']", lambda: iter(["Thank", " you"]),
     ['data: {"text": "Thank"}\n\n', 'data: {"text": " you"}\n\n',
      'event: done\ndata: {"pieces": 2, "text": "Thank you"}\n\n']),
    ("[] (an empty reply)", lambda: iter([]), ['event: done\ndata: {"pieces": 0, "text": ""}\n\n']),
    ("['a', '', 'b']", lambda: iter(["a", "", "b"]),
     ['data: {"text": "a"}\n\n', 'data: {"text": "b"}\n\n', 'event: done\ndata: {"pieces": 2, "text": "ab"}\n\n']),
    ("['line one\\nline two']", lambda: iter(["line one\nline two"]),
     ['data: {"text": "line one\\nline two"}\n\n',
      'event: done\ndata: {"pieces": 1, "text": "line one\\nline two"}\n\n']),
    ("['Caf', 'é \"ok\"']", lambda: iter(["Caf", 'é "ok"']),
     ['data: {"text": "Caf"}\n\n', 'data: {"text": "\\u00e9 \\"ok\\""}\n\n',
      'event: done\ndata: {"pieces": 2, "text": "Caf\\u00e9 \\"ok\\""}\n\n']),
    ("pieces that raise RuntimeError('model crashed') after 'We'", lambda: _failing(["We"], "model crashed"),
     ['data: {"text": "We"}\n\n', 'event: error\ndata: {"message": "model crashed"}\n\n']),
]


def _sse_hints(expected: list[str]) -> list[Hint]:
    return [
        (lambda got: isinstance(got, list) and [e.rstrip("\n") + "\n\n" for e in got] == expected and got != expected,
         "each event ends with a blank line: two newlines, '\\n\\n'"),
        (lambda got: isinstance(got, list) and any('data: {"text": ""}' in e for e in got),
         "an empty piece sends no event"),
        (lambda got: isinstance(got, list) and any(e.startswith("data: ") and "{" not in e for e in got),
         "send the piece as JSON (json.dumps({'text': piece})): a newline in raw text would end the event early"),
    ]


def test_sse_events_streams_pieces_then_done(ex) -> None:
    for name, pieces, expected in SSE_CASES:
        what = f"list(sse_events({name}))"
        hints = _sse_hints(expected)
        got = call_learner(what, lambda p=pieces: list(ex.sse_events(p())), (), hints)
        expect_equal(got, expected, what, hints)


def test_sse_events_sends_each_piece_as_soon_as_it_comes(ex) -> None:
    taken: list[str] = []

    def pieces() -> Iterator[str]:
        for piece in ("one", " two", " three"):
            taken.append(piece)
            yield piece

    events = call_learner("sse_events(pieces)", ex.sse_events, (pieces(),))
    expect(isinstance(events, Iterator), "sse_events(pieces)",
           f"expected an iterator (a generator function, with yield), got {type(events).__name__}", events,
           [(None, "write it as a generator: `yield` each event instead of building and returning a list")])
    first = call_learner("next(sse_events(pieces))", next, (events,))
    expect_equal(first, 'data: {"text": "one"}\n\n', "the first event of sse_events(['one', ' two', ' three'])")
    expect_equal(taken, ["one"], "the pieces read when the first event is sent",
                 [(None, "yield each event as soon as its piece arrives: the browser shows the reply while it is "
                         "being generated; reading every piece first would make the user wait for all of it")])
