"""A LLaMA decoder from scratch: RMSNorm, rotary position embeddings, grouped-query attention, a SwiGLU MLP.

What changes from chapter 3's GPT-2, block by block:

* **RMSNorm** instead of LayerNorm: no mean subtraction and no bias, only a rescale by the root mean square.
* **Rotary position embeddings (RoPE)** instead of a learned position table: queries and keys are rotated by an
  angle proportional to their position, so ``q · k`` depends only on how far apart two tokens are.
* **Grouped-query attention (GQA)**: several query heads share one key/value head, so the KV cache is smaller.
* **SwiGLU MLP**: ``down(silu(gate(x)) * up(x))``, a gated MLP with no biases.

Parameter names follow transformers' ``LlamaForCausalLM`` without its ``model.`` prefix (``layers.0.self_attn.q_proj``,
...), so chapter 6's LoRA finds the same target names in both. The KV cache has chapter 3's layout, so chapter 3's
generation loop (:func:`zero2hero.transformer.generate.stream`) drives this model too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError
from zero2hero.transformer.attention import causal_mask, scaled_dot_product_attention

LayerCache = tuple[torch.Tensor, torch.Tensor]  # keys, values: each (batch, kv_head, n_past, head_dim)
Cache = list[LayerCache]  # one per layer


@dataclass
class LlamaConfig:
    """A LLaMA's sizes, named as in transformers' ``LlamaConfig``; the defaults are SmolLM2-135M's."""

    vocab_size: int = 49152
    hidden_size: int = 576
    intermediate_size: int = 1536
    num_hidden_layers: int = 30
    num_attention_heads: int = 9
    num_key_value_heads: int = 3  # 3 key/value heads for 9 query heads: groups of 3 share one
    head_dim: int = 64
    rope_theta: float = 100000.0
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 8192
    tie_word_embeddings: bool = True  # the output layer reuses the token embedding matrix

    def __post_init__(self) -> None:
        sizes = {name: getattr(self, name) for name in ("vocab_size", "hidden_size", "intermediate_size",
                                                         "num_hidden_layers", "num_attention_heads",
                                                         "num_key_value_heads", "head_dim",
                                                         "max_position_embeddings")}
        not_positive = [f"{name}={value}" for name, value in sizes.items() if value < 1]
        if not_positive:
            raise InputError(f"sizes must be positive: {', '.join(not_positive)}", "use sizes of at least 1")
        if self.num_attention_heads % self.num_key_value_heads:
            raise InputError(f"{self.num_attention_heads} query heads cannot be grouped over "
                             f"{self.num_key_value_heads} key/value heads",
                             "num_attention_heads must be a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise InputError(f"head_dim {self.head_dim} is odd", "rotary embeddings rotate pairs: use an even head_dim")
        if not (self.rope_theta > 0 and self.rms_norm_eps > 0):
            raise InputError(f"rope_theta={self.rope_theta}, rms_norm_eps={self.rms_norm_eps}",
                             "both must be positive numbers")


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x²) + eps) * weight`` over the last dimension (computed in float32)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., dim) -> (..., dim)
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles, each (n, head_dim), for ``positions`` (n,).

    Pair ``i`` (of head_dim / 2) turns at frequency ``theta^(-2i / head_dim)``: the first pairs spin fast (they
    see nearby order), the last ones slowly (they see long distances). The angles are repeated twice because
    the "half-split" layout pairs dimension ``i`` with dimension ``i + head_dim / 2``.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (n, head_dim / 2)
    angles = torch.cat([angles, angles], dim=-1)  # (n, head_dim)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a 90° turn of every pair (x[i], x[i + d/2])."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every pair of ``x`` (batch, head, n, head_dim) by its angle: ``x cos + rotate_half(x) sin``.

    cos, sin: (n, head_dim). For a pair (a, b) this is (a cos - b sin, b cos + a sin), the 2-D rotation.
    """
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


class GroupedQueryAttention(nn.Module):
    """Causal self-attention where groups of ``num_attention_heads / num_key_value_heads`` query heads share one
    key/value head. With as many key/value heads as query heads it is GPT-2's multi-head attention; with one it is
    multi-query attention."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.num_attention_heads * cfg.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: LayerCache | None) -> tuple[torch.Tensor, LayerCache]:
        """x: (batch, n_new, hidden); cos, sin: (n_new, head_dim) for the new positions; cache: keys and values of
        the earlier positions, each (batch, kv_head, n_past, head_dim), already rotated.

        Returns (output (batch, n_new, hidden), cache extended to n_past + n_new positions).
        """
        b, t, _ = x.shape
        n_kv, d = self.cfg.num_key_value_heads, self.cfg.head_dim
        group = self.cfg.num_attention_heads // n_kv
        q = self.q_proj(x).view(b, t, n_kv * group, d).transpose(1, 2)  # (b, head, t, d)
        k = self.k_proj(x).view(b, t, n_kv, d).transpose(1, 2)  # (b, kv_head, t, d)
        v = self.v_proj(x).view(b, t, n_kv, d).transpose(1, 2)  # (b, kv_head, t, d)
        # Position enters here, and only here: queries and keys are rotated, values are not.
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (b, kv_head, n_past + t, d)
        # Query head h uses key/value head h // group. Stacking a group's queries as the rows of one matrix,
        # (b, kv_head, group * t, d), lets each key/value head (b, kv_head, n, d) serve its whole group in one matrix
        # product. (Broadcasting keys (b, kv_head, 1, n, d) against queries (b, kv_head, group, t, d) would not share
        # them: matmul expands a broadcast operand into a real copy, once per query head, at every step.)
        rows = q.reshape(b, n_kv, group * t, d)  # row g * t + i: query head kv * group + g at new position i
        # A single new query may see every key; several need the causal mask, repeated for each head of the group.
        mask = None if t == 1 else causal_mask(t, k.shape[2], x.device).repeat(group, 1)  # (group * t, n)
        out, _ = scaled_dot_product_attention(rows, k, v, mask)  # (b, kv_head, group * t, d)
        out = out.view(b, n_kv * group, t, d).transpose(1, 2).reshape(b, t, n_kv * group * d)
        return self.o_proj(out), (k, v)


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``: the gate decides, per hidden unit, how much of ``up(x)`` passes."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, t, hidden) -> (b, t, hidden)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    """Pre-norm block, as GPT-2's: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = GroupedQueryAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: LayerCache | None) -> tuple[torch.Tensor, LayerCache]:
        a, new_cache = self.self_attn(self.input_layernorm(x), cos, sin, cache)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), new_cache


class Llama(nn.Module):
    """The whole decoder: token embeddings, ``num_hidden_layers`` blocks, a final RMSNorm and the output layer."""

    own_cache = True  # chapter 3's generation loop: call as model(ids, cache) -> (logits, cache)

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaBlock(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        # No position table: positions enter through the rotations inside attention.
        self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def output_weight(self) -> torch.Tensor:
        """(vocab, hidden): the embedding matrix when tied, else the output layer's own."""
        return self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def forward(self, ids: torch.Tensor, cache: Cache | None = None,
                logits_to_keep: int = 0) -> tuple[torch.Tensor, Cache]:
        """ids: (batch, n_new) token ids following the cached positions; ``logits_to_keep``: 0 scores every new
        position, k the last k only (as in transformers: generation needs the last one, and projecting every prompt
        position onto the vocabulary would be wasted work).

        Returns (logits (batch, n_new or k, vocab), cache: per layer keys and values (batch, kv_head,
        n_past + n_new, head_dim)).
        """
        n_past = cache[0][0].shape[2] if cache else 0
        t = ids.shape[1]
        if n_past + t > self.config.max_position_embeddings:
            raise InputError(f"{n_past + t} positions exceed the context of {self.config.max_position_embeddings}",
                             "use a shorter prompt or fewer new tokens")
        positions = torch.arange(n_past, n_past + t, device=ids.device)  # (n_new,) absolute positions
        cos, sin = rotary_cos_sin(positions, self.config.head_dim, self.config.rope_theta)  # each (n_new, head_dim)
        x = self.embed_tokens(ids)  # (b, t, hidden)
        new_cache: Cache = []
        for i, layer in enumerate(self.layers):
            x, layer_cache = layer(x, cos, sin, cache[i] if cache else None)
            new_cache.append(layer_cache)
        return self.norm(x[:, -logits_to_keep:]) @ self.output_weight().T, new_cache


def config_from_transformers(hf_config) -> LlamaConfig:  # a transformers LlamaConfig
    """Our config from transformers' ``LlamaConfig``; refuses the variants this model does not implement."""
    if getattr(hf_config, "model_type", None) != "llama":
        raise InputError(f"model type {getattr(hf_config, 'model_type', None)!r} is not LLaMA",
                         "this model copies LlamaForCausalLM checkpoints (e.g. smollm2)")
    rope = dict(getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None) or {})
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    extras = [name for name in ("attention_bias", "mlp_bias") if getattr(hf_config, name, False)]
    if rope_type != "default" or extras or getattr(hf_config, "hidden_act", "silu") != "silu":
        raise InputError(f"this LLaMA variant is not implemented here (rope {rope_type!r}, "
                         f"activation {getattr(hf_config, 'hidden_act', None)!r}, biases {extras or 'none'})",
                         "use a plain LLaMA: default rotary embeddings, SiLU, no biases")
    theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", None))
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // hf_config.num_attention_heads
    return LlamaConfig(hf_config.vocab_size, hf_config.hidden_size, hf_config.intermediate_size,
                       hf_config.num_hidden_layers, hf_config.num_attention_heads,
                       hf_config.num_key_value_heads or hf_config.num_attention_heads, head_dim, float(theta),
                       hf_config.rms_norm_eps, hf_config.max_position_embeddings,
                       bool(hf_config.tie_word_embeddings))


def from_transformers(hf_model) -> Llama:  # a transformers LlamaForCausalLM
    """Our model with the weights of transformers' ``LlamaForCausalLM`` (copied, float32, eval mode).

    The names are the same once transformers' ``model.`` prefix is dropped; a tied model has no ``lm_head`` here.
    """
    cfg = config_from_transformers(hf_model.config)
    state = {name.removeprefix("model."): w.detach().float() for name, w in hf_model.state_dict().items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model = Llama(cfg)
    model.load_state_dict(state, strict=True)
    return model.eval()
