"""The speed-up measurement runs each layout under torchrun and reports tokens/s (heavy: six process starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zero2hero.corpus import heldout_text, training_text
from zero2hero.llama.scaling.data import build_data, save_data, spread_sample
from zero2hero.llama.scaling.plan import ScalingPlan
from zero2hero.llama.scaling.speedup import ddp_speedup


@pytest.mark.heavy
def test_every_layout_trains_the_point_and_the_ratios_divide_its_speeds(tmp_path: Path) -> None:
    save_data(tmp_path, *build_data(spread_sample(training_text(), 100_000), heldout_text(10_000), 300, 50_000))
    plan = ScalingPlan(sizes=("s1",), budgets=(4_096,), vocab_size=300, context=32, batch_size=4,
                       validation_tokens=512)
    speeds = ddp_speedup(plan, "s1", 4_096, tmp_path, rounds=1)
    layouts = ("one_process_one_thread", "one_process_two_threads", "two_processes")
    assert all(speeds[f"{layout}_tokens_per_s"] > 0 for layout in layouts)
    assert speeds["speedup_two_processes_over_one_thread_ratio"] == pytest.approx(
        speeds["two_processes_tokens_per_s"] / speeds["one_process_one_thread_tokens_per_s"])
