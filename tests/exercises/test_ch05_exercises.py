"""Chapter 5 exercise checks: `z2h check 5` runs them on course/05-fine-tuning/exercises.py.

Oracles: scikit-learn's accuracy, F1 and confusion matrix; transformers' ``get_linear_schedule_with_warmup``;
a correct optimizer step written out here and run on a tiny BERT classifier built here; the split procedure the
docstring describes, written out here; hand-worked early-stopping decisions.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter

import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from zero2hero.checks.feedback import expect, expect_close, expect_equal, fail
from zero2hero.finetuning.data import Example

CHAPTER = 5
REFERENCE = {
    "stratified_split": "zero2hero.finetuning.splits",
    "confusion_matrix": "zero2hero.finetuning.scores",
    "accuracy": "zero2hero.finetuning.scores",
    "macro_f1": "zero2hero.finetuning.scores",
    "linear_warmup_then_decay": "zero2hero.finetuning.schedule",
    "optimizer_step": "zero2hero.finetuning.loop",
    "early_stopping": "zero2hero.finetuning.early_stopping",
}


# ---- the stratified split ---------------------------------------------------------------------------------------

def _unbalanced_examples() -> list[Example]:
    """80 examples of 3 classes (40, 25 and 15), interleaved; each text names its position."""
    labels = [0] * 40 + [1] * 25 + [2] * 15
    random.Random(11).shuffle(labels)
    return [Example(f"review {i}", label) for i, label in enumerate(labels)]


def _oracle_split(examples: list[Example], share: float, seed: int, generator_per_class: bool = False,
                  order_kept: bool = True) -> list[str]:
    """The texts of the validation part, by the procedure the docstring gives (or a variant of it)."""
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted({e.label for e in examples}):
        positions = [i for i, e in enumerate(examples) if e.label == label]
        (random.Random(seed) if generator_per_class else rng).shuffle(positions)
        chosen += positions[: round(share * len(positions))]
    return [examples[i].text for i in (sorted(chosen) if order_kept else chosen)]


def test_stratified_split_keeps_class_shares_and_is_seeded(ex) -> None:
    examples = _unbalanced_examples()
    share, seed = 0.15, 3
    train, validation = ex.stratified_split(examples, share, seed)
    texts = [e.text for e in validation]
    again = [e.text for e in ex.stratified_split(examples, share, seed)[1]]
    expect_equal(again, texts, f"stratified_split called twice with seed={seed}: the validation parts", hints=[
        (None, "an unseeded shuffle: shuffle with rng = random.Random(seed) (one generator for the whole split), "
               "so the same seed always gives the same split")])
    counts = dict(sorted(Counter(e.label for e in validation).items()))
    expected_counts = {label: round(share * n) for label, n in sorted(Counter(e.label for e in examples).items())}
    expect_equal(counts, expected_counts, f"examples per class in validation (classes of 40, 25 and 15, share {share})",
                 hints=[(lambda g: g == {0: 6, 1: 3, 2: 2}, "use round(validation_share * n_class), not int(...)"),
                        (None, "split each class on its own: group the positions by label, shuffle each group and "
                               "take round(validation_share * n_class) of it")])
    expect_equal(texts, _oracle_split(examples, share, seed), f"the validation part (share {share}, seed {seed})",
                 hints=[(lambda g: g == _oracle_split(examples, share, seed, generator_per_class=True),
                         "make one random.Random(seed) before the loop over classes, not a new one per class"),
                        (lambda g: sorted(g) == sorted(_oracle_split(examples, share, seed)),
                         "the right examples in the wrong order: both parts keep the input order"),
                        (None, "classes in label order (sorted), each class's positions in input order, shuffled "
                               "with rng.shuffle, the first round(share * n_class) to validation")])
    kept = set(texts)
    expect_equal([e.text for e in train], [e.text for e in examples if e.text not in kept],
                 "the train part: every other example, in input order")


# ---- accuracy, macro-F1, the confusion matrix ---------------------------------------------------------------------

def _predictions(seed: int, n: int = 60, n_labels: int = 3) -> tuple[list[int], list[int]]:
    """Unbalanced true labels (half are label 0) and predictions that are right about 60 % of the time."""
    rng = random.Random(seed)
    y_true = [0 if rng.random() < 0.5 else rng.randrange(1, n_labels) for _ in range(n)]
    y_pred = [t if rng.random() < 0.6 else rng.randrange(n_labels) for t in y_true]
    return y_true, y_pred


def test_confusion_matrix_matches_scikit_learn(ex) -> None:
    for n_labels, (y_true, y_pred) in ((3, _predictions(0)), (4, _predictions(1))):  # label 3 never occurs
        expected = sklearn_confusion_matrix(y_true, y_pred, labels=list(range(n_labels))).tolist()
        got = ex.confusion_matrix(y_true, y_pred, n_labels)
        got = [list(map(int, row)) for row in got] if isinstance(got, list | tuple) else got
        transposed = [list(row) for row in zip(*expected, strict=True)]
        expect_equal(got, expected, f"confusion_matrix(y_true, y_pred, n_labels={n_labels})", hints=[
            (lambda g, t=transposed: g == t, "rows and columns swapped: matrix[true][predicted] — row i holds the "
                                             "examples whose *true* label is i"),
            (lambda g, n=n_labels: len(g) < n, "make n_labels rows and columns, even for a label that never occurs"),
        ])


def test_accuracy_matches_scikit_learn(ex) -> None:
    y_true, y_pred = _predictions(2)
    expected = float(accuracy_score(y_true, y_pred))
    got = ex.accuracy(y_true, y_pred)
    expect(isinstance(got, float | int) and abs(got - expected) < 1e-12, "accuracy(y_true, y_pred) on 60 examples",
           f"expected {expected}, got {got!r}", got, hints=[
               (lambda g: g > 1, "return a share between 0 and 1: the number of right predictions / n")])


def _macro_f1_variants(y_true: list[int], y_pred: list[int], n_labels: int) -> list:
    labels = list(range(n_labels))
    present = sorted(set(y_true) | set(y_pred))
    precision = precision_score(y_true, y_pred, labels=labels, average=None, zero_division=0).tolist()
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0).tolist()
    mean_p, mean_r = sum(precision) / n_labels, sum(recall) / n_labels

    def near(value: float):
        return lambda g: abs(g - value) < 1e-9

    return [
        (near(f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0)),
         "that is micro-F1 (all decisions pooled; it equals accuracy here): macro-F1 is the plain mean of the "
         "per-class F1 scores"),
        (near(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
         "that is the support-weighted mean: in macro-F1 every class weighs the same, however rare"),
        (near(2 * mean_p * mean_r / (mean_p + mean_r)),
         "average the per-class F1 scores, not F1 of the averaged precision and recall"),
        (near(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
         "divide by n_labels: a class with no example and no prediction counts, with F1 = 0"),
    ]


def test_macro_f1_matches_scikit_learn(ex) -> None:
    for n_labels, (y_true, y_pred) in ((3, _predictions(3)), (4, _predictions(4))):  # label 3 never occurs
        labels = list(range(n_labels))
        expected = float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        try:
            got = ex.macro_f1(y_true, y_pred, n_labels)
        except ZeroDivisionError:
            fail(f"macro_f1(y_true, y_pred, n_labels={n_labels})", "ZeroDivisionError", hints=[
                (None, "a class with no true example and no prediction has 2·TP + FP + FN = 0: its F1 is 0")])
        expect(isinstance(got, float | int) and abs(got - expected) < 1e-9,
               f"macro_f1(y_true, y_pred, n_labels={n_labels}) on 60 examples", f"expected {expected:.6f}, got {got!r}",
               got, hints=_macro_f1_variants(y_true, y_pred, n_labels))


# ---- the learning-rate schedule -----------------------------------------------------------------------------------

def _transformers_factors(warmup: int, total: int, steps: int) -> torch.Tensor:
    """The multiplier transformers' scheduler applies before each of ``steps`` optimizer steps."""
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    factors = []
    for _ in range(steps):
        factors.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return torch.tensor(factors, dtype=torch.float64)


def _check_schedule(ex, warmup: int, total: int) -> None:
    steps = total + 3  # a few past the end: the factor stays 0
    what = f"linear_warmup_then_decay(step, warmup_steps={warmup}, total_steps={total}) for steps 0..{steps - 1}"
    try:
        got = torch.tensor([float(ex.linear_warmup_then_decay(s, warmup, total)) for s in range(steps)],
                           dtype=torch.float64)
    except ZeroDivisionError:
        fail(what, "ZeroDivisionError", hints=[
            (None, "divide by max(1, warmup_steps) and max(1, total_steps - warmup_steps): no warm-up, or a run that "
                   "is all warm-up, must still work")])

    def like(factor) -> object:
        values = torch.tensor([factor(s) for s in range(steps)], dtype=torch.float64)
        return lambda g: torch.allclose(g, values, atol=1e-9)

    def decay(s: int) -> float:
        return max(0.0, (total - s) / max(1, total - warmup))

    expect_close(got, _transformers_factors(warmup, total, steps), what, atol=1e-9, rtol=0, hints=[
        (like(lambda s: (s + 1) / max(1, warmup) if s < warmup else decay(s)),
         "warm-up off by one: step 0 gets factor 0 (step / warmup_steps), so the first step does not move the "
         "weights yet"),
        (like(lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total))),
         "the decay runs from 1 at step warmup_steps to 0 at total_steps: divide by (total_steps - warmup_steps)"),
        (lambda g: bool((g < 0).any()), "after total_steps the factor stays 0, never negative"),
    ])


def test_warmup_then_decay_matches_transformers(ex) -> None:
    for warmup, total in ((3, 10), (0, 5), (4, 4), (1, 7)):
        _check_schedule(ex, warmup, total)


# ---- one optimizer step -------------------------------------------------------------------------------------------

PEAK_LR, WARMUP, TOTAL = 0.5, 1, 4  # step 0 has learning rate 0: warm-up starts from nothing


def _tiny_classifier() -> torch.nn.Module:
    """A 1-layer, 16-wide BERT with a 2-class head, no dropout (so every run of it is deterministic)."""
    from transformers import BertConfig, BertForSequenceClassification

    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0, num_labels=2)
        return BertForSequenceClassification(config)


def _batch_groups(n_steps: int, per_step: int, seed: int = 0) -> list[list[dict[str, torch.Tensor]]]:
    """``n_steps`` groups of ``per_step`` padded batches of 4 examples (lengths 3 to 9, padding on the right)."""
    gen = torch.Generator().manual_seed(seed)
    groups = []
    for _ in range(n_steps):
        group = []
        for _ in range(per_step):
            lengths = torch.randint(3, 10, (4,), generator=gen)
            width = int(lengths.max())
            mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
            ids = torch.randint(5, 40, (4, width), generator=gen) * mask
            group.append({"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 2, (4,), generator=gen)})
        groups.append(group)
    return groups


def _optimizer_and_schedule(model: torch.nn.Module):
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD(model.parameters(), lr=PEAK_LR)  # plain SGD: clipping shows in every update
    return optimizer, get_linear_schedule_with_warmup(optimizer, WARMUP, TOTAL)


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _oracle_run(model: torch.nn.Module, groups, max_grad_norm: float, mistake: str | None = None) -> list[tuple]:
    """A correct optimizer step (or one with ``mistake``) run over ``groups``: per step (loss, lr, parameters)."""
    optimizer, scheduler = _optimizer_and_schedule(model)
    steps = []
    for group in groups:
        model.train()
        if mistake == "scheduler first":
            with warnings.catch_warnings():  # torch warns about exactly this mistake
                warnings.simplefilter("ignore", UserWarning)
                scheduler.step()
        losses = []
        for batch in group:
            loss = model(**batch).loss
            (loss if mistake == "no mean" else loss / len(group)).backward()
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
        steps.append((sum(losses) / len(losses), learning_rate, _flat(model)))
    return steps


_STEP_HINTS = {
    "no zero_grad": "the gradients of the previous step were added to this one: call optimizer.zero_grad() after "
                    "optimizer.step() (backward *adds* to .grad)",
    "scheduler first": "the scheduler was stepped before the optimizer, so each step used the next step's learning "
                       "rate: optimizer.step() first, then scheduler.step()",
    "clip after step": "the update used the unclipped gradients: clip_grad_norm_ goes after backward and *before* "
                       "optimizer.step()",
    "no mean": "divide each batch's loss by the number of batches before backward, so the accumulated gradient "
               "is their mean, not their sum",
}


def _check_steps(ex, groups, max_grad_norm: float, what: str, mistakes: tuple[str, ...]) -> None:
    expected = _oracle_run(_tiny_classifier(), groups, max_grad_norm)
    variants = {m: _oracle_run(_tiny_classifier(), groups, max_grad_norm, m) for m in mistakes}
    model = _tiny_classifier().eval()
    optimizer, scheduler = _optimizer_and_schedule(model)
    for step, (group, (loss, learning_rate, params)) in enumerate(zip(groups, expected, strict=True)):
        result = ex.optimizer_step(model, optimizer, scheduler, group, max_grad_norm, torch.device("cpu"))
        expect(isinstance(result, tuple) and len(result) == 2, f"{what}: optimizer_step's return value",
               f"expected (mean loss, learning rate), got {result!r}")
        got_loss, got_lr = result
        expect(model.training, f"{what}: the model's mode after the step", "expected train mode, got eval mode",
               hints=[(None, "call model.train() first: dropout must be on while training (evaluation turns it off)")])
        hints = [(lambda g, s=step, m=m: torch.allclose(g, variants[m][s][2], atol=1e-6), _STEP_HINTS[m])
                 for m in mistakes]
        expect_close(_flat(model), params, f"{what}: the parameters after step {step} (learning rate "
                     f"{learning_rate:g})", atol=1e-6, rtol=1e-5, hints=hints)
        divided = loss / len(group)
        expect(abs(float(got_loss) - loss) < 1e-5, f"{what}: the loss returned by step {step}",
               f"expected {loss:.6f} (the mean of the {len(group)} batches' losses), got {got_loss!r}", got_loss,
               hints=[(lambda g, divided=divided: abs(float(g) - divided) < 1e-5,
                       "return the mean of the undivided losses (the division is only for the gradients)")])
        expect(abs(float(got_lr) - learning_rate) < 1e-12, f"{what}: the learning rate returned by step {step}",
               f"expected {learning_rate:g}, got {got_lr!r}", hints=[
                   (None, "read scheduler.get_last_lr()[0] before scheduler.step(): the rate this step used")])


def test_optimizer_step_with_accumulation_matches_a_correct_step(ex) -> None:
    _check_steps(ex, _batch_groups(3, per_step=2), max_grad_norm=1e6,
                 what="3 steps of 2 accumulated batches (no clipping)",
                 mistakes=("no zero_grad", "scheduler first", "no mean"))


def test_optimizer_step_clips_the_gradient(ex) -> None:
    groups = _batch_groups(3, per_step=1, seed=1)
    max_grad_norm = 0.05  # well below the gradients' norm, so every step is clipped
    _check_steps(ex, groups, max_grad_norm, what=f"3 steps of 1 batch clipped to norm {max_grad_norm}",
                 mistakes=("clip after step", "scheduler first", "no zero_grad"))


# ---- early stopping -----------------------------------------------------------------------------------------------

EARLY_STOPPING_CASES = [  # (scores, patience, (best index, stop)), worked out by hand
    ([0.5], 1, (0, False)),
    ([0.5, 0.4], 1, (0, True)),
    ([0.5, 0.7, 0.6, 0.7], 2, (1, True)),
    ([0.5, 0.7, 0.6, 0.7], 3, (1, False)),
    ([0.6, 0.6, 0.6], 2, (0, True)),
    ([0.1, 0.3, 0.2, 0.25, 0.4, 0.3], 2, (4, False)),
    ([0.5, 0.4, 0.6, 0.55], 2, (2, False)),
    ([0.9, 0.8, 0.85, 0.7], 3, (0, True)),
]


def _stops_at_first_drop(scores: list[float], patience: int) -> bool:
    return len(scores) > 1 and scores[-1] <= max(scores[:-1])


def _best_on_ties_is_last(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], i))


def _since_any_drop(scores: list[float], patience: int) -> bool:
    return sum(scores[i] <= max(scores[:i]) for i in range(1, len(scores))) >= patience


def _check_early_stopping(ex, scores: list[float], patience: int, expected: tuple[int, bool]) -> None:
    best, stop = expected
    got = ex.early_stopping(list(scores), patience)
    expect_equal(tuple(got) if isinstance(got, list | tuple) else got, expected,
                 f"early_stopping({scores}, patience={patience}) -> (best index, stop)", hints=[
                     (lambda g: g[0] == best and g[1] == _stops_at_first_drop(scores, patience) != stop,
                      "stop only after `patience` evaluations in a row without improvement, not at the first one"),
                     (lambda g: g[0] == _best_on_ties_is_last(scores) != best,
                      "a tie is not an improvement: the earlier evaluation stays the best (compare with >)"),
                     (lambda g: g[0] == best and g[1] == (len(scores) - 1 - best > patience) != stop,
                      "off by one: stop when the evaluations since the best *reach* patience (>=)"),
                     (lambda g: g[0] == best and g[1] == _since_any_drop(scores, patience) != stop,
                      "count the evaluations since the best one, not every evaluation that did not improve"),
                     (lambda g: g[0] == scores.index(min(scores)) != best,
                      "higher scores are better (macro-F1): the best evaluation has the largest score"),
                 ])


def test_early_stopping_waits_for_patience(ex) -> None:
    for scores, patience, expected in EARLY_STOPPING_CASES:
        _check_early_stopping(ex, scores, patience, expected)
