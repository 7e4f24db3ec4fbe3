"""The peer: Hugging Face's ``model.generate`` with the same settings, streamed through a TextStreamer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from zero2hero.transformer.generate import SamplingConfig, encode_prompt


def hf_generate(prompt: str, model_name: str, chat: bool, cfg: SamplingConfig,
                on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
    from transformers import TextStreamer

    from zero2hero.assets import load_causal_lm

    model, tokenizer = load_causal_lm(model_name)
    ids = encode_prompt(tokenizer, prompt, chat)

    class _Stream(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if on_text:
                on_text(text)

    torch.manual_seed(cfg.seed)
    kwargs: dict[str, Any] = {"do_sample": cfg.sampling, "max_new_tokens": cfg.max_new_tokens,
                              "repetition_penalty": cfg.repetition_penalty, "pad_token_id": tokenizer.eos_token_id}
    if cfg.sampling:
        kwargs.update(temperature=cfg.temperature, top_k=cfg.top_k or 0, top_p=cfg.top_p or 1.0)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), streamer=_Stream(tokenizer, skip_prompt=True), **kwargs)
    seconds = time.perf_counter() - start
    new = out[0, len(ids):].tolist()
    return {"prompt": prompt, "model": model_name, "engine": "hf", "prompt_ids": ids, "generated_ids": new,
            "text": tokenizer.decode(new, skip_special_tokens=True),
            "tokens_per_s": round(len(new) / seconds, 2) if seconds else 0.0}
