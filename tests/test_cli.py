"""The `z2h` command line: commands run, bad input gives a one-line error and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zero2hero.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_list_shows_every_chapter() -> None:
    result = _run("list")
    assert result.exit_code == 0
    for title in ("Fundamentals of NLP", "LoRA", "multimodal"):
        assert title in result.output


def test_lab_writes_report_and_says_where(tmp_path: Path) -> None:
    result = _run("lab", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    reports = list(tmp_path.glob("*-ch01_text_fundamentals/report.md"))
    assert len(reports) == 1 and "report.md" in result.output


def test_tour_writes_one_combined_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tour mechanism on chapter 1 alone; every lab's quick mode has its own test under tests/labs.
    from zero2hero.labs import available_labs
    from zero2hero.labs import runner as lab_runner

    monkeypatch.setattr(lab_runner, "available_labs", lambda: {1: available_labs()[1]})
    result = _run("tour", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    (tour,) = tmp_path.glob("*-tour")
    report = (tour / "report.md").read_text()
    assert "ch01_text_fundamentals/zipf.png" in report, "figure links point into each lab's folder"


@pytest.mark.parametrize(("args", "message"), [
    (["lab", "99"], "no lab for chapter 99"),
    (["check", "42"], "no course folder for chapter 42"),
    (["bench", "no-such-bench"], "unknown benchmark"),
])
def test_unknown_names_give_one_line_errors(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("content", "message"), [(b"", "is empty"), (b"\x00\x01binary", "looks binary"),
                                                  (b"\xff\xfe\xfa", "not valid UTF-8")])
def test_bad_text_files_give_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    result = _run("lab", "1", "--text", str(path), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_directory_instead_of_file(tmp_path: Path) -> None:
    result = _run("lab", "1", "--text", str(tmp_path), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 1 and "is a directory" in result.output


def test_check_solution_passes_and_stub_fails() -> None:
    assert _run("check", "1", "--solution").exit_code == 0
    result = _run("check", "1")
    assert result.exit_code == 1 and "not implemented yet" in result.output


def test_assets_and_doctor() -> None:
    result = _run("assets", "--require")
    assert result.exit_code == 0 and "smollm2" in result.output and "minilm" in result.output
    result = _run("doctor")
    assert result.exit_code == 0 and "torch" in result.output


def test_console_script_hides_tracebacks(tmp_path: Path) -> None:
    z2h = Path(sys.executable).parent / "z2h"
    result = subprocess.run([str(z2h), "lab", "1", "--text", str(tmp_path / "nope.txt")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert "no such file" in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_lab_refuses_an_option_it_does_not_take(tmp_path: Path) -> None:
    text = tmp_path / "f.txt"
    text.write_text("Some text to read.", encoding="utf-8")
    result = _run("lab", "3", "--text", str(text), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 1 and "lab 3 does not take --text" in result.output
    assert "--prompts" in result.output and not (tmp_path / "runs").exists()


def test_lab_3_prompts_come_from_a_file_and_beat_quick_sizing(tmp_path: Path) -> None:
    from zero2hero.labs import get_lab
    from zero2hero.labs.runner import make_config
    from zero2hero.text.io import read_lines_file

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Once upon a time\n\n  The best way to learn is \n", encoding="utf-8")
    config = make_config(get_lab(3), quick=True, overrides={"prompts": read_lines_file(prompts)})
    assert config.prompts == ["Once upon a time", "The best way to learn is"]
    assert config.new_tokens == 8, "the rest of quick sizing still applies"
