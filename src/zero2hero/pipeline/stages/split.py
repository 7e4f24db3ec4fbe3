"""Stage split: train, dev and test, stratified by sentiment and seeded (``split.dev_share``, ``split.test_share``).

Out: ``data/splits/{train,dev,test}.jsonl``, each keeping the order of ``data/labelled.jsonl``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from zero2hero.errors import InputError
from zero2hero.pipeline.jsonl import records_text
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_records, replaced_dir
from zero2hero.pipeline.stratify import Record, stratified_partition


def split_records(records: list[Record], dev_share: float, test_share: float, seed: int) -> dict[str, list[Record]]:
    """``{"train", "dev", "test"}``: per sentiment, a seeded shuffle gives dev and test their shares, train the rest."""
    train, parts = stratified_partition(records, {"dev": dev_share, "test": test_share}, seed)
    splits = {"train": train, **parts}
    empty = [name for name, part in splits.items() if not part]
    if empty:
        raise InputError(f"{len(records)} reviews leave the {' and '.join(empty)} split empty",
                         "use more reviews (data.max_reviews) or larger split.dev_share / split.test_share")
    return splits


def run(ctx: StageContext) -> dict[str, Any]:
    records = read_records(ctx.path("data/labelled.jsonl"))
    settings = ctx.params["split"]
    splits = split_records(records, settings["dev_share"], settings["test_share"], int(ctx.params["seed"]))
    with replaced_dir(ctx.path("data/splits")) as folder:
        for name, part in splits.items():
            (folder / f"{name}.jsonl").write_text(records_text(part), encoding="utf-8")
    ctx.progress(", ".join(f"{name} {len(part)}" for name, part in splits.items()))
    return {"sizes": {name: len(part) for name, part in splits.items()},
            "by_sentiment": {name: dict(sorted(Counter(r["sentiment"] for r in part).items()))
                             for name, part in splits.items()},
            "by_topic": {name: dict(sorted(Counter(r["topic"] for r in part).items()))
                         for name, part in splits.items()}}
