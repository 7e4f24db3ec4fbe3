"""The reference functions beyond what the exercise checks compare: malformed templates, refused input, one forward
per label equal to a batch, and the vote's order."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from zero2hero.errors import InputError
from zero2hero.prompting.functional import (
    bootstrap_interval,
    extract_number,
    label_log_probs,
    majority_vote,
    normalise_answer,
    render_template,
)


@pytest.mark.parametrize(("template", "field"), [("{}", "{}"), ("{a b}", "{a b}"), ("{a:>5}", "{a:>5}"),
                                                 ("{0}", "{0}"), ("{a.b}", "{a.b}")])
def test_render_template_refuses_fields_that_are_not_names(template: str, field: str) -> None:
    with pytest.raises(InputError, match="is not a variable name") as error:
        render_template(template, {"a": "x"})
    assert field in str(error.value)


def test_render_template_names_the_missing_variable_and_the_given_ones() -> None:
    with pytest.raises(InputError) as error:
        render_template("{review} {stars}", {"review": "ok"})
    assert "'stars'" in error.value.message and "review" in error.value.hint


def test_render_template_puts_in_a_value_as_it_is() -> None:
    assert render_template("{a}", {"a": "{b}", "b": "no"}) == "{b}"
    assert render_template("{n} items", {"n": 3}) == "3 items"  # like format_map, a non-text value becomes str()


@pytest.mark.parametrize(("text", "expected"), [
    ("Answer:\n**42**", "42"), ("the answer is: 0.50", "0.5"), ("x = -3.", "-3"), ("00", "0"),
    ("1,2,3", "3"), ("from 3-5 days", "5"), ("answer is 1 000", "1")])
def test_extract_number_edge_cases(text: str, expected: str) -> None:
    assert extract_number(text) == expected


def test_normalise_answer_leaves_lists_and_versions_alone() -> None:
    assert normalise_answer("1,2,3") == "1,2,3"  # not a thousands separator: groups of 3 digits only
    assert normalise_answer("v1.2") == "v1.2"


def test_label_log_probs_one_forward_per_label_equals_a_batched_forward() -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=30, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, initializer_range=0.5)).eval()
    prompt, labels = [3, 7, 1], [[4, 5], [9, 2]]  # equal lengths, so one batch holds both
    got = label_log_probs(model, prompt, labels)
    with torch.inference_mode():
        log_probs = torch.log_softmax(model(torch.tensor([prompt + label for label in labels])).logits, -1)
    expected = torch.stack([log_probs[i, [2, 3], label].sum() for i, label in enumerate(labels)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert got.shape == (2,) and got.dtype == torch.float32


@pytest.mark.parametrize(("prompt", "labels"), [([], [[1]]), ([1], [[2], []])])
def test_label_log_probs_refuses_empty_prompts_and_labels(prompt: list[int], labels: list[list[int]]) -> None:
    with pytest.raises(InputError, match="no tokens"):
        label_log_probs(None, prompt, labels)


@pytest.mark.parametrize(("values", "confidence", "n_resamples"), [([], 0.95, 10), ([1.0], 1.0, 10),
                                                                   ([1.0], 0.0, 10), ([1.0], 0.9, 0),
                                                                   ([[1.0, 2.0]], 0.9, 10)])
def test_bootstrap_interval_refuses_bad_input(values: list, confidence: float, n_resamples: int) -> None:
    with pytest.raises(InputError):
        bootstrap_interval(values, confidence, n_resamples)


def test_bootstrap_interval_narrows_as_the_confidence_drops() -> None:
    values = [1.0] * 30 + [0.0] * 20
    wide, narrow = bootstrap_interval(values, 0.99), bootstrap_interval(values, 0.5)
    assert wide[0] < narrow[0] < 0.6 < narrow[1] < wide[1]


def test_majority_vote_counts_in_order_of_appearance() -> None:
    assert majority_vote(["b", "a", "a", "b", "c"]) == "b"
    assert majority_vote(["c", "a", "b", "b"]) == "b"
