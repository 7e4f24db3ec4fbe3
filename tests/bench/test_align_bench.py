"""The align bench's memory reading: a fresh process sets a trainer up and steps it, and reports what that added."""

from __future__ import annotations

import pytest


@pytest.mark.heavy
def test_a_dpo_step_adds_memory_measured_in_a_fresh_process(tmp_path) -> None:
    from zero2hero.alignment.step_timing import Workload, peak_added_mb, write_tiny_llama

    workload = Workload("dpo", str(write_tiny_llama(tmp_path)), batch_size=2, max_length=64)
    # set-up and a step (LoRA, AdamW's state, activations, the response positions' logits) add well over 20 MB
    assert 20 < peak_added_mb(workload, "ours", steps=1) < 2_000
