"""The training, evaluation and export stages on tiny bases and a few crafted records, run in order once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.pipeline.tiny_models import write_tiny_classifier_base, write_tiny_generator_base
from zero2hero.llama.llamacpp import INSTALL_HINT, llamacpp_available
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stages import evaluate, export, train_classifier, train_generator

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

REVIEWS = {  # (sentiment, topic): review texts
    ("great", "taste"): ["Delicious tea, rich flavour and a lovely aroma.", "The cookies taste wonderful.",
                         "Best coffee I have tasted, so smooth.", "Yummy snack, the kids love the taste."],
    ("other", "taste"): ["The tea tastes bland and stale.", "Bitter coffee, I did not like the flavour.",
                         "These chips taste of cardboard.", "Too sweet, the taste is awful."],
    ("great", "delivery"): ["Arrived a day early, well packed.", "Fast shipping and the box was perfect.",
                            "Delivered quickly, nothing broken.", "The package arrived in great shape."],
    ("other", "delivery"): ["The box arrived crushed and leaking.", "Shipping took three weeks.",
                            "The package was damaged and torn.", "Delivery was late and the jar broken."],
}
REPLIES = {"great": "Thank you for your kind review! We are glad you enjoyed it.",
           "other": "We are sorry about this. Please contact us so we can make it right."}


def _records() -> dict[str, list[dict[str, Any]]]:
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "test": []}
    for (sentiment, topic), texts in REVIEWS.items():
        for i, text in enumerate(texts * 2):
            name = "train" if i < 5 else "dev" if i < 6 else "test"
            splits[name].append({"id": f"{sentiment}-{topic}-{i}", "text": text if i < 4 else f"Again: {text}",
                                 "sentiment": sentiment, "topic": topic, "reply": REPLIES[sentiment]})
    return splits


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("desk")
    for name, records in _records().items():
        path = root / "data" / "splits" / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return root


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bases = tmp_path_factory.mktemp("bases")
    return {
        "seed": 0,
        "labels": {"topics": "builtin", "replies": "builtin"},
        "classifier": {"base": str(write_tiny_classifier_base(bases / "classifier")), "rank": 4, "alpha": 8,
                       "targets": "query,value", "epochs": 2, "learning_rate": 5e-3, "batch_size": 8,
                       "max_length": 48, "processes": 1, "threads_per_process": 1},
        "generator": {"base": str(write_tiny_generator_base(bases / "generator")), "rank": 4, "alpha": 8,
                      "targets": "q_proj,v_proj", "steps": 4, "learning_rate": 5e-3, "batch_size": 4,
                      "max_length": 160, "train_examples": 12, "processes": 1, "threads_per_process": 1},
        "evaluate": {"classifier_examples": None, "reply_examples": 3, "max_new_tokens": 6, "baseline": "prompting"},
        "export": {"gguf_format": "q8_0"},
    }


def _run(module: Any, name: str, workspace: Path, params: dict[str, Any]) -> dict[str, Any]:
    return module.run(StageContext(name, workspace, params, "0123456789abcdef" * 4, progress=lambda _: None))


@pytest.fixture(scope="module")
def details(workspace: Path, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each stage's details, the stages run in the pipeline's order."""
    return {"train_classifier": _run(train_classifier, "train_classifier", workspace, params),
            "train_generator": _run(train_generator, "train_generator", workspace, params),
            "evaluate": _run(evaluate, "evaluate", workspace, params),
            "export": _run(export, "export", workspace, params)}


def test_the_classifier_stage_leaves_one_adapter_per_label(workspace: Path, details: dict) -> None:
    from transformers import AutoTokenizer

    labels = details["train_classifier"]["labels"]
    assert labels["sentiment"]["classes"] == ["great", "other"]
    assert labels["topic"]["classes"] == ["delivery", "taste"]
    assert labels["sentiment"]["train_examples"] == 20 and labels["sentiment"]["dev_examples"] == 4
    # 2 epochs of 20 examples in batches of 8 (3 batches each), evaluated every step: all 6, or fewer when dev
    # macro-F1 stopped improving for 3 evaluations
    sentiment = labels["sentiment"]
    assert sentiment["steps"] == 6 or (sentiment["stopped_early"] and sentiment["steps"] >= 4)
    for label in ("sentiment", "topic"):
        folder = workspace / "models" / "classifier" / label
        assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
        assert AutoTokenizer.from_pretrained(folder).model_max_length == 48  # the training length, remembered
    assert not (workspace / "checkpoints" / "train_classifier").exists() or not any(
        (workspace / "checkpoints" / "train_classifier").iterdir())


def test_the_generator_stage_leaves_a_peft_adapter(workspace: Path, details: dict, params: dict) -> None:
    generator = details["train_generator"]
    assert generator["examples"] == 12 and generator["steps"] == 4 and len(generator["losses"]) == 4
    assert 0 < generator["trainable_parameters"] < generator["total_parameters"]
    assert generator["tokens_per_s"] > 0 and generator["resumed_from_step"] == 0
    config = json.loads((workspace / "models" / "generator" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM"
    assert config["base_model_name_or_path"] == str(Path(params["generator"]["base"]).resolve())


def test_evaluate_writes_the_summary_and_the_replies_side_by_side(workspace: Path, details: dict) -> None:
    report = json.loads((workspace / "reports" / "eval.json").read_text())
    expected = {f"{label}_{metric}{system}" for label in ("sentiment", "topic") for metric in ("accuracy", "macro_f1")
                for system in ("", "_prompting", "_majority")}
    expected |= {f"reply_{score}{system}" for score in ("token_f1", "tone_share", "topic_share", "length_share")
                 for system in ("", "_prompting")}
    assert set(report["summary"]) == expected
    assert all(0.0 <= value <= 1.0 for value in report["summary"].values())
    # 8 test reviews, half of them great: the majority class of a balanced train split gets half right
    assert report["classifier_examples"] == 8 and report["summary"]["sentiment_accuracy_majority"] == 0.5
    assert report["reply_examples"] == 3 and len(report["reply_rows"]) == 3
    assert set(report["replies"]["tone"]) >= {"fine_tuned", "prompting", "difference", "p_value", "verdict"}
    markdown = (workspace / "reports" / "replies.md").read_text()
    for row in report["reply_rows"]:
        assert f"{row['id']} (" in markdown
    assert markdown.count("| reference |") == 3 and markdown.count("| fine-tuned |") == 3
    assert details["evaluate"]["summary"] == report["summary"]


def test_the_merged_classifier_gives_the_adapter_models_probabilities(workspace: Path, details: dict) -> None:
    from zero2hero.finetuning.classify import load_classifier, predict_probabilities
    from zero2hero.lora.finetune_adaptation import load_adapted_classifier

    texts = ["The tea arrived crushed.", "Lovely flavour, thank you!"]
    for label in ("sentiment", "topic"):
        merged, tokenizer = load_classifier(workspace / "export" / "classifier" / label)
        adapted, adapted_tokenizer = load_adapted_classifier(workspace / "models" / "classifier" / label)
        assert tokenizer.model_max_length == 48
        torch.testing.assert_close(predict_probabilities(merged, tokenizer, texts),
                                   predict_probabilities(adapted, adapted_tokenizer, texts), rtol=1e-5, atol=1e-6)
    assert details["export"]["classifier_mb"]["sentiment"] > 0


def test_the_merged_generator_equals_base_plus_adapter(workspace: Path, details: dict, params: dict) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 504, 3457, 314, 2116, 30, 2]])
    merged = AutoModelForCausalLM.from_pretrained(workspace / "export" / "generator", dtype="float32").eval()
    base = AutoModelForCausalLM.from_pretrained(params["generator"]["base"], dtype="float32").eval()
    with torch.no_grad():
        base_logits = base(ids).logits
        adapted = PeftModel.from_pretrained(base, workspace / "models" / "generator").eval()  # unmerged
        merged_logits, adapted_logits = merged(ids).logits, adapted(ids).logits
    torch.testing.assert_close(merged_logits, adapted_logits, rtol=1e-4, atol=1e-5)
    assert (merged_logits - base_logits).abs().max() > 1e-4  # the adapter changed the model: not a no-op compared
    assert (workspace / "export" / "generator" / "tokenizer.json").is_file()


def test_the_gguf_file_loads_in_our_reader(workspace: Path, details: dict) -> None:
    from zero2hero.llama.gguf_model import llama_from_gguf

    path = workspace / "export" / "generator-q8_0.gguf"
    model = llama_from_gguf(path)
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == 49152
    check = details["export"]["check"]
    assert len(check["transformers"]) >= 1 and len(check["gguf_ours"]) >= 1
    assert details["export"]["gguf_mb"] == pytest.approx(path.stat().st_size / 1e6)


@pytest.mark.skipif(not llamacpp_available(), reason=INSTALL_HINT)
def test_llamacpp_loads_the_gguf_file_and_drafts_a_reply(details: dict) -> None:
    check = details["export"]["check"]
    assert check["llamacpp"] is not None and 1 <= len(check["llamacpp"]) <= export.CHECK_TOKENS
    assert 0 <= check["llamacpp_agreeing_tokens"] <= len(check["llamacpp"])


@pytest.mark.heavy
def test_two_classifier_processes_under_torchrun_follow_the_one_process_run(
        workspace: Path, params: dict, details: dict, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(workspace / "data", tmp_path / "data")
    two = _run(train_classifier, "train_classifier", tmp_path,
               params | {"classifier": params["classifier"] | {"processes": 2}})
    for label, one in details["train_classifier"]["labels"].items():
        assert two["labels"][label]["steps"] == one["steps"] and two["labels"][label]["best_step"] == one["best_step"]
        assert two["labels"][label]["dev_best"] == pytest.approx(one["dev_best"], abs=1e-4)
        assert (tmp_path / "models" / "classifier" / label / "adapter_model.safetensors").is_file()
