"""Lab 9's steps: each runs one part of the review desk's life and returns the report section that shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zero2hero.reporting import Figure, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.labs.ch09_end_to_end_app import Config
    from zero2hero.pipeline.driver import ProjectRun

REVIEW_CHARS = 600  # load-test reviews are cut to this many characters (the limit is max_review_chars)
SCREENSHOT_REVIEW = ("The tea arrived quickly and the tin was sealed, but the flavour is weak and it tastes stale. "
                     "For this price I expected much better.")
SUMMARY_ROWS = [  # (what, fine-tuned key, prompting key, majority key) in reports/eval.json's summary
    ("sentiment accuracy", "sentiment_accuracy", "sentiment_accuracy_prompting", "sentiment_accuracy_majority"),
    ("sentiment macro-F1", "sentiment_macro_f1", "sentiment_macro_f1_prompting", "sentiment_macro_f1_majority"),
    ("topic accuracy", "topic_accuracy", "topic_accuracy_prompting", "topic_accuracy_majority"),
    ("topic macro-F1", "topic_macro_f1", "topic_macro_f1_prompting", "topic_macro_f1_majority"),
    ("reply token F1 vs reference", "reply_token_f1", "reply_token_f1_prompting", None),
    ("reply tone right", "reply_tone_share", "reply_tone_share_prompting", None),
    ("reply addresses the topic", "reply_topic_share", "reply_topic_share_prompting", None),
    ("reply within 3 sentences", "reply_length_share", "reply_length_share_prompting", None),
]


class DeskSteps:
    """The lab's steps over one workspace; the first run's manifest is kept to diff the third run against."""

    def __init__(self, config: Config, ctx: RunContext, workspace: Path) -> None:
        self.config, self.ctx, self.workspace = config, ctx, workspace
        self.first_manifest: dict[str, Any] = {}
        self._desk: Any = None  # the served desk, loaded once for the load test and the screenshot

    def _run(self, overrides: list[str]) -> ProjectRun:
        from zero2hero.pipeline.config import load_config
        from zero2hero.pipeline.driver import run_project

        config = load_config(self.config.config_file or None, quick=self.config.quick, overrides=overrides)
        return run_project(config, self.workspace, progress=lambda line: None)

    def desk(self) -> Any:
        """The workspace's review desk (zero2hero.app), loaded on first use with the configured backend."""
        from zero2hero.app.desk import load_desk

        if self._desk is None:
            self._desk = load_desk(self.workspace, self.config.backend)
        return self._desk

    def first_run(self) -> Section:
        run = self._run([])
        self.first_manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
        section = _stage_section(run, "the pipeline from scratch")
        section.metric("pipeline_s", run.seconds, "the whole first run, DVC's own checks included")
        section.figures.append(_stage_figure(self.ctx, run))
        where = f"`{self.config.workspace}`" if self.config.workspace else "`workspace/` in this run's folder"
        section.notes.append(f"The workspace is {where}: `dvc.yaml`, `params.yaml`, `dvc.lock`, the data, models and "
                             "reports, `manifest.json` and the cards in `docs/` (`z2h serve` serves it).")
        return section

    def unchanged_run(self) -> Section:
        run = self._run([])
        section = _stage_section(run, "the same config again")
        section.metric("cached_rerun_s", run.seconds, "a second run with nothing changed")
        section.metric("stages_rerun_count", sum(row.status == "ran" for row in run.rows),
                       "stages the unchanged second run executed (0: all cached)")
        return section

    def changed_run(self) -> Section:
        from zero2hero.pipeline.manifest_diff import diff_manifests, explain

        run = self._run([self.config.changed_setting])
        section = _stage_section(run, f"with {self.config.changed_setting}")
        section.metric("changed_rerun_s", run.seconds, f"the run with {self.config.changed_setting}")
        after = json.loads(run.manifest.read_text(encoding="utf-8"))
        lines = explain(diff_manifests(self.first_manifest, after))
        section.tables.append(Table("Why the two runs differ: the manifest diff (first run -> this run)", ["change"],
                                    [[line] for line in lines] or [["(no difference)"]],
                                    "Timings and statuses are left out: they change on every run and explain "
                                    "nothing (`z2h project diff A B`)."))
        return section

    def evaluation(self) -> Section:
        report = json.loads((self.workspace / "reports" / "eval.json").read_text(encoding="utf-8"))
        summary = report["summary"]
        section = Section()
        rows = []
        for what, tuned, prompting, majority in SUMMARY_ROWS:
            if tuned not in summary:
                continue
            rows.append([what, _share(summary.get(tuned)), _share(summary.get(prompting)),
                         _share(summary.get(majority)) if majority else ""])
            section.metric(with_unit(tuned), summary[tuned], what)
        section.tables.append(Table("Held-out test reviews: fine-tuned (LoRA) against prompting alone",
                                    ["measure", "fine-tuned", "prompting alone", "majority class"], rows,
                                    "Prompting alone: SmolLM2-135M-Instruct with the same instruction, no training "
                                    "(labels by label-word log-probabilities, replies greedy). Every reply side by "
                                    "side: `reports/replies.md` in the workspace."))
        return section

    def load_test(self) -> Section:
        from zero2hero.app.background import serving
        from zero2hero.app.loadtest import run_load_test
        from zero2hero.app.server import create_app

        desk = self.desk()
        limits = desk.limits
        texts = held_out_reviews(self.workspace, 8)
        with serving(create_app(desk, limits)) as url:
            classify = run_load_test(url, self.config.classify_requests, self.config.classify_concurrency,
                                     "classify", texts)
            replies = run_load_test(url, self.config.reply_requests, limits.max_concurrent_generations, "reply",
                                    texts, max_new_tokens=self.config.reply_max_new_tokens, timeout_s=300.0)
        section = Section()
        rows = []
        for report in (classify, replies):
            figures = report.figures()
            rows.append([report.kind, report.requests, report.concurrency, f"{report.p50_ms:.0f}",
                         f"{report.p95_ms:.0f}", f"{report.throughput_per_s:.2f}", report.errors, report.lost,
                         report.wrong])
            for name in ("p50_latency_s", "p95_latency_s", "throughput_requests_per_s", "lost_count", "wrong_count"):
                section.metric(f"{report.kind}_{name}", figures[name], f"{report.kind} load test")
        section.tables.append(Table(f"Load test on loopback ({desk.health()['backend']} replies)",
                                    ["endpoint", "requests", "at once", "p50 ms", "p95 ms", "requests/s", "errors",
                                     "lost", "wrong"], rows,
                                    "Wrong: an answer that differs from the same request's answer measured alone "
                                    "first (the service is deterministic: greedy replies). Replies are limited to "
                                    f"{limits.max_concurrent_generations} at once by the server, so that many are "
                                    "sent at once."))
        section.figures.append(_latency_figure(self.ctx, classify, replies))
        return section

    def screenshot(self) -> Section:
        from zero2hero.app.background import serving
        from zero2hero.app.screenshot import page_screenshot
        from zero2hero.app.server import create_app
        from zero2hero.errors import AssetMissingError

        section = Section()
        if not self.config.screenshot:
            section.notes.append("The screenshot was switched off (`--screenshot false`).")
            return section
        desk = self.desk()
        try:
            with serving(create_app(desk, desk.limits)) as url:
                shown = page_screenshot(url, self.ctx.out_dir / "app_page.png", SCREENSHOT_REVIEW)
        except AssetMissingError as err:
            section.notes.append(f"No screenshot: {err} ({err.hint}).")
            return section
        section.figures.append(Figure("The review desk's page in Chromium, after one review", "app_page.png",
                                      f"Labels: {json.dumps(shown.get('labels'))}. The reply streamed in "
                                      f"{shown.get('pieces')} pieces."))
        return section


def with_unit(name: str) -> str:
    """An eval.json summary key as a metric name: shares (``reply_tone_share``) get the ``_ratio`` unit suffix."""
    return name + "_ratio" if name.endswith("_share") else name


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _stage_section(run: ProjectRun, label: str) -> Section:
    section = Section()
    rows = [[row.stage, row.status, f"{row.seconds:.1f}", row.cache_key[:12]] for row in run.rows]
    section.tables.append(Table(f"Stages — {label} ({run.seconds:.1f} s in all)",
                                ["stage", "ran / cached", "seconds", "cache key"], rows,
                                "Cached: DVC found the stage's inputs, parameters and code unchanged (dvc.lock) and "
                                "kept its outputs."))
    return section


def _stage_figure(ctx: RunContext, run: ProjectRun) -> Figure:
    fig, ax = new_figure((7.0, 3.6))
    names = [row.stage for row in run.rows]
    ax.barh(names[::-1], [row.seconds for row in run.rows][::-1], color="#4C72B0")
    ax.set_xlabel("seconds")
    ax.set_title("Where the pipeline's time goes (first run)")
    return ctx.save_figure(fig, "stage_seconds.png", "Seconds per stage, first run",
                           "Each bar is one DVC stage run as its own process (its imports included).")


def _latency_figure(ctx: RunContext, classify: Any, replies: Any) -> Figure:
    fig, axes = new_figure((9.0, 3.2), ncols=2)
    for ax, report, what in ((axes[0], classify, "POST /api/classify"), (axes[1], replies, "POST /api/reply")):
        ax.hist(report.latencies_ms, bins=30, color="#55A868")
        for q, style in ((50, "-"), (95, "--")):
            ax.axvline(report.percentile_ms(q), color="black", linestyle=style, label=f"p{q}")
        ax.set_xlabel("latency (ms)")
        ax.set_title(f"{what}: {report.requests} requests, {report.concurrency} at once")
        ax.legend()
    return ctx.save_figure(fig, "latency.png", "Latency under load",
                           "Histogram of each request's time from sending to the last byte, p50 and p95 marked.")


def held_out_reviews(workspace: Path, count: int) -> tuple[str, ...]:
    """The first ``count`` held-out reviews, cut at a word boundary to :data:`REVIEW_CHARS`: the load test's input."""
    lines = (workspace / "data" / "splits" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()][:count]
    return tuple(text if len(text) <= REVIEW_CHARS else text[:REVIEW_CHARS].rsplit(" ", 1)[0] for text in texts)

