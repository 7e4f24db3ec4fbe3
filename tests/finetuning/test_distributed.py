"""Two processes under torchrun (DDP, gloo on the CPU) follow one process's loss curve at the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.errors import InputError
from zero2hero.finetuning.distributed import main, splits_from_json
from zero2hero.finetuning.train_config import TrainConfig


def _write_inputs(tmp_path: Path) -> tuple[Path, TrainConfig]:
    splits = make_splits(48, 16)
    data = tmp_path / "splits.json"
    data.write_text(json.dumps({name: [asdict(e) for e in getattr(splits, name)]
                                for name in ("train", "validation", "test")} | {"label_names": splits.label_names}))
    model = write_tiny_bert(tmp_path / "model", dropout=0.0)
    config = TrainConfig(model=str(model), epochs=2, learning_rate=5e-3, batch_size=8, eval_every_steps=3,
                         early_stopping_patience=None, device="cpu", output_dir=tmp_path / "unused")
    return data, config


def _run(tmp_path: Path, name: str, config: TrainConfig, data: Path, launcher: list[str]) -> dict:
    settings = asdict(config) | {"output_dir": str(tmp_path / name)}
    config_file = tmp_path / f"{name}.json"
    config_file.write_text(json.dumps(settings))
    command = [*launcher, "-m", "zero2hero.finetuning.distributed", "--config", str(config_file), "--data", str(data)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / name / "history.json").read_text())


@pytest.mark.heavy
def test_two_processes_follow_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    data, config = _write_inputs(tmp_path)
    one = _run(tmp_path, "one", config, data, [sys.executable])  # batch 8 in one process
    two_config = TrainConfig(**(asdict(config) | {"batch_size": 4}))  # 2 processes × 4 = the same 8 examples
    two = _run(tmp_path, "two", two_config, data,
               [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"])

    # 12 steps in both: one process alone with batch 4 would have taken 24, so two really shared the work
    assert [r["step"] for r in one["history"]] == [r["step"] for r in two["history"]] == list(range(1, 13))
    one_losses = [r["train_loss"] for r in one["history"]]
    assert [r["train_loss"] for r in two["history"]] == pytest.approx(one_losses, abs=1e-4)
    assert len(set(one_losses)) > 6  # the loss moves: not a comparison of constants
    assert two["final_metrics"] == pytest.approx(one["final_metrics"], abs=1e-4)


def test_splits_file_round_trips_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    data, _ = _write_inputs(tmp_path)
    assert splits_from_json(data) == make_splits(48, 16)
    data.write_text('{"train": [{"text": "great"}]}')
    with pytest.raises(InputError, match="cannot read the splits"):
        splits_from_json(data)


def test_the_entry_point_reports_a_bad_configuration_in_one_line(tmp_path: Path) -> None:
    data, _ = _write_inputs(tmp_path)
    config = tmp_path / "config.json"
    for settings, words in (({"epochs": 0}, "epochs must be"), ({"epoch": 1}, "unexpected keyword")):
        config.write_text(json.dumps(settings))
        with pytest.raises(SystemExit) as exit_:
            main(["--config", str(config), "--data", str(data)])
        assert str(exit_.value.code).startswith("error: ") and words in str(exit_.value.code)
