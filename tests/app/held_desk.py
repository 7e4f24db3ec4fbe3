"""A desk for tests of streaming and of the generation limit: the tiny desk's labels, and replies that write their
first piece, then wait until the test releases the second."""

from __future__ import annotations

import threading
from collections.abc import Iterator


class HeldDesk:
    """The tiny desk, but each reply writes ``first``, then waits (up to 30 s) for ``release`` before ``second``."""

    def __init__(self, desk, first: str = "Thank you", second: str = " for your review.") -> None:
        self.desk, self.first, self.second, self.release = desk, first, second, threading.Event()
        self.name, self.labels, self.limits = desk.name, desk.labels, desk.limits

    def health(self) -> dict:
        return self.desk.health()

    def classify(self, texts: list[str]) -> list[dict]:
        return self.desk.classify(texts)

    def reply_pieces(self, text: str, max_new_tokens: int) -> Iterator[str]:
        yield self.first
        self.release.wait(timeout=30)
        yield self.second
