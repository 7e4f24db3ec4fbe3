"""Seeded partitions of records that keep each class's share: the sample of ``collect`` and the splits of ``split``."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

Record = dict[str, Any]


def stratified_partition(records: list[Record], shares: dict[str, float], seed: int, key: str = "sentiment"
                         ) -> tuple[list[Record], dict[str, list[Record]]]:
    """``(rest, {part: records})``: per class of ``record[key]`` (sorted), its records are shuffled with
    ``random.Random(seed)`` and each part takes ``round(share * class size)`` of them, in the order of ``shares``.
    Every part and the rest keep the input order."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for position, record in enumerate(records):
        by_class[str(record[key])].append(position)
    rng = random.Random(seed)
    owner: dict[int, str] = {}
    for name in sorted(by_class):
        positions = by_class[name]
        rng.shuffle(positions)
        start = 0
        for part, share in shares.items():
            count = round(share * len(positions))
            owner.update((position, part) for position in positions[start:start + count])
            start += count
    parts = {part: [r for i, r in enumerate(records) if owner.get(i) == part] for part in shares}
    return [r for i, r in enumerate(records) if i not in owner], parts


def stratified_sample(records: list[Record], count: int, seed: int, key: str = "sentiment") -> list[Record]:
    """About ``count`` records (each class in its share, rounded), seeded; all of them when ``count`` is not less."""
    if count >= len(records):
        return list(records)
    return stratified_partition(records, {"sample": count / len(records)}, seed, key)[1]["sample"]
