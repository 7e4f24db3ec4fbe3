"""Chapter 2 exercise checks: `z2h check 2` runs them on course/02-tokenization-embeddings/exercises.py.

The answer keys are independent: Hugging Face's MiniLM tokenizer for WordPiece, torch.nn.functional for
one-hot and cosine similarity, explicit loops for mean pooling, worked examples for the BPE merge.
"""

from __future__ import annotations

import pytest
import torch

CHAPTER = 2
REFERENCE = {
    "apply_merge": "zero2hero.tokenization.bpe",
    "wordpiece_word": "zero2hero.tokenization.wordpiece",
    "one_hot": "zero2hero.embeddings.onehot",
    "cosine_similarity": "zero2hero.embeddings.similarity",
    "mean_pooling": "zero2hero.embeddings.sentence",
}


def test_apply_merge_worked_examples(ex) -> None:
    assert ex.apply_merge(["l", "o", "w", "e", "r"], ("l", "o")) == ["lo", "w", "e", "r"]
    assert ex.apply_merge(["a", "a", "a"], ("a", "a")) == ["aa", "a"], "left to right, no overlaps"
    assert ex.apply_merge(["a", "b", "a", "b"], ("a", "b")) == ["ab", "ab"], "every occurrence"
    assert ex.apply_merge(["x", "y"], ("y", "x")) == ["x", "y"], "a pair in the wrong order is not merged"


def test_apply_merge_with_a_wordpiece_symbol(ex) -> None:
    assert ex.apply_merge(["un", "##aff", "##able"], ("##aff", "##able"), "##affable") == ["un", "##affable"]


def test_apply_merge_keeps_the_text(ex) -> None:
    parts = list("the cat sat on the mat")
    merged = ex.apply_merge(parts, ("a", "t"))
    assert "".join(merged) == "".join(parts) and merged.count("at") == 3


@pytest.fixture(scope="module")
def minilm_vocab_and_hf():
    from transformers import AutoTokenizer

    from zero2hero.assets import asset_path

    folder = asset_path("minilm")
    vocab = {t: i for i, t in enumerate((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())}
    return vocab, AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("word", ["unaffable", "tokenization", "embeddings", "antidisestablishmentarianism",
                                  "pemberley", "definately", "the", "zzzqqqxxx", "東"])
def test_wordpiece_word_matches_the_hf_tokenizer(ex, minilm_vocab_and_hf, word: str) -> None:
    vocab, hf = minilm_vocab_and_hf
    assert ex.wordpiece_word(word, vocab) == hf.tokenize(word)


def test_wordpiece_word_unknown_and_too_long(ex) -> None:
    vocab = {"a", "##b"}
    assert ex.wordpiece_word("ab", vocab) == ["a", "##b"]
    assert ex.wordpiece_word("ba", vocab) == ["[UNK]"]
    assert ex.wordpiece_word("a" + "b" * 120, vocab | {"##bb"}) == ["[UNK]"]
    assert ex.wordpiece_word("ba", vocab, unk_token="<unk>") == ["<unk>"]


def test_one_hot_matches_torch(ex) -> None:
    ids = [4, 0, 2, 4]
    expected = torch.nn.functional.one_hot(torch.tensor(ids), 6).float()
    result = ex.one_hot(ids, 6)
    assert result.dtype == torch.float32 and torch.equal(result, expected)
    with pytest.raises(ValueError):
        ex.one_hot([6], 6)


def test_cosine_similarity_matches_torch(ex) -> None:
    torch.manual_seed(1)
    a, b = torch.randn(3, 8), torch.randn(4, 8)
    expected = torch.nn.functional.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    assert torch.allclose(ex.cosine_similarity(a, b), expected, atol=1e-6)
    one_hots = torch.eye(5)
    assert torch.equal(ex.cosine_similarity(one_hots, one_hots), torch.eye(5)), "distinct one-hots are orthogonal"
    assert ex.cosine_similarity(torch.zeros(1, 4), torch.ones(1, 4)).item() == 0.0
    with pytest.raises(ValueError):
        ex.cosine_similarity(torch.randn(2, 3), torch.randn(2, 4))


def test_mean_pooling_ignores_padding(ex) -> None:
    torch.manual_seed(2)
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = torch.stack([hidden[0, :3].mean(0), hidden[1].mean(0)])
    assert torch.allclose(ex.mean_pooling(hidden, mask), expected, atol=1e-6)
