"""Accuracy, macro-F1 and the confusion matrix, counted by hand: what scikit-learn computes for
:func:`zero2hero.finetuning.metrics.classification_report` (the exercise checks prove they agree).

Everything follows from the confusion matrix: row i holds the examples whose true label is i, column j
those predicted as j. The diagonal is what the model got right; a class's false positives are the rest of
its column, its false negatives the rest of its row.
"""

from __future__ import annotations

from collections.abc import Sequence


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> list[list[int]]:
    """Counts (n_labels, n_labels): ``matrix[i][j]`` is the number of examples of true label i predicted as j.

    ``y_true`` and ``y_pred`` (n,) hold label ids in 0..n_labels-1; a label that never occurs still has its
    row and column (of zeros).
    """
    matrix = [[0] * n_labels for _ in range(n_labels)]
    for truth, predicted in zip(y_true, y_pred, strict=True):
        matrix[truth][predicted] += 1
    return matrix


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """The share of examples (n,) whose predicted label equals the true one, between 0 and 1."""
    return sum(truth == predicted for truth, predicted in zip(y_true, y_pred, strict=True)) / len(y_true)


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
    """The mean over the ``n_labels`` classes of each class's F1, every class weighted the same.

    A class's F1 is 2·TP / (2·TP + FP + FN) — the harmonic mean of its precision TP / (TP + FP) and recall
    TP / (TP + FN) — and 0 when it has no true example and no prediction (2·TP + FP + FN = 0).
    """
    matrix = confusion_matrix(y_true, y_pred, n_labels)
    f1s = []
    for label in range(n_labels):
        true_positives = matrix[label][label]
        false_positives = sum(matrix[other][label] for other in range(n_labels)) - true_positives
        false_negatives = sum(matrix[label]) - true_positives
        denominator = 2 * true_positives + false_positives + false_negatives
        f1s.append(2 * true_positives / denominator if denominator else 0.0)
    return sum(f1s) / n_labels
