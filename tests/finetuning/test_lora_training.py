"""LoRA plugged into chapter 5's training loop (``LoRAAdaptation``): what trains, what is saved, and an exact resume,
on a tiny BERT."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.errors import InputError
from zero2hero.finetuning.adaptation import adaptation_settings, classifier_head_name
from zero2hero.finetuning.loop import load_model_and_tokenizer, train
from zero2hero.finetuning.train_config import TrainConfig
from zero2hero.lora.finetune_adaptation import LoRAAdaptation
from zero2hero.lora.layer import LoRALinear

HIDDEN, LAYERS, RANK = 32, 2, 4  # the tiny BERT's width and depth (tiny_bert.py), the rank used here
LORA = LoRAAdaptation(rank=RANK, alpha=8.0, dropout=0.1)  # on query,value, with dropout (the random state matters)


class Killed(Exception):
    """Stands for the process dying in the middle of a run."""



@pytest.fixture(scope="module")
def config(tmp_path_factory) -> TrainConfig:
    """3 epochs of 4 steps (trained with LORA)."""
    model = write_tiny_bert(tmp_path_factory.mktemp("tiny") / "model", dropout=0.1)
    return TrainConfig(model=str(model), epochs=3, learning_rate=2e-2, batch_size=8, gradient_accumulation_steps=2,
                       eval_every_steps=3, early_stopping_patience=None, device="cpu",
                       output_dir=tmp_path_factory.mktemp("uninterrupted"))


@pytest.fixture(scope="module")
def uninterrupted(config: TrainConfig):
    return train(make_splits(), config, LORA)


@pytest.mark.parametrize("field, value, named", [("rank", -1, "rank"), ("rank", 1.5, "rank"), ("alpha", 0.0, "alpha"),
                                                 ("dropout", 1.0, "dropout"), ("dropout", -0.1, "dropout"),
                                                 ("targets", " , ", "no LoRA target")])
def test_out_of_range_lora_settings_are_refused(field: str, value: object, named: str) -> None:
    with pytest.raises(InputError, match=named) as err:
        LoRAAdaptation(**{field: value})
    assert err.value.hint


def test_the_settings_are_recorded_with_their_kind_and_the_targets_tidied() -> None:
    adaptation = LoRAAdaptation(rank=2, targets=" query , value,")
    assert adaptation.targets == "query,value"
    assert adaptation_settings(adaptation) == {"kind": "lora", "rank": 2, "alpha": 16.0, "targets": "query,value",
                                               "dropout": 0.0}
    assert adaptation.describe() == "LoRA (rank 2, alpha 16, on query,value)"
    assert LORA.describe() == "LoRA (rank 4, alpha 8, dropout 0.1, on query,value)"


def test_without_an_adaptation_every_weight_trains(config: TrainConfig) -> None:
    model, _ = load_model_and_tokenizer(config, ["great", "other"])
    assert all(param.requires_grad for param in model.parameters())
    assert not any(isinstance(module, LoRALinear) for module in model.modules())


def test_only_the_adapters_and_the_new_head_train(config: TrainConfig) -> None:
    model, _ = load_model_and_tokenizer(config, ["great", "other"], LORA)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    adapted = {name for name, module in model.named_modules() if isinstance(module, LoRALinear)}
    assert adapted == {f"bert.encoder.layer.{i}.attention.self.{kind}" for i in range(LAYERS)
                       for kind in ("query", "value")}
    assert all(".lora_A." in name or ".lora_B." in name or name.startswith("classifier.") for name in trainable)
    # per adapted layer A (r × 32) and B (32 × r); the head: 32 × 2 weights + 2 biases
    count = sum(param.numel() for name, param in model.named_parameters() if name in trainable)
    assert count == len(adapted) * 2 * RANK * HIDDEN + HIDDEN * 2 + 2


def test_the_head_of_a_llama_classifier_is_score(tmp_path: Path) -> None:
    from transformers import BertForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    llama = LlamaForSequenceClassification(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                                       num_hidden_layers=1, num_attention_heads=2,
                                                       num_key_value_heads=1, num_labels=2))
    assert classifier_head_name(llama) == "score"
    bert = BertForSequenceClassification.from_pretrained(write_tiny_bert(tmp_path / "bert"))
    assert classifier_head_name(bert) == "classifier"
    with pytest.raises(InputError, match="no classification head"):
        classifier_head_name(bert.bert)


def test_lora_training_learns_and_saves_an_adapter_and_a_small_last_checkpoint(config: TrainConfig,
                                                                               uninterrupted) -> None:
    losses = [record["train_loss"] for record in uninterrupted.history]
    assert sum(losses[-4:]) < sum(losses[:4])  # the last epoch's loss is below the first's
    assert uninterrupted.trainable_summary.startswith(f"trainable params: {uninterrupted.trainable_parameters:,d} ")
    best, last = config.output_dir / "best", config.output_dir / "last"
    assert (best / "adapter_config.json").is_file() and not (best / "model.safetensors").exists()
    adapter = load_file(best / "adapter_model.safetensors")
    assert any("lora_B" in name for name in adapter) and any("classifier" in name for name in adapter)
    assert all("lora_" in name or "classifier" in name for name in adapter)  # no frozen weight in the adapter
    assert any(tensor.abs().sum() > 0 for name, tensor in adapter.items() if "lora_B" in name)  # B moved from 0
    saved = load_file(last / "trainable.safetensors")
    assert sum(tensor.numel() for tensor in saved.values()) == uninterrupted.trainable_parameters
    assert not (last / "model.safetensors").exists()


def test_classify_needs_the_adaptation_s_loader_for_an_adapter_folder(config: TrainConfig, uninterrupted) -> None:
    from zero2hero.finetuning.classify import classify

    best = config.output_dir / "best"
    with pytest.raises(InputError, match="holds no model weights") as err:
        classify(best, ["great tea"])
    assert "load=" in err.value.hint
    model, tokenizer = LORA.load(best)
    batch = tokenizer(["great tea", "stale snack"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits.softmax(dim=-1)
    predictions = classify(best, ["great tea", "stale snack"], load=LORA.load)
    assert torch.allclose(torch.tensor([[p.probabilities["great"], p.probabilities["other"]] for p in predictions]),
                          expected, atol=1e-6)
    assert any(isinstance(module, LoRALinear) for module in model.modules())  # unmerged, in our layers


def _kill_after(step: int):
    def on_step(record: dict) -> None:
        if record["step"] == step:
            raise Killed(f"killed after step {step}")
    return on_step


def test_a_killed_lora_run_resumes_to_the_same_weights_and_metrics(config: TrainConfig, uninterrupted,
                                                                   tmp_path: Path) -> None:
    resumed_config = replace(config, output_dir=tmp_path)
    with pytest.raises(Killed):  # the last checkpoint (step 6) is mid-epoch 1
        train(make_splits(), resumed_config, LORA, on_step=_kill_after(7))
    steps_after_resume = []
    result = train(make_splits(), resumed_config, LORA, resume=True,
                   on_step=lambda r: steps_after_resume.append(r["step"]))

    assert steps_after_resume == list(range(7, 13))
    assert result.history == uninterrupted.history  # every loss, learning rate and metric, exactly
    assert result.final_metrics == uninterrupted.final_metrics and result.best_step == uninterrupted.best_step
    for file in ("last/trainable.safetensors", "best/adapter_model.safetensors"):
        ours, reference = load_file(tmp_path / file), load_file(config.output_dir / file)
        assert ours.keys() == reference.keys()
        assert all(torch.equal(ours[name], reference[name]) for name in ours), file


def test_resuming_without_the_trainable_weights_would_not_be_exact(config: TrainConfig, uninterrupted,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: resume with freshly initialised adapters and the history departs."""
    resumed_config = replace(config, output_dir=tmp_path)
    with pytest.raises(Killed):
        train(make_splits(), resumed_config, LORA, on_step=_kill_after(7))
    monkeypatch.setattr("zero2hero.finetuning.checkpoint.load_trainable", lambda path, model: None)
    result = train(make_splits(), resumed_config, LORA, resume=True)
    assert result.history[6]["train_loss"] != uninterrupted.history[6]["train_loss"]


@pytest.mark.parametrize("adaptation, named", [(replace(LORA, rank=8), "lora_rank: 4 then, 8 now"),
                                               (replace(LORA, targets="query"), "lora_targets"),
                                               (replace(LORA, alpha=16.0), "lora_alpha"),
                                               (None, "lora_rank: 4 then, None now")])
def test_resuming_with_other_lora_settings_is_refused(config: TrainConfig, uninterrupted,
                                                      adaptation: LoRAAdaptation | None, named: str) -> None:
    with pytest.raises(InputError, match=named) as err:
        train(make_splits(), config, adaptation, resume=True)
    assert "another run" in str(err.value)


def test_without_keep_last_checkpoint_no_last_folder_is_written_and_resume_is_refused(config: TrainConfig,
                                                                                      tmp_path: Path) -> None:
    lean = replace(config, epochs=1, keep_last_checkpoint=False, output_dir=tmp_path)
    result = train(make_splits(), lean, LORA)
    assert (tmp_path / "best" / "adapter_config.json").is_file() and result.best_step is not None
    assert not (tmp_path / "last").exists()
    with pytest.raises(InputError, match="keeps no last checkpoint") as err:
        train(make_splits(), lean, LORA, resume=True)
    assert err.value.hint


def test_targets_that_match_nothing_and_a_rank_too_large_are_refused(config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="match no linear layer") as err:
        train(make_splits(), replace(config, output_dir=tmp_path), replace(LORA, targets="q_proj"))
    assert "query" in err.value.hint and "value" in err.value.hint
    with pytest.raises(InputError, match=f"rank {HIDDEN * 2} is larger than the layer"):
        train(make_splits(), replace(config, output_dir=tmp_path), replace(LORA, rank=HIDDEN * 2))
