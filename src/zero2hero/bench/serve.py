"""`z2h bench serve`: the review desk's /api/classify on loopback, 8 requests at a time against 1 at a time.

The subject is the served desk of the pipeline's workspace (``runs/project/review-desk``, else its ``-quick``
twin) when one exists; otherwise a stand-in of the same size: the shipped MiniLM under a new, untrained
two-class head (its answers are meaningless, its cost per review is the fine-tuned classifier's). The two
concurrency levels alternate over rounds, each keeping its best (:func:`zero2hero.measure.interleaved`), timed over
the loaded phase only; every answer under load is checked against the same request sent alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zero2hero.bench import BenchResult
from zero2hero.errors import InputError
from zero2hero.reporting import Table

DESCRIPTION = "review desk /api/classify on loopback: 8 concurrent requests vs 1, requests/s and p50/p95 latency"
WORKSPACES = (Path("runs/project/review-desk"), Path("runs/project/review-desk-quick"))
LEVELS = (8, 1)


@dataclass(frozen=True)
class Sizing:
    requests: int
    rounds: int


FULL = Sizing(requests=200, rounds=3)
QUICK = Sizing(requests=40, rounds=1)


class NoReplies:
    """The stand-in desk drafts no replies: this benchmark classifies only."""

    backend = "none"

    def pieces(self, review: str, max_new_tokens: int) -> Iterator[str]:
        raise InputError("the benchmark's stand-in desk drafts no replies", "serve a pipeline workspace instead")


def _desk() -> tuple[object, str]:
    """(desk, subject label): the first workspace with a bundle, else the MiniLM stand-in."""
    from zero2hero.app.desk import SERVE_FILE, ReviewDesk, load_desk
    from zero2hero.app.limits import Limits

    for workspace in WORKSPACES:
        if (workspace / SERVE_FILE).is_file():
            return load_desk(workspace, "transformers"), "workspace"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from zero2hero.assets import new_head_loading, resolve_model_path

    source = resolve_model_path("minilm")
    with new_head_loading():
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2, dtype="float32").eval()
    labels = {"sentiment": ["great", "other"]}
    desk = ReviewDesk(name="minilm-stand-in", workspace=Path(source), labels=labels,
                      classifiers={"sentiment": (model, AutoTokenizer.from_pretrained(source))}, max_length=128,
                      generator=NoReplies(), limits=Limits())
    return desk, "minilm_stand_in"


def run(quick: bool = False) -> BenchResult:
    from zero2hero.app.background import serving
    from zero2hero.app.loadtest import run_load_test
    from zero2hero.app.server import create_app
    from zero2hero.measure import interleaved

    sizing = QUICK if quick else FULL
    desk, subject = _desk()
    with serving(create_app(desk, desk.limits)) as base_url:
        timings = interleaved({level: (lambda level=level: run_load_test(base_url, sizing.requests, level))
                               for level in LEVELS}, rounds=sizing.rounds, own_time=lambda report: report.seconds)
    rows = []
    for level in LEVELS:
        report = timings[level].result
        rows.append({"concurrency_count": level, "throughput_requests_per_s": sizing.requests / timings[level].best_s,
                     "p50_latency_s": report.p50_ms / 1000, "p95_latency_s": report.p95_ms / 1000,
                     "p99_latency_s": report.p99_ms / 1000, "errors_count": report.errors, "lost_count": report.lost,
                     "wrong_count": report.wrong})
    concurrent, alone = rows
    figures = {"subject": subject, "requests_count": sizing.requests, "rounds_count": sizing.rounds, "levels": rows,
               "speedup_8_concurrent_over_1_ratio": concurrent["throughput_requests_per_s"]
               / alone["throughput_requests_per_s"],
               "answers_identical": all(r["errors_count"] + r["lost_count"] + r["wrong_count"] == 0 for r in rows)}
    table = Table(f"/api/classify, {sizing.requests} requests per level on loopback ({subject}); best of "
                  f"{sizing.rounds} alternating rounds",
                  ["concurrent", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "lost", "wrong"],
                  [[r["concurrency_count"], round(r["throughput_requests_per_s"], 1),
                    round(r["p50_latency_s"] * 1000, 1), round(r["p95_latency_s"] * 1000, 1),
                    round(r["p99_latency_s"] * 1000, 1), r["errors_count"], r["lost_count"], r["wrong_count"]]
                   for r in rows])
    notes = [f"8 requests at a time answer {figures['speedup_8_concurrent_over_1_ratio']:.2f}× as many per second as "
             "one at a time.",
             "every answer under load equalled the same request sent alone." if figures["answers_identical"] else
             "SOME answers under load were lost, failed or differed from the same request sent alone."]
    if subject == "minilm_stand_in":
        notes.append("no pipeline workspace found (run `z2h project run`): measured on MiniLM under an untrained "
                     "head, the served classifier's size.")
    return BenchResult("serve", figures, [table], notes)
