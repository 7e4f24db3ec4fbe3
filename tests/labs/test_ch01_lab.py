from __future__ import annotations

import json
from pathlib import Path

import pytest

from zero2hero.errors import InputError
from zero2hero.labs import get_lab
from zero2hero.labs.runner import make_config, run_lab


def test_quick_lab_writes_a_complete_run_directory(quick_run) -> None:
    run = quick_run(1)
    files = {p.name for p in run.folder.iterdir()}
    assert {"report.md", "metrics.json", "config.json", "environment.json", "zipf.png", "top_words.png"} <= files
    metrics = json.loads((run.folder / "metrics.json").read_text())
    assert metrics["clean_chars_count"]["value"] < metrics["raw_chars_count"]["value"]
    assert 0.2 < metrics["stopword_share_ratio"]["value"] < 0.8 and metrics["stopword_share_ratio"]["unit"] == "ratio"
    assert -2 < metrics["text_zipf_slope"]["value"] < 0
    report = (run.folder / "report.md").read_text()
    for section in ("What each cleaning step changed", "Top n-grams", "seven languages", "![Zipf plot](zipf.png)"):
        assert section in report
    # The multilingual table detects the problems it is there to show.
    assert "dotted/dotless i" in report and "no spaces between words" in report and "compound" in report
    assert json.loads((run.folder / "config.json").read_text())["quick"] is True
    assert not list(run.folder.parent.glob(".tmp-*")), "no temporary folder left behind"


def test_lab_on_a_learner_file_and_bad_file(tmp_path: Path) -> None:
    text = tmp_path / "mine.txt"
    text.write_text("The cat sat on the mat. The dog sat on the log. " * 20, encoding="utf-8")
    run = run_lab(get_lab(1), make_config(get_lab(1), True, {"text_file": text}), tmp_path / "runs")
    assert "mine.txt" in (run.folder / "report.md").read_text()
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    with pytest.raises(InputError, match="binary"):
        run_lab(get_lab(1), make_config(get_lab(1), True, {"text_file": binary}), tmp_path / "bad")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir()), "nothing half-written"


def test_full_lab_fits_zipf_on_the_course_corpus(tmp_path: Path) -> None:
    run = run_lab(get_lab(1), make_config(get_lab(1), quick=False), tmp_path)
    metrics = json.loads((run.folder / "metrics.json").read_text())
    assert -1.3 < metrics["course_corpus_zipf_slope"]["value"] < -0.9, "Zipf's law holds on a large sample"
    assert metrics["corpus_tokens_count"]["value"] > 500_000
