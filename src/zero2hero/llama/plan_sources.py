"""Where a model's architecture numbers come from: the published models of ``data/model_configs.json``, a
transformers config folder (LLaMA, Mistral, Falcon, BLOOM), or a llama.cpp GGUF file (chapter 7's reader)."""

from __future__ import annotations

import json
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.llama.planner import Architecture


def named_models() -> dict[str, Architecture]:
    """The published models of ``zero2hero/data/model_configs.json``, by name."""
    text = resources.files("zero2hero").joinpath("data/model_configs.json").read_text(encoding="utf-8")
    known = {f.name for f in fields(Architecture)}
    models = {}
    for name, entry in json.loads(text)["models"].items():
        values = {key: value for key, value in entry.items() if key in known}
        models[name] = Architecture(name=entry["display"], head_dim=entry["hidden"] // entry["heads"], **values)
    return models


def from_transformers_config(config: Any, name: str) -> Architecture:
    """From a transformers config of a LLaMA-like (llama, mistral), Falcon or BLOOM model."""
    kind = config.model_type
    h, heads = config.hidden_size, config.num_attention_heads
    common = dict(name=name, vocab=config.vocab_size, hidden=h, layers=config.num_hidden_layers, heads=heads,
                  context=getattr(config, "max_position_embeddings", None) or getattr(config, "seq_length", 0),
                  tied_embeddings=bool(config.tie_word_embeddings))
    if kind in ("llama", "mistral"):
        return Architecture(intermediate=config.intermediate_size,
                            kv_heads=config.num_key_value_heads or heads,
                            head_dim=getattr(config, "head_dim", None) or h // heads,
                            attention_bias=bool(getattr(config, "attention_bias", False)),
                            mlp_bias=bool(getattr(config, "mlp_bias", False)), **common)
    if kind == "falcon":
        if config.new_decoder_architecture:
            kv_heads, norms = config.num_kv_heads, config.num_ln_in_parallel_attn or 2
        else:
            kv_heads, norms = (1 if config.multi_query else heads), (1 if config.parallel_attn else 2)
        return Architecture(intermediate=config.ffn_hidden_size or 4 * h, kv_heads=kv_heads, head_dim=h // heads,
                            norm="layernorm", norms_per_block=norms, mlp="plain", attention_bias=config.bias,
                            mlp_bias=config.bias, position="alibi" if config.alibi else "rope", **common)
    if kind == "bloom":
        return Architecture(intermediate=4 * h, kv_heads=heads, head_dim=h // heads, norm="layernorm",
                            embedding_norm=True, mlp="plain", attention_bias=True, mlp_bias=True, position="alibi",
                            **common)
    raise InputError(f"no parameter formula for {kind!r} models",
                     "z2h plan reads llama, mistral, falcon and bloom configs")


def from_config_folder(folder: Path) -> Architecture:
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder} has no config.json", "pass a folder written by save_pretrained, or a GGUF file")
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{folder / 'config.json'} could not be read: {error}",
                         "check that it is a transformers config.json") from error
    return from_transformers_config(config, folder.name)


def from_gguf(path: Path, name: str = "") -> tuple[Architecture, int]:
    """A LLaMA-architecture GGUF file's numbers (chapter 7's reader), and the bytes of its tensor data as stored.

    The vocabulary is the embedding's row count; the head is tied when the file has no ``output.weight``.
    """
    from zero2hero.llama.gguf_reader import read_gguf

    gguf = read_gguf(path)
    meta = gguf.metadata
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise InputError(f"{path.name} holds a {arch!r} model", "z2h plan reads llama-architecture GGUF files")
    try:
        heads, hidden = meta["llama.attention.head_count"], meta["llama.embedding_length"]
        architecture = Architecture(
            name=name or path.name, vocab=gguf.tensors["token_embd.weight"].shape[0], hidden=hidden,
            intermediate=meta["llama.feed_forward_length"], layers=meta["llama.block_count"], heads=heads,
            kv_heads=meta.get("llama.attention.head_count_kv", heads),
            head_dim=meta.get("llama.attention.key_length", hidden // heads), context=meta["llama.context_length"],
            tied_embeddings="output.weight" not in gguf.tensors, licence=str(meta.get("general.license", "")))
    except KeyError as missing:
        raise InputError(f"{path.name} has no {missing} entry", "the file is incomplete: convert it again") from None
    return architecture, path.stat().st_size - gguf.data_offset


def resolve(name_or_path: str) -> tuple[Architecture, int | None]:
    """A named model, ``smollm2`` (the offline GGUF), a transformers model folder or a GGUF file."""
    models = named_models()
    if name_or_path in models:
        return models[name_or_path], None
    if name_or_path == "smollm2":
        from zero2hero.assets import asset_path

        return from_gguf(asset_path("smollm2"), "SmolLM2-135M-Instruct")
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return from_config_folder(path), None
    if path.is_file():
        return from_gguf(path)
    raise UnknownNameError(f"unknown model {name_or_path!r}",
                           f"use one of {', '.join(['smollm2', *models])}, a model folder or a .gguf file")
