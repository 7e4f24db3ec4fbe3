"""Stage package: ``bundle/serve.json``, everything the app (``z2h serve``) needs to find and bound the models.

It names the exported classifiers (one per label, their classes read from their ``config.json``), the merged
generator and its GGUF, the serving backend and limits (``serve``), and the evaluation's metrics. Paths are
relative to the workspace.
"""

from __future__ import annotations

import json
from typing import Any

from zero2hero.errors import Zero2HeroError
from zero2hero.files import atomic_write_text
from zero2hero.pipeline.stage_context import StageContext

LABELS = ("sentiment", "topic")
METRICS = ("sentiment_accuracy", "topic_accuracy", "reply_token_f1")  # from the summary of reports/eval.json
LIMITS = ("max_request_bytes", "max_review_chars", "max_new_tokens", "max_concurrent_generations", "max_batch_items")


def _read_json(ctx: StageContext, relative: str) -> dict[str, Any]:
    path = ctx.path(relative)
    if not path.is_file():
        raise Zero2HeroError(f"{relative} is missing from {ctx.workspace}", "run the whole pipeline: z2h project run")
    return json.loads(path.read_text(encoding="utf-8"))


def classes(ctx: StageContext, label: str) -> list[str]:
    """The classes of an exported classifier, in its output order (``id2label`` of its ``config.json``)."""
    id2label = _read_json(ctx, f"export/classifier/{label}/config.json").get("id2label", {})
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def serve_bundle(ctx: StageContext) -> dict[str, Any]:
    serve = ctx.params["serve"]
    summary = _read_json(ctx, "reports/eval.json").get("summary", {})
    gguf = f"export/generator-{ctx.params['export']['gguf_format']}.gguf"
    for relative in ("export/generator", gguf):
        if not ctx.path(relative).exists():
            raise Zero2HeroError(f"{relative} is missing from {ctx.workspace}", "run the export stage: z2h project run")
    return {
        "name": ctx.params["name"],
        "created_from": str(ctx.workspace),
        "labels": {label: classes(ctx, label) for label in LABELS},
        "classifiers": {label: f"export/classifier/{label}" for label in LABELS},
        "classifier_max_length": ctx.params["classifier"]["max_length"],
        "generator": {"transformers": "export/generator", "gguf": gguf},
        "backend": serve["backend"],
        "limits": {name: serve[name] for name in LIMITS},
        "metrics": {name: summary[name] for name in METRICS if name in summary},
    }


def run(ctx: StageContext) -> dict[str, Any]:
    bundle = serve_bundle(ctx)
    atomic_write_text(ctx.path("bundle/serve.json"), json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    ctx.progress(f"bundle/serve.json: backend {bundle['backend']}, labels {bundle['labels']}")
    return {"backend": bundle["backend"], "labels": bundle["labels"], "metrics": bundle["metrics"]}
