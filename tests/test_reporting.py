from __future__ import annotations

import json
from pathlib import Path

import pytest

from zero2hero.reporting import LabResult, Table, atomic_dir, render_markdown, write_files


def test_atomic_dir_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "run") as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "whole.txt").write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and (tmp_path / "run" / "whole.txt").exists()


def test_report_has_metrics_tables_and_escaped_cells(tmp_path: Path) -> None:
    result = LabResult("demo", "Demo lab")
    result.add_metric("speed", 12.3456, "tokens/s", "how fast")
    result.tables.append(Table("T", ["a", "b"], [["x|y", 0.123456]]))
    text = render_markdown(result, {"quick": True}, 1.0)
    assert "| speed | 12.35 | tokens/s | how fast |" in text and "x\\|y" in text and "0.1235" in text
    write_files(tmp_path, result, {"quick": True}, 1.0)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["speed"] == {"value": 12.3456, "unit": "tokens/s", "description": "how fast"}
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["packages"]["torch"].startswith("2.") and env["cpu_count"] >= 1
