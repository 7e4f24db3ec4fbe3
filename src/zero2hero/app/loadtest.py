"""A bounded load test on loopback: N requests, C at a time, each answer checked against the same request alone.

The service is deterministic (greedy replies, fixed classifiers), so under load every answer must equal the answer
the same request got when it was sent alone beforehand. A request is *lost* when no answer came back (a connection
error or a time-out), an *error* when the status is not 200, *wrong* when the answer differs from its reference.
Latency is from sending the request to having the whole answer (for a reply: the ``done`` event).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from zero2hero.errors import InputError

KINDS = ("classify", "reply")
DEFAULT_TEXTS = (
    "The tea arrived quickly and tastes wonderful, I will order again.",
    "Stale biscuits, and the box came crushed. Very disappointed.",
    "Fair price for good coffee, though the bag was smaller than I thought.",
    "My dog loves these treats but the delivery took two weeks.",
)


@dataclass
class LoadReport:
    kind: str
    requests: int
    concurrency: int
    seconds: float  # wall time of the loaded phase
    latencies_ms: list[float] = field(repr=False)  # one per answered request
    errors: int  # answered with a status other than 200
    lost: int  # no answer at all
    wrong: int  # answered 200, but not what the same request got alone

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0 < q <= 100) of the latencies (nearest rank); 0 when nothing was answered."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]  # the smallest covering q % of them

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def throughput_per_s(self) -> float:
        """Requests answered with 200 per second of the loaded phase."""
        return (len(self.latencies_ms) - self.errors) / self.seconds if self.seconds > 0 else 0.0

    def figures(self) -> dict[str, Any]:
        """The report as unit-named figures (see :mod:`zero2hero.units`)."""
        return {"kind": self.kind, "requests_count": self.requests, "concurrency_count": self.concurrency,
                "p50_latency_s": self.p50_ms / 1000, "p95_latency_s": self.p95_ms / 1000,
                "p99_latency_s": self.p99_ms / 1000, "mean_latency_s": statistics.fmean(self.latencies_ms) / 1000
                if self.latencies_ms else 0.0, "throughput_requests_per_s": self.throughput_per_s,
                "errors_count": self.errors, "lost_count": self.lost, "wrong_count": self.wrong}


async def _ask(client: Any, kind: str, text: str, max_new_tokens: int) -> tuple[int, Any]:
    """(status, answer): the JSON of a classification, or the (pieces, done event) of a reply."""
    if kind == "classify":
        response = await client.post("/api/classify", json={"text": text})
        return response.status_code, response.json()
    payload = {"text": text, "max_new_tokens": max_new_tokens}
    async with client.stream("POST", "/api/reply", json=payload) as response:
        body = (await response.aread()).decode("utf-8")
    if response.status_code != 200:
        return response.status_code, json.loads(body)
    events = [block for block in body.split("\n\n") if block]
    return 200, events


async def _run(base_url: str, requests: int, concurrency: int, kind: str, texts: tuple[str, ...],
               max_new_tokens: int, timeout_s: float) -> LoadReport:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:
        reference = {}
        for text in texts:  # each distinct request alone, one after the other
            status, answer = await _ask(client, kind, text, max_new_tokens)
            if status != 200:
                raise InputError(f"the reference {kind} request failed with {status}: {answer}",
                                 "check the server alone before loading it")
            reference[text] = answer
        gate = asyncio.Semaphore(concurrency)
        latencies, outcome = [], {"errors": 0, "lost": 0, "wrong": 0}

        async def one(i: int) -> None:
            text = texts[i % len(texts)]
            async with gate:
                start = time.perf_counter()
                try:
                    status, answer = await _ask(client, kind, text, max_new_tokens)
                except httpx.HTTPError:
                    outcome["lost"] += 1
                    return
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    outcome["errors"] += 1
                elif answer != reference[text]:
                    outcome["wrong"] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        seconds = time.perf_counter() - start
    return LoadReport(kind, requests, concurrency, seconds, latencies, **outcome)


def run_load_test(base_url: str, requests: int = 200, concurrency: int = 8, kind: str = "classify",
                  texts: tuple[str, ...] = DEFAULT_TEXTS, max_new_tokens: int = 16,
                  timeout_s: float = 60.0) -> LoadReport:
    """Send ``requests`` requests of ``kind`` ("classify" or "reply"), ``concurrency`` at a time, cycling through
    ``texts``, to the review desk at ``base_url``; return what came back (see :class:`LoadReport`)."""
    if kind not in KINDS:
        raise InputError(f"unknown load test kind {kind!r}", f"choose {' or '.join(KINDS)}")
    if requests < 1 or concurrency < 1 or not texts:
        raise InputError("requests and concurrency must be at least 1, with at least one text",
                         f"got {requests} requests, {concurrency} at a time, {len(texts)} texts")
    return asyncio.run(_run(base_url, requests, concurrency, kind, tuple(texts), max_new_tokens, timeout_s))
