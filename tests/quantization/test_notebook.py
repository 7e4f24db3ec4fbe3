from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).parents[2] / "course" / "04-inference-quantization" / "notebook.py"


def test_notebook_runs_as_a_script() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "identical to gguf: True" in done.stdout and "outlier_tensor_mse" in done.stdout
    assert "torch_int8_mixed" in done.stdout and "down_proj" in done.stdout
