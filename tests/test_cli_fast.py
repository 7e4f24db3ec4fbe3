"""Everyday commands start fast: nothing imports torch before it is needed; `python -m zero2hero` works;
`z2h assets` lists every offline default, models and corpus, from one function."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zero2hero import assets
from zero2hero.cli import app

# Runs the CLI in a fresh interpreter, then reports which heavy libraries it imported.
_PROBE = """
import sys
from zero2hero.cli import main
sys.argv = ["z2h", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print("IMPORTED:", ",".join(m for m in ("torch", "transformers") if m in sys.modules))
"""


def _imported_by(*args: str) -> str:
    result = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.rsplit("IMPORTED:", 1)[1].strip()


@pytest.mark.parametrize("args", [["--help"], ["list"], ["bench"], ["tokenize", "hello"]])
def test_everyday_commands_do_not_import_torch(args: list[str]) -> None:
    assert _imported_by(*args) == ""


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "zero2hero", "lab", "99"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 1 and "no lab for chapter 99" in result.stderr
    assert "Traceback" not in result.stderr
    listing = subprocess.run([sys.executable, "-m", "zero2hero", "--help"], capture_output=True, text=True,
                             timeout=120)
    assert listing.returncode == 0 and "python -m zero2hero" in listing.stdout and "generate" in listing.stdout


def test_offline_defaults_list_models_and_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    rows = {row.name: row for row in assets.offline_defaults()}
    assert list(rows) == [*assets.ASSETS, "corpus", "fine-foods"]
    assert rows["smollm2"].installed and rows["smollm2"].location.endswith(".gguf") and rows["smollm2"].size_mb > 90
    missing = rows["corpus"]
    assert not missing.installed and missing.size_mb is None
    assert missing.location == "python -m zero2hero.corpus install" and missing.licence == "public domain"
    (tmp_path / "course-corpus-v2.txt").write_text("x" * 2_000_000)
    corpus = {row.name: row for row in assets.offline_defaults()}["corpus"]
    assert corpus.installed and corpus.size_mb == 2.0 and corpus.location == str(tmp_path / "course-corpus-v2.txt")


def test_assets_command_prints_the_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, ["assets", "--require"])
    assert result.exit_code == 1 and "missing offline defaults: corpus" in result.output
    assert "python -m zero2hero.corpus install" in result.output and "public domain" in result.output
