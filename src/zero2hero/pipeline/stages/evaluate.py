"""Stage evaluate: the fine-tuned models on the test split, each against what you get without fine-tuning.

Classifiers (per label, on ``evaluate.classifier_examples`` test reviews, or all): accuracy, macro-F1 and per-class
scores (chapter 5's metrics) of the LoRA classifier, of the majority class of the train split, and of prompting
alone: the generator's base model (SmolLM2) zero-shot, choosing the class word with the highest log-probability
after an instruction that names the classes (chapter 8's label scoring).

Replies (on the first ``evaluate.reply_examples`` test reviews, greedy, ``evaluate.max_new_tokens``): the fine-tuned
generator (base + adapter, merged) against the base model given the same prompt and nothing else; the scores of
:mod:`zero2hero.pipeline.reply_eval` with bootstrap intervals and a paired comparison (chapter 8's statistics).

Outs: ``reports/eval.json`` ({"summary": flat numbers, "classifiers": ..., "replies": ...}) and
``reports/replies.md`` (each review with its reference, fine-tuned and baseline replies side by side).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.finetuning.metrics import ClassificationMetrics, classification_report
from zero2hero.measure import Stopwatch
from zero2hero.pipeline.labelling import load_topic_rules, rules_path
from zero2hero.pipeline.replies import render_reply_prompt
from zero2hero.pipeline.reply_eval import SCORES, compare_scores, score_replies
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_splits
from zero2hero.pipeline.stages.train_classifier import LABELS
from zero2hero.prompting.engines import Engine, TorchEngine
from zero2hero.prompting.harness import shared_prefix
from zero2hero.prompting.label_scoring import decide

LABEL_SYSTEM_PROMPT = "You sort customer reviews of a food shop."


def topic_keywords(setting: str) -> dict[str, list[str]]:
    """Each topic's keywords from the topic rules (``labels.topics``: "builtin" or your own file); the fallback topic
    has none, so a reply to such a review never counts as addressing its topic."""
    rules = load_topic_rules(rules_path(setting, "topics"))
    return {rule.topic: list(rule.keywords) for rule in rules.rules}


def label_prompt(label: str, classes: Sequence[str], review: str) -> list[dict[str, str]]:
    """The zero-shot instruction: name the classes, ask for one word."""
    question = (f"What is the {label} of this review? Answer with one word: {', '.join(classes)}.\n\n"
                f"Review: {review.strip()}")
    return [{"role": "system", "content": LABEL_SYSTEM_PROMPT}, {"role": "user", "content": question}]


def prompting_predictions(engine: Engine, label: str, classes: Sequence[str], texts: Sequence[str]) -> list[int]:
    """The class whose word the model finds most likely after :func:`label_prompt`, per text."""
    tokenizer = engine.tokenizer
    prompts = [list(tokenizer.apply_chat_template(label_prompt(label, classes, text), add_generation_prompt=True,
                                                  tokenize=True, return_dict=False)) for text in texts]
    words = [list(tokenizer.encode(name, add_special_tokens=False)) for name in classes]
    engine.cache_prefix(shared_prefix(prompts))  # the system prompt and instruction run once, not per review
    try:
        return decide([engine.continuation_log_probs(ids, words) for ids in prompts])
    finally:
        engine.clear_prefix()


def classifier_scores(folder: Path, texts: Sequence[str]) -> tuple[list[str], list[int], list[list[float]]]:
    """(class names, predicted ids, probabilities) of the LoRA classifier in ``folder``."""
    from zero2hero.finetuning.classify import predict_probabilities
    from zero2hero.lora.finetune_adaptation import load_adapted_classifier

    model, tokenizer = load_adapted_classifier(folder)
    probabilities = predict_probabilities(model, tokenizer, texts)  # (texts, classes)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return names, probabilities.argmax(dim=-1).tolist(), probabilities.tolist()


def report_figures(metrics: ClassificationMetrics) -> dict[str, Any]:
    return {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1,
            "per_class": [{"class": c.name, "precision": c.precision, "recall": c.recall, "f1": c.f1,
                           "support": c.support} for c in metrics.per_class],
            "confusion": metrics.confusion}


def evaluate_label(label: str, folder: Path, train: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]],
                   engine: Engine) -> dict[str, dict[str, Any]]:
    """Fine-tuned, majority-class and prompting scores of one label on ``test``."""
    texts = [str(record["text"]) for record in test]
    names, predicted, probabilities = classifier_scores(folder, texts)
    unknown = sorted({str(record[label]) for record in test} - set(names))
    if unknown:
        raise InputError(f"the test split has {label} classes the classifier does not know: {', '.join(unknown)}",
                         "run the pipeline again from the split stage")
    truth = [names.index(str(record[label])) for record in test]
    majority = names.index(Counter(str(record[label]) for record in train).most_common(1)[0][0])
    return {
        "fine_tuned": report_figures(classification_report(truth, predicted, probabilities, names)),
        "majority": report_figures(classification_report(truth, [majority] * len(truth), None, names)) |
        {"class": names[majority]},
        "prompting": report_figures(classification_report(truth, prompting_predictions(engine, label, names, texts),
                                                          None, names)),
    }


def generate_replies(engine: Engine, reviews: Sequence[str], max_new_tokens: int) -> list[str]:
    """Greedy replies to ``reviews`` with the desk's prompt (chapter 8's engine, chapter 3's generation loop)."""
    tokenizer = engine.tokenizer
    replies = []
    for review in reviews:
        ids = tokenizer(render_reply_prompt(tokenizer, review), add_special_tokens=False)["input_ids"]
        replies.append(tokenizer.decode(engine.generate(ids, max_new_tokens), skip_special_tokens=True).strip())
    return replies


def load_generators(adapter_dir: Path) -> tuple[Any, Any, Any]:
    """(the base model, a function merging the adapter into it in place and returning it, the tokenizer)."""
    from peft import PeftModel

    from zero2hero.assets import load_causal_lm
    from zero2hero.lora.adapter_files import read_adapter_config

    base, tokenizer = load_causal_lm(read_adapter_config(adapter_dir).base_model)

    def merged() -> Any:
        return PeftModel.from_pretrained(base, adapter_dir).merge_and_unload().eval()

    return base, merged, tokenizer


def replies_markdown(records: Sequence[dict[str, Any]], tuned: Sequence[str], baseline: Sequence[str],
                     tuned_scores: Sequence[dict[str, float]], baseline_scores: Sequence[dict[str, float]]) -> str:
    lines = ["# Replies on held-out reviews", "",
             "Greedy replies of the fine-tuned generator and of the base model prompted alone (the same prompt). "
             f"Scores per reply: {', '.join(SCORES)} (see zero2hero.pipeline.reply_eval).", ""]
    for n, (record, mine, theirs) in enumerate(zip(records, tuned, baseline, strict=True)):
        lines += [f"## {n + 1}. {record['id']} ({record['sentiment']}, {record['topic']})", "",
                  f"> {' '.join(str(record['text']).split())}", "",
                  "| | reply | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
        for name, reply, scores in (("reference", record["reply"], None), ("fine-tuned", mine, tuned_scores[n]),
                                    ("prompting", theirs, baseline_scores[n])):
            cells = [f"{scores[s]:.2f}" for s in SCORES] if scores else [""] * len(SCORES)
            lines.append(f"| {name} | {' '.join(str(reply).split()) or '(empty)'} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def summary(classifiers: dict[str, dict[str, Any]], replies: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The flat numbers: ``<label>_<accuracy|macro_f1>[_prompting|_majority]``, ``reply_<score>[_prompting]``."""
    flat: dict[str, float] = {}
    for label, systems in classifiers.items():
        for system, suffix in (("fine_tuned", ""), ("prompting", "_prompting"), ("majority", "_majority")):
            for metric in ("accuracy", "macro_f1"):
                flat[f"{label}_{metric}{suffix}"] = systems[system][metric]
    names = {"token_f1": "token_f1", "tone": "tone_share", "topic": "topic_share", "length": "length_share"}
    for score, name in names.items():
        flat[f"reply_{name}"] = replies[score]["fine_tuned"]["mean"]
        flat[f"reply_{name}_prompting"] = replies[score]["prompting"]["mean"]
    return flat


def run(ctx: StageContext) -> dict[str, Any]:
    params = ctx.params["evaluate"]
    splits = read_splits(ctx.workspace)
    test = splits["test"][:params["classifier_examples"]]
    reply_records = splits["test"][:params["reply_examples"]]
    seconds = {}
    watch = Stopwatch()
    base, merged, tokenizer = load_generators(ctx.path("models/generator"))
    engine = TorchEngine("hf", base, tokenizer)
    seconds["load"] = watch.seconds
    classifiers = {}
    for label in LABELS:
        ctx.progress(f"scoring the {label} classifier, the majority class and prompting on {len(test)} reviews")
        watch = Stopwatch()
        classifiers[label] = evaluate_label(label, ctx.path(f"models/classifier/{label}"), splits["train"], test,
                                            engine)
        seconds[f"{label}_classifiers"] = watch.seconds
    reviews = [str(record["text"]) for record in reply_records]
    ctx.progress(f"drafting {len(reviews)} replies with the base model, then with the fine-tuned one")
    watch = Stopwatch()
    baseline = generate_replies(engine, reviews, params["max_new_tokens"])
    seconds["prompting_replies"], watch = watch.seconds, Stopwatch()
    tuned = generate_replies(TorchEngine("hf", merged(), tokenizer), reviews, params["max_new_tokens"])
    seconds["fine_tuned_replies"] = watch.seconds
    keywords = topic_keywords(ctx.params["labels"]["topics"])
    tuned_scores = score_replies(tuned, reply_records, keywords)
    baseline_scores = score_replies(baseline, reply_records, keywords)
    replies = compare_scores(tuned_scores, baseline_scores, seed=int(ctx.params["seed"]))
    report = {"summary": summary(classifiers, replies), "classifier_examples": len(test),
              "reply_examples": len(reviews), "classifiers": classifiers, "replies": replies,
              "reply_rows": [{"id": record["id"], "fine_tuned": mine, "prompting": theirs, "scores": scores,
                              "prompting_scores": their_scores}
                             for record, mine, theirs, scores, their_scores
                             in zip(reply_records, tuned, baseline, tuned_scores, baseline_scores, strict=True)]}
    atomic_write_text(ctx.path("reports/eval.json"), json.dumps(report, indent=2))
    atomic_write_text(ctx.path("reports/replies.md"), replies_markdown(reply_records, tuned, baseline, tuned_scores,
                                                                       baseline_scores))
    return {"summary": report["summary"], "classifier_examples": len(test), "reply_examples": len(reviews),
            "seconds": seconds}
