"""A tiny random LlamaForCausalLM with SmolLM2's tokenizer and chat template, saved as a model folder (no download),
and the same model as a float32 GGUF file that llama.cpp runs: every engine in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

import torch


def write_tiny_chat_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer LLaMA (hidden 32, 4 query heads over 2 key/value heads, tied embeddings) over SmolLM2's vocabulary,
    saved with ``save_pretrained`` together with SmolLM2's tokenizer into ``folder``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from zero2hero.assets import load_tokenizer

    tokenizer = load_tokenizer("smollm2")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger weights than the default init: sharper, more varied next-token distributions
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0, 0.1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_gguf(folder: Path, path: Path) -> Path:
    """The model of ``folder`` as a float32 GGUF file with SmolLM2's tokenizer entries (our writer)."""
    from transformers import AutoModelForCausalLM

    from zero2hero.assets import asset_path
    from zero2hero.llama.gguf_reader import read_gguf
    from zero2hero.llama.gguf_writer import tokenizer_entries, write_gguf
    from zero2hero.llama.model import from_transformers

    model = from_transformers(AutoModelForCausalLM.from_pretrained(folder, dtype="float32"))
    return write_gguf(model, path, "f32", tokenizer_entries(read_gguf(asset_path("smollm2"))))
