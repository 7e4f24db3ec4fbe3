"""The two pre-training objectives as code: causal LM (predict the next token) and masked LM (fill blanks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # label of a position that gives no training signal (PyTorch's cross-entropy default)


def clm_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """logits (b, t, vocab) from ids (b, t): position i predicts token i + 1, every position counts."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def mlm_mask(ids: torch.Tensor, mask_id: int, vocab_size: int, gen: torch.Generator,
             prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's scheme on ids (b, t): pick ``prob`` of positions; of those 80 % -> [MASK], 10 % -> a random
    token, 10 % unchanged. Returns (inputs (b, t), labels (b, t) = original id at picked positions, else -100)."""
    picked = torch.rand(ids.shape, generator=gen) < prob
    labels = torch.where(picked, ids, torch.full_like(ids, IGNORE))
    roll = torch.rand(ids.shape, generator=gen)
    inputs = torch.where(picked & (roll < 0.8), torch.full_like(ids, mask_id), ids)
    random_ids = torch.randint(vocab_size, ids.shape, generator=gen)
    inputs = torch.where(picked & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)
    return inputs, labels


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (b, t, vocab): cross-entropy on the picked positions only (label != -100), no shift."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
