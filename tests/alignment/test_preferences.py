"""Preference pairs made by rules, and their JSON-lines file with one-line errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from zero2hero.alignment.instructions import TASKS, Instruction, build_instructions, is_correct
from zero2hero.alignment.preferences import (
    CLOSINGS,
    LEAD_INS,
    RULES_BY_TASK,
    PreferencePair,
    build_pairs,
    load_pairs,
    number_in_words,
    save_pairs,
)
from zero2hero.errors import InputError


@pytest.fixture(scope="module")
def items() -> list[Instruction]:
    return build_instructions(per_template=6, seed=3)


def test_one_pair_per_instruction_chosen_is_the_correct_answer(items):
    pairs = build_pairs(items, seed=0)
    assert len(pairs) == len(items)
    for item, pair in zip(items, pairs, strict=True):
        assert pair.prompt == item.prompt and pair.chosen == item.answer and is_correct(item, pair.chosen)
        assert pair.rejected != pair.chosen
        assert pair.rule in RULES_BY_TASK[item.task]


def test_the_correct_rule_makes_a_wrong_answer_for_every_task(items):
    pairs = [(item, pair) for item, pair in zip(items, build_pairs(items, seed=1), strict=True)
             if pair.rule == "correct"]
    assert {item.task for item, _ in pairs} == set(TASKS)
    for item, pair in pairs:
        assert not is_correct(item, pair.rejected), (item, pair)


def test_every_rule_is_used_and_the_format_rule_only_where_a_format_is_asked(items):
    pairs = build_pairs(items, seed=0)
    rules = Counter(pair.rule for pair in pairs)
    assert set(rules) == {"correct", "format", "concise"}
    tasks_with_format = {item.task for item, pair in zip(items, pairs, strict=True) if pair.rule == "format"}
    assert tasks_with_format == {"arithmetic", "format"}


def test_the_format_rule_keeps_the_content_in_another_format():
    arithmetic = Instruction("arithmetic", "arithmetic/0", "What is 20 + 14?", "34")
    json_item = Instruction("format", "format/3", "Convert to JSON: city: lemon", '{"city": "lemon"}')
    dashes = Instruction("format", "format/2", "Join these words with dashes: a b c", "cat-dog-sun")
    pairs = {}
    for seed in range(40):
        for item in (arithmetic, json_item, dashes):
            pair = build_pairs([item], seed=seed)[0]
            pairs.setdefault((item.answer, pair.rule), set()).add(pair.rejected)
    assert pairs[("34", "format")] == {"thirty-four"}
    assert pairs[('{"city": "lemon"}', "format")] == {"city = lemon", "{'city': 'lemon'}"}
    assert pairs[("cat-dog-sun", "format")] == {"cat, dog, sun"}


def test_the_concise_rule_pads_the_answer_with_filler():
    item = Instruction("sentiment", "sentiment/0", "Is this review positive?\n\nLovely tea.", "positive")
    padded = [pair for seed in range(20) for pair in build_pairs([item], seed=seed) if pair.rule == "concise"]
    assert padded
    for pair in padded:
        assert any(pair.rejected.startswith(lead) for lead in LEAD_INS)
        assert any(pair.rejected.endswith(closing) for closing in CLOSINGS)
        assert " positive. " in pair.rejected


@pytest.mark.parametrize(("n", "words"), [(0, "zero"), (7, "seven"), (15, "fifteen"), (20, "twenty"),
                                          (34, "thirty-four"), (-3, "minus three")])
def test_number_in_words(n, words):
    assert number_in_words(n) == words


def test_build_pairs_is_deterministic_for_a_seed(items):
    assert build_pairs(items, seed=5) == build_pairs(items, seed=5)
    assert build_pairs(items, seed=5) != build_pairs(items, seed=6)


def test_save_then_load_gives_the_same_pairs(tmp_path, items):
    pairs = build_pairs(items, seed=0) + [PreferencePair("Dis « bonjour »\n", "bonjour", "bonjour !", "human")]
    path = tmp_path / "pairs.jsonl"
    save_pairs(path, pairs)
    assert load_pairs(path) == pairs
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(pairs)


GOOD = {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5", "rule": "correct"}


@pytest.mark.parametrize(("line", "problem"), [
    ('{"prompt": "What is 2 + 2?", "chosen": "4"', "not valid JSON"),
    ('["a list"]', "a JSON list, not an object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "rejected"}), "the field 'rejected' is missing"),
    (json.dumps({**GOOD, "prompt": "  "}), "the field 'prompt' is empty"),
    (json.dumps({**GOOD, "chosen": 4}), "the field 'chosen' is not a string"),
    (json.dumps({**GOOD, "rejected": "4"}), "the chosen and the rejected response are the same"),
    (json.dumps({**GOOD, "rule": "longer"}), "unknown rule 'longer'"),
])
def test_a_malformed_line_is_one_error_line_naming_file_and_line(tmp_path, line, problem):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_pairs(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: {problem}"), message
    assert "\n" not in message and caught.value.hint


def test_an_empty_or_missing_file_is_an_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InputError, match="is empty"):
        load_pairs(empty)
    with pytest.raises(InputError, match="does not exist"):
        load_pairs(tmp_path / "nowhere.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="cannot read"):
        load_pairs(binary)
