from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "course" / "02-tokenization-embeddings" / "notebook.py"


@pytest.mark.heavy
def test_chapter_2_notebook_runs_as_a_script() -> None:
    result = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "round trip ok: True" in result.stdout and "dense cosines" in result.stdout
