from __future__ import annotations

import json

import pytest

from zero2hero.errors import InputError
from zero2hero.labs.ch06_peft_lora import Config


def test_the_chosen_rank_must_be_one_of_the_ranks() -> None:
    with pytest.raises(InputError, match="chosen_rank 8 is not among"):
        Config(ranks=[1, 4])


@pytest.mark.heavy
def test_quick_lab_6(quick_run) -> None:
    run = quick_run(6)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    # Trainable numbers from the architectures, by hand: MiniLM has 6 layers of width 384, a 2-class head of
    # 384·2 + 2 = 770; LoRA r adds r·(384 + 384) to query and to value in every layer.
    assert metrics["head_only_trainable_count"] == 770
    for rank in (1, 8):
        assert metrics[f"lora_r{rank}_trainable_count"] == 6 * 2 * rank * (384 + 384) + 770
    assert metrics["full_trainable_count"] > 22_000_000 and metrics["full_trainable_share_ratio"] == 1
    assert metrics["lora_r8_trainable_share_ratio"] < 0.02
    # SmolLM2: 30 layers, width 576, keys/values 192 wide (3 KV heads of 64): r·(576 + 576) + r·(576 + 192).
    assert metrics["smollm2_lora_trainable_count"] == metrics["smollm2_qlora_trainable_count"] == 30 * 8 * (1152 + 768)
    # The adapter file is a sliver of the model's; LoRA trains faster and needs far less memory than full.
    assert metrics["lora_r8_checkpoint_mb"] < 0.01 * metrics["full_checkpoint_mb"]
    assert metrics["lora_r8_step_s"] < metrics["full_step_s"]
    assert metrics["minilm_lora_r8_peak_added_mb"] < 0.5 * metrics["minilm_full_peak_added_mb"]
    assert metrics["minilm_head_only_peak_added_mb"] < metrics["minilm_lora_r8_peak_added_mb"]
    # A 4-bit base is a different model: its perplexity before training is not the fp32 base's.
    assert metrics["smollm2_nf4_base_heldout_ppl"] != metrics["smollm2_before_heldout_ppl"]
    for key in ("full", "lora", "qlora"):
        assert metrics[f"smollm2_{key}_heldout_ppl"] > 1 and metrics[f"smollm2_{key}_step_s"] > 0
    assert metrics["unmerged_over_merged_time_ratio"] > 0
    report = (run.folder / "report.md").read_text()
    for title in ("the learning rate, on validation", "One training step of MiniLM", "predicted peak training memory",
                  "Greedy continuations", "Inference of"):
        assert title in report
    for figure in ("f1_vs_trainable.png", "memory_components.png", "loss_curves.png"):
        assert f"]({figure})" in report
