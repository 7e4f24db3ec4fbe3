"""What `z2h generate` does: check the request, load the model, stream the continuation, measure tokens/s.

Two engines behind one function: ``ours`` (our loop of :mod:`zero2hero.transformer.generate`, on our
from-scratch GPT-2 when the model is a GPT-2, else driving the Hugging Face model's forward) and ``hf``
(``model.generate``). Both refuse a bad request the same way, before any weights are loaded: the
config and the tokenizer are enough to know the model kind, its context length and the prompt's length.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zero2hero.errors import InputError
from zero2hero.transformer.generate import GenerationStats, SamplingConfig, encode_prompt, stream

ENGINES = ("ours", "hf")


@dataclass
class GenerationResult:
    """One generation: ids, text and speed. ``engine`` is ``ours`` (our GPT-2), ``ours-loop`` (our loop on a
    Hugging Face model) or ``hf``; the prefill rate is prompt tokens/s, the decode rate new tokens/s after
    the first."""

    prompt: str
    model: str
    engine: str
    prompt_ids: list[int]
    generated_ids: list[int]
    text: str
    tokens_per_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)


def check_causal_lm(config: Any, model: str) -> None:
    """Refuse a model that transformers cannot load as a causal LM with a trained LM head (e.g. an encoder).

    The ``architectures`` a checkpoint was saved with tell whether its LM head was trained: a BERT saved as
    ``BertModel`` would load into ``BertLMHeadModel`` with a random head and generate garbage.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    causal_classes = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = getattr(config, "architectures", None) or []
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (
            architectures and not causal_classes.intersection(architectures)):
        saved_as = f" saved as {', '.join(architectures)}" if architectures else ""
        raise InputError(f"{model!r} is not a causal language model (model type {config.model_type!r}{saved_as})",
                         "generate with a decoder such as smollm2 or a GPT-2 folder; encoders like minilm only embed")


def check_context(config: Any, prompt_tokens: int, max_new_tokens: int) -> None:
    """Refuse ``prompt + max_new_tokens`` beyond the model's context length (when its config states one)."""
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    total = prompt_tokens + max_new_tokens
    if context and total > context:
        raise InputError(f"prompt ({prompt_tokens} tokens) + {max_new_tokens} new tokens = {total} tokens, "
                         f"{total - context} more than the model's context of {context}",
                         "shorten the prompt or lower --max-new-tokens")


def generate_text(prompt: str, model: str = "smollm2", engine: str = "ours", chat: bool = False,
                  sampling: SamplingConfig | None = None, on_text: Callable[[str], None] | None = None,
                  load_model: Callable[[str], tuple[Any, Any]] | None = None) -> GenerationResult:
    """Continue ``prompt`` with ``model`` (a default name, a local folder or a hub name); ``on_text`` receives
    the text as it grows. Every check runs before the weights are loaded. ``load_model(model)`` gives the
    (model, tokenizer) to run, by default :func:`zero2hero.assets.load_causal_lm` (another loader may add,
    e.g., a LoRA adapter to the weights)."""
    from zero2hero.assets import load_causal_lm, load_config, load_tokenizer

    cfg = sampling if sampling is not None else SamplingConfig()
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}", "choose --engine ours or --engine hf")
    if not prompt.strip():
        raise InputError("the prompt is empty", 'give some text, e.g. z2h generate "Once upon a time"')
    config = load_config(model)
    check_causal_lm(config, model)
    tokenizer = load_tokenizer(model)
    ids = encode_prompt(tokenizer, prompt, chat)
    check_context(config, len(ids), cfg.max_new_tokens)
    if tokenizer.eos_token_id is not None and not cfg.stop_ids:
        cfg = dataclasses.replace(cfg, stop_ids=[tokenizer.eos_token_id])
    hf_model, _ = (load_model or load_causal_lm)(model)
    run = _run_hf if engine == "hf" else _run_ours
    used_engine, new, stats, seconds = run(hf_model, tokenizer, ids, cfg, on_text)
    return GenerationResult(prompt, model, used_engine, ids, new, tokenizer.decode(new, skip_special_tokens=True),
                            round(len(new) / seconds, 2) if seconds else 0.0,
                            round(stats.prefill_tokens_per_s, 2), round(stats.decode_tokens_per_s, 2))


def _run_ours(hf_model: Any, tokenizer: Any, ids: list[int], cfg: SamplingConfig,
              on_text: Callable[[str], None] | None) -> tuple[str, list[int], GenerationStats, float]:
    model, engine = hf_model, "ours-loop"  # our loop drives the HF model's forward
    if hf_model.config.model_type == "gpt2":  # our from-scratch model is a GPT-2
        from zero2hero.transformer.load import from_hf_model

        model, engine = from_hf_model(hf_model), "ours"
    stats, new, shown = GenerationStats(), [], ""
    start = time.perf_counter()
    for token in stream(model, ids, cfg, stats):
        new.append(token)
        text = tokenizer.decode(new, skip_special_tokens=True)
        if on_text and len(text) > len(shown):
            on_text(text[len(shown):])  # decode the whole tail: a token may complete a multi-byte character
            shown = text
    return engine, new, stats, time.perf_counter() - start


def _run_hf(hf_model: Any, tokenizer: Any, ids: list[int], cfg: SamplingConfig,
            on_text: Callable[[str], None] | None) -> tuple[str, list[int], GenerationStats, float]:
    import torch
    from transformers import TextStreamer

    stats = GenerationStats(prompt_tokens=len(ids))

    class TimedStreamer(TextStreamer):
        """Passes text on and notes when the first and the last new token arrive."""

        def put(self, value: torch.Tensor) -> None:
            if not (self.skip_prompt and self.next_tokens_are_prompt):  # the first call carries the prompt
                elapsed = time.perf_counter() - start
                if stats.new_tokens == 0:
                    stats.prefill_seconds = elapsed
                stats.decode_seconds = elapsed - stats.prefill_seconds
                stats.new_tokens += 1
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if on_text and text:
                on_text(text)

    torch.manual_seed(cfg.seed)
    kwargs: dict[str, Any] = {"do_sample": cfg.sampling, "max_new_tokens": cfg.max_new_tokens,
                              "repetition_penalty": cfg.repetition_penalty, "pad_token_id": tokenizer.eos_token_id}
    if cfg.stop_ids:
        kwargs["eos_token_id"] = cfg.stop_ids
    if cfg.sampling:
        kwargs.update(temperature=cfg.temperature, top_k=cfg.top_k or 0, top_p=cfg.top_p or 1.0)
    start = time.perf_counter()
    with torch.inference_mode():
        out = hf_model.generate(torch.tensor([ids]), streamer=TimedStreamer(tokenizer, skip_prompt=True,
                                                                            skip_special_tokens=True), **kwargs)
    seconds = time.perf_counter() - start
    return "hf", out[0, len(ids):].tolist(), stats, seconds
