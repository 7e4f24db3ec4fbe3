"""A bounded load test on loopback against a real uvicorn server: nothing lost, nothing answered wrongly."""

from __future__ import annotations

import pytest

from zero2hero.app.loadtest import LoadReport, run_load_test


def test_200_classifications_8_at_a_time(served: str) -> None:
    report = run_load_test(served, requests=200, concurrency=8, kind="classify")
    print(f"classify 200×8: p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms, "
          f"{report.throughput_per_s:.1f} requests/s")
    assert (report.lost, report.errors, report.wrong) == (0, 0, 0)
    assert len(report.latencies_ms) == 200 and 0 < report.p50_ms <= report.p95_ms <= report.p99_ms


def test_replies_within_the_generation_limit(served: str) -> None:
    report = run_load_test(served, requests=24, concurrency=2, kind="reply", max_new_tokens=12)
    print(f"reply 24×2: p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms")
    assert (report.lost, report.errors, report.wrong) == (0, 0, 0) and len(report.latencies_ms) == 24


def test_replies_beyond_the_limit_are_refused_not_lost(served: str) -> None:
    report = run_load_test(served, requests=24, concurrency=6, kind="reply", max_new_tokens=12)
    assert report.lost == 0 and report.wrong == 0  # each reply is whole and right, or a 429
    assert len(report.latencies_ms) == 24


def test_percentiles_are_nearest_rank() -> None:
    report = LoadReport("classify", 4, 1, 2.0, [40.0, 10.0, 30.0, 20.0], errors=1, lost=0, wrong=0)
    assert (report.p50_ms, report.p95_ms, report.percentile_ms(25)) == (20.0, 40.0, 10.0)
    assert report.throughput_per_s == pytest.approx(1.5)
    assert report.figures()["p95_latency_s"] == pytest.approx(0.04)


def test_a_wrong_answer_is_counted(transformers_desk) -> None:
    from zero2hero.app.background import serving
    from zero2hero.app.server import create_app

    class DriftingDesk:  # answers differently from the second time a text is classified
        def __init__(self) -> None:
            self.seen: set[str] = set()
            self.name, self.labels, self.limits = "drifting", transformers_desk.labels, transformers_desk.limits

        def health(self) -> dict:
            return transformers_desk.health()

        def classify(self, texts: list[str]) -> list[dict]:
            results = transformers_desk.classify(texts)
            for text, result in zip(texts, results, strict=True):
                if text in self.seen:
                    result["predicted"]["sentiment"] = "changed"
                self.seen.add(text)
            return results

    with serving(create_app(DriftingDesk(), transformers_desk.limits)) as base_url:
        report = run_load_test(base_url, requests=8, concurrency=2, kind="classify", texts=("a review",))
    assert report.wrong == 8 and report.lost == 0
