"""Checks on text and vocabulary files shared by the tokenizers, with errors that say what to fix."""

from __future__ import annotations

from zero2hero.errors import InputError


def check_text(text: str, purpose: str = "text") -> None:
    """Refuse text that cannot be UTF-8 encoded (lone surrogates, e.g. from a bad decode)."""
    if not isinstance(text, str):
        raise InputError(f"{purpose} must be a str, got {type(text).__name__}", "decode bytes with .decode('utf-8')")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(f"{purpose} contains a lone surrogate at position {err.start} ({text[err.start]!r})",
                         "re-read the source with errors='replace', or remove the character") from None


def check_corpus(text: str) -> None:
    """A training corpus must be non-empty text with no NUL bytes (a sign of binary data)."""
    check_text(text, "the corpus")
    if not text.strip():
        raise InputError("the corpus is empty", "train on some text")
    if "\x00" in text:
        raise InputError(f"the corpus contains a NUL byte at position {text.index(chr(0))}: it looks binary",
                         "train on UTF-8 text")
