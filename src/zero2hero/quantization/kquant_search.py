"""The search behind Q4_K: for each group of 32 values, the scale and minimum whose 4-bit grid fits them best.

Q4_0 and Q4_1 take their scale straight from the extremes of a block (``max / -8``, ``(max - min) / 15``). That is
rarely the best choice: one extreme value stretches the grid and every other value is rounded coarsely. Q4_K
(llama.cpp's ``make_qkx2_quants``) instead *searches*: it tries 21 slightly different grids, and for each one

1. rounds every value to its nearest code ``l`` in 0..15 on that grid;
2. keeps the codes and solves for the scale ``s`` and minimum ``m`` that make ``s * l + m`` closest to the values
   in weighted least squares (two unknowns: a 2×2 linear system, solved in closed form);
3. keeps the grid whose fit has the smallest weighted squared error.

The weight of a value, ``rms(group) + |value|``, makes large values count more: they matter more to a layer's
output than small ones.

Every sum below is added left to right in float32, the order of ggml's C loops, so that our codes and scales are
the same bits as llama.cpp's (``torch.sum`` adds in another order: the last bit of a sum can differ and, now and
then, flip a rounding decision).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CODE_MAX = 15  # 4-bit codes 0..15
GRID_STEPS = 20  # grids tried: 21 (step 0 to 20)
GRID_START = -1.0  # the first grid spans CODE_MAX - 1 steps over the values' range …
GRID_STEP = 0.1  # … and each next one 0.1 step more, up to CODE_MAX + 1


@dataclass(frozen=True)
class GroupFit:
    """The best grid found for ``n`` groups of 32 values: ``value ≈ scale * code - minimum``."""

    scale: torch.Tensor  # (n,) float32, >= 0
    minimum: torch.Tensor  # (n,) float32, >= 0: what is subtracted (the groups' offset, negated)
    codes: torch.Tensor  # (n, 32) float32 holding whole numbers 0..15


def ordered_sum(t: torch.Tensor) -> torch.Tensor:
    """``(n, k)`` -> ``(n,)``: each row summed left to right in float32, as a C ``for`` loop adds."""
    columns = t.T.contiguous()
    total = columns[0].clone()
    for column in columns[1:]:
        total += column
    return total


def nearest_code(v: torch.Tensor) -> torch.Tensor:
    """Round to the nearest whole number, halves to even (ggml's ``nearest_int``), as float32."""
    return torch.round(v)


def importance(x: torch.Tensor) -> torch.Tensor:
    """``(n, 32)`` values -> ``(n, 32)`` weights ``rms(group) + |x|``, Q4_K's weighting of the squared error."""
    mean_square = ordered_sum(x * x) / x.shape[1]
    # C's sqrtf is correctly rounded; torch's vectorised float32 sqrt can be one bit off. The square root in
    # float64, rounded once to float32, is exactly sqrtf's result.
    rms = torch.sqrt(mean_square.double()).float()
    return rms[:, None] + x.abs()


def _f32(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32)


def _weighted_error(scale: torch.Tensor, offset: torch.Tensor, codes: torch.Tensor, x: torch.Tensor,
                    w: torch.Tensor) -> torch.Tensor:
    """``(n,)`` sum of ``w * (scale * code + offset - x)²`` per group."""
    diff = scale[:, None] * codes + offset[:, None] - x
    return ordered_sum(w * (diff * diff))


def fit_groups(x: torch.Tensor, w: torch.Tensor) -> GroupFit:
    """Search the scale and minimum of each group: ``x``, ``w`` ``(n, 32)`` values and weights (float32)."""
    # The grid starts at the group's smallest value, or at 0 when every value is positive: the offset
    # ("minimum") is never above 0, so the codes only ever need to climb from it.
    low = x.amin(dim=1).clamp(max=0)
    high = x.amax(dim=1)
    span = high - low
    flat = span == 0  # all values equal to the offset (e.g. all zero): every code 0, scale 0
    span = torch.where(flat, torch.ones_like(span), span)
    sum_w, sum_x = ordered_sum(w), ordered_sum(w * x)

    # Start from the plain min-max grid (Q4_1's choice): 15 steps from the smallest to the largest value.
    inverse = _f32(CODE_MAX) / span
    scale, offset = 1 / inverse, low
    codes = nearest_code(inverse[:, None] * (x - low[:, None])).clamp(0, CODE_MAX)
    best = _weighted_error(scale, offset, codes, x, w)

    for step in range(GRID_STEPS + 1):
        # 1. a grid of 14, 14.1, …, 16 steps from the best offset so far up to the largest value, and each
        #    value's nearest code on it
        span = torch.where(flat, torch.ones_like(span), high - offset)
        inverse = (_f32(GRID_START) + _f32(GRID_STEP) * step + CODE_MAX) / span
        trial = nearest_code(inverse[:, None] * (x - offset[:, None])).clamp(0, CODE_MAX)
        # 2. with the codes fixed, minimise sum w (s*l + m - x)^2 over s and m: set both derivatives to zero,
        #    [sum_w  sum_l ] [m]   [sum_x ]
        #    [sum_l  sum_l2] [s] = [sum_xl],  solved by Cramer's rule with determinant D.
        wl = w * trial
        sum_l, sum_l2, sum_xl = ordered_sum(wl), ordered_sum(wl * trial), ordered_sum(wl * x)
        det = sum_w * sum_l2 - sum_l * sum_l
        trial_scale = (sum_w * sum_xl - sum_x * sum_l) / det
        trial_offset = (sum_l2 * sum_x - sum_l * sum_xl) / det
        # An offset above 0 is not allowed (the minimum is stored as a non-negative number to subtract):
        # pin it to 0 and refit the scale alone.
        positive = trial_offset > 0
        trial_offset = torch.where(positive, torch.zeros_like(trial_offset), trial_offset)
        trial_scale = torch.where(positive, sum_xl / sum_l2, trial_scale)
        # 3. keep this grid for the groups it fits better (D <= 0: all codes equal, no unique fit)
        error = _weighted_error(trial_scale, trial_offset, trial, x, w)
        better = (det > 0) & (error < best)
        best = torch.where(better, error, best)
        scale = torch.where(better, trial_scale, scale)
        offset = torch.where(better, trial_offset, offset)
        codes = torch.where(better[:, None], trial, codes)

    scale = torch.where(flat, torch.zeros_like(scale), scale)
    offset = torch.where(flat, low, offset)
    codes = torch.where(flat[:, None], torch.zeros_like(codes), codes)
    return GroupFit(scale=scale, minimum=-offset, codes=codes)
