"""Measuring a (quantized) model: bytes, perplexity, prefill / decode speed, and embedding drift."""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass

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
    """Perplexity of ``model`` on the first ``max_tokens`` tokens of ``text``, scored in independent
    windows of ``window`` tokens (the NLL is averaged over every scored token)."""
    ids = tokenizer(text, return_tensors="pt").input_ids[0][:max_tokens]
    if ids.numel() < 2:
        raise InputError("the text is shorter than two tokens", "pass a longer held-out text")
    total, count = 0.0, 0
    for start in range(0, ids.numel() - 1, window):
        chunk = ids[start:start + window]
        if chunk.numel() < 2:
            break
        logits = model(chunk[None]).logits[0]
        total += torch.log(torch.tensor(perplexity_from_logits(logits, chunk))).item() * (chunk.numel() - 1)
        count += chunk.numel() - 1
    return float(torch.exp(torch.tensor(total / count)))


@dataclass
class Generation:
    prompt_tokens: int
    new_tokens: int
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    text: str
    ids: list[int]


@torch.inference_mode()
def timed_greedy(model: nn.Module, tokenizer, prompt: str, new_tokens: int = 16) -> Generation:
    """Greedy decoding with the KV cache, timing the prompt pass (prefill) apart from the one-token
    steps (decode). ``new_tokens`` >= 2."""
    if new_tokens < 2:
        raise InputError(f"new_tokens must be at least 2, got {new_tokens}", "decode speed needs two or more steps")
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    warnings.filterwarnings("ignore", message=".*past_key_values.*")  # the argument is being renamed
    start = time.perf_counter()
    out = model(ids, use_cache=True)
    prefill_s = time.perf_counter() - start
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    generated = [int(token)]
    start = time.perf_counter()
    for _ in range(new_tokens - 1):
        out = model(token, past_key_values=out.past_key_values, use_cache=True)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        generated.append(int(token))
    decode_s = time.perf_counter() - start
    return Generation(ids.shape[1], new_tokens, ids.shape[1] / prefill_s, (new_tokens - 1) / decode_s,
                      tokenizer.decode(generated, skip_special_tokens=True), generated)


@torch.inference_mode()
def sentence_embeddings(model: nn.Module, tokenizer, sentences: list[str]) -> torch.Tensor:
    """``(n, hidden)`` mean-pooled, L2-normalised sentence embeddings (the all-MiniLM-L6-v2 recipe)."""
    batch = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].to(hidden.dtype)
    return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).float()


def embedding_drift(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean cosine similarity between matching rows of two ``(n, hidden)`` embedding matrices."""
    return float(F.cosine_similarity(reference.float(), other.float(), dim=-1).mean())
