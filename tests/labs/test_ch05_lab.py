from __future__ import annotations

import json
import math

import pytest

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example
from zero2hero.finetuning.splits import stratified_subset as subset
from zero2hero.labs.ch05_fine_tuning import Config


def test_subset_is_stratified_seeded_and_zero_means_all() -> None:
    examples = [Example(f"review {i}", int(i % 4 == 0)) for i in range(400)]  # a quarter labelled 1
    chosen = subset(examples, 100, seed=3)
    assert len(chosen) == 100 and sum(e.label for e in chosen) == 25
    assert chosen == subset(examples, 100, seed=3) != subset(examples, 100, seed=4)
    assert subset(examples, 0, seed=3) is examples and subset(examples, 500, seed=3) is examples


def test_a_spread_needs_two_seeds() -> None:
    with pytest.raises(InputError, match="seeds must be at least 2"):
        Config(seeds=1)


@pytest.mark.heavy
def test_quick_lab_5(quick_run) -> None:
    run = quick_run(5)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    assert (metrics["train_examples_count"], metrics["validation_examples_count"],
            metrics["test_examples_count"]) == (160, 80, 200)
    # The majority class scores F1 2a/(1+a) on its own class (a: its share) and 0 on the other: macro a/(1+a).
    accuracy = metrics["majority_test_accuracy"]
    assert 0.6 < accuracy < 0.7 and math.isclose(metrics["majority_test_macro_f1"], accuracy / (1 + accuracy))
    # Real baselines beat it on macro-F1; the frozen encoder's embeddings already carry sentiment.
    assert metrics["probe_test_macro_f1"] > metrics["majority_test_macro_f1"] + 0.05
    assert metrics["tfidf_lr_test_macro_f1"] > metrics["majority_test_macro_f1"]
    # The sweep finds a learning rate at which MiniLM learns something beyond the majority class.
    assert metrics["sweep_best_validation_macro_f1"] > metrics["majority_validation_macro_f1"] + 0.05
    assert metrics["sweep_best_epochs_count"] in (1, 2) and metrics["sweep_train_s"] > 0
    # Overfitting 32 reviews: they are memorised while the validation loss climbs above its minimum.
    assert 1 <= metrics["overfit_epochs_count"] <= 6 and metrics["overfit_last_train_accuracy"] >= 0.9
    assert metrics["overfit_last_validation_loss"] > metrics["overfit_min_validation_loss"]
    # Different seeds give different models: the spread is measured, not assumed.
    assert metrics["seeds_validation_macro_f1_std_f1"] > 0
    assert metrics["seeds_validation_macro_f1_range_f1"] >= metrics["seeds_validation_macro_f1_std_f1"]
    assert metrics["finetuned_test_macro_f1"] > metrics["majority_test_macro_f1"] + 0.1
    for key in ("majority", "tfidf_lr", "probe", "finetuned"):
        assert 0 <= metrics[f"{key}_test_expected_calibration_error_ratio"] <= 1
    assert metrics["finetuned_test_mistakes_count"] == round((1 - metrics["finetuned_test_accuracy"]) * 200)
    report = (run.folder / "report.md").read_text()
    for title in ("Duplicates within and across the splits", "Baselines trained on the training split",
                  "one run per learning rate", "over seeds", "The one test evaluation", "most confident mistakes"):
        assert title in report
    for figure in ("sweep_heatmap.png", "loss_curves.png", "overfitting.png", "confusion_matrix.png",
                   "reliability_diagram.png"):
        assert f"]({figure})" in report
