"""BERT's basic tokenisation, before WordPiece: clean, space out CJK characters, strip accents,
lower-case, then split on white space and punctuation (each punctuation mark becomes a word)."""

from __future__ import annotations

import unicodedata

# CJK Unified Ideographs and their extensions/compatibility blocks: BERT treats each as a word.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    # All ASCII non-alphanumerics count ("$", "+", "^" are symbols in Unicode), plus Unicode P*.
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(ch).startswith("P")


def normalize(text: str, lowercase: bool = True) -> str:
    """BERT's normaliser: drop NUL/U+FFFD/control characters, map white space to " ", put spaces around
    CJK characters, and (for uncased models) strip accents then lower-case — in that order."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = "".join(out)
    if lowercase:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").lower()
    return text


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Normalise, split on white space, and make every punctuation character a word of its own."""
    words = []
    for chunk in normalize(text, lowercase).split():
        current = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words
