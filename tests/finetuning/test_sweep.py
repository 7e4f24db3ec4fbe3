"""The sweep's runs are scored at every epoch's end, and the best setting is read off validation only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.finetuning.sweep import ScoredRun, best_setting, steps_per_epoch, train_scored_each_epoch
from zero2hero.finetuning.train_config import TrainConfig


@pytest.mark.parametrize("n_train, batch_size, accumulation, expected", [(64, 8, 1, 8), (65, 8, 1, 9), (65, 8, 2, 5)])
def test_steps_per_epoch(n_train: int, batch_size: int, accumulation: int, expected: int) -> None:
    config = TrainConfig(batch_size=batch_size, gradient_accumulation_steps=accumulation)
    assert steps_per_epoch(n_train, config) == expected


def test_a_run_is_scored_at_each_epoch_end_and_keeps_only_its_best_model(tmp_path: Path) -> None:
    model = write_tiny_bert(tmp_path / "tiny", dropout=0.0)
    splits = make_splits(n_train=36, n_validation=12)
    config = TrainConfig(model=str(model), epochs=3, learning_rate=1e-2, batch_size=8, eval_every_steps=1,
                         early_stopping_patience=1, device="cpu", output_dir=tmp_path / "run")
    run = train_scored_each_epoch(splits, config)
    per_epoch = steps_per_epoch(36, config)  # 5: the last batch holds 4 reviews
    assert run.config.eval_every_steps == per_epoch and run.config.early_stopping_patience is None
    assert len(run.result.history) == 3 * per_epoch  # never stopped early
    evaluated = [r for r in run.result.history if "macro_f1" in r]
    assert [r["step"] for r in evaluated] == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert run.epoch_metrics == [{k: r[k] for k in ("val_loss", "accuracy", "macro_f1")} for r in evaluated]
    assert (run.result.best_dir / "config.json").is_file() and not run.result.last_dir.exists()


def _run(rate: float, scores: list[float]) -> ScoredRun:
    metrics = [{"val_loss": 1.0, "accuracy": s, "macro_f1": s} for s in scores]
    return ScoredRun(TrainConfig(learning_rate=rate), result=None, epoch_metrics=metrics)


def test_best_setting_is_the_highest_validation_macro_f1_and_ties_go_to_fewer_epochs() -> None:
    assert best_setting([_run(1e-5, [0.5, 0.6]), _run(1e-4, [0.7, 0.65])])[:2] == (1e-4, 1)
    assert best_setting([_run(1e-5, [0.5, 0.8, 0.8]), _run(1e-4, [0.7, 0.75, 0.6])])[:2] == (1e-5, 2)
