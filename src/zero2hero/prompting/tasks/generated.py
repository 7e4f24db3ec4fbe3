"""What a task generator returns: the items of a prompt set, its few-shot pool and, for JSON tasks, the schema."""

from __future__ import annotations

from dataclasses import dataclass

from zero2hero.prompting.promptset import Item, Shot


@dataclass
class GeneratedSet:
    items: list[Item]
    pool: list[Shot]  # disjoint from the items
    schema: dict | None = None  # kind "json": the JSON Schema every answer must meet
