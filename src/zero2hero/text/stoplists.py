"""Stopwords from a maintained multilingual source (the stopwords-iso collection, 50+ languages)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import stopwordsiso

from zero2hero.errors import UnknownNameError


@cache
def stopwords(language: str = "en") -> frozenset[str]:
    """The stopword list for an ISO 639-1 language code ("en", "de", "tr", "ar", "zh", ...), lower-case."""
    if not stopwordsiso.has_lang(language):
        raise UnknownNameError(f"no stopword list for language {language!r}",
                               f"use an ISO 639-1 code such as {', '.join(sorted(stopwordsiso.langs())[:12])}, ...")
    return frozenset(word.casefold() for word in stopwordsiso.stopwords(language))


def remove_stopwords(tokens: Iterable[str], language: str = "en") -> list[str]:
    """Drop the tokens that are stopwords of ``language``, comparing case-insensitively.

    Uses :func:`stopwords` (the stopwords-iso list for that language); every other token is kept
    unchanged and in order. An unknown language raises ``KeyError``.

    >>> remove_stopwords(["The", "library", "is", "CLOSED"], "en")
    ['library', 'CLOSED']
    """
    words = stopwords(language)
    return [token for token in tokens if token.casefold() not in words]
