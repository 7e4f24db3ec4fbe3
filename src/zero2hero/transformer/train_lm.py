"""Training a small causal language model on token ids, and sampling from it: the two loops a learner writes in
chapter 3 (random windows, next-token cross-entropy, AdamW; then one token at a time from the softmax)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zero2hero.errors import InputError
from zero2hero.transformer.gpt2 import GPT2


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
    block = model.config.n_positions
    if len(ids) <= block + 1:
        raise InputError(f"{len(ids)} ids are too few for windows of {block} + 1", "train on a longer text")
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        starts = torch.randint(len(ids) - block, (batch_size,), generator=gen).tolist()
        inputs = torch.stack([ids[s:s + block] for s in starts])  # (batch, t)
        targets = torch.stack([ids[s + 1:s + block + 1] for s in starts])  # (batch, t): the next token of each
        logits = model(inputs)[0]  # (batch, t, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def sample(model: GPT2, prompt: list[int], n_new: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> list[int]:
    """``n_new`` token ids drawn one at a time after ``prompt`` (returns only the new ids).

    Each step: run the model on the last ``model.config.n_positions`` ids so far (the prompt and the ids drawn
    before), take the last position's logits (vocab,), divide them by ``temperature``, softmax, and draw one id
    with ``torch.multinomial(probs, 1, generator=generator)``; append it and go on.
    """
    if temperature <= 0:
        raise InputError(f"temperature {temperature} is not positive", "use e.g. 1.0 (or 0.01 for nearly greedy)")
    ids, block = list(prompt), model.config.n_positions
    for _ in range(n_new):
        logits = model(torch.tensor([ids[-block:]]))[0][0, -1]  # (vocab,)
        probs = torch.softmax(logits / temperature, dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return ids[len(prompt):]
