"""Chapter 3 exercises: you build and train a GPT-2 from scratch.

In order: the causal mask, scaled dot-product attention, one KV-cache step, multi-head causal self-attention,
a pre-norm GPT-2 block, the whole forward pass (checked logit for logit against transformers' GPT2LMHeadModel),
a training loop on the course corpus (checked by the held-out loss it reaches), sampling with a temperature,
nucleus (top-p) filtering and the repetition penalty. Later functions may call earlier ones.

Fill in each function, then run `z2h check 3`. Shapes are in the docstrings. The modules passed in
(`MultiHeadAttention`, `Block`, `GPT2`) only hold the weights: use their layers (`attn.qkv`, `block.ln1`,
`model.wte`, ...) and write the computation yourself."""

from __future__ import annotations

import torch

from zero2hero.transformer.attention import MultiHeadAttention
from zero2hero.transformer.gpt2 import GPT2, Block


def causal_mask(n_query: int, n_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask (n_query, n_key), True where query i may attend to key j.

    The queries are the *last* ``n_query`` positions of ``n_key`` (so a cached decode step with one query
    sees every key): query i sits at absolute position ``n_key - n_query + i`` and sees keys j <= that.
    """
    raise NotImplementedError


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v.

    q: (..., n_query, d), k: (..., n_key, d), v: (..., n_key, d_v); mask broadcastable to
    (..., n_query, n_key), True = may attend. Returns (output (..., n_query, d_v), weights (..., n_query, n_key)).
    """
    raise NotImplementedError


def attend_with_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One causal attention step with a KV cache: the new positions attend to every earlier one and to themselves.

    q, k, v: (batch, head, n_new, d_head) for the new positions; cache: keys and values of the n_past earlier
    positions, each (batch, head, n_past, d_head), or None. Returns (output (batch, head, n_new, d_head),
    weights (batch, head, n_new, n_past + n_new), the cache extended to n_past + n_new positions).
    """
    raise NotImplementedError


def multi_head_attention(x: torch.Tensor, attn: MultiHeadAttention) -> torch.Tensor:
    """Causal multi-head self-attention of ``x`` (batch, t, d_model) with the weights of ``attn``.

    ``attn.qkv`` is an ``nn.Linear(d_model, 3 * d_model)`` whose output holds q, k and v side by side (in that
    order, ``d_model`` columns each); ``attn.n_head`` heads each get ``d_head = d_model // n_head`` consecutive
    columns of q, k and v. Each head computes softmax(q kᵀ / √d_head) v with the causal mask (position i sees
    positions <= i); the heads' outputs are put side by side again (batch, t, d_model) and go through
    ``attn.proj`` (an ``nn.Linear(d_model, d_model)``). Returns (batch, t, d_model).
    """
    raise NotImplementedError


def gpt2_block(x: torch.Tensor, block: Block) -> torch.Tensor:
    """One pre-norm GPT-2 block on ``x`` (batch, t, d) with the weights of ``block``; returns (batch, t, d).

    ``x = x + attention(ln1(x))``, then ``x = x + mlp(ln2(x))`` where attention is causal multi-head
    self-attention with ``block.attn`` (:func:`multi_head_attention`) and ``mlp(h) = proj(gelu(fc(h)))`` with
    ``block.mlp.fc`` (d -> 4d), ``block.mlp.proj`` (4d -> d) and GPT-2's tanh-approximated GELU,
    0.5 h (1 + tanh(√(2/π) (h + 0.044715 h³))). ``block.ln1`` and ``block.ln2`` are ``nn.LayerNorm`` layers.
    """
    raise NotImplementedError


def gpt2_forward(ids: torch.Tensor, model: GPT2) -> torch.Tensor:
    """GPT-2's forward pass: token ids (batch, t) -> next-token logits (batch, t, vocab), with ``model``'s weights.

    ``h = model.wte(ids) + model.wpe(positions 0..t-1)``; then every block of ``model.blocks`` in order
    (:func:`gpt2_block`); then the final ``model.ln_f``; the logits are ``h @ model.wte.weight.T`` (the output
    layer shares the token embedding matrix).
    """
    raise NotImplementedError


def train_causal_lm(model: GPT2, ids: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 3e-3,
                    seed: int = 0) -> list[float]:
    """Train ``model`` to predict the next token of ``ids`` (n,) for ``steps`` AdamW steps; returns each step's loss.

    Each step: draw ``batch_size`` window starts with
    ``torch.randint(n - t, (batch_size,), generator=torch.Generator().manual_seed(seed))`` (one generator for the
    whole run), where ``t = model.config.n_positions``; inputs are ``ids[s:s + t]`` (batch, t) and targets the
    same windows shifted by one, ``ids[s + 1:s + t + 1]``; the loss is the cross-entropy of ``model(inputs)[0]``
    (batch, t, vocab) against the targets over every position; then ``zero_grad``, ``backward``, ``step`` with
    ``torch.optim.AdamW(model.parameters(), lr=lr)``. The model is left in eval mode.
    """
    raise NotImplementedError


def sample(model: GPT2, prompt: list[int], n_new: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> list[int]:
    """``n_new`` token ids drawn one at a time after ``prompt`` (returns only the new ids).

    Each step: run the model on the last ``model.config.n_positions`` ids so far (the prompt and the ids drawn
    before), take the last position's logits (vocab,), divide them by ``temperature``, softmax, and draw one id
    with ``torch.multinomial(probs, 1, generator=generator)``; append it and go on.
    """
    raise NotImplementedError


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter on (vocab,): keep the smallest set of most likely tokens whose probability sum reaches p."""
    raise NotImplementedError


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (vocab,), seen (n,) ids already in the text: positive logits / penalty, negative ones × penalty."""
    raise NotImplementedError
