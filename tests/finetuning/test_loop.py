"""The from-scratch training loop: config, batching, optimizer groups, schedule, accumulation, evaluation, saving."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.errors import InputError
from zero2hero.finetuning.batching import (
    batch_indices,
    encode_examples,
    epoch_order,
    pad_batch,
    rank_share,
)
from zero2hero.finetuning.data import Example
from zero2hero.finetuning.loop import accumulate_gradients, evaluate, train
from zero2hero.finetuning.schedule import linear_warmup_then_decay, make_optimizer, no_decay_parameter_names
from zero2hero.finetuning.train_config import TrainConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny") / "model", dropout=0.0)


def _config(model: Path, out: Path, **changes) -> TrainConfig:
    base = TrainConfig(model=str(model), epochs=4, learning_rate=1e-2, batch_size=8, eval_every_steps=8,
                       early_stopping_patience=None, device="cpu", output_dir=out)
    return replace(base, **changes)


@pytest.mark.parametrize("field, value", [
    ("num_labels", 1), ("epochs", 0), ("batch_size", 0), ("gradient_accumulation_steps", 0), ("max_length", 1),
    ("eval_every_steps", 0), ("early_stopping_patience", 0), ("seed", -1), ("learning_rate", 0.0),
    ("learning_rate", 2.0), ("warmup_ratio", 1.0), ("warmup_ratio", -0.1), ("weight_decay", -0.01),
    ("max_grad_norm", 0.0), ("device", "tpu"), ("epochs", 1.5), ("model", ""),
])
def test_out_of_range_settings_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(InputError) as err:
        TrainConfig(**{field: value})
    assert field in str(err.value) or repr(value) in str(err.value)
    assert err.value.hint


def test_pad_batch_equals_data_collator_with_padding(tiny: Path) -> None:
    from transformers import AutoTokenizer, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    examples = [Example("great", 0), Example("the coffee was very bad and stale", 1), Example("a tea", 0)]
    encoded = encode_examples(tokenizer, examples, max_length=6)
    ours = pad_batch(encoded, tokenizer.pad_token_id)
    theirs = DataCollatorWithPadding(tokenizer)([{"input_ids": e.input_ids, "token_type_ids": e.token_type_ids,
                                                  "labels": e.label} for e in encoded])
    assert ours["input_ids"].shape == (3, 6)  # the longest text, cut to max_length
    for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        assert torch.equal(ours[key], theirs[key]), key


def test_a_model_without_segments_gets_no_token_type_ids(tiny: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny, model_input_names=["input_ids", "attention_mask"])  # as DistilBERT
    encoded = encode_examples(tokenizer, [Example("great", 0), Example("bad tea", 1)], max_length=8)
    batch = pad_batch(encoded, tokenizer.pad_token_id)
    assert sorted(batch) == ["attention_mask", "input_ids", "labels"]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_epoch_order_is_a_seeded_permutation_that_changes_each_epoch() -> None:
    first = epoch_order(50, seed=3, epoch=0)
    assert sorted(first) == list(range(50))
    assert first == epoch_order(50, seed=3, epoch=0)  # rebuilt identically: nothing to save for resume
    assert first != epoch_order(50, seed=3, epoch=1)
    assert first != epoch_order(50, seed=4, epoch=0)


def test_rank_shares_together_make_the_single_process_batches() -> None:
    order = epoch_order(20, seed=0, epoch=0)
    shares = [batch_indices(rank_share(order, rank, 2), 3) for rank in range(2)]
    single = batch_indices(order, 6)
    assert len(shares[0]) == len(shares[1]) == len(single)
    for b, batch in enumerate(single):
        assert sorted(shares[0][b] + shares[1][b]) == sorted(batch)


def test_uneven_data_is_cut_so_every_process_has_the_same_share() -> None:
    shares = [rank_share(list(range(7)), rank, 2) for rank in range(2)]
    assert shares == [[0, 2, 4], [1, 3, 5]]


@pytest.mark.parametrize("warmup, total", [(3, 20), (0, 10), (10, 10)])
def test_schedule_equals_transformers_linear_schedule_with_warmup(warmup: int, total: int) -> None:
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    theirs = get_linear_schedule_with_warmup(optimizer, warmup, total)
    factors = []
    for _ in range(total + 2):
        factors.append(theirs.get_last_lr()[0])
        optimizer.step()
        theirs.step()
    assert factors == pytest.approx([linear_warmup_then_decay(step, warmup, total) for step in range(total + 2)],
                                    abs=1e-12)


def test_no_decay_groups_equal_the_trainers(tiny: Path) -> None:
    from transformers import AutoModelForSequenceClassification, Trainer

    model = AutoModelForSequenceClassification.from_pretrained(tiny)
    every = {name for name, _ in model.named_parameters()}
    decayed_by_trainer = set(Trainer.get_decay_parameter_names(None, model))
    assert every - no_decay_parameter_names(model) == decayed_by_trainer
    assert "bert.embeddings.LayerNorm.weight" in no_decay_parameter_names(model)
    optimizer = make_optimizer(model, 1e-3, 0.01)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.01, 0.0]
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(every)


def test_accumulated_gradient_is_the_mean_over_batches(tiny: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    encoded = encode_examples(tokenizer, make_splits().train[:8], max_length=32)
    halves = [pad_batch(encoded[:4], 0), pad_batch(encoded[4:], 0)]
    loss_two = accumulate_gradients(model, halves, torch.device("cpu"))
    accumulated = [param.grad.clone() for param in model.parameters()]
    model.zero_grad()
    loss_one = accumulate_gradients(model, [pad_batch(encoded, 0)], torch.device("cpu"))
    assert loss_two == pytest.approx(loss_one, abs=1e-6)
    for grad, param in zip(accumulated, model.parameters(), strict=True):
        torch.testing.assert_close(grad, param.grad, atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def finished(tiny: Path, tmp_path_factory):
    """One full run on the tiny model: 64 examples, batch 8, 4 epochs → 32 steps, evaluated every 8."""
    config = _config(tiny, tmp_path_factory.mktemp("run"))
    return config, train(make_splits(), config)


def test_history_has_every_step_and_evaluations_on_schedule(finished) -> None:
    config, result = finished
    assert [record["step"] for record in result.history] == list(range(1, 33))
    assert [r["step"] for r in result.history if "macro_f1" in r] == [8, 16, 24, 32]
    assert result.history[0]["learning_rate"] == 0.0  # warm-up starts at 0
    assert max(r["learning_rate"] for r in result.history) == pytest.approx(config.learning_rate)
    assert all(math.isfinite(r["train_loss"]) for r in result.history)
    assert result.final_metrics == {key: result.history[-1][key] for key in ("val_loss", "accuracy", "macro_f1")}


def test_the_tiny_model_learns_the_task(finished) -> None:
    _, result = finished
    assert result.final_metrics["accuracy"] >= 0.8, result.history  # half the reviews are "great": chance is 0.5


def test_best_checkpoint_loads_and_scores_its_recorded_metrics(finished, tiny: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    config, result = finished
    best = result.best_dir
    assert (best / "model.safetensors").is_file() and not list(best.parent.glob(".tmp-*"))
    model = AutoModelForSequenceClassification.from_pretrained(best)
    tokenizer = AutoTokenizer.from_pretrained(best)
    validation = encode_examples(tokenizer, make_splits().validation, config.max_length)
    metrics = evaluate(model, validation, ["great", "other"], 8, tokenizer.pad_token_id, torch.device("cpu"))
    assert metrics == pytest.approx(result.best_metrics, abs=1e-6)
    classify = pipeline("text-classification", model=str(best))
    assert {prediction["label"] for prediction in classify(["great tea", "awful box"])} <= {"great", "other"}


def test_early_stopping_after_patience_evaluations_without_a_better_macro_f1(tiny: Path, tmp_path: Path) -> None:
    config = _config(tiny, tmp_path, learning_rate=1e-12, early_stopping_patience=1)  # nothing can improve
    result = train(make_splits(), config)
    assert result.stopped_early
    assert [r["step"] for r in result.history if "macro_f1" in r] == [8, 16]
    assert result.best_step == 8


def test_more_labels_than_the_data_has_is_refused(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="num_labels"):
        train(make_splits(), _config(tiny, tmp_path, num_labels=3))


def test_cuda_without_a_gpu_is_refused(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA GPU"):
        train(make_splits(), _config(tiny, tmp_path, device="cuda"))


def test_a_label_outside_the_label_names_is_refused(tiny: Path, tmp_path: Path) -> None:
    splits = make_splits()
    splits.train.append(Example("great tea", 5))
    with pytest.raises(InputError, match="outside"):
        train(splits, _config(tiny, tmp_path))
