"""Chapter 5: each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake.

The wrong solutions are the reference functions with one replaced by a broken copy (see tests/checks/test_hints.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import pytest
import torch

from tests.checks.mutation import failure_message
from tests.exercises import test_ch05_exercises as ch5
from zero2hero.checks import reference_namespace
from zero2hero.checks.feedback import one_thread
from zero2hero.finetuning.data import Example


def _with(**wrong: Callable) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(reference_namespace(ch5.REFERENCE)), **wrong})



# ---- one optimizer step: each mistake, written the way a learner would ----------------------------------------------

def _step_with(mistake: str) -> Callable:
    def optimizer_step(model, optimizer, scheduler, batches, max_grad_norm, device):
        model.train()
        if mistake == "scheduler first":
            scheduler.step()
        losses = []
        for batch in batches:
            loss = model(**{key: value.to(device) for key, value in batch.items()}).loss
            (loss / len(batches)).backward()
            losses.append(loss.item())
        if mistake != "clip after step":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        learning_rate = scheduler.get_last_lr()[0]
        optimizer.step()
        if mistake == "clip after step":
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        if mistake != "scheduler first":
            scheduler.step()
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        return sum(losses) / len(losses), learning_rate

    return optimizer_step


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
@pytest.mark.parametrize(("mistake", "check", "hint"), [
    ("no zero_grad", ch5.test_optimizer_step_with_accumulation_matches_a_correct_step,
     "hint: the gradients of the previous step were added to this one: call optimizer.zero_grad()"),
    ("scheduler first", ch5.test_optimizer_step_with_accumulation_matches_a_correct_step,
     "hint: the scheduler was stepped before the optimizer"),
    ("clip after step", ch5.test_optimizer_step_clips_the_gradient,
     "hint: the update used the unclipped gradients: clip_grad_norm_ goes after backward and *before*"),
])
def test_optimizer_step_mistakes_are_named(mistake: str, check: Callable, hint: str) -> None:
    message = failure_message(check, _with(optimizer_step=_step_with(mistake)))
    assert "the parameters after step" in message
    assert hint in message
    others = [text for name, text in ch5._STEP_HINTS.items() if name != mistake]
    assert not any(text in message for text in others), message


def test_a_correct_step_written_independently_passes() -> None:
    learner = _with(optimizer_step=_step_with("none"))
    with one_thread():
        ch5.test_optimizer_step_with_accumulation_matches_a_correct_step(learner)
        ch5.test_optimizer_step_clips_the_gradient(learner)


def test_summed_accumulation_is_named() -> None:
    def summed(model, optimizer, scheduler, batches, max_grad_norm, device):
        model.train()
        losses = [model(**batch).loss for batch in batches]
        sum(losses).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        learning_rate = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        return sum(loss.item() for loss in losses) / len(losses), learning_rate

    message = failure_message(ch5.test_optimizer_step_with_accumulation_matches_a_correct_step,
                              _with(optimizer_step=summed))
    assert "hint: divide each batch's loss by the number of batches" in message


def test_forgetting_train_mode_is_named() -> None:
    reference = reference_namespace(ch5.REFERENCE).optimizer_step

    def stays_in_eval(model, optimizer, scheduler, batches, max_grad_norm, device):
        result = reference(model, optimizer, scheduler, batches, max_grad_norm, device)
        model.eval()
        return result

    message = failure_message(ch5.test_optimizer_step_clips_the_gradient, _with(optimizer_step=stays_in_eval))
    assert "expected train mode, got eval mode" in message and "hint: call model.train() first" in message


# ---- the schedule ------------------------------------------------------------------------------------------------

def test_warmup_off_by_one_is_named() -> None:
    def off_by_one(step: int, warmup_steps: int, total_steps: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    message = failure_message(ch5.test_warmup_then_decay_matches_transformers,
                              _with(linear_warmup_then_decay=off_by_one))
    assert "warmup_steps=3, total_steps=10" in message and "first at index 0: expected 0, got 0.333333" in message
    assert "hint: warm-up off by one" in message


def test_schedule_without_zero_warmup_guard_is_named() -> None:
    def divides_by_warmup(step: int, warmup_steps: int, total_steps: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    message = failure_message(ch5.test_warmup_then_decay_matches_transformers,
                       _with(linear_warmup_then_decay=divides_by_warmup))
    assert "warmup_steps=4, total_steps=4" in message and "ZeroDivisionError" in message
    assert "hint: divide by max(1, warmup_steps)" in message


# ---- metrics ----------------------------------------------------------------------------------------------------

def test_micro_instead_of_macro_f1_is_named() -> None:
    def micro(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
        return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)

    message = failure_message(ch5.test_macro_f1_matches_scikit_learn, _with(macro_f1=micro))
    assert "hint: that is micro-F1" in message
    assert "support-weighted" not in message


def test_macro_f1_over_present_labels_is_named() -> None:
    reference = reference_namespace(ch5.REFERENCE).macro_f1

    def present_only(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
        present = len(set(y_true) | set(y_pred))
        return reference(y_true, y_pred, n_labels) * n_labels / present

    message = failure_message(ch5.test_macro_f1_matches_scikit_learn, _with(macro_f1=present_only))
    assert "n_labels=4" in message and "hint: divide by n_labels" in message


def test_swapped_confusion_matrix_is_named() -> None:
    def swapped(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> list[list[int]]:
        matrix = [[0] * n_labels for _ in range(n_labels)]
        for truth, predicted in zip(y_true, y_pred, strict=True):
            matrix[predicted][truth] += 1
        return matrix

    message = failure_message(ch5.test_confusion_matrix_matches_scikit_learn, _with(confusion_matrix=swapped))
    assert "first difference at item 0" in message and "hint: rows and columns swapped" in message


def test_accuracy_as_a_count_is_named() -> None:
    def count(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
        return float(sum(t == p for t, p in zip(y_true, y_pred, strict=True)))

    assert "hint: return a share between 0 and 1" in failure_message(ch5.test_accuracy_matches_scikit_learn,
                                                              _with(accuracy=count))


# ---- the split --------------------------------------------------------------------------------------------------

def _split_with(make_rng: Callable[[int], random.Random], per_class: bool = True) -> Callable:
    def stratified_split(examples: list[Example], validation_share: float = 0.1, seed: int = 0):
        rng = make_rng(seed)
        labels = sorted({e.label for e in examples})
        groups = ([[i for i, e in enumerate(examples) if e.label == label] for label in labels]
                  if per_class else [list(range(len(examples)))])
        chosen: set[int] = set()
        for positions in groups:
            rng.shuffle(positions)
            chosen.update(positions[: round(validation_share * len(positions))])
        return ([e for i, e in enumerate(examples) if i not in chosen],
                [e for i, e in enumerate(examples) if i in chosen])

    return stratified_split


def test_unseeded_shuffle_is_named() -> None:
    message = failure_message(ch5.test_stratified_split_keeps_class_shares_and_is_seeded,
                       _with(stratified_split=_split_with(lambda seed: random.Random())))
    assert "called twice with seed=3" in message and "hint: an unseeded shuffle" in message


def test_a_split_that_ignores_classes_is_named() -> None:
    message = failure_message(ch5.test_stratified_split_keeps_class_shares_and_is_seeded,
                       _with(stratified_split=_split_with(random.Random, per_class=False)))
    assert "examples per class in validation" in message and "hint: split each class on its own" in message


# ---- early stopping ---------------------------------------------------------------------------------------------

def test_stopping_at_the_first_non_improvement_is_named() -> None:
    def impatient(scores: Sequence[float], patience: int) -> tuple[int, bool]:
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return best, len(scores) > 1 and scores[-1] <= max(scores[:-1])

    message = failure_message(ch5.test_early_stopping_waits_for_patience, _with(early_stopping=impatient))
    assert "hint: stop only after `patience` evaluations in a row without improvement" in message


def test_ties_counted_as_improvement_are_named() -> None:
    def ties_improve(scores: Sequence[float], patience: int) -> tuple[int, bool]:
        best = max(range(len(scores)), key=lambda i: (scores[i], i))
        return best, len(scores) - 1 - best >= patience

    message = failure_message(ch5.test_early_stopping_waits_for_patience, _with(early_stopping=ties_improve))
    assert "hint: a tie is not an improvement" in message
