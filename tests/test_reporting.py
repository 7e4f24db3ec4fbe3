from __future__ import annotations

import json
from pathlib import Path

import pytest

from zero2hero.reporting import LabResult, Section, Table, render_markdown, write_files


def test_report_has_metrics_tables_and_escaped_cells(tmp_path: Path) -> None:
    result = LabResult(title="Demo lab", lab="demo")
    section = Section(tables=[Table("T", ["a", "b"], [["x|y", 0.123456]])])
    section.metric("decode_tokens_per_s", 12.3456, "how fast")
    result.add(section)
    text = render_markdown(result, {"quick": True}, 1.0)
    assert "| decode_tokens_per_s | 12.35 | tokens/s | how fast |" in text and "x\\|y" in text and "0.1235" in text
    write_files(tmp_path, result, {"quick": True}, 1.0)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["decode_tokens_per_s"] == {"value": 12.3456, "unit": "tokens/s", "description": "how fast"}
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["packages"]["torch"].startswith("2.") and env["cpu_count"] >= 1


def test_metric_names_carry_their_unit_and_are_reported_once() -> None:
    section = Section()
    with pytest.raises(ValueError, match="unit suffix"):
        section.metric("decode_speed", 1.0)
    with pytest.raises(ValueError, match="which over which"):
        section.metric("speedup_ratio", 2.0)
    section.metric("ours_s", 1.0)
    result = LabResult(title="t")
    result.add(section)
    with pytest.raises(ValueError, match="reported twice"):
        result.add(section)
