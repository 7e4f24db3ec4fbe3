"""What `z2h generate` does: load a model, pick the engine, stream the continuation, report tokens/s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from zero2hero.errors import InputError
from zero2hero.transformer.generate import GenerationStats, SamplingConfig, encode_prompt, stream


def run_generate(prompt: str, model_name: str, engine: str, chat: bool, cfg: SamplingConfig,
                 on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate and return prompt ids, generated ids and text, and speed; ``on_text`` receives text as it grows."""
    if engine not in ("ours", "hf"):
        raise InputError(f"unknown engine {engine!r}", "choose --engine ours or --engine hf")
    if not prompt.strip():
        raise InputError("the prompt is empty", 'give some text, e.g. z2h generate "Once upon a time"')
    from zero2hero.assets import load_causal_lm

    hf_model, tokenizer = load_causal_lm(model_name)
    model: Any = hf_model
    if engine == "ours":
        if hf_model.config.model_type != "gpt2":
            engine = "ours-loop"  # our loop drives the HF model's forward (our from-scratch model is GPT-2 only)
        else:
            from zero2hero.transformer.load import from_hf_model

            model = from_hf_model(hf_model)
    ids = encode_prompt(tokenizer, prompt, chat)
    if tokenizer.eos_token_id is not None and not cfg.stop_ids:
        cfg.stop_ids = [tokenizer.eos_token_id]
    stats, new, shown = GenerationStats(), [], ""
    start = time.perf_counter()
    for token in stream(model, ids, cfg, stats):
        new.append(token)
        text = tokenizer.decode(new, skip_special_tokens=True)
        if on_text and len(text) > len(shown):
            on_text(text[len(shown):])  # decode the whole tail: a token may complete a multi-byte character
            shown = text
    seconds = time.perf_counter() - start
    return {"prompt": prompt, "model": model_name, "engine": engine, "prompt_ids": ids, "generated_ids": new,
            "text": tokenizer.decode(new, skip_special_tokens=True),
            "tokens_per_s": round(len(new) / seconds, 2) if seconds else 0.0,
            "prefill_tokens_per_s": round(stats.prefill_tokens_per_s, 2),
            "decode_tokens_per_s": round(stats.decode_tokens_per_s, 2)}
