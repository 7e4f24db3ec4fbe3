"""Lab 10: the quick run trains every stage once (SFT with LoRA and in full, a reward model, DPO, GRPO, CLIP and the
captioner) and reports each with shares in [0, 1], our SFT loss equal to TRL's, and the figures the lesson shows."""

from __future__ import annotations

import json
import math

import pytest

from zero2hero.errors import InputError
from zero2hero.labs.ch10_alignment_steps import rule_score
from zero2hero.labs.ch10_cutting_edge import Config

SHARES = ["sft_before_accuracy", "sft_lora_accuracy", "sft_full_accuracy", "reward_pair_accuracy",
          "dpo_rules_win_ratio", "dpo_reward_win_ratio", "grpo_first_reward_ratio", "grpo_last_reward_ratio",
          "grpo_held_out_before_accuracy", "grpo_held_out_after_accuracy",
          "clip_seen_zero_shot_accuracy", "clip_unseen_zero_shot_accuracy", "clip_digits_zero_shot_accuracy",
          "captioner_seen_all_accuracy", "captioner_unseen_colour_accuracy"]


def test_config_refuses_empty_sizes_and_a_non_positive_beta() -> None:
    with pytest.raises(InputError, match="sft_steps must be at least 1"):
        Config(sft_steps=0)
    with pytest.raises(InputError, match="dpo_beta"):
        Config(dpo_beta=0.0)
    with pytest.raises(InputError, match="0 \\(all\\) or more"):
        Config(caption_images=-1)


def test_the_rule_judge_prefers_correct_then_shorter() -> None:
    from zero2hero.alignment.instructions import Instruction

    item = Instruction("arithmetic", "arithmetic/0", "What is 2 + 3?", "5")
    assert rule_score(item, "5") > rule_score(item, "5, I think, after some thought") > rule_score(item, "6")


def test_the_figures_smooth_over_past_steps_and_show_different_scenes() -> None:
    from zero2hero.labs.ch10_alignment_steps import _trailing_mean
    from zero2hero.labs.ch10_multimodal_steps import _distinct

    assert _trailing_mean([1.0, 2.0, 3.0, 4.0], 2) == [1.0, 1.5, 2.5, 3.5]
    captions = ["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"]
    assert _distinct(captions, 2) == [0, 12] and _distinct(captions, 3) == [0, 8, 12]
    assert _distinct(captions, 10) == [0, 5, 8, 12]  # each caption once, at its first image


def test_quick_lab_10(quick_run) -> None:
    run = quick_run(10)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}
    report = (run.folder / "report.md").read_text()
    for name in SHARES:
        assert 0 <= metrics[name] <= 1, name
    # our response-only loss is TRL's on the same batch, and a fresh DPO policy starts at the reference
    assert metrics["sft_ours_loss"] == pytest.approx(metrics["sft_trl_loss"], abs=1e-4)
    assert math.isfinite(metrics["dpo_kl_to_reference_nats"]) and math.isfinite(metrics["reward_trl_loss"])
    assert metrics["test_instructions_count"] > 0 and metrics["train_pairs_count"] > 0
    for figure in ("sft_loss.png", "reward_loss.png", "dpo_loss.png", "grpo_reward.png", "clip_loss.png",
                   "captions.png"):
        assert (run.folder / figure).stat().st_size > 0 and f"]({figure})" in report
    assert "held out" in report and "unseen combinations" in report
