"""The chapter 5 notebook runs as a script, and its short fine-tune beats always answering the majority label."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "course/05-fine-tuning/notebook.py"


@pytest.mark.heavy  # fine-tunes MiniLM for 60 steps: 146 s on one thread of a busy 2-core machine (59 s CPU)
def test_notebook_runs_and_the_fine_tune_learns() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "exact duplicates:" in out and "TF-IDF + LR: test accuracy" in out
    assert re.search(r"^step 60: train loss", out, re.MULTILINE), out
    confusion = re.search(r"confusion \(rows: true label, columns: predicted\): \[\[(\d+), (\d+)\], \[(\d+), (\d+)\]\]",
                          out)
    assert confusion, out
    great_right, great_wrong, other_wrong, other_right = map(int, confusion.groups())
    # the majority answer ("great" every time) would leave the second column empty
    assert other_right > other_wrong, out
    accuracy = float(re.search(r"fine-tuned MiniLM on 500 test reviews: accuracy ([\d.]+)", out).group(1))
    majority_share = (great_right + great_wrong) / 500
    assert accuracy == pytest.approx((great_right + other_right) / 500)
    assert accuracy > majority_share + 0.05, out
    assert "expected calibration error:" in out
