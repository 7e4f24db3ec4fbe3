"""Adapter folders in PEFT's format: ours load in PEFT and PEFT's in ours with the same outputs, several adapters
share one base, and every broken folder gives one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.finetuning.tiny_bert import write_tiny_bert
from tests.lora.tiny_models import ids, logits, perturb, tiny_bert, tiny_llama
from zero2hero.errors import InputError, UnknownNameError
from zero2hero.lora import adapter_files as af
from zero2hero.lora.inject import add_lora, lora_layers, set_adapter, unwrap
from zero2hero.lora.layer import LoRASettings
from zero2hero.lora.switch import AdapterHeads


def classifier_from(folder: Path):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(folder, dtype="float32").eval()


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory) -> Path:
    """A tiny BERT classifier (labels "great"/"other") and its tokenizer saved as a base model folder."""
    folder = write_tiny_bert(tmp_path_factory.mktemp("base") / "tiny-bert", dropout=0.0)
    config = json.loads((folder / "config.json").read_text())
    config |= {"id2label": {"0": "great", "1": "other"}, "label2id": {"great": 0, "other": 1}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def trained_adapter(base_folder: Path, folder: Path, seed: int, targets: str = "query,value",
                    settings: LoRASettings | None = None) -> torch.Tensor:
    """Save an adapter with random (as if trained) A, B and head into ``folder``; return its logits on ids()."""
    model = classifier_from(base_folder)
    torch.manual_seed(seed)
    add_lora(model, targets, settings or LoRASettings(4, 8), train_in_full=["classifier"])
    perturb(model, seed)
    af.save_adapter(model, folder, base_model=str(base_folder))
    return logits(model, ids())


def test_our_adapter_folder_is_peft_format_and_peft_gives_the_same_outputs(base_folder: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    ours = trained_adapter(base_folder, tmp_path / "adapter", seed=1)
    config = json.loads((tmp_path / "adapter" / af.CONFIG_FILE).read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "SEQ_CLS"
    assert (config["r"], config["lora_alpha"], config["target_modules"]) == (4, 8, ["query", "value"])
    assert config["modules_to_save"] == ["classifier"] and config["base_model_name_or_path"] == str(base_folder)
    keys = set(load_file(tmp_path / "adapter" / af.WEIGHTS_FILE))
    layer = "base_model.model.bert.encoder.layer.0.attention.self.query"
    assert {f"{layer}.lora_A.weight", f"{layer}.lora_B.weight", "base_model.model.classifier.weight"} <= keys
    assert len(keys) == 2 * 2 * 2 + 2  # 2 layers × query, value × A, B; the head's weight and bias
    assert json.loads((tmp_path / "adapter" / af.LABELS_FILE).read_text())["id2label"] == {"0": "great", "1": "other"}

    base = classifier_from(base_folder)
    assert not torch.allclose(logits(base, ids()), ours, atol=1e-3)  # the adapter changes the outputs
    theirs = logits(PeftModel.from_pretrained(base, tmp_path / "adapter").eval(), ids())
    torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)


def test_all_linear_targets_are_written_so_that_peft_adapts_the_same_layers(base_folder: Path,
                                                                            tmp_path: Path) -> None:
    from peft import PeftModel

    ours = trained_adapter(base_folder, tmp_path / "adapter", seed=2, targets="all-linear")
    targets = json.loads((tmp_path / "adapter" / af.CONFIG_FILE).read_text())["target_modules"]
    assert targets == ["dense", "key", "query", "value"]  # pooler.dense included, as PEFT's all-linear does
    theirs = logits(PeftModel.from_pretrained(classifier_from(base_folder), tmp_path / "adapter").eval(), ids())
    torch.testing.assert_close(theirs, ours, atol=1e-6, rtol=0)


def test_a_subset_of_same_named_layers_is_written_by_full_name(tmp_path: Path) -> None:
    model = tiny_bert()
    names = add_lora(model, "attention.output.dense", LoRASettings(2, 4))
    af.save_adapter(model, tmp_path / "adapter", base_model="tiny")
    targets = af.read_adapter_config(tmp_path / "adapter").targets
    assert targets == sorted(names) and len(targets) == 2  # "dense" alone would also pick the feed-forward layers


def test_an_adapter_peft_saved_loads_into_our_layers_with_the_same_outputs(base_folder: Path,
                                                                           tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(classifier_from(base_folder), LoraConfig(
        r=4, lora_alpha=16, target_modules=["query", "value"], use_rslora=True, task_type="SEQ_CLS"))
    perturb(peft_model, seed=3)
    theirs = logits(peft_model, ids())
    peft_model.save_pretrained(tmp_path / "peft")

    config = af.read_adapter_config(tmp_path / "peft")
    assert config.settings == LoRASettings(4, 16.0, 0.0, rank_stabilised=True)
    assert "classifier" in config.train_in_full and config.task_type == "SEQ_CLS"
    model = classifier_from(base_folder)
    names = af.load_adapter(model, tmp_path / "peft")
    assert len(names) == 4 and isinstance(model.classifier, AdapterHeads)
    torch.testing.assert_close(logits(model, ids()), theirs, atol=1e-6, rtol=0)


def test_a_causal_lm_adapter_round_trips_through_peft_with_full_layer_names(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                         task_type="CAUSAL_LM"))
    perturb(peft_model, seed=4)
    peft_model.save_pretrained(tmp_path / "peft")
    model = tiny_llama()
    assert len(af.load_adapter(model, tmp_path / "peft")) == 2 * 7  # q, k, v, o, gate, up, down per layer
    torch.testing.assert_close(logits(model, ids()), logits(peft_model, ids()), atol=1e-6, rtol=0)

    af.save_adapter(model, tmp_path / "ours", base_model="tiny-llama")  # and back: the same file content
    assert af.read_adapter_config(tmp_path / "ours").task_type == "CAUSAL_LM"
    saved, reloaded = load_file(tmp_path / "peft" / af.WEIGHTS_FILE), load_file(tmp_path / "ours" / af.WEIGHTS_FILE)
    assert saved.keys() == reloaded.keys()
    assert all(torch.equal(saved[key], reloaded[key]) for key in saved)


def test_load_adapted_model_rebuilds_the_classifier_with_its_label_names(base_folder: Path, tmp_path: Path) -> None:
    ours = trained_adapter(base_folder, tmp_path / "adapter", seed=5)
    model, tokenizer = af.load_adapted_model(tmp_path / "adapter", kind="classifier")
    assert model.config.id2label == {0: "great", 1: "other"} and not model.training
    torch.testing.assert_close(logits(model, ids()), ours, atol=1e-6, rtol=0)
    assert tokenizer("great coffee")["input_ids"][1] == tokenizer.convert_tokens_to_ids("great")


def test_two_adapters_on_one_base_switch_with_set_adapter(base_folder: Path, tmp_path: Path) -> None:
    first = trained_adapter(base_folder, tmp_path / "one", seed=6)
    second = trained_adapter(base_folder, tmp_path / "two", seed=7, settings=LoRASettings(2, 8))
    model = classifier_from(base_folder)
    base = logits(model, ids())
    af.load_adapter(model, tmp_path / "one", adapter="one")
    af.load_adapter(model, tmp_path / "two", adapter="two")
    assert len(lora_layers(model)) == 4  # the second adapter went into the same layers, the base is shared
    for name, expected in (("one", first), ("two", second), (None, base), ("one", first)):
        set_adapter(model, name)
        torch.testing.assert_close(logits(model, ids()), expected, atol=1e-6, rtol=0)

    af.save_adapter(model, tmp_path / "one-again", base_model=str(base_folder), adapter="one")
    saved, again = load_file(tmp_path / "one" / af.WEIGHTS_FILE), load_file(tmp_path / "one-again" / af.WEIGHTS_FILE)
    assert saved.keys() == again.keys() and all(torch.equal(saved[key], again[key]) for key in saved)
    set_adapter(model, "two")
    plain = unwrap(model)  # the active adapter merged, its own head put back as a plain module
    assert isinstance(plain.classifier, torch.nn.Linear)
    torch.testing.assert_close(logits(plain, ids()), second, atol=1e-5, rtol=0)


# --- every broken folder or wrong base: one InputError, with a hint -------------------------------------------


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    """A small query,value adapter of tiny_bert() (hidden size 32)."""
    model = tiny_bert()
    add_lora(model, "query,value", LoRASettings(4, 8), train_in_full=["classifier"])
    return af.save_adapter(model, tmp_path / "adapter", base_model="tiny-bert-32")


def edit_config(folder: Path, **changes: object) -> None:
    path = folder / af.CONFIG_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def expect_input_error(call, *words: str) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.hint, "every error says what to do"
    assert all(word in caught.value.message for word in words), caught.value.message
    return caught.value


def test_a_missing_folder_or_one_without_a_config_is_refused(tmp_path: Path) -> None:
    expect_input_error(lambda: af.read_adapter_config(tmp_path / "nowhere"), "no adapter folder")
    (tmp_path / "empty").mkdir()
    error = expect_input_error(lambda: af.load_adapter(tiny_bert(), tmp_path / "empty"), "adapter_config.json")
    assert "adapter_model.safetensors" in error.hint  # says what a folder needs


def test_another_kind_of_adapter_or_a_feature_we_lack_is_refused(adapter: Path) -> None:
    edit_config(adapter, peft_type="PREFIX_TUNING")
    expect_input_error(lambda: af.read_adapter_config(adapter), "PREFIX_TUNING", "not a LoRA")
    edit_config(adapter, peft_type="LORA", use_dora=True)
    expect_input_error(lambda: af.read_adapter_config(adapter), "use_dora")
    (adapter / af.CONFIG_FILE).write_text("{not json")
    expect_input_error(lambda: af.read_adapter_config(adapter), "not valid JSON")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_a_corrupt_truncated_or_missing_weights_file_is_refused(adapter: Path, damage: str) -> None:
    path = adapter / af.WEIGHTS_FILE
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-100] if damage == "truncated" else b"\x00" * 64)
    model = tiny_bert()
    expect_input_error(lambda: af.load_adapter(model, adapter), *(
        ["no adapter_model.safetensors"] if damage == "missing" else ["corrupt or truncated"]))
    assert not lora_layers(model)  # nothing was changed


def test_an_adapter_for_another_base_is_refused_naming_both(adapter: Path) -> None:
    wider = tiny_bert(hidden=48)
    error = expect_input_error(lambda: af.load_adapter(wider, adapter), "tiny-bert-32", "BertForSequenceClassification",
                               "(4, 32)", "(4, 48)")
    assert "base model" in error.hint
    assert not lora_layers(wider)  # nothing was changed
    expect_input_error(lambda: af.load_adapter(tiny_llama(), adapter), "tiny-bert-32", "LlamaForCausalLM")
    expect_input_error(lambda: af.load_adapter(tiny_bert(), adapter, expected_base="minilm"), "tiny-bert-32", "minilm")
    three_labels = tiny_bert(num_labels=3)
    expect_input_error(lambda: af.load_adapter(three_labels, adapter), "classifier", "(3, 32)")
    assert not lora_layers(three_labels)


def test_saving_refuses_a_used_folder_or_an_unknown_adapter(adapter: Path, tmp_path: Path) -> None:
    model = tiny_bert()
    add_lora(model, "query", LoRASettings(2, 4))
    expect_input_error(lambda: af.save_adapter(model, adapter, base_model="x"), "already exists")
    error = expect_input_error(lambda: af.save_adapter(model, tmp_path / "new", base_model="x", adapter="other"),
                               "'other'")
    assert "default" in error.hint
    expect_input_error(lambda: af.load_adapter(model, adapter, adapter="default"), "already has an adapter")


def test_load_adapted_model_refuses_the_wrong_kind(adapter: Path) -> None:
    expect_input_error(lambda: af.load_adapted_model(adapter, kind="causal_lm"), "SEQ_CLS", "causal_lm")
    with pytest.raises(UnknownNameError, match="classifier, causal_lm"):
        af.load_adapted_model(adapter, kind="seq2seq")


@pytest.mark.heavy
def test_load_adapted_model_finds_the_offline_minilm_by_name(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from zero2hero.assets import resolve_model_path

    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_model_path("minilm"), dtype="float32", id2label={0: "great", 1: "other"},
        label2id={"great": 0, "other": 1}).eval()
    add_lora(model, "query,value", LoRASettings(4, 8), train_in_full=["classifier"])
    perturb(model, seed=8)
    af.save_adapter(model, tmp_path / "adapter", base_model="minilm")
    loaded, tokenizer = af.load_adapted_model(tmp_path / "adapter", kind="classifier")
    batch = tokenizer(["fresh and lovely", "stale"], padding=True, return_tensors="pt")["input_ids"]
    assert loaded.config.id2label == {0: "great", 1: "other"}
    torch.testing.assert_close(logits(loaded, batch), logits(model, batch), atol=1e-6, rtol=0)
