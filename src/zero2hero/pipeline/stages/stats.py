"""Stage stats (chapter 2): how many tokens a review is for each model's tokenizer, and how the labels spread.

The classifier reads the review alone, through its base's tokenizer (MiniLM's WordPiece by default, special tokens
included); the generator reads the whole training text, the chat prompt with the review and the reference reply,
through its base's tokenizer (SmolLM2's byte-level BPE). For each: mean, median, 95th percentile and maximum
token counts, and the share of texts longer than the stage's ``max_length`` (they are truncated in training).
Out: ``reports/stats.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from zero2hero.assets import load_tokenizer
from zero2hero.files import atomic_write_text
from zero2hero.pipeline.replies import training_text
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_records


def length_summary(lengths: list[int], max_length: int) -> dict[str, Any]:
    """Mean, median, p95 and max of the token counts, and the share above ``max_length``."""
    values = np.asarray(lengths, dtype=float)
    return {"mean": round(float(values.mean()), 2), "median": float(np.median(values)),
            "p95": round(float(np.percentile(values, 95)), 1), "max": int(values.max()), "max_length": max_length,
            "truncated_share": round(float((values > max_length).mean()), 4)}


def run(ctx: StageContext) -> dict[str, Any]:
    records = read_records(ctx.path("data/labelled.jsonl"))
    classifier, generator = ctx.params["classifier"], ctx.params["generator"]
    encoder_tokenizer = load_tokenizer(classifier["base"])
    classifier_lengths = [len(ids) for ids in encoder_tokenizer([r["text"] for r in records])["input_ids"]]
    chat_tokenizer = load_tokenizer(generator["base"])
    texts = ["".join(training_text(chat_tokenizer, r["text"], r["reply"])) for r in records]
    generator_lengths = [len(ids) for ids in chat_tokenizer(texts, add_special_tokens=False)["input_ids"]]
    stats = {
        "reviews": len(records),
        "classifier": {"base": classifier["base"], "tokenizer": type(encoder_tokenizer).__name__,
                       "vocabulary": len(encoder_tokenizer), "what": "the review, special tokens included",
                       **length_summary(classifier_lengths, classifier["max_length"])},
        "generator": {"base": generator["base"], "tokenizer": type(chat_tokenizer).__name__,
                      "vocabulary": len(chat_tokenizer), "what": "chat prompt + review + reference reply",
                      **length_summary(generator_lengths, generator["max_length"])},
        "labels": {key: dict(sorted(Counter(r[key] for r in records).items())) for key in ("sentiment", "topic")},
    }
    atomic_write_text(ctx.path("reports/stats.json"), json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    ctx.progress(f"tokens per review: classifier median {stats['classifier']['median']:g}, "
                 f"generator median {stats['generator']['median']:g}")
    return {"classifier_truncated_share": stats["classifier"]["truncated_share"],
            "generator_truncated_share": stats["generator"]["truncated_share"]}
