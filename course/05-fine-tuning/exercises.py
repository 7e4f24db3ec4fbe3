"""Chapter 5 exercises: the pieces of a fine-tuning run that a library usually hides.

Chapter 5 fine-tunes a small pretrained encoder (MiniLM) to classify Amazon fine-food reviews ("great" or
"other"): splitting the data without leaking it, measuring the classifier (accuracy, macro-F1, the confusion
matrix, calibration), and the training loop itself (the learning-rate schedule, one optimizer step with
gradient accumulation and clipping, early stopping), beside transformers' Trainer.

You write, in order: a stratified train/validation split, the confusion matrix, accuracy and macro-F1 (checked
against scikit-learn), the warm-up + linear-decay learning-rate factor (checked against transformers'
``get_linear_schedule_with_warmup``), one optimizer step (checked, parameter for parameter, against a correct
step on a tiny BERT classifier) and the early-stopping decision. Later functions may call earlier ones.

Fill in each function, then run `z2h check 5`. Shapes are in the docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from zero2hero.finetuning.data import Example


def stratified_split(examples: list[Example], validation_share: float = 0.1, seed: int = 0
                     ) -> tuple[list[Example], list[Example]]:
    """Split ``examples`` into (train, validation), each class in the same proportion in both.

    Per class (in label order), the examples' positions are shuffled with ``random.Random(seed)`` and
    the first ``round(validation_share * n_class)`` go to validation. Both parts keep the input order.
    """
    raise NotImplementedError


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> list[list[int]]:
    """Counts (n_labels, n_labels): ``matrix[i][j]`` is the number of examples of true label i predicted as j.

    ``y_true`` and ``y_pred`` (n,) hold label ids in 0..n_labels-1; a label that never occurs still has its
    row and column (of zeros).
    """
    raise NotImplementedError


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """The share of examples (n,) whose predicted label equals the true one, between 0 and 1."""
    raise NotImplementedError


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
    """The mean over the ``n_labels`` classes of each class's F1, every class weighted the same.

    A class's F1 is 2·TP / (2·TP + FP + FN) — the harmonic mean of its precision TP / (TP + FP) and recall
    TP / (TP + FN) — and 0 when it has no true example and no prediction (2·TP + FP + FN = 0).
    """
    raise NotImplementedError


def linear_warmup_then_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """The factor multiplying the peak learning rate before optimizer step ``step`` (0-based).

    0 → 1 linearly over ``warmup_steps``, then 1 → 0 linearly until ``total_steps``; never negative.
    Step 0 gets 0, step ``warmup_steps`` gets 1; with ``warmup_steps = 0`` the decay starts at once.
    """
    raise NotImplementedError


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, batches: list[dict[str, torch.Tensor]],
                   max_grad_norm: float, device: torch.device) -> tuple[float, float]:
    """One update of the weights from ``batches``; returns (their mean loss, the learning rate used).

    ``batches``: the padded batches of this step (gradient accumulation: one or more), each a dict of
    ``input_ids`` and ``attention_mask`` (batch, length) and ``labels`` (batch,) that ``model(**batch)`` takes.
    In order: in train mode, for each batch (moved to ``device``) the forward pass and its ``.loss`` divided by
    the number of batches, then ``backward``; clip the gradients' global norm to ``max_grad_norm``; read the
    learning rate (``scheduler.get_last_lr()[0]``); ``optimizer.step()``; ``scheduler.step()``;
    ``optimizer.zero_grad()``. The loss returned is the mean of the batches' undivided losses.
    """
    raise NotImplementedError


def early_stopping(scores: Sequence[float], patience: int) -> tuple[int, bool]:
    """From the validation scores so far (higher is better, one per evaluation, oldest first), return
    (index of the best evaluation, whether to stop now).

    An evaluation improves only when its score is strictly above every earlier one, so on a tie the earlier
    evaluation stays the best. Stop once ``patience`` evaluations in a row after the best have not improved.
    E.g. scores [0.5, 0.7, 0.6, 0.7] with patience 2 -> (1, True); with patience 3 -> (1, False).
    """
    raise NotImplementedError
