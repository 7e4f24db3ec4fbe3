from __future__ import annotations

import math
from pathlib import Path

import pytest
from tokenizers import Regex, pre_tokenizers

from zero2hero.errors import InputError
from zero2hero.text import (
    TOKEN_PATTERN,
    corpus_stats,
    count_ngrams,
    read_text_file,
    regex_tokenize,
    remove_stopwords,
    stopwords,
    top_ngrams,
    whitespace_tokenize,
    zipf_fit,
)
from zero2hero.text.samples import raw_article


def test_regex_tokenizer_agrees_with_the_rust_pre_tokenizer() -> None:
    # Hugging Face's Rust pre-tokenizer, given the same pattern, must cut the article identically.
    text = raw_article()
    rust = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated").pre_tokenize_str(text)
    assert regex_tokenize(text) == [piece for piece, _ in rust if piece.strip()]


def test_whitespace_tokens_keep_punctuation_glued() -> None:
    assert whitespace_tokenize("Stop. Go!") == ["Stop.", "Go!"]
    assert regex_tokenize("Stop. Go!") == ["Stop", ".", "Go", "!"]


def test_stopword_lists_come_from_stopwords_iso() -> None:
    assert {"the", "and"} <= stopwords("en") and {"und", "die"} <= stopwords("de") and "ve" in stopwords("tr")
    assert remove_stopwords(["Und", "Brot"], "de") == ["Brot"]
    with pytest.raises(KeyError, match="xx"):
        stopwords("xx")


def test_ngrams_and_top_ngrams() -> None:
    tokens = "a rose is a rose is a rose".split()
    assert count_ngrams(tokens, 2)[("a", "rose")] == 3
    assert top_ngrams(tokens, 3, 1) == [("a rose is", 2)]


def test_corpus_stats_and_zipf() -> None:
    stats = corpus_stats("a a a a b b c".split())
    assert (stats.tokens, stats.types, stats.hapax_legomena) == (7, 3, 1)
    assert math.isclose(stats.type_token_ratio, 3 / 7)
    # Frequencies exactly proportional to 1/rank give slope -1.
    tokens = ["w1"] * 60 + ["w2"] * 30 + ["w3"] * 20 + ["w4"] * 15 + ["w5"] * 12
    assert zipf_fit(tokens).slope == pytest.approx(-1.0, abs=1e-9)
    with pytest.raises(InputError):
        corpus_stats([])


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"), (b"   \n", "empty"), (b"abc\x00def", "binary"), (b"caf\xe9", "not valid UTF-8")])
def test_read_text_file_refuses_bad_input(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_text_file(path)


def test_read_text_file_refuses_directories_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_text_file(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_text_file(tmp_path / "missing.txt")
    (tmp_path / "bom.txt").write_bytes("\ufeffhello".encode())
    assert read_text_file(tmp_path / "bom.txt") == "hello"
