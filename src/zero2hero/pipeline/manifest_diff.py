"""Why two runs differ: the changed entries of two manifests, as dotted paths with their before and after values.

Nested dicts are flattened (``config.classifier.rank``); lists and other values are compared whole. A key on one
side only shows :data:`ABSENT` on the other. Keys that change on every run (times, statuses) are skipped by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ABSENT = "<absent>"
VOLATILE_KEYS = frozenset({"started_at", "seconds", "finished_at", "status"})


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any


def _flatten(value: dict[str, Any], prefix: str, ignore: frozenset[str]) -> dict[str, Any]:
    """``{dotted path: leaf}`` of a nested dict; a non-dict or an empty dict is a leaf; ignored keys are skipped."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if key in ignore:
            continue
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, f"{path}.", ignore))
        else:
            flat[path] = item
    return flat


def diff_manifests(before: dict[str, Any], after: dict[str, Any],
                   ignore: frozenset[str] = VOLATILE_KEYS) -> list[Change]:
    """What differs between two run manifests, as one :class:`Change` per differing value, sorted by path.

    Both manifests are flattened first: the values inside nested dicts get paths of their keys joined by dots
    (``"config.classifier.rank"``); a value that is not a dict (a number, a string, a list) or is an empty dict is a
    leaf, compared whole. Then every path of either side is compared: a path on one side only gives a change whose
    other side is ``ABSENT``. A key in ``ignore`` (by its own name, at any depth: ``"seconds"``, ``"started_at"`` …)
    is skipped with everything under it — those values change on every run and explain nothing.

    >>> diff_manifests({"config": {"rank": 8}, "seconds": 3.1}, {"config": {"rank": 16}, "seconds": 2.9})
    [Change(path='config.rank', before=8, after=16)]
    """
    # 1. Flatten each side to {dotted path: leaf value}, leaving out ignored keys and what is under them.
    flat_before, flat_after = _flatten(before, "", ignore), _flatten(after, "", ignore)
    changes = []
    # 2. Walk the union of both sides' paths in sorted order; a path missing on one side is ABSENT there.
    for path in sorted(flat_before.keys() | flat_after.keys()):
        old, new = flat_before.get(path, ABSENT), flat_after.get(path, ABSENT)
        # 3. Equal values explain nothing; a differing one is a change.
        if old != new:
            changes.append(Change(path, old, new))
    return changes


def explain(changes: list[Change]) -> list[str]:
    """One line per change: ``config.classifier.rank: 8 -> 16``."""
    return [f"{change.path}: {change.before} -> {change.after}" for change in changes]
