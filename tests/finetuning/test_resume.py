"""Exact resume: a run stopped mid-way and resumed ends where an uninterrupted run ends, to the last bit."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.errors import InputError
from zero2hero.finetuning.checkpoint import capture_rng, replace_folder, restore_rng
from zero2hero.finetuning.loop import train
from zero2hero.finetuning.train_config import TrainConfig


class Killed(Exception):
    """Stands for the process dying (a crash, a power cut) in the middle of a run."""



@pytest.fixture(scope="module")
def config(tmp_path_factory) -> TrainConfig:
    """Dropout on (so the random state matters), 2 batches accumulated per step, 3 epochs of 4 steps."""
    model = write_tiny_bert(tmp_path_factory.mktemp("tiny") / "model", dropout=0.1)
    return TrainConfig(model=str(model), epochs=3, learning_rate=5e-3, batch_size=8, gradient_accumulation_steps=2,
                       eval_every_steps=3, early_stopping_patience=None, device="cpu",
                       output_dir=tmp_path_factory.mktemp("uninterrupted"))


@pytest.fixture(scope="module")
def uninterrupted(config: TrainConfig):
    return train(make_splits(), config)


def _kill_after(step: int):
    def on_step(record: dict) -> None:
        if record["step"] == step:
            raise Killed(f"killed after step {step}")
    return on_step


def test_a_killed_run_resumes_to_the_same_weights_and_metrics(config: TrainConfig, uninterrupted,
                                                              tmp_path: Path) -> None:
    resumed_config = replace(config, output_dir=tmp_path)
    with pytest.raises(Killed):  # 4 steps an epoch: the last checkpoint (step 6) is mid-epoch 1
        train(make_splits(), resumed_config, on_step=_kill_after(7))
    steps_after_resume = []
    result = train(make_splits(), resumed_config, resume=True, on_step=lambda r: steps_after_resume.append(r["step"]))

    assert steps_after_resume == list(range(7, 13))  # it went on from the checkpoint, not from the start
    assert result.history == uninterrupted.history  # every loss, learning rate and metric, exactly
    assert result.final_metrics == uninterrupted.final_metrics and result.best_step == uninterrupted.best_step
    for folder in ("last", "best"):
        ours, reference = load_file(tmp_path / folder / "model.safetensors"), load_file(
            config.output_dir / folder / "model.safetensors")
        assert ours.keys() == reference.keys()
        assert all(torch.equal(ours[name], reference[name]) for name in ours), folder


def test_resuming_without_the_random_state_would_not_be_exact(config: TrainConfig, uninterrupted, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: skip restoring the random generators and dropout draws other masks."""
    resumed_config = replace(config, output_dir=tmp_path)
    with pytest.raises(Killed):
        train(make_splits(), resumed_config, on_step=_kill_after(7))
    monkeypatch.setattr("zero2hero.finetuning.checkpoint.restore_rng", lambda state: None)
    result = train(make_splits(), resumed_config, resume=True)
    assert result.history[:6] == uninterrupted.history[:6]
    assert result.history[6]["train_loss"] != uninterrupted.history[6]["train_loss"]


def test_a_checkpoint_of_another_configuration_is_refused(config: TrainConfig, uninterrupted) -> None:
    with pytest.raises(InputError, match="learning_rate") as err:
        train(make_splits(), replace(config, learning_rate=1e-3), resume=True)
    assert "another run" in str(err.value) and err.value.hint


def test_a_checkpoint_of_other_data_is_refused(config: TrainConfig, uninterrupted) -> None:
    splits = make_splits()
    splits.train.pop()
    with pytest.raises(InputError, match="data_sha256"):
        train(splits, config, resume=True)


def test_resuming_with_no_checkpoint_says_so(config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no checkpoint to resume from"):
        train(make_splits(), replace(config, output_dir=tmp_path), resume=True)


def test_resuming_a_finished_run_changes_nothing(config: TrainConfig, uninterrupted) -> None:
    steps = []
    result = train(make_splits(), config, resume=True, on_step=lambda r: steps.append(r["step"]))
    assert steps == [] and result.history == uninterrupted.history


def test_rng_states_round_trip() -> None:
    state = capture_rng()
    drawn = (random.random(), float(np.random.rand()), torch.rand(3))
    restore_rng(state)
    again = (random.random(), float(np.random.rand()), torch.rand(3))
    assert drawn[:2] == again[:2] and torch.equal(drawn[2], again[2])


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path: Path) -> None:
    folder = tmp_path / "last"
    replace_folder(folder, lambda tmp: (tmp / "weights").write_text("old"))

    def crash(tmp: Path) -> None:
        (tmp / "weights").write_text("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_folder(folder, crash)
    assert (folder / "weights").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["last"]  # no temporary left behind
    replace_folder(folder, lambda tmp: (tmp / "weights").write_text("new"))
    assert (folder / "weights").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["last"]
