"""Pretrained GPT-2 weights into our model: the state-dict name mapping and the Conv1D transposes."""

from __future__ import annotations

import torch

from zero2hero.errors import InputError
from zero2hero.transformer.gpt2 import GPT2, GPT2Config

# Our parameter name (per block) -> Hugging Face's name under transformer.h.<i>.
_BLOCK_NAMES = {
    "ln1.weight": "ln_1.weight", "ln1.bias": "ln_1.bias", "ln2.weight": "ln_2.weight", "ln2.bias": "ln_2.bias",
    "attn.qkv.weight": "attn.c_attn.weight", "attn.qkv.bias": "attn.c_attn.bias",
    "attn.proj.weight": "attn.c_proj.weight", "attn.proj.bias": "attn.c_proj.bias",
    "mlp.fc.weight": "mlp.c_fc.weight", "mlp.fc.bias": "mlp.c_fc.bias",
    "mlp.proj.weight": "mlp.c_proj.weight", "mlp.proj.bias": "mlp.c_proj.bias",
}


def config_from_hf(hf_config) -> GPT2Config:  # a transformers GPT2Config
    if getattr(hf_config, "model_type", None) != "gpt2":
        raise InputError(f"model type {getattr(hf_config, 'model_type', None)!r} is not GPT-2",
                         "this loader maps GPT-2 checkpoints (gpt2, distilgpt2 or a local GPT-2 folder)")
    return GPT2Config(hf_config.vocab_size, hf_config.n_positions, hf_config.n_embd, hf_config.n_layer,
                      hf_config.n_head, hf_config.layer_norm_epsilon)


def map_state_dict(hf_state: dict[str, torch.Tensor], cfg: GPT2Config) -> dict[str, torch.Tensor]:
    """Rename a GPT2LMHeadModel state dict into ours. HF's Conv1D stores weights as (in, out): transpose them."""
    ours: dict[str, torch.Tensor] = {}
    prefix = "transformer." if "transformer.wte.weight" in hf_state else ""
    pairs = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight", "ln_f.weight": "ln_f.weight",
             "ln_f.bias": "ln_f.bias"}
    for i in range(cfg.n_layer):
        pairs.update({f"blocks.{i}.{o}": f"h.{i}.{h}" for o, h in _BLOCK_NAMES.items()})
    for name, hf_name in pairs.items():
        if prefix + hf_name not in hf_state:
            raise InputError(f"the checkpoint has no {prefix + hf_name}", "is it a GPT-2 checkpoint of this size?")
        w = hf_state[prefix + hf_name]
        # Every 2-D tensor inside a block is a Conv1D weight (in, out); nn.Linear wants (out, in).
        ours[name] = w.T.contiguous() if name.startswith("blocks.") and w.ndim == 2 else w
    return ours


def load_into(model: GPT2, hf_state: dict[str, torch.Tensor]) -> GPT2:
    """Copy mapped weights into ``model``; a shape mismatch names the tensor and both shapes."""
    mapped = map_state_dict(hf_state, model.config)
    own = model.state_dict()
    for name, w in mapped.items():
        if own[name].shape != w.shape:
            raise InputError(f"shape mismatch for {name}: checkpoint {tuple(w.shape)}, model {tuple(own[name].shape)}",
                             "the checkpoint and the config describe different model sizes")
    model.load_state_dict(mapped, strict=True)
    return model


def from_pretrained(name_or_path: str) -> GPT2:
    """Our GPT-2 with the weights of a Hugging Face checkpoint (local folder, or e.g. ``distilgpt2`` online)."""
    from transformers import GPT2LMHeadModel

    from zero2hero.assets import resolve_model_path

    hf = GPT2LMHeadModel.from_pretrained(resolve_model_path(name_or_path), dtype="float32")
    return from_hf_model(hf)


def from_hf_model(hf) -> GPT2:  # a transformers GPT2LMHeadModel
    model = GPT2(config_from_hf(hf.config))
    return load_into(model, hf.state_dict()).eval()
