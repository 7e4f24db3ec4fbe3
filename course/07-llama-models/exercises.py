"""Chapter 7 exercises: what a LLaMA block changes from GPT-2, and how llama.cpp's GGUF files hold a model.

Chapter 7 builds a LLaMA-like decoder (SmolLM2-135M is one): RMSNorm instead of LayerNorm, rotary position
embeddings (RoPE) instead of a learned position table, grouped-query attention (several query heads share one
key/value head, so the KV cache shrinks) and a SwiGLU MLP. It then loads the same model from a GGUF file (the
format llama.cpp runs), quantised to a few bits per weight.

You write, in order: RMSNorm (checked against transformers' ``LlamaRMSNorm`` in float32, bfloat16 and float16), RoPE's
angles and the rotation itself (checked against transformers' ``LlamaRotaryEmbedding`` and
``apply_rotary_pos_emb``), sharing key/value heads and grouped-query attention (checked against transformers'
``repeat_kv`` and torch's ``scaled_dot_product_attention(..., enable_gqa=True)``), then a GGUF reader at the level
of its bytes: the header with its metadata, and one F32 or Q8_0 tensor (checked on files written by the ``gguf``
package against its own ``GGUFReader``), and last three scaling-law estimates: a power law fitted on log–log axes
(checked against ``numpy.polyfit``), the ``6 · N · D`` compute of training (checked against the FLOPs torch's
``FlopCounterMode`` counts in a training step) and Chinchilla's compute-optimal model size and token count. Later
functions may call earlier ones.

Fill in each function, then run `z2h check 7`. Shapes are in the docstrings. For the GGUF reader, Python's
``struct`` module reads numbers from bytes (``struct.unpack_from("<I", data, pos)`` is the little-endian uint32 at
byte ``pos`` of ``data``), and bad input raises ``zero2hero.errors.InputError``: import what you use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from zero2hero.llama.functional import GGUFHeader


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``x / sqrt(mean(x²) + eps) * weight`` over the last dimension: LLaMA's normalisation.

    x: (..., d); weight: (d,), a learned gain per feature. Unlike LayerNorm there is no mean subtracted and no
    bias: each token's vector is only rescaled to a root mean square of 1. The arithmetic runs in float32 and the
    result is cast back to x's dtype before the gain, as LLaMA does, so a bfloat16 model normalises accurately.

    (3, 4) has mean square (9 + 16) / 2 = 12.5 and root mean square 3.5355:

    >>> rms_norm(torch.tensor([3.0, 4.0]), torch.ones(2), eps=0.0)
    tensor([0.8485, 1.1314])
    """
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError


def repeat_kv(kv: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Share each key/value head with ``n_rep`` query heads: (batch, kv_heads, n, head_dim) ->
    (batch, kv_heads · n_rep, n, head_dim), where head h of the result is head ``h // n_rep`` of kv.

    Grouped-query attention stores fewer key/value heads than query heads (SmolLM2-135M: 3 for 9), which shrinks the
    KV cache by the same factor; consecutive query heads form a group that reads one key/value head.

    >>> repeat_kv(torch.tensor([10.0, 20.0]).view(1, 2, 1, 1), n_rep=3).flatten()
    tensor([10., 10., 10., 20., 20., 20.])
    """
    raise NotImplementedError


def grouped_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """Attention where groups of query heads share a key/value head: softmax(q kᵀ / √head_dim) v per query head.

    q: (batch, heads, n, head_dim); k, v: (batch, kv_heads, n, head_dim) with heads a multiple of kv_heads.
    Query head h reads key/value head ``h // (heads / kv_heads)``. With ``causal=True`` position i sees keys 0..i.
    Returns (batch, heads, n, head_dim). Chapter 3's ``scaled_dot_product_attention`` and ``causal_mask``
    (:mod:`zero2hero.transformer.attention`) do the attention itself once every query head has its keys and values.
    """
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError
