from __future__ import annotations

import json

import pytest

from zero2hero.bench import BenchResult
from zero2hero.errors import InputError
from zero2hero.labs.ch07_llama_models import Config, bench_section, tensor_kind
from zero2hero.llama.llamacpp import llamacpp_available
from zero2hero.reporting import RunContext, Table


def test_config_refuses_empty_prompts_and_zero_tokens() -> None:
    with pytest.raises(InputError, match="prompts are empty"):
        Config(prompts=["  "])
    with pytest.raises(InputError, match="at least 1"):
        Config(compare_tokens=0)
    with pytest.raises(InputError, match="does not measure q4_k"):
        Config(check_formats=["fp32", "q4_k"])


def test_tensor_kind_groups_the_blocks() -> None:
    assert tensor_kind("blk.17.attn_q.weight") == tensor_kind("blk.0.attn_q.weight") == "blk.N.attn_q.weight"
    assert tensor_kind("token_embd.weight") == "token_embd.weight"


def test_the_bench_section_carries_the_bench_and_draws_its_paths(tmp_path) -> None:
    rows = [{"path": "llamacpp_q4_1", "decode_tokens_per_s": 80.0, "heldout_ppl": 12.5},
            {"path": "ours_fp32", "decode_tokens_per_s": 10.0, "heldout_ppl": 12.25}]
    table = Table("the bench's table", ["path"], [["llamacpp_q4_1"], ["ours_fp32"]])
    bench = BenchResult("llama", {"threads_count": 2, "rounds_count": 3, "ppl_tokens_count": 512, "paths": rows},
                        [table], ["a note"])
    section = bench_section(bench, RunContext(tmp_path))
    assert section.tables == [table] and section.notes == ["a note"]
    assert section.value("bench_llamacpp_q4_1_decode_tokens_per_s") == 80
    assert section.value("bench_ours_fp32_heldout_ppl") == 12.25
    assert (tmp_path / section.figures[0].filename).stat().st_size > 1000


def _table(run, start: str):
    return next(t for t in run.result.tables if t.title.startswith(start))


@pytest.mark.heavy
def test_quick_lab_7(quick_run) -> None:
    run = quick_run(7)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}

    # 1. the architecture, read from the GGUF file
    meta = {row[0]: row[1] for row in _table(run, "SmolLM2-135M-Instruct.Q4_1.gguf: the metadata").rows}
    assert meta["llama.block_count"] == "30" and meta["llama.attention.head_count_kv"] == "3"
    assert meta["llama.attention.head_count"] == "9" and meta["llama.embedding_length"] == "576"
    assert meta["tokenizer.ggml.eos_token_id"] == "2 (<|im_end|>)" and meta["general.file_type"] == "3 (MOSTLY_Q4_1)"
    tensors = {row[0]: row for row in _table(run, "SmolLM2's tensors by kind").rows}
    assert tensors["total"][1] == 272 and tensors["blk.N.attn_k.weight"][1] == 30
    # Q4_1: 32 weights in 20 bytes; a key projection is (3 heads × 64) × 576
    assert tensors["blk.N.attn_k.weight"][4] == f"{192 * 576 // 32 * 20:,}"
    counts = [row[1] for row in _table(run, "Parameters of SmolLM2").rows]
    assert counts == ["134,515,008"] * 4
    assert metrics["ours_parameters_count"] == metrics["transformers_parameters_count"] == 134_515_008

    # 2. ours and transformers agree on the logits and on every greedy token
    logits = _table(run, "Our LLaMA against transformers' on the same weights").rows[0]
    assert float(logits[4]) < 1e-3 < float(logits[3])
    greedy = _table(run, "Greedy continuations").rows
    assert len(greedy) == 3 and all(row[2] == "yes" and row[1] >= 1 and row[3] == row[4] for row in greedy)
    assert metrics["greedy_ours_transformers_identical"] == 1

    # 3. the planner: LLaMA 65B at fp16 does not fit (130 GB of weights), SmolLM2 does; the check measured fp32
    plans = {(row[0], row[2]): row for row in _table(run, "What each model needs").rows}
    assert plans[("LLaMA 65B", "fp16")][6] == "no" and plans[("SmolLM2-135M-Instruct", "q4_0")][6] == "yes"
    assert len(plans) == 2 * 10 and 65.0 < float(plans[("LLaMA 65B", "fp16")][1]) < 65.5
    assert abs(metrics["plan_check_fp32_memory_error_pct"]) < 15

    # 4. generation: our fp32 model always; llama.cpp when it is installed, faster at decoding than fp32
    assert metrics["ours_fp32_decode_tokens_per_s"] > 0 and metrics["ours_fp32_load_s"] > 0
    answers = _table(run, "The answers, side by side")
    assert len(answers.rows) == 3 and all(row[1] for row in answers.rows)
    if llamacpp_available():
        assert answers.columns == ["prompt", "ours fp32", "llama.cpp Q4_1"]
        assert metrics["decode_speedup_llamacpp_over_ours_ratio"] > 1
    else:
        assert any("llama.cpp is not installed" in note for note in run.result.notes)
    assert "](model_memory_vs_ram.png)" in (run.folder / "report.md").read_text()
