"""Chapter 6 exercise checks: `z2h check 6` runs them on course/06-peft-lora/exercises.py.

Oracles: PEFT's LoRA layer (``peft.get_peft_model`` on a model with one ``nn.Linear``): its output, its weight
after ``merge()`` and after ``unmerge()``; PEFT's count of trainable parameters on a small BERT built here; memory
figures worked out by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from torch import nn

from zero2hero.checks.feedback import Hint, expect, expect_close, expect_equal, fail, prerequisite

CHAPTER = 6
REFERENCE = {
    "low_rank_update": "zero2hero.lora.functional",
    "lora_forward": "zero2hero.lora.functional",
    "merged_weight": "zero2hero.lora.functional",
    "unmerged_weight": "zero2hero.lora.functional",
    "lora_parameter_count": "zero2hero.lora.functional",
    "adamw_training_state_bytes": "zero2hero.lora.functional",
}
ATOL = 1e-6


# ---- a PEFT LoRA layer, the oracle of the first four exercises ----------------------------------------------------

@dataclass(frozen=True)
class Shape:
    n_in: int
    n_out: int
    rank: int
    alpha: float
    bias: bool


# in, out and r all differ in the first, so a product in the wrong order cannot fit and torch's error names the
# matrices; the second is square (like an attention projection) and has no bias
SHAPES = (Shape(n_in=7, n_out=5, rank=3, alpha=12.0, bias=True), Shape(n_in=6, n_out=6, rank=2, alpha=5.0, bias=False))


class _OneLinear(nn.Module):
    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.proj = nn.Linear(shape.n_in, shape.n_out, bias=shape.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


@dataclass
class Adapted:
    """A PEFT LoRA layer and copies of the tensors it computes with."""

    layer: nn.Module
    weight: torch.Tensor  # W (out, in)
    bias: torch.Tensor | None  # b (out,)
    lora_A: torch.Tensor  # (r, in)
    lora_B: torch.Tensor  # (out, r)
    scaling: float

    @property
    def what(self) -> str:
        (n_out, n_in), r = self.weight.shape, self.lora_A.shape[0]
        return f"a LoRA layer in={n_in}, out={n_out}, r={r}, scaling={self.scaling:g}, bias={self.bias is not None}"


def _peft_layer(shape: Shape, seed: int = 0) -> Adapted:
    """PEFT's LoRA layer over a float64 ``nn.Linear``, in eval mode, dropout 0, B set to random numbers (PEFT starts
    it at zero, which would make every update zero)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        config = LoraConfig(r=shape.rank, lora_alpha=shape.alpha, lora_dropout=0.0, target_modules=["proj"])
        layer = get_peft_model(_OneLinear(shape).double(), config).base_model.model.proj
        with torch.no_grad():
            layer.lora_B["default"].weight.copy_(torch.randn(shape.n_out, shape.rank, dtype=torch.float64))
    layer.eval()
    base = layer.base_layer
    bias = None if base.bias is None else base.bias.detach().clone()
    return Adapted(layer, base.weight.detach().clone(), bias, layer.lora_A["default"].weight.detach().clone(),
                   layer.lora_B["default"].weight.detach().clone(), float(layer.scaling["default"]))


def _inputs(n_in: int, seed: int = 1) -> list[torch.Tensor]:
    """Inputs of shapes (4, in), (2, 5, in) and (in,): a batch, a batch of sequences, one vector."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*lead, n_in, generator=gen, dtype=torch.float64) for lead in ((4,), (2, 5), ())]


def _close(got: Any, expected: torch.Tensor) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and \
        torch.allclose(got.double(), expected, atol=ATOL, rtol=ATOL)


def _like(mistake: torch.Tensor) -> Callable[[Any], bool]:
    """A hint's predicate: ``got`` equals what a mistake computes."""
    return lambda got: _close(got, mistake)


# ---- errors raised by the learner's code --------------------------------------------------------------------------

def _matmul_shapes(message: str) -> tuple[int, int, int, int] | None:
    """The two shapes in torch's "mat1 and mat2 shapes cannot be multiplied (4x7 and 3x7)"."""
    found = re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", message)
    return tuple(int(n) for n in found.groups()) if found else None


def _shape_hints(adapted: Adapted) -> list[Hint]:
    """Hints for a product that does not fit, told apart by the shapes torch names in its message."""
    (n_out, n_in), r = adapted.weight.shape, adapted.lora_A.shape[0]

    def product(test: Callable[[tuple[int, int], tuple[int, int]], bool]) -> Callable[[str], bool]:
        """A predicate on torch's message: ``test(first matrix's shape, second's)`` holds."""
        return lambda message: (s := _matmul_shapes(message)) is not None and test(s[:2], s[2:])

    a_shape, b_shape = (r, n_in), (n_out, r)
    return [
        (product(lambda first, second: second == a_shape and first[1] == n_in),
         f"A is (r, in) = {a_shape}: multiply x by its transpose, x @ A.T, which is (..., r)"),
        (product(lambda first, second: first[1] == n_in and first != a_shape and second in (b_shape, b_shape[::-1])),
         "A comes first: x @ A.T squeezes in -> r, then @ B.T expands r -> out (are A and B swapped?)"),
        (product(lambda first, second: first[1] == r and second == b_shape),
         f"B is (out, r) = {b_shape}: multiply by its transpose, (x @ A.T) @ B.T"),
        (product(lambda first, second: first == a_shape and second == b_shape),
         "the update is B @ A: (out, r) @ (r, in) = (out, in), the shape of W; A @ B does not fit"),
        (product(lambda first, second: second == (n_out, n_in)),
         "x @ (B @ A) multiplies by ΔW itself, but a linear layer multiplies by its transpose: (x @ A.T) @ B.T"),
        (lambda message: "must match the size of tensor" in message,
         "the update must have W's shape (out, in): scaling · B @ A, not its transpose A.T @ B.T"),
        (lambda message: "must be a matrix" in message,
         "torch.mm takes 2-D matrices only: use @ (torch.matmul), which multiplies the last dimension of x (..., in) "
         "and works for any number of leading dimensions"),
        (lambda message: "NoneType" in message,
         "bias may be None (a layer without bias): F.linear(x, weight, bias) handles both, or add b only if it is "
         "not None"),
        (None, f"shapes: x (..., in), W (out, in) = ({n_out}, {n_in}), A (r, in) = ({r}, {n_in}), "
               f"B (out, r) = ({n_out}, {r})"),
    ]


def _call(what: str, adapted: Adapted, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``; a shape error (or ``None`` used as a tensor) is explained instead of raised raw."""
    try:
        return function(*args)
    except NotImplementedError:
        raise
    except (RuntimeError, TypeError) as err:
        fail(what, f"{type(err).__name__}: {err}", str(err), _shape_hints(adapted))


def _raised_by(err: BaseException, function: str) -> bool:
    """True when ``err`` was raised inside ``function`` itself (not in a function it called)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


# ---- the low-rank update and the forward pass ---------------------------------------------------------------------

def _check_update(ex, adapted: Adapted, x: torch.Tensor) -> None:
    a, b, s = adapted.lora_A, adapted.lora_B, adapted.scaling
    with torch.no_grad():
        expected = adapted.layer(x) - adapted.layer.base_layer(x)
    what = f"low_rank_update(x {tuple(x.shape)}, A, B, scaling) on {adapted.what}"
    got = _call(what, adapted, ex.low_rank_update, x, a, b, s)
    expect_close(got, expected, f"{what}, against the PEFT layer's output minus its base layer's", atol=ATOL,
                 rtol=ATOL, hints=[(_like(expected / s), f"got / expected = 1/{s:g}: multiply by scaling"),
                                   (_like(expected / s ** 2), "multiply by scaling, do not divide by it")])


def _check_updates(ex) -> None:
    for shape in SHAPES:
        adapted = _peft_layer(shape)
        for x in _inputs(shape.n_in):
            _check_update(ex, adapted, x)


def test_low_rank_update_matches_a_peft_lora_layer(ex) -> None:
    _check_updates(ex)


def _check_forward(ex, adapted: Adapted, x: torch.Tensor) -> None:
    w, bias, a, b, s = adapted.weight, adapted.bias, adapted.lora_A, adapted.lora_B, adapted.scaling
    what = f"lora_forward(x {tuple(x.shape)}, W, b, A, B, scaling) on {adapted.what}"
    with torch.no_grad():
        expected = adapted.layer(x)
    base, update = F.linear(x, w, bias), s * (x @ a.T @ b.T)
    blocked = ("test_low_rank_update_matches_a_peft_lora_layer", "lora_forward", lambda: _check_updates(ex))
    try:
        got = ex.lora_forward(x, w, bias, a, b, s)
    except NotImplementedError as err:
        if _raised_by(err, "lora_forward"):
            raise
        prerequisite(*blocked)
        raise
    except (RuntimeError, TypeError) as err:
        prerequisite(*blocked)
        fail(what, f"{type(err).__name__}: {err}", str(err), _shape_hints(adapted))
    if not _close(got, expected):
        prerequisite(*blocked)
    hints = [
        (_like(base + update / s), f"the update came out {s:g} times too small: multiply it by scaling"),
        (_like(update), "add the frozen layer's output x Wᵀ + b: LoRA changes the layer, it does not replace it"),
        (_like(base), "add the low-rank update: scaling · (x @ A.T) @ B.T"),
    ]
    if bias is not None:
        hints.insert(1, (_like(expected - bias), "the bias b was dropped: x Wᵀ + b (F.linear(x, weight, bias))"))
    expect_close(got, expected, f"{what}, against the PEFT layer's output", atol=ATOL, rtol=ATOL, hints=hints)


def test_lora_forward_matches_a_peft_lora_layer(ex) -> None:
    for shape in SHAPES:
        adapted = _peft_layer(shape)
        for x in _inputs(shape.n_in):
            _check_forward(ex, adapted, x)


# ---- merging and unmerging ----------------------------------------------------------------------------------------

def _peft_merged(adapted: Adapted) -> torch.Tensor:
    """The PEFT layer's weight after ``merge()`` (the layer is left unmerged)."""
    adapted.layer.merge()
    merged = adapted.layer.base_layer.weight.detach().clone()
    adapted.layer.unmerge()
    return merged


def _weight_hints(adapted: Adapted, expected: torch.Tensor, sign: int) -> list[Hint]:
    """Hints for a weight that should be ``expected``; ``sign`` is +1 when merging, −1 when unmerging."""
    a, b, s = adapted.lora_A, adapted.lora_B, adapted.scaling
    start = expected - sign * s * (b @ a)  # the weight given to the function
    return [
        (_like(start + sign * b @ a), "multiply B @ A by scaling"),
        (_like(start - sign * s * (b @ a)), "merging adds scaling · B @ A to W; unmerging subtracts it"),
        (_like(start), "the weight came back unchanged: add (merge) or subtract (unmerge) scaling · B @ A"),
    ]


def test_merged_weight_equals_peft_merge(ex) -> None:
    for shape in SHAPES:
        adapted = _peft_layer(shape)
        expected = _peft_merged(adapted)
        weight = adapted.weight.clone()
        what = f"merged_weight(W, A, B, scaling) on {adapted.what}"
        got = _call(what, adapted, ex.merged_weight, weight, adapted.lora_A, adapted.lora_B, adapted.scaling)
        expect_close(got, expected, f"{what}, against the PEFT layer's weight after merge()", atol=ATOL, rtol=ATOL,
                     hints=_weight_hints(adapted, expected, sign=1))
        expect_equal(weight, adapted.weight, f"{what}: the W passed in, afterwards", hints=[
            (None, "return a new tensor (weight + ...): an in-place add_ changes the caller's base weight")])


def test_unmerged_weight_undoes_peft_merge(ex) -> None:
    for shape in SHAPES:
        adapted = _peft_layer(shape)
        merged = _peft_merged(adapted)
        what = f"unmerged_weight(merged, A, B, scaling) on {adapted.what}"
        got = _call(what, adapted, ex.unmerged_weight, merged.clone(), adapted.lora_A, adapted.lora_B, adapted.scaling)
        expect_close(got, adapted.weight, f"{what}, against the weight before merging", atol=ATOL, rtol=ATOL,
                     hints=_weight_hints(adapted, adapted.weight, sign=-1))
        adapted.layer.merge()
        adapted.layer.unmerge()
        expect_close(got, adapted.layer.base_layer.weight.detach(),
                     f"{what}, against the PEFT layer's weight after merge() and unmerge()", atol=ATOL, rtol=ATOL)


# ---- counting trainable parameters --------------------------------------------------------------------------------

def _tiny_bert() -> nn.Module:
    """A 2-layer, 32-wide BERT without a head (PEFT trains no head in full then); intermediate size 48."""
    from transformers import BertConfig, BertModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return BertModel(BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=48, max_position_embeddings=16))


def _count_hints(shapes: list[tuple[int, int]], rank: int) -> list[Hint]:
    def equals(value: int) -> Callable[[Any], bool]:
        return lambda got: got == value

    first_out, first_in = shapes[0]
    return [
        (equals(sum(o * i for o, i in shapes)), "that is the size of the full update ΔW (out × in) per layer: LoRA "
                                                "trains A (r × in) and B (out × r) instead"),
        (equals(rank * sum(o * i for o, i in shapes)), "r × out × in is not it: A has r · in numbers and B out · r"),
        (equals(len(shapes) * rank * rank), "A is r × in and B is out × r, not r × r"),
        (equals(sum(rank * i for o, i in shapes)), "count B too: out · r numbers per layer"),
        (equals(sum(rank * o for o, i in shapes)), "count A too: r · in numbers per layer"),
        (equals(rank * (first_in + first_out)), f"add up over every layer ({len(shapes)} here), not just the first"),
        (lambda got: got in (sum(2 * rank * i for o, i in shapes), sum(2 * rank * o for o, i in shapes)),
         "out and in differ for some layers: r · in for A plus out · r for B"),
    ]


def test_lora_parameter_count_equals_peft_on_a_small_bert(ex) -> None:
    cases = [(("query", "value"), 1), (("query", "value"), 4), (("query", "value"), 16),
             (("query", "value", "intermediate.dense"), 4)]  # intermediate.dense is 48 × 32
    for targets, rank in cases:
        model = get_peft_model(_tiny_bert(), LoraConfig(r=rank, target_modules=list(targets)))
        expected = model.get_nb_trainable_parameters()[0]
        shapes = [tuple(m.base_layer.weight.shape) for m in model.modules() if isinstance(m, LoraLayer)]
        got = ex.lora_parameter_count(shapes, rank)
        expect_equal(got, expected, f"lora_parameter_count({len(shapes)} layer shapes such as {shapes[-1]}, "
                     f"rank={rank}) against PEFT's trainable count on a small BERT (targets {', '.join(targets)})",
                     hints=_count_hints(shapes, rank))


# ---- the memory of training with AdamW ----------------------------------------------------------------------------

MEMORY_CASES = [  # (parameters, trainable, weight_bytes, bytes), worked out by hand
    (1_000, 10, 4.0, 4 * 1_000 + 4 * 10 + 8 * 10),  # LoRA-like: every weight, but gradients and moments only for 10
    (1_000, 1_000, 4.0, 4 * 1_000 + 4 * 1_000 + 8 * 1_000),  # full fine-tuning: 16 bytes a parameter
    (22_713_986, 22_713_986, 4.0, 4 * 22_713_986 + 4 * 22_713_986 + 8 * 22_713_986),  # MiniLM-L6, full
    (22_713_986 + 73_728, 74_498, 4.0, 4 * 22_787_714 + 4 * 74_498 + 8 * 74_498),  # MiniLM-L6, LoRA r = 8
    (22_787_714, 74_498, 2.0, 2 * 22_787_714 + 4 * 74_498 + 8 * 74_498),  # bf16 weights, fp32 gradients/moments
    (1_000, 10, 0.5625, 0.5625 * 1_000 + 4 * 10 + 8 * 10),  # QLoRA-like: 4-bit weights
]


def _memory_hints(parameters: int, trainable: int, weight_bytes: float, expected: float) -> list[Hint]:
    """Hints for the usual mistakes, each recognised by the number it gives; a mistake that happens to give the
    right number in this case is left out."""
    def near(value: float) -> Callable[[Any], bool]:
        return lambda got: abs(float(got) - value) <= 1e-6 * max(1.0, abs(value))

    weights = parameters * weight_bytes
    mistakes = [
        (weights + 12 * parameters, "gradients and AdamW's moments exist only for trainable numbers: 12 bytes × "
                                    "trainable, not × parameters (a frozen weight has neither)"),
        (weights + 8 * trainable, "12 bytes per trainable number: 4 for its gradient and 8 for AdamW's two moments "
                                  "m and v (you counted 8: one moment, or no gradient)"),
        (weights + 4 * trainable, "AdamW keeps two fp32 moments (m and v) per trainable number, besides its "
                                  "gradient: 4 + 8 = 12 bytes"),
        (12 * trainable, "the frozen weights are in memory too: add parameters × weight_bytes"),
        (weights, "add the gradients (4 bytes) and AdamW's two moments (8 bytes) of each trainable number"),
        (4 * parameters + 12 * trainable, "each weight takes weight_bytes (2 in bf16, 0.5625 in 4-bit NF4), not "
                                          "always 4"),
        (weights + (weight_bytes + 8) * trainable, "gradients are fp32 (4 bytes) whatever the weights' format"),
        (weights + 3 * weight_bytes * trainable, "gradients and AdamW's moments are fp32 (4 bytes each) whatever "
                                                 "the weights' format"),
    ]
    return [(near(value), text) for value, text in mistakes if not near(value)(expected)]


def test_adamw_training_state_bytes_full_vs_lora(ex) -> None:
    for parameters, trainable, weight_bytes, expected in MEMORY_CASES:
        got = ex.adamw_training_state_bytes(parameters, trainable, weight_bytes)
        what = f"adamw_training_state_bytes({parameters:_}, {trainable:_}, weight_bytes={weight_bytes:g})"
        expect(isinstance(got, int | float) and abs(got - expected) <= 1e-6 * expected, what,
               f"expected {expected:,} bytes, got {got!r}", got,
               hints=_memory_hints(parameters, trainable, weight_bytes, expected))
