from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch

from zero2hero.errors import InputError
from zero2hero.transformer import mlm_vs_clm as mc
from zero2hero.transformer.gpt2 import GPT2, GPT2Config

# Random words of a small vocabulary: inside a word every letter follows from its neighbours on both sides, but
# a word's first letter is a guess from the left alone, so a blank there is easy only for the encoder.
WORDS = ("the of and to in is was that for with as his on be at by had not are but from or have an they which one "
         "you were her all she there would their we him been has when who will more no if out so said what up its")


def _word_text(n_words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS.split()) for _ in range(n_words))


def _pair() -> tuple[GPT2, GPT2]:
    """The same tiny network twice, with the same weights: causal, then bidirectional."""
    models = []
    for causal in (True, False):
        torch.manual_seed(0)
        models.append(GPT2(GPT2Config(vocab_size=20, n_positions=8, n_embd=16, n_layer=2, n_head=2,
                                      causal=causal)).eval())
    return models[0], models[1]


def test_bidirectional_attention_sees_later_tokens() -> None:
    causal, bidirectional = _pair()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    changed = ids.clone()
    changed[0, -1] = 7  # only the last token differs
    with torch.no_grad():
        assert torch.allclose(causal(ids)[0][0, 0], causal(changed)[0][0, 0])
        assert not torch.allclose(bidirectional(ids)[0][0, 0], bidirectional(changed)[0][0, 0])
    # The same through gradients: position 0's output depends on the embedding of position 5 only without the mask.
    for model, depends in ((causal, False), (bidirectional, True)):
        x = model.wte(ids).detach().requires_grad_()
        h = x + model.wpe(torch.arange(6))
        for block in model.blocks:
            h, _ = block(h, None)
        h[0, 0].sum().backward()
        assert (x.grad[0, 5].abs().sum().item() > 0) == depends


def test_bidirectional_attention_takes_no_cache() -> None:
    causal, bidirectional = _pair()
    _, cache = causal(torch.tensor([[1, 2]]))
    with pytest.raises(InputError, match="causal"):
        bidirectional(torch.tensor([[3]]), cache)


def test_char_vocab_round_trip() -> None:
    vocab = mc.CharVocab.from_text("hello world")
    ids = vocab.encode("hold!")
    assert vocab.size == len(mc.SPECIALS) + len(set("hello world"))
    assert ids[-1].item() == mc.UNK and vocab.decode(ids[:-1].tolist()) == "hold"


def test_training_is_reproducible() -> None:
    text = _word_text(300, seed=0)
    cfg = mc.TinyLMConfig(n_embd=16, n_head=2, block_size=16, steps=15, batch_size=8)
    for objective in mc.OBJECTIVES:
        a, b = mc.train(objective, text, cfg), mc.train(objective, text, cfg)
        assert a.losses == b.losses and len(a.losses) == 15
        assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))
        assert a.model.config.causal == (objective == "clm")
        assert mc.train(objective, text, replace(cfg, seed=1)).losses != a.losses


def test_bad_inputs() -> None:
    with pytest.raises(InputError, match="objective"):
        mc.train("seq2seq", "abc" * 50, mc.TinyLMConfig(steps=1))
    lm = mc.train("clm", _word_text(200, 0), mc.TinyLMConfig(n_embd=16, n_head=2, block_size=16, steps=1))
    with pytest.raises(InputError, match="blank"):
        mc.fill_blanks(lm, "_he cat")
    with pytest.raises(InputError, match="block"):
        mc.fill_blanks(lm, "a sentence far longer than sixteen characters")


def test_mlm_fills_blanks_clm_continues() -> None:
    """Same text, model and budget: the encoder wins at blanks, the decoder at the next character."""
    train, heldout = _word_text(5_000, seed=0), _word_text(1_000, seed=1)
    cfg = mc.TinyLMConfig(n_embd=32, n_head=4, n_layer=1, block_size=16, batch_size=32, steps=800)
    mlm, clm = mc.train("mlm", train, cfg), mc.train("clm", train, cfg)
    fill = {lm.objective: mc.fill_in_accuracy(lm, heldout) for lm in (mlm, clm)}
    nxt = {lm.objective: mc.next_char_accuracy(lm, heldout) for lm in (mlm, clm)}
    assert fill["mlm"] > fill["clm"] + 0.08, fill
    assert nxt["clm"] > nxt["mlm"] + 0.06, nxt
    assert nxt["clm"] > 0.45 and fill["mlm"] > 0.6  # both learned far beyond guessing the commonest letter
    # The samples keep what was given and add exactly what was asked for.
    filled = mc.fill_blanks(mlm, "she said th_t he")
    assert filled[:11] == "she said th" and filled[12:] == "t he" and "_" not in filled
    assert len(mc.continue_text(clm, "when she ", 30)) == 30 and len(mc.continue_text(mlm, "when she ", 30)) == 30
