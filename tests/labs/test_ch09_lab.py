"""Lab 9: the quick run builds the review desk from scratch, reuses every stage when nothing changed, reruns only
the stages below a changed setting, and serves the result under load without losing or changing an answer."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from zero2hero.errors import InputError
from zero2hero.labs.ch09_end_to_end_app import Config
from zero2hero.labs.ch09_steps import held_out_reviews, with_unit

STAGES = ["collect", "clean", "label", "stats", "split", "train_classifier", "train_generator", "evaluate", "export",
          "package"]


def test_config_refuses_a_load_test_of_nothing_and_a_setting_without_a_value() -> None:
    with pytest.raises(InputError, match="at least 1"):
        Config(classify_requests=0)
    with pytest.raises(InputError, match="section.key=value"):
        Config(changed_setting="export.gguf_format")


def test_eval_keys_become_metric_nameswith_units_and_reviews_are_cut_at_a_word(tmp_path: Path) -> None:
    assert with_unit("reply_tone_share") == "reply_tone_share_ratio"
    assert with_unit("topic_accuracy") == "topic_accuracy"
    (tmp_path / "data" / "splits").mkdir(parents=True)
    long = "word " * 200
    rows = [{"text": "short one"}, {"text": long}]
    (tmp_path / "data" / "splits" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    short, cut = held_out_reviews(tmp_path, 5)
    assert short == "short one" and len(cut) <= 600 and cut.endswith("word") and long.startswith(cut)


def _stage_table(report: str, label: str) -> dict[str, str]:
    """stage -> "ran" / "cached" from the report's stage table whose title holds ``label``."""
    block = report[report.index(f"## Stages — {label}"):]
    block = block[:block.index("\n*")]
    return dict(re.findall(r"^\| (\w+) \| (ran|cached) \|", block, re.M))


def test_quick_lab_9(quick_run) -> None:
    run = quick_run(9)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    report = (run.folder / "report.md").read_text()
    # A fresh workspace: every stage runs once; unchanged, every stage is reused; q4_0: only export and package rerun.
    first = _stage_table(report, "the pipeline from scratch")
    assert list(first) == STAGES and set(first.values()) == {"ran"}
    assert set(_stage_table(report, "the same config again").values()) == {"cached"}
    assert metrics["stages_rerun_count"] == 0 and metrics["cached_rerun_s"] < metrics["pipeline_s"]
    changed = _stage_table(report, "with export.gguf_format=q4_0")
    assert [stage for stage, status in changed.items() if status == "ran"] == ["export", "package"]
    assert "config.export.gguf_format: q8_0 -> q4_0" in report
    # The evaluation holds the fine-tuned models and prompting alone, every score a share.
    for name in ("sentiment_accuracy", "topic_accuracy", "reply_token_f1", "reply_tone_share_ratio"):
        assert 0 <= metrics[name] <= 1, name
    assert "| topic accuracy |" in report and "prompting alone" in report
    # Under load nothing is lost or changed.
    for kind in ("classify", "reply"):
        assert metrics[f"{kind}_lost_count"] == 0 and metrics[f"{kind}_wrong_count"] == 0, kind
        assert 0 < metrics[f"{kind}_p50_latency_s"] <= metrics[f"{kind}_p95_latency_s"], kind
    workspace = run.folder / "workspace"
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert manifest["config"]["export"]["gguf_format"] == "q4_0" and (workspace / "docs" / "model_card.md").is_file()
    # The page in a real browser, where Chromium is installed (CI requires it).
    if Path("/usr/bin/chromium").is_file() or os.environ.get("Z2H_REQUIRE_BROWSER") == "1":
        assert (run.folder / "app_page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
