"""Q4_K, llama.cpp's 4-bit "K-quant", from scratch: byte for byte what ggml's ``quantize_row_q4_K_ref`` writes.

Why super-blocks. Q4_1 stores a float16 scale and a float16 minimum for every 32 weights: 32 bits of
bookkeeping per 32 weights, a whole extra bit per weight. Smaller groups would fit the weights better but cost
even more. Q4_K keeps groups of 32 but *quantises the scales too*: 8 groups form a super-block of 256 weights, and
each group's scale and minimum are stored as 6-bit integers multiplied by two float16 numbers shared by the
super-block (``d`` for the scales, ``dmin`` for the minimums). A group's bookkeeping drops to 12 bits, plus its
share of ``d`` and ``dmin`` (4 bits): half a bit per weight instead of a whole one.

One super-block, 144 bytes for 256 weights = 4.5 bits per weight (Q4_0: 4.5, Q4_1: 5.0)::

    bytes 0-1     d      float16: the unit of the 8 group scales
    bytes 2-3     dmin   float16: the unit of the 8 group minimums
    bytes 4-15    the 8 scales S0..S7 and 8 minimums M0..M7, 6 bits each, packed in 12 bytes:
                    byte 0+j (j = 0..3): S_j in bits 0-5, bits 4-5 of S_(j+4) in bits 6-7
                    byte 4+j (j = 0..3): M_j in bits 0-5, bits 4-5 of M_(j+4) in bits 6-7
                    byte 8+j (j = 0..3): bits 0-3 of S_(j+4) in bits 0-3, bits 0-3 of M_(j+4) in bits 4-7
    bytes 16-143  the 256 codes, 4 bits each: 32 bytes per pair of groups (2i, 2i+1), byte ``k`` holding
                  value ``k`` of group 2i in its low nibble and value ``k`` of group 2i+1 in its high nibble

Value ``k`` of group ``j`` is ``d * S_j * code - dmin * M_j``.

How the numbers are chosen (:func:`quantize_q4_k`):

1. every group gets its own best float scale and minimum from a small search (:mod:`.kquant_search`);
2. the largest scale of the super-block sets ``d = max_scale / 63``, and each scale is stored as
   ``round(scale / d)`` (6 bits: 0..63); the same for the minimums and ``dmin``;
3. the values are rounded once more, to codes on the grid the *stored* scales describe (not the searched ones).

Quantized tensors are uint8 of shape ``(*leading, n_super_blocks * 144)``, as chapter 4's formats are.
"""

from __future__ import annotations

import torch

from zero2hero.errors import InputError
from zero2hero.quantization.checks import check_tensor
from zero2hero.quantization.kquant_search import CODE_MAX, fit_groups, importance, nearest_code
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

SUPER_BLOCK = 256  # values per super-block (ggml's QK_K)
GROUP = 32  # values per group, each with its own scale and minimum
GROUPS = SUPER_BLOCK // GROUP
SCALE_MAX = 63  # 6-bit scales and minimums
BYTES_PER_SUPER_BLOCK = 2 + 2 + 12 + SUPER_BLOCK // 2  # d, dmin, packed scales, codes: 144
BITS_PER_WEIGHT = 8 * BYTES_PER_SUPER_BLOCK / SUPER_BLOCK  # 4.5
CHUNK = 4096  # super-blocks quantised at once: bounds the memory of the search


def pack_scales(scales: torch.Tensor, mins: torch.Tensor) -> torch.Tensor:
    """``(n, 8)`` 6-bit scales and minimums (integers 0..63) -> ``(n, 12)`` uint8 in Q4_K's layout."""
    s, m = scales.to(torch.uint8), mins.to(torch.uint8)
    low_s, high_s, low_m, high_m = s[:, :4], s[:, 4:], m[:, :4], m[:, 4:]
    return torch.cat([low_s | ((high_s >> 4) << 6),  # bytes 0-3
                      low_m | ((high_m >> 4) << 6),  # bytes 4-7
                      (high_s & 0x0F) | ((high_m & 0x0F) << 4)], dim=1)  # bytes 8-11


def unpack_scales(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_scales`: ``(n, 12)`` uint8 -> scales, minimums, each ``(n, 8)`` uint8."""
    first, second, third = packed[:, :4], packed[:, 4:8], packed[:, 8:]
    scales = torch.cat([first & 0x3F, (third & 0x0F) | ((first >> 6) << 4)], dim=1)
    mins = torch.cat([second & 0x3F, (third >> 4) | ((second >> 6) << 4)], dim=1)
    return scales, mins


def _six_bits(v: torch.Tensor) -> torch.Tensor:
    """Round to 0..63 as ggml does: C's conversion to uint8 wraps modulo 256, then values above 63 become 63."""
    return torch.remainder(nearest_code(v), 256).clamp(max=SCALE_MAX)


def _to_units(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 8)`` non-negative floats -> (unit ``(n,)`` float16, ``(n, 8)`` 6-bit multiples of it)."""
    largest = values.amax(dim=1)
    largest = torch.where(largest > 0, largest, 0)  # ggml starts its maximum at +0 (a minimum of -0.0 stays out)
    # A tensor on the left of "/": torch computes ``63 / t`` (a Python number on the left) as 63 * (1 / t), two
    # roundings that can differ in the last bit from C's one division.
    inverse = torch.where(largest > 0, torch.tensor(float(SCALE_MAX)) / torch.where(largest > 0, largest, 1), 0)
    return (largest / SCALE_MAX).to(torch.float16), _six_bits(inverse[:, None] * values)


def _quantize_super_blocks(x: torch.Tensor) -> torch.Tensor:
    """``(n, 256)`` float32 -> ``(n, 144)`` uint8."""
    groups = x.reshape(-1, GROUP)
    fit = fit_groups(groups, importance(groups))  # step 1: each group's own best scale and minimum
    d, scales = _to_units(fit.scale.reshape(-1, GROUPS))  # step 2: scales and minimums as 6-bit integers
    dmin, mins = _to_units(fit.minimum.reshape(-1, GROUPS))
    # Step 3: codes against the stored (rounded) scale and minimum of each group. A group whose stored scale is 0
    # keeps the codes of its search (they are never used: its values all decode to -dmin * M).
    step = d.float()[:, None] * scales  # (n, 8)
    offset = dmin.float()[:, None] * mins
    values = x.reshape(-1, GROUPS, GROUP)
    codes = nearest_code((values + offset[..., None]) / step[..., None]).clamp(0, CODE_MAX)
    codes = torch.where(step[..., None] == 0, fit.codes.reshape(values.shape), codes)
    return torch.cat([d.view(torch.uint8).reshape(-1, 2), dmin.view(torch.uint8).reshape(-1, 2),
                      pack_scales(scales, mins),
                      pack_nibbles(codes.reshape(-1, 2 * GROUP)).reshape(-1, SUPER_BLOCK // 2)], dim=1)


def quantize_q4_k(w: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 256 * 144)`` uint8 Q4_K super-blocks; ``n`` must be a multiple of 256."""
    x = check_tensor(w, "weight")
    if x.shape[-1] % SUPER_BLOCK:
        raise InputError(f"rows of {x.shape[-1]} values do not split into Q4_K super-blocks of {SUPER_BLOCK}",
                         "Q4_K needs rows whose length is a multiple of 256: store this tensor in a 32-value "
                         "block format (Q5_0, Q8_0, Q4_0), as llama.cpp does")
    rows = x.reshape(-1, SUPER_BLOCK)
    blocks = [_quantize_super_blocks(rows[i:i + CHUNK]) for i in range(0, rows.shape[0], CHUNK)]
    return torch.cat(blocks).reshape(*x.shape[:-1], -1)


def dequantize_q4_k(data: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`quantize_q4_k`: ``(..., k * 144)`` uint8 -> ``(..., k * 256)`` float32."""
    if data.dtype != torch.uint8 or data.dim() == 0 or data.shape[-1] % BYTES_PER_SUPER_BLOCK:
        raise InputError(f"Q4_K data must be uint8 with a multiple of {BYTES_PER_SUPER_BLOCK} bytes per row, "
                         f"got {data.dtype} of shape {tuple(data.shape)}",
                         "pass the bytes quantize_q4_k returned, or a Q4_K tensor's raw bytes from a GGUF file")
    blocks = data.reshape(-1, BYTES_PER_SUPER_BLOCK)
    d = blocks[:, 0:2].contiguous().view(torch.float16).float()  # (n, 1)
    dmin = blocks[:, 2:4].contiguous().view(torch.float16).float()
    scales, mins = unpack_scales(blocks[:, 4:16])
    codes = unpack_nibbles(blocks[:, 16:].reshape(-1, GROUP)).reshape(-1, GROUPS, GROUP).float()
    values = (d * scales)[..., None] * codes - (dmin * mins)[..., None]
    return values.reshape(*data.shape[:-1], -1)
