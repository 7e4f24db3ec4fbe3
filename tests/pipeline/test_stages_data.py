"""The data stages on a few crafted records: collect's sample, clean's drops, the label rules, split, stats."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from zero2hero.errors import InputError
from zero2hero.pipeline.labelling import load_reply_templates, load_topic_rules, reply_for, rules_path
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stages import collect, label
from zero2hero.pipeline.stages.clean import clean_records, clean_text
from zero2hero.pipeline.stages.split import split_records
from zero2hero.pipeline.stages.stats import length_summary
from zero2hero.pipeline.stratify import stratified_sample


def context(workspace: Path, **params: object) -> StageContext:
    return StageContext("test", workspace, dict(params), cache_key="0" * 64, progress=lambda line: None)


def test_collect_reads_your_own_csv_with_ids_by_position_and_a_stratified_sample(tmp_path: Path) -> None:
    rows = ["review,stars"] + [f"review number {i},{'good' if i % 4 else 'bad'}" for i in range(40)]
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    params = {"data": {"source": str(tmp_path / "mine.csv"), "text_column": "review", "sentiment_column": "stars",
                       "max_reviews": 20}, "seed": 3}
    details = collect.run(context(tmp_path, **params))
    records = [json.loads(line) for line in (tmp_path / "data" / "raw.jsonl").read_text().splitlines()]
    assert details["available"] == 40 and details["reviews"] == len(records) == 20
    assert Counter(r["sentiment"] for r in records) == {"good": 15, "bad": 5}  # the 3:1 share kept
    assert all(r["id"] == f"row-{int(r['text'].split()[-1]):06d}" for r in records)
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)  # input order kept
    again = stratified_sample([{"id": i, "sentiment": i % 4 == 0} for i in range(40)], 20, seed=3)
    assert again == stratified_sample([{"id": i, "sentiment": i % 4 == 0} for i in range(40)], 20, seed=3)
    assert again != stratified_sample([{"id": i, "sentiment": i % 4 == 0} for i in range(40)], 20, seed=4)


def test_collect_refuses_a_missing_column(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text("text,label\nfine,good\nbad one,bad\n", encoding="utf-8")
    params = {"data": {"source": str(tmp_path / "mine.csv"), "text_column": "review", "sentiment_column": "label",
                       "max_reviews": None}, "seed": 0}
    with pytest.raises(InputError, match="review"):
        collect.run(context(tmp_path, **params))


def test_clean_text_uses_chapter_1s_functions() -> None:
    assert clean_text("Great  tea!<br /><br />Would buy &amp; again.\u00a0") == "Great tea!\n\nWould buy & again."
    assert clean_text("ﬁne ｔｅａ") == "fine tea"  # NFKC


def test_clean_counts_each_kind_of_drop() -> None:
    base = "This cocoa is rich, smooth and not too sweet at all, we drink it every single morning"
    records = [
        {"id": "1", "text": base, "sentiment": "great"},
        {"id": "2", "text": "  " + base.upper() + "  ", "sentiment": "great"},  # exact, case and spaces aside
        {"id": "3", "text": base + " now", "sentiment": "other"},  # near duplicate
        {"id": "4", "text": "Too short", "sentiment": "other"},
        {"id": "5", "text": "x" * 300, "sentiment": "other"},
        {"id": "6", "text": "<br />", "sentiment": "other"},
        {"id": "7", "text": "The delivery was late and the box arrived crushed, sadly.", "sentiment": "other"},
    ]
    kept, dropped = clean_records(records, min_chars=20, max_chars=200, threshold=0.8)
    assert [r["id"] for r in kept] == ["1", "7"]
    assert dropped == {"empty": 1, "too_short": 1, "too_long": 1, "exact_duplicate": 1, "near_duplicate": 1}


def test_topic_rules_are_ordered_whole_words_with_a_fallback() -> None:
    rules = load_topic_rules(rules_path("builtin", "topics"))
    assert rules.topics[-1] == rules.fallback == "general" and len(rules.topics) == 5
    assert rules.topic_of("The box arrived crushed but the taste is great") == "delivery"  # first rule wins
    assert rules.topic_of("Way too EXPENSIVE for what it is") == "price"
    assert rules.topic_of("Lovely flavor") == "taste"
    assert rules.topic_of("My kids love it") == "general"
    assert rules.topic_of("tasteless boxing") == "general"  # whole words only


def test_replies_are_deterministic_per_id_with_defaults(tmp_path: Path) -> None:
    templates = load_reply_templates(rules_path("builtin", "replies"))
    reply = reply_for(templates, "ff-train-000001", "great", "taste")
    assert reply in templates["great"]["taste"] and reply == reply_for(templates, "ff-train-000001", "great", "taste")
    chosen = {reply_for(templates, f"ff-train-{i:06d}", "other", "delivery") for i in range(40)}
    assert chosen == set(templates["other"]["delivery"])  # the hash spreads the variants
    assert reply_for(templates, "row-000001", "positive", "taste") == templates["default"]["default"][0]
    assert all(2 <= v.count(". ") + v.count("! ") + 1 <= 3 for t in templates.values() for vs in t.values() for v in vs)
    own = tmp_path / "replies.yaml"
    own.write_text(yaml.safe_dump({"positive": {"taste": ["Thanks."]}}), encoding="utf-8")
    with pytest.raises(InputError, match="negative"):
        reply_for(load_reply_templates(own), "row-1", "negative", "taste")


def test_bad_rules_files_are_refused_with_their_shape(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump({"fallback": "general", "rules": [{"topic": "taste"}]}), encoding="utf-8")
    with pytest.raises(InputError, match="rule 1") as caught:
        load_topic_rules(path)
    assert "keywords" in caught.value.hint
    with pytest.raises(InputError, match="no such rules file"):
        load_topic_rules(tmp_path / "nope.yaml")


def test_label_stage_adds_topic_and_reply(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    records = [{"id": "ff-train-000001", "text": "Lovely flavor, will buy again", "sentiment": "great"},
               {"id": "ff-train-000002", "text": "Arrived broken and leaking", "sentiment": "other"}]
    (tmp_path / "data" / "clean.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    details = label.run(context(tmp_path, labels={"topics": "builtin", "replies": "builtin"}))
    labelled = [json.loads(line) for line in (tmp_path / "data" / "labelled.jsonl").read_text().splitlines()]
    assert [r["topic"] for r in labelled] == ["taste", "delivery"]
    assert labelled[1]["reply"] in load_reply_templates(rules_path("builtin", "replies"))["other"]["delivery"]
    assert details["by_topic"] == {"delivery": 1, "price": 0, "health": 0, "taste": 1, "general": 0}


def test_split_is_stratified_seeded_and_complete() -> None:
    records = [{"id": str(i), "sentiment": "great" if i < 60 else "other"} for i in range(100)]
    splits = split_records(records, dev_share=0.1, test_share=0.2, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 70, "dev": 10, "test": 20}
    assert Counter(r["sentiment"] for r in splits["test"]) == {"great": 12, "other": 8}
    assert sorted(r["id"] for part in splits.values() for r in part) == sorted(r["id"] for r in records)
    assert splits == split_records(records, 0.1, 0.2, seed=0) and splits != split_records(records, 0.1, 0.2, seed=1)
    with pytest.raises(InputError, match="empty"):
        split_records(records[:3], 0.1, 0.1, seed=0)


def test_length_summary() -> None:
    assert length_summary([10, 20, 30, 200], max_length=25) == {"mean": 65.0, "median": 25.0, "p95": 174.5,
                                                                 "max": 200, "max_length": 25, "truncated_share": 0.5}
