"""Chapter 1 exercise checks: `z2h check 1` runs them on course/01-text-fundamentals/exercises.py.

Each check compares against an independent oracle (Python's own `str.split`, `unicodedata`,
the stopwords-iso lists, scikit-learn's n-gram counter) or a worked example.
"""

from __future__ import annotations

import unicodedata

import stopwordsiso
from sklearn.feature_extraction.text import CountVectorizer

from zero2hero.checks.feedback import expect, expect_equal, expect_raises

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
    text = "  Hello\u00a0\u00a0world \r\n\r\n\r\n\tbye\u200b!  "
    expect_equal(ex.normalize_whitespace(text), "Hello world\n\nbye!", f"normalize_whitespace({text!r})", hints=[
        (lambda g: "\u200b" in g, "remove invisible characters (U+200B zero-width space, U+00AD soft hyphen, ...)"),
        (lambda g: "\u00a0" in g, "a non-breaking space (U+00A0) is white space too: collapse it with the others"),
        (lambda g: "\n\n\n" in g, "keep at most one empty line between paragraphs"),
        (lambda g: "\n" not in g, "collapse spaces and tabs inside a line, but keep the line breaks"),
        (lambda g: g != g.strip(), "strip the ends"),
    ])


def test_normalize_whitespace_keeps_every_word(ex) -> None:
    # Oracle: str.split() splits on every kind of white space; the words must survive unchanged.
    expected_words = MESSY.replace("\u200b", "").replace("\u00ad", "").split()
    expect_equal(ex.normalize_whitespace(MESSY).split(), expected_words, "the words of normalize_whitespace(MESSY)",
                 hints=[(lambda g: any("\u200b" in w or "\u00ad" in w for w in g),
                         "drop zero-width spaces and soft hyphens inside words")])


def test_normalize_whitespace_leaves_no_odd_spacing(ex) -> None:
    out = ex.normalize_whitespace(MESSY)
    expect_equal(out, out.strip(), "normalize_whitespace(MESSY) has no space at either end")
    for bad in ("\t", "\u00a0", "\u200b", "\u00ad", "\r", "  ", "\n\n\n", " \n", "\n "):
        expect(bad not in out, "normalize_whitespace(MESSY)", f"{bad!r} left at character {out.find(bad)} of {out!r}",
               hints=[(lambda _, b=bad: b in (" \n", "\n "), "trim the spaces around each line")])
    expect("\n\n" in out, "normalize_whitespace(MESSY)", f"one empty line between paragraphs must stay: {out!r}")


def test_strip_accents_worked_examples(ex) -> None:
    hints = [(lambda g: g == "", "recompose (NFC) what is left instead of dropping it"),
             (None, "decompose with unicodedata.normalize('NFD', ...), drop the characters of category 'Mn', "
                    "recompose with 'NFC'")]
    for text, expected in (("Café Noël, naïve Ångström", "Cafe Noel, naive Angstrom"),
                           ("Fernández-Müller", "Fernandez-Muller"), ("e\u0301", "e")):
        expect_equal(ex.strip_accents(text), expected, f"strip_accents({text!r})", hints=hints)


def test_strip_accents_removes_only_combining_marks(ex) -> None:
    text = "Straße ﬁnal Ærø çà ôü — 東京 ١٢٣"
    out = ex.strip_accents(text)
    marks = [ch for ch in unicodedata.normalize("NFD", out) if unicodedata.category(ch) == "Mn"]
    expect(not marks, f"strip_accents({text!r})", f"combining marks left: {marks!r} in {out!r}")
    for kept in ("ß", "ﬁ", "Æ", "東京", "١٢٣"):
        expect(kept in out, f"strip_accents({text!r})", f"{kept!r} is gone from {out!r}", hints=[
            (lambda _, k=kept: k in "ßﬁÆ", "letters that are not letter + accent must stay: use NFD (not NFKD), which "
                                     "leaves ligatures and ß alone"),
            (lambda _, k=kept: k not in "ßﬁÆ", "drop only category 'Mn', not every non-ASCII character")])


REGEX_HINTS = [
    (lambda g: "don" in g and "t" in g, "inner apostrophes stay inside a word: don't, It's, O’Neil"),
    (lambda g: "state" in g, "inner hyphens stay inside a word: state-of-the-art"),
    (lambda g: "12" in g and "043" in g, "numbers keep their separators: 12,043 and 3.5 are one token"),
    (lambda g: "URL" in g, "placeholders such as <URL> stay whole: try them first in the pattern"),
]


def test_regex_tokenize_worked_example(ex) -> None:
    text = "Hello, world! It's 9:30 — don't panic."
    expect_equal(ex.regex_tokenize(text), ["Hello", ",", "world", "!", "It's", "9", ":", "30", "—", "don't", "panic",
                                           "."], f"regex_tokenize({text!r})", hints=REGEX_HINTS)


def test_regex_tokenize_numbers_placeholders_and_hyphens(ex) -> None:
    text = "We scanned 12,043 items (3.5 million words) at <URL> — state-of-the-art!"
    tokens = ex.regex_tokenize(text)
    for whole in ("12,043", "3.5", "<URL>", "state-of-the-art", "(", ")", "!"):
        expect(whole in tokens, f"regex_tokenize({text!r})", f"{whole!r} should be one token, got {tokens}",
               tokens, hints=REGEX_HINTS)


def test_regex_tokenize_keeps_every_character(ex) -> None:
    # Oracle: tokenising only drops white space, so the tokens glued together equal the text without it.
    text = "“Mr. Smith,” said O’Neil; (555) 013-2468... 📚✨ naïve"
    tokens = ex.regex_tokenize(text)
    expect_equal("".join(tokens), "".join(text.split()), f"the tokens of {text!r} glued together", hints=[
        (None, "every non-space character must end up in some token: end the pattern with a catch-all \\S")])
    empty = [t for t in tokens if not t or t.strip() != t]
    expect(not empty, f"regex_tokenize({text!r})", f"tokens with white space or empty: {empty!r}")


def _stopword_hints(tokens: list[str], language: str) -> list:
    lowered = {w.casefold() for w in stopwordsiso.stopwords(language)}
    return [(lambda g: any(t.casefold() in lowered for t in g),
             "case-sensitive stopwords: compare token.casefold() (or lower()) with the list"),
            (lambda g: any(t != t.casefold() for t in tokens) and all(t == t.casefold() for t in g),
             "return the kept tokens unchanged: lower-case only for the comparison")]


def test_remove_stopwords_matches_stopwords_iso(ex) -> None:
    tokens = "The Library IS open and we are scanning all of the old newspapers for you".split()
    expected = [t for t in tokens if t.casefold() not in {w.casefold() for w in stopwordsiso.stopwords("en")}]
    expect_equal(ex.remove_stopwords(tokens, "en"), expected, "remove_stopwords(tokens, 'en')",
                 hints=_stopword_hints(tokens, "en"))
    expect_equal(ex.remove_stopwords(tokens), expected, "remove_stopwords(tokens) (English is the default)")


def test_remove_stopwords_other_languages(ex) -> None:
    german = "Die Bibliothek ist für alle da und sie ist kostenlos".split()
    expected = [t for t in german if t.casefold() not in stopwordsiso.stopwords("de")]
    expect_equal(ex.remove_stopwords(german, "de"), expected, "remove_stopwords(german, 'de')",
                 hints=_stopword_hints(german, "de"))
    expect_raises(KeyError, lambda: ex.remove_stopwords(["x"], "not-a-language"), "an unknown language",
                  "raise KeyError for a language stopwords-iso does not have")


def test_count_ngrams_matches_scikit_learn(ex) -> None:
    tokens = "to be or not to be that is the question to be".split()
    for n in (1, 2, 3):
        vectorizer = CountVectorizer(analyzer=str.split, lowercase=False) if n == 1 else CountVectorizer(
            tokenizer=str.split, preprocessor=None, token_pattern=None, lowercase=False, ngram_range=(n, n))
        counts = vectorizer.fit_transform([" ".join(tokens)]).toarray()[0]
        expected = {name: int(c) for name, c in zip(vectorizer.get_feature_names_out(), counts, strict=True)}
        ours = ex.count_ngrams(tokens, n)
        expect(all(isinstance(gram, tuple) and len(gram) == n for gram in ours), f"count_ngrams(tokens, {n})",
               f"keys must be tuples of {n} tokens, got e.g. {next(iter(ours), None)!r}")
        expect_equal({" ".join(gram): c for gram, c in ours.items()}, expected, f"count_ngrams(tokens, {n})", hints=[
            (lambda g, n=n: sum(g.values()) == len(tokens) - n, f"off by one: a list of k tokens has k - n + 1 "
                                                                f"{n}-grams (range(len(tokens) - n + 1))"),
            (lambda g, n=n: sum(g.values()) > len(tokens) - n + 1, "n-grams never cross the end of the sequence")])


def test_count_ngrams_edges(ex) -> None:
    expect_equal(dict(ex.count_ngrams(["a", "b"], 3)), {}, "count_ngrams(['a', 'b'], 3)",
                 hints=[(None, "fewer tokens than n: no n-gram at all")])
    expect_equal(sum(ex.count_ngrams(list("abcdef"), 2).values()), 5, "number of bigrams of 6 tokens",
                 hints=[(None, "k tokens have k - n + 1 n-grams")])
    expect_raises(ValueError, lambda: ex.count_ngrams(["a"], 0), "count_ngrams(['a'], 0)",
                  "n must be at least 1: raise ValueError otherwise")
