"""Stage collect: the raw reviews, ``data/raw.jsonl`` of ``{"id", "text", "sentiment"}``.

``data.source: fine-foods`` pools chapter 5's fine-food reviews, train and test (ids ``ff-train-000123``,
``ff-test-000123``: the pipeline makes its own splits); a path reads your CSV, TSV or JSONL file (the columns
``data.text_column`` and ``data.sentiment_column``; ids ``row-000123`` by position). ``data.max_reviews`` keeps a
seeded sample, stratified by sentiment.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from zero2hero.finetuning.data import LabelledData, load_fine_foods, load_labelled_file
from zero2hero.pipeline.config import FINE_FOODS
from zero2hero.pipeline.jsonl import write_records
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stratify import Record, stratified_sample

FINE_FOODS_LICENCE = "MIT (the modeldata R package, Debian r-cran-modeldata)"


def fine_foods_records(data: LabelledData) -> list[Record]:
    """Train and test pooled, each review with its split-and-position id and its label name."""
    return [{"id": f"ff-{part}-{i:06d}", "text": example.text, "sentiment": data.label_names[example.label]}
            for part, examples in (("train", data.train), ("test", data.test)) for i, example in enumerate(examples)]


def file_records(source: str, text_column: str, sentiment_column: str) -> list[Record]:
    """The reviews of your own file, ids by position (``row-000000`` is the first record)."""
    examples, names = load_labelled_file(source, text_column=text_column, label_column=sentiment_column)
    return [{"id": f"row-{i:06d}", "text": example.text, "sentiment": names[example.label]}
            for i, example in enumerate(examples)]


def run(ctx: StageContext) -> dict[str, Any]:
    data = ctx.params["data"]
    if data["source"] == FINE_FOODS:
        records, licence = fine_foods_records(load_fine_foods()), FINE_FOODS_LICENCE
    else:
        records, licence = file_records(data["source"], data["text_column"], data["sentiment_column"]), "your own"
    available = len(records)
    if data["max_reviews"] is not None:
        records = stratified_sample(records, data["max_reviews"], seed=int(ctx.params["seed"]))
    write_records(ctx.path("data/raw.jsonl"), records)
    ctx.progress(f"{len(records)} of {available} reviews from {data['source']}")
    return {"source": data["source"], "licence": licence, "available": available, "reviews": len(records),
            "by_sentiment": dict(sorted(Counter(r["sentiment"] for r in records).items()))}
