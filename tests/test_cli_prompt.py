"""Chapter 8 on the command line: `z2h prompt list/run/score/compare` on a tiny random LLaMA with SmolLM2's tokenizer
(built locally), the run folder's files, and each bad input as one clear line (exit 1)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.finetuning.test_cli import fails_with
from tests.prompting.tiny_chat_lm import write_tiny_chat_lm
from zero2hero.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread_per_module")

FREE_SET = """name: notes
kind: free
description: Two requests a reader scores.
system: You are a helpful assistant.
templates:
  plain: "{request}"
rubric: [relevance, fluency]
max_new_tokens: 6
items:
  - {id: tea, request: "Describe <b>green</b> tea & its taste."}
  - {id: bread, request: Explain how bread rises.}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_chat_lm(tmp_path_factory.mktemp("tiny") / "model")


def run_ok(args: list[str], out: Path) -> Path:
    """Run `z2h prompt run` into a fresh folder under ``out``; return the run folder it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    result = runner.invoke(app, ["prompt", "run", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (folder,) = set(out.iterdir()) - before
    return folder


@pytest.fixture(scope="module")
def sentiment_run(tiny, tmp_path_factory) -> Path:
    return run_ok(["sentiment", "--model", str(tiny), "--limit", "6", "--shots", "0", "--shots", "2",
                   "--scoring", "logprob"], tmp_path_factory.mktemp("runs"))


def test_prompt_list_shows_the_built_in_sets() -> None:
    result = runner.invoke(app, ["prompt", "list"])
    assert result.exit_code == 0, result.output
    for name in ("sentiment", "arithmetic", "qualitative", "json-orders"):
        assert name in result.output


def test_a_run_folder_holds_reports_records_and_a_rubric_sheet(sentiment_run: Path) -> None:
    assert sentiment_run.name.endswith("-prompt-sentiment")
    assert {p.name for p in sentiment_run.iterdir()} == {"report.md", "report.html", "rubric.csv", "records.jsonl",
                                                          "run.json"}
    records = [json.loads(line) for line in (sentiment_run / "records.jsonl").read_text().splitlines()]
    assert len(records) == 12 and {r["condition"] for r in records} == {"1. plain 0-shot logprob",
                                                                       "2. plain 2-shot random logprob"}
    for r in records:
        assert len(r["label_log_probs"]) == 2 and r["answer"] in ("great", "other") and r["parsed"] is True
        assert r["correct"] == (r["answer"] == r["reference"]) and "<|im_start|>assistant" in r["prompt"]
    two_shot = [r for r in records if r["condition"].startswith("2.")]
    assert all(r["prompt_tokens"] > o["prompt_tokens"] for r, o in zip(two_shot, records[:6], strict=True))
    meta = json.loads((sentiment_run / "run.json").read_text())
    assert meta["prompt_set"] == "sentiment" and meta["engine"] == "hf" and len(meta["conditions"]) == 2
    assert meta["conditions"][1]["prefix_tokens"] > meta["conditions"][0]["prefix_tokens"] > 0
    report = (sentiment_run / "report.md").read_text()
    assert "accuracy [95% CI]" in report and "2. plain 2-shot random logprob" in report
    assert report.count("### ") == 6 and "Against condition 1" in report
    with open(sentiment_run / "rubric.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and list(rows[0]) == ["item_id", "condition", "output"]


def test_report_html_is_self_contained_and_escaped(tiny, tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text(FREE_SET)
    folder = run_ok([str(tmp_path / "notes.yaml"), "--model", str(tiny), "--engine", "ours"], tmp_path / "runs")
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "&lt;b&gt;green&lt;/b&gt; tea &amp; its" in page and "<b>green</b>" not in page
    assert "http" not in page and "<link" not in page and "src=" not in page and "<script" not in page


def test_score_reads_a_filled_rubric(tiny, tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text(FREE_SET)
    folder = run_ok([str(tmp_path / "notes.yaml"), "--model", str(tiny)], tmp_path / "runs")
    with open(folder / "rubric.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["item_id"] for r in rows] == ["tea", "bread"] and list(rows[0])[3:] == ["relevance", "fluency"]
    scores = {"tea": ("2", "4"), "bread": ("4", "")}  # a blank cell: not scored yet

    def write(path: Path, rows: list[dict[str, str]]) -> Path:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    filled = write(tmp_path / "filled.csv", [{**r, "relevance": scores[r["item_id"]][0],
                                              "fluency": scores[r["item_id"]][1]} for r in rows])
    result = runner.invoke(app, ["prompt", "score", str(folder), "--rubric", str(filled)])
    assert result.exit_code == 0, result.output
    means = json.loads((folder / "rubric.json").read_text())["1. plain 0-shot generate"]
    assert means["relevance"]["mean"] == 3.0 and means["fluency"]["mean"] == 4.0 and means["fluency"]["n"] == 1
    assert means["mean of the criteria"]["mean"] == 3.5  # (2 + 4) / 2 for tea, 4 for bread
    assert (folder / "rubric.md").is_file()
    bad = write(tmp_path / "bad.csv", [{**rows[0], "relevance": "7", "fluency": "3"}])
    fails_with(["prompt", "score", str(folder), "--rubric", str(bad)], "line 2", "'7'", "1 to 5")
    unknown = write(tmp_path / "unknown.csv", [{**rows[0], "item_id": "coffee", "relevance": "3", "fluency": "3"}])
    fails_with(["prompt", "score", str(folder), "--rubric", str(unknown)], "'coffee'", "not in this run")
    no_column = write(tmp_path / "no_column.csv", [{k: v for k, v in rows[0].items() if k != "fluency"}])
    fails_with(["prompt", "score", str(folder), "--rubric", str(no_column)], "fluency")


def test_compare_pairs_two_runs_of_the_same_set(tiny, sentiment_run: Path, tmp_path: Path) -> None:
    other = run_ok(["sentiment", "--model", str(tiny), "--limit", "4", "--shots", "4", "--scoring", "logprob"],
                   tmp_path / "runs")
    result = runner.invoke(app, ["prompt", "compare", str(sentiment_run), str(other)])
    assert result.exit_code == 0, result.output
    assert "4 common items" in result.output and "B − A" in result.output
    assert "not significant" in result.output or "better" in result.output
    (tmp_path / "notes.yaml").write_text(FREE_SET)
    free = run_ok([str(tmp_path / "notes.yaml"), "--model", str(tiny)], tmp_path / "runs")
    fails_with(["prompt", "compare", str(sentiment_run), str(free)], "different prompt sets")
    fails_with(["prompt", "compare", str(sentiment_run), str(tmp_path)], "not a prompt run folder")


def test_bad_input_is_one_line(tiny, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "runs")]
    fails_with(["prompt", "run", "sentiment", "--engine", "vllm", *out], "'vllm'", "hf, ours, llamacpp")
    (tmp_path / "broken.yaml").write_text("name: broken\nkind: label\n  items: [\n")
    fails_with(["prompt", "run", str(tmp_path / "broken.yaml"), "--model", str(tiny), *out], "broken.yaml")
    (tmp_path / "missing.yaml").write_text(FREE_SET.replace('"{request}"', '"{request} for {audience}"'))
    fails_with(["prompt", "run", str(tmp_path / "missing.yaml"), "--model", str(tiny), *out], "audience")
    long_text = " ".join(["bread"] * 3000)
    (tmp_path / "long.yaml").write_text(FREE_SET.replace("Explain how bread rises.", long_text))
    fails_with(["prompt", "run", str(tmp_path / "long.yaml"), "--model", str(tiny), *out], "'bread'",
               "over the context of 2048")
    fails_with(["prompt", "run", "sentiment", "--model", str(tiny), "--samples", "3", *out], "temperature")
    fails_with(["prompt", "run", "arithmetic", "--model", str(tiny), "--scoring", "logprob", *out], "label set")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
