"""Built-in tasks: arithmetic answers re-checked independently, determinism, sentiment splits, JSON references."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter

import jsonschema
import pytest

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example, LabelledData
from zero2hero.prompting.promptset import load_prompt_set
from zero2hero.prompting.tasks import arithmetic, json_format, sentiment
from zero2hero.prompting.tasks.arithmetic import evaluate, generate_problems

_ALLOWED = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)
_OPERATORS = {1: {"+", "-"}, 2: {"+", "-"}, 3: {"+", "-", "*", "/"}}


def _python_value(expression: str) -> float:
    """The expression evaluated by Python itself, once its syntax tree is known to hold only arithmetic."""
    tree = ast.parse(expression, mode="eval")
    assert all(isinstance(node, _ALLOWED) for node in ast.walk(tree)), expression
    return eval(compile(tree, "<problem>", "eval"), {"__builtins__": {}})


@pytest.mark.parametrize("level", [1, 2, 3])
def test_thousands_of_arithmetic_problems_have_the_answer_their_expression_gives(level: int) -> None:
    problems = generate_problems(level, 3000, seed=0)
    assert len({p.question for p in problems}) == 3000
    for p in problems:
        value = _python_value(p.expression)
        assert value == p.answer and float(value).is_integer() and p.answer >= 0, p
        # the story gives exactly the expression's numbers, in the same order
        assert re.findall(r"\d+", p.question) == re.findall(r"\d+", p.expression), p
        operators = re.findall(r"[-+*/]", p.expression)
        assert len(operators) == level and set(operators) <= _OPERATORS[level], p
        if level == 3:
            assert {"*", "/"} & set(operators), p
        assert p.reasoning.endswith(f"= {p.answer}."), p
        # every intermediate division in the worked steps is exact
        for a, b, c in re.findall(r"(\d+) ÷ (\d+) = (\d+)", p.reasoning):
            assert int(a) == int(b) * int(c), p


def test_arithmetic_is_deterministic_by_seed() -> None:
    assert generate_problems(3, 50, seed=7) == generate_problems(3, 50, seed=7)
    assert generate_problems(3, 50, seed=7) != generate_problems(3, 50, seed=8)
    assert arithmetic.generate_set(items=5, pool=2, seed=1) == arithmetic.generate_set(items=5, pool=2, seed=1)


def test_the_arithmetic_set_has_levels_a_disjoint_pool_and_reasoning() -> None:
    generated = arithmetic.generate_set(items=10, pool=4, seed=0)
    assert Counter(item.id[:2] for item in generated.items) == {"L1": 10, "L2": 10, "L3": 10}
    assert len(generated.pool) == 12 and all(shot.reasoning for shot in generated.pool)
    questions = {item.variables["question"] for item in generated.items}
    assert not questions & {shot.variables["question"] for shot in generated.pool}


@pytest.mark.parametrize(("expression", "value"), [("(4 * 6 - 9) / 3", 5), ("7 / 2", 3.5), ("2 - 5 + 1", -2)])
def test_evaluate_is_exact(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os')", "2 ** 8", "1.5 + 1", "x + 1"])
def test_evaluate_refuses_anything_but_whole_number_arithmetic(expression: str) -> None:
    with pytest.raises(InputError, match="is not whole-number arithmetic"):
        evaluate(expression)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: generate_problems(4, 10), "level 4 is not one of"),
    (lambda: generate_problems(1, 0), "count 0 is not a whole number"),
    (lambda: arithmetic.generate_set(items="many"), "items is 'many'"),
    (lambda: json_format.generate_set(pool=-1), "pool is -1"),
    (lambda: sentiment.generate_set(split="train"), "split 'train' is not dev or test"),
])
def test_generator_parameters_are_checked(call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


# ---- sentiment -----------------------------------------------------------------------------------------------

def _fake_reviews() -> LabelledData:
    train = [Example(f"train review {i} <br />was {'great' if i % 3 else 'meh'}", 0 if i % 3 else 1)
             for i in range(300)]
    test = [Example(f"test review {i}", 0 if i % 4 else 1) for i in range(120)]
    return LabelledData(train=train + [train[0]], test=test, label_names=["great", "other"])


@pytest.mark.parametrize("split", ["dev", "test"])
def test_sentiment_items_and_pool_are_disjoint_and_stratified(split: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_reviews()
    monkeypatch.setattr(sentiment, "load_fine_foods", lambda: data)
    generated = sentiment.generate_set(split=split, items=60, pool=30, max_chars=600, seed=0)
    pool = [shot.variables["review"] for shot in generated.pool]
    items = [item.variables["review"] for item in generated.items]
    assert not set(pool) & set(items) and len(set(items)) == len(items) and len(set(pool)) == len(pool)
    assert all(text.startswith("train review") and "<br" not in text for text in pool)
    assert all(text.startswith(f"{'train' if split == 'dev' else 'test'} review") for text in items)
    # each class keeps its share of the source split (2/3 great in train, 3/4 great in test)
    assert Counter(shot.answer for shot in generated.pool) == {"great": 20, "other": 10}
    assert Counter(item.reference for item in generated.items) == (
        {"great": 40, "other": 20} if split == "dev" else {"great": 45, "other": 15})
    source = data.train if split == "dev" else data.test
    for item in generated.items:  # the id points back at the review in chapter 5's file
        prefix, position = item.id.split("-")
        assert prefix == split and sentiment.clean_review(source[int(position)].text, 600) == item.variables["review"]
    assert generated == sentiment.generate_set(split=split, items=60, pool=30, max_chars=600, seed=0)


def test_the_real_sentiment_set_uses_chapter_5_reviews_disjointly() -> None:
    for split in ("dev", "test"):
        ps = load_prompt_set("sentiment", parameters={"split": split})
        assert ps.labels == ["great", "other"] and ps.label_words == {"great": "positive", "other": "negative"}
        assert 145 <= len(ps.items) <= 155 and 30 <= len(ps.pool) <= 34
        assert not {i.variables["review"] for i in ps.items} & {s.variables["review"] for s in ps.pool}
        assert all(len(i.variables["review"]) <= 600 for i in ps.items)


@pytest.mark.parametrize(("text", "max_chars", "expected"), [
    ("short text", 20, "short text"),
    ("one two three four", 12, "one two…"),
    ("one two three four", 13, "one two…"),
    ("one two three four", 14, "one two three…"),
    ("abcdefghij", 5, "abcd…"),
])
def test_truncation_stops_at_a_word_boundary(text: str, max_chars: int, expected: str) -> None:
    truncated = sentiment.truncate_at_word(text, max_chars)
    assert truncated == expected and len(truncated) <= max_chars


def test_a_review_is_cleaned_to_one_line_of_text() -> None:
    assert sentiment.clean_review("Tasty!<br /><br />Would  buy\nagain &amp; again.", 100) == (
        "Tasty! Would buy again & again.")


# ---- JSON orders ---------------------------------------------------------------------------------------------

def test_json_orders_references_meet_the_schema_and_the_sentence() -> None:
    ps = load_prompt_set("json-orders")
    validator = jsonschema.Draft202012Validator(ps.schema)
    for example in [(i.variables["sentence"], i.reference) for i in ps.items] + [
            (s.variables["sentence"], s.answer) for s in ps.pool]:
        sentence, reference = example
        order = json.loads(reference)
        assert not list(validator.iter_errors(order)), example
        assert set(order) == {"customer", "item", "quantity", "total_dollars"}
        assert order["customer"] in sentence and f"{order['quantity']} {order['item']}" in sentence, example
        assert f"{order['total_dollars']} dollars" in sentence, example
    assert len({i.variables["sentence"] for i in ps.items}) == len(ps.items) == 100


def test_the_order_schema_refuses_a_wrong_answer() -> None:
    validator = jsonschema.Draft202012Validator(json_format.ORDER_SCHEMA)
    assert not validator.is_valid({"customer": "Maria", "item": "jars of honey", "quantity": "3", "total_dollars": 12})
    assert not validator.is_valid({"customer": "Maria", "item": "jars of honey", "quantity": 3})
    assert not validator.is_valid({"customer": "Maria", "item": "x", "quantity": 3, "total_dollars": 12, "tip": 1})


def test_json_orders_are_deterministic_by_seed() -> None:
    assert json_format.generate_set(items=20, pool=2, seed=3) == json_format.generate_set(items=20, pool=2, seed=3)
    assert json_format.generate_set(items=20, pool=2, seed=3) != json_format.generate_set(items=20, pool=2, seed=4)


# ---- qualitative ---------------------------------------------------------------------------------------------

def test_the_qualitative_set_compares_a_bare_and_a_structured_prompt() -> None:
    ps = load_prompt_set("qualitative")
    assert ps.kind == "free" and len(ps.items) >= 20
    assert ps.rubric == ["relevance", "correctness", "format", "fluency"]
    assert ps.templates["bare"] == "{request}"
    assert {"{role}", "{context}", "{request}", "{format}"} <= set(re.findall(r"\{\w+\}", ps.templates["structured"]))
    kinds = Counter(item.id.split("-")[0] for item in ps.items)
    assert {"explain", "rewrite", "summarise", "steps", "question"} <= set(kinds)
