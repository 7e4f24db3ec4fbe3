from __future__ import annotations

import json

import pytest


@pytest.mark.heavy
def test_quick_lab_3(quick_run) -> None:
    run = quick_run(3)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    assert metrics["greedy_identical_prefix_count"] == 16
    assert metrics["speedup_cache_over_no_cache_ratio"] > 0 and metrics["ours_cache_decode_tokens_per_s"] > 0
    # MLM vs CLM in quick mode: both tiny models trained alike and beyond the commonest-character guess (~0.19);
    # the encoder fills blanks better, the decoder predicts the next character better.
    assert metrics["mlm_clm_steps_count"] == 1000 and 50_000 < metrics["mlm_clm_parameters_count"] < 200_000
    for name in ("mlm_fill_in_accuracy", "clm_fill_in_accuracy", "mlm_next_char_accuracy", "clm_next_char_accuracy"):
        assert 0 <= metrics[name] <= 1
    assert metrics["mlm_fill_in_accuracy"] > metrics["clm_fill_in_accuracy"] > 0.3
    assert metrics["clm_next_char_accuracy"] > max(0.3, metrics["mlm_next_char_accuracy"])
    assert metrics["mlm_train_s"] > 0 and metrics["clm_train_s"] > 0
    # The curriculum's models, counted from their configurations: published sizes 110 M, 124 M and 82 M.
    assert round(metrics["bert_base_uncased_parameters_count"] / 1e6) == 110
    assert round(metrics["gpt2_parameters_count"] / 1e6) == 124
    assert round(metrics["distilgpt2_parameters_count"] / 1e6) == 82
    assert metrics["distilgpt2_decode_tokens_per_s"] > metrics["gpt2_decode_tokens_per_s"]
    report = (run.folder / "report.md").read_text()
    assert "decoding setting" in report and "top-p" in report and "MLM vs CLM" in report
    assert (run.folder / "attention_heads.png").exists() and (run.folder / "mlm_vs_clm_loss.png").exists()
    assert "](attention_heads.png)" in report and "](mlm_vs_clm_loss.png)" in report
