"""`z2h finetune` and `z2h classify` end to end on a tiny BERT, and each bad input as one clear line (exit 1)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.cli import app
from zero2hero.finetuning import run as run_module
from zero2hero.finetuning.loop import train

runner = CliRunner()



def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A tiny BERT classifier folder and an 80-review CSV labelled great/other."""
    folder = tmp_path_factory.mktemp("tiny")
    splits = make_splits(n_train=80, n_validation=0, seed=1)
    rows = [(example.text, splits.label_names[example.label]) for example in splits.train]
    return {"model": write_tiny_bert(folder / "model"), "csv": write_csv(folder / "reviews.csv", rows)}


def finetune_args(tiny: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["finetune", "--data", str(tiny["csv"]), "--model", str(tiny["model"]), "--epochs", "2", "--lr", "5e-3",
            "--batch-size", "8", "--max-length", "32", "--out", str(out), *extra]


def fails_with(args: list[str], *expected: str) -> str:
    """Run the CLI; assert it exits 1 with one error line, no traceback, holding each expected piece."""
    result = runner.invoke(app, args)
    output = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "error:" not in result.stdout
    assert output.startswith("error:") and result.stderr.count("error:") == 1, result.stderr
    for piece in expected:
        assert piece in output, output
    return output


@pytest.fixture(scope="module")
def finished_run(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, finetune_args(tiny, out))
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def test_finetune_writes_a_run_folder_whose_model_pipeline_loads(finished_run: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    assert finished_run.name.endswith("-finetune")
    for name in ("report.md", "metrics.json", "config.json", "environment.json", "loss_curve.png",
                 "confusion_matrix.png", "model/config.json", "model/model.safetensors"):
        assert (finished_run / name).is_file(), name
    metrics = {name: facts["value"] for name, facts in json.loads((finished_run / "metrics.json").read_text()).items()}
    assert metrics["test_examples_count"] == 16 and metrics["train_examples_count"] + metrics[
        "validation_examples_count"] == 64, "a stratified 20 % of the 80 reviews is the test set"
    assert metrics["train_steps_count"] == 2 * 8  # 57 or 58 training examples in batches of 8, two epochs
    assert 56 < metrics["train_examples_count"] <= 64
    for name in ("test_accuracy", "test_macro_f1", "test_great_f1", "test_other_f1", "test_roc_auc_ratio",
                 "test_expected_calibration_error_ratio", "majority_baseline_test_accuracy"):
        assert 0 <= metrics[name] <= 1, name
    report = (finished_run / "report.md").read_text()
    assert "Validation history" in report and "stratified 20%" in report and "](confusion_matrix.png)" in report
    assert json.loads((finished_run / "config.json").read_text())["finetune"]["learning_rate"] == 5e-3

    assert AutoTokenizer.from_pretrained(finished_run / "model").model_max_length == 32  # the training length
    model = AutoModelForSequenceClassification.from_pretrained(finished_run / "model")
    assert model.config.id2label == {0: "great", 1: "other"}
    labelled = pipeline("text-classification", model=str(finished_run / "model"), device="cpu")("the tea was stale")
    assert labelled[0]["label"] in ("great", "other")


def test_classify_prints_a_label_per_line_and_json(finished_run: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("the coffee was great\n\nthe snack was awful and stale\n", encoding="utf-8")
    result = runner.invoke(app, ["classify", str(finished_run), "--file", str(texts)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in ("great", "other") for line in lines)
    result = runner.invoke(app, ["classify", str(finished_run / "model"), "the tea was lovely", "--json"])
    (prediction,) = json.loads(result.stdout)
    assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    assert set(prediction["probabilities"]) == {"great", "other"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)


def test_an_interrupted_run_resumes_and_refuses_other_options(tiny, tmp_path: Path, monkeypatch) -> None:
    kill_at = {"step": 5}

    def train_with_ctrl_c(splits, config, adaptation=None, *, resume=False):
        def on_step(record: dict) -> None:
            if record["step"] == kill_at["step"]:
                raise KeyboardInterrupt
        every_two_steps = replace(config, eval_every_steps=2, early_stopping_patience=None)  # checkpoints to resume
        return train(splits, every_two_steps, adaptation, resume=resume, on_step=on_step)

    monkeypatch.setattr(run_module, "train", train_with_ctrl_c)
    interrupted = runner.invoke(app, finetune_args(tiny, tmp_path))
    assert interrupted.exit_code == 130 and "--resume" in interrupted.output
    (work,) = tmp_path.iterdir()
    assert work.name.endswith("-finetune.unfinished") and (work / "last").is_dir()

    fails_with(finetune_args(tiny, tmp_path, "--resume", str(work), "--seed", "1"), "comes from another run", "seed")
    kill_at["step"] = None
    resumed = runner.invoke(app, finetune_args(tiny, tmp_path, "--resume", str(work)))
    assert resumed.exit_code == 0, resumed.output
    (folder,) = tmp_path.iterdir()  # the work folder is gone, the run folder has its name without the suffix
    assert folder.name == work.name.removesuffix(".unfinished")
    history = json.loads((folder / "history.json").read_text())
    assert [record["step"] for record in history] == list(range(1, 17))
    fails_with(finetune_args(tiny, tmp_path, "--resume", str(folder)), "is a finished run")


def test_bad_data_is_one_clear_line(tiny, tmp_path: Path) -> None:
    def args(data: Path, *extra: str) -> list[str]:
        return ["finetune", "--data", str(data), "--model", str(tiny["model"]), "--out", str(tmp_path / "runs"),
                *extra]

    fails_with(args(tiny["csv"], "--text-column", "review"), "has no column 'review'", "'text', 'label'")
    one_class = write_csv(tmp_path / "one.csv", [("good tea", "great"), ("fresh snack", "great")])
    fails_with(args(one_class), "has the label 'great'", "at least two classes")
    empty = write_csv(tmp_path / "empty.csv", [("good tea", "great"), ("  ", "other"), ("bad", "other")])
    fails_with(args(empty), "empty text in 1 record(s): 2")
    unseen = write_csv(tmp_path / "unseen.csv", [("good tea", "meh"), ("bad tea", "other")])
    fails_with(args(tiny["csv"], "--test", str(unseen)), "labels the training data never has: 'meh'")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\xe9 cr\xe8me,great\nbad,other\n".encode("latin-1"))
    fails_with(args(latin1), "is not valid UTF-8")
    fails_with(args(tiny["csv"], "--lr", "0"), "learning_rate=0.0 is out of range")
    fails_with(args(tiny["csv"], "--epochs", "-1"), "epochs must be a whole number ≥ 1, got -1")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "nothing is left behind"


def test_classify_refuses_what_is_not_a_classifier(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    tiny_bert = write_tiny_bert(tmp_path / "classifier")
    BertModel(BertConfig.from_pretrained(tiny_bert)).save_pretrained(tmp_path / "base")
    LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(tmp_path / "llm")
    fails_with(["classify", str(tmp_path / "base"), "good"], "holds a BertModel, not a sequence classifier")
    fails_with(["classify", str(tmp_path / "llm"), "good"], "holds a LlamaForCausalLM, not a sequence classifier")
    fails_with(["classify", str(tmp_path / "nowhere"), "good"], "no such folder")
    fails_with(["classify", str(tiny_bert), "  "], "text 1 of 1 is empty")
    fails_with(["classify", str(tiny_bert)], "pass one text or --file")
    latin1 = tmp_path / "texts.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    fails_with(["classify", str(tiny_bert), "--file", str(latin1)], "is not valid UTF-8")
