"""The bounds the review desk's web service enforces on every request (from ``bundle/serve.json``'s ``limits``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from zero2hero.errors import InputError


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 20_000  # one request's body, in bytes (a batch may be max_batch_items times this)
    max_review_chars: int = 4_000  # one review's text, in characters
    max_new_tokens: int = 96  # the longest reply a request may ask for, in tokens
    max_concurrent_generations: int = 2  # replies being generated at once; one more is refused (429)
    max_batch_items: int = 256  # reviews in one batch request

    def __post_init__(self) -> None:
        small = [f.name for f in fields(self) if not isinstance(getattr(self, f.name), int)
                 or isinstance(getattr(self, f.name), bool) or getattr(self, f.name) < 1]
        if small:
            raise InputError(f"serving limits must be whole numbers of at least 1: {', '.join(small)}",
                             "fix the serve section of the project config and run the package stage again")

    @property
    def max_batch_bytes(self) -> int:
        """The largest batch body accepted: a full request's worth of bytes per item."""
        return self.max_request_bytes * self.max_batch_items

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Limits:
        """Limits from a mapping such as serve.json's ``limits``; unknown keys are refused, missing ones default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown serving limit(s): {', '.join(unknown)}", f"use {', '.join(sorted(known))}")
        return cls(**values)
