"""Small GGUF files written with the reference writer (``gguf.GGUFWriter``) for the chapter 7 tests."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

# transformers' name (per layer) -> llama.cpp's name under blk.<i> (llama.cpp's convert_hf_to_gguf.py mapping).
_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def tiny_llama(tie: bool = False, heads: int = 4, kv_heads: int = 2, seed: int = 0) -> LlamaForCausalLM:
    """A random 2-layer transformers LLaMA whose weights are far from their small initial values (so that any
    mismatch shows in the logits)."""
    cfg = HFLlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=128,
                        rope_theta=500.0, rms_norm_eps=1e-6, tie_word_embeddings=tie)
    model = LlamaForCausalLM(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.copy_(1 + 0.3 * noise if name.endswith("norm.weight") else 0.15 * noise)
    return model


def converter_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's ``LlamaModel.permute`` (convert_hf_to_gguf.py) for the query/key rows of rotary attention."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(path: Path, model: LlamaForCausalLM, qtype: gguf.GGMLQuantizationType) -> Path:
    """``model`` as a llama.cpp GGUF file: llama metadata, a toy vocabulary, 2-D weights stored as ``qtype``."""
    cfg = model.config
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(cfg.vocab_size)])
    writer.add_token_merges(["t 1"])
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    for i in range(cfg.num_hidden_layers):
        names.update({f"model.layers.{i}.{hf}.weight": f"blk.{i}.{cpp}.weight" for hf, cpp in _LAYER_NAMES.items()})
    state = model.state_dict()
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight")
    for name, tensor in state.items():
        w = tensor.numpy()
        if "q_proj" in name:
            w = converter_permute(w, cfg.num_attention_heads)
        elif "k_proj" in name:
            w = converter_permute(w, cfg.num_key_value_heads)
        if w.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32:
            writer.add_tensor(names[name], gguf.quants.quantize(w, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(names[name], w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def smollm2_path() -> Path:
    from zero2hero.assets import asset_path

    return asset_path("smollm2")
