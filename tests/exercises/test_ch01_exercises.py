"""Chapter 1 exercise checks: `z2h check 1` runs them on course/01-text-fundamentals/exercises.py.

Each check compares against an independent oracle (Python's own `str.split`, `unicodedata`,
the stopwords-iso lists, scikit-learn's n-gram counter) or a worked example.
"""

from __future__ import annotations

import unicodedata

import pytest
import stopwordsiso
from sklearn.feature_extraction.text import CountVectorizer

CHAPTER = 1
REFERENCE = {
    "normalize_whitespace": "zero2hero.text.normalize",
    "strip_accents": "zero2hero.text.normalize",
    "regex_tokenize": "zero2hero.text.tokenize",
    "remove_stopwords": "zero2hero.text.stoplists",
    "count_ngrams": "zero2hero.text.ngram",
}

MESSY = "  Riverside\u00a0\u00a0Library\tis  open!\r\n\r\n\r\n\r\nCall us\u200b today.\u00ad \n  Bye  "


def test_normalize_whitespace_worked_example(ex) -> None:
    assert ex.normalize_whitespace("  Hello\u00a0\u00a0world \r\n\r\n\r\n\tbye\u200b!  ") == "Hello world\n\nbye!"


def test_normalize_whitespace_keeps_every_word(ex) -> None:
    # Oracle: str.split() splits on every kind of white space; the words must survive unchanged.
    expected_words = MESSY.replace("\u200b", "").replace("\u00ad", "").split()
    assert ex.normalize_whitespace(MESSY).split() == expected_words


def test_normalize_whitespace_leaves_no_odd_spacing(ex) -> None:
    out = ex.normalize_whitespace(MESSY)
    assert out == out.strip()
    for bad in ("\t", "\u00a0", "\u200b", "\u00ad", "\r", "  ", "\n\n\n", " \n", "\n "):
        assert bad not in out, f"{bad!r} left in {out!r}"
    assert "\n\n" in out, "one empty line between paragraphs must stay"


def test_strip_accents_worked_examples(ex) -> None:
    assert ex.strip_accents("Café Noël, naïve Ångström") == "Cafe Noel, naive Angstrom"
    assert ex.strip_accents("Fernández-Müller") == "Fernandez-Muller"
    assert ex.strip_accents("e\u0301") == "e", "a decomposed accent (e + combining acute) is removed too"


def test_strip_accents_removes_only_combining_marks(ex) -> None:
    text = "Straße ﬁnal Ærø çà ôü — 東京 ١٢٣"
    out = ex.strip_accents(text)
    assert not any(unicodedata.category(ch) == "Mn" for ch in unicodedata.normalize("NFD", out))
    assert "ß" in out and "ﬁ" in out and "Æ" in out, "letters that are not letter+accent must stay"
    assert "東京" in out and "١٢٣" in out


def test_regex_tokenize_worked_example(ex) -> None:
    assert ex.regex_tokenize("Hello, world! It's 9:30 — don't panic.") == [
        "Hello", ",", "world", "!", "It's", "9", ":", "30", "—", "don't", "panic", "."]


def test_regex_tokenize_numbers_placeholders_and_hyphens(ex) -> None:
    tokens = ex.regex_tokenize("We scanned 12,043 items (3.5 million words) at <URL> — state-of-the-art!")
    for whole in ("12,043", "3.5", "<URL>", "state-of-the-art"):
        assert whole in tokens, f"{whole!r} should be one token, got {tokens}"
    assert "(" in tokens and ")" in tokens and "!" in tokens


def test_regex_tokenize_keeps_every_character(ex) -> None:
    # Oracle: tokenising only drops white space, so the tokens glued together equal the text without it.
    text = "“Mr. Smith,” said O’Neil; (555) 013-2468... 📚✨ naïve"
    tokens = ex.regex_tokenize(text)
    assert "".join(tokens) == "".join(text.split())
    assert all(tok.strip() == tok and tok for tok in tokens)


def test_remove_stopwords_matches_stopwords_iso(ex) -> None:
    tokens = "The Library IS open and we are scanning all of the old newspapers for you".split()
    expected = [t for t in tokens if t.casefold() not in {w.casefold() for w in stopwordsiso.stopwords("en")}]
    assert ex.remove_stopwords(tokens, "en") == expected
    assert ex.remove_stopwords(tokens) == expected, "English is the default language"
    assert "Library" in expected and "The" not in expected


def test_remove_stopwords_other_languages(ex) -> None:
    german = "Die Bibliothek ist für alle da und sie ist kostenlos".split()
    kept = ex.remove_stopwords(german, "de")
    assert kept == [t for t in german if t.casefold() not in stopwordsiso.stopwords("de")]
    assert "Bibliothek" in kept and "Die" not in kept
    with pytest.raises(KeyError):
        ex.remove_stopwords(["x"], "not-a-language")


def test_count_ngrams_matches_scikit_learn(ex) -> None:
    tokens = "to be or not to be that is the question to be".split()
    for n in (1, 2, 3):
        vectorizer = CountVectorizer(analyzer=str.split, lowercase=False) if n == 1 else CountVectorizer(
            tokenizer=str.split, preprocessor=None, token_pattern=None, lowercase=False, ngram_range=(n, n))
        counts = vectorizer.fit_transform([" ".join(tokens)]).toarray()[0]
        expected = dict(zip(vectorizer.get_feature_names_out(), counts, strict=True))
        ours = ex.count_ngrams(tokens, n)
        assert {" ".join(gram): c for gram, c in ours.items()} == expected
        assert all(isinstance(gram, tuple) and len(gram) == n for gram in ours)


def test_count_ngrams_edges(ex) -> None:
    assert ex.count_ngrams(["a", "b"], 3) == {}
    assert sum(ex.count_ngrams(list("abcdef"), 2).values()) == 5
    with pytest.raises(ValueError):
        ex.count_ngrams(["a"], 0)
