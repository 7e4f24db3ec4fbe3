from __future__ import annotations

import json

import numpy as np
import pytest

from zero2hero.bench import contract_problems
from zero2hero.errors import InputError
from zero2hero.finetuning.metrics import classification_report, expected_calibration_error, reliability_bins

# Five reviews, worked by hand: truth great, great, other, other, other; predictions great, other, other, other, great.
Y_TRUE = [0, 0, 1, 1, 1]
Y_PRED = [0, 1, 1, 1, 0]
PROBS = [[0.8, 0.2], [0.4, 0.6], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]]


def test_binary_report_matches_the_hand_worked_example() -> None:
    report = classification_report(Y_TRUE, Y_PRED, PROBS, ["great", "other"])
    assert report.accuracy == pytest.approx(3 / 5)
    great, other = report.per_class
    assert (great.name, great.precision, great.recall, great.f1, great.support) == ("great", 0.5, 0.5, 0.5, 2)
    assert (other.precision, other.recall, other.f1, other.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    assert report.macro_f1 == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert report.micro_f1 == pytest.approx(3 / 5)
    assert report.confusion == [[1, 1], [1, 2]]
    # P(other) ranks 5 of the 6 (other, great) pairs correctly: 0.9 and 0.7 beat 0.2 and 0.6; 0.4 beats 0.2 only.
    assert report.roc_auc == pytest.approx(5 / 6)
    # Confidences of the predictions 0.8 ok, 0.6 wrong, 0.9 ok, 0.7 ok, 0.4->0.6 wrong: bins 0.6 (2, acc 0),
    # 0.7, 0.8, 0.9 (1 each, acc 1): ECE = 2/5 * 0.6 + 1/5 * (0.3 + 0.2 + 0.1) = 0.36.
    assert report.expected_calibration_error == pytest.approx(0.36)


def test_figures_follow_the_naming_contract() -> None:
    report = classification_report(Y_TRUE, Y_PRED, PROBS, ["great", "other"])
    figures = report.figures("validation")
    assert contract_problems(figures) == []
    assert figures["validation_accuracy"] == pytest.approx(0.6) and figures["validation_examples_count"] == 5
    assert {"true_label": "other", "predicted_label": "great", "examples_count": 1} in figures["confusion"]
    assert json.loads(report.to_json())["test_roc_auc_ratio"] == pytest.approx(5 / 6)
    without_probabilities = classification_report(Y_TRUE, Y_PRED, None, ["great", "other"])
    assert without_probabilities.roc_auc is None and without_probabilities.reliability is None
    assert "test_roc_auc_ratio" not in without_probabilities.figures()


def test_multiclass_roc_auc_is_one_vs_rest() -> None:
    truth = [0, 1, 2, 0, 1, 2]
    ranked_right = np.eye(3)[truth] * 0.8 + 0.2 / 3  # each true class gets the highest probability
    assert classification_report(truth, truth, ranked_right, ["a", "b", "c"]).roc_auc == pytest.approx(1.0)
    # Each example puts 0.87 on the class after its true one. Per class, its 2 positives score 0.07: they tie
    # with 2 of the 4 negatives (half a pair each) and lose to the 2 at 0.87: (4 * 0.5) / 8 pairs = 0.25.
    predicted = [1, 2, 0, 1, 2, 0]
    ranked_wrong = np.eye(3)[predicted] * 0.8 + 0.2 / 3
    assert classification_report(truth, predicted, ranked_wrong, ["a", "b", "c"]).roc_auc == pytest.approx(0.25)


def test_roc_auc_is_undefined_for_a_single_true_class() -> None:
    assert classification_report([1, 1], [1, 0], [[0.2, 0.8], [0.6, 0.4]], ["a", "b"]).roc_auc is None


def test_ece_matches_a_hand_worked_example() -> None:
    # bin [0.9, 1]: 0.92 right, 0.98 wrong -> |0.5 - 0.95| * 2/5 = 0.18; bin [0.6, 0.7): both right ->
    # |1 - 0.63| * 2/5 = 0.148; bin [0.3, 0.4): 0.35 wrong -> 0.35 * 1/5 = 0.07. Sum 0.398.
    assert expected_calibration_error([0.92, 0.98, 0.61, 0.65, 0.35], [1, 0, 1, 1, 0]) == pytest.approx(0.398)


def test_ece_is_near_zero_when_calibrated_and_large_when_confidently_wrong() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 200_000)
    correct = rng.random(200_000) < confidence  # right exactly as often as it claims
    assert expected_calibration_error(confidence, correct) < 0.005
    assert expected_calibration_error(np.full(100, 0.99), np.zeros(100, bool)) == pytest.approx(0.99)
    assert expected_calibration_error(np.full(100, 0.99), np.ones(100, bool)) == pytest.approx(0.01)


def test_reliability_bins_edges_counts_and_empty_bins() -> None:
    bins = reliability_bins([0.3, 0.29, 1.0, 0.95, 0.0], [True, False, True, False, True], n_bins=10)
    assert [(b.lower, b.upper) for b in bins[:2]] == [(0.0, 0.1), (0.1, 0.2)]
    assert [b.count for b in bins] == [1, 0, 1, 1, 0, 0, 0, 0, 0, 2]  # 0.3 opens [0.3, 0.4); 1.0 is in the last
    assert bins[1].mean_confidence is None and bins[1].accuracy is None
    assert bins[9].mean_confidence == pytest.approx(0.975) and bins[9].accuracy == 0.5


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match="two equal, non-empty"):
        reliability_bins([0.5, 0.6], [True])
    with pytest.raises(InputError, match="between 0 and 1"):
        expected_calibration_error([1.5], [True])
    with pytest.raises(InputError, match="n_bins"):
        expected_calibration_error([0.5], [True], n_bins=0)
    with pytest.raises(InputError, match="shape \\(5, 3\\), expected \\(5, 2\\)"):
        classification_report(Y_TRUE, Y_PRED, np.full((5, 3), 1 / 3), ["great", "other"])
    with pytest.raises(InputError, match="sum to 1"):
        classification_report(Y_TRUE, Y_PRED, np.full((5, 2), 0.7), ["great", "other"])
    with pytest.raises(InputError, match="outside 0..1"):
        classification_report([0, 2], [0, 1], None, ["great", "other"])
    with pytest.raises(InputError, match="y_true has 5 labels but y_pred 2"):
        classification_report(Y_TRUE, [0, 1], None, ["great", "other"])
