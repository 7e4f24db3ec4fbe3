"""llama.cpp (llama-cpp-python) on files our GGUF writer wrote: the same logits and perplexity as our model, greedy
ids equal ours on the shipped SmolLM2 file, and clear errors when the package or a file is missing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.llama.conftest import tiny_llama
from zero2hero.corpus import heldout_text
from zero2hero.errors import AssetMissingError, InputError
from zero2hero.llama import llamacpp
from zero2hero.llama.gguf_model import llama_from_gguf
from zero2hero.llama.gguf_reader import read_gguf
from zero2hero.llama.gguf_writer import tokenizer_entries, write_gguf
from zero2hero.llama.model import from_transformers
from zero2hero.quantization.evaluate import windowed_perplexity
from zero2hero.quantization.ggml import dequantize_q8_0, quantize_q8_0
from zero2hero.transformer.generate import SamplingConfig, generate

# llama.cpp needs a vocabulary in the file to load it: a toy byte-level one for the tiny model's 96 ids.
TOY_TOKENIZER = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": [f"t{i}" for i in range(96)],
                 "tokenizer.ggml.merges": ["t 1"]}

needs_llamacpp = pytest.mark.skipif(not llamacpp.llamacpp_available(), reason=llamacpp.INSTALL_HINT)


def test_llamacpp_is_installed() -> None:
    if llamacpp.llamacpp_available():
        return
    if os.environ.get("CI") or os.environ.get("Z2H_REQUIRE_LLAMACPP") == "1":
        pytest.fail(f"llama-cpp-python is not installed: {llamacpp.INSTALL_HINT}")
    pytest.skip(llamacpp.INSTALL_HINT)


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now raises ImportError
    assert not llamacpp.llamacpp_available()
    with pytest.raises(AssetMissingError, match="llama-cpp-python") as err:
        llamacpp.load(tmp_path / "model.gguf")
    assert "pip install llama-cpp-python==0.3.36" in err.value.hint and "cmake" in err.value.hint


def _tiny_gguf(tmp_path: Path, fmt: str) -> tuple[Path, torch.nn.Module]:
    """The tiny LLaMA (seed 0) written by our writer as ``fmt``, and the original model."""
    model = from_transformers(tiny_llama(seed=0))
    return write_gguf(model, tmp_path / f"tiny-{fmt}.gguf", fmt, tokenizer_metadata=TOY_TOKENIZER), model


def _heldout_ids(n: int) -> list[int]:
    """``n`` ids for the tiny model's 96-token vocabulary: the bytes of held-out text, modulo 96."""
    return [byte % 96 for byte in heldout_text(4 * n).encode("utf-8")][:n]


def _our_logits(model: torch.nn.Module, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.tensor([ids]))[0][0].numpy()


def _scorer(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """ids (n,) -> our model's logits (n, vocab), for :func:`windowed_perplexity`."""
    return lambda chunk: model(chunk[None])[0][0]


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@needs_llamacpp
def test_f32_logits_and_perplexity_equal_ours(tmp_path: Path, one_thread: None) -> None:
    path, model = _tiny_gguf(tmp_path, "f32")
    with closing(llamacpp.load(path, n_ctx=128, logits_all=True)) as llm:
        ids = _heldout_ids(300)
        got, expected = llamacpp.token_logits(llm, ids[:128]), _our_logits(model, ids[:128])
        assert got.shape == (128, 96) and got.dtype == np.float32 and np.abs(expected).max() > 4
        # Measured: at most 0.0049 apart (logits up to 5.5, seeds 0-2). llama.cpp keeps the attention's keys and values
        # in a float16 cache (relative rounding 2^-11), the rest is float32 in another summation order.
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-2)
        assert (got.argmax(1) == expected.argmax(1)).all()
        ours = windowed_perplexity(_scorer(model), torch.tensor(ids), 128)
        assert llamacpp.perplexity(llm, ids, window=128) == pytest.approx(ours, rel=1e-3)  # measured 7e-5 apart


def _round_activations_to_q8_0(model: torch.nn.Module) -> None:
    """Make every linear layer of ``model`` see its input rounded to Q8_0 blocks, as llama.cpp's Q8_0 matmul does."""
    def rounded(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        x = args[0]
        return (dequantize_q8_0(quantize_q8_0(x.reshape(-1, x.shape[-1]))).reshape(x.shape),)

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_pre_hook(rounded)


@needs_llamacpp
def test_q8_0_logits_are_ours_on_the_dequantised_weights(tmp_path: Path, one_thread: None) -> None:
    path, original = _tiny_gguf(tmp_path, "q8_0")
    dequantised = llama_from_gguf(path)
    ids = _heldout_ids(300)
    ours = windowed_perplexity(_scorer(dequantised), torch.tensor(ids), 128)
    with closing(llamacpp.load(path, n_ctx=128, logits_all=True)) as llm:
        got = llamacpp.token_logits(llm, ids[:128])
        assert llamacpp.perplexity(llm, ids, window=128) == pytest.approx(ours, rel=0.01)  # measured 0.08 % apart
    gap = np.abs(got - _our_logits(dequantised, ids[:128]))
    # Measured (seed 0): max 0.25, mean 0.022, where float32 files agree to 0.005: llama.cpp's Q8_0 matmul also
    # rounds its input rows to 8-bit blocks. llama.cpp is nearer our dequantised weights than the original ones
    # (mean 0.031), and nearer still once our linear layers round their inputs to Q8_0 as well (mean 0.014).
    assert gap.max() < 0.5 and gap.mean() < 0.04
    assert gap.mean() < 0.8 * np.abs(got - _our_logits(original, ids[:128])).mean()
    _round_activations_to_q8_0(dequantised)
    assert np.abs(got - _our_logits(dequantised, ids[:128])).mean() < 0.8 * gap.mean()


@needs_llamacpp
def test_greedy_generation_is_the_argmax_and_timed(tmp_path: Path, one_thread: None) -> None:
    path, model = _tiny_gguf(tmp_path, "f32")
    with closing(llamacpp.load(path, n_ctx=128)) as llm:
        prompt = _heldout_ids(10)
        first = llamacpp.generate_greedy(llm, prompt, max_new_tokens=12)
        assert llamacpp.generate_greedy(llm, prompt, max_new_tokens=12).ids == first.ids  # each call starts afresh
        ours = generate(model, prompt, SamplingConfig(max_new_tokens=12, stop_ids=[llm.token_eos()]))
        assert first.ids == ours and len(ours) == 12 and first.prompt_tokens == 10
        assert first.prefill_s > 0 and first.decode_s > 0 and first.decode_tokens_per_s == 11 / first.decode_s
        assert first.prefill_tokens_per_s == 10 / first.prefill_s
        with pytest.raises(InputError, match="exceed llama.cpp's context"):
            llamacpp.generate_greedy(llm, prompt, max_new_tokens=500)


@needs_llamacpp
def test_a_truncated_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path, _ = _tiny_gguf(tmp_path, "q8_0")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="llama.cpp cannot load cut.gguf"):
        llamacpp.load(cut)
    with pytest.raises(InputError, match="no GGUF file"):
        llamacpp.load(tmp_path / "absent.gguf")


@pytest.mark.heavy
@needs_llamacpp
def test_smollm2_q8_0_perplexity_is_ours_within_1_percent_token_by_token(tmp_path: Path,
                                                                                  smollm2_path: Path) -> None:
    tokenizer = tokenizer_entries(read_gguf(smollm2_path))
    q8_0 = write_gguf(llama_from_gguf(smollm2_path), tmp_path / "smollm2.q8_0.gguf", "q8_0", tokenizer)
    ours = llama_from_gguf(q8_0)  # the Q8_0 weights, dequantised to float32
    f32 = write_gguf(ours, tmp_path / "smollm2.f32.gguf", "f32", tokenizer)  # the same values, stored as float32
    with closing(llamacpp.load(q8_0, n_ctx=512, logits_all=True)) as llm:
        ids = llm.tokenize(heldout_text(4000).encode("utf-8"), add_bos=False)[:512]
        batched = llamacpp.perplexity(llm, ids)
    with closing(llamacpp.load(q8_0, n_ctx=512, logits_all=True, n_batch=1)) as llm:
        token_by_token = llamacpp.perplexity(llm, ids)
    with closing(llamacpp.load(f32, n_ctx=512, logits_all=True)) as llm:
        at_f32 = llamacpp.perplexity(llm, ids)
    expected = windowed_perplexity(_scorer(ours), torch.tensor(ids))
    assert len(ids) == 512 and 20 < expected < 60  # measured 37.56
    # Same weights in float32: llama.cpp computes what we compute (measured 0.002 % apart).
    assert at_f32 == pytest.approx(expected, rel=1e-3)
    # Q8_0, one token per pass: llama.cpp's matrix-vector kernel also rounds each activation row to Q8_0 blocks;
    # measured 37.67 against our 37.56 (+0.30 %; +0.10 % once our layers round their inputs the same way).
    assert token_by_token == pytest.approx(expected, rel=0.01)
    # Q8_0, 512 tokens per pass: llama.cpp's batched kernels round differently again, measured 37.97 (+1.09 %;
    # the shipped Q4_1 file: 37.73 against our 37.38, +0.93 %).
    assert batched == pytest.approx(expected, rel=0.02)


@pytest.mark.heavy
@needs_llamacpp
def test_smollm2_q4_1_greedy_ids_equal_ours_at_first(smollm2_path: Path) -> None:
    ours = llama_from_gguf(smollm2_path)
    prompts = ["def fibonacci(n):", "Once upon a time, in a small village,",
               "<|im_start|>user\nWhat is a large language model?<|im_end|>\n<|im_start|>assistant\n"]
    with closing(llamacpp.load(smollm2_path, n_ctx=512)) as llm:
        for prompt in prompts:
            ids = llm.tokenize(prompt.encode("utf-8"), special=True)
            theirs = llamacpp.generate_greedy(llm, ids, max_new_tokens=10)
            # Measured on this machine: the first 13, 16 and 64 new ids equal ours. Later they may part: llama.cpp
            # multiplies 4-bit weights by activations rounded to 8 bits, we multiply the dequantised weights in
            # float32, and once two candidates are nearly tied a tiny difference picks the other one.
            assert theirs.ids == generate(ours, ids, SamplingConfig(max_new_tokens=10)), prompt
            assert theirs.prompt_tokens == len(ids) and theirs.text.strip()
