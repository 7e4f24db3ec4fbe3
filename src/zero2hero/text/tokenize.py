"""Word tokenisers: white-space splitting, and a regular expression that knows about punctuation."""

from __future__ import annotations

import re

# One alternative per kind of token, tried left to right at each position:
#   <URL>-style placeholders (any case: lower-casing may run first)
#   | numbers with separators (12,043  3.5) — before words, which would stop at the comma
#   | words, with inner apostrophes/hyphens (don't, state-of-the-art)
#   | any other single non-space character (punctuation, emoji).
TOKEN_PATTERN = r"<[A-Za-z]+>|\d+(?:[.,]\d+)+|\w+(?:['’-]\w+)*|[^\w\s]"
_TOKEN = re.compile(TOKEN_PATTERN)


def whitespace_tokenize(text: str) -> list[str]:
    """Split on runs of white space; punctuation stays glued to words ("end." is one token)."""
    return text.split()


def regex_tokenize(text: str) -> list[str]:
    """Split text into words, numbers and single punctuation marks with one regular expression.

    A word is a run of letters/digits/underscores that may contain inner apostrophes or hyphens
    ("don't", "state-of-the-art", "O’Neil"); placeholders such as ``<URL>`` stay whole; every other
    numbers keep their separators ("12,043", "3.5"); every other non-space character (".", "“", "!",
    an emoji) is a token of its own. White space is dropped.

    >>> regex_tokenize("Hello, world! It's 9:30 — don't panic.")
    ['Hello', ',', 'world', '!', "It's", '9', ':', '30', '—', "don't", 'panic', '.']
    """
    return _TOKEN.findall(text)
