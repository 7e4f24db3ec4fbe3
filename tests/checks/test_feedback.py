"""The failure messages of zero2hero.checks.feedback: the first difference, both values, and the hints that apply."""

from __future__ import annotations

import pytest
import torch

from zero2hero.checks.feedback import (
    CheckFailure,
    expect_close,
    expect_equal,
    expect_raises,
    first_difference,
    prerequisite,
)


def test_first_difference_of_strings_lists_mappings_and_bytes() -> None:
    assert first_difference("hello world", "hello there").startswith(
        "first difference at character 6: expected 't', got 'w'")
    assert first_difference([1, 2], [1, 2, 3]) == (
        "got stops after 2 items; the other goes on with [3] (expected 3 items, got 2)")
    assert first_difference({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == (
        "1 keys missing, e.g. 'c'; 1 wrong values, e.g. at 'b': expected 3, got 2")
    assert first_difference(b"\x01\x02", b"\x01\x03").startswith("first difference at byte 1: expected 3, got 2")


def test_tensor_differences_name_the_index_and_both_values() -> None:
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 0.5
    with pytest.raises(CheckFailure, match=r"1 of 6 values differ \(largest difference 0.5\); first at index "
                                           r"\(1, 2\): expected 0, got 0.5"):
        expect_close(got, expected, "x")
    with pytest.raises(CheckFailure, match=r"x: expected shape \(2, 3\), got shape \(3, 2\)"):
        expect_close(got.T, expected, "x")
    with pytest.raises(CheckFailure, match="expected dtype torch.int8, got dtype torch.int32"):
        expect_equal(torch.zeros(2, dtype=torch.int32), torch.zeros(2, dtype=torch.int8), "codes")


def test_only_the_hints_that_apply_are_shown() -> None:
    def broken(_: object) -> bool:
        raise ZeroDivisionError

    with pytest.raises(CheckFailure) as failure:
        expect_equal([1, 3], [1, 2], "pairs", hints=[(lambda g: g[1] == 3, "applies"), (lambda g: False, "does not"),
                                                      (broken, "cannot tell"), (None, "always")])
    assert str(failure.value).splitlines() == [
        "pairs: first difference at item 1: expected 2, got 3", "  expected from item 0: [1, 2]",
        "  got      from item 0: [1, 3]", "hint: applies", "hint: always"]
    expect_equal([1, 2], [1, 2], "pairs", hints=[(None, "never shown when equal")])


def test_expect_raises_says_what_came_back() -> None:
    with pytest.raises(CheckFailure, match="expected ValueError to be raised, got a result: 7"):
        expect_raises(ValueError, lambda: 7, "f(0)", "raise it")
    with pytest.raises(CheckFailure, match="expected ValueError, got KeyError"):
        expect_raises(ValueError, lambda: {}["x"], "f(0)", "raise it")
    expect_raises(ValueError, lambda: int("x"), "int('x')", "raise it")


def test_prerequisite_points_to_the_earliest_failing_check() -> None:
    def earlier() -> None:
        expect_equal(1, 2, "attention")

    with pytest.raises(CheckFailure, match="block: this follows from an earlier exercise — fix `attention matches "
                                           "torch` first") as failure:
        prerequisite("test_attention_matches_torch", "block", earlier)
    assert failure.value.blocked_by == "test_attention_matches_torch"

    def block_check() -> None:
        prerequisite("test_attention_matches_torch", "block", earlier)

    with pytest.raises(CheckFailure, match="model: this follows .* fix `attention matches torch` first"):
        prerequisite("test_block_matches_torch", "model", block_check)

    def unwritten() -> None:
        raise NotImplementedError

    with pytest.raises(CheckFailure, match="you have not written yet — fix `attention matches torch` first"):
        prerequisite("test_attention_matches_torch", "block", unwritten)
    prerequisite("test_attention_matches_torch", "block", lambda: None)
