from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config as HFConfig
from transformers import GPT2LMHeadModel

from zero2hero.errors import InputError
from zero2hero.transformer.generate import (
    SamplingConfig,
    apply_repetition_penalty,
    encode_prompt,
    generate,
    stream,
    top_k_filter,
    top_p_filter,
)
from zero2hero.transformer.load import from_hf_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    GPT2LMHeadModel(HFConfig(vocab_size=300, n_positions=96, n_embd=64, n_layer=2, n_head=4)).save_pretrained(folder)
    return GPT2LMHeadModel.from_pretrained(folder).eval()


def test_greedy_ours_equals_hf_generate(tiny: GPT2LMHeadModel) -> None:
    prompt = [5, 17, 42, 99]
    ref = tiny.generate(torch.tensor([prompt]), max_new_tokens=40, do_sample=False, pad_token_id=0)[0, 4:].tolist()
    cfg = SamplingConfig(max_new_tokens=40)
    assert generate(from_hf_model(tiny), prompt, cfg) == ref  # our model, our loop
    assert generate(tiny, prompt, cfg) == ref  # HF model, our loop with a DynamicCache


def test_no_cache_same_tokens(tiny: GPT2LMHeadModel) -> None:
    ours = from_hf_model(tiny)
    a = generate(ours, [1, 2, 3], SamplingConfig(max_new_tokens=20))
    assert generate(ours, [1, 2, 3], SamplingConfig(max_new_tokens=20, use_cache=False)) == a


def test_sampling_seeded_and_stop(tiny: GPT2LMHeadModel) -> None:
    ours = from_hf_model(tiny)
    cfg = SamplingConfig(max_new_tokens=30, temperature=1.0, top_k=50, top_p=0.9, seed=7)
    a, b = generate(ours, [1, 2], cfg), generate(ours, [1, 2], cfg)
    assert a == b and a != generate(ours, [1, 2], SamplingConfig(max_new_tokens=30, temperature=1.0, seed=8))
    stop = a[3]
    out = list(stream(ours, [1, 2], SamplingConfig(max_new_tokens=30, temperature=1.0, top_k=50, top_p=0.9,
                                                   seed=7, stop_ids=[stop])))
    assert out == a[: a.index(stop) + 1]


def test_filters_against_hand_examples() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isinf(top_p_filter(logits, 0.8)).tolist() == [False, False, True, True]
    assert torch.isinf(top_p_filter(logits, 0.81)).tolist() == [False, False, False, True]
    assert torch.isinf(top_p_filter(logits, 0.1)).tolist() == [False, True, True, True]
    assert torch.isinf(top_k_filter(logits, 2)).tolist() == [False, False, True, True]
    pen = apply_repetition_penalty(torch.tensor([2.0, -2.0, 1.0]), torch.tensor([0, 1]), 2.0)
    assert pen.tolist() == [1.0, -4.0, 1.0]


def test_repetition_penalty_matches_transformers() -> None:
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    logits = torch.randn(1, 20, generator=torch.Generator().manual_seed(0))
    seen = torch.tensor([[3, 7, 7, 11]])
    ref = RepetitionPenaltyLogitsProcessor(1.3)(seen, logits.clone())[0]
    assert torch.allclose(apply_repetition_penalty(logits[0], seen[0], 1.3), ref)


def test_bad_sampling_parameters(tiny: GPT2LMHeadModel) -> None:
    for kwargs in ({"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5}, {"top_k": 0}, {"top_p": 0.9},
                   {"max_new_tokens": 0}):
        with pytest.raises(InputError):
            SamplingConfig(**kwargs)
    with pytest.raises(InputError, match="empty"):
        generate(tiny, [], SamplingConfig())
    with pytest.raises(InputError, match="context"):
        generate(tiny, list(range(90)), SamplingConfig(max_new_tokens=10))


@pytest.mark.heavy
def test_our_loop_drives_smollm2_like_generate(smollm2) -> None:
    model, tokenizer = smollm2
    prompt = encode_prompt(tokenizer, "What is the capital of France?", chat=True)
    assert tokenizer.decode(prompt).count("<|im_start|>") >= 2  # the chat template wrapped the prompt
    plain = encode_prompt(tokenizer, "The history of the printing press")
    with torch.inference_mode():
        ref = model.generate(torch.tensor([plain]), max_new_tokens=64, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)[0, len(plain):].tolist()
    assert generate(model, plain, SamplingConfig(max_new_tokens=64, stop_ids=[tokenizer.eos_token_id])) == ref
    with pytest.raises(InputError, match="empty"):
        encode_prompt(tokenizer, "  ")
