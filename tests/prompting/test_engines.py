"""The three engines run a prompt the same way: transformers, our LLaMA through chapter 3's loop, and llama.cpp give
the same greedy ids and the same continuation log-probs (llama.cpp within its 8-bit activation rounding), and a
cached prefix changes nothing but the time. A tiny random LLaMA for every engine path; SmolLM2 in the heavy tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from tests.prompting.tiny_chat_lm import write_tiny_chat_lm, write_tiny_gguf
from zero2hero.errors import InputError
from zero2hero.prompting.engines import ENGINES, TorchEngine, load_engine

pytestmark = pytest.mark.usefixtures("one_thread_per_module")
needs_llamacpp = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                    reason="llama-cpp-python is not installed (pip install 'zero2hero[llamacpp]')")
SYSTEM = "Classify each food review as positive or negative. Answer with one word."
SHOTS = [("Stale crackers, broken box.", "negative"), ("Best coffee I have had in years!", "positive"),
         ("Too salty, would not buy again.", "negative"), ("My dog loves these treats.", "positive")]
REVIEWS = ["The tea was lovely and fresh, I will order again.", "Arrived melted and tasted of plastic."]


def messages(review: str | None) -> list[dict[str, str]]:
    out = [{"role": "system", "content": SYSTEM}]
    for text, answer in SHOTS:
        out += [{"role": "user", "content": f"Review: {text}"}, {"role": "assistant", "content": answer}]
    return out + ([{"role": "user", "content": f"Review: {review}"}] if review else [])


def chat_ids(tokenizer, review: str | None) -> list[int]:
    return list(tokenizer.apply_chat_template(messages(review), add_generation_prompt=review is not None,
                                              tokenize=True, return_dict=False))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    folder = write_tiny_chat_lm(tmp_path_factory.mktemp("tiny") / "model")
    return {"folder": folder, "gguf": folder.parent / "tiny-f32.gguf"}


@pytest.fixture(scope="module")
def tiny_engines(tiny) -> dict:
    engines = {name: load_engine(name, str(tiny["folder"])) for name in ("hf", "ours")}
    if importlib.util.find_spec("llama_cpp") is not None:
        engines["llamacpp"] = load_engine("llamacpp", str(write_tiny_gguf(tiny["folder"], tiny["gguf"])))
    return engines


def reference_log_probs(model, ids: list[int], continuation: list[int]) -> float:
    """One plain forward over ids + continuation, summing the log-softmax at the continuation's positions."""
    with torch.inference_mode():
        logits = model(torch.tensor([ids + continuation])).logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)[len(ids) - 1:-1]
    return float(log_probs.gather(1, torch.tensor(continuation)[:, None]).sum())


CONTINUATIONS = [[16185], [17728], [16185, 17728, 2731]]  # "positive", "negative", and three tokens


def test_hf_log_probs_equal_one_plain_forward(tiny_engines) -> None:
    engine = tiny_engines["hf"]
    ids = chat_ids(engine.tokenizer, REVIEWS[0])
    got = engine.continuation_log_probs(ids, CONTINUATIONS)
    expected = [reference_log_probs(engine.model, ids, c) for c in CONTINUATIONS]
    assert got == pytest.approx(expected, abs=1e-4)
    assert got[2] < got[0]  # three tokens are less likely than the first alone


@pytest.mark.parametrize("name", ["ours", pytest.param("llamacpp", marks=needs_llamacpp)])
def test_engines_agree_with_transformers_on_the_tiny_model(tiny_engines, name: str) -> None:
    hf, other = tiny_engines["hf"], tiny_engines[name]
    tolerance = 1e-4 if name == "ours" else 2e-3  # llama.cpp keeps its KV cache in float16: measured 4e-4
    for review in REVIEWS:
        ids = chat_ids(hf.tokenizer, review)
        assert other.generate(ids, 12) == hf.generate(ids, 12)
        assert other.continuation_log_probs(ids, CONTINUATIONS) == pytest.approx(
            hf.continuation_log_probs(ids, CONTINUATIONS), abs=tolerance)
        # the same seed draws the same tokens: every engine samples with chapter 3's next_token
        assert other.generate(ids, 6, temperature=1.0, seed=5) == hf.generate(ids, 6, temperature=1.0, seed=5)


@pytest.mark.parametrize("name", ["hf", "ours", pytest.param("llamacpp", marks=needs_llamacpp)])
def test_a_cached_prefix_changes_nothing(tiny_engines, name: str) -> None:
    engine = tiny_engines[name]
    prefix = chat_ids(engine.tokenizer, None)
    prompts = [chat_ids(engine.tokenizer, review) for review in REVIEWS]
    assert all(ids[:len(prefix)] == prefix for ids in prompts)
    plain = [(engine.generate(ids, 10), engine.continuation_log_probs(ids, CONTINUATIONS)) for ids in prompts]
    engine.cache_prefix(prefix)
    try:
        # twice each, interleaved with generation: using the cache must not extend it
        cached = [(engine.generate(ids, 10), engine.continuation_log_probs(ids, CONTINUATIONS)) for ids in prompts * 2]
        other = engine.generate(chat_ids(engine.tokenizer, "Fine.")[len(prefix) - 3:], 4)  # not the prefix: ignored
    finally:
        engine.clear_prefix()
    for (ids_a, lp_a), (ids_b, lp_b) in zip(plain * 2, cached, strict=True):
        assert ids_a == ids_b
        assert lp_a == pytest.approx(lp_b, abs=1e-4)
    assert other == engine.generate(chat_ids(engine.tokenizer, "Fine.")[len(prefix) - 3:], 4)


def test_generation_stops_at_a_stop_id_and_sampling_follows_the_seed(tiny_engines) -> None:
    engine = tiny_engines["ours"]
    ids = chat_ids(engine.tokenizer, REVIEWS[1])
    greedy = engine.generate(ids, 8)
    last_new = max(i for i, token in enumerate(greedy) if token not in greedy[:i])  # its first appearance
    assert len(greedy) == 8 and engine.generate(ids, 8, stop_ids=[greedy[last_new]]) == greedy[:last_new]
    draws = {tuple(engine.generate(ids, 8, temperature=1.0, seed=seed)) for seed in range(4)}
    assert len(draws) > 1 and engine.generate(ids, 8, temperature=1.0, seed=2) == engine.generate(
        ids, 8, temperature=1.0, seed=2)


def test_bad_requests_are_one_line_errors(tiny_engines) -> None:
    engine = tiny_engines["hf"]
    with pytest.raises(InputError, match="hf, ours, llamacpp"):
        load_engine("vllm")
    assert ENGINES == ("hf", "ours", "llamacpp")
    with pytest.raises(InputError, match="empty"):
        engine.cache_prefix([])
    with pytest.raises(InputError, match="non-empty continuations"):
        engine.continuation_log_probs([1, 2, 3], [[]])
    with pytest.raises(InputError, match="exceed the context"):
        engine.generate(list(range(1, 2040)), 32)
    with pytest.raises(InputError, match="a continuation of 2 exceed the context of 2048"):
        engine.continuation_log_probs(list(range(1, 2048)), [[5], [6, 7]])
    with pytest.raises(InputError, match="GGUF"):
        load_engine("llamacpp", str(Path(__file__)))


# ---- SmolLM2-135M-Instruct ----

@pytest.fixture(scope="module")
def smol_engines(smollm2) -> dict:
    engines = {"hf": TorchEngine("hf", *smollm2), "ours": load_engine("ours")}
    if importlib.util.find_spec("llama_cpp") is not None:
        engines["llamacpp"] = load_engine("llamacpp")
    return engines


LABELS = [[16185], [17728], [30627]]  # "positive", "negative", "neutral" (no leading space after the chat header)


@pytest.mark.heavy
def test_smollm2_engines_agree(smol_engines) -> None:
    hf, ours = smol_engines["hf"], smol_engines["ours"]
    ids = chat_ids(hf.tokenizer, REVIEWS[0])
    assert ours.generate(ids, 12) == hf.generate(ids, 12)
    assert ours.continuation_log_probs(ids, LABELS) == pytest.approx(hf.continuation_log_probs(ids, LABELS), abs=1e-4)


@pytest.mark.heavy
@needs_llamacpp
def test_smollm2_llamacpp_is_close_to_transformers(smol_engines) -> None:
    """Same Q4_1 weights (transformers' dequantised to float32), but llama.cpp rounds the activations to 8 bits
    before each 4-bit matrix product: on these prompts the label log-probs differed by up to 0.19 nats (measured
    on 4 reviews x 3 labels); 0.4 leaves room for other prompts. The decision (the most likely label) is the same."""
    hf, cpp = smol_engines["hf"], smol_engines["llamacpp"]
    for review in REVIEWS:
        ids = chat_ids(hf.tokenizer, review)
        expected, got = hf.continuation_log_probs(ids, LABELS), cpp.continuation_log_probs(ids, LABELS)
        assert got == pytest.approx(expected, abs=0.4)
        assert max(range(3), key=got.__getitem__) == max(range(3), key=expected.__getitem__)
        assert cpp.generate(ids, 4) == hf.generate(ids, 4)


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["hf", "ours", pytest.param("llamacpp", marks=needs_llamacpp)])
def test_smollm2_prefix_cache_changes_nothing(smol_engines, name: str) -> None:
    engine = smol_engines[name]
    ids = chat_ids(engine.tokenizer, REVIEWS[1])
    plain = engine.generate(ids, 8), engine.continuation_log_probs(ids, LABELS)
    engine.cache_prefix(chat_ids(engine.tokenizer, None))
    try:
        cached = engine.generate(ids, 8), engine.continuation_log_probs(ids, LABELS)
    finally:
        engine.clear_prefix()
    assert cached[0] == plain[0]
    assert cached[1] == pytest.approx(plain[1], abs=1e-4)
