"""The run's generated documentation: ``docs/data_card.md``, ``docs/model_card.md`` and ``docs/decision_log.md``.

Every number in them is read from the run itself: the stages' records (``stages/*.json``), ``reports/stats.json``,
``reports/eval.json`` and the manifest. The decisions are a fixed list (:data:`DECISIONS`) with the run's facts
beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zero2hero.files import atomic_write_text

CLASSIFIER_METRICS = ("accuracy", "macro_f1")
REPLY_METRICS = ("token_f1", "tone_share", "topic_share", "length_share")

DECISIONS: tuple[tuple[str, str], ...] = (
    ("DVC runs the pipeline", "A field-standard tool, not a hand-made scheduler: `dvc.yaml` states each stage's "
     "inputs, parameters and outputs, `dvc repro` reruns only the stages whose md5s changed and `dvc.lock` records "
     "what each output was made from. It needs no server (MLflow's tracking UI would, and does not schedule)."),
    ("Code is a parameter", "Each stage's source (its module and every zero2hero module it imports) is hashed into "
     "`code.yaml`, one of the stage's params, so editing a stage reruns it and what depends on it, and nothing else."),
    ("Reference replies and topics by rules", "No labelled reply set ships offline. Keyword rules and reply "
     "templates, written by hand and shipped with zero2hero, make the labels reproducible and documented; their "
     "limit is that the generator learns the templates' style, not real customer service."),
    ("LoRA for both models", "A few hundred thousand trainable parameters instead of the whole model: CPU-sized "
     "training, adapters of a few MB, and the base model shared (chapter 6)."),
    ("Two processes through torchrun", "Chapter 5's distributed path on CPU (gloo): the same script runs on a GPU "
     "node (nccl) or a cluster (more nodes) by changing the launcher's arguments, not the code."),
    ("q8_0 GGUF for serving", "Near-lossless (llama.cpp's published figure: +0.04 % perplexity for Llama-3-8B on "
     "wikitext-2) at half fp16's size; 4-bit formats can make a 135M model useless (chapter 7 measured SmolLM2 at "
     "Q4_0). The app falls back to transformers."),
    ("Seeds, one thread count, deterministic kernels", "Every stage seeds random, numpy and torch with `seed`, fixes "
     "the torch thread count and asks for deterministic algorithms: two runs from scratch on one machine give the "
     "same metrics. Another thread count or CPU may change float sums, so runs are compared on one machine."),
    ("Atomic outputs and checkpoints", "Each out is written to a temporary name and renamed, so a killed stage "
     "leaves no half-written out and DVC reruns it; training stages resume from `checkpoints/<stage>/<cache key>/`."),
)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _details(workspace: Path, stage: str) -> dict[str, Any]:
    return _read(workspace / "stages" / f"{stage}.json").get("details", {})


def _counts(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{name} {n} ({100 * n / total:.1f} %)" for name, n in counts.items())


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "—" if value is None else str(value)


def data_card(workspace: Path, manifest: dict[str, Any]) -> str:
    collect, clean, label, split = (_details(workspace, s) for s in ("collect", "clean", "label", "split"))
    stats = _read(workspace / "reports" / "stats.json")
    lines = [f"# Data card — {manifest['name']}", "",
             "## Source", "",
             f"- Source: `{collect.get('source')}`; licence: {collect.get('licence')}.",
             f"- Reviews available: {collect.get('available')}; collected: {collect.get('reviews')} "
             f"(`data.max_reviews` = {manifest['config']['data']['max_reviews']}, a seeded sample stratified by "
             f"sentiment); by sentiment: {_counts(collect.get('by_sentiment', {}))}.", "",
             "## Cleaning (chapter 1)", "",
             f"- Steps: {', '.join(clean.get('steps', []))}.",
             f"- Kept {clean.get('kept')} of {clean.get('reviews_in')}; dropped: "
             + ", ".join(f"{reason.replace('_', ' ')} {n}" for reason, n in clean.get("dropped", {}).items()) + ".",
             "", "## Labels", "",
             f"- Topic: the first matching rule of `{label.get('topics_file')}` (whole words, any case), else "
             f"`{label.get('fallback')}`. Rules, in order:"]
    lines += [f"  - {rule['topic']}: {', '.join(rule['keywords'])}" for rule in label.get("rules", [])]
    lines += [f"- Reference reply: one of {label.get('templates')} hand-written templates of "
              f"`{label.get('replies_file')}` keyed by sentiment and topic, the variant chosen by the SHA-256 of the "
              "review id. The built-in rules and templates are part of zero2hero (MIT licence).",
              f"- Topics: {_counts(label.get('by_topic', {}))}.", "", "## Splits (stratified by sentiment)", "",
              "| split | reviews | sentiment | topic |", "|---|---|---|---|"]
    for name, size in split.get("sizes", {}).items():
        lines.append(f"| {name} | {size} | {_counts(split['by_sentiment'][name])} | "
                     f"{_counts(split['by_topic'][name])} |")
    lines += ["", "## Tokens per review (chapter 2)", "", "| model | tokenizer | what | median | p95 | max | "
              "max_length | truncated |", "|---|---|---|---|---|---|---|---|"]
    for role in ("classifier", "generator"):
        s = stats.get(role, {})
        lines.append(f"| {role} (`{s.get('base')}`) | {s.get('tokenizer')} | {s.get('what')} | {s.get('median')} | "
                     f"{s.get('p95')} | {s.get('max')} | {s.get('max_length')} | "
                     f"{100 * s.get('truncated_share', 0):.1f} % |")
    lines += ["", "## File hashes (SHA-256)", ""] + [f"- `{path}`: `{sha}`" for path, sha in manifest["data"].items()]
    return "\n".join(lines) + "\n"


def model_card(workspace: Path, manifest: dict[str, Any]) -> str:
    config, metrics = manifest["config"], manifest["metrics"]
    evaluation = _read(workspace / "reports" / "eval.json")
    lines = [f"# Model card — {manifest['name']}", "", "## Models", ""]
    for role, what in (("classifier", "one sequence classifier per label (sentiment, topic)"),
                       ("generator", "the reply generator (a causal LM)")):
        c = config[role]
        lines.append(f"- {role}: {what}, base `{c['base']}`, LoRA rank {c['rank']}, alpha {c['alpha']} on "
                     f"`{c['targets']}`, learning rate {c['learning_rate']}, batch {c['batch_size']}, max length "
                     f"{c['max_length']}, {c['processes']} process(es) × {c['threads_per_process']} thread(s).")
    lines += [f"- Served as merged models and a `{config['export']['gguf_format']}` GGUF (llama.cpp).", "",
              f"## Evaluation (test split: {evaluation.get('classifier_examples')} reviews for the classifiers, "
              f"{evaluation.get('reply_examples')} for the replies)", "",
              "| metric | fine-tuned | prompting alone | majority class |", "|---|---|---|---|"]
    for label in ("sentiment", "topic"):
        for metric in CLASSIFIER_METRICS:
            key = f"{label}_{metric}"
            lines.append(f"| {key} | {_number(metrics.get(key))} | {_number(metrics.get(key + '_prompting'))} | "
                         f"{_number(metrics.get(key + '_majority'))} |")
    for metric in REPLY_METRICS:
        key = f"reply_{metric}"
        lines.append(f"| {key} | {_number(metrics.get(key))} | {_number(metrics.get(key + '_prompting'))} | — |")
    lines += ["", "Prompting alone is the generator's base model with the same prompt and no adapter "
              "(evaluate.baseline = prompting); see `reports/eval.json` for intervals and `reports/replies.md` for the "
              "replies side by side.", "", "## Intended use and limits", "",
              "- Intended use: triage of short English food-product reviews and a first draft of a reply that a "
              "person reads and edits before it is sent.",
              "- The labels it learned are rules (keywords and templates), not human judgement: it inherits their "
              "blind spots (sarcasm, several topics in one review, other languages).",
              "- The generator is a small model (SmolLM2-135M by default) tuned on template replies: it can be "
              "generic, repeat itself or state facts it cannot know (a refund, a supplier). Never send a reply unread.",
              f"- Trained and measured on {manifest['hardware']['cores']} CPU cores; the figures hold for this data "
              "and these settings only."]
    return "\n".join(lines) + "\n"


def decision_log(manifest: dict[str, Any]) -> str:
    lines = [f"# Decision log — {manifest['name']}", ""]
    for n, (decision, reason) in enumerate(DECISIONS, 1):
        lines += [f"{n}. **{decision}.** {reason}", ""]
    stages = manifest["stages"]
    lines += ["## This run", "",
              f"- Config SHA-256 `{manifest['config_sha256']}`, git commit `{manifest['git_commit']}`, quick "
              f"mode: {manifest['quick']}.",
              f"- Stages that ran: {', '.join(s for s, row in stages.items() if row['status'] == 'ran') or 'none'}; "
              f"cached: {', '.join(s for s, row in stages.items() if row['status'] == 'cached') or 'none'}.",
              f"- Determinism: {json.dumps(manifest['determinism'])}.",
              f"- Hardware: {manifest['hardware']['cpu']}, {manifest['hardware']['cores']} cores, "
              f"{manifest['hardware']['ram_gb']} GB RAM, GPU {manifest['hardware']['gpu']}."]
    return "\n".join(lines) + "\n"


def write_cards(workspace: Path, manifest: dict[str, Any]) -> list[Path]:
    """Write the three documents into ``workspace/docs``; return their paths."""
    workspace = Path(workspace)
    documents = {"data_card.md": data_card(workspace, manifest), "model_card.md": model_card(workspace, manifest),
                 "decision_log.md": decision_log(manifest)}
    for name, text in documents.items():
        atomic_write_text(workspace / "docs" / name, text)
    return [workspace / "docs" / name for name in documents]
