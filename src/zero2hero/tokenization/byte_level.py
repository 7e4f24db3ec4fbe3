"""GPT-2's byte-level pre-tokenisation: a regex that cuts text into word-like pieces, and the
reversible map from the 256 byte values to printable characters that makes every piece a string."""

from __future__ import annotations

from functools import lru_cache

import regex

# Contractions, letters (with an optional leading space), digits, other symbols, and white space:
# the pattern of GPT-2 and of every tokenizer that copies it (SmolLM2's included).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PRETOKEN = regex.compile(GPT2_PATTERN)


def pretokenize(text: str) -> list[str]:
    """Cut text into the pieces BPE merges within (merges never cross a piece boundary).

    The pieces are the matches, left to right, of GPT-2's pattern
    ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``: contractions, letters
    or digits or other symbols with an optional leading space, and white space (a run of spaces before a word
    leaves its last space to the word). ``\\p{L}`` is any letter and ``\\p{N}`` any digit: Python's ``re`` lacks
    them, the ``regex`` module has them.

    >>> pretokenize("Hello, it's  9 o'clock!")
    ['Hello', ',', ' it', "'s", ' ', ' 9', ' o', "'", 'clock', '!']
    """
    return _PRETOKEN.findall(text)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Map each byte 0–255 to a printable character (GPT-2's table).

    The printable bytes ``!``..``~`` (33–126), ``¡``..``¬`` (161–172) and ``®``..``ÿ`` (174–255) map to the
    character with the same code point; every other byte (controls, space, ...), in increasing order, takes the
    next code point from 256 up: ``chr(256)``, ``chr(257)``, ... So " " (byte 32) becomes "Ġ" and "\\n" becomes "Ċ".
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return mapping


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {char: byte for byte, char in bytes_to_unicode().items()}


def to_symbols(piece: str) -> str:
    """A pre-token's UTF-8 bytes as the printable characters BPE vocabularies are written in."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in piece.encode("utf-8"))


def from_symbols(symbols: str) -> bytes:
    table = unicode_to_bytes()
    return bytes(table[ch] for ch in symbols)
