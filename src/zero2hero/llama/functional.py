"""The pieces of a LLaMA and of a GGUF file as plain functions, written step by step: chapter 7's exercises.

RMSNorm, rotary position embeddings (RoPE) and grouped-query attention are what a LLaMA block changes from GPT-2's;
reading a GGUF header and one tensor at the level of its bytes is what llama.cpp does when it loads a model.
:mod:`zero2hero.llama.model` and :mod:`zero2hero.llama.gguf_reader` are the library versions (a module and a reader
that checks every byte); the checks compare these functions with transformers' LLaMA and the ``gguf`` package.
The scaling-law functions at the end (a power law fitted on log–log axes, the ``6 · N · D`` compute of training and
Chinchilla's compute-optimal size) are what :mod:`zero2hero.llama.scaling` measures on models trained here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zero2hero.errors import InputError
from zero2hero.llama.gguf_reader import DEFAULT_ALIGNMENT, MAGIC, TensorInfo, ValueType
from zero2hero.transformer.attention import causal_mask, scaled_dot_product_attention

# ---- RMSNorm, RoPE, grouped-query attention --------------------------------------------------------------------


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``x / sqrt(mean(x²) + eps) * weight`` over the last dimension: LLaMA's normalisation.

    x: (..., d); weight: (d,), a learned gain per feature. Unlike LayerNorm there is no mean subtracted and no
    bias: each token's vector is only rescaled to a root mean square of 1. The arithmetic runs in float32 and the
    result is cast back to x's dtype before the gain, as LLaMA does, so a bfloat16 model normalises accurately.

    (3, 4) has mean square (9 + 16) / 2 = 12.5 and root mean square 3.5355:

    >>> rms_norm(torch.tensor([3.0, 4.0]), torch.ones(2), eps=0.0)
    tensor([0.8485, 1.1314])
    """
    # 1. work in float32: squares of bfloat16 numbers (8 bits of precision) would round too much
    h = x.float()
    # 2. the mean of the squares over the last dimension (one token's features), kept as (..., 1) to broadcast
    mean_square = h.pow(2).mean(dim=-1, keepdim=True)
    # 3. divide by the root: rsqrt(v) is 1 / sqrt(v); eps sits inside the root so an all-zero vector stays finite
    h = h * torch.rsqrt(mean_square + eps)
    # 4. back to x's dtype, then the per-feature gain
    return weight * h.to(x.dtype)


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of RoPE's rotation angles, each (n, head_dim) float32, for the integer ``positions`` (n,).

    The head_dim dimensions form head_dim / 2 pairs; pair i turns by ``position · base^(-2i / head_dim)`` radians.
    The first pairs turn fast (they tell nearby tokens apart), the last ones slowly (they see long distances).
    In the half-split layout of transformers' LLaMA, pair i is dimensions ``i`` and ``i + head_dim / 2``, so the
    angles of the first half are repeated for the second.

    >>> cos, sin = rotary_cos_sin(torch.tensor([0, 1]), head_dim=4, base=100.0)  # frequencies 1 and 1/10
    >>> sin
    tensor([[0.0000, 0.0000, 0.0000, 0.0000],
            [0.8415, 0.0998, 0.8415, 0.0998]])
    """
    # 1. one frequency per pair: base^(-2i / head_dim) for i = 0 .. head_dim/2 - 1 (arange gives 2i directly)
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (head_dim / 2,)
    # 2. each pair's angle at each position: position × frequency (an outer product)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (n, head_dim / 2)
    # 3. half-split layout: dimension i and dimension i + head_dim / 2 share an angle
    angles = torch.cat([angles, angles], dim=-1)  # (n, head_dim)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x[i], x[i + head_dim/2])`` of x (batch, heads, n, head_dim) by its angle.

    cos, sin: (n, head_dim) from :func:`rotary_cos_sin`. A pair (a, b) turned by angle θ becomes
    ``(a cos θ − b sin θ, b cos θ + a sin θ)``; on whole vectors that is ``x · cos + rotate_half(x) · sin`` with
    ``rotate_half(x1, x2) = (−x2, x1)`` on the two halves of the last dimension. Queries and keys are both rotated,
    so ``q · k`` depends only on how far apart the two positions are. The result has x's shape and dtype.

    Rotating (1, 0) at positions 0, 1, 2 (head_dim 2, so one pair turning 1 radian per position):

    >>> cos, sin = rotary_cos_sin(torch.tensor([0, 1, 2]), head_dim=2)
    >>> apply_rotary(torch.tensor([1.0, 0.0]).expand(1, 1, 3, 2), cos, sin)
    tensor([[[[ 1.0000,  0.0000],
              [ 0.5403,  0.8415],
              [-0.4161,  0.9093]]]])
    """
    # 1. rotate_half: the halves x1 = x[..., :d/2] and x2 = x[..., d/2:] become (-x2, x1), a 90° turn of every pair
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    turned = torch.cat([-x2, x1], dim=-1)
    # 2. the rotation by θ: cos θ of the vector plus sin θ of its 90° turn; (n, head_dim) broadcasts over batch, heads
    return x * cos.to(x.dtype) + turned * sin.to(x.dtype)


def repeat_kv(kv: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Share each key/value head with ``n_rep`` query heads: (batch, kv_heads, n, head_dim) ->
    (batch, kv_heads · n_rep, n, head_dim), where head h of the result is head ``h // n_rep`` of kv.

    Grouped-query attention stores fewer key/value heads than query heads (SmolLM2-135M: 3 for 9), which shrinks the
    KV cache by the same factor; consecutive query heads form a group that reads one key/value head.

    >>> repeat_kv(torch.tensor([10.0, 20.0]).view(1, 2, 1, 1), n_rep=3).flatten()
    tensor([10., 10., 10., 20., 20., 20.])
    """
    batch, kv_heads, n, head_dim = kv.shape
    # 1. a new axis just after the head axis, expanded to n_rep copies (expand makes a view: nothing is copied yet)
    kv = kv[:, :, None].expand(batch, kv_heads, n_rep, n, head_dim)
    # 2. merge the two axes: heads come out 0, 0, ..., 1, 1, ... so head h of the result is head h // n_rep
    return kv.reshape(batch, kv_heads * n_rep, n, head_dim)


def grouped_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """Attention where groups of query heads share a key/value head: softmax(q kᵀ / √head_dim) v per query head.

    q: (batch, heads, n, head_dim); k, v: (batch, kv_heads, n, head_dim) with heads a multiple of kv_heads.
    Query head h reads key/value head ``h // (heads / kv_heads)``. With ``causal=True`` position i sees keys 0..i.
    Returns (batch, heads, n, head_dim). Chapter 3's ``scaled_dot_product_attention`` and ``causal_mask``
    (:mod:`zero2hero.transformer.attention`) do the attention itself once every query head has its keys and values.
    """
    heads, kv_heads = q.shape[1], k.shape[1]
    if heads % kv_heads:
        raise InputError(f"{heads} query heads cannot share {kv_heads} key/value heads evenly",
                         "the number of query heads must be a multiple of the number of key/value heads")
    # 1. give every query head its group's keys and values
    k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)  # (batch, heads, n, head_dim)
    # 2. ordinary multi-head attention from here (chapter 3), causal or not
    mask = causal_mask(q.shape[2], k.shape[2], q.device) if causal else None
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return out


# ---- GGUF at the level of its bytes --------------------------------------------------------------------------------

GGML_F32, GGML_Q8_0 = 0, 8  # ggml's type numbers (zero2hero.llama.ggml_types.TYPE_NAMES)
Q8_0_BLOCK = 32  # values per Q8_0 block, stored in 2 + 32 = 34 bytes

# struct formats of the fixed-size value types, all little-endian ("<"); strings and arrays are read apart
_SCALAR_FORMATS = {ValueType.UINT8: "<B", ValueType.INT8: "<b", ValueType.UINT16: "<H", ValueType.INT16: "<h",
                   ValueType.UINT32: "<I", ValueType.INT32: "<i", ValueType.FLOAT32: "<f", ValueType.BOOL: "<?",
                   ValueType.UINT64: "<Q", ValueType.INT64: "<q", ValueType.FLOAT64: "<d"}


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file says before its tensor infos."""

    magic: bytes  # the first 4 bytes, b"GGUF"
    version: int  # 3 (or 2)
    tensor_count: int
    metadata: dict[str, Any]  # key -> int, float, bool, str, or a list of them
    tensor_info_offset: int  # where the tensor infos begin: the byte just after the last metadata value


def _read_scalar(data: bytes, pos: int, fmt: str) -> tuple[Any, int]:
    """The value of struct format ``fmt`` at ``pos``, and the position just after it."""
    (value,) = struct.unpack_from(fmt, data, pos)
    return value, pos + struct.calcsize(fmt)


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    # a uint64 length in bytes (not characters: "é" takes 2), then that many bytes of UTF-8
    length, pos = _read_scalar(data, pos, "<Q")
    return data[pos:pos + length].decode("utf-8"), pos + length


def _read_value(data: bytes, pos: int, value_type: int) -> tuple[Any, int]:
    if value_type == ValueType.STRING:
        return _read_string(data, pos)
    if value_type == ValueType.ARRAY:
        # the elements' type (uint32), their number (uint64), then the elements one after another
        item_type, pos = _read_scalar(data, pos, "<I")
        count, pos = _read_scalar(data, pos, "<Q")
        items = []
        for _ in range(count):
            item, pos = _read_value(data, pos, item_type)
            items.append(item)
        return items, pos
    if value_type not in _SCALAR_FORMATS:
        raise InputError(f"unknown GGUF value type {value_type} at byte {pos}", "the file is corrupt or not GGUF")
    return _read_scalar(data, pos, _SCALAR_FORMATS[value_type])


def read_gguf_header(data: bytes) -> GGUFHeader:
    """Parse the start of a GGUF file's bytes: magic, version, tensor count and the metadata.

    Every number is little-endian. The layout:

    * ``b"GGUF"``, version (uint32), tensor count (uint64), metadata count (uint64) — 24 bytes;
    * per metadata entry: the key (a string), the value type (uint32) and the value. Value types: 0 uint8, 1 int8,
      2 uint16, 3 int16, 4 uint32, 5 int32, 6 float32, 7 bool (1 byte), 8 string, 9 array, 10 uint64, 11 int64,
      12 float64. A string is a uint64 length in bytes, then that many bytes of UTF-8; an array is the elements'
      value type (uint32), their number (uint64), then the elements.

    Returns ``GGUFHeader(magic, version, tensor_count, metadata, tensor_info_offset)``: metadata maps each key to its
    value (int, float, bool, str or a list), and ``tensor_info_offset`` is the position where the metadata ends, so
    :func:`read_gguf_tensor` can go on from there. Data that does not start with ``b"GGUF"`` raises
    :class:`~zero2hero.errors.InputError`.

    One string entry, ``name = "hé"`` (``"é"`` is 2 bytes of UTF-8), in a file of no tensors:

    >>> key, value = b"name", "hé".encode("utf-8")
    >>> header = read_gguf_header(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    ...                           + struct.pack("<IQ", 8, len(value)) + value)
    >>> header.version, header.tensor_count, header.metadata, header.tensor_info_offset
    (3, 0, {'name': 'hé'}, 51)
    """
    # 1. the fixed part: the magic, then 4 + 8 + 8 bytes of version and counts
    magic = bytes(data[:4])
    if magic != MAGIC:
        raise InputError(f"the data starts with {magic!r}, not {MAGIC!r}: it is not a GGUF file",
                         "pass the bytes of a .gguf file (Path(...).read_bytes())")
    version, tensor_count, metadata_count = struct.unpack_from("<IQQ", data, 4)
    pos = 4 + 4 + 8 + 8
    # 2. the metadata entries, one after another: key, value type, value
    metadata = {}
    for _ in range(metadata_count):
        key, pos = _read_string(data, pos)
        value_type, pos = _read_scalar(data, pos, "<I")
        metadata[key], pos = _read_value(data, pos, value_type)
    return GGUFHeader(magic, version, tensor_count, metadata, pos)


def _read_tensor_info(data: bytes, pos: int) -> tuple[TensorInfo, int]:
    # name, number of dimensions (uint32), the sizes (uint64 each, innermost first), ggml type (uint32), offset (uint64)
    name, pos = _read_string(data, pos)
    n_dims, pos = _read_scalar(data, pos, "<I")
    sizes = struct.unpack_from(f"<{n_dims}Q", data, pos)
    type_id, offset = struct.unpack_from("<IQ", data, pos + 8 * n_dims)
    # GGUF lists [columns, rows] for a matrix; torch lists rows first
    return TensorInfo(name, tuple(reversed(sizes)), type_id, offset), pos + 8 * n_dims + 4 + 8


def _dequantize_q8_0(data: bytes, start: int, count: int) -> np.ndarray:
    # each block of 32 values is a float16 scale d (2 bytes) and 32 int8 numbers q; value = d · q
    block = np.dtype([("d", "<f2"), ("q", "i1", Q8_0_BLOCK)])  # 34 bytes
    blocks = np.frombuffer(data, dtype=block, count=count // Q8_0_BLOCK, offset=start)
    return (blocks["d"].astype(np.float32)[:, None] * blocks["q"]).reshape(-1)  # (count,) float32


def read_gguf_tensor(data: bytes, name: str) -> torch.Tensor:
    """Tensor ``name`` of a GGUF file's bytes as float32, in torch's shape order (rows first); F32 and Q8_0 only.

    After the metadata (at ``read_gguf_header(data).tensor_info_offset``) come ``tensor_count`` tensor infos: the
    name (a string), the number of dimensions (uint32), the sizes (uint64 each, innermost first: ``[columns, rows]``
    for a matrix, the reverse of torch's order), the ggml type (uint32: 0 is F32, 8 is Q8_0) and an offset (uint64).
    The data section starts after the infos, padded up to a multiple of ``general.alignment`` (32 when the metadata
    does not set it); a tensor's bytes start ``offset`` bytes into the data section. F32 is 4 little-endian bytes per
    value; Q8_0 stores each run of 32 values of a row as a block of 34 bytes: a float16 scale d, then 32 int8
    numbers q, each value being d · q.

    A name the file does not hold, or a tensor of another type, raises :class:`~zero2hero.errors.InputError`.
    """
    header = read_gguf_header(data)
    # 1. the tensor infos start where the metadata ends; read them all (the last one's end is needed below)
    pos, infos = header.tensor_info_offset, {}
    for _ in range(header.tensor_count):
        info, pos = _read_tensor_info(data, pos)
        infos[info.name] = info
    if name not in infos:
        raise InputError(f"the file has no tensor {name!r}", f"its tensors are: {', '.join(infos) or 'none'}")
    info = infos[name]
    # 2. the data section: the end of the infos rounded up to a multiple of the alignment
    alignment = header.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    data_start = (pos + alignment - 1) // alignment * alignment
    # 3. the tensor's values, `offset` bytes into the data section
    start, count = data_start + info.offset, math.prod(info.shape)
    if info.type_id == GGML_F32:
        values = np.frombuffer(data, dtype="<f4", count=count, offset=start)
    elif info.type_id == GGML_Q8_0:
        values = _dequantize_q8_0(data, start, count)
    else:
        raise InputError(f"tensor {name!r} has ggml type {info.type_id}; this reads F32 (0) and Q8_0 (8)",
                         "read other types with zero2hero.llama.gguf_reader.read_gguf")
    # 4. a tensor of its own (frombuffer shares the file's bytes, read-only), rows first
    return torch.from_numpy(values.copy()).reshape(info.shape)


# ---- Scaling laws --------------------------------------------------------------------------------------------------


def fit_power_law_log(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Fit ``y = A · x^(−α)`` to the points (x, y), each (n,), by least squares on (log x, log y); returns (A, α).

    A power law is a straight line on log–log axes: ``log y = log A − α · log x``. So take the logarithm of both
    coordinates (the same logarithm for both: the natural one, ``np.log``), fit the least-squares line
    ``log y ≈ slope · log x + intercept`` and read the law off it: ``α = −slope`` and ``A = exp(intercept)``.
    ``numpy.polyfit(log_x, log_y, 1)`` returns ``(slope, intercept)``; written out, the slope is
    ``Σ (lx − mean lx)(ly − mean ly) / Σ (lx − mean lx)²`` and the line passes through ``(mean lx, mean ly)``.

    Scaling laws are fitted this way: the loss of a family of models falls along such a line against their size N
    or their training tokens D (Kaplan et al. 2020 quote ``α ≈ 0.076`` for N).
    :func:`zero2hero.llama.scaling.fit.fit_power_law` adds the floor E that no size removes.

    x and y must hold the same number of positive values, with at least two different x (a line needs two points);
    otherwise :class:`~zero2hero.errors.InputError`.

    y halves each time x grows tenfold, so α = log10(2):

    >>> a, alpha = fit_power_law_log([1, 10, 100], [8.0, 4.0, 2.0])
    >>> round(a, 6), round(alpha, 6)
    (8.0, 0.30103)
    """
    # 1. float64 arrays; a logarithm needs positive numbers, and a line needs two different x
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(np.unique(x)) < 2 or (x <= 0).any() or (y <= 0).any():
        raise InputError(f"a power law is fitted to as many positive y as positive x; got x={x}, y={y}",
                         "pass positive values, one y per x, with at least two different x")
    # 2. on log–log axes the law is a line, log y = log A − α · log x: natural logarithms of both
    log_x, log_y = np.log(x), np.log(y)
    # 3. the least-squares line (what np.polyfit(log_x, log_y, 1) finds): the slope is the covariance of log x and
    #    log y over the variance of log x, and the line passes through the point of the means
    centred_x = log_x - log_x.mean()
    slope = float((centred_x * (log_y - log_y.mean())).sum() / (centred_x**2).sum())
    intercept = float(log_y.mean() - slope * log_x.mean())
    # 4. read the law off the line: the intercept is log A (exp undoes the natural log), the slope is −α
    return math.exp(intercept), -slope


def training_flops(parameters: int, tokens: int) -> float:
    """The compute, in floating-point operations (FLOPs), of training a model of N ``parameters`` on D ``tokens``:
    ``C ≈ 6 · N · D``.

    Where the 6 comes from: in the forward pass each weight takes part in one multiply-add per token (a linear
    layer's ``x W`` multiplies every weight by one input number and adds the product to a sum): 2 FLOPs per
    parameter per token. The backward pass does that twice: one multiply-add for the gradient of the layer's input
    (passed back to the layer before) and one for the gradient of the weight itself: 4 FLOPs. 2 + 4 = 6 FLOPs per
    parameter per token, for each of the D tokens. The estimate counts the weights' matrix multiplications, nothing
    else: attention's scores (which grow with the context length), the norms and the activations come on top.

    Chinchilla, 70 B parameters trained on 1.4 T tokens:

    >>> training_flops(70_000_000_000, 1_400_000_000_000)
    5.88e+23
    """
    # 2 FLOPs forward + 4 backward, per parameter and per token
    return 6.0 * parameters * tokens


def chinchilla_optimal(compute: float, tokens_per_parameter: float = 20.0) -> tuple[float, float]:
    """The compute-optimal model size N and number of training tokens D for ``compute`` FLOPs; returns (N, D).

    Hoffmann et al. (2022, "Chinchilla") found that at a fixed compute the lowest loss comes with about k = 20
    training tokens per parameter. Two equations pin N and D down: the budget ``C = 6 · N · D``
    (:func:`training_flops`) and the ratio ``D = k · N``. Put the second into the first: ``C = 6k · N²``, so
    ``N = sqrt(C / (6k))`` and ``D = k · N``. A budget 100 times larger buys a model 10 times larger, trained on
    10 times more tokens.

    Chinchilla's budget, 6 × 70 B × 1.4 T FLOPs:

    >>> n, d = chinchilla_optimal(5.88e23)
    >>> round(n / 1e9, 3), round(d / 1e12, 3)
    (70.0, 1.4)
    """
    # 1. C = 6 · N · D with D = k · N is C = 6k · N²: solve for N
    parameters = math.sqrt(compute / (6 * tokens_per_parameter))
    # 2. k tokens for each parameter
    tokens = tokens_per_parameter * parameters
    return parameters, tokens
