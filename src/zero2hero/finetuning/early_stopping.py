"""Early stopping: stop training once the validation score has not improved for ``patience`` evaluations.

One evaluation that is no better is noise as often as it is a trend, so the run gets ``patience`` chances
to beat its best score; the model kept is the one of the best evaluation, not the last.
"""

from __future__ import annotations

from collections.abc import Sequence


def early_stopping(scores: Sequence[float], patience: int) -> tuple[int, bool]:
    """From the validation scores so far (higher is better, one per evaluation, oldest first), return
    (index of the best evaluation, whether to stop now).

    An evaluation improves only when its score is strictly above every earlier one, so on a tie the earlier
    evaluation stays the best. Stop once ``patience`` evaluations in a row after the best have not improved.
    E.g. scores [0.5, 0.7, 0.6, 0.7] with patience 2 -> (1, True); with patience 3 -> (1, False).
    """
    best = 0
    for index, score in enumerate(scores):
        if score > scores[best]:
            best = index
    return best, len(scores) - 1 - best >= patience
