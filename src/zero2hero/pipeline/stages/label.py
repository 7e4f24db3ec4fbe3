"""Stage label: each review gets a topic (ordered keyword rules) and a reference reply (templates), see
:mod:`zero2hero.pipeline.labelling`. Out: ``data/labelled.jsonl``, the clean records with ``topic`` and ``reply``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from zero2hero.pipeline.jsonl import write_records
from zero2hero.pipeline.labelling import load_reply_templates, load_topic_rules, reply_for, rules_path
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_records


def run(ctx: StageContext) -> dict[str, Any]:
    labels = ctx.params["labels"]
    topics_file, replies_file = rules_path(labels["topics"], "topics"), rules_path(labels["replies"], "replies")
    rules, templates = load_topic_rules(topics_file), load_reply_templates(replies_file)
    labelled = []
    for record in read_records(ctx.path("data/clean.jsonl")):
        topic = rules.topic_of(record["text"])
        labelled.append({**record, "topic": topic,
                         "reply": reply_for(templates, record["id"], record["sentiment"], topic)})
    write_records(ctx.path("data/labelled.jsonl"), labelled)
    by_topic = Counter(r["topic"] for r in labelled)
    ctx.progress(f"{len(labelled)} reviews labelled: {dict(by_topic)}")
    return {"reviews": len(labelled), "topics_file": labels["topics"], "replies_file": labels["replies"],
            "rules": [{"topic": rule.topic, "keywords": list(rule.keywords)} for rule in rules.rules],
            "fallback": rules.fallback,
            "templates": sum(len(variants) for topics in templates.values() for variants in topics.values()),
            "by_topic": {topic: by_topic.get(topic, 0) for topic in rules.topics},
            "by_sentiment_topic": dict(sorted(Counter(f"{r['sentiment']}/{r['topic']}" for r in labelled).items()))}
