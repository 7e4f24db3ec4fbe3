from __future__ import annotations

import json

import pytest

from zero2hero.errors import InputError
from zero2hero.labs.ch08_generation import error_kinds
from zero2hero.labs.ch08_prompting import Config
from zero2hero.labs.ch08_sentiment import Scores, setting_name, share_of_majority
from zero2hero.prompting.fewshot import FixedShots
from zero2hero.prompting.harness import Condition, ConditionResult, Record
from zero2hero.prompting.promptset import Item, PromptSet, Shot
from zero2hero.prompting.scoring import Scored
from zero2hero.prompting.tasks.json_format import ORDER_SCHEMA


def test_config_refuses_sizes_that_measure_nothing() -> None:
    with pytest.raises(InputError, match="at least 2 items"):
        Config(test_items=1)
    with pytest.raises(InputError, match="shots must be whole numbers"):
        Config(shots=[0, -1])
    with pytest.raises(InputError, match="at least 2 samples"):
        Config(sc_samples=1)


def _label_result(rows: list[list[float]], references: list[str]) -> ConditionResult:
    records = [Record(f"i{n}", "", 1, "", Scored(None, None, True), ref, row)
               for n, (row, ref) in enumerate(zip(rows, references, strict=True))]
    return ConditionResult(Condition(scoring="logprob"), records, 1.0, 0)


def test_each_decision_rule_reads_the_same_log_probs_its_own_way() -> None:
    # Label 0 ("great") wins every raw comparison; the model's bias towards it is what calibration removes.
    rows = [[-0.1, -2.0], [-0.5, -1.0], [-0.2, -3.0], [-0.9, -1.0]]
    gold = ["great", "other", "great", "other"]
    result = _label_result(rows, gold)
    scores = Scores(Condition(scoring="logprob"), result, result, contextual=[0.0, -0.6], threshold=[0.0, -0.3],
                    label_names=["great", "other"])
    assert scores.correct("test", "raw") == [1.0, 0.0, 1.0, 0.0]
    # contextual: row - [0, -0.6] -> second label wins when its log-prob is within 0.6 of the first's
    assert scores.correct("test", "contextual") == [1.0, 1.0, 1.0, 1.0]
    # threshold -0.3: second label wins when score[1] - score[0] > -0.3, only in the last row
    assert scores.correct("dev", "dev threshold") == [1.0, 0.0, 1.0, 1.0]


def test_fixed_shots_and_small_helpers() -> None:
    shots = [Shot({"review": t}, label) for t, label in (("a", "great"), ("b", "other"), ("c", "great"))]
    assert FixedShots(shots).select(Item("x", {"review": "q"}), 2) == shots[:2]
    ps = PromptSet("s", "label", "", None, {"plain": "{review}"},
                   [Item(str(i), {"review": "r"}, ref) for i, ref in enumerate(["great", "great", "other"])], [],
                   labels=["great", "other"], label_words={"great": "positive", "other": "negative"})
    assert share_of_majority(ps) == pytest.approx(2 / 3)
    assert setting_name(("none", 0)) == "0-shot" and setting_name(("nearest", 4)) == "4-shot nearest"


def test_error_kinds_name_what_is_wrong_with_each_json_answer() -> None:
    reference = json.dumps({"customer": "Maria", "item": "jars of honey", "quantity": 3, "total_dollars": 12})
    ps = PromptSet("o", "json", "", None, {"t": "{sentence}"}, [], [], schema=ORDER_SCHEMA)
    outputs = [
        ("right", '{"customer": "Maria", "item": "jars of honey", "quantity": 3, "total_dollars": 12.0}', True, True),
        ("no json", "Maria bought honey.", False, False),
        ("schema", '{"customer": "Maria", "quantity": "three"}', False, False),
        ("fields", '{"customer": "maria", "item": "honey", "quantity": 4, "total_dollars": 12}', False, True),
    ]
    records = [Record(name, "", 1, text, Scored(None, correct, parsed), reference)
               for name, text, correct, parsed in outputs]
    kinds = error_kinds(ps, ConditionResult(Condition(), records, 1.0, 0))
    assert kinds == {"no JSON object": 1, "breaks the schema": 1, "wrong item": 1, "wrong quantity": 1}


@pytest.mark.heavy
def test_quick_lab_8(quick_run) -> None:
    run = quick_run(8)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    accuracies = {k: v for k, v in metrics.items() if k.endswith("_accuracy")}
    assert len(accuracies) > 10 and all(0 <= v <= 1 for v in accuracies.values())
    # The cache changes the work done, never the answer.
    assert metrics["prefix_cache_answers_identical"] == 1
    assert metrics["soft_prompt_trainable_count"] == 4 * 576  # 4 virtual tokens of SmolLM2's width
    report = (run.folder / "report.md").read_text()
    for title in ("asked with three instructions", "Few-shot accuracy", "Settings ranked on", "in 2 orders",
                  "A soft prompt of 4 virtual tokens", "Caching the shared", "Refining a format-following prompt",
                  "Arithmetic word problems", "prompts in two styles, side by side"):
        assert title in report, title
    # The qualitative step leaves a prompt run the learner can score: its report and an empty rubric sheet.
    (qualitative,) = [p for p in run.folder.iterdir() if p.name.endswith("prompt-qualitative")]
    header = (qualitative / "rubric.csv").read_text().splitlines()[0]
    assert header.endswith("relevance,correctness,format,fluency")
    assert "<html" in (qualitative / "report.html").read_text()
