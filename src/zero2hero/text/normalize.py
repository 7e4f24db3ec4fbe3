"""Cleaning and normalisation steps. Each is a plain ``str -> str`` function, so they compose freely.

Every step helps some downstream task and hurts another; the lesson discusses when to use which.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

import regex

from zero2hero.errors import InputError

# Characters that take no space but split or join words invisibly: zero-width space/joiners, word
# joiner, soft hyphen and the byte-order mark.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\u00ad\ufeff]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")  # any white space except the newline
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_LINE_END_HYPHEN = re.compile(r"(\w)-[^\S\n]*\n[^\S\n]*(\w)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:[.,:/]\d+)*(?:%)?(?![\w>])")
# Extended_Pictographic covers emoji; the modifiers/joiners glue multi-part emoji (❤️, 👍🏽, 👨‍👩‍👧).
_EMOJI = regex.compile(r"\p{Extended_Pictographic}(?:[\uFE0F\u200D]|\p{Emoji_Modifier}|\p{Extended_Pictographic})*")

UNICODE_FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def normalize_unicode(text: str, form: str = "NFKC") -> str:
    """Bring text to one Unicode normal form.

    NFKC (the default) also folds *compatibility* characters: the ligature "ﬁ" becomes "fi",
    full-width "１２" becomes "12", "①" becomes "1". NFC only composes ("e" + "◌́" -> "é").
    """
    if form not in UNICODE_FORMS:
        raise InputError(f"unknown Unicode normal form {form!r}", f"use one of {', '.join(UNICODE_FORMS)}")
    return unicodedata.normalize(form, text)


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML document; block elements end a line."""

    _SKIP = {"script", "style", "head", "nav", "footer", "template", "noscript"}
    _BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "blockquote", "article",
              "section", "title", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Keep only the visible text of HTML: drop tags, comments, scripts, styles, navigation and footers,
    and decode entities (``&amp;`` -> ``&``, ``&#8217;`` -> ``’``). Block elements become line breaks."""
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return html.unescape("".join(parser.parts))


def replace_urls(text: str, placeholder: str = "<URL>") -> str:
    """Replace web addresses (``http(s)://...``, ``www....``) with a placeholder token."""
    return _URL.sub(placeholder, text)


def replace_emails(text: str, placeholder: str = "<EMAIL>") -> str:
    """Replace e-mail addresses with a placeholder token."""
    return _EMAIL.sub(placeholder, text)


def replace_numbers(text: str, placeholder: str = "<NUM>") -> str:
    """Replace numbers (integers, decimals, ``12,043``, ``31%``, times and dates like ``03/11/2024``).

    Digits glued to letters (``FL00D``, ``v4``) stay: they are part of a word, or an OCR error.
    """
    return _NUMBER.sub(placeholder, text)


def replace_emoji(text: str, placeholder: str = " <EMOJI> ") -> str:
    """Replace each emoji (including multi-code-point ones such as ❤️ or 👍🏽) with a placeholder."""
    return _EMOJI.sub(placeholder, text)


def join_hyphenated_lines(text: str) -> str:
    """Re-join words split by a hyphen at a line end ("hyphen-\nated" -> "hyphenated"), as in OCR output."""
    return _LINE_END_HYPHEN.sub(r"\1\2", text)


def strip_accents(text: str) -> str:
    """Remove accents and other combining marks: decompose (NFD), drop every character of Unicode
    category "Mn" (non-spacing mark), and recompose (NFC).

    >>> strip_accents("Café Noël, naïve Ångström")
    'Cafe Noel, naive Angstrom'

    Beware: in Arabic or Hebrew the same marks are vowels, and in Vietnamese they tell words apart.
    """
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", kept)


def lowercase(text: str, language: str = "en") -> str:
    """Case-fold text for caseless matching (``str.casefold``: "Straße" -> "strasse").

    Turkish and Azerbaijani have a dotted and a dotless i: "I" lowers to "ı" and "İ" to "i". The generic
    rule would turn "İ" into "i" + a combining dot, so ``language="tr"``/``"az"`` applies the local rule first.
    """
    if language in ("tr", "az"):
        text = text.replace("I", "ı").replace("İ", "i")
    return text.casefold()


def remove_punctuation(text: str, keep: str = "<>") -> str:
    """Replace every Unicode punctuation character (categories P*) with a space, except those in ``keep``
    (by default the angle brackets of placeholders such as ``<URL>``)."""
    return "".join(" " if unicodedata.category(ch).startswith("P") and ch not in keep else ch for ch in text)


def normalize_whitespace(text: str) -> str:
    """Tidy white space without changing words.

    Removes invisible characters (zero-width spaces and joiners, soft hyphens, byte-order marks),
    turns ``\\r\\n`` and ``\\r`` into ``\\n``, collapses every other run of white space (tabs,
    non-breaking spaces, repeated spaces) into one space, trims the spaces around each line, keeps at
    most one empty line between paragraphs, and strips the ends.

    >>> normalize_whitespace("  Hello\\u00a0\\u00a0world \\r\\n\\r\\n\\r\\n\\tbye\\u200b!  ")
    'Hello world\\n\\nbye!'
    """
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
