"""Response-only SFT from scratch: the label mask, the chat-template encoding, the loss, and our training loop."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.pipeline.tiny_models import write_tiny_generator_base
from zero2hero.alignment.instructions import Instruction, build_instructions
from zero2hero.alignment.sft import IGNORE_INDEX, collate, encode_example, sft_labels, sft_loss
from zero2hero.alignment.sft_train import SFTConfig, train_sft
from zero2hero.errors import InputError

X = IGNORE_INDEX

ITEMS = [
    Instruction("arithmetic", "arithmetic/0", "What is 3 + 4?", "7"),
    Instruction("arithmetic", "arithmetic/1", "Compute 12 minus 5. Reply with the number only.", "7"),
    Instruction("words", "words/0", "Write the word 'cat' in capital letters.", "CAT"),
    Instruction("format", "format/0", "Turn this into a comma-separated list: sun moon star", "sun, moon, star"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = write_tiny_generator_base(tmp_path_factory.mktemp("tiny-generator"))
    return folder, AutoTokenizer.from_pretrained(folder)


def tiny_model(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder)


def test_sft_labels_mask_the_prompt_and_the_padding_only():
    input_ids = torch.tensor([[5, 6, 7, 8, 0, 0], [1, 2, 3, 4, 5, 6], [9, 9, 9, 0, 0, 0]])
    prompt_lengths = torch.tensor([2, 3, 1])
    attention_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    original = input_ids.clone()
    labels = sft_labels(input_ids, prompt_lengths, attention_mask)
    assert labels.tolist() == [[X, X, 7, 8, X, X], [X, X, X, 4, 5, 6], [X, 9, 9, X, X, X]]
    assert torch.equal(input_ids, original)  # not modified
    assert labels.data_ptr() != input_ids.data_ptr()


def test_collate_right_pads_and_builds_the_labels():
    examples = [{"input_ids": [10, 11, 12], "prompt_length": 2},
                {"input_ids": [20, 21, 22, 23, 24], "prompt_length": 1}]
    batch = collate(examples, pad_id=0)
    assert batch["input_ids"].tolist() == [[10, 11, 12, 0, 0], [20, 21, 22, 23, 24]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[X, X, 12, X, X], [X, 21, 22, 23, 24]]
    assert batch["input_ids"].dtype == torch.long
    with pytest.raises(InputError, match="empty batch"):
        collate([], pad_id=0)


def test_sft_loss_is_the_shifted_mean_cross_entropy_over_response_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5)
    labels = torch.tensor([[X, X, 3, 1], [X, 2, X, X]])
    # by hand: position t predicts label t + 1; three response tokens in all
    log_probs = torch.log_softmax(logits, dim=-1)
    expected = -(log_probs[0, 1, 3] + log_probs[0, 2, 1] + log_probs[1, 0, 2]) / 3
    assert torch.allclose(sft_loss(logits, labels), expected, atol=1e-6)
    # and what torch's cross-entropy gives on the same three predictions
    torch_ce = F.cross_entropy(torch.stack([logits[0, 1], logits[0, 2], logits[1, 0]]), torch.tensor([3, 1, 2]))
    assert torch.allclose(sft_loss(logits, labels), torch_ce, atol=1e-6)


def test_sft_loss_ignores_the_logits_of_prompt_positions():
    torch.manual_seed(1)
    logits = torch.randn(1, 6, 7)
    labels = torch.tensor([[X, X, X, 4, 5, X]])  # positions 2 and 3 predict the response; 5 predicts nothing
    loss = sft_loss(logits, labels)
    changed = logits.clone()
    changed[0, [0, 1, 4, 5]] += 10 * torch.randn(4, 7)
    assert torch.allclose(sft_loss(changed, labels), loss)
    changed[0, 2] += 10 * torch.randn(7)
    assert not torch.allclose(sft_loss(changed, labels), loss)


def test_sft_loss_refuses_a_batch_without_response_tokens():
    with pytest.raises(InputError, match="no response token"):
        sft_loss(torch.randn(1, 3, 4), torch.tensor([[X, X, X]]))


def test_encode_example_is_the_templated_prompt_then_the_response_and_end_of_turn(tiny):
    _, tokenizer = tiny
    encoded = encode_example(tokenizer, "What is 3 + 4?", "7", max_length=256)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 3 + 4?"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\n")  # SmolLM2's default system message is part of the prompt
    assert encoded["prompt_length"] == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    ids = encoded["input_ids"]
    assert tokenizer.decode(ids[:encoded["prompt_length"]]) == prompt
    assert tokenizer.decode(ids[encoded["prompt_length"]:]) == "7<|im_end|>\n"
    assert tokenizer.eos_token == "<|im_end|>"


def test_encode_example_cuts_to_max_length_and_refuses_to_cut_the_whole_response(tiny):
    _, tokenizer = tiny
    full = encode_example(tokenizer, "Say hello.", "hello there, my friend", max_length=256)
    cut = encode_example(tokenizer, "Say hello.", "hello there, my friend", max_length=full["prompt_length"] + 1)
    assert cut["input_ids"] == full["input_ids"][:full["prompt_length"] + 1]
    with pytest.raises(InputError, match="no room for the response"):
        encode_example(tokenizer, "Say hello.", "hello", max_length=full["prompt_length"])
    with pytest.raises(InputError, match="empty response"):
        encode_example(tokenizer, "Say hello.", "  ", max_length=256)


@pytest.mark.parametrize("settings", [{"method": "qlora"}, {"steps": 0}, {"batch_size": 2.5}, {"max_length": 8},
                                      {"learning_rate": 0.0}, {"learning_rate": float("nan")}, {"seed": "0"}])
def test_sft_config_refuses_bad_settings(settings):
    with pytest.raises(InputError):
        SFTConfig(**settings)


def batch_loss(model, tokenizer, items) -> float:
    batch = collate([encode_example(tokenizer, item.prompt, item.answer, 128) for item in items],
                    tokenizer.pad_token_id)
    with torch.no_grad():
        return sft_loss(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                        batch["labels"]).item()


def test_lora_training_lowers_the_loss_and_returns_a_plain_model_with_merged_weights(tiny):
    folder, tokenizer = tiny
    model = tiny_model(folder)
    before = batch_loss(model, tokenizer, ITEMS)
    untouched = model.model.layers[0].mlp.up_proj.weight.clone()
    q_before = model.model.layers[0].self_attn.q_proj.weight.clone()
    seen = []
    trained, history = train_sft(model, tokenizer, ITEMS, SFTConfig(method="lora", steps=8, batch_size=4,
                                                                    learning_rate=1e-2),
                                 progress=lambda step, total, loss: seen.append((step, loss)))
    assert type(trained).__name__ == "LlamaForCausalLM"  # the adapter merged, the wrapper gone
    assert [step for step, _ in seen] == list(range(1, 9)) and [loss for _, loss in seen] == history.losses
    assert batch_loss(trained, tokenizer, ITEMS) < before - 0.5
    assert torch.equal(trained.model.layers[0].mlp.up_proj.weight, untouched)  # LoRA trains attention only
    assert not torch.equal(trained.model.layers[0].self_attn.q_proj.weight, q_before)
    assert history.seconds > 0 and history.tokens_per_s > 0


def test_full_training_changes_every_weight_and_is_reproducible(tiny):
    folder, tokenizer = tiny
    config = SFTConfig(method="full", steps=3, batch_size=2, learning_rate=1e-3)
    first, history = train_sft(tiny_model(folder), tokenizer, ITEMS, config)
    again, history_again = train_sft(tiny_model(folder), tokenizer, ITEMS, config)
    assert history.losses == history_again.losses
    base = tiny_model(folder)
    assert not torch.equal(first.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)
    assert torch.equal(first.model.layers[0].mlp.up_proj.weight, again.model.layers[0].mlp.up_proj.weight)


@pytest.mark.heavy
def test_lora_sft_on_smollm2_lowers_the_loss_on_its_items(smollm2):
    model, tokenizer = smollm2
    items = [Instruction("arithmetic", "arithmetic/0", f"What is {a} + {b}?", str(a + b))
             for a, b in [(3, 4), (12, 7), (5, 9), (8, 8)]]
    before = batch_loss(model, tokenizer, items)
    trained, history = train_sft(copy.deepcopy(model), tokenizer, items,
                                 SFTConfig(method="lora", steps=4, batch_size=4, learning_rate=2e-3))
    after = batch_loss(trained, tokenizer, items)
    assert after < 0.7 * before, (before, after, history.losses)


def test_every_generated_instruction_fits_the_default_max_length(tiny):
    _, tokenizer = tiny  # SmolLM2's tokenizer and chat template
    longest = max(len(encode_example(tokenizer, item.prompt, item.answer, 1024)["input_ids"])
                  for item in build_instructions(per_template=30, seed=0))
    assert longest <= SFTConfig().max_length
