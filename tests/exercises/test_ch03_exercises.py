"""Chapter 3 exercise checks: `z2h check 3` runs them on course/03-transformers/exercises.py.

Oracles: torch's own scaled_dot_product_attention, layer norm and GELU, transformers' GPT2LMHeadModel (a tiny
one built here, its weights loaded into zero2hero's GPT-2 modules), transformers' repetition-penalty processor,
a cross-entropy over held-out text of the course corpus, and hand-worked examples.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from zero2hero.checks.feedback import expect, expect_close, expect_equal, fail, one_thread, prerequisite

CHAPTER = 3
REFERENCE = {
    "causal_mask": "zero2hero.transformer.attention",
    "scaled_dot_product_attention": "zero2hero.transformer.attention",
    "attend_with_cache": "zero2hero.transformer.attention",
    "multi_head_attention": "zero2hero.transformer.attention",
    "gpt2_block": "zero2hero.transformer.gpt2",
    "gpt2_forward": "zero2hero.transformer.gpt2",
    "train_causal_lm": "zero2hero.transformer.train_lm",
    "sample": "zero2hero.transformer.train_lm",
    "top_p_filter": "zero2hero.transformer.generate",
    "apply_repetition_penalty": "zero2hero.transformer.generate",
}

# The training check: a 1-layer character-level GPT-2 (64 dimensions, 4 heads, 32 characters of context) trained
# for TRAIN_STEPS steps of 32 windows at lr 1e-2 must score a held-out cross-entropy below HELDOUT_LOSS_MAX nats
# per character. A counted bigram model scores 2.45 on the same text; the reference loop reaches about 2.08.
TRAIN_CHARS, HELDOUT_CHARS = 1_000_000, 20_000
TRAIN_STEPS, BATCH, LR, SEED = 300, 32, 1e-2, 0
HELDOUT_LOSS_MAX = 2.3


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-4)


# ---- masks and attention on tensors -----------------------------------------------------------------------------

def _check_causal_mask(ex) -> None:
    expect_equal(ex.causal_mask(3, 3).tolist(), [[True, False, False], [True, True, False], [True, True, True]],
                 "causal_mask(3, 3)", hints=[
                     (lambda g: g == [[True, True, True], [False, True, True], [False, False, True]],
                      "mask orientation: row i is query i; it may see keys j <= i (lower triangle, torch.tril)"),
                     (lambda g: g == [[False, True, True], [False, False, True], [False, False, False]],
                      "True means 'may attend': a query sees itself and the keys before it")])
    expect_equal(ex.causal_mask(2, 4).tolist(), [[True, True, True, False], [True, True, True, True]],
                 "causal_mask(2, 4), two new queries after two cached positions", hints=[
                     (lambda g: g == [[True, False, False, False], [True, True, False, False]],
                      "the mask is not always square: the queries are the *last* n_query of n_key positions, so "
                      "query i sits at position n_key - n_query + i")])


def test_causal_mask_square_and_cached(ex) -> None:
    _check_causal_mask(ex)


def _qkv(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.randn(*shape, generator=torch.Generator().manual_seed(i)) * 2 for i in range(3))


def _attention_variants(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> list:
    """Hints: the outputs the usual mistakes produce, each with its explanation."""
    d = q.shape[-1]

    def like(**wrong: object):  # a predicate: does the answer equal this wrong variant?
        variant = F.scaled_dot_product_attention(q, k, v, **wrong)
        return lambda g: _close(g, variant)

    hints = [(like(attn_mask=mask, scale=1.0),
              "missing √d: divide the scores q·kᵀ by √d (d = the last dimension of q) before the softmax"),
             (like(attn_mask=mask, scale=1 / d), "divide by √d, not by d")]
    if mask is not None:
        hints += [(like(), "the mask is ignored: set the scores where mask is False to -inf before the softmax"),
                  (like(attn_mask=mask.mT), "mask orientation: rows are queries, columns keys (a query sees the keys "
                                            "at or before its own position)"),
                  (like(attn_mask=~mask), "True in the mask means 'may attend': fill -inf where the mask is False")]
    return hints


def test_attention_matches_torch(ex) -> None:
    q, k, v = _qkv((2, 4, 6, 8))
    mask = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    out, weights = ex.scaled_dot_product_attention(q, k, v, mask)
    expect_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True),
                 "scaled_dot_product_attention(q, k, v, causal mask), output", hints=_attention_variants(q, k, v, mask))
    expect_close(weights.sum(-1), torch.ones(2, 4, 6), "attention weights summed over the keys", hints=[
        (None, "take the softmax over the last dimension (the keys): each query's weights sum to 1")])
    out, _ = ex.scaled_dot_product_attention(q, k, v)
    expect_close(out, F.scaled_dot_product_attention(q, k, v), "scaled_dot_product_attention without a mask",
                 hints=_attention_variants(q, k, v, None))


def test_cached_steps_equal_one_full_pass(ex) -> None:
    q, k, v = _qkv((1, 2, 6, 4))
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (1, 2, 6, 4)
    out, weights, cache = ex.attend_with_cache(q[:, :, :4], k[:, :, :4], v[:, :, :4])  # prefill: 4 positions
    expect_close(out, full[:, :, :4], "prefill (4 positions, no cache), output", hints=[
        (lambda g: _close(g, F.scaled_dot_product_attention(q[:, :, :4], k[:, :, :4], v[:, :, :4])),
         "the prefill is causal too: use causal_mask(n_new, n_past + n_new)")])
    expect_equal(tuple(weights.shape), (1, 2, 4, 4), "prefill attention weights' shape")
    for t in (4, 5):  # then one token at a time, feeding only the new position and the cache
        out, weights, cache = ex.attend_with_cache(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache)
        expect_close(out, full[:, :, t:t + 1], f"decode step at position {t}, output", hints=[
            (lambda g, t=t: _close(g, v[:, :, t:t + 1]), "the new query must see the cached keys and values too: "
                                                         "concatenate them before the new ones (dim 2)")])
        expect_equal(tuple(weights.shape), (1, 2, 1, t + 1), f"attention weights' shape at position {t}")
        expect_equal(tuple(cache[0].shape), (1, 2, t + 1, 4), f"cached keys' shape after position {t}",
                     hints=[(None, "return the cache extended by the new positions (old first, then new)")])
    expect_close(cache[0], k, "the cached keys after 6 positions")
    expect_close(cache[1], v, "the cached values after 6 positions")


# ---- attention, block and model with real weights ---------------------------------------------------------------

def _randomised(module: torch.nn.Module, seed: int, std: float = 0.3) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std + (1.0 if p.ndim == 1 and "ln" in _name(module, p)
                                                                   else 0.0))
    return module.eval()


def _name(module: torch.nn.Module, param: torch.Tensor) -> str:
    return next(n for n, p in module.named_parameters() if p is param)


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:  # (b, t, d) -> (b, head, t, d_head)
    b, t, d = x.shape
    return x.view(b, t, n_head, d // n_head).transpose(1, 2)


def _oracle_attention(x: torch.Tensor, attn, scale: float | None = None, causal: bool = True,
                      wrong_heads: bool = False) -> torch.Tensor:
    b, t, d = x.shape
    q, k, v = attn.qkv(x).split(d, dim=-1)
    if wrong_heads:  # a reshape straight to (b, head, t, d_head) mixes positions and heads
        q, k, v = (z.reshape(b, attn.n_head, t, d // attn.n_head) for z in (q, k, v))
    else:
        q, k, v = (_heads(z, attn.n_head) for z in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    return attn.proj(out.transpose(1, 2).reshape(b, t, d))


def _attention_module():
    from zero2hero.transformer.attention import MultiHeadAttention

    torch.manual_seed(0)
    return _randomised(MultiHeadAttention(32, 4), seed=1)


def _check_multi_head_attention(ex) -> None:
    attn = _attention_module()
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, expected = ex.multi_head_attention(x, attn), _oracle_attention(x, attn)
        d_head = 32 // attn.n_head
        hints = [
            (lambda g: _close(g, _oracle_attention(x, attn, scale=1.0)), "missing √d: divide q·kᵀ by √d_head"),
            (lambda g: _close(g, _oracle_attention(x, attn, scale=1 / math.sqrt(32))),
             f"scale by √d_head (√{d_head}), the size of one head, not by √d_model"),
            (lambda g: _close(g, _oracle_attention(x, attn, causal=False)),
             "no causal mask: position i must not see positions after i"),
            (lambda g: _close(g, _oracle_attention(x, attn, wrong_heads=True)),
             "split heads with view(b, t, n_head, d_head).transpose(1, 2): a reshape straight to "
             "(b, n_head, t, d_head) mixes positions and heads"),
            (lambda g: _close(g, attn.proj.bias.expand_as(g)) or g.shape != expected.shape,
             "return the output projection of the merged heads, shape (batch, t, d_model)"),
        ]
    expect_close(got, expected, "multi_head_attention(x (2, 7, 32), 4 heads)", atol=1e-4, hints=hints)


def test_multi_head_attention_matches_torch(ex) -> None:
    _check_multi_head_attention(ex)


def _oracle_block(x: torch.Tensor, block, post_norm: bool = False, gelu: str = "tanh") -> torch.Tensor:
    def mlp(h: torch.Tensor) -> torch.Tensor:
        return block.mlp.proj(F.gelu(block.mlp.fc(h), approximate=gelu))
    if post_norm:
        x = block.ln1(x + _oracle_attention(x, block.attn))
        return block.ln2(x + mlp(x))
    x = x + _oracle_attention(block.ln1(x), block.attn)
    return x + mlp(block.ln2(x))


def _block_module():
    from zero2hero.transformer.gpt2 import Block, GPT2Config

    torch.manual_seed(0)
    return _randomised(Block(GPT2Config(n_embd=32, n_head=4)), seed=3)


def _check_block(ex) -> None:
    block = _block_module()
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got, expected = ex.gpt2_block(x, block), _oracle_block(x, block)
    if not (isinstance(got, torch.Tensor) and _close(got, expected)):
        prerequisite("test_multi_head_attention_matches_torch", "gpt2_block",
                     lambda: _check_multi_head_attention(ex))
    with torch.no_grad():
        expect_close(got, expected, "gpt2_block(x (2, 7, 32), block)", atol=1e-4, hints=[
            (lambda g: _close(g, _oracle_block(x, block, post_norm=True)),
             "GPT-2 is pre-norm: x + attn(ln1(x)), not ln1(x + attn(x))"),
            (lambda g: _close(g, _oracle_block(x, block, gelu="none")),
             "GPT-2's GELU is the tanh approximation: 0.5 h (1 + tanh(√(2/π) (h + 0.044715 h³)))"),
            (lambda g: _close(g, _oracle_block(x, block) - x),
             "keep the residual connections: add each sub-layer's output to its input"),
        ])


def test_gpt2_block_matches_torch(ex) -> None:
    _check_block(ex)


@pytest.fixture(scope="module")
def tiny_gpt2():
    return build_tiny_gpt2()


def build_tiny_gpt2():  # returns (transformers model, zero2hero model)
    """A tiny transformers GPT2LMHeadModel with random weights, and zero2hero's GPT-2 holding the same weights."""
    from transformers import GPT2Config as HFConfig
    from transformers import GPT2LMHeadModel

    from zero2hero.transformer.load import from_hf_model

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(HFConfig(vocab_size=300, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                  initializer_range=0.2)).eval()
    return hf, from_hf_model(hf)


def test_gpt2_forward_equals_transformers(ex, tiny_gpt2) -> None:
    hf, model = tiny_gpt2
    ids = torch.randint(0, 300, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = hf(ids).logits, ex.gpt2_forward(ids, model)
        if not (isinstance(got, torch.Tensor) and _close(got, expected)):
            prerequisite("test_gpt2_block_matches_torch", "gpt2_forward", lambda: _check_block(ex))
        no_positions = model.ln_f(_blocks(model, model.wte(ids))) @ model.wte.weight.T
        no_final_norm = _blocks(model, model.wte(ids) + model.wpe(torch.arange(40))) @ model.wte.weight.T
        expect_close(got, expected, "gpt2_forward(ids (2, 40)) against GPT2LMHeadModel's logits", atol=1e-4, hints=[
            (lambda g: _close(g, no_positions), "add the position embeddings: wte(ids) + wpe(0..t-1)"),
            (lambda g: _close(g, no_final_norm), "apply the final layer norm ln_f before the output layer"),
        ])


def _blocks(model, h: torch.Tensor) -> torch.Tensor:
    for block in model.blocks:
        h = block(h, None)[0]
    return h


# ---- training and sampling --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def char_data():
    return build_char_data()


def build_char_data() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Character ids of the course corpus's first training characters and of held-out text, and the vocab size."""
    from zero2hero.corpus import heldout_text, training_text

    train, held = training_text()[:TRAIN_CHARS], heldout_text(HELDOUT_CHARS)
    chars = sorted(set(train) | set(held))
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in train]), torch.tensor([index[c] for c in held]), len(chars)


def _char_model(vocab: int, seed: int = SEED):
    from zero2hero.transformer.gpt2 import GPT2, GPT2Config

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GPT2(GPT2Config(vocab, n_positions=32, n_embd=64, n_layer=1, n_head=4, init_std=0.1))


def heldout_loss(model, ids: torch.Tensor) -> float:
    """Mean next-character cross-entropy (nats) over consecutive windows of held-out ids."""
    t = model.config.n_positions
    n = (len(ids) - 1) // t
    inputs, targets = ids[:n * t].view(n, t), ids[1:n * t + 1].view(n, t)
    with torch.no_grad():
        logits = model(inputs)[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()


def _first_batch_loss(model, ids: torch.Tensor) -> float:
    t = model.config.n_positions
    starts = torch.randint(len(ids) - t, (BATCH,), generator=torch.Generator().manual_seed(SEED)).tolist()
    inputs = torch.stack([ids[s:s + t] for s in starts])
    targets = torch.stack([ids[s + 1:s + t + 1] for s in starts])
    with torch.no_grad():
        logits = model(inputs)[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()


def test_training_loop_reaches_the_heldout_loss(ex, char_data) -> None:
    train, held, vocab = char_data
    model = _char_model(vocab)
    first_loss = _first_batch_loss(model, train)
    with one_thread():
        start = time.perf_counter()
        losses = ex.train_causal_lm(model, train, TRAIN_STEPS, BATCH, LR, SEED)
        seconds = time.perf_counter() - start
    expect(isinstance(losses, list) and len(losses) == TRAIN_STEPS, "train_causal_lm's return value",
           f"expected a list of {TRAIN_STEPS} losses (one per step), got {str(losses)[:80]}")
    loss = heldout_loss(model.eval(), held)
    start_loss = heldout_loss(_char_model(vocab), held)
    late = sum(losses[-20:]) / 20
    expect(loss < HELDOUT_LOSS_MAX, f"held-out loss after {TRAIN_STEPS} steps ({seconds:.1f} s)",
           f"expected below {HELDOUT_LOSS_MAX} nats per character, got {loss:.3f} (untrained: {start_loss:.3f}); "
           f"your loop's own losses went {losses[0]:.3f} -> {late:.3f}", losses, hints=[
               (lambda g: abs(g[0] - first_loss) > 1e-3,
                f"the first step's loss should be {first_loss:.4f} (same model, same first batch): draw the window "
                "starts with torch.randint(n - t, (batch_size,), generator=torch.Generator().manual_seed(seed)) "
                "and use targets shifted by one, ids[s + 1:s + t + 1]"),
               (lambda g: late < 1.0, "training loss near 0 but held-out loss high: the targets must be the inputs "
                                      "shifted by one position (predict the *next* token)"),
               (lambda g: late > g[0] - 0.3, "the loss hardly falls: call optimizer.zero_grad(), loss.backward() "
                                             "and optimizer.step() every step, with AdamW over model.parameters()"),
           ])


def test_sampling_draws_from_the_tempered_softmax(ex, char_data) -> None:
    with one_thread():
        _check_sampling(ex, char_data[2])


def _check_sampling(ex, vocab: int) -> None:
    model = _char_model(vocab, seed=5).eval()
    prompt = [10, 20, 30, 40, 50, 60, 70, 5, 6, 7]

    def oracle(temperature: float) -> list[int]:
        gen, ids = torch.Generator().manual_seed(7), list(prompt)
        with torch.no_grad():
            for _ in range(40):
                logits = model(torch.tensor([ids[-32:]]))[0][0, -1]
                ids.append(int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)))
        return ids[len(prompt):]

    for temperature in (1.0, 0.5):
        got = ex.sample(model, prompt, 40, temperature, torch.Generator().manual_seed(7))
        expect_equal(got, oracle(temperature), f"sample(model, 10-token prompt, 40, temperature={temperature})",
                     hints=[(lambda g: len(g) == 50, "return only the new ids, not the prompt"),
                            (lambda g, t=temperature: t != 1.0 and g == oracle(1.0),
                             "divide the logits by the temperature before the softmax"),
                            (None, "each step: the last n_positions (32) ids, the last position's logits / "
                                   "temperature, softmax, then torch.multinomial(probs, 1, generator=generator)")])
    with torch.no_grad():
        greedy, ids = [], list(prompt)
        for _ in range(40):
            ids.append(int(model(torch.tensor([ids[-32:]]))[0][0, -1].argmax()))
        greedy = ids[len(prompt):]
    expect_equal(ex.sample(model, prompt, 40, 1e-4, torch.Generator().manual_seed(7)), greedy,
                 "sample with temperature 1e-4 (the most likely id every time)",
                 hints=[(None, "a tiny temperature makes the softmax put all its mass on the largest logit")])


# ---- choosing the next token ------------------------------------------------------------------------------------

def test_top_p_hand_example(ex) -> None:
    logits = torch.log(torch.tensor([0.15, 0.5, 0.05, 0.3]))
    for p, expected in ((0.8, [True, False, True, False]), (0.9, [False, False, True, False]),
                        (1.0, [False, False, False, False]), (0.01, [True, False, True, True])):
        got = torch.isinf(ex.top_p_filter(logits, p)).tolist()
        expect_equal(got, expected, f"top_p_filter(log [0.15, 0.5, 0.05, 0.3], p={p}): which tokens are dropped "
                     "(True = -inf)", hints=[
                         (lambda g, p=p: p == 0.8 and g == [True, False, True, True],
                          "keep tokens until the kept mass *reaches* p: the token that crosses p stays"),
                         (lambda g, p=p: p == 0.01 and all(g),
                          "the most likely token is always kept"),
                         (None, "sort the probabilities in descending order, accumulate, and map the decision back to "
                                "the original positions")])


def test_repetition_penalty_matches_transformers(ex) -> None:
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(3))
    seen = torch.tensor([[1, 4, 4, 9, 20]])
    expected = RepetitionPenaltyLogitsProcessor(1.5)(seen, logits.clone())[0]
    got = ex.apply_repetition_penalty(logits[0], seen[0], 1.5)
    naive = logits[0].clone()
    naive[seen[0]] = naive[seen[0]] / 1.5
    expect_close(got, expected, "apply_repetition_penalty(logits, seen, 1.5)", hints=[
        (lambda g: _close(g, naive), "a negative logit divided by the penalty gets *more* likely: multiply negative "
                                     "logits by the penalty instead"),
        (lambda g: not torch.equal(logits[0], torch.randn(1, 30, generator=torch.Generator().manual_seed(3))[0]),
         "do not change the logits you were given: work on a copy (logits.clone())"),
    ])
    if not torch.equal(logits[0], torch.randn(1, 30, generator=torch.Generator().manual_seed(3))[0]):
        fail("apply_repetition_penalty", "the input logits were changed in place", hints=[
            (None, "work on a copy (logits.clone())")])
