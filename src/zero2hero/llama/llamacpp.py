"""llama.cpp from Python (llama-cpp-python): load a GGUF file, greedy generation timed in its two phases, logits and
perplexity, so its numbers can be set beside our model's on the same file.

llama-cpp-python is optional (``pip install 'zero2hero[llamacpp]'`` compiles llama.cpp for this CPU): it is imported
inside the functions, and a missing package raises :class:`~zero2hero.errors.AssetMissingError` with
:data:`INSTALL_HINT`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zero2hero.errors import AssetMissingError, InputError
from zero2hero.quantization.evaluate import windowed_perplexity

INSTALL_HINT = ("install a C/C++ compiler and cmake (Debian/Ubuntu: sudo apt-get install build-essential cmake), "
                "then: .venv/bin/pip install llama-cpp-python==0.3.36")


def _llama_cpp() -> Any:
    """The ``llama_cpp`` module, or :class:`AssetMissingError` when it is not installed."""
    try:
        import llama_cpp
    except ImportError as err:
        raise AssetMissingError("llama-cpp-python (llama.cpp for Python) is not installed", INSTALL_HINT) from err
    return llama_cpp


def llamacpp_available() -> bool:
    """Whether llama-cpp-python can be imported."""
    try:
        _llama_cpp()
    except AssetMissingError:
        return False
    return True


@contextmanager
def _without_weight_repacking(llama_cpp: Any) -> Iterator[None]:
    """Build the next ``Llama`` with llama.cpp's ``--no-repack`` (``use_extra_bufts = False``), which llama-cpp-python
    does not expose: with repacking on, llama.cpp 0.3.36 built for a CPU with AMX put the quantised matrices in its
    AMX buffers and crashed (segmentation fault) on every prompt of two or more tokens, Q8_0, Q4_0 and Q4_1 alike."""
    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def params() -> Any:
        model_params = defaults()
        model_params.use_extra_bufts = False
        return model_params

    llama_cpp.llama_cpp.llama_model_default_params = params
    try:
        yield
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = defaults


def load(path: str | Path, n_ctx: int = 2048, n_threads: int | None = None, logits_all: bool = False,
         n_batch: int = 512) -> Any:
    """A ``llama_cpp.Llama`` on the GGUF file ``path``, quiet, with a context of ``n_ctx`` tokens.

    ``n_threads``: CPU threads for both prompt and generation (default: ``torch.get_num_threads()``, so both
    libraries run on as many cores; on cores busy with other work one thread can be far faster, as llama.cpp's
    threads wait for each other at every step). ``logits_all`` keeps every position's logits (needed by
    :func:`token_logits` and :func:`perplexity`; it costs ``n_ctx * vocab * 4`` bytes). ``n_batch``: tokens
    evaluated per pass. With quantised weights, llama.cpp multiplies a batch of several tokens with other kernels
    than a single token, and they round differently: on SmolLM2 at Q8_0, perplexity measured 37.97 with batches of
    512 or 32 tokens and 37.67 with ``n_batch=1``, against our 37.56 on the same dequantised weights.
    """
    llama_cpp = _llama_cpp()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no GGUF file at {path}", "check the path, or write one with zero2hero.llama.gguf_writer")
    threads = torch.get_num_threads() if n_threads is None else n_threads
    try:
        with _without_weight_repacking(llama_cpp):
            return llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                   n_batch=n_batch, n_ubatch=n_batch, logits_all=logits_all, verbose=False)
    except ValueError as err:
        raise InputError(f"llama.cpp cannot load {path.name} ({err})",
                         "the file is truncated or not a GGUF model llama.cpp knows: write or copy it again") from err


@dataclass
class Generation:
    """What :func:`generate_greedy` produced and how long each phase took."""

    text: str  # the new tokens, decoded
    ids: list[int]  # the new token ids (an end-of-sequence id, when reached, is the last one)
    prompt_tokens: int
    prefill_s: float  # evaluating the prompt (which also gives the first new token)
    decode_s: float  # evaluating each new token to get the next one

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        """New tokens after the first (the first comes from the prompt's pass) per second of decoding."""
        return (len(self.ids) - 1) / self.decode_s if self.decode_s > 0 and len(self.ids) > 1 else 0.0


def last_logits(llm: Any) -> np.ndarray:
    """(vocab,) float32 logits of the last position llama.cpp evaluated (available with or without logits_all)."""
    llama_cpp = _llama_cpp()
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))


def _check_fits(llm: Any, n_tokens: int) -> None:
    if n_tokens > llm.n_ctx():
        raise InputError(f"{n_tokens} tokens exceed llama.cpp's context of {llm.n_ctx()}",
                         "load the model with a larger n_ctx, or pass fewer tokens")


def generate_greedy(llm: Any, prompt: str | list[int], max_new_tokens: int = 32) -> Generation:
    """Greedy decoding (the argmax of llama.cpp's logits at each step, i.e. temperature 0 / top-k 1) of up to
    ``max_new_tokens`` tokens after ``prompt`` (text, tokenized by the model's own tokenizer with its special tokens
    parsed, or token ids), stopping after the end-of-sequence token. The context is reset first, so calls are
    independent; prefill and decode are timed around llama.cpp's own evaluation only.
    """
    ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True) if isinstance(prompt, str) else prompt
    if not ids:
        raise InputError("the prompt is empty", "give at least one token of prompt")
    if max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be at least 1, got {max_new_tokens}", "ask for one or more tokens")
    _check_fits(llm, len(ids) + max_new_tokens)
    llm.reset()
    start = time.perf_counter()
    llm.eval(list(ids))
    new = [int(np.argmax(last_logits(llm)))]
    prefill_s = time.perf_counter() - start
    start = time.perf_counter()
    while len(new) < max_new_tokens and new[-1] != llm.token_eos():
        llm.eval([new[-1]])
        new.append(int(np.argmax(last_logits(llm))))
    decode_s = time.perf_counter() - start
    text = llm.detokenize(new).decode("utf-8", errors="replace")
    return Generation(text=text, ids=new, prompt_tokens=len(ids), prefill_s=prefill_s, decode_s=decode_s)


def token_logits(llm: Any, ids: list[int]) -> np.ndarray:
    """llama.cpp's logits (len(ids), vocab) float32 for ``ids`` evaluated from an empty context: row t predicts
    id t + 1. ``llm`` must be loaded with ``logits_all=True``."""
    if not llm._logits_all:  # llama-cpp-python keeps every row only in that mode (no public accessor)
        raise InputError("this llama.cpp model keeps the last position's logits only",
                         "load it with zero2hero.llama.llamacpp.load(path, logits_all=True)")
    if not ids:
        raise InputError("no token ids to score", "pass at least one token id")
    _check_fits(llm, len(ids))
    llm.reset()
    llm.eval(list(ids))
    return llm.scores[: len(ids)].copy()


def perplexity(llm: Any, ids: list[int], window: int = 512) -> float:
    """llama.cpp's perplexity on ``ids`` with chapter 4's definition (the same code:
    :func:`zero2hero.quantization.evaluate.windowed_perplexity`): ``ids`` cut into consecutive windows of ``window``
    ids, each scored from an empty context, exp of the mean negative log-likelihood over every predicted id of every
    window (a window of n ids predicts n - 1). ``llm`` must be loaded with ``logits_all=True`` and
    ``n_ctx >= window``.
    """
    return windowed_perplexity(lambda chunk: torch.from_numpy(token_logits(llm, chunk.tolist())),
                               torch.tensor(ids, dtype=torch.long), window)
