"""The generated instruction set: sizes, answers recomputed from the prompts, the split, the check, the JSONL file."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from zero2hero.alignment.instructions import (
    REVIEW_WORDS,
    TASKS,
    WORDS,
    Instruction,
    build_instructions,
    is_correct,
    load_instructions,
    save_instructions,
    split_by_template,
)
from zero2hero.errors import InputError

PER_TEMPLATE = 6


@pytest.fixture(scope="module")
def items() -> list[Instruction]:
    return build_instructions(per_template=PER_TEMPLATE, seed=0)


def test_every_task_has_at_least_four_templates_of_per_template_items(items):
    per_template = Counter(item.template for item in items)
    assert set(per_template.values()) == {PER_TEMPLATE}
    templates_per_task = Counter(template.split("/")[0] for template in per_template)
    assert set(templates_per_task) == set(TASKS)
    assert min(templates_per_task.values()) >= 4
    assert all(item.template.startswith(item.task + "/") for item in items)


def test_the_same_seed_gives_the_same_items_and_another_seed_others(items):
    assert build_instructions(per_template=PER_TEMPLATE, seed=0) == items
    assert build_instructions(per_template=PER_TEMPLATE, seed=1) != items


def test_arithmetic_answers_are_the_result_of_the_numbers_in_the_prompt(items):
    for item in (item for item in items if item.task == "arithmetic"):
        a, b = (int(n) for n in re.findall(r"\d+", item.prompt)[:2])
        plus = re.search(r" \+ | plus | buys ", item.prompt) is not None
        assert item.answer == str(a + b if plus else a - b), item
        assert int(item.answer) >= 0 and max(a, b) <= 20


def test_word_answers_follow_the_phrasing(items):
    for item in (item for item in items if item.task == "words"):
        (word,) = set(re.findall(r"[a-z]+", item.prompt)) & set(WORDS)  # the one word the prompt is about
        if "capital" in item.prompt or "upper case" in item.prompt:
            assert item.answer == word.upper()
        elif "first letter" in item.prompt or "start with" in item.prompt:
            assert item.answer == word[0]
        else:
            assert item.answer == word[::-1]


def test_format_answers_list_or_wrap_the_prompt_words(items):
    for item in (item for item in items if item.task == "format"):
        if "JSON" in item.prompt:
            key, value = re.search(r"(\w+): (\w+)(?=\"|$)", item.prompt).groups()
            assert json.loads(item.answer) == {key: value}
        else:
            words = item.prompt.split(": ")[1].split()
            assert item.answer in (", ".join(words), "-".join(words))


def test_sentiment_items_are_balanced_short_and_never_repeat_a_review(items):
    sentiment = [item for item in items if item.task == "sentiment"]
    assert Counter(item.answer for item in sentiment) == {"positive": len(sentiment) // 2,
                                                         "negative": len(sentiment) // 2}
    assert len({item.prompt for item in sentiment}) == len(sentiment)
    assert all("<br" not in item.prompt for item in sentiment)
    longest_review = max(len(item.prompt.split()) for item in sentiment)
    assert longest_review <= REVIEW_WORDS + 30  # the review's words, "...", and the template's own words


@pytest.mark.parametrize("bad", [0, -3, 501, 2.5, True])
def test_build_refuses_a_bad_size(bad):
    with pytest.raises(InputError, match="per_template"):
        build_instructions(per_template=bad)


def test_split_holds_out_whole_templates_one_per_task(items):
    train, test = split_by_template(items, held_out_per_task=1, seed=0)
    assert len(train) + len(test) == len(items)
    assert {item.template for item in train}.isdisjoint({item.template for item in test})
    held_out = Counter(item.task for item in {Instruction(i.task, i.template, "", "") for i in test})
    assert held_out == {task: 1 for task in TASKS}
    assert {item.task for item in train} == set(TASKS)
    assert train == [item for item in items if item in train]  # order kept
    other_train, _ = split_by_template(items, held_out_per_task=2, seed=3)
    assert len(other_train) == len(items) - 2 * len(TASKS) * PER_TEMPLATE


def test_split_refuses_to_hold_out_every_template_of_a_task(items):
    with pytest.raises(InputError, match="keep one for training"):
        split_by_template(items, held_out_per_task=4)
    with pytest.raises(InputError):
        split_by_template(items, held_out_per_task=0)


ARITHMETIC = Instruction("arithmetic", "arithmetic/0", "What is 17 + 25?", "42")
UPPER = Instruction("words", "words/0", "Write the word 'apple' in capital letters.", "APPLE")
REVERSE = Instruction("words", "words/2", "Spell the word 'apple' backwards.", "elppa")
LIST = Instruction("format", "format/0", "Turn this into a comma-separated list: a b c", "a, b, c")
JSON_ITEM = Instruction("format", "format/3", "Convert to JSON: name: ann", '{"name": "ann"}')
SENTIMENT = Instruction("sentiment", "sentiment/0", "Is this review positive ...", "positive")


@pytest.mark.parametrize(("item", "response", "expected"), [
    (ARITHMETIC, "42", True), (ARITHMETIC, " The answer is 42.", True), (ARITHMETIC, "17 + 25 = 42", False),
    (ARITHMETIC, "forty-two", False), (ARITHMETIC, "-42", False), (ARITHMETIC, "43", False),
    (UPPER, "APPLE", True), (UPPER, "'APPLE'.", True), (UPPER, "apple", False), (UPPER, "APPLE!", False),
    (REVERSE, "Elppa.", True), (REVERSE, '"elppa"', True), (REVERSE, "The word is elppa", False),
    (LIST, "a,b,c", True), (LIST, "a, b, c.", True), (LIST, "A, B, C", True), (LIST, "a b c", False),
    (LIST, "Here is the list: a, b, c", False), (LIST, "a, b", False),
    (JSON_ITEM, '{"name":"ann"}', True), (JSON_ITEM, '```{"name": "ann"}```', True),
    (JSON_ITEM, "{'name': 'ann'}", False), (JSON_ITEM, 'JSON: {"name": "ann"}', False),
    (SENTIMENT, "Positive.", True), (SENTIMENT, "positive", True), (SENTIMENT, "negative", False),
    (SENTIMENT, "The review is positive", False),
])
def test_is_correct_follows_its_documented_rules(item, response, expected):
    assert is_correct(item, response) is expected


def test_save_and_load_round_trip(tmp_path: Path, items):
    path = tmp_path / "instructions.jsonl"
    save_instructions(path, items)
    assert load_instructions(path) == items
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(items)


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"task": "words", "template": "words/0", "prompt": "x"}', "'answer' is missing"),
    ('{"task": "words", "template": "words/0", "prompt": "", "answer": "a"}', "'prompt' is missing, empty"),
    ('{"task": "poetry", "template": "poetry/0", "prompt": "x", "answer": "a"}', "unknown task 'poetry'"),
])
def test_load_names_the_file_line_and_problem_of_a_malformed_line(tmp_path: Path, line, problem):
    good = json.dumps({"task": "words", "template": "words/0", "prompt": "p", "answer": "a"})
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_instructions(path)
    assert "bad.jsonl:3: " in str(caught.value)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_refuses_an_empty_file(tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no instructions"):
        load_instructions(path)
