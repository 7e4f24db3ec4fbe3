from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from zero2hero.corpus import heldout_text, training_text
from zero2hero.errors import InputError
from zero2hero.text.samples import raw_article
from zero2hero.tokenization import BPETokenizer, train_bpe, train_wordpiece
from zero2hero.tokenization.wordpiece import wordpiece_word


def test_tie_breaking_rule_pinned_on_a_hand_worked_corpus() -> None:
    # Pre-tokens "abab" and " cdcd". Counts: (a,b)=2, (c,d)=2 tie -> the greater byte pair (c,d) first,
    # then (a,b); then all remaining pairs count 1 and the greatest, (cd,cd), wins.
    tokenizer = train_bpe("abab cdcd", 256 + 3)
    assert tokenizer.merges == [("c", "d"), ("a", "b"), ("cd", "cd")]


def _rust_bpe(text: str, vocab_size: int) -> Tokenizer:
    rust = Tokenizer(models.BPE())
    rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, show_progress=False,
                                  special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    rust.train_from_iterator([text], trainer)
    return rust


def test_trainer_agrees_with_the_rust_trainer() -> None:
    # 1 MB of real prose: on tiny texts most pairs tie at counts of 2 or 3 and tie-breaking dominates.
    train, heldout = training_text()[:1_000_000], heldout_text(200_000)
    ours = train_bpe(train, 2000, ["<|endoftext|>"])
    rust = _rust_bpe(train, 2000)
    rust_merges = {tuple(m) for m in json.loads(rust.to_str())["model"]["merges"]}
    assert len(ours.merges) == len(rust_merges) == 2000 - 257
    overlap = len(set(ours.merges) & rust_merges) / len(ours.merges)
    assert overlap >= 0.95
    n_bytes = len(heldout.encode())
    ours_bpt, rust_bpt = n_bytes / len(ours.encode(heldout)), n_bytes / len(rust.encode(heldout).ids)
    assert abs(ours_bpt - rust_bpt) / rust_bpt <= 0.01


def test_trained_tokenizer_round_trips_and_saves(tmp_path: Path) -> None:
    tokenizer = train_bpe(raw_article(), 400, ["<|endoftext|>"])
    text = "Café Noël — 12,043 items<|endoftext|>🙌"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text and tokenizer.special_tokens["<|endoftext|>"] in ids
    tokenizer.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(tmp_path / "bpe.json")
    assert loaded.encode(text) == ids and loaded.merges == tokenizer.merges


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"text": "", "vocab_size": 300}, "empty"),
    ({"text": "abc", "vocab_size": 100}, "smaller than the 256"),
    ({"text": "abc\x00def", "vocab_size": 300}, "NUL"),
    ({"text": "bad \ud800 surrogate", "vocab_size": 300}, "lone surrogate"),
])
def test_trainer_refuses_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        train_bpe(**kwargs)


def test_encoder_refuses_bad_input(tmp_path: Path) -> None:
    tokenizer = train_bpe("hello world", 260, ["<|endoftext|>"])
    with pytest.raises(InputError, match="lone surrogate"):
        tokenizer.encode("x\udc80")
    with pytest.raises(InputError, match="unknown special tokens"):
        tokenizer.encode("hi", allowed_special=["<|nope|>"])
    (tmp_path / "bad.json").write_text('{"vocab": {"a": 0}, "merges": ["a b"]}')
    with pytest.raises(InputError, match="not a zero2hero BPE file"):
        BPETokenizer.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(InputError):
        BPETokenizer.load(tmp_path / "junk.json")


def test_wordpiece_trainer_merges_by_score() -> None:
    tokenizer = train_wordpiece(raw_article(), 300)
    vocab = tokenizer.vocab
    assert len(vocab) == 300 and {"[UNK]", "[CLS]", "[SEP]"} <= set(vocab)
    assert any(t.startswith("##") and len(t) > 3 for t in vocab), "continuation pieces were learned"
    assert tokenizer.tokenize("library") == wordpiece_word("library", vocab)
    with pytest.raises(InputError, match="smaller than"):
        train_wordpiece(raw_article(), 10)


def test_wordpiece_greedy_longest_match() -> None:
    vocab = {"un", "##aff", "##able", "##a", "##ff", "##ab", "##le"}
    assert wordpiece_word("unaffable", vocab) == ["un", "##aff", "##able"]
    assert wordpiece_word("unknown", vocab) == ["[UNK]"]
    assert wordpiece_word("un" * 60, vocab | {"##un"}) == ["[UNK]"], "longer than 100 characters"
