from __future__ import annotations

import json
from pathlib import Path

import pytest

from zero2hero.labs import get_lab
from zero2hero.labs.runner import make_config, run_lab


@pytest.mark.heavy
def test_quick_lab_3(tmp_path: Path) -> None:
    lab = get_lab(3)
    run = run_lab(lab, make_config(lab, quick=True), tmp_path)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    assert metrics["identical_greedy_tokens"] == 16
    assert metrics["kv_cache_speedup"] > 0 and metrics["cache_tokens_per_s"] > 0
    report = (run.folder / "report.md").read_text()
    assert "decoding setting" in report and "top-p" in report
    assert (run.folder / "attention_heads.png").exists()


@pytest.mark.heavy
def test_bench_generate_quick_is_consistent() -> None:
    from zero2hero.bench import get_benchmark

    f = get_benchmark("generate").run(quick=True).figures
    assert f["identical_greedy_first_64"] is True
    assert f["ours_cache_decode_tokens_per_s"] > 0 and f["copy_bandwidth_gb_s"] > 0
    assert 0 < f["bandwidth_utilisation_ratio"] < 1.5
