"""A GPT-2 decoder from scratch: token + position embeddings, pre-norm blocks, a tied language-model head.
With ``causal=False`` the same network is a bidirectional encoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.transformer.attention import MultiHeadAttention

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (batch, head, n_past, d_head)


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    layer_norm_epsilon: float = 1e-5
    causal: bool = True  # False: bidirectional attention, the same network used as an encoder (BERT-style)
    init_std: float = 0.02  # std of the random initial weights (GPT-2's value, made for 768 dimensions)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU, the tanh approximation: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class MLP(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, t, d) -> (b, t, d)
        return self.proj(gelu_tanh(self.fc(x)))


class Block(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.causal)
        self.ln2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg.n_embd)

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None,
                keep_weights: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a, new_cache = self.attn(self.ln1(x), cache, keep_weights)
        x = x + a
        return x + self.mlp(self.ln2(x)), new_cache


class GPT2(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.apply(self._init)

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, cache: Cache | None = None,
                keep_weights: bool = False) -> tuple[torch.Tensor, Cache]:
        """ids: (batch, n_new) token ids following the cached positions.

        Returns (logits (batch, n_new, vocab), cache).
        """
        n_past = cache[0][0].shape[2] if cache else 0
        t = ids.shape[1]
        if n_past + t > self.config.n_positions:
            raise InputError(f"{n_past + t} positions exceed the context of {self.config.n_positions}",
                             "use a shorter prompt or fewer new tokens")
        pos = torch.arange(n_past, n_past + t, device=ids.device)  # (n_new,) absolute positions
        x = self.wte(ids) + self.wpe(pos)  # (b, t, d)
        new_cache: Cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, cache[i] if cache else None, keep_weights)
            new_cache.append(layer_cache)
        # The head shares the embedding matrix (weight tying): logits = h · wteᵀ.
        return self.ln_f(x) @ self.wte.weight.T, new_cache


def gpt2_block(x: torch.Tensor, block: Block) -> torch.Tensor:
    """One pre-norm GPT-2 block on ``x`` (batch, t, d) with the weights of ``block``; returns (batch, t, d).

    ``x = x + attention(ln1(x))``, then ``x = x + mlp(ln2(x))`` where attention is causal multi-head
    self-attention with ``block.attn`` (:func:`multi_head_attention`) and ``mlp(h) = proj(gelu(fc(h)))`` with
    ``block.mlp.fc`` (d -> 4d), ``block.mlp.proj`` (4d -> d) and GPT-2's tanh-approximated GELU,
    0.5 h (1 + tanh(√(2/π) (h + 0.044715 h³))). ``block.ln1`` and ``block.ln2`` are ``nn.LayerNorm`` layers.
    """
    return block(x, None)[0]


def gpt2_forward(ids: torch.Tensor, model: GPT2) -> torch.Tensor:
    """GPT-2's forward pass: token ids (batch, t) -> next-token logits (batch, t, vocab), with ``model``'s weights.

    ``h = model.wte(ids) + model.wpe(positions 0..t-1)``; then every block of ``model.blocks`` in order
    (:func:`gpt2_block`); then the final ``model.ln_f``; the logits are ``h @ model.wte.weight.T`` (the output
    layer shares the token embedding matrix).
    """
    return model(ids)[0]
