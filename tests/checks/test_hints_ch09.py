"""Chapter 9: each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake.

Each wrong solution is the reference module (cache_key, manifest_diff, validation or streaming) with one line changed
the way a learner might get it wrong; the other three functions stay the reference's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from tests.checks.mutation import failure_message, with_changed_line
from tests.exercises import test_ch09_exercises as ch9

HASH = 'return hashlib.sha256(canonical.encode("utf-8")).hexdigest()'
DUMPS = 'canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)'
UNKNOWN = "for key in sorted(str(key) for key in payload if key not in KNOWN_KEYS):"
EVENT = 'yield "data: " + json.dumps({"text": piece}) + "\\n\\n"'

MISTAKES = [  # (function, check, old, new, what its message must say)
    ("stage_cache_key", ch9.test_stage_cache_key_is_the_sha256_of_canonical_json, DUMPS,
     DUMPS.replace("sort_keys=True", "sort_keys=False"), "sort the keys"),
    ("stage_cache_key", ch9.test_stage_cache_key_is_the_sha256_of_canonical_json, DUMPS,
     DUMPS.replace('separators=(",", ":"), ', ""), "write the JSON without spaces"),
    ("stage_cache_key", ch9.test_stage_cache_key_is_the_sha256_of_canonical_json, DUMPS,
     DUMPS.replace("ensure_ascii=False", "ensure_ascii=True"), "keep non-ASCII characters"),
    ("stage_cache_key", ch9.test_stage_cache_key_is_the_sha256_of_canonical_json, HASH, HASH.replace("sha256", "md5"),
     "the key is SHA-256"),
    ("stage_cache_key", ch9.test_stage_cache_key_ignores_dict_order_and_changes_with_every_input,
     'inputs = {"code": code, "deps": deps, "params": params}', 'inputs = {"code": code, "deps": sorted(deps.values()),'
     ' "params": params}', "every input (deps' names and hashes"),
    ("diff_manifests", ch9.test_diff_manifests_on_manifests_written_by_hand,
     "for path in sorted(flat_before.keys() | flat_after.keys()):",
     "for path in list(flat_before) + [p for p in flat_after if p not in flat_before]:", "sort the changes by path"),
    ("diff_manifests", ch9.test_diff_manifests_on_manifests_written_by_hand,
     "old, new = flat_before.get(path, ABSENT), flat_after.get(path, ABSENT)",
     "old, new = flat_before.get(path), flat_after.get(path)", "not None: None is a value a manifest can hold"),
    ("diff_manifests", ch9.test_diff_manifests_on_manifests_written_by_hand, "        if key in ignore:",
     "        if False:", "skip a key whose own name is in `ignore`"),
    ("diff_manifests", ch9.test_diff_manifests_on_manifests_written_by_hand,
     'flat.update(_flatten(item, f"{path}.", ignore))', "flat[path] = item", "flatten nested dicts all the way down"),
    ("validate_review_request", ch9.test_validate_review_request_lists_every_problem_in_order,
     "    if problems:\n        raise RequestError(problems)",
     "    if problems:\n        raise RequestError(problems[:1])", "collect every problem before raising"),
    ("validate_review_request", ch9.test_validate_review_request_lists_every_problem_in_order,
     "if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):",
     "if not isinstance(max_new_tokens, int):", "True is an int in Python"),
    ("validate_review_request", ch9.test_validate_review_request_lists_every_problem_in_order,
     "    elif not text.strip():", "    elif not text:", "a text of spaces only is blank"),
    ("validate_review_request", ch9.test_validate_review_request_lists_every_problem_in_order, UNKNOWN,
     "for key in ():", "expected RequestError"),
    ("sse_events", ch9.test_sse_events_streams_pieces_then_done, EVENT, EVENT.replace('\\n\\n"', '\\n"'),
     "each event ends with a blank line"),
    ("sse_events", ch9.test_sse_events_streams_pieces_then_done, EVENT,
     EVENT.replace('json.dumps({"text": piece})', "piece"), "send the piece as JSON"),
    ("sse_events", ch9.test_sse_events_streams_pieces_then_done, "            if piece:", "            if True:",
     "an empty piece sends no event"),
]


@pytest.mark.parametrize(("function", "check", "old", "new", "hint"), MISTAKES, ids=[case[4] for case in MISTAKES])
def test_pipeline_and_app_mistakes_are_named(function: str, check: Callable, old: str, new: str, hint: str) -> None:
    message = failure_message(check, with_changed_line(ch9.REFERENCE, function, old, new))
    assert hint in message, message


def test_a_list_of_events_is_not_a_stream() -> None:
    def listed(pieces):  # the whole reply read before the first event is sent
        from zero2hero.app.streaming import sse_events

        return list(sse_events(pieces))

    ex = SimpleNamespace(**{name: getattr(importlib.import_module(path), name)
                            for name, path in ch9.REFERENCE.items()} | {"sse_events": listed})
    assert "write it as a generator" in failure_message(ch9.test_sse_events_sends_each_piece_as_soon_as_it_comes, ex)
