"""Generation written out: greedy / temperature / top-k / top-p sampling, repetition penalty, stop tokens,
a KV cache and streaming. One loop drives our GPT-2 and any Hugging Face causal LM."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from zero2hero.errors import InputError
from zero2hero.transformer.gpt2 import GPT2


@dataclass
class SamplingConfig:
    """``temperature`` None (or 0) means greedy; otherwise sample from the filtered, tempered distribution."""

    max_new_tokens: int = 32
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    stop_ids: list[int] = field(default_factory=list)
    seed: int = 0
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens is {self.max_new_tokens}", "ask for at least 1 new token")
        if self.temperature is not None and not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise InputError(f"temperature {self.temperature} is not a finite number >= 0",
                             "use a temperature > 0 (e.g. 0.8), or none for greedy")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise InputError(f"top_p {self.top_p} is outside (0, 1]", "top-p keeps a probability mass: e.g. 0.9")
        if self.top_k is not None and self.top_k < 1:
            raise InputError(f"top_k {self.top_k} is below 1", "top-k keeps the k most likely tokens: e.g. 50")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            raise InputError(f"repetition_penalty {self.repetition_penalty} is not a finite number > 0",
                             "1.0 means no penalty")
        if self.sampling and not self.temperature:
            raise InputError("top-k / top-p sampling needs a temperature > 0", "add e.g. --temperature 0.8")

    @property
    def sampling(self) -> bool:
        return bool(self.temperature) or self.top_k is not None or self.top_p is not None


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (vocab,), seen (n,) ids already in the text: positive logits / penalty, negative ones × penalty."""
    if penalty == 1.0 or seen.numel() == 0:
        return logits
    out = logits.clone()
    picked = out[seen]
    out[seen] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return out


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of (vocab,), set the others to -inf."""
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter on (vocab,): keep the smallest set of most likely tokens whose probability sum reaches p."""
    sorted_logits, order = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    # A token is dropped when the mass *before* it already reaches p; the top token is always kept.
    drop_sorted = (torch.cumsum(probs, dim=-1) - probs) >= p
    drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token(logits: torch.Tensor, seen: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator) -> int:
    """Pick the next id from the last position's logits (vocab,)."""
    logits = apply_repetition_penalty(logits.float(), seen, cfg.repetition_penalty)
    if not cfg.sampling:
        return int(torch.argmax(logits))
    logits = logits / cfg.temperature
    if cfg.top_k is not None:
        logits = top_k_filter(logits, cfg.top_k)
    if cfg.top_p is not None:
        logits = top_p_filter(logits, cfg.top_p)
    return int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen))


def context_length(model: Any) -> int:
    if isinstance(model, GPT2):
        return model.config.n_positions
    return int(getattr(model.config, "max_position_embeddings", None) or model.config.n_positions)


def forward_step(model: Any) -> Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]:
    """A function (ids (1, n_new), cache) -> (last logits (vocab,), cache) for our GPT-2 or an HF causal LM.

    Any other model of ours that is called the same way (``model(ids, cache) -> (logits, cache)``, e.g. chapter 7's
    LLaMA) says so with a class attribute ``own_cache = True``, and also takes ``logits_to_keep=1``: only the last
    position goes through the vocabulary projection."""
    if isinstance(model, GPT2) or getattr(model, "own_cache", False):
        keep = {} if isinstance(model, GPT2) else {"logits_to_keep": 1}

        def ours(ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
            logits, cache = model(ids, cache, **keep)
            return logits[0, -1], cache
        return ours

    from transformers import DynamicCache

    def hf(ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        if cache is None:
            cache = DynamicCache(config=model.config)
        # logits_to_keep=1: only the last position goes through the (large) vocabulary projection.
        out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1], out.cache
    return hf


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        return (self.new_tokens - 1) / self.decode_seconds if self.decode_seconds > 0 and self.new_tokens > 1 else 0.0

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prefill_seconds if self.prefill_seconds > 0 else 0.0


def cached_length(cache: Any) -> int:
    """Positions a KV cache holds: a transformers ``Cache`` or our list of per-layer (keys, values); 0 for None."""
    if cache is None:
        return 0
    return int(cache.get_seq_length()) if hasattr(cache, "get_seq_length") else cache[0][0].shape[2]


def stream(model: Any, prompt_ids: list[int], cfg: SamplingConfig,
           stats: GenerationStats | None = None, cache: Any = None) -> Iterator[int]:
    """Yield new token ids one at a time. With ``use_cache`` each step feeds only the newest token;
    without, the whole sequence is run again every step (the quadratic baseline).

    ``cache``: the KV cache of the first prompt ids (e.g. a few-shot prefix shared by many prompts), so that only the
    rest of the prompt is run; it is extended as generation goes, so pass one that may change."""
    if not prompt_ids:
        raise InputError("the prompt is empty", "give at least one token of prompt")
    n_cached = cached_length(cache)
    if n_cached >= len(prompt_ids):
        raise InputError(f"the cache holds {n_cached} positions, the prompt only {len(prompt_ids)}",
                         "cache a prefix shorter than the prompt")
    limit = context_length(model)
    if len(prompt_ids) + cfg.max_new_tokens > limit:
        raise InputError(f"prompt ({len(prompt_ids)} tokens) + {cfg.max_new_tokens} new tokens exceed the "
                         f"context of {limit}", "shorten the prompt or ask for fewer new tokens")
    stats = stats if stats is not None else GenerationStats()
    stats.prompt_tokens = len(prompt_ids)
    step = forward_step(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    ids = list(prompt_ids)
    with torch.inference_mode():
        start = time.perf_counter()
        logits, cache = step(torch.tensor([ids[n_cached:]]), cache)
        for i in range(cfg.max_new_tokens):
            token = next_token(logits, torch.tensor(ids), cfg, gen)
            now = time.perf_counter()
            if i == 0:
                stats.prefill_seconds, decode_start = now - start, now
            else:
                stats.decode_seconds = now - decode_start
            ids.append(token)
            stats.new_tokens += 1
            yield token
            if token in cfg.stop_ids or i == cfg.max_new_tokens - 1:
                return
            if cfg.use_cache:
                logits, cache = step(torch.tensor([[token]]), cache)
            else:
                logits, _ = step(torch.tensor([ids]), None)


def generate(model: Any, prompt_ids: list[int], cfg: SamplingConfig,
             stats: GenerationStats | None = None, cache: Any = None) -> list[int]:
    """All new ids of :func:`stream` as a list."""
    return list(stream(model, prompt_ids, cfg, stats, cache))


def encode_prompt(tokenizer: Any, prompt: str, chat: bool = False) -> list[int]:
    """Token ids of the prompt; with ``chat``, wrapped by the tokenizer's chat template as a user turn."""
    if not prompt.strip():
        raise InputError("the prompt is empty", 'give some text, e.g. z2h generate "Once upon a time"')
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise InputError("this tokenizer has no chat template", "drop --chat for a plain continuation")
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            tokenize=True, return_dict=False)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    return tokenizer(prompt)["input_ids"]
