"""Soft prompt tuning written from scratch equals PEFT's prompt tuning (same init, same logits, same training losses),
leaves the frozen model bit-equal, learns, scores labels like chapter 8's reference, and saves and loads. A tiny
random LLaMA over SmolLM2's vocabulary for all of it; SmolLM2 itself in the heavy test."""

from __future__ import annotations

import pytest
import torch

from tests.prompting.tiny_chat_lm import write_tiny_chat_lm
from zero2hero.errors import InputError
from zero2hero.prompting.functional import label_log_probs
from zero2hero.prompting.promptset import Item, PromptSet, Shot
from zero2hero.prompting.soft_prompt import (
    IGNORE,
    QUICK,
    LabelExample,
    SoftPrompt,
    SoftPromptConfig,
    collate,
    copy_into_peft,
    label_examples,
    label_scores,
    label_word_ids,
    load_soft_prompt,
    peft_prompt_tuning,
    save_soft_prompt,
    soft_prompt_experiment,
    soft_prompt_logits,
    soft_prompt_loss,
    train_soft_prompt,
    training_batches,
)

pytestmark = pytest.mark.usefixtures("one_thread_per_module")
INSTRUCTION = "Classify the sentiment of the food review as positive or negative."
REVIEWS = ["Lovely fresh tea.", "Stale and broken, never again!", "My dog loves these treats, five stars.",
           "Too salty.", "Great coffee at a fair price, will order again.", "Arrived melted."]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_tiny_chat_lm(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def tiny(tiny_folder):
    """A fresh tiny model per test (PEFT wraps and freezes the model it is given) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(tiny_folder)


def sentiment_set(n_items: int = 4) -> PromptSet:
    items = [Item(f"r{i}", {"review": text}, "great" if i % 2 == 0 else "other") for i, text in enumerate(REVIEWS)]
    pool = [Shot({"review": f"{text} (again)"}, "great" if i % 2 == 0 else "other") for i, text in enumerate(REVIEWS)]
    return PromptSet(name="mini", kind="label", description="mini sentiment", system=INSTRUCTION,
                     templates={"plain": "Review: {review}\nSentiment:"}, items=items[:n_items], pool=pool,
                     labels=["great", "other"], label_words={"great": "positive", "other": "negative"})


def examples(tokenizer, ps: PromptSet | None = None) -> list[LabelExample]:
    ps = ps or sentiment_set()
    return label_examples(ps, tokenizer, ps.pool)


def test_the_initial_soft_prompt_equals_peft_text_initialisation(tiny, tiny_folder):
    from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

    model, tokenizer = tiny
    ours = SoftPrompt.from_text(model, tokenizer, "positive or negative", 7)  # 3 tokens, repeated to 7 rows
    config = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=7,
                                prompt_tuning_init=PromptTuningInit.TEXT,
                                prompt_tuning_init_text="positive or negative", tokenizer_name_or_path=str(tiny_folder))
    theirs = get_peft_model(model, config).prompt_encoder["default"].embedding.weight
    assert torch.equal(ours.embeddings, theirs)
    ids = tokenizer("positive or negative")["input_ids"]
    assert torch.equal(ours.embeddings[len(ids)], model.get_input_embeddings().weight[ids[0]])  # the repetition


def test_logits_equal_peft_for_the_same_embeddings(tiny):
    model, tokenizer = tiny
    torch.manual_seed(1)
    soft = SoftPrompt(torch.randn(5, model.config.hidden_size) * 0.1)
    batch = collate(examples(tokenizer)[:3], label_word_ids(sentiment_set(), tokenizer), tokenizer.pad_token_id)
    ours = soft_prompt_logits(model, soft, batch.input_ids, batch.attention_mask)
    peft_model = peft_prompt_tuning(model, 5)
    copy_into_peft(soft, peft_model)
    theirs = peft_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    assert ours.shape == theirs.shape == (3, 5 + batch.input_ids.shape[1], model.config.vocab_size)
    real = torch.cat([torch.ones(3, 5, dtype=torch.bool), batch.attention_mask.bool()], dim=1)
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-4, rtol=0)
    without = soft_prompt_logits(model, None, batch.input_ids, batch.attention_mask)
    assert not torch.allclose(ours[:, 5:][batch.attention_mask.bool()], without[batch.attention_mask.bool()],
                              atol=1e-3)  # the virtual tokens do change the prediction


def test_training_gives_the_same_losses_as_peft(tiny):
    model, tokenizer = tiny
    train = examples(tokenizer)
    label_ids, pad = label_word_ids(sentiment_set(), tokenizer), tokenizer.pad_token_id
    batches = [collate([train[i] for i in b], label_ids, pad) for b in training_batches(len(train), 2, 6, seed=3)]
    start = SoftPrompt.from_text(model, tokenizer, INSTRUCTION, 4)

    ours, our_losses = SoftPrompt(start.embeddings), []
    optimizer = torch.optim.AdamW(ours.parameters(), lr=0.05)
    for batch in batches:
        loss = soft_prompt_loss(model, ours, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        our_losses.append(loss.item())

    peft_model = peft_prompt_tuning(model, 4)
    copy_into_peft(start, peft_model)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=0.05)
    peft_losses = []
    for batch in batches:
        loss = peft_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        peft_losses.append(loss.item())

    assert our_losses == pytest.approx(peft_losses, rel=1e-4)
    assert not torch.equal(ours.embeddings, start.embeddings)
    torch.testing.assert_close(ours.embeddings, peft_model.prompt_encoder["default"].embedding.weight,
                               atol=1e-5, rtol=0)


def test_training_moves_only_the_soft_prompt_and_keeps_the_dev_best(tiny):
    model, tokenizer = tiny
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ps = sentiment_set(n_items=6)
    train, dev = examples(tokenizer, ps), label_examples(ps, tokenizer, ps.items)
    start = SoftPrompt.from_text(model, tokenizer, INSTRUCTION, QUICK.num_virtual_tokens)
    initial = start.embeddings.detach().clone()
    best, history = train_soft_prompt(model, start, train, dev, label_word_ids(ps, tokenizer),
                                      tokenizer.pad_token_id, QUICK, progress=False)
    assert all(not p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert not torch.equal(start.embeddings, initial)  # the trained one moved
    assert len(history.losses) == QUICK.steps and history.dev_steps == [0, 2, 4]
    assert history.best_step == history.dev_steps[history.dev_accuracy.index(max(history.dev_accuracy))]
    if history.best_step == QUICK.steps:
        assert torch.equal(best.embeddings, start.embeddings)
    elif history.best_step == 0:
        assert torch.equal(best.embeddings, initial)
    assert history.seconds_per_step > 0


def test_a_soft_prompt_learns_a_constant_answer(tiny):
    """Every prompt answered 'negative', which the frozen random model never prefers to 'positive' at first: the soft
    prompt alone must turn that around."""
    model, tokenizer = tiny
    ps = sentiment_set(n_items=6)
    ps.pool = [Shot(s.variables, "other") for s in ps.pool]
    ps.items = [Item(i.id, i.variables, "other") for i in ps.items]
    train, dev = examples(tokenizer, ps), label_examples(ps, tokenizer, ps.items)
    label_ids = label_word_ids(ps, tokenizer)
    start = SoftPrompt.from_text(model, tokenizer, INSTRUCTION, 4)
    config = SoftPromptConfig(num_virtual_tokens=4, steps=30, batch_size=2, lr=0.05, eval_every=10)
    best, history = train_soft_prompt(model, start, train, dev, label_ids, tokenizer.pad_token_id, config,
                                      progress=False)
    assert history.dev_accuracy[0] == 0.0 and history.dev_accuracy[-1] == 1.0 and history.best_step == 10
    assert history.losses[-1] < history.losses[0] - 1.5
    scores = label_scores(model, best, dev, label_ids, tokenizer.pad_token_id)
    assert (scores[:, 1] > scores[:, 0]).all()


@pytest.mark.parametrize("words", [{"great": "positive", "other": "negative"},  # one token each: one pass per prompt
                                   {"great": "very good", "other": "not good at all"}])  # several tokens
def test_label_scores_equal_the_reference_label_log_probs(tiny, words):
    model, tokenizer = tiny
    ps = sentiment_set()
    ps.label_words = words
    label_ids = label_word_ids(ps, tokenizer)
    prompts = label_examples(ps, tokenizer, ps.items)
    ours = label_scores(model, None, prompts, label_ids, tokenizer.pad_token_id, batch_size=3)
    reference = torch.stack([label_log_probs(model, e.prompt_ids, label_ids) for e in prompts])
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)


def test_label_scores_with_a_soft_prompt_equal_peft(tiny):
    model, tokenizer = tiny
    ps = sentiment_set()
    label_ids, prompts = label_word_ids(ps, tokenizer), label_examples(ps, tokenizer, ps.items)
    torch.manual_seed(2)
    soft = SoftPrompt(torch.randn(3, model.config.hidden_size) * 0.1)
    ours = label_scores(model, soft, prompts, label_ids, tokenizer.pad_token_id)
    peft_model = peft_prompt_tuning(model, 3)
    copy_into_peft(soft, peft_model)
    for example, row in zip(prompts, ours, strict=True):
        logits = peft_model(input_ids=torch.tensor([example.prompt_ids])).logits[0, -1]
        expected = torch.log_softmax(logits, dim=-1)[[ids[0] for ids in label_ids]]
        torch.testing.assert_close(row, expected, atol=1e-4, rtol=0)


def test_collate_pads_on_the_right_and_targets_only_the_label(tiny):
    _, tokenizer = tiny
    short, long = LabelExample([1, 2], 1), LabelExample([1, 2, 3, 4], 0)
    batch = collate([short, long], [[7], [8, 9]], pad_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 8, 9, 0], [1, 2, 3, 4, 7]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert batch.targets.tolist() == [[IGNORE, IGNORE, 8, 9, IGNORE], [IGNORE] * 4 + [7]]


def test_label_examples_render_the_chat_prompt_and_cut_long_texts(tiny):
    _, tokenizer = tiny
    ps = sentiment_set()
    ps.items = [Item("long", {"review": "x" * 50 + "TAIL"}, "other")]
    (example,) = label_examples(ps, tokenizer, ps.items, max_chars=50)
    text = tokenizer.decode(example.prompt_ids)
    assert example.label == 1 and INSTRUCTION in text and "TAIL" not in text
    assert text.endswith("<|im_start|>assistant\n")  # the answer starts right after the prompt
    assert label_word_ids(ps, tokenizer) == [tokenizer.encode("positive", add_special_tokens=False),
                                             tokenizer.encode("negative", add_special_tokens=False)]


def test_a_set_of_another_kind_is_refused(tiny):
    _, tokenizer = tiny
    ps = sentiment_set()
    ps.kind = "number"
    with pytest.raises(InputError, match="kind label"):
        label_word_ids(ps, tokenizer)


def test_training_batches_are_seeded_epochs():
    batches = training_batches(6, 2, 6, seed=0)
    assert batches == training_batches(6, 2, 6, seed=0) != training_batches(6, 2, 6, seed=1)
    assert sorted(sum(batches[:3], [])) == list(range(6)) == sorted(sum(batches[3:], []))  # each epoch: all once
    with pytest.raises(InputError, match="fewer than one batch"):
        training_batches(3, 4, 1)


@pytest.mark.parametrize("changes", [{"steps": 0}, {"num_virtual_tokens": 0}, {"lr": 0.0}, {"lr": 3.0}])
def test_bad_configurations_are_refused(changes):
    with pytest.raises(InputError):
        SoftPromptConfig(**changes)


def test_save_and_load_round_trip(tmp_path):
    soft = SoftPrompt(torch.randn(4, 6))
    save_soft_prompt(soft, tmp_path / "soft.safetensors")
    assert torch.equal(load_soft_prompt(tmp_path / "soft.safetensors").embeddings, soft.embeddings)
    assert [p.name for p in tmp_path.iterdir()] == ["soft.safetensors"]  # no temporary left behind
    with pytest.raises(InputError, match="no soft prompt"):
        load_soft_prompt(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(InputError, match="not a safetensors file"):
        load_soft_prompt(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match=r"\(k, hidden\)"):
        SoftPrompt(torch.zeros(4))


def test_copying_into_a_peft_model_of_another_size_is_refused(tiny):
    model, _ = tiny
    with pytest.raises(InputError, match="same num_virtual_tokens"):
        copy_into_peft(SoftPrompt(torch.zeros(3, model.config.hidden_size)), peft_prompt_tuning(model, 4))


def test_the_experiment_compares_with_zero_shot_on_the_same_items(tiny):
    model, tokenizer = tiny
    ps = sentiment_set(n_items=6)
    result = soft_prompt_experiment(model, tokenizer, ps, ps.items[:2], ps.items, QUICK, lrs=(1e-3, 0.05),
                                    progress=False)
    assert set(result.histories) == {1e-3, 0.05} and result.chosen_lr in result.histories
    assert len(result.zero_shot) == len(result.soft_prompt_correct) == 6
    assert result.comparison.a.mean == pytest.approx(sum(result.zero_shot) / 6)
    assert result.comparison.b.mean == pytest.approx(sum(result.soft_prompt_correct) / 6)
    default = soft_prompt_experiment(model, tokenizer, ps, ps.items[:2], ps.items[:2], QUICK, progress=False)
    assert list(default.histories) == [QUICK.lr]


@pytest.mark.heavy
def test_smollm2_logits_equal_peft():
    from zero2hero.assets import load_causal_lm

    model, tokenizer = load_causal_lm("smollm2")  # a copy of its own: PEFT wraps and freezes it
    soft = SoftPrompt.from_text(model, tokenizer, INSTRUCTION, 8)
    batch = collate(examples(tokenizer)[:2], label_word_ids(sentiment_set(), tokenizer), tokenizer.pad_token_id)
    with torch.no_grad():
        ours = soft_prompt_logits(model, soft, batch.input_ids, batch.attention_mask)
        peft_model = peft_prompt_tuning(model, 8)
        copy_into_peft(soft, peft_model)
        theirs = peft_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    real = torch.cat([torch.ones(2, 8, dtype=torch.bool), batch.attention_mask.bool()], dim=1)
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-4, rtol=0)
