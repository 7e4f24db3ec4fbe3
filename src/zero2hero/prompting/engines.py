"""Three engines that run a prompt the same way: transformers (``hf``), chapter 7's LLaMA driven by chapter 3's
generation loop (``ours``) and llama.cpp (``llamacpp``).

Each one generates (greedy at temperature 0, sampled with a seed otherwise, stopping at the end-of-sequence id or a
stop id), scores continuations (the total log-probability of each one after the prompt ids) and caches a prefix
(:mod:`zero2hero.prompting.prefix_cache`): later calls whose ids start with it run only the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from zero2hero.errors import InputError
from zero2hero.prompting.prefix_cache import PrefixCache, check_prefix
from zero2hero.transformer.generate import SamplingConfig, generate, next_token

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ENGINES = ("hf", "ours", "llamacpp")
LLAMACPP_CONTEXT = 4096  # llama.cpp's context: 8 shots and an example fit with room to spare; its KV cache is small

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values, each (1, kv_head, n, head_dim)


class Engine(Protocol):
    name: str  # "hf" | "ours" | "llamacpp"
    tokenizer: PreTrainedTokenizerBase
    context_length: int

    def generate(self, ids: list[int], max_new_tokens: int, temperature: float = 0.0, seed: int = 0,
                 stop_ids: Sequence[int] = ()) -> list[int]: ...

    def continuation_log_probs(self, ids: list[int], continuations: Sequence[Sequence[int]]) -> list[float]: ...

    def cache_prefix(self, prefix_ids: list[int]) -> None: ...

    def clear_prefix(self) -> None: ...


def _sampling(max_new_tokens: int, temperature: float, seed: int, stop_ids: Sequence[int],
              eos_id: int | None) -> SamplingConfig:
    stops = [*stop_ids, *([eos_id] if eos_id is not None else [])]
    return SamplingConfig(max_new_tokens, temperature=temperature or None, seed=seed, stop_ids=stops)


def _without_stop(new_ids: list[int], cfg: SamplingConfig) -> list[int]:
    """The new ids, the stop id that ended them (if any) left out."""
    return new_ids[:-1] if new_ids and new_ids[-1] in cfg.stop_ids else new_ids


def _check_continuations(ids: Sequence[int], continuations: Sequence[Sequence[int]], context_length: int) -> None:
    if not continuations or any(len(c) == 0 for c in continuations):
        raise InputError("continuation_log_probs needs one or more non-empty continuations",
                         "pass the token ids of each label word, e.g. [[16185], [17728]]")
    longest = max(len(c) for c in continuations)
    if len(ids) + longest > context_length:
        raise InputError(f"{len(ids)} prompt tokens + a continuation of {longest} exceed the context of "
                         f"{context_length}", "use fewer shots or a shorter prompt")


class TorchEngine:
    """A PyTorch causal LM: transformers' (``hf``) or chapter 7's LLaMA (``ours``). Both keep the prefix as per-layer
    keys and values; transformers gets them wrapped in a fresh ``DynamicCache`` each call, so the prefix is never
    extended in place."""

    def __init__(self, name: str, model: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self.name, self.model, self.tokenizer = name, model, tokenizer
        self.context_length = int(model.config.max_position_embeddings)
        self._prefix: PrefixCache[KV] | None = None

    def _cache(self, kv: KV | None) -> Any:
        """What the model takes as a cache holding ``kv`` (None: an empty one)."""
        if self.name == "ours":
            return kv
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=kv) if kv is not None else DynamicCache(config=self.model.config)

    def _forward(self, ids: list[int], kv: KV | None, keep: int) -> tuple[torch.Tensor, KV]:
        """Run ``ids`` after the positions in ``kv``: (log-probs of the last ``keep`` positions (keep, vocab), the
        keys and values of every position so far)."""
        cache = self._cache(kv)
        if self.name == "ours":
            logits, cache = self.model(torch.tensor([ids]), cache, logits_to_keep=keep)
            new_kv = cache
        else:
            out = self.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True,
                             logits_to_keep=keep)
            logits, new_kv = out.logits, [(layer.keys, layer.values) for layer in out.cache.layers]
        return torch.log_softmax(logits[0].float(), dim=-1), new_kv

    def _start(self, ids: list[int]) -> tuple[KV | None, list[int]]:
        """The cached keys and values to start from and the ids still to run."""
        rest = self._prefix.rest_of(ids) if self._prefix else None
        return (self._prefix.state, rest) if rest is not None else (None, list(ids))

    @torch.inference_mode()
    def generate(self, ids: list[int], max_new_tokens: int, temperature: float = 0.0, seed: int = 0,
                 stop_ids: Sequence[int] = ()) -> list[int]:
        cfg = _sampling(max_new_tokens, temperature, seed, stop_ids, self.tokenizer.eos_token_id)
        kv, _ = self._start(ids)
        cache = self._cache(kv) if kv is not None else None
        return _without_stop(generate(self.model, list(ids), cfg, cache=cache), cfg)

    @torch.inference_mode()
    def continuation_log_probs(self, ids: list[int], continuations: Sequence[Sequence[int]]) -> list[float]:
        """The prompt is run once; each continuation's first token is read from its last position, and a longer
        continuation runs its other tokens after the prompt's keys and values."""
        _check_continuations(ids, continuations, self.context_length)
        kv, rest = self._start(ids)
        last, prompt_kv = self._forward(rest, kv, keep=1)
        totals = []
        for continuation in continuations:
            total = last[-1, continuation[0]]
            if len(continuation) > 1:
                log_probs, _ = self._forward(list(continuation[:-1]), prompt_kv, keep=len(continuation) - 1)
                total = total + log_probs.gather(1, torch.tensor(continuation[1:])[:, None]).sum()
            totals.append(float(total))
        return totals

    @torch.inference_mode()
    def cache_prefix(self, prefix_ids: list[int]) -> None:
        prefix_ids = check_prefix(prefix_ids, self.context_length)
        _, kv = self._forward(prefix_ids, None, keep=1)
        self._prefix = PrefixCache(prefix_ids, kv)

    def clear_prefix(self) -> None:
        self._prefix = None


class LlamaCppEngine:
    """llama.cpp through llama-cpp-python. The prefix stays in llama.cpp's own KV cache: after a call, the context is
    rolled back to the prefix's length (``n_tokens``), and the next ``eval`` drops the positions after it."""

    name = "llamacpp"

    def __init__(self, llm: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self.llm, self.tokenizer = llm, tokenizer
        self.context_length = int(llm.n_ctx())
        self._prefix: PrefixCache[bool] | None = None  # state: whether the prefix is in llama.cpp's KV cache now

    def _log_probs(self) -> torch.Tensor:
        """(vocab,) log-probs at the last position llama.cpp evaluated."""
        from zero2hero.llama.llamacpp import last_logits

        return torch.log_softmax(torch.from_numpy(np.array(last_logits(self.llm), dtype=np.float32)), dim=-1)

    def _run(self, ids: list[int], reserve: int = 0) -> torch.Tensor:
        """Evaluate ``ids`` (from the cached prefix when they start with it); the last position's log-probs."""
        if len(ids) + reserve > self.context_length:
            raise InputError(f"{len(ids)} prompt tokens + {reserve} new ones exceed llama.cpp's context of "
                             f"{self.context_length}", "use fewer shots or a shorter prompt")
        rest = self._prefix.rest_of(ids) if self._prefix else None
        if rest is None:
            if self._prefix:
                self._prefix.state = False  # reset below overwrites it
            self.llm.reset()
            self.llm.eval(list(ids))
            return self._log_probs()
        if not self._prefix.state:
            self.llm.reset()
            self.llm.eval(self._prefix.ids)
            self._prefix.state = True
        self.llm.n_tokens = len(self._prefix.ids)
        self.llm.eval(rest)
        return self._log_probs()

    def generate(self, ids: list[int], max_new_tokens: int, temperature: float = 0.0, seed: int = 0,
                 stop_ids: Sequence[int] = ()) -> list[int]:
        cfg = _sampling(max_new_tokens, temperature, seed, stop_ids, self.tokenizer.eos_token_id)
        log_probs = self._run(list(ids), reserve=max_new_tokens)
        generator = torch.Generator().manual_seed(seed)
        seen, new = list(ids), []
        while True:  # chapter 3's choice of the next token, on llama.cpp's logits
            token = next_token(log_probs, torch.tensor(seen), cfg, generator)
            new.append(token)
            seen.append(token)
            if token in cfg.stop_ids or len(new) == max_new_tokens:
                return _without_stop(new, cfg)
            self.llm.eval([token])
            log_probs = self._log_probs()

    def continuation_log_probs(self, ids: list[int], continuations: Sequence[Sequence[int]]) -> list[float]:
        """The prompt is evaluated once; a longer continuation's other tokens are evaluated one at a time after it,
        then the context is rolled back to the prompt."""
        _check_continuations(ids, continuations, self.context_length)
        last = self._run(list(ids))
        n_prompt = self.llm.n_tokens
        totals = []
        for continuation in continuations:
            total, log_probs = 0.0, last
            for i, token in enumerate(continuation):
                total += float(log_probs[token])
                if i < len(continuation) - 1:
                    self.llm.eval([token])
                    log_probs = self._log_probs()
            self.llm.n_tokens = n_prompt
            totals.append(total)
        return totals

    def cache_prefix(self, prefix_ids: list[int]) -> None:
        self._prefix = PrefixCache(check_prefix(prefix_ids, self.context_length), False)

    def clear_prefix(self) -> None:
        self._prefix = None


def _gguf_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def _is_gguf(model: str) -> bool:
    return model.endswith(".gguf") and Path(model).expanduser().is_file()


def check_engine_name(name: str) -> None:
    """:class:`InputError` naming the engines when ``name`` is not one of them."""
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}", f"choose one of {', '.join(ENGINES)}")


def load_engine(name: str = "hf", model: str = "smollm2", threads: int | None = None) -> Engine:
    """An engine on ``model``: ``smollm2`` (the offline default), a model folder or hub name (hf, ours), or a GGUF
    file (ours, llamacpp). ``threads``: CPU threads (default: torch's)."""
    check_engine_name(name)
    if threads is not None:
        torch.set_num_threads(threads)
    from zero2hero.assets import asset_path, load_causal_lm, load_tokenizer

    if name == "llamacpp":
        from zero2hero.llama import llamacpp

        if model == "smollm2":
            return LlamaCppEngine(llamacpp.load(asset_path("smollm2"), LLAMACPP_CONTEXT, threads),
                                  load_tokenizer("smollm2"))
        if not _is_gguf(model):
            raise InputError(f"llama.cpp runs GGUF files; {model!r} is not one", "pass a .gguf file, or smollm2")
        path = Path(model).expanduser()
        return LlamaCppEngine(llamacpp.load(path, LLAMACPP_CONTEXT, threads), _gguf_tokenizer(path))
    if name == "ours":
        from zero2hero.llama.gguf_model import llama_from_gguf
        from zero2hero.llama.model import from_transformers

        if model == "smollm2":
            return TorchEngine("ours", llama_from_gguf(), load_tokenizer("smollm2"))
        if _is_gguf(model):
            path = Path(model).expanduser()
            return TorchEngine("ours", llama_from_gguf(path), _gguf_tokenizer(path))
        hf_model, tokenizer = load_causal_lm(model)
        return TorchEngine("ours", from_transformers(hf_model), tokenizer)
    if _is_gguf(model):
        raise InputError(f"the hf engine loads model folders; {model!r} is a GGUF file",
                         "use --engine ours or llamacpp for a GGUF file")
    hf_model, tokenizer = load_causal_lm(model)
    return TorchEngine("hf", hf_model, tokenizer)
