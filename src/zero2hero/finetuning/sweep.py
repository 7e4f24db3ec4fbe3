"""A learning-rate × epochs sweep: one run per learning rate, scored on validation at every epoch's end.

Varying the number of epochs by scoring one long run at each epoch end is ``epochs`` times cheaper than a
separate run per epoch count, but not the same experiment: the learning rate decays linearly to zero over
the *whole* run, so "epoch 2 of a 4-epoch run" has seen higher learning rates than the end of a 2-epoch
run. The sweep tells which learning rate and roughly how long; the chosen setting is then trained again
as a run of exactly that many epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from zero2hero.finetuning.data import LabelledSplits
from zero2hero.finetuning.loop import TrainResult, train
from zero2hero.finetuning.train_config import TrainConfig


@dataclass
class ScoredRun:
    """One run and its validation metrics after each epoch (index 0: after epoch 1)."""

    config: TrainConfig
    result: TrainResult
    epoch_metrics: list[dict[str, float]]  # val_loss, accuracy, macro_f1


def steps_per_epoch(n_train: int, config: TrainConfig) -> int:
    """Optimizer steps in one epoch of ``n_train`` examples on one process (as the training loop counts them)."""
    return math.ceil(math.ceil(n_train / config.batch_size) / config.gradient_accumulation_steps)


def epoch_end_config(config: TrainConfig, n_train: int) -> TrainConfig:
    """``config`` evaluating exactly at each epoch's end and never stopping early: every epoch gets its score."""
    return replace(config, eval_every_steps=steps_per_epoch(n_train, config), early_stopping_patience=None)


def epoch_metrics(result: TrainResult) -> list[dict[str, float]]:
    """The validation metrics recorded at each epoch's last step, in epoch order."""
    last_of_epoch = {record["epoch"]: record for record in result.history if "macro_f1" in record}
    return [{key: record[key] for key in ("val_loss", "accuracy", "macro_f1")}
            for _, record in sorted(last_of_epoch.items())]


def train_scored_each_epoch(splits: LabelledSplits, config: TrainConfig) -> ScoredRun:
    """Train with ``config``, scored at every epoch's end; keeps ``best/`` and writes no resume checkpoint (a sweep's
    runs are never resumed, and ``last/`` with the optimizer state would be written at every evaluation)."""
    run_config = replace(epoch_end_config(config, len(splits.train)), keep_last_checkpoint=False)
    result = train(splits, run_config)
    return ScoredRun(run_config, result, epoch_metrics(result))


def best_setting(runs: list[ScoredRun]) -> tuple[float, int, dict[str, float]]:
    """(learning rate, epochs, metrics) with the highest validation macro-F1; ties go to fewer epochs."""
    candidates = [(run.config.learning_rate, epoch + 1, metrics)
                  for run in runs for epoch, metrics in enumerate(run.epoch_metrics)]
    return max(candidates, key=lambda item: (item[2]["macro_f1"], -item[1]))
