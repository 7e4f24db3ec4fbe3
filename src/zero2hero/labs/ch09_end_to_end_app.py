"""Lab 9 — the review desk end to end: a DVC pipeline from raw reviews to a served web app, measured.

The pipeline (:mod:`zero2hero.pipeline`) runs from scratch in a fresh workspace, then again unchanged (every stage
cached). The evaluation compares the fine-tuned classifier and reply generator with prompting alone. The app
(:mod:`zero2hero.app`) then serves the workspace on loopback: a load test measures latency percentiles and throughput
and checks that no answer is lost or wrong, and a real browser (Debian's Chromium) takes a screenshot. Last, one
setting changes (only the stages that depend on it rerun, and the manifest diff says why the two runs differ), so the
workspace is left with that setting.

The steps are the helpers of :mod:`zero2hero.labs.ch09_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.reporting import LabResult, RunContext

CHAPTER = 9
TITLE = "Lab 9 — The review desk: a reproducible pipeline and a served app"


@dataclass
class Config:
    quick: bool = True  # the pipeline's quick: block (about two minutes of compute) and a short load test
    config_file: str = ""  # a project config (YAML); empty: the shipped review desk
    workspace: str = ""  # empty: a fresh workspace inside the run folder, so every stage runs
    changed_setting: str = "export.gguf_format=q4_0"  # the one setting the third run changes
    backend: str = "llamacpp"  # the app's reply generator: llamacpp (the GGUF) or transformers
    classify_requests: int = 200
    classify_concurrency: int = 8
    reply_requests: int = 24
    reply_max_new_tokens: int = 48
    screenshot: bool = True  # a real browser (Debian's chromium) shows the page; skipped with a note when missing

    def __post_init__(self) -> None:
        if min(self.classify_requests, self.classify_concurrency, self.reply_requests, self.reply_max_new_tokens) < 1:
            raise InputError("the load test's sizes must be at least 1", "e.g. classify_requests 200")
        if "=" not in self.changed_setting:
            raise InputError(f"changed_setting {self.changed_setting!r} is not section.key=value",
                             "e.g. export.gguf_format=q4_0")


QUICK = {"classify_requests": 64, "reply_requests": 4, "reply_max_new_tokens": 24}


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.labs.ch09_steps import DeskSteps

    result = LabResult(title=TITLE)
    workspace = Path(config.workspace) if config.workspace else ctx.out_dir / "workspace"
    steps = DeskSteps(config, ctx, workspace)
    ctx.step("the pipeline from raw reviews to a serving bundle (DVC repro)")
    result.add(steps.first_run())
    ctx.step("the same pipeline again, nothing changed: every stage cached")
    result.add(steps.unchanged_run())
    ctx.step("evaluation: the fine-tuned models against prompting alone")
    result.add(steps.evaluation())
    ctx.step("serving the bundle: a load test on loopback")
    result.add(steps.load_test())
    ctx.step("the page in a real browser")
    result.add(steps.screenshot())
    ctx.step(f"one setting changed ({config.changed_setting}): only what depends on it reruns")
    result.add(steps.changed_run())
    return result
