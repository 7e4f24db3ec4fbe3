"""Chapter 1 exercises — fill in each function, then run `z2h check 1`.

Each function below has the signature and docstring of zero2hero's reference implementation; replace
the `raise NotImplementedError` with your code. Useful modules: `re`, `unicodedata`, `collections`,
and `stopwordsiso` (the stopword lists the course uses: `stopwordsiso.stopwords("en")`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


def normalize_whitespace(text: str) -> str:
    """Tidy white space without changing words.

    Removes invisible characters (zero-width spaces and joiners, soft hyphens, byte-order marks),
    turns ``\\r\\n`` and ``\\r`` into ``\\n``, collapses every other run of white space (tabs,
    non-breaking spaces, repeated spaces) into one space, trims the spaces around each line, keeps at
    most one empty line between paragraphs, and strips the ends.

    >>> normalize_whitespace("  Hello\\u00a0\\u00a0world \\r\\n\\r\\n\\r\\n\\tbye\\u200b!  ")
    'Hello world\\n\\nbye!'
    """
    raise NotImplementedError


def strip_accents(text: str) -> str:
    """Remove accents and other combining marks: decompose (NFD), drop every character of Unicode
    category "Mn" (non-spacing mark), and recompose (NFC).

    >>> strip_accents("Café Noël, naïve Ångström")
    'Cafe Noel, naive Angstrom'

    Beware: in Arabic or Hebrew the same marks are vowels, and in Vietnamese they tell words apart.
    """
    raise NotImplementedError


def regex_tokenize(text: str) -> list[str]:
    """Split text into words, numbers and single punctuation marks with one regular expression.

    A word is a run of letters/digits/underscores that may contain inner apostrophes or hyphens
    ("don't", "state-of-the-art", "O’Neil"); placeholders such as ``<URL>`` stay whole; every other
    numbers keep their separators ("12,043", "3.5"); every other non-space character (".", "“", "!",
    an emoji) is a token of its own. White space is dropped.

    >>> regex_tokenize("Hello, world! It's 9:30 — don't panic.")
    ['Hello', ',', 'world', '!', "It's", '9', ':', '30', '—', "don't", 'panic', '.']
    """
    raise NotImplementedError


def remove_stopwords(tokens: Iterable[str], language: str = "en") -> list[str]:
    """Drop the tokens that are stopwords of ``language``, comparing case-insensitively.

    Uses :func:`stopwords` (the stopwords-iso list for that language); every other token is kept
    unchanged and in order. An unknown language raises ``KeyError``.

    >>> remove_stopwords(["The", "library", "is", "CLOSED"], "en")
    ['library', 'CLOSED']
    """
    raise NotImplementedError


def count_ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Count every n-gram of the token sequence.

    Returns a ``collections.Counter`` mapping each n-gram (a tuple of ``n`` tokens) to how often it occurs.
    N-grams never cross the ends of the sequence. ``n`` must be at least 1 (raise ``ValueError`` otherwise).

    >>> count_ngrams(["to", "be", "or", "not", "to", "be"], 2)[("to", "be")]
    2
    """
    raise NotImplementedError
