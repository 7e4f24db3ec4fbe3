"""Chapter 6 on the command line: `z2h finetune --lora`, `z2h classify` and `z2h generate --adapter` with an adapter
unmerged, `z2h lora merge`, and each bad input as one clear line (exit 1). Tiny models built locally."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers
from typer.testing import CliRunner

from tests.finetuning.test_cli import fails_with, write_csv
from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.cli import app

runner = CliRunner()
TEXTS = ["the coffee was great", "the snack was awful and stale", "a very fresh tea"]
TRAINABLE = 2 * 2 * (4 * 32 + 32 * 4) + 32 * 2 + 2  # 2 layers × (query, value) × (A + B) at r=4, and the head


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A tiny BERT classifier folder and an 80-review CSV labelled great/other."""
    folder = tmp_path_factory.mktemp("tiny")
    splits = make_splits(n_train=80, n_validation=0, seed=1)
    rows = [(example.text, splits.label_names[example.label]) for example in splits.train]
    return {"model": write_tiny_bert(folder / "model"), "csv": write_csv(folder / "reviews.csv", rows)}


def lora_args(tiny: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["finetune", "--data", str(tiny["csv"]), "--model", str(tiny["model"]), "--epochs", "2", "--lr", "2e-2",
            "--batch-size", "8", "--max-length", "32", "--out", str(out), "--lora", *extra]


@pytest.fixture(scope="module")
def lora_run(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, lora_args(tiny, out, "--rank", "4", "--alpha", "8"))
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> dict[str, Path]:
    """A 2-layer LLaMA (words "w0" … "w49") with its tokenizer, and a LoRA adapter of it on q_proj, v_proj whose
    B matrices are random (not zero), so that the adapter changes the model's outputs."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from zero2hero.lora.adapter_files import save_adapter
    from zero2hero.lora.inject import add_lora, lora_layers
    from zero2hero.lora.layer import LoRASettings

    folder = tmp_path_factory.mktemp("llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=None, eos_token_id=None, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder / "base")
    word_level = Tokenizer(models.WordLevel({f"w{i}": i for i in range(50)}, unk_token="w0"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=word_level).save_pretrained(folder / "base")
    model = LlamaForCausalLM.from_pretrained(folder / "base")
    add_lora(model, "q_proj,v_proj", LoRASettings(rank=4, alpha=8.0))
    with torch.no_grad():
        for layer in lora_layers(model).values():
            torch.nn.init.normal_(layer.lora_B["default"].weight, std=0.5)
    save_adapter(model, folder / "adapter", base_model=str(folder / "base"), task_type="CAUSAL_LM")
    return {"base": folder / "base", "adapter": folder / "adapter"}


def test_finetune_with_lora_writes_an_adapter_and_reports_its_size(lora_run: Path) -> None:
    model_dir = lora_run / "model"
    for name in ("adapter_config.json", "adapter_model.safetensors", "config.json", "tokenizer.json"):
        assert (model_dir / name).is_file(), name
    assert not (model_dir / "model.safetensors").exists()
    config = json.loads((model_dir / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["task_type"]) == (4, 8.0, "SEQ_CLS")
    assert sorted(config["target_modules"]) == ["query", "value"] and config["modules_to_save"] == ["classifier"]
    metrics = {name: facts["value"] for name, facts in json.loads((lora_run / "metrics.json").read_text()).items()}
    assert metrics["trainable_parameters_count"] == TRAINABLE
    assert metrics["adapter_mb"] == pytest.approx((model_dir / "adapter_model.safetensors").stat().st_size / 1e6)
    report = (lora_run / "report.md").read_text()
    assert f"trainable params: {TRAINABLE:,d} || all params: " in report and "z2h lora merge" in report
    assert "with LoRA (rank 4, alpha 8, on query,value)" in report
    recorded = json.loads((lora_run / "config.json").read_text())
    assert recorded["finetune"]["adaptation"] == {"kind": "lora", "rank": 4, "alpha": 8.0, "targets": "query,value",
                                                  "dropout": 0.0}
    assert not [name for name in recorded["train"] if "lora" in name]  # the loop's settings know no method


def _peft_probabilities(base: Path, adapter: Path, texts: list[str]) -> torch.Tensor:
    """PEFT's own loading of our adapter onto the base classifier: the reference for classify's probabilities."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = {0: "great", 1: "other"}
    model = AutoModelForSequenceClassification.from_pretrained(base, id2label=labels,
                                                               label2id={v: k for k, v in labels.items()})
    peft_model = PeftModel.from_pretrained(model, adapter).eval()
    batch = AutoTokenizer.from_pretrained(adapter)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return peft_model(**batch).logits.softmax(dim=-1)


def test_classify_uses_the_adapter_unmerged_as_peft_does(tiny, lora_run: Path) -> None:
    result = runner.invoke(app, ["classify", str(lora_run), *TEXTS[:1], "--json"])
    assert result.exit_code == 0, result.output
    texts = Path(lora_run.parent / "texts.txt")
    texts.write_text("\n".join(TEXTS), encoding="utf-8")
    result = runner.invoke(app, ["classify", str(lora_run / "model"), "--file", str(texts), "--json"])
    assert result.exit_code == 0, result.output
    ours = torch.tensor([[row["probabilities"]["great"], row["probabilities"]["other"]]
                         for row in json.loads(result.stdout)])
    reference = _peft_probabilities(tiny["model"], lora_run / "model", TEXTS)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_lora_merge_writes_a_plain_classifier_with_the_same_outputs(lora_run: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from zero2hero.lora.adapter_files import load_adapted_model

    result = runner.invoke(app, ["lora", "merge", str(lora_run / "model"), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    assert not [name for name in load_file(tmp_path / "merged" / "model.safetensors") if "lora" in name]
    assert merged.config.id2label == {0: "great", 1: "other"}
    assert AutoTokenizer.from_pretrained(tmp_path / "merged").model_max_length == 32  # the training length
    unmerged, tokenizer = load_adapted_model(lora_run / "model", kind="classifier")
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, unmerged(**batch).logits, atol=1e-5)
        expected = unmerged(**batch).logits.softmax(dim=-1)
    labelled = pipeline("text-classification", model=str(tmp_path / "merged"), device="cpu")(TEXTS)
    for row, probabilities in zip(labelled, expected, strict=True):
        assert row["label"] == merged.config.id2label[int(probabilities.argmax())]
        assert row["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_lora_merge_writes_a_plain_causal_lm_with_the_same_outputs(tiny_llama, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, pipeline

    from zero2hero.lora.adapter_files import load_adapted_model

    result = runner.invoke(app, ["lora", "merge", str(tiny_llama["adapter"]), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    unmerged, tokenizer = load_adapted_model(tiny_llama["adapter"], kind="causal_lm")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama["base"]).eval()
    ids = torch.tensor([[3, 14, 15, 9, 26, 5]])
    with torch.no_grad():
        logits = merged(ids).logits
        assert torch.allclose(logits, unmerged(ids).logits, atol=1e-5)
        assert (logits - base(ids).logits).abs().max() > 1e-2  # the adapter does change the model
        greedy = unmerged.generate(ids, max_new_tokens=5, do_sample=False)[0, ids.shape[1]:].tolist()
    generated = pipeline("text-generation", model=str(tmp_path / "merged"), device="cpu")(
        "w3 w14 w15 w9 w26 w5", max_new_tokens=5, do_sample=False, return_full_text=False)
    assert generated[0]["generated_text"].split() == [f"w{i}" for i in greedy]


@pytest.mark.parametrize("engine", ["ours", "hf"])
def test_generate_runs_the_adapter_unmerged_on_its_base(tiny_llama, engine: str) -> None:
    from zero2hero.lora.adapter_files import load_adapted_model

    result = runner.invoke(app, ["generate", "w3 w14 w15", "--adapter", str(tiny_llama["adapter"]), "--engine", engine,
                                 "--max-new-tokens", "6", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    unmerged, _ = load_adapted_model(tiny_llama["adapter"], kind="causal_lm")
    with torch.no_grad():
        expected = unmerged.generate(torch.tensor([[3, 14, 15]]), max_new_tokens=6, do_sample=False)[0, 3:].tolist()
    assert out["model"] == str(tiny_llama["base"]) and out["generated_ids"] == expected


def test_bad_lora_options_are_one_clear_line(tiny, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    fails_with(lora_args(tiny, out, "--targets", "q_proj,v_proj"), "match no linear layer", "query", "value")
    fails_with(lora_args(tiny, out, "--rank", "0"), "LoRA rank must be a whole number ≥ 1, got 0")
    fails_with(lora_args(tiny, out, "--rank", "-3"), "LoRA rank must be a whole number ≥ 1, got -3")
    fails_with(lora_args(tiny, out, "--rank", "64"), "rank 64 is larger than the layer", "use a rank ≤ 32")
    no_lora = [arg for arg in lora_args(tiny, out, "--rank", "4") if arg != "--lora"]
    fails_with(no_lora, "--lora is not given")
    assert not out.exists() or not any(out.iterdir()), "nothing is left behind"


def test_bad_adapters_are_one_clear_line(tiny, tiny_llama, lora_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_llama["base"], other)
    fails_with(["generate", "w1 w2", "--adapter", str(tiny_llama["adapter"]), "--model", str(other)],
               "was made for", str(other))
    fails_with(["generate", "w1 w2", "--adapter", str(lora_run / "model")], "is for SEQ_CLS, not for generating")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(lora_run / "model", corrupt)
    (corrupt / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    fails_with(["classify", str(corrupt), "good tea"], "is corrupt or truncated")
    fails_with(["lora", "merge", str(corrupt), "--out", str(tmp_path / "merged")], "is corrupt or truncated")
    fails_with(["lora", "merge", str(tiny["model"]), "--out", str(tmp_path / "merged")],
               "is not a LoRA adapter folder")
    fails_with(["lora", "merge", str(tiny_llama["adapter"]), "--out", str(other)], "already exists")
    assert not (tmp_path / "merged").exists()


@pytest.mark.heavy
def test_generate_with_an_adapter_of_smollm2_runs_on_smollm2(smollm2, tmp_path: Path) -> None:
    """The default base: an adapter saved for "smollm2" generates on SmolLM2 without --model, as the unmerged
    model does."""
    from zero2hero.lora.adapter_files import load_adapted_model, save_adapter
    from zero2hero.lora.inject import add_lora, lora_layers
    from zero2hero.lora.layer import LoRASettings

    model, tokenizer = smollm2
    adapted = type(model)(model.config)
    adapted.load_state_dict(model.state_dict())
    add_lora(adapted, "q_proj,v_proj", LoRASettings(rank=8, alpha=16.0))
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in lora_layers(adapted).values():
            torch.nn.init.normal_(layer.lora_B["default"].weight, std=0.05)
    save_adapter(adapted, tmp_path / "adapter", base_model="smollm2", task_type="CAUSAL_LM")

    result = runner.invoke(app, ["generate", "The capital of France is", "--adapter", str(tmp_path / "adapter"),
                                 "--max-new-tokens", "8", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    unmerged, _ = load_adapted_model(tmp_path / "adapter", kind="causal_lm")
    ids = torch.tensor([out["prompt_ids"]])
    with torch.no_grad():
        expected = unmerged.generate(ids, max_new_tokens=8, do_sample=False,
                                     pad_token_id=tokenizer.eos_token_id)[0, ids.shape[1]:].tolist()
        assert (unmerged(ids).logits - model(ids).logits).abs().max() > 1e-2  # the adapter is in use
    assert out["model"] == "smollm2" and out["generated_ids"] == expected[:len(out["generated_ids"])]
