"""Sentiment items and few-shot examples from chapter 5's fine-food reviews.

Provenance: the Amazon fine-food reviews (Stanford SNAP web-FineFoods) as the R package ``modeldata`` ships them (MIT
licence; Debian's ``r-cran-modeldata``), installed by ``make setup`` — see :mod:`zero2hero.finetuning.data`: 4,000
training and 1,000 test reviews, labelled ``great`` (5 stars) or ``other`` (1-4 stars). The few-shot pool is a
stratified sample of the training reviews; the items are a stratified sample of the rest of the training reviews
(split ``dev``, for trying prompts out) or of the official test reviews (split ``test``, measured once), never a text
that is also in the pool. Texts lose their HTML tags and repeated white space and are cut at a word boundary to at
most ``max_chars`` characters (ending in "…"), so that long reviews do not crowd out the instruction.
"""

from __future__ import annotations

from typing import Literal

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example, load_fine_foods
from zero2hero.finetuning.splits import stratified_subset
from zero2hero.prompting.promptset import Item, Shot
from zero2hero.prompting.tasks.generated import GeneratedSet
from zero2hero.text.normalize import strip_html

Split = Literal["dev", "test"]


def truncate_at_word(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its longest prefix ending at a word boundary that
    fits with a final "…" (a single over-long word is cut inside)."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]  # the "…" replaces the character after the cut
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut[:-1]).rstrip() + "…"


def clean_review(text: str, max_chars: int) -> str:
    """A review as one line of visible text: HTML tags dropped, white space collapsed, then truncated."""
    return truncate_at_word(" ".join(strip_html(text).split()), max_chars)


def _unique(examples: list[Example]) -> list[tuple[int, Example]]:
    """(position, example) for the first of each text."""
    seen: set[str] = set()
    kept = []
    for position, example in enumerate(examples):
        if example.text not in seen:
            seen.add(example.text)
            kept.append((position, example))
    return kept


def generate_set(split: Split = "test", items: int = 150, pool: int = 32, max_chars: int = 600,
                 seed: int = 0) -> GeneratedSet:
    """About ``items`` reviews of ``split`` and about ``pool`` training reviews as worked examples, both stratified.

    The variable is ``review``; references and answers are chapter 5's label names (``great``/``other``). Item ids
    are ``<split>-<position in chapter 5's file>`` (``dev`` items come from the training file).
    """
    if split not in ("dev", "test"):
        raise InputError(f"split {split!r} is not dev or test",
                         "dev: training reviews not in the pool, to try prompts on; test: the official test reviews")
    for what, value, minimum in (("items", items, 1), ("pool", pool, 0), ("max_chars", max_chars, 20)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(f"{what} is {value!r}", f"give a whole number of at least {minimum}")
    data = load_fine_foods()
    train = _unique(data.train)
    pool_examples = stratified_subset([e for _, e in train], pool, seed) if pool else []
    pool_texts = {e.text for e in pool_examples}
    candidates = [(i, e) for i, e in (train if split == "dev" else _unique(data.test)) if e.text not in pool_texts]
    chosen = set(stratified_subset([e for _, e in candidates], items, seed + 1))
    names = data.label_names
    return GeneratedSet(
        items=[Item(f"{split}-{i}", {"review": clean_review(e.text, max_chars)}, names[e.label])
               for i, e in candidates if e in chosen],
        pool=[Shot({"review": clean_review(e.text, max_chars)}, names[e.label]) for e in pool_examples],
    )
