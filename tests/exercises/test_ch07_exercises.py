"""Chapter 7 exercise checks: `z2h check 7` runs them on course/07-llama-models/exercises.py.

Oracles: transformers' LLaMA (``LlamaRMSNorm``, ``LlamaRotaryEmbedding`` with ``apply_rotary_pos_emb``,
``repeat_kv``), torch's ``scaled_dot_product_attention(..., enable_gqa=True)``, and GGUF files written here by the
``gguf`` package (``GGUFWriter``; Q8_0 blocks from ``gguf.quants.quantize``) and read back by its ``GGUFReader``;
for the scaling laws, ``numpy.polyfit`` on logarithms, laws the points are made from, the FLOPs torch's
``FlopCounterMode`` counts in a training step, and arithmetic done by hand.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRMSNorm, LlamaRotaryEmbedding, apply_rotary_pos_emb
from transformers.models.llama.modeling_llama import repeat_kv as transformers_repeat_kv

from zero2hero.checks.feedback import Hint, expect, expect_close, expect_equal, expect_raises, fail, prerequisite
from zero2hero.errors import InputError

CHAPTER = 7
REFERENCE = {
    "rms_norm": "zero2hero.llama.functional",
    "rotary_cos_sin": "zero2hero.llama.functional",
    "apply_rotary": "zero2hero.llama.functional",
    "repeat_kv": "zero2hero.llama.functional",
    "grouped_query_attention": "zero2hero.llama.functional",
    "read_gguf_header": "zero2hero.llama.functional",
    "read_gguf_tensor": "zero2hero.llama.functional",
    "fit_power_law_log": "zero2hero.llama.functional",
    "training_flops": "zero2hero.llama.functional",
    "chinchilla_optimal": "zero2hero.llama.functional",
}


# ---- helpers ------------------------------------------------------------------------------------------------------

def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _close(got: Any, expected: torch.Tensor | None, atol: float, rtol: float) -> bool:
    return isinstance(got, torch.Tensor) and expected is not None and got.shape == expected.shape and \
        torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol)


def _like(mistake: torch.Tensor | None, atol: float = 1e-5, rtol: float = 1e-5) -> Callable[[Any], bool]:
    """A hint's predicate: ``got`` equals what a mistake computes."""
    return lambda got: _close(got, mistake, atol, rtol)


def _raised_by(err: BaseException, function: str) -> bool:
    """True when ``err`` was raised inside ``function`` itself (not in a function it called)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


Blocked = tuple[str, str, Callable[[], None]]  # (earlier check, this function, run the earlier check)


def _run(what: str, function: Callable[..., Any], args: tuple, hints: Sequence[Hint] = (),
         blocked: Blocked | None = None) -> Any:
    """``function(*args)``. An error it raises fails the check with the error's own words and the hints; when this
    function may call an earlier exercise (``blocked``), a failure of that one is reported first."""
    try:
        return function(*args)
    except NotImplementedError as err:
        if blocked is not None and not _raised_by(err, function.__name__):
            prerequisite(*blocked)
        raise
    except Exception as err:  # whatever the learner's code raised is shown, with the hints for it
        if blocked is not None:
            prerequisite(*blocked)
        kind = type(err)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        fail(what, f"raised {name}: {err}", err, hints)


def _about(got: Any, hints: Sequence[Hint]) -> list[Hint]:
    """The hints with their predicates applied to ``got`` (the whole result), whatever part of it is compared."""
    return [(None if test is None else (lambda _, test=test: test(got)), text) for test, text in hints]


# ---- RMSNorm -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NormCase:
    shape: tuple[int, ...]
    eps: float
    scale: float  # of x's values

    @property
    def what(self) -> str:
        return f"x of shape {self.shape} (values ~{self.scale:g}), eps={self.eps:g}"


NORM_CASES = (NormCase((2, 5, 16), 1e-5, 1.0), NormCase((16,), 1e-6, 1.0),
              NormCase((3, 8), 1e-5, 1e-3))  # mean(x²) = 1e-6 < eps: eps must sit inside the root, and be the one given


def _norm_inputs(case: NormCase, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _seeded(seed)
    x = torch.randn(case.shape, generator=gen) * case.scale
    weight = 1 + 0.5 * torch.randn(case.shape[-1], generator=gen)
    return x.to(dtype), weight.to(dtype)


def _llama_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    norm = LlamaRMSNorm(x.shape[-1], eps=eps).to(weight.dtype)
    with torch.no_grad():
        norm.weight.copy_(weight)
        return norm(x)


def _norm_hints(x: torch.Tensor, weight: torch.Tensor, eps: float, atol: float, rtol: float) -> list[Hint]:
    """Hints for the usual mistakes, each recognised by what it computes (in float64)."""
    h, w = x.double(), weight.double()
    ms = h.pow(2).mean(-1, keepdim=True)
    centred = h - h.mean(-1, keepdim=True)
    var = centred.pow(2).mean(-1, keepdim=True)
    mistakes = [
        (h / torch.sqrt(h.pow(2).mean() + eps) * w, "mean(x²) over the last dimension only (dim=-1, keepdim=True): "
                                                    "each token's vector is normalised on its own"),
        (h / torch.sqrt(ms + eps), "multiply by weight, the learned gain of each feature"),
        (h / (ms + eps) * w, "divide by the root of the mean square: sqrt(mean(x²) + eps)"),
        (h / (torch.sqrt(ms) + eps) * w, "eps goes inside the root: sqrt(mean(x²) + eps), not sqrt(mean(x²)) + eps"),
        (centred / torch.sqrt(var + eps) * w, "that is LayerNorm: RMSNorm subtracts no mean, it divides x by "
                                              "sqrt(mean(x²) + eps)"),
        (h / torch.sqrt(var + eps) * w, "mean(x²) is the mean of the squares, not the variance (no mean subtracted)"),
    ]
    if x.dim() > 1:
        mistakes.insert(0, (h / torch.sqrt(h.pow(2).mean(0, keepdim=True) + eps) * w,
                            "the mean runs over the last dimension (the features, dim=-1), not the first"))
    hints: list[Hint] = [(_like(m, atol, rtol), text) for m, text in mistakes]
    other_eps = [_like(h / torch.sqrt(ms + other) * w, atol, rtol) for other in (0.0, 1e-5, 1e-6) if other != eps]
    hints.append((lambda got: any(like(got) for like in other_eps),
                  f"add the eps passed in (eps={eps:g} here) inside the root, not a number of your own"))
    hints.append((lambda err: isinstance(err, RuntimeError) and "must match the size" in str(err),
                  "keep the mean's last dimension (keepdim=True) so it broadcasts against x: (..., 1)"))
    return hints


def _check_rms_norm(ex, dtype: torch.dtype, atol: float, rtol: float) -> None:
    for case in NORM_CASES:
        x, weight = _norm_inputs(case, dtype)
        expected = _llama_rms_norm(x, weight, case.eps)
        what = f"rms_norm({case.what}, {dtype})"
        hints = _norm_hints(x, weight, case.eps, atol, rtol)
        got = _run(what, ex.rms_norm, (x.clone(), weight.clone(), case.eps), hints)
        expect_close(got, expected, f"{what}, against transformers' LlamaRMSNorm", atol=atol, rtol=rtol, hints=hints)
        expect(got.dtype == dtype, what, f"expected a {dtype} result (x's dtype), got {got.dtype}", got, hints=[
            (None, "cast the normalised values back to x's dtype (h.to(x.dtype)) before multiplying by weight")])


def test_rms_norm_matches_transformers_llama_rms_norm(ex) -> None:
    _check_rms_norm(ex, torch.float32, atol=1e-6, rtol=1e-6)


def test_rms_norm_keeps_bfloat16_and_float16_accurate(ex) -> None:
    _check_rms_norm(ex, torch.bfloat16, atol=1e-3, rtol=1.6e-2)
    # float16 tops out at 65504: with values ~400, x² overflows unless the arithmetic runs in float32
    x, weight = (torch.randn(4, 32, generator=_seeded(3)) * 400).half(), torch.ones(32, dtype=torch.float16)
    expected = _llama_rms_norm(x, weight, 1e-5)
    what = "rms_norm(x of shape (4, 32) float16 with values ~400, eps=1e-05)"
    got = _run(what, ex.rms_norm, (x.clone(), weight.clone(), 1e-5))
    expect_close(got, expected, f"{what}, against transformers' LlamaRMSNorm", atol=1e-3, rtol=1e-2, hints=[
        (None, "x² overflows float16 (its largest number is 65504): compute in float32 (x.float()) and cast the "
               "result back to x's dtype")])


# ---- rotary position embeddings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RopeCase:
    positions: tuple[int, ...]
    head_dim: int
    base: float

    @property
    def what(self) -> str:
        return f"positions {list(self.positions)}, head_dim={self.head_dim}, base={self.base:g}"


ROPE_CASES = (RopeCase(tuple(range(6)), 8, 10000.0),
              RopeCase((3, 4, 5, 17, 40), 16, 500000.0),  # positions need not start at 0 (a KV-cache step does not)
              RopeCase(tuple(range(4)), 64, 100000.0))  # SmolLM2-135M's head size and base
ROPE_ATOL = 1e-4  # angles up to 40 rad in float32: a different but correct order of operations moves cos by ~1e-5


def _llama_cos_sin(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (n, head_dim) from transformers' LlamaRotaryEmbedding."""
    config = LlamaConfig(hidden_size=2 * head_dim, num_attention_heads=2, head_dim=head_dim, rope_theta=base,
                         max_position_embeddings=64)
    cos, sin = LlamaRotaryEmbedding(config)(torch.zeros(1), positions[None])
    return cos[0], sin[0]


def _angles(positions: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    return positions.double()[:, None] * inv_freq[None, :]


def _rope_hints(case: RopeCase) -> list[Hint]:
    """Hints for cos/sin, each recognised by the (cos, sin) that a mistake computes (in float64)."""
    positions, d, base = torch.tensor(case.positions), case.head_dim, case.base
    inv_freq = base ** -(torch.arange(0, d, 2, dtype=torch.float64) / d)
    right = _angles(positions, inv_freq)

    def pair(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return angles.cos(), angles.sin()

    def like(cos_sin: tuple[torch.Tensor, torch.Tensor]) -> Callable[[Any], bool]:
        return lambda got: all(_close(g, e, ROPE_ATOL, ROPE_ATOL) for g, e in zip(got, cos_sin, strict=True))

    mistakes = [
        (pair(right.repeat_interleave(2, dim=-1)), "that is the interleaved layout (pairs 2i, 2i + 1, as in Meta's "
                                                   "original code); transformers' LLaMA pairs dimension i with "
                                                   "i + head_dim/2, so the angles are repeated as a whole: "
                                                   "torch.cat([angles, angles], dim=-1)"),
        (pair(torch.cat([_angles(positions + 1, inv_freq)] * 2, -1)), "the angle is position × frequency with the "
                                                                       "positions as given (no +1)"),
        (pair(torch.cat([_angles(positions - 1, inv_freq)] * 2, -1)), "the angle is position × frequency with the "
                                                                       "positions as given (no -1)"),
        (pair(_angles(positions, base ** -(torch.arange(0, d, dtype=torch.float64) / d))),
         "one frequency per pair of dimensions: base^(-2i / head_dim) for i = 0 .. head_dim/2 - 1 "
         "(torch.arange(0, head_dim, 2) / head_dim), repeated for the second half"),
        (pair(torch.cat([_angles(positions, base ** -(torch.arange(d // 2, dtype=torch.float64) / d))] * 2, -1)),
         "the exponent is 2i / head_dim: torch.arange(0, head_dim, 2) / head_dim, not arange(head_dim // 2)"),
        (tuple(reversed(pair(torch.cat([right, right], -1)))), "return (cos, sin) in that order"),
    ]
    if base != 10000.0:
        mistakes.append((pair(torch.cat([_angles(positions, 10000.0 ** -(torch.arange(0, d, 2).double() / d))] * 2,
                                        -1)), f"use the base passed in ({base:g}), not 10000"))
    hints: list[Hint] = [(like(cos_sin), text) for cos_sin, text in mistakes]
    hints.append((lambda got: tuple(got[0].shape) == (len(case.positions), d // 2),
                  "cos and sin are (n, head_dim): repeat the head_dim/2 angles for the second half of the dimensions "
                  "(torch.cat([angles, angles], dim=-1))"))
    return hints


def test_rotary_cos_sin_matches_transformers_llama_rotary_embedding(ex) -> None:
    for case in ROPE_CASES:
        positions = torch.tensor(case.positions)
        cos, sin = _llama_cos_sin(positions, case.head_dim, case.base)
        what = f"rotary_cos_sin({case.what})"
        hints = _rope_hints(case)
        got = _run(what, ex.rotary_cos_sin, (positions, case.head_dim, case.base), hints)
        expect(isinstance(got, tuple | list) and len(got) == 2, what,
               f"expected a pair (cos, sin), got {type(got).__name__}", got)
        on_the_pair = _about(got, hints)
        for name, value, expected in (("cos", got[0], cos), ("sin", got[1], sin)):
            expect_close(value, expected, f"{what}: {name}, against transformers' LlamaRotaryEmbedding",
                         atol=ROPE_ATOL, rtol=ROPE_ATOL, hints=on_the_pair)


def _rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """The interleaved layout's quarter turn: (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def _rotary_hints(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> list[Hint]:
    h, c, s = x.double(), cos.double(), sin.double()
    mistakes = [
        (h * c + _rotate_every_two(h) * s, "that rotates the interleaved pairs (x[2i], x[2i + 1]); transformers' "
                                           "LLaMA pairs x[i] with x[i + head_dim/2]: rotate_half(x) = "
                                           "cat(-x2, x1) on the two halves"),
        (h * c - _rotate_half(h) * s, "a pair (a, b) turns to (a cos − b sin, b cos + a sin): rotate_half(x) is "
                                      "(−x2, x1), and it is added, times sin"),
        (h * s + _rotate_half(h) * c, "cos multiplies x itself and sin multiplies rotate_half(x)"),
        (h * c + _rotate_half(h) * c, "multiply rotate_half(x) by sin, not cos"),
    ]
    hints: list[Hint] = [(_like(m, 1e-5, 1e-5), text) for m, text in mistakes]
    hints.append((lambda err: isinstance(err, RuntimeError) and "must match the size" in str(err),
                  "x is (batch, heads, n, head_dim) and cos, sin are (n, head_dim): they broadcast as they are; "
                  "rotate_half splits the last dimension into its two halves"))
    return hints


def test_apply_rotary_matches_transformers_apply_rotary_pos_emb(ex) -> None:
    for shape, dtype in (((2, 3, 5, 8), torch.float32), ((1, 4, 6, 64), torch.float32), ((1, 2, 5, 16),
                                                                                          torch.bfloat16)):
        batch, heads, n, head_dim = shape
        positions = torch.arange(n) + 2
        cos, sin = _llama_cos_sin(positions, head_dim, 10000.0)
        x = torch.randn(shape, generator=_seeded(n)).to(dtype)
        # transformers hands cos and sin in the model's dtype, (batch, n, head_dim)
        expected, _ = apply_rotary_pos_emb(x, x, cos.to(dtype)[None], sin.to(dtype)[None])
        what = f"apply_rotary(x {shape} {dtype}, cos, sin) at positions {positions.tolist()}"
        hints = _rotary_hints(x, cos, sin)
        got = _run(what, ex.apply_rotary, (x.clone(), cos.clone(), sin.clone()), hints)
        tol = 1e-5 if dtype == torch.float32 else 2e-2
        expect_close(got, expected, f"{what}, against transformers' apply_rotary_pos_emb", atol=tol, rtol=tol,
                     hints=hints)
        expect(got.dtype == dtype, what, f"expected a {dtype} result (x's dtype), got {got.dtype}", got, hints=[
            (None, "cast cos and sin to x's dtype (cos.to(x.dtype)) so a bfloat16 x stays bfloat16")])


# ---- grouped-query attention ---------------------------------------------------------------------------------------

REPEAT_CASES = (((2, 3, 4, 5), 3), ((1, 2, 3, 4), 1), ((1, 1, 2, 3), 4), ((1, 3, 1, 64), 3))  # (kv shape, n_rep)


def _check_repeat_kv(ex) -> None:
    for shape, n_rep in REPEAT_CASES:
        kv = torch.randn(shape, generator=_seeded(n_rep))
        expected = transformers_repeat_kv(kv, n_rep)
        what = f"repeat_kv(kv {shape}, n_rep={n_rep})"
        hints = [
            (_like(kv.repeat(1, n_rep, 1, 1), 0, 0), "that tiles the heads (0, 1, 2, 0, 1, 2, ...): head h must be "
                                                     "kv head h // n_rep (0, 0, 1, 1, ...), as repeat_interleave "
                                                     "gives, not h % kv_heads as repeat gives"),
            (lambda got, wanted=tuple(expected.shape): tuple(got.shape) != wanted,
             "repeat along the head axis (dim 1): the result is (batch, kv_heads · n_rep, n, head_dim)"),
        ]
        got = _run(what, ex.repeat_kv, (kv.clone(), n_rep), hints)
        expect_equal(got, expected, f"{what}, against transformers' repeat_kv", hints=hints)


def test_repeat_kv_matches_transformers_repeat_kv(ex) -> None:
    _check_repeat_kv(ex)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kwargs)


def _attention_hints(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> list[Hint]:
    rep = q.shape[1] // k.shape[1]
    n = q.shape[2]
    future = torch.ones(n, n, dtype=torch.bool).triu(1)
    mistakes = [
        (_sdpa(q, k.repeat(1, rep, 1, 1), v.repeat(1, rep, 1, 1), is_causal=causal),
         "query head h uses key/value head h // (heads / kv_heads): consecutive query heads share one "
         "(repeat_interleave, as repeat_kv does), not every kv_heads-th (repeat tiles them)"),
        (_sdpa(q, k, v, is_causal=causal, scale=1.0), "divide the scores q·kᵀ by √head_dim"),
        (_sdpa(q, k, v, is_causal=not causal),
         "causal: position i sees keys 0..i only (mask the future)" if causal else
         "causal=False: every position sees every key, no mask"),
        (_sdpa(q, k, v, attn_mask=future | torch.eye(n, dtype=torch.bool)) if causal else None,
         "the mask is upside down: True where a query may attend, that is key j <= query i (the lower triangle)"),
    ]
    hints: list[Hint] = [(_like(m), text) for m, text in mistakes]
    hints.append((lambda err: isinstance(err, RuntimeError) and "must match the size" in str(err),
                  "k and v have fewer heads than q: give each query head its key/value head first (repeat_kv)"))
    return hints


def test_grouped_query_attention_matches_torch_enable_gqa(ex) -> None:
    blocked = ("test_repeat_kv_matches_transformers_repeat_kv", "grouped_query_attention",
               lambda: _check_repeat_kv(ex))
    cases = (((2, 6, 5, 8), 2, True), ((2, 6, 5, 8), 2, False), ((1, 4, 7, 16), 1, True), ((1, 3, 4, 8), 3, True),
             ((1, 9, 6, 64), 3, True))  # the last one is SmolLM2-135M's 9 query heads over 3 key/value heads
    for (batch, heads, n, head_dim), kv_heads, causal in cases:
        gen = _seeded(heads * n)
        q = torch.randn(batch, heads, n, head_dim, generator=gen)
        k, v = (torch.randn(batch, kv_heads, n, head_dim, generator=gen) for _ in range(2))
        expected = _sdpa(q, k, v, is_causal=causal)
        what = f"grouped_query_attention(q {tuple(q.shape)}, k and v {tuple(k.shape)}, causal={causal})"
        hints = _attention_hints(q, k, v, causal)
        got = _run(what, ex.grouped_query_attention, (q.clone(), k.clone(), v.clone(), causal), hints, blocked)
        if not _close(got, expected, 1e-5, 1e-5):
            prerequisite(*blocked)
        expect_close(got, expected, f"{what}, against torch's scaled_dot_product_attention(enable_gqa=True)",
                     hints=hints)


# ---- GGUF files written by the gguf package ------------------------------------------------------------------------

@dataclass(frozen=True)
class GGUFCase:
    """A GGUF file written by gguf.GGUFWriter, its bytes, and what gguf.GGUFReader reads from it."""

    what: str  # e.g. "a file with every number type"
    data: bytes
    version: int
    tensor_count: int
    metadata: dict[str, Any]
    types: dict[str, str]  # metadata key -> value type name, e.g. "INT16" or "ARRAY of STRING"
    tensor_info_offset: int
    alignment: int
    data_start: int  # where the data section starts
    infos_end: int  # where the tensor infos end (before the padding)
    tensors: dict[str, tuple[int, tuple[int, ...], int]]  # name -> (ggml type, torch shape, offset in the data section)
    values: dict[str, np.ndarray]  # name -> float32 values, torch shape


def _field_end(field: Any) -> int:
    return int(field.offset) + sum(int(part.nbytes) for part in field.parts)


def _write_gguf(path: Path, what: str, build: Callable[[GGUFWriter], None], architecture: bool = True) -> GGUFCase:
    writer = GGUFWriter(path, "llama")
    if not architecture:
        writer.kv_data[0].pop("general.architecture")
    build(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader = GGUFReader(path)
    alignment, data_start = int(reader.alignment), int(reader.data_offset)
    assert not reader.tensors or _pad(_field_end(reader.tensors[-1].field), alignment) == data_start
    fields = {name: f for name, f in reader.fields.items() if not name.startswith("GGUF.")}
    ends = [_field_end(f) for f in reader.fields.values()]
    info_fields = [t.field for t in reader.tensors]
    values = {t.name: (t.data.copy() if t.tensor_type == GGMLQuantizationType.F32 else
                       gguf.quants.dequantize(t.data, t.tensor_type)).astype(np.float32) for t in reader.tensors}
    return GGUFCase(
        what=what, data=path.read_bytes(), version=reader.fields["GGUF.version"].contents(),
        tensor_count=reader.fields["GGUF.tensor_count"].contents(),
        metadata={name: f.contents() for name, f in fields.items()},
        types={name: " of ".join(t.name for t in f.types) for name, f in fields.items()},
        tensor_info_offset=int(info_fields[0].offset) if info_fields else max(ends), alignment=alignment,
        data_start=data_start, infos_end=max([_field_end(f) for f in info_fields] or ends),
        tensors={t.name: (int(t.tensor_type), tuple(int(s) for s in reversed(t.shape)),
                          int(t.data_offset) - data_start) for t in reader.tensors},
        values=values)


def _random(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _add_q8_0(writer: GGUFWriter, name: str, values: np.ndarray) -> None:
    blocks = gguf.quants.quantize(values, GGMLQuantizationType.Q8_0)  # (rows, cols / 32 * 34) uint8
    writer.add_tensor(name, blocks, raw_shape=blocks.shape, raw_dtype=GGMLQuantizationType.Q8_0)


def _add_numbers(writer: GGUFWriter) -> None:
    writer.add_uint8("test.uint8", 200)
    writer.add_int8("test.int8", -100)
    writer.add_uint16("test.uint16", 60000)
    writer.add_int16("test.int16", -12345)
    writer.add_uint32("test.uint32", 4_000_000_000)
    writer.add_int32("test.int32", -2_000_000_000)
    writer.add_float32("test.float32", 0.1)
    writer.add_bool("test.true", True)
    writer.add_bool("test.false", False)
    writer.add_uint64("test.uint64", 2**63 + 5)
    writer.add_int64("test.int64", -2**62 - 7)
    writer.add_float64("test.float64", 0.1)
    writer.add_uint32("llama.context_length", 8192)
    writer.add_float32("llama.rope.freq_base", 100000.0)


def _add_text(writer: GGUFWriter) -> None:
    writer.add_string("general.name", "SmolLM2 ✓")
    writer.add_string("test.accents", "héllo wörld")
    writer.add_string("test.japanese", "日本語のテキスト")
    writer.add_uint32("test.after", 7)  # read right only if the strings before it were skipped by their byte length


def _add_arrays(writer: GGUFWriter) -> None:
    writer.add_array("test.int32s", [1, -2, 3, 2**31 - 1])
    writer.add_array("test.float32s", [0.5, -1.25, 3.0e-3])
    writer.add_key_value("test.uint8s", [1, 200, 3], GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT8)
    writer.add_array("test.bools", [True, False, True])
    writer.add_array("test.strings", ["a", "bé", "", "✓✓"])
    writer.add_token_list([f"tok{i}é" for i in range(300)])  # a vocabulary, as tokenizer.ggml.tokens
    writer.add_uint32("test.after", 7)


def _tuned(path: Path, what: str, build: Callable[[GGUFWriter, str], None],
           wanted: Callable[[GGUFCase], bool]) -> GGUFCase:
    """Write the file with a filler string of 0, 1, 2, ... characters until ``wanted(file)`` holds."""
    for size in range(64):
        case = _write_gguf(path, what, partial(build, filler="x" * size))
        if wanted(case):
            return case
    raise AssertionError(f"no filler length gives {what} the wanted layout")


def _tensor_file(writer: GGUFWriter, filler: str) -> None:
    writer.add_string("test.filler", filler)
    writer.add_tensor("vector", _random((7,), 1))
    writer.add_tensor("matrix", _random((3, 8), 2))
    _add_q8_0(writer, "q8_0.matrix", _random((3, 64), 3))


def _aligned_64_file(writer: GGUFWriter, filler: str) -> None:
    writer.add_custom_alignment(64)
    writer.add_string("test.filler", filler)
    writer.add_tensor("matrix", _random((5, 4), 4))
    _add_q8_0(writer, "q8_0.matrix", _random((2, 96), 5))


def _pad(position: int, alignment: int) -> int:
    return -(-position // alignment) * alignment


def write_gguf_files(folder: Path) -> dict[str, GGUFCase]:
    """The GGUF files the checks read, written into ``folder``, from the simplest to the fullest."""
    return {
        "counts": _write_gguf(folder / "counts.gguf", "a file with no metadata and 2 tensors",
                              lambda w: (w.add_tensor("a", _random((2, 4), 0)), w.add_tensor("b", _random((4,), 1))),
                              architecture=False),
        "one string": _write_gguf(folder / "one.gguf", "a file whose only metadata is general.architecture = 'llama'",
                                  lambda w: None),
        "numbers": _write_gguf(folder / "numbers.gguf", "a file with every number type and bools", _add_numbers),
        "text": _write_gguf(folder / "text.gguf", "a file with non-ASCII strings", _add_text),
        "arrays": _write_gguf(folder / "arrays.gguf", "a file with arrays (numbers, bools, strings, 300 tokens)",
                              _add_arrays),
        # the tensor infos end off the alignment, so the padding before the data section is not zero
        "tensors": _tuned(folder / "tensors.gguf", "a file with 2 F32 tensors and a Q8_0 one (alignment 32)",
                          _tensor_file, lambda f: f.infos_end % 32 != 0),
        # ... and here padding to 32 instead of general.alignment = 64 lands elsewhere
        "aligned 64": _tuned(folder / "aligned.gguf", "a file with general.alignment = 64, an F32 and a Q8_0 tensor",
                             _aligned_64_file, lambda f: _pad(f.infos_end, 32) != f.data_start),
    }


@pytest.fixture(scope="module")
def gguf_files(tmp_path_factory) -> dict[str, GGUFCase]:
    return write_gguf_files(tmp_path_factory.mktemp("gguf"))


# ---- GGUF header ---------------------------------------------------------------------------------------------------

HEADER_FIELDS = ("magic", "version", "tensor_count", "metadata", "tensor_info_offset")
_LAYOUT = ("the header is b'GGUF', version (uint32), tensor count (uint64), metadata count (uint64), then per entry: "
           "key (a string), value type (uint32), value; a string is a uint64 byte length then the UTF-8 bytes")
_SIZES = ("sizes: uint8, int8, bool 1 byte; uint16, int16 2; uint32, int32, float32 4; uint64, int64, float64 8; "
          "struct letters B b ? H h I i f Q q d, each after '<' (little-endian)")
_ARRAYS = ("an array is the elements' value type (uint32), their number (uint64), then the elements, each read "
           "like a value of that type (a string element has its own uint64 length)")


def _header_hints(case: GGUFCase) -> list[Hint]:
    def has(field: str, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
        return lambda got: test(getattr(got, field))

    return [
        (has("version", lambda v: v == case.version << 24), "GGUF is little-endian: struct formats start with '<' "
                                                            "('<I' for a uint32), not '>' or '!'"),
        (has("magic", lambda m: isinstance(m, str)), "keep the magic as bytes: data[:4] is b'GGUF'"),
        (has("tensor_info_offset", lambda p: p in (16, 20)), "the tensor count and the metadata count are uint64 "
                                                             "('<Q', 8 bytes each): the fixed part is 24 bytes"),
        (has("metadata", lambda m: any(isinstance(k, str) and k.startswith("\0") for k in m)),
         "a key starts with zero bytes: a string's length is a uint64 ('<Q', 8 bytes), not a uint32"),
        (lambda err: isinstance(err, UnicodeDecodeError), "the reader is out of step when it decodes this string: "
                                                          "a string's length is a uint64 and counts bytes"),
        (lambda err: isinstance(err, KeyError | IndexError | ValueError) and not isinstance(err, UnicodeDecodeError),
         "a value type it did not expect usually means the reader is out of step: check how many bytes each part "
         "takes"),
    ]


def _value_hints(value_type: str, expected: Any) -> list[Hint]:
    bits = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
    hints: list[Hint] = []
    if value_type in bits:
        n = bits[value_type]
        hints.append((lambda got: got == expected % (1 << n), f"{value_type.lower()} is signed: use the lowercase "
                                                               "struct letter (b, h, i, q)"))
    if value_type.startswith("UINT"):
        hints.append((lambda got: isinstance(got, int) and got < 0, f"{value_type.lower()} is unsigned: use the "
                                                                     "uppercase struct letter (B, H, I, Q)"))
    if value_type == "BOOL":
        hints.append((lambda got: got == expected, "read a bool with '<?' so it comes back as True or False, not 1 "
                                                   "or 0"))
    return hints


def _check_header(ex, case: GGUFCase, extra_hints: Sequence[Hint] = ()) -> None:
    what = f"read_gguf_header on {case.what}"
    hints = [*_header_hints(case), *extra_hints]
    got = _run(what, ex.read_gguf_header, (case.data,), hints)
    missing = [f for f in HEADER_FIELDS if not hasattr(got, f)]
    expect(not missing, what, f"expected a GGUFHeader, got {type(got).__name__} without {', '.join(missing)}", got,
           hints=[(None, "return GGUFHeader(magic, version, tensor_count, metadata, tensor_info_offset)")])
    for field, expected in (("magic", b"GGUF"), ("version", case.version), ("tensor_count", case.tensor_count)):
        expect_equal(getattr(got, field), expected, f"{what}: {field}", hints=_about(got, hints))
    metadata = got.metadata
    expect(isinstance(metadata, dict), what, f"metadata should be a dict, got {type(metadata).__name__}", got)
    for key, expected in case.metadata.items():
        value_type = case.types[key]
        expect(key in metadata, f"{what}: metadata", f"the key {key!r} ({value_type}) is missing; the keys read are "
               f"{list(metadata)[:8]}", got, hints=hints)
        expect_equal(metadata[key], expected, f"{what}: metadata[{key!r}] (value type {value_type})",
                     hints=_value_hints(value_type, expected))
        if isinstance(expected, bool):
            expect(isinstance(metadata[key], bool | np.bool_), f"{what}: metadata[{key!r}]",
                   f"expected the bool {expected}, got {metadata[key]!r} ({type(metadata[key]).__name__})",
                   metadata[key], hints=_value_hints(value_type, expected))
    expect_equal(dict(metadata), case.metadata, f"{what}: metadata, against gguf.GGUFReader's fields")
    expect_equal(got.tensor_info_offset, case.tensor_info_offset, f"{what}: tensor_info_offset (where the metadata "
                 "ends)", hints=[*_about(got, hints), (None, "the position just after the last metadata value: start "
                                                             "at 24 and move on by the size of every part read")])


def test_read_gguf_header_reads_version_and_counts(ex, gguf_files) -> None:
    _check_header(ex, gguf_files["counts"])
    expect_raises(InputError, lambda: ex.read_gguf_header(b"GGML" + gguf_files["counts"].data[4:]),
                  "read_gguf_header on bytes that start with b'GGML'",
                  "check the magic: raise InputError when the data does not start with b'GGUF'")


def _check_headers_with_metadata(ex, gguf_files: dict[str, GGUFCase]) -> None:
    _check_header(ex, gguf_files["one string"], [(None, _LAYOUT)])
    _check_header(ex, gguf_files["numbers"], [(lambda err: isinstance(err, Exception), _SIZES)])
    _check_header(ex, gguf_files["text"], [
        (None, "a string's length counts bytes, not characters ('é' is 2 bytes, '日' 3): slice "
               "data[pos:pos + length], decode it, and move pos on by length, not by len(text)")])


def test_read_gguf_header_reads_strings_and_numbers(ex, gguf_files) -> None:
    _check_headers_with_metadata(ex, gguf_files)


def test_read_gguf_header_reads_arrays(ex, gguf_files) -> None:
    _check_header(ex, gguf_files["arrays"], [(None, _ARRAYS)])


# ---- GGUF tensors --------------------------------------------------------------------------------------------------

def _floats_at(data: bytes, start: int, count: int, dtype: str = "<f4") -> np.ndarray | None:
    """``count`` floats at byte ``start``, or None when they do not fit in the file."""
    if start < 0 or start + count * np.dtype(dtype).itemsize > len(data):
        return None
    return np.frombuffer(data, dtype=dtype, count=count, offset=start).astype(np.float64)


def _as(values: np.ndarray | None, shape: tuple[int, ...]) -> torch.Tensor | None:
    return None if values is None else torch.from_numpy(values.copy()).reshape(shape)


def _f32_hints(case: GGUFCase, name: str) -> list[Hint]:
    _, shape, offset = case.tensors[name]
    count = math.prod(shape)
    mistakes = [
        (_floats_at(case.data, offset, count), "the offset counts from the start of the data section (after the "
                                               "tensor infos and the padding), not from the start of the file"),
        (_floats_at(case.data, case.infos_end + offset, count),
         f"the data section starts at the next multiple of the alignment ({case.alignment}) after the tensor infos: "
         "pad the position up, (pos + alignment - 1) // alignment * alignment"),
        (_floats_at(case.data, _pad(case.infos_end, 32) + offset, count),
         f"this file sets general.alignment = {case.alignment}: use it (32 is only the default)"),
        (_floats_at(case.data, case.data_start + offset, count, ">f4"), "the floats are little-endian: '<f4'"),
    ]
    hints: list[Hint] = [(_like(_as(m, shape), 0, 0), text) for m, text in mistakes if m is not None]
    return hints + [
        (lambda got: tuple(got.shape) == tuple(reversed(shape)) and len(shape) > 1,
         "GGUF lists the dimensions innermost first ([columns, rows]): reverse them for torch's shape"),
        (lambda got: tuple(got.shape) == (count,) and len(shape) > 1, f"reshape the values to the tensor's shape "
                                                                      f"{shape}"),
        (lambda err: isinstance(err, ValueError) and "byte order" in str(err), "the floats are little-endian: read "
                                                                               "them as '<f4'"),
    ]


def _q8_0_hints(case: GGUFCase, name: str) -> list[Hint]:
    _, shape, offset = case.tensors[name]
    n_blocks = math.prod(shape) // 32
    raw = np.frombuffer(case.data, dtype=np.uint8, count=n_blocks * 34, offset=case.data_start + offset)
    blocks = raw.reshape(n_blocks, 34)
    d = blocks[:, :2].copy().view("<f2").astype(np.float64)
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
    d32 = blocks[:, :4].copy().view("<f4").astype(np.float64)  # the scale misread as float32 (2 bytes too many)
    mistakes = [
        (q, "multiply each value q by its block's scale d"),
        (d * blocks[:, 2:].astype(np.float64), "the 32 numbers q are signed (int8, 'i1' / '<b'), not uint8"),
        (d32 * q, "the scale d is a float16 (2 bytes, '<e' or np.float16), not a float32"),
    ]
    hints: list[Hint] = [(_like(_as(m.reshape(-1), shape), 0, 0), text) for m, text in mistakes]
    return hints + [(None, "a Q8_0 block is 34 bytes: a float16 scale d (2 bytes, not a 4-byte float32), then 32 "
                           "int8 numbers q; each value is d · q. Blocks follow one another along each row (a row of "
                           "64 values is 2 blocks)")]


def _check_tensor(ex, case: GGUFCase, name: str, hints: list[Hint], blocked: Blocked) -> None:
    type_id, shape, _ = case.tensors[name]
    expected = torch.from_numpy(case.values[name])
    what = f"read_gguf_tensor({name!r}) on {case.what}"
    got = _run(what, ex.read_gguf_tensor, (case.data, name), hints, blocked)
    if not _close(got, expected, 0, 0):
        prerequisite(*blocked)
    expect_close(got, expected, f"{what}: {'F32' if type_id == 0 else 'Q8_0'} {shape}, against gguf.GGUFReader",
                 atol=0, rtol=0, hints=hints)


def _check_f32_tensors(ex, gguf_files: dict[str, GGUFCase]) -> None:
    blocked = ("test_read_gguf_header_reads_strings_and_numbers", "read_gguf_tensor",
               lambda: _check_headers_with_metadata(ex, gguf_files))
    for file, names in (("tensors", ("vector", "matrix")), ("aligned 64", ("matrix",))):
        case = gguf_files[file]
        for name in names:
            _check_tensor(ex, case, name, _f32_hints(case, name), blocked)


def test_read_gguf_tensor_reads_f32_tensors(ex, gguf_files) -> None:
    _check_f32_tensors(ex, gguf_files)


def test_read_gguf_tensor_dequantises_q8_0(ex, gguf_files) -> None:
    blocked = ("test_read_gguf_tensor_reads_f32_tensors", "read_gguf_tensor",
               lambda: _check_f32_tensors(ex, gguf_files))
    for file in ("tensors", "aligned 64"):
        case = gguf_files[file]
        _check_tensor(ex, case, "q8_0.matrix", _q8_0_hints(case, "q8_0.matrix"), blocked)


# ---- scaling laws --------------------------------------------------------------------------------------------------

def _pair_of_numbers(got: Any) -> bool:
    return isinstance(got, tuple | list) and len(got) == 2 and all(isinstance(v, numbers.Real) for v in got)


def _near(got: Any, expected: float, rel: float = 1e-9) -> bool:
    return isinstance(got, numbers.Real) and math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12)


def _pair_like(expected: tuple[float, float], rel: float = 1e-6) -> Callable[[Any], bool]:
    """A hint's predicate: ``got`` is the pair a mistake computes."""
    return lambda got: all(_near(g, e, rel) for g, e in zip(got, expected, strict=True))


def _expect_pair(got: Any, expected: tuple[float, float], names: tuple[str, str], what: str,
                 hints: Sequence[Hint], rel: float = 1e-9) -> None:
    expect(_pair_of_numbers(got), what, f"expected a pair of numbers {names}, got {got!r}", got)
    for name, value, wanted in zip(names, got, expected, strict=True):
        expect(_near(value, wanted, rel), f"{what}: {name}", f"expected {wanted:.10g}, got {value:.10g}", got, hints)


def _line(u: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """numpy's least-squares line through the points (u, v): (slope, intercept)."""
    slope, intercept = np.polyfit(u, v, 1)
    return float(slope), float(intercept)


def _power_law_hints(x: np.ndarray, y: np.ndarray) -> list[Hint]:
    """Hints for fit_power_law_log, each recognised by the (A, α), or the α alone, that a mistake gives."""
    ln10 = math.log(10)
    slope, intercept = _line(np.log(x), np.log(y))

    def alpha_like(value: float) -> Callable[[Any], bool]:
        return lambda got: _near(got[1], value, 1e-6)

    return [
        (_pair_like((math.exp(intercept), slope)), "α is minus the slope: log y = log A − α · log x"),
        (_pair_like((intercept, -slope)), "the intercept is log A: return A = exp(intercept)"),
        (_pair_like((math.exp(intercept / ln10), -slope)), "those are base-10 logarithms: the intercept is then "
                                                           "log10 A, undone by 10 ** intercept, not exp (or use "
                                                           "np.log for both and exp)"),
        (lambda got: alpha_like(-slope * ln10)(got) or alpha_like(-slope / ln10)(got),
         "take the same logarithm of x and of y (np.log for both): mixing natural and base-10 logarithms scales "
         "the slope by ln 10"),
        (alpha_like(-_line(x, np.log(y))[0]), "take the logarithm of x too: the line is log y against log x"),
        (alpha_like(-_line(np.log(x), y)[0]), "take the logarithm of y too: the line is log y against log x"),
        (alpha_like(-_line(np.log(y), np.log(x))[0]), "the line predicts log y from log x: "
                                                      "np.polyfit(log_x, log_y, 1), x first"),
    ]


KNOWN_LAWS = (  # (A, α, x): y = A · x^(−α) exactly
    (406.4, 0.34, (1e7, 3e7, 1e8, 3e8, 1e9, 3e9)),  # Chinchilla's fitted A/N^α term (Hoffmann et al. 2022)
    (8.8e13**0.076, 0.076, tuple(np.logspace(6, 9, 7))),  # Kaplan et al. 2020: L(N) = (8.8e13 / N)^0.076
    (3.0, -0.5, (1, 4, 9, 16)),  # a law that grows (α < 0): y = 3 √x
    (2.0, 1.0, (2, 8)),  # two points are enough for a line
)


def _shown(x: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in x) + "]"


def _check_known_laws(ex) -> None:
    for a, alpha, xs in KNOWN_LAWS:
        x = np.array(xs, dtype=np.float64)
        y = a * x**-alpha
        what = f"fit_power_law_log(x={_shown(x)}, y = {a:.6g} · x^({-alpha:g}))"
        hints = _power_law_hints(x, y)
        got = _run(what, ex.fit_power_law_log, (list(xs), y.tolist()), hints)
        _expect_pair(got, (a, alpha), ("A", "α"), f"{what}, the law the points were made from", hints)


def test_fit_power_law_log_recovers_a_known_law(ex) -> None:
    _check_known_laws(ex)
    bad_points = [
        (([1.0, 2.0, 0.0], [3.0, 2.0, 1.0]), "x holds 0"),
        (([1.0, 2.0, 4.0], [3.0, -2.0, 1.0]), "y holds a negative value"),
        (([5.0, 5.0, 5.0], [3.0, 2.0, 1.0]), "every x is the same"),
        (([1.0, 2.0, 4.0], [3.0, 2.0]), "y is shorter than x"),
    ]
    for (x, y), why in bad_points:
        expect_raises(InputError, lambda x=x, y=y: ex.fit_power_law_log(x, y), f"fit_power_law_log({x}, {y}): {why}",
                      "raise InputError unless x and y hold the same number of positive values, with at least two "
                      "different x: a logarithm needs a positive number, and a line two points")


def test_fit_power_law_log_matches_numpy_polyfit_on_noisy_points(ex) -> None:
    blocked = ("test_fit_power_law_log_recovers_a_known_law", "fit_power_law_log", lambda: _check_known_laws(ex))
    for seed, n, noise in ((0, 8, 0.05), (1, 20, 0.2), (2, 3, 0.01)):
        rng = np.random.default_rng(seed)
        x = np.sort(rng.uniform(1e6, 1e9, n))
        y = 406.4 * x**-0.34 * np.exp(noise * rng.standard_normal(n))
        slope, intercept = _line(np.log(x), np.log(y))
        what = f"fit_power_law_log on {n} noisy points (seed {seed})"
        hints = _power_law_hints(x, y)
        got = _run(what, ex.fit_power_law_log, (x.tolist(), y.tolist()), hints, blocked)
        if not _pair_like((math.exp(intercept), -slope), 1e-9)(got):
            prerequisite(*blocked)
        _expect_pair(got, (math.exp(intercept), -slope), ("A", "α"),
                     f"{what}, against numpy.polyfit(log x, log y, 1)", hints)


def _flops_hints(parameters: int, tokens: int, expected: float) -> list[Hint]:
    """Hints for training_flops, each recognised by the number a mistake gives; one that happens to give the right
    number in this case is left out."""
    mistakes = [
        (2 * parameters * tokens, "2 · N · D is the forward pass only (one multiply-add per parameter per token); "
                                  "the backward pass costs twice as much again: 6 · N · D in all"),
        (3 * parameters * tokens, "6 FLOPs per parameter per token: a multiply-add is 2 FLOPs, forward (2) plus "
                                  "backward (4)"),
        (6 * parameters, "multiply by the number of tokens too: every token goes through every weight"),
    ]
    return [(lambda got, m=m: _near(got, m), text) for m, text in mistakes if not _near(float(m), expected)]


FLOPS_BY_HAND = (  # (parameters, tokens, FLOPs), each 6 · N · D worked out by hand
    (1, 1, 6.0),  # 6 × 1 × 1
    (1_000, 10, 60_000.0),  # 6 × 1 000 × 10
    (124_000_000, 1_000_000, 7.44e14),  # GPT-2 small on a million tokens: 6 × 124e6 × 1e6 = 744e12
    (70_000_000_000, 1_400_000_000_000, 5.88e23),  # Chinchilla: 6 × 70e9 × 1.4e12 = 588e21
)


def _check_training_flops_by_hand(ex) -> None:
    for parameters, tokens, expected in FLOPS_BY_HAND:
        what = f"training_flops({parameters:_}, {tokens:_})"
        hints = _flops_hints(parameters, tokens, expected)
        got = _run(what, ex.training_flops, (parameters, tokens), hints)
        expect(_near(got, expected), what, f"expected 6 · N · D = {expected:.6g} FLOPs, got {got!r}", got, hints)


def test_training_flops_is_six_n_d(ex) -> None:
    _check_training_flops_by_hand(ex)


def _counted_training_flops(widths: tuple[int, ...], batch: int, n: int) -> tuple[int, int]:
    """(parameters, FLOPs) of one training step of a stack of bias-free linear layers on batch × n tokens, the
    FLOPs counted by torch's FlopCounterMode over the forward and the backward pass."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        modules: list[nn.Module] = []
        for width_in, width_out in pairwise(widths):
            modules += [nn.Linear(width_in, width_out, bias=False), nn.ReLU()]
        model = nn.Sequential(*modules[:-1])  # no ReLU after the last layer
        # the input asks for its gradient as the embeddings of a language model do, so the first layer computes the
        # gradient of its input as every other layer does
        x = torch.randn(batch, n, widths[0], requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        model(x).square().mean().backward()
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops()


def test_training_flops_matches_torch_flop_counter(ex) -> None:
    for widths, batch, n in (((16, 32, 8), 2, 5), ((64, 256, 64, 10), 1, 7), ((8, 8), 3, 1)):
        parameters, counted = _counted_training_flops(widths, batch, n)
        what = (f"training_flops({parameters}, {batch * n}): a stack of linear layers {' → '.join(map(str, widths))} "
                f"without biases ({parameters} parameters), one step on {batch} × {n} tokens")
        hints = _flops_hints(parameters, batch * n, float(counted))
        got = _run(what, ex.training_flops, (parameters, batch * n), hints)
        expect(_near(got, counted), what, f"torch's FlopCounterMode counts {counted} FLOPs (forward + backward), "
               f"got {got!r}", got, hints)


def _chinchilla_hints(compute: float, k: float) -> list[Hint]:
    """Hints for chinchilla_optimal, each recognised by the (N, D) a mistake gives."""
    n = math.sqrt(compute / (6 * k))
    mistakes = [
        ((compute / (6 * k), compute / 6), "C = 6k · N² gives N² = C / (6k): take the square root, "
                                           "N = sqrt(C / (6k))"),
        ((math.sqrt(compute / 6 * k), k * math.sqrt(compute / 6 * k)),
         "divide by the whole 6k: C / (6 * k), with brackets (C / 6 * k multiplies by k)"),
        ((k * n, n), "return (N, D) in that order: the parameters first, then the tokens (D = k · N is the larger)"),
        ((n, n / k), "D = k · N: k tokens for each parameter"),
        *(((math.sqrt(compute / (f * k)), k * math.sqrt(compute / (f * k))),
           f"the budget of training is C = 6 · N · D (training_flops), not {f} · N · D") for f in (2, 3)),
    ]
    return [(_pair_like(m), text) for m, text in mistakes]


CHINCHILLA_CASES = ((5.88e23, 20.0), (1e21, 20.0), (6e15, 20.0), (1e20, 5.0), (3.6e22, 100.0))  # (C, k)


def test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter(ex) -> None:
    blocked = ("test_training_flops_is_six_n_d", "chinchilla_optimal", lambda: _check_training_flops_by_hand(ex))
    for compute, k in CHINCHILLA_CASES:
        what = f"chinchilla_optimal({compute:g}, tokens_per_parameter={k:g})"
        hints = _chinchilla_hints(compute, k)
        got = _run(what, ex.chinchilla_optimal, (compute, k), hints, blocked)
        expect(_pair_of_numbers(got) and got[0] > 0, what, f"expected a pair of positive numbers (N, D), got {got!r}",
               got, hints)
        n, d = got
        if not (_near(6 * n * d, compute) and _near(d / n, k)):
            prerequisite(*blocked)
        expect(_near(6 * n * d, compute), what, f"N = {n:.6g} and D = {d:.6g} cost 6 · N · D = {6 * n * d:.6g} "
               f"FLOPs, not the budget C = {compute:g}", got, hints)
        expect(_near(d / n, k), what, f"expected {k:g} tokens per parameter, got D / N = {d / n:.6g}", got, hints)
    # the published example as commonly quoted: Chinchilla, 70 B parameters on 1.4 T tokens, about 5.9e23 FLOPs
    n, d = _run("chinchilla_optimal(5.9e23)", ex.chinchilla_optimal, (5.9e23,), _chinchilla_hints(5.9e23, 20.0))
    for name, value, published, said in (("N", n, 70e9, "70 B parameters"), ("D", d, 1.4e12, "1.4 T tokens")):
        expect(abs(value / published - 1) <= 0.03, f"chinchilla_optimal(5.9e23): {name}",
               f"Chinchilla was {said}; expected {name} within 3 % of {published:g}, got {value:.4g}",
               hints=[(None, "the default tokens_per_parameter is 20, Chinchilla's ratio")])
