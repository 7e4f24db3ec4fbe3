"""Measuring helpers shared by benchmarks and labs: best-of-N wall time and peak resident memory."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_time(fn: Callable[[], T], repeats: int = 3) -> tuple[float, T]:
    """The smallest wall time of ``repeats`` calls (least disturbed by other load) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result  # type: ignore[return-value]


class PeakRSS:
    """Context manager sampling this process's resident memory; ``peak_mb`` is the highest seen.

    ``delta_mb`` is the peak above the level at entry — what the measured block added.
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.start_mb = self.peak_mb = 0.0

    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / 1e6

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss_mb())
            time.sleep(self._interval)

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.start_mb = self.peak_mb = self._rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())

    @property
    def delta_mb(self) -> float:
        return self.peak_mb - self.start_mb
