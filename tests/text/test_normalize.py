from __future__ import annotations

import pytest

from zero2hero.errors import InputError
from zero2hero.text import normalize as n
from zero2hero.text.samples import raw_article


def test_nfkc_folds_ligatures_and_full_width_digits() -> None:
    assert n.normalize_unicode("ﬁre １２,０４３ ①") == "fire 12,043 1"
    assert n.normalize_unicode("ﬁre", "NFC") == "ﬁre", "NFC composes but keeps compatibility characters"
    with pytest.raises(InputError, match="normal form"):
        n.normalize_unicode("x", "NFX")


def test_strip_html_keeps_visible_text_only() -> None:
    page = ("<html><head><title>T</title><script>var x = '<p>no</p>';</script></head><body><nav>Home</nav>"
            "<!-- hidden --><p>Tom &amp; Jerry&#8217;s <b>bold</b> move</p><footer>©</footer></body></html>")
    out = n.strip_html(page)
    assert "Tom & Jerry’s bold move" in out
    for hidden in ("var x", "Home", "hidden", "©", "<"):
        assert hidden not in out


def test_placeholders_for_urls_emails_numbers_and_emoji() -> None:
    text = "See https://example.org/a?b=1&c=2. Mail a.b+c@example.co.uk! 12,043 items, 31% on 03/11/2024 👍🏽❤️ FL00D"
    out = n.replace_numbers(n.replace_emoji(n.replace_emails(n.replace_urls(text))))
    assert "<URL>." in out, "the sentence's full stop is not part of the URL"
    assert "<EMAIL>!" in out
    assert out.count("<NUM>") == 3
    assert out.count("<EMOJI>") == 1, "a skin-tone modifier and a variation selector belong to their emoji"
    assert "FL00D" in out, "digits glued to letters are part of a word"


def test_lowercase_turkish_dotted_and_dotless_i() -> None:
    assert n.lowercase("İSTANBUL KIŞ", "tr") == "istanbul kış"
    generic = n.lowercase("İSTANBUL KIŞ")
    assert generic == "i̇stanbul kiş", "the generic rule adds a combining dot and loses the dotless ı"
    assert n.lowercase("Straße") == "strasse", "casefold, not lower"


def test_remove_punctuation_keeps_placeholders_and_symbols() -> None:
    assert n.remove_punctuation("“Hi,” <NUM> £5!").split() == ["Hi", "<NUM>", "£5"]


def test_join_hyphenated_lines_only_at_line_ends() -> None:
    assert n.join_hyphenated_lines("hyphen-\nated and well-known") == "hyphenated and well-known"


def test_default_pipeline_on_the_article() -> None:
    from zero2hero.text import default_pipeline

    cleaned, changes = default_pipeline().trace(raw_article())
    assert [c.step for c in changes][0] == "strip HTML"
    assert all(c.edits > 0 for c in changes), "every step has something to do on the messy article"
    assert cleaned == default_pipeline().clean(raw_article())
    assert "<url>" in cleaned and "<email>" in cleaned and "http" not in cleaned
    assert cleaned == cleaned.lower() and "  " not in cleaned and "fernandez" in cleaned
