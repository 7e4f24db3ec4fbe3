"""Tiny stand-ins for the pipeline's two base models, built locally in a second, with the real models' tokenizers.

The classifier base is a 2-layer BERT with MiniLM's WordPiece tokenizer; the generator base a 2-layer LLaMA with
SmolLM2's tokenizer and chat template (vocabulary 49,152, so chapter 7's GGUF writer and its tokenizer metadata fit).
With them the whole pipeline (fine-tuning, evaluation, GGUF export, serving) runs in tests in seconds of compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_tiny_classifier_base(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide ``BertModel`` config/weights and MiniLM's tokenizer into ``folder``; return it."""
    import torch
    from transformers import BertConfig, BertModel

    from zero2hero.assets import load_encoder

    folder.mkdir(parents=True, exist_ok=True)
    _, tokenizer = load_encoder("minilm")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_tiny_generator_base(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 64-wide ``LlamaForCausalLM`` (tied embeddings, like SmolLM2) with SmolLM2's tokenizer."""
    from zero2hero.alignment.step_timing import write_tiny_llama

    return write_tiny_llama(folder, seed)


TINY_SECTIONS: dict[str, dict[str, Any]] = {
    "data": {"max_reviews": 120},
    "classifier": {"epochs": 1, "batch_size": 16, "max_length": 48, "learning_rate": 5.0e-3},
    "generator": {"steps": 4, "batch_size": 4, "max_length": 160, "train_examples": 32, "learning_rate": 5.0e-3},
    "evaluate": {"classifier_examples": 24, "reply_examples": 3, "max_new_tokens": 8},
}


def tiny_config_file(folder: Path, **sections: dict[str, Any]) -> Path:
    """Write ``folder/tiny.yaml``: the shipped config with tiny bases and sizes, ``sections`` merged over them."""
    folder.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {"name": "tiny-desk"}
    for name, values in TINY_SECTIONS.items():
        settings[name] = dict(values)
    settings["classifier"]["base"] = str(write_tiny_classifier_base(folder / "tiny-classifier"))
    settings["generator"]["base"] = str(write_tiny_generator_base(folder / "tiny-generator"))
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path
