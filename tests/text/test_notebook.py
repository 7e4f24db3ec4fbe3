from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "course" / "01-text-fundamentals" / "notebook.py"


def test_chapter_1_notebook_runs_as_a_script() -> None:
    result = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "slope" in result.stdout and "ja:" in result.stdout
