"""Measuring time and memory the same way everywhere: labs and benchmarks use only this module.

* :class:`Stopwatch` — wall-clock seconds of a block;
* :func:`best_of` — the least disturbed of N runs of one thing;
* :func:`interleaved` — two or more things measured in alternation over rounds, each keeping its best,
  so that a busy moment of a shared machine slows one round of every candidate instead of deciding a ratio;
* :class:`PeakMemory` — the peak resident memory of this process (and, optionally, its children) while a
  block runs.

Best-of rather than mean: on a machine shared with other work, noise only ever adds time, so the fastest
run is the closest to what the code costs.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Stopwatch:
    """Wall-clock seconds since creation (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


@dataclass
class Timing(Generic[T]):
    """The best (smallest) wall time of several runs, every run's time, and the fastest run's result."""

    best_s: float
    runs_s: list[float]
    result: T


def best_of(fn: Callable[[], T], repeats: int = 3) -> Timing[T]:
    """Run ``fn`` ``repeats`` times (garbage collected before each) and keep the fastest time."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    return interleaved({"only": fn}, rounds=repeats)["only"]


def interleaved(candidates: Mapping[str, Callable[[], Any]], rounds: int = 3,
                own_time: Callable[[Any], float] | None = None) -> dict[str, Timing]:
    """Time every candidate once per round, in alternation (A, B, A, B, ...); each keeps its best round.

    Returns candidate name -> :class:`Timing` in the order given. A ratio of two ``best_s`` is what a
    benchmark reports: both sides had the same chances to run on a quiet machine. ``own_time`` reads the
    seconds from a candidate's result instead of the stopwatch — for a candidate that times itself, e.g.
    in a child process whose start-up should not count.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    runs: dict[str, list[float]] = {name: [] for name in candidates}
    best: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            watch = Stopwatch()
            result = fn()
            seconds = own_time(result) if own_time else watch.seconds
            if not runs[name] or seconds < min(runs[name]):
                best[name] = result
            runs[name].append(seconds)
    return {name: Timing(min(runs[name]), runs[name], best[name]) for name in candidates}


@dataclass
class PeakMemory:
    """Context manager sampling resident memory (RSS) every few milliseconds while its block runs.

    ``peak_mb`` is the highest RSS seen (MB = 10⁶ bytes), ``start_mb`` the RSS at entry, and ``added_mb``
    their difference: what the block added on top of what the process already held. With
    ``children=True`` the RSS of child processes (e.g. ``torchrun`` workers) is added to this process's.
    """

    children: bool = False
    interval_s: float = 0.005
    start_mb: float = 0.0
    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def _rss_mb(self) -> float:
        import psutil

        process = psutil.Process()
        total = process.memory_info().rss
        if self.children:
            for child in process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # the child ended between listing and reading
                    continue
        return total / 1e6

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, self._rss_mb())

    def __enter__(self) -> PeakMemory:
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
    def added_mb(self) -> float:
        return self.peak_mb - self.start_mb


def copy_bandwidth_gb_per_s(mb: int = 256, repeats: int = 3) -> float:
    """Bytes read + written per second by a large array copy: the memory bandwidth this machine reaches."""
    import torch

    src = torch.ones(mb * 2**20 // 4)
    dst = torch.empty_like(src)
    timing = best_of(lambda: dst.copy_(src), repeats)
    return 2 * src.numel() * 4 / timing.best_s / 1e9


def make_resident(module: Any) -> None:
    """Read every parameter and buffer of ``module`` (a torch ``nn.Module``) once, before a memory measurement.

    transformers maps a safetensors weight file into memory: its pages become resident only when first read, so
    without this the first training step would count the model's own weights as memory "added" by training.
    """
    import torch

    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.sum()
