"""The run folder and what reads it back: metrics with intervals, paired comparisons, an HTML page that escapes every
text and loads nothing, a rubric sheet, and two runs compared over their common items. Results are built by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from zero2hero.errors import InputError
from zero2hero.prompting.compare import compare_runs
from zero2hero.prompting.harness import Condition, ConditionResult, Record
from zero2hero.prompting.report import (
    RunInfo,
    comparisons,
    condition_names,
    read_run,
    render_html,
    rubric_csv,
    write_run,
)
from zero2hero.prompting.scoring import Scored
from zero2hero.prompting.stats import compare_paired, interval


def result(condition: Condition, correct: list[bool], ids: list[str] | None = None,
           output: str = "positive") -> ConditionResult:
    ids = ids or [f"r{i}" for i in range(len(correct))]
    records = [Record(i, f"<|im_start|>user\nReview {i}<|im_end|>", 12, output,
                      Scored("great" if ok else "other", ok, True), "great", [-0.5, -1.0], [], 0.1)
               for i, ok in zip(ids, correct, strict=True)]
    return ConditionResult(condition, records, seconds=2.0, prefix_tokens=0)


INFO = RunInfo("mini", "label", "smollm2", "hf", ["great", "other"], [], {"limit": 8})
BASE = [True, False, True, False, False, True, False, False]
BETTER = [True, True, True, True, False, True, True, False]


def test_comparisons_and_names(tmp_path: Path) -> None:
    results = [result(Condition(), BASE), result(Condition(shots=4, scoring="logprob"), BETTER)]
    assert condition_names(results) == ["1. default 0-shot generate", "2. default 4-shot random logprob"]
    ((name, comparison),) = comparisons(results)
    assert name.startswith("2.")
    expected = compare_paired([float(x) for x in BASE], [float(x) for x in BETTER], names=("1", "2"))
    assert comparison == expected and comparison.difference.mean == pytest.approx(3 / 8)
    assert results[0].accuracy() == interval([float(x) for x in BASE]) and results[0].examples_per_s == 4.0


def test_run_folder_files(tmp_path: Path) -> None:
    results = [result(Condition(), BASE), result(Condition(shots=4), BETTER)]
    folder = write_run(tmp_path, INFO, results)
    assert folder.parent == tmp_path and folder.name.endswith("-prompt-mini")
    report = (folder / "report.md").read_text()
    assert "0.375 [" in report and "0.750 [" in report  # the two accuracies with their intervals
    assert comparisons(results)[0][1].verdict in report
    saved = read_run(folder)
    assert saved.meta["prompt_set"] == "mini" and saved.meta["options"] == {"limit": 8}
    assert saved.meta["conditions"][1]["shots"] == 4 and "packages" in saved.meta["environment"]
    assert len(saved.records) == 16
    first = saved.records[0]
    assert first["condition"] == "1. default 0-shot generate" and first["answer"] == "great" and first["correct"]
    assert first["label_log_probs"] == [-0.5, -1.0] and first["prompt"].startswith("<|im_start|>")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # nothing half-written left


def test_html_escapes_outputs_and_needs_no_other_file() -> None:
    hostile = '<script>alert("x")</script> & <img src=x onerror=1>'
    page = render_html(INFO, [result(Condition(), [True, False], output=hostile)])
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=1&gt;" in page
    assert "<style>" in page and "<link" not in page and "http" not in page


def test_rubric_sheet_has_a_row_per_item_and_condition() -> None:
    info = RunInfo("notes", "free", "smollm2", "hf", [], ["relevance", "fluency"], {})
    sheet = rubric_csv(info, [result(Condition(), [True, False]), result(Condition(shots=2), [True, True])])
    lines = sheet.splitlines()
    assert lines[0] == "item_id,condition,output,relevance,fluency"
    assert lines[1] == "r0,1. default 0-shot generate,positive,," and len(lines) == 5


def test_compare_runs_pairs_the_common_items(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", INFO, [result(Condition(), BASE)])
    ids = [f"r{i}" for i in range(2, 10)]  # r2..r9: six in common with a (r2..r7)
    b = write_run(tmp_path / "b", INFO, [result(Condition(shots=4), BETTER, ids)])
    compared = compare_runs(a, b)
    assert compared.items == 6
    expected = compare_paired([float(x) for x in BASE[2:]], [float(x) for x in BETTER[:6]],
                              names=("A (1. default 0-shot generate)", "B (1. default 4-shot random generate)"))
    assert compared.comparison == expected
    other_set = write_run(tmp_path / "c", RunInfo("other", "label", "smollm2", "hf", [], [], {}),
                          [result(Condition(), BASE)])
    with pytest.raises(InputError, match="different prompt sets"):
        compare_runs(a, other_set)
    disjoint = write_run(tmp_path / "d", INFO, [result(Condition(), [True], ["z"])])
    with pytest.raises(InputError, match="no item id in common"):
        compare_runs(a, disjoint)
    with pytest.raises(InputError, match="not a prompt run folder"):
        compare_runs(a, tmp_path)
    (b / "records.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="damaged"):
        compare_runs(a, b)


def test_write_run_refuses_conditions_on_different_items(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="same items"):
        write_run(tmp_path, INFO, [result(Condition(), BASE), result(Condition(), BASE[:3])])
    assert list(tmp_path.iterdir()) == []
