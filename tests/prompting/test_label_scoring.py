"""Decisions from label log-probs, and the two calibrations, on cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zero2hero.errors import InputError
from zero2hero.prompting.label_scoring import (
    CONTENT_FREE_TEXTS,
    content_free_inputs,
    contextual_calibration,
    decide,
    threshold_on_dev,
)


def test_decide_takes_the_highest_log_prob_and_the_first_on_a_tie() -> None:
    assert decide([[-1.0, -2.0, -3.0], [-5.0, -4.0, -0.1], [-2.0, -2.0, -9.0]]) == [0, 2, 0]


def test_decide_refuses_scores_and_calibrations_of_the_wrong_shape() -> None:
    for scores in ([], [[-1.0]], [-1.0, -2.0]):
        with pytest.raises(InputError):
            decide(scores)
    with pytest.raises(InputError, match="one calibration value per label"):
        decide([[-1.0, -2.0]], calibration=[0.0, 0.0, 0.0])


def test_contextual_calibration_divides_by_the_content_free_probabilities() -> None:
    # two content-free inputs: label probabilities 0.8 / 0.2 (given unnormalised, as 0.4 and 0.1) and 0.6 / 0.4
    content_free = [[math.log(0.4), math.log(0.1)], [math.log(0.6), math.log(0.4)]]
    calibration = contextual_calibration(content_free)
    assert calibration == pytest.approx([math.log(0.7), math.log(0.3)])  # the mean probabilities, in logs
    # an item at 0.6 / 0.4: 0.6 / 0.7 = 0.86 < 0.4 / 0.3 = 1.33, so the calibrated decision flips to label 1
    item = [[math.log(0.6), math.log(0.4)]]
    assert decide(item) == [0] and decide(item, calibration) == [1]


def test_content_free_inputs_replace_only_the_text() -> None:
    inputs = content_free_inputs({"review": "Lovely tea.", "product": "tea"}, "review")
    assert inputs == [{"review": text, "product": "tea"} for text in CONTENT_FREE_TEXTS]
    assert CONTENT_FREE_TEXTS == ("N/A", "", "[MASK]")
    with pytest.raises(InputError, match="no variable 'text'"):
        content_free_inputs({"review": "x"}, "text")


def _accuracy(scores: np.ndarray, labels: np.ndarray, calibration: list[float]) -> float:
    return float((np.array(decide(scores, calibration)) == labels).mean())


def test_threshold_on_dev_maximises_dev_accuracy() -> None:
    # log-prob differences score[1] - score[0] of -2, -1, 0.5, 1, 3 with labels 0, 1, 1, 1, 1: at 0 the item at -1 is
    # wrong; any threshold between -2 and -1 gets all five; the midpoint -1.5 is kept
    margins = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])
    scores = np.stack([np.zeros(5), margins], axis=1)
    labels = np.array([0, 1, 1, 1, 1])
    calibration = threshold_on_dev(scores, labels)
    assert calibration == [0.0, -1.5]
    assert _accuracy(scores, labels, [0.0, 0.0]) == 0.8 and _accuracy(scores, labels, calibration) == 1.0


def test_threshold_on_dev_is_no_worse_than_any_threshold_and_prefers_no_change() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 80)
    scores = rng.normal(0.0, 1.0, (80, 2)) + 0.8 * np.stack([1 - labels, labels], axis=1) + [0.0, -0.7]  # biased
    best = _accuracy(scores, labels, threshold_on_dev(scores, labels))
    assert all(best >= _accuracy(scores, labels, [0.0, t]) for t in np.linspace(-4, 4, 801))
    # already right at 0: no change
    assert threshold_on_dev([[0.0, 1.0], [0.0, -1.0]], [1, 0]) == [0.0, 0.0]


def test_threshold_on_dev_refuses_more_than_two_labels() -> None:
    with pytest.raises(InputError, match="contextual calibration"):
        threshold_on_dev([[0.0, 1.0, 2.0]], [1])
