"""Measuring a (quantized) model: bytes, perplexity, and embedding drift."""

from __future__ import annotations

import io
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError


def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's serialized state (``torch.save``): shared tensors count once, packed
    quantized weights count as stored."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def perplexity_from_logits(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """exp(mean negative log-likelihood of each next token).

    ``logits``: ``(seq, vocab)`` from one forward pass over ``ids`` ``(seq,)``; the logits at position
    ``t`` predict token ``t + 1``, so the last logit row and the first id are not scored.
    """
    if logits.dim() != 2 or ids.dim() != 1 or logits.shape[0] != ids.shape[0] or ids.shape[0] < 2:
        raise InputError(f"expected logits (seq, vocab) and ids (seq,) with seq >= 2, got "
                         f"{tuple(logits.shape)} and {tuple(ids.shape)}", "pass one sequence, not a batch")
    log_probs = F.log_softmax(logits[:-1].float(), dim=-1)
    nll = -log_probs.gather(1, ids[1:, None]).squeeze(1)
    return float(torch.exp(nll.mean()))


@torch.inference_mode()
def perplexity(model: nn.Module, tokenizer, text: str, max_tokens: int = 512, window: int = 512) -> float:
    """Perplexity of ``model`` (a transformers causal LM) on the first ``max_tokens`` tokens of ``text``.

    The ids are ``tokenizer(text, return_tensors="pt").input_ids[0][:max_tokens]``. They are cut into consecutive
    windows of ``window`` ids (the last one may be shorter), each scored on its own by one forward pass,
    ``model(chunk[None]).logits[0]``: inside a window the logits at position t predict id t + 1, so a window of
    n ids scores n - 1 of them. The result is exp of the mean negative log-likelihood over every scored id of
    every window — not the mean of the windows' perplexities.
    """
    ids = tokenizer(text, return_tensors="pt").input_ids[0][:max_tokens]
    return windowed_perplexity(lambda chunk: model(chunk[None]).logits[0], ids, window)


@torch.inference_mode()
def windowed_perplexity(logits_of: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor,
                        window: int = 512) -> float:
    """:func:`perplexity`'s definition for any scorer: ``ids`` ``(seq,)`` cut into consecutive windows of ``window``
    ids, ``logits_of(chunk (n,)) -> (n, vocab)`` scoring each from its own start, exp of the mean negative
    log-likelihood over every scored id of every window."""
    if ids.numel() < 2:
        raise InputError("the text is shorter than two tokens", "pass a longer held-out text")
    total, count = 0.0, 0
    for start in range(0, ids.numel() - 1, window):
        chunk = ids[start:start + window]
        if chunk.numel() < 2:
            break
        logits = logits_of(chunk)
        total += torch.log(torch.tensor(perplexity_from_logits(logits, chunk))).item() * (chunk.numel() - 1)
        count += chunk.numel() - 1
    return float(torch.exp(torch.tensor(total / count)))


def embedding_drift(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean cosine similarity between matching rows of two ``(n, hidden)`` embedding matrices."""
    return float(F.cosine_similarity(reference.float(), other.float(), dim=-1).mean())
