"""Texts the chapter ships: a messy article written for zero2hero, and one sentence in several languages."""

from __future__ import annotations

from importlib.resources import files

# The same sentence ("The library is scanning old newspapers so that everyone can search them"),
# written to show where an English-shaped pipeline breaks: compounds (de), dotted/dotless i (tr), no
# spaces between words (zh, ja), vowel marks that carry meaning (ar), elision and accents (fr).
PARALLEL_SENTENCES: dict[str, str] = {
    "en": "The library is scanning OLD newspapers so that everyone can search them.",
    "fr": "La bibliothèque numérise les VIEUX journaux afin que l'on puisse y faire des recherches.",
    "de": "Das Zeitungsdigitalisierungsprojekt der Stadtbibliothek macht ALTE Zeitungen für alle durchsuchbar.",
    "tr": "İstanbul'daki kütüphane ESKİ GAZETELERİ TARIYOR, böylece herkes onlarda arama yapabilir.",
    "ar": "تَقُومُ الْمَكْتَبَةُ بِمَسْحِ الصُّحُفِ الْقَدِيمَةِ حَتَّى يَتَمَكَّنَ الْجَمِيعُ مِنَ الْبَحْثِ فِيهَا.",
    "zh": "图书馆正在扫描旧报纸，以便每个人都可以搜索。",
    "ja": "図書館は古い新聞をスキャンしているので、誰でも検索できます。",
}


def raw_article() -> str:
    """The chapter's practice corpus: a short local-news web page with markup, entities, odd Unicode,
    URLs, e-mails, numbers, emoji and mixed case (written for zero2hero; free to reuse)."""
    return (files("zero2hero") / "data" / "raw_article.html").read_text(encoding="utf-8")
