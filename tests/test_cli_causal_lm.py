"""`z2h finetune --task causal-lm`: a tiny LLaMA fine-tuned on a text file writes chapter 5's run folder (report,
metrics, config, model/ as an adapter or a whole model) with perplexity before and after; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.finetuning.test_cli import fails_with
from tests.llama.tiny_text_model import author_text, write_tiny_llama
from zero2hero.cli import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    text = folder / "my.txt"
    text.write_text(author_text(120, seed=5), encoding="utf-8")
    return {"model": write_tiny_llama(folder / "model"), "text": text}


def causal_args(tiny: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["finetune", "--task", "causal-lm", "--data", str(tiny["text"]), "--model", str(tiny["model"]),
            "--max-length", "32", "--batch-size", "4", "--epochs", "3", "--out", str(out), *extra]


def run_folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


def test_a_lora_run_writes_the_run_folder_with_perplexity_before_and_after(tiny, tmp_path: Path) -> None:
    result = runner.invoke(app, causal_args(tiny, tmp_path, "--lora", "--rank", "4", "--lr", "3e-2"))
    assert result.exit_code == 0, result.output
    folder = run_folder(tmp_path)
    assert folder.name.endswith("-finetune")
    for name in ("report.md", "metrics.json", "config.json", "environment.json", "history.json", "loss_curve.png",
                 "model/adapter_config.json", "model/adapter_model.safetensors", "model/tokenizer.json"):
        assert (folder / name).is_file(), name
    metrics = {name: entry["value"] for name, entry in json.loads((folder / "metrics.json").read_text()).items()}
    assert metrics["heldout_after_ppl"] < metrics["heldout_before_ppl"]
    assert metrics["trainable_parameters_count"] == 2 * (4 * (32 + 32) + 4 * (32 + 16))  # q_proj, v_proj at r=4
    assert len(json.loads((folder / "history.json").read_text())) == metrics["train_steps_count"]
    config = json.loads((folder / "config.json").read_text())
    assert config["task"] == "causal-lm" and config["peak_learning_rate"] == 3e-2
    assert f"{metrics['heldout_before_ppl']:.2f} before, {metrics['heldout_after_ppl']:.2f} after" in result.stdout
    adapter = json.loads((folder / "model/adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM" and adapter["base_model_name_or_path"] == str(tiny["model"])


def test_without_lora_every_weight_trains_and_model_is_a_whole_model(tiny, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    result = runner.invoke(app, causal_args(tiny, tmp_path, "--lr", "3e-3"))
    assert result.exit_code == 0, result.output
    folder = run_folder(tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["heldout_after_ppl"]["value"] < metrics["heldout_before_ppl"]["value"]
    model = AutoModelForCausalLM.from_pretrained(folder / "model")
    assert metrics["trainable_parameters_count"]["value"] == sum(p.numel() for p in model.parameters())


def test_bad_input_is_one_clear_line(tiny, tmp_path: Path) -> None:
    empty, binary, short = tmp_path / "empty.txt", tmp_path / "data.bin", tmp_path / "short.txt"
    empty.write_text("  \n", encoding="utf-8")
    binary.write_bytes(b"\x00\x01\x02 model weights")
    short.write_text("The ball of Anne was very charming.\n" * 3, encoding="utf-8")
    fails_with(causal_args({**tiny, "text": empty}, tmp_path / "runs"), "is empty")
    fails_with(causal_args({**tiny, "text": binary}, tmp_path / "runs"), "looks binary")
    fails_with(causal_args({**tiny, "text": short}, tmp_path / "runs"), "fewer than one window of 32")
    fails_with(["finetune", "--task", "summarise", "--data", str(tiny["text"])], "unknown task 'summarise'",
               "classification, causal-lm")
    fails_with(causal_args(tiny, tmp_path / "runs", "--label-column", "sentiment"), "--label-column",
               "classification only")
    fails_with(["finetune", "--task", "causal-lm"], "needs your text file")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
