"""The chapter 9 notebook runs as a script, and what it prints holds: the DAG DVC sees, a cache key that moves with
the seed, a first run where every stage runs, a second where none does, a changed setting that reruns only export and
package with the manifest diff naming it, labelled data from the rules, the evaluation, the app's answers and errors,
and a load test that loses and changes nothing."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "course/09-end-to-end-app/notebook.py"
STAGES = ["collect", "clean", "label", "stats", "split", "train_classifier", "train_generator", "evaluate", "export",
          "package"]


@pytest.mark.heavy  # runs the whole pipeline on the real models at a small size, then serves it: about 2 minutes
def test_notebook_runs_and_its_claims_hold() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # 1. the stages in order, each with its outs; 2. the key moves with the seed
    assert re.findall(r"^(\w+) +deps ", out, re.M) == STAGES, out
    assert re.search(r"^key: [0-9a-f]{16}…; with seed 1: [0-9a-f]{16}…; equal: False$", out, re.M), out
    # 3. from scratch every stage runs; 4. unchanged nothing runs; q4_0 reruns export and package only
    first = re.findall(r"^(\w+) +(ran|cached) +[\d.]+ s$", out, re.M)
    assert [stage for stage, _ in first] == STAGES and {status for _, status in first} == {"ran"}
    assert re.search(r"^unchanged: [\d.]+ s, stages run: \[\]$", out, re.M), out
    assert "export.gguf_format=q4_0: stages run: ['export', 'package']" in out
    assert "  config.export.gguf_format: q8_0 -> q4_0" in out
    # 5. labelled data: 5 topics at most, every record counted
    labelled = re.search(r"^(\d+) labelled reviews; topics (\{.*\})$", out, re.M)
    topics = ast.literal_eval(labelled[2])
    assert sum(topics.values()) == int(labelled[1]) <= 200 and set(topics) <= {"delivery", "price", "health", "taste",
                                                                                "general"}
    # 6. every score a share
    scores = re.findall(r"^\w+: fine-tuned ([\d.]+), prompting alone ([\d.]+)$", out, re.M)
    assert len(scores) == 3 and all(0 <= float(v) <= 1 for pair in scores for v in pair)
    # 7. the app: a health check, labels, a stream ending with done, every problem of a bad request, 413
    assert "health: ok" in out
    predicted = ast.literal_eval(re.search(r"^classify: (\{.*\})$", out, re.M)[1])
    assert set(predicted) == {"sentiment", "topic"} and predicted["sentiment"] in {"great", "other"}
    assert re.search(r"^\d+ events; the last one: 'event: done\\ndata: \{\"pieces\": \d+", out, re.M), out
    problems = ast.literal_eval(re.search(r"^bad request: 422 (\[.*\])$", out, re.M)[1])
    assert [p.split(":")[0] for p in problems] == ["text", "max_new_tokens", "colour"]
    assert "too large: 413" in out
    # 8. under load nothing is lost or wrong
    assert re.search(r"^p50 \d+ ms, p95 \d+ ms, [\d.]+ requests/s; lost 0, wrong 0$", out, re.M), out
