"""Classification by a language model from its label log-probabilities, and two ways to calibrate the decision.

A prompt "Review: ...\\nSentiment:" followed by " positive" or " negative" gives each label a log-probability
(:func:`~zero2hero.prompting.functional.label_log_probs`); the decision is the label with the highest. A small model
is biased towards some label words whatever the review says. Two corrections, both fitted without the test items:

* contextual calibration (Zhao et al. 2021, "Calibrate Before Use"): score the same prompt with a content-free text
  ("N/A", "", "[MASK]") in place of the review; the label probabilities it gets are the model's bias, divided out;
* a threshold on the log-prob difference of two labels, chosen to maximise accuracy on a dev split and applied
  unchanged to the test split.

Both give a calibration vector that :func:`decide` subtracts from every row of log-probs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from zero2hero.errors import InputError

CONTENT_FREE_TEXTS = ("N/A", "", "[MASK]")  # Zhao et al. 2021's content-free inputs


def _matrix(scores: Sequence[Sequence[float]], what: str) -> np.ndarray:
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] < 2:
        raise InputError(f"the {what} have shape {matrix.shape}, not (items, labels) with at least 2 labels",
                         "give one row of label log-probabilities per item, one column per label")
    return matrix


def decide(scores: Sequence[Sequence[float]], calibration: Sequence[float] | None = None) -> list[int]:
    """The chosen label's index for each row of ``scores`` (items, labels) of label log-probs.

    With ``calibration`` (labels,), the argmax of ``scores - calibration``: from :func:`contextual_calibration` or
    :func:`threshold_on_dev`. A tie goes to the first label.

    >>> decide([[-1.0, -2.0], [-3.0, -0.5]])
    [0, 1]
    >>> decide([[-1.0, -2.0]], calibration=[0.0, -1.5])  # -2 - (-1.5) = -0.5 beats -1
    [1]
    """
    matrix = _matrix(scores, "scores")
    if calibration is not None:
        shift = np.asarray(calibration, dtype=np.float64)
        if shift.shape != (matrix.shape[1],):
            raise InputError(f"the calibration has shape {shift.shape} for {matrix.shape[1]} labels",
                             "give one calibration value per label, in the labels' order")
        matrix = matrix - shift
    return matrix.argmax(axis=1).tolist()


def content_free_inputs(variables: Mapping[str, str], text_variable: str,
                        texts: Sequence[str] = CONTENT_FREE_TEXTS) -> list[dict[str, str]]:
    """An item's template values with its text replaced by each content-free text, the other values kept.

    Rendered with the same template and shots as the real items, they show which label the prompt itself favours.
    """
    if text_variable not in variables:
        raise InputError(f"the item has no variable {text_variable!r}",
                         f"name the variable that holds the item's text (variables: {', '.join(sorted(variables))})")
    return [{**variables, text_variable: text} for text in texts]


def contextual_calibration(content_free_scores: Sequence[Sequence[float]]) -> list[float]:
    """The calibration vector (labels,) from the label log-probs of the content-free inputs (one row each).

    Each row is turned into probabilities over the labels only (a softmax over the row); their mean ``p_cf`` is the
    prompt's bias. Zhao et al. divide every item's label probabilities by ``p_cf``: in logs, subtract ``log p_cf``.
    """
    matrix = _matrix(content_free_scores, "content-free scores")
    probabilities = np.exp(matrix - matrix.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)  # (inputs, labels), each row sums to 1
    return np.log(probabilities.mean(axis=0)).tolist()


def threshold_on_dev(dev_scores: Sequence[Sequence[float]], dev_labels: Sequence[int]) -> list[float]:
    """For two labels: the calibration vector ``[0, t]`` whose threshold t on ``score[1] - score[0]`` maximises the
    accuracy on the dev items (``decide`` then picks label 1 exactly when the difference exceeds t).

    Candidates are 0 (no change), the midpoints between consecutive distinct differences and one value past each end;
    among the thresholds of equal dev accuracy the one closest to 0 is kept.
    """
    matrix = _matrix(dev_scores, "dev scores")
    labels = np.asarray(dev_labels)
    if matrix.shape[1] != 2 or labels.shape != (matrix.shape[0],) or not np.isin(labels, (0, 1)).all():
        raise InputError(f"threshold_on_dev takes (items, 2) scores and one 0/1 label per item; got scores of shape "
                         f"{matrix.shape} and {labels.size} labels", "use contextual calibration for more labels")
    margins = matrix[:, 1] - matrix[:, 0]
    edges = np.unique(margins)
    candidates = np.concatenate([[0.0, edges[0] - 1.0], (edges[:-1] + edges[1:]) / 2, [edges[-1] + 1.0]])
    accuracies = ((margins[None, :] > candidates[:, None]) == (labels[None, :] == 1)).mean(axis=1)
    best = candidates[accuracies == accuracies.max()]
    return [0.0, float(best[np.abs(best).argmin()])]
