"""A LLaMA GGUF file into our model: the config from the metadata, the weights from the tensors.

Two things differ from a transformers checkpoint besides the names. The weights are quantised (dequantised here
to float32 by :mod:`zero2hero.llama.ggml_types`), and the rows of every query and key projection are permuted:
llama.cpp's RoPE rotates *adjacent* pairs (dimension 2i with 2i + 1) while transformers' rotates the two *halves*
(dimension i with i + head_dim / 2), so llama.cpp's converter reorders the rows of each head from
``[0, 1, ..., d/2 - 1 | d/2, ..., d - 1]`` to ``[0, d/2, 1, d/2 + 1, ...]``. :func:`unpermute_rotary` undoes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zero2hero.errors import InputError
from zero2hero.llama.gguf_reader import GGUFFile, read_gguf
from zero2hero.llama.model import Llama, LlamaConfig

ARCHITECTURES = ("llama",)  # the GGUF architectures whose blocks are exactly ours

# Our parameter name (per block) -> llama.cpp's name under blk.<i>.
_BLOCK_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def _required(gguf: GGUFFile, key: str) -> Any:
    if key not in gguf.metadata:
        raise InputError(f"{gguf.path.name} has no metadata {key!r}", "the file is incomplete: convert it again")
    return gguf.metadata[key]


def config_from_gguf(gguf: GGUFFile) -> LlamaConfig:
    """Our config from a GGUF file's ``llama.*`` metadata; a non-LLaMA architecture raises :class:`InputError`."""
    arch = gguf.metadata.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise InputError(f"{gguf.path.name} holds a {arch!r} model, not a LLaMA-like one",
                         f"this model reads architectures {', '.join(ARCHITECTURES)} (e.g. SmolLM2, TinyLlama)")
    scaling = gguf.metadata.get(f"{arch}.rope.scaling.type", "none")
    if scaling != "none" or "rope_freqs.weight" in gguf.tensors:
        raise InputError(f"{gguf.path.name} scales its rotary embeddings ({scaling})",
                         "this model implements plain RoPE only: use a model without rope scaling")
    heads = _required(gguf, f"{arch}.attention.head_count")
    hidden = _required(gguf, f"{arch}.embedding_length")
    head_dim = gguf.metadata.get(f"{arch}.attention.key_length", hidden // heads)
    rotated = gguf.metadata.get(f"{arch}.rope.dimension_count", head_dim)
    if rotated != head_dim:
        raise InputError(f"{gguf.path.name} rotates {rotated} of {head_dim} dimensions per head",
                         "this model rotates whole heads: use a model whose rope.dimension_count is the head size")
    if "token_embd.weight" not in gguf.tensors:
        raise InputError(f"{gguf.path.name} has no tensor 'token_embd.weight'", "the file is incomplete")
    return LlamaConfig(
        vocab_size=gguf.tensors["token_embd.weight"].shape[0],
        hidden_size=hidden,
        intermediate_size=_required(gguf, f"{arch}.feed_forward_length"),
        num_hidden_layers=_required(gguf, f"{arch}.block_count"),
        num_attention_heads=heads,
        num_key_value_heads=gguf.metadata.get(f"{arch}.attention.head_count_kv", heads),
        head_dim=head_dim,
        rope_theta=gguf.metadata.get(f"{arch}.rope.freq_base", 10000.0),
        rms_norm_eps=_required(gguf, f"{arch}.attention.layer_norm_rms_epsilon"),
        max_position_embeddings=_required(gguf, f"{arch}.context_length"),
        tie_word_embeddings="output.weight" not in gguf.tensors,  # no output matrix: the embeddings are reused
    )


def unpermute_rotary(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's row order of a query or key projection: (n_heads * head_dim, hidden), same shape back.

    Per head, GGUF row ``2i`` is transformers' row ``i`` and GGUF row ``2i + 1`` is transformers' row
    ``i + head_dim / 2``.
    """
    rows, hidden = w.shape
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, hidden).transpose(1, 2).reshape(rows, hidden)


def gguf_names(cfg: LlamaConfig) -> dict[str, str]:
    """Our parameter name -> the GGUF tensor name, for every parameter of a model of ``cfg``."""
    names = {"embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight"}
    if not cfg.tie_word_embeddings:
        names["lm_head.weight"] = "output.weight"
    for i in range(cfg.num_hidden_layers):
        names.update({f"layers.{i}.{ours}": f"blk.{i}.{theirs}" for ours, theirs in _BLOCK_NAMES.items()})
    return names


def llama_from_gguf(path: str | Path | None = None) -> Llama:
    """Our model with the weights of a LLaMA GGUF file (default: SmolLM2-135M-Instruct), float32, eval mode."""
    if path is None:
        from zero2hero.assets import asset_path

        path = asset_path("smollm2")
    gguf = read_gguf(path)
    cfg = config_from_gguf(gguf)
    names = gguf_names(cfg)
    unexpected = sorted(set(gguf.tensors) - set(names.values()))
    missing = sorted(set(names.values()) - set(gguf.tensors))
    if unexpected or missing:
        raise InputError(f"{gguf.path.name} does not hold exactly a LLaMA's tensors (unexpected: "
                         f"{unexpected[:3] or 'none'}, missing: {missing[:3] or 'none'})",
                         "the file is not a plain LLaMA model, or it is incomplete")
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        model = Llama(cfg)
    wrong = [f"{theirs} {gguf.tensors[theirs].shape} (expected {tuple(model.get_parameter(ours).shape)})"
             for ours, theirs in names.items() if gguf.tensors[theirs].shape != tuple(model.get_parameter(ours).shape)]
    if wrong:
        raise InputError(f"{gguf.path.name}: tensor shapes do not fit its metadata: {'; '.join(wrong[:3])}",
                         "the file is corrupt: convert it again")
    state = {}
    for ours, theirs in names.items():
        w = gguf.read_tensor(theirs)
        if ours.endswith("q_proj.weight"):
            w = unpermute_rotary(w, cfg.num_attention_heads)
        elif ours.endswith("k_proj.weight"):
            w = unpermute_rotary(w, cfg.num_key_value_heads)
        state[ours] = w
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
