"""Chapter 4 exercise checks: `z2h check 4` runs them on course/04-inference-quantization/exercises.py.

Oracles: torch's own quantizer (`torch.quantize_per_channel` / `quantize_per_tensor`), the `gguf`
package's reference Q4_0 encoder, transformers' language-model loss, and worked examples.
"""

from __future__ import annotations

import gguf
import torch
from gguf import quants as gq

from zero2hero.checks.feedback import expect_close, expect_equal, expect_raises, fail
from zero2hero.errors import InputError

CHAPTER = 4
REFERENCE = {
    "absmax_quantize": "zero2hero.quantization.int8",
    "zeropoint_quantize": "zero2hero.quantization.int8",
    "pack_nibbles": "zero2hero.quantization.pack",
    "quantize_q4_0": "zero2hero.quantization.ggml",
    "perplexity_from_logits": "zero2hero.quantization.evaluate",
    "perplexity": "zero2hero.quantization.evaluate",
}


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_absmax_worked_example(ex) -> None:
    q, scale = ex.absmax_quantize(torch.tensor([[1.0, -2.0, 0.5, 0.0]]), 8, "tensor")
    expect_close(scale, torch.tensor([[2 / 127]]), "absmax scale of [1, -2, 0.5, 0] (8 bits)", hints=[
        (lambda g: abs(float(g) - 2 / 128) < 1e-6, "the largest code is 2**(bits-1) - 1 = 127, not 128"),
        (lambda g: g.shape != (1, 1), "return the scale with shape (n_scales, 1)")])
    expect_equal(q, torch.tensor([[64, -127, 32, 0]], dtype=torch.int8), "absmax codes of [1, -2, 0.5, 0]", hints=[
        (lambda g: g.dtype != torch.int8, "return the codes as int8"),
        (lambda g: g.tolist() == [[63, -127, 31, 0]], "round to nearest (torch.round), do not truncate")])


def test_absmax_per_channel_matches_torch(ex) -> None:
    w = _w(12, 64)
    q, scale = ex.absmax_quantize(w, 8, "channel")
    expect_close(scale.squeeze(1), w.abs().amax(1) / 127, "per-channel scales (one per row)", hints=[
        (lambda g: g.numel() == 1, "granularity 'channel': one scale per row, from that row's max |x|"),
        (lambda g: torch.allclose(g, w.abs().amax(0)[:12] / 127), "rows are channels: take the max over dim 1")])
    ref = torch.quantize_per_channel(w, scale.squeeze(1).double(), torch.zeros(12, dtype=torch.long), 0, torch.qint8)
    expect_equal(q, ref.int_repr(), "per-channel codes against torch.quantize_per_channel")


def test_absmax_groups_and_4_bits(ex) -> None:
    w = _w(4, 64, seed=1)
    q, scale = ex.absmax_quantize(w, 4, "group", 16)
    expect_equal(tuple(scale.shape), (16, 1), "scale shape for 4 x 64 values in groups of 16",
                 hints=[(None, "one scale per row of x.reshape(-1, group_size)")])
    expect_equal(tuple(q.shape), tuple(w.shape), "codes keep the shape of x")
    expect_equal(int(q.abs().max()), 7, "largest |code| at 4 bits", hints=[(None, "2**(4-1) - 1 = 7")])
    restored = (q.reshape(-1, 16).float() * scale).reshape(w.shape)
    error = (restored - w).abs().max()
    if error > scale.max() / 2 + 1e-6:
        fail("absmax 4-bit groups", f"a restored value is off by {float(error):.4f}, more than half a step "
             f"({float(scale.max() / 2):.4f})", hints=[(None, "q = round(x / scale) with each group's own scale")])
    expect_raises(InputError, lambda: ex.absmax_quantize(w, 8, "group", 48), "group size 48 for rows of 64",
                  "a group size that does not divide the last dimension raises zero2hero.errors.InputError")
    expect_raises(InputError, lambda: ex.absmax_quantize(torch.tensor([1.0, float("nan")]), 8, "tensor"),
                  "a NaN value", "check torch.isfinite(x).all() and raise zero2hero.errors.InputError")


def test_zeropoint_matches_torch(ex) -> None:
    x = torch.rand(500, generator=torch.Generator().manual_seed(2)) * 4 - 1
    q, scale, zero = ex.zeropoint_quantize(x, 8, "tensor")
    expect_close(scale.reshape(1), torch.tensor([float(x.max() - x.min()) / 255]), "zero-point scale (8 bits)",
                 hints=[(None, "scale = (max - min) / (2**bits - 1)")])
    expect_equal(q.dtype, torch.uint8, "dtype of the codes")
    ref = torch.quantize_per_tensor(x, float(scale), int(zero), torch.quint8)
    expect_equal(q, ref.int_repr(), "zero-point codes against torch.quantize_per_tensor", hints=[
        (lambda g: int(zero) != round(float(-x.min() / scale)), "zero = round(-min / scale)"),
        (None, "q = round(x / scale) + zero, clamped to [0, 2**bits - 1]")])


def test_zeropoint_keeps_zero_exact_for_positive_data(ex) -> None:
    x = torch.tensor([[0.5, 1.0, 2.0, 3.0]])  # min > 0: the range is widened to include 0
    q, scale, zero = ex.zeropoint_quantize(x, 8, "tensor")
    widen = "widen the range to include 0 first: min = min(min, 0), max = max(max, 0)"
    expect_equal(int(zero), 0, "zero point of all-positive data", hints=[(None, widen)])
    expect_close(scale.reshape(1), torch.tensor([3 / 255]), "scale of [0.5, 1, 2, 3]", hints=[(None, widen)])
    expect_equal(int(q.max()), 255, "largest code")


def test_pack_nibbles_ggml_order(ex) -> None:
    codes = torch.tensor([[1, 2, 3, 4, 15, 14, 13, 12]])
    expected = [[1 | 15 << 4, 2 | 14 << 4, 3 | 13 << 4, 4 | 12 << 4]]
    expect_equal(ex.pack_nibbles(codes).tolist(), expected, "pack_nibbles([[1, 2, 3, 4, 15, 14, 13, 12]])", hints=[
        (lambda g: g == [[15 | 1 << 4, 14 | 2 << 4, 13 | 3 << 4, 12 | 4 << 4]],
         "nibble order: value j goes in the low nibble, value j + half in the high one (<< 4)"),
        (lambda g: g == [[1 | 2 << 4, 3 | 4 << 4, 15 | 14 << 4, 13 | 12 << 4]],
         "GGML pairs value j with value j + half (the two halves of the block), not neighbours j and j + 1")])
    expect_raises(InputError, lambda: ex.pack_nibbles(torch.tensor([[16, 0]])), "pack_nibbles of a code 16",
                  "codes outside 0..15 raise zero2hero.errors.InputError")


def test_q4_0_bytes_equal_gguf(ex) -> None:
    w = _w(8, 128, seed=3) * 0.02
    w[0, :32] = 0
    ours = ex.quantize_q4_0(w)
    expected = torch.from_numpy(gq.quantize(w.numpy(), gguf.GGMLQuantizationType.Q4_0))
    expect_equal(tuple(ours.shape), (8, 72), "Q4_0 output shape for (8, 128)",
                 hints=[(None, "18 bytes per block of 32 values: 128 values -> 4 blocks -> 72 bytes per row")])
    if not torch.equal(ours.to(torch.uint8), expected):
        blocks, ref = ours.to(torch.uint8).reshape(-1, 18), expected.reshape(-1, 18)
        block, byte = (blocks != ref).nonzero()[0].tolist()
        j = byte - 2
        part = "the fp16 scale d (bytes 0-1)" if byte < 2 else f"nibble byte {j}: values {j} and {j + 16}"
        swapped_d = torch.equal(blocks[:, [1, 0]], ref[:, :2])
        swapped_nibbles = torch.equal((blocks[:, 2:] >> 4) | (blocks[:, 2:] << 4), ref[:, 2:])
        fail("quantize_q4_0 against gguf's Q4_0", f"block {block}, byte {byte} ({part}) differs: expected "
             f"{int(ref[block, byte])}, got {int(blocks[block, byte])}", hints=[
                 (lambda _: swapped_d, "byte order of d: the fp16 scale is stored little-endian (low byte first)"),
                 (lambda _: swapped_nibbles, "nibble order: value j in the low nibble, value j + 16 in the high one"),
                 (lambda _: byte < 2, "d = v / -8 where v is the value of largest magnitude *with its sign*"),
                 (lambda _: byte >= 2, "codes are trunc(x * (1/d) + 8.5) clamped to 0..15 (1/d computed once per "
                                       "block, taken as 0 for an all-zero block)")])
    expect_equal(ours.dtype, torch.uint8, "dtype of the Q4_0 bytes")


def test_perplexity_matches_transformers(ex, smollm2) -> None:
    model, tokenizer = smollm2
    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model(ids, labels=ids)
    expected = float(torch.exp(out.loss))
    got = ex.perplexity_from_logits(out.logits[0], ids[0])
    unshifted = float(torch.exp(torch.nn.functional.cross_entropy(out.logits[0], ids[0])))
    expect_close(torch.tensor(float(got)), torch.tensor(expected), "perplexity_from_logits on SmolLM2's logits",
                 rtol=1e-5, hints=[(lambda g: abs(float(g) - unshifted) < 1e-3 * unshifted,
                                    "off by one: the logits at position t predict token t + 1 — score logits[:-1] "
                                    "against ids[1:]")])


def test_perplexity_worked_example(ex) -> None:
    # Uniform predictions over 4 tokens: perplexity is exactly 4, whatever the targets.
    got = ex.perplexity_from_logits(torch.zeros(5, 4), torch.tensor([0, 1, 2, 3, 0]))
    expect_close(torch.tensor(float(got)), torch.tensor(4.0), "perplexity of uniform logits over 4 tokens",
                 hints=[(lambda g: abs(float(g) - 1.0) < 1e-6, "exp of the *negative* mean log-probability")])
    logits = torch.tensor([[0.0, 10.0], [10.0, 0.0], [0.0, 0.0]])
    got = ex.perplexity_from_logits(logits, torch.tensor([0, 1, 0]))
    expect_close(torch.tensor(float(got)), torch.tensor(1.0), "perplexity of confident, right predictions",
                 atol=1e-3)


def _windowed_perplexity_key(model, ids: torch.Tensor, window: int) -> tuple[float, float]:
    """(the right perplexity, the mean of the windows' perplexities) from transformers' own loss per window."""
    nll, count, window_ppls = 0.0, 0, []
    with torch.inference_mode():
        for start in range(0, len(ids) - 1, window):
            chunk = ids[start:start + window][None]
            loss = float(model(chunk, labels=chunk).loss)
            nll += loss * (chunk.shape[1] - 1)
            count += chunk.shape[1] - 1
            window_ppls.append(float(torch.exp(torch.tensor(loss))))
    return float(torch.exp(torch.tensor(nll / count))), sum(window_ppls) / len(window_ppls)


def test_perplexity_loop_matches_transformers_loss(ex, smollm2) -> None:
    from zero2hero.corpus import heldout_text

    model, tokenizer = smollm2
    text = heldout_text(700)
    ids = tokenizer(text, return_tensors="pt").input_ids[0]  # about 150 tokens
    expected, mean_of_windows = _windowed_perplexity_key(model, ids[:100], 32)
    got = float(ex.perplexity(model, tokenizer, text, 100, 32))

    def near(value: float) -> bool:
        return abs(got - value) < 1e-4 * value

    expect_close(torch.tensor(got), torch.tensor(expected), "perplexity(SmolLM2, held-out text, max_tokens=100, "
                 "window=32): windows 32 + 32 + 32 + 4", rtol=1e-4, hints=[
                     (lambda _: near(mean_of_windows), "average the negative log-likelihood over every scored token, "
                                                       "not the windows' perplexities"),
                     (lambda _: near(_windowed_perplexity_key(model, ids[:100], 100)[0]),
                      "score each window of `window` ids on its own (a separate forward pass per window)"),
                     (lambda _: near(_windowed_perplexity_key(model, ids, 32)[0]),
                      "keep only the first max_tokens ids"),
                     (None, "a window of n ids scores n - 1 of them: weight each window's mean loss by n - 1")])
