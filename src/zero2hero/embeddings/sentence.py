"""Dense sentence embeddings the way all-MiniLM-L6-v2 was trained: mean of the token vectors (padding
excluded), then L2-normalised."""

from __future__ import annotations

import torch

from zero2hero.errors import InputError


def mean_pooling(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average each sequence's token vectors over its real tokens, ignoring padding.

    ``hidden`` has shape (batch, seq, d) and ``attention_mask`` shape (batch, seq), 1 for a real token and
    0 for padding. Returns (batch, d): for each sequence, the mean of the rows of ``hidden`` whose mask is 1.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


@torch.inference_mode()
def embed_sentences(texts: list[str], model, tokenizer, batch_size: int = 32,
                    normalize: bool = True) -> torch.Tensor:
    """Sentence embeddings (len(texts), d) from a BERT-like encoder and its tokenizer."""
    if not texts or any(not t.strip() for t in texts):
        raise InputError("embed_sentences needs non-empty sentences", "remove empty strings")
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        out.append(mean_pooling(hidden, batch["attention_mask"]))
    embeddings = torch.cat(out)
    return torch.nn.functional.normalize(embeddings, dim=1) if normalize else embeddings
