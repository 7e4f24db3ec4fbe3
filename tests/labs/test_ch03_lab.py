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
    # MLM vs CLM in quick mode: both tiny models trained alike and beyond the commonest-character guess (~0.19);
    # the encoder fills blanks better, the decoder predicts the next character better.
    assert metrics["mlm_clm_steps"] == 1000 and 50_000 < metrics["mlm_clm_parameters"] < 200_000
    for name in ("mlm_fill_in_accuracy", "clm_fill_in_accuracy", "mlm_next_char_accuracy", "clm_next_char_accuracy"):
        assert 0 <= metrics[name] <= 1
    assert metrics["mlm_fill_in_accuracy"] > metrics["clm_fill_in_accuracy"] > 0.3
    assert metrics["clm_next_char_accuracy"] > max(0.3, metrics["mlm_next_char_accuracy"])
    assert metrics["mlm_train_seconds"] > 0 and metrics["clm_train_seconds"] > 0
    # The curriculum's models, counted from their configurations: published sizes 110 M, 124 M and 82 M.
    assert round(metrics["bert-base-uncased_parameters"] / 1e6) == 110
    assert round(metrics["gpt2_parameters"] / 1e6) == 124 and round(metrics["distilgpt2_parameters"] / 1e6) == 82
    assert metrics["distilgpt2_decode_tokens_per_s"] > metrics["gpt2_decode_tokens_per_s"]
    report = (run.folder / "report.md").read_text()
    assert "decoding setting" in report and "top-p" in report and "MLM vs CLM" in report
    assert (run.folder / "attention_heads.png").exists() and (run.folder / "mlm_vs_clm_loss.png").exists()
    assert "](attention_heads.png)" in report and "](mlm_vs_clm_loss.png)" in report


@pytest.mark.heavy
def test_bench_generate_quick_is_consistent() -> None:
    from zero2hero.bench import get_benchmark

    f = get_benchmark("generate").run(quick=True).figures
    assert f["identical_greedy_first_64"] is True
    assert f["ours_cache_decode_tokens_per_s"] > 0 and f["copy_bandwidth_gb_s"] > 0
    assert 0 < f["bandwidth_utilisation_ratio"] < 1.5
