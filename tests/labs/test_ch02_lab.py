from __future__ import annotations

import json


def test_quick_lab_2(quick_run) -> None:
    run = quick_run(2)
    metrics = json.loads((run.folder / "metrics.json").read_text())
    # Bigger BPE vocabularies give longer tokens.
    sizes = [metrics[f"bpe_{v}_heldout_bytes_per_token"]["value"] for v in (300, 1000, 4000)]
    assert sizes == sorted(sizes) and sizes[0] > 1.0
    assert metrics["same_topic_mean_cosine"]["value"] > metrics["other_topic_mean_cosine"]["value"] + 0.2
    assert 1.0 < metrics["prose_bpe_tokens_per_word"]["value"] < metrics["rare_words_bpe_tokens_per_word"]["value"]
    report = (run.folder / "report.md").read_text()
    for expected in ("Granularity", "One-hot vs dense", "queen", "similarity_heatmap.png", "embeddings_pca.png"):
        assert expected in report
    figures = {"bpe_vocab_sweep.png", "similarity_heatmap.png", "embeddings_pca.png"}
    assert figures <= {p.name for p in run.folder.iterdir()}
