"""Chapter 4 exercises — fill in each function, then run `z2h check 4`.

Each function below has the signature and docstring of zero2hero's reference implementation; replace
the `raise NotImplementedError` with your code using torch tensor operations (`torch.round`,
`amax`, `reshape`, `torch.trunc`, `clamp`, `torch.nn.functional.log_softmax`, `gather`, bit shifts on
uint8 tensors). The checks compare your results with torch's own quantizer, the `gguf` package's
reference Q4_0 encoder and transformers' loss. The last exercise is the evaluation loop itself: perplexity of a
real model (SmolLM2) on held-out text, window by window.
"""

from __future__ import annotations

import torch
from torch import nn


def absmax_quantize(x: torch.Tensor, bits: int = 8, granularity: str = "channel",
                    group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization: ``q = round(x / scale)`` with ``scale = max|x| / (2**(bits-1) - 1)``.

    Returns ``(q, scale)``: ``q`` int8 with the shape of ``x`` in ``[-(2**(bits-1)-1), 2**(bits-1)-1]``,
    ``scale`` float32 of shape ``(n_scales, 1)`` (1 per tensor, per row, or per group).
    ``granularity``: ``"tensor"`` (one scale), ``"channel"`` (one per row ``x[i]``) or ``"group"``
    (one per ``group_size`` consecutive values of the last dimension, rows of ``x.reshape(-1, group_size)``).
    ``round`` is ``torch.round``; zero maps exactly to zero; a row of zeros gets scale 0 (and its ``q``
    is 0). Raise ``zero2hero.errors.InputError`` for NaN/inf values or a group size that does not divide.
    """
    raise NotImplementedError


def zeropoint_quantize(x: torch.Tensor, bits: int = 8, granularity: str = "channel",
                       group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric quantization onto ``[0, 2**bits - 1]``: ``q = round(x / scale) + zero``.

    ``scale = (max - min) / (2**bits - 1)`` and ``zero = round(-min / scale)``, so the whole range
    [min, max] is used even when it is not centred on 0 (e.g. after a ReLU). The range is first widened to
    include 0 (``min <= 0 <= max``) so that 0 is stored exactly; ``q`` is clamped to ``[0, 2**bits - 1]``.
    Granularity as in :func:`absmax_quantize`. Returns ``(q, scale, zero)``:
    ``q`` uint8 with the shape of ``x``; ``scale`` float32 and ``zero`` int32, both ``(n_scales, 1)``.
    """
    raise NotImplementedError


def pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """``(n_blocks, block)`` codes in 0..15 -> ``(n_blocks, block // 2)`` uint8, GGML's order: with
    ``half = block // 2``, byte ``j`` is ``codes[:, j] | (codes[:, j + half] << 4)``. Codes outside
    0..15 or an odd block raise ``zero2hero.errors.InputError``."""
    raise NotImplementedError


def quantize_q4_0(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 32 * 18)`` uint8 Q4_0 blocks (``n`` a multiple of 32).

    Per block of 32 values: ``d = v / -8`` where ``v`` is the value of largest magnitude (sign kept),
    so that value becomes exactly code 0 (= -8 after the offset); each value's code is
    ``trunc(x * (1/d) + 8.5)`` clamped to 0..15 (an all-zero block has ``1/d`` taken as 0).
    Bytes per block: ``d`` as float16 (2 bytes, little-endian), then 16 bytes where byte ``j`` holds
    the code of value ``j`` in its low nibble and of value ``j + 16`` in its high nibble.
    """
    raise NotImplementedError


def perplexity_from_logits(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """exp(mean negative log-likelihood of each next token).

    ``logits``: ``(seq, vocab)`` from one forward pass over ``ids`` ``(seq,)``; the logits at position
    ``t`` predict token ``t + 1``, so the last logit row and the first id are not scored.
    """
    raise NotImplementedError


def perplexity(model: nn.Module, tokenizer, text: str, max_tokens: int = 512, window: int = 512) -> float:
    """Perplexity of ``model`` (a transformers causal LM) on the first ``max_tokens`` tokens of ``text``.

    The ids are ``tokenizer(text, return_tensors="pt").input_ids[0][:max_tokens]``. They are cut into consecutive
    windows of ``window`` ids (the last one may be shorter), each scored on its own by one forward pass,
    ``model(chunk[None]).logits[0]``: inside a window the logits at position t predict id t + 1, so a window of
    n ids scores n - 1 of them. The result is exp of the mean negative log-likelihood over every scored id of
    every window — not the mean of the windows' perplexities.
    """
    raise NotImplementedError

