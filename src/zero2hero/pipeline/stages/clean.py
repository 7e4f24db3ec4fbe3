"""Stage clean: chapter 1's cleaning, then the reviews too short, too long or repeated are dropped.

Each text is brought to Unicode NFKC, its HTML removed (the fine-food reviews hold ``<br />`` tags) and its white
space tidied. A review is then dropped when it is shorter than ``clean.min_chars`` or longer than
``clean.max_chars`` characters, when it repeats an earlier kept review exactly (same words, case and spacing
aside), or nearly (word 3-gram Jaccard similarity of at least ``clean.near_duplicate_threshold``, chapter 5's
duplicate finder). The counts of each drop are the stage's details.
"""

from __future__ import annotations

from typing import Any

from zero2hero.finetuning.splits import normalise, similar_pairs, word_shingles
from zero2hero.pipeline.jsonl import write_records
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_records
from zero2hero.pipeline.stratify import Record
from zero2hero.text import normalize_unicode, normalize_whitespace, strip_html

DROP_REASONS = ("empty", "too_short", "too_long", "exact_duplicate", "near_duplicate")


def clean_text(text: str) -> str:
    """NFKC, HTML tags and entities removed, white space tidied (chapter 1)."""
    return normalize_whitespace(strip_html(normalize_unicode(text)))


def clean_records(records: list[Record], min_chars: int, max_chars: int, threshold: float
                  ) -> tuple[list[Record], dict[str, int]]:
    """The kept records (text cleaned, input order) and the number dropped for each of :data:`DROP_REASONS`."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    sized = []
    for record in records:
        text = clean_text(record["text"])
        reason = "empty" if not text else "too_short" if len(text) < min_chars else \
            "too_long" if len(text) > max_chars else None
        if reason:
            dropped[reason] += 1
        else:
            sized.append({**record, "text": text})
    unique, seen = [], set()
    for record in sized:
        key = normalise(record["text"])
        if key in seen:
            dropped["exact_duplicate"] += 1
        else:
            seen.add(key)
            unique.append(record)
    repeats: set[int] = set()
    for i, j, _ in sorted(similar_pairs([word_shingles(r["text"]) for r in unique], threshold),
                          key=lambda pair: (pair[1], pair[0])):
        if i not in repeats:  # j repeats a review that is kept
            repeats.add(j)
    dropped["near_duplicate"] = len(repeats)
    return [r for j, r in enumerate(unique) if j not in repeats], dropped


def run(ctx: StageContext) -> dict[str, Any]:
    settings = ctx.params["clean"]
    records = read_records(ctx.path("data/raw.jsonl"))
    kept, dropped = clean_records(records, settings["min_chars"], settings["max_chars"],
                                  settings["near_duplicate_threshold"])
    write_records(ctx.path("data/clean.jsonl"), kept)
    ctx.progress(f"kept {len(kept)} of {len(records)} reviews; dropped {dropped}")
    return {"reviews_in": len(records), "kept": len(kept), "dropped": dropped,
            "steps": ["unicode NFKC", "HTML stripped", "white space tidied", "length bounds",
                      "exact duplicates", "near duplicates"]}
