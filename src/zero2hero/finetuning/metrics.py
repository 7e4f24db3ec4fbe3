"""How good a classifier is: accuracy, per-class precision/recall/F1, confusion, ROC-AUC, calibration.

scikit-learn computes the classification scores. Calibration is written out, because it is the
lesson: a model is *calibrated* when, of the predictions it makes with confidence 0.8, about 80 % are
right. :func:`reliability_bins` groups predictions by confidence; :func:`expected_calibration_error`
(ECE) is the gap between confidence and accuracy per bin, weighted by the bin's share of predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score

from zero2hero.errors import InputError


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions whose confidence falls in [lower, upper) (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int
    mean_confidence: float | None  # None for an empty bin
    accuracy: float | None


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int  # how many examples truly have this label


@dataclass
class ClassificationMetrics:
    """Scores of one set of predictions. ``confusion[i][j]``: examples of label i predicted as j."""

    label_names: list[str]
    accuracy: float
    per_class: list[ClassScores]
    macro_f1: float  # the mean of the classes' F1: every class counts the same, however rare
    micro_f1: float  # F1 over all decisions pooled; equals accuracy when each example has one label
    confusion: list[list[int]]
    roc_auc: float | None  # None without probabilities, or when the true labels hold a single class
    expected_calibration_error: float | None  # None without probabilities
    reliability: list[ReliabilityBin] | None

    def figures(self, subject: str = "test") -> dict[str, Any]:
        """Flat JSON-ready figures named ``<subject>_<quantity>_<unit>`` (see :mod:`zero2hero.units`), rows in lists."""
        figures: dict[str, Any] = {
            f"{subject}_examples_count": sum(c.support for c in self.per_class),
            f"{subject}_accuracy": self.accuracy,
            f"{subject}_macro_f1": self.macro_f1,
            f"{subject}_micro_f1": self.micro_f1,
        }
        if self.roc_auc is not None:
            figures[f"{subject}_roc_auc_ratio"] = self.roc_auc
        if self.expected_calibration_error is not None:
            figures[f"{subject}_expected_calibration_error_ratio"] = self.expected_calibration_error
        figures["per_class"] = [{"label": c.name, "precision_ratio": c.precision, "recall_ratio": c.recall,
                                 "class_f1": c.f1, "support_count": c.support} for c in self.per_class]
        figures["confusion"] = [{"true_label": true, "predicted_label": predicted, "examples_count": count}
                                for true, row in zip(self.label_names, self.confusion, strict=True)
                                for predicted, count in zip(self.label_names, row, strict=True)]
        if self.reliability is not None:
            figures["reliability"] = [{"bin_lower_ratio": b.lower, "bin_upper_ratio": b.upper,
                                       "predictions_count": b.count, "mean_confidence_ratio": b.mean_confidence,
                                       "bin_accuracy": b.accuracy} for b in self.reliability if b.count]
        return figures

    def to_json(self, subject: str = "test") -> str:
        return json.dumps(self.figures(subject), indent=2)


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], probabilities: Any | None,
                          label_names: list[str], n_bins: int = 10) -> ClassificationMetrics:
    """Score predictions ``y_pred`` (label ids, shape (n,)) against ``y_true`` (n,).

    ``probabilities`` (n, n_labels), rows summing to 1, or None: ROC-AUC (binary: from the probability
    of label 1; more labels: one-vs-rest, macro-averaged) and calibration (the confidence of each
    prediction is the probability given to the predicted label) need them.
    """
    truth, predicted = _label_ids(y_true, "y_true", len(label_names)), _label_ids(y_pred, "y_pred", len(label_names))
    if len(truth) != len(predicted):
        raise InputError(f"y_true has {len(truth)} labels but y_pred {len(predicted)}",
                         "pass one prediction per example")
    labels = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    roc_auc = ece = bins = None
    if probabilities is not None:
        probs = _probabilities(probabilities, len(truth), len(label_names))
        roc_auc = _roc_auc(truth, probs)
        confidences = probs[np.arange(len(predicted)), predicted]
        bins = reliability_bins(confidences, predicted == truth, n_bins)
        ece = _ece_from_bins(bins)
    return ClassificationMetrics(
        label_names=list(label_names),
        accuracy=float(accuracy_score(truth, predicted)),
        per_class=[ClassScores(name, float(p), float(r), float(f), int(s))
                   for name, p, r, f, s in zip(label_names, precision, recall, f1, support, strict=True)],
        macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        micro_f1=float(f1_score(truth, predicted, labels=labels, average="micro", zero_division=0)),
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        roc_auc=roc_auc, expected_calibration_error=ece, reliability=bins,
    )


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> list[ReliabilityBin]:
    """Group predictions into ``n_bins`` equal-width confidence bins: per bin its count, mean confidence, accuracy.

    ``confidences`` (n,) in [0, 1]: how sure the model was of each prediction; ``correct`` (n,): whether
    it was right. Bin b holds confidences in [b / n_bins, (b + 1) / n_bins); the last also holds 1.0.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    if conf.ndim != 1 or conf.shape != right.shape or conf.size == 0:
        raise InputError(f"confidences {conf.shape} and correct {right.shape} must be two equal, non-empty lists",
                         "pass one confidence and one right/wrong flag per prediction")
    if not np.all((conf >= 0) & (conf <= 1)):
        raise InputError("confidences must lie between 0 and 1", "pass probabilities, e.g. the softmax's largest value")
    if n_bins < 1:
        raise InputError(f"n_bins must be at least 1, got {n_bins}", "use e.g. 10 bins")
    edges = np.arange(n_bins + 1) / n_bins  # exact divisions, so a confidence of 0.3 lands in [0.3, 0.4)
    which = np.minimum(np.searchsorted(edges, conf, side="right") - 1, n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = which == b
        count = int(members.sum())
        bins.append(ReliabilityBin(lower=float(edges[b]), upper=float(edges[b + 1]), count=count,
                                   mean_confidence=float(conf[members].mean()) if count else None,
                                   accuracy=float(right[members].mean()) if count else None))
    return bins


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE = sum over bins of (bin count / n) * |bin accuracy - bin mean confidence|; 0 is perfectly calibrated.

    A model that is right 60 % of the time when 90 % sure adds 0.3 times that bin's share of predictions.
    """
    return _ece_from_bins(reliability_bins(confidences, correct, n_bins))


def _ece_from_bins(bins: list[ReliabilityBin]) -> float:
    total = sum(b.count for b in bins)
    return float(sum(b.count / total * abs(b.accuracy - b.mean_confidence) for b in bins if b.count))


def _label_ids(values: Sequence[int], name: str, n_labels: int) -> np.ndarray:
    ids = np.asarray(values)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise InputError(f"{name} must be a non-empty list of label ids (whole numbers), got shape {ids.shape} "
                         f"of {ids.dtype}", "pass the index of each label, e.g. 0 or 1")
    if ids.min() < 0 or ids.max() >= n_labels:
        raise InputError(f"{name} holds label ids outside 0..{n_labels - 1}", "check the label names you passed")
    return ids


def _probabilities(values: Any, n_examples: int, n_labels: int) -> np.ndarray:
    probs = np.asarray(values, dtype=np.float64)
    if probs.shape != (n_examples, n_labels):
        raise InputError(f"probabilities have shape {probs.shape}, expected ({n_examples}, {n_labels})",
                         "pass one row per example and one column per label (the softmax of the logits)")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) or probs.min() < 0:
        raise InputError("each row of probabilities must be non-negative and sum to 1",
                         "apply a softmax to the logits first")
    return probs


def _roc_auc(truth: np.ndarray, probs: np.ndarray) -> float | None:
    if len(np.unique(truth)) < 2:
        return None  # undefined: there is no pair of a positive and a negative example to rank
    if probs.shape[1] == 2:
        return float(roc_auc_score(truth, probs[:, 1]))
    if len(np.unique(truth)) < probs.shape[1]:
        return None  # one-vs-rest needs each class among the true labels
    return float(roc_auc_score(truth, probs, multi_class="ovr", labels=list(range(probs.shape[1]))))
