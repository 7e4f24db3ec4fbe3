"""Reading split records and replacing a stage's out folder all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from zero2hero.errors import InputError
from zero2hero.pipeline.stage_io import read_records, replaced_dir


def test_an_out_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "models" / "generator"
    with replaced_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    with replaced_dir(out) as tmp:
        (tmp / "b.txt").write_text("second")
    assert [p.name for p in out.iterdir()] == ["b.txt"]  # the old content is gone, not merged
    with pytest.raises(RuntimeError), replaced_dir(out) as tmp:
        (tmp / "c.txt").write_text("half")
        raise RuntimeError("killed mid-stage")
    assert [p.name for p in out.iterdir()] == ["b.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["generator"]  # no temporary left behind


def test_records_are_read_line_by_line_and_a_broken_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"id": "a", "text": "tea"}\n\n{"id": "b", "text": "coffee"}\n')
    assert read_records(path) == [{"id": "a", "text": "tea"}, {"id": "b", "text": "coffee"}]
    path.write_text('{"id": "a"\n')
    with pytest.raises(InputError, match="train.jsonl"):
        read_records(path)
    with pytest.raises(InputError, match="earlier stages"):
        read_records(tmp_path / "missing.jsonl")
