from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_notebook_runs() -> None:
    root = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, str(root / "course/03-transformers/notebook.py")], capture_output=True,
                          text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "max |logit difference|" in done.stdout
    assert "greedy:" in done.stdout and "mlm: fill-in accuracy" in done.stdout
