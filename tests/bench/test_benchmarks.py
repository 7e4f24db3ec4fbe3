"""Every benchmark's quick run follows the figure contract (docs/contracts.md) and measures what it says."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zero2hero.bench import BenchResult, available_benchmarks, contract_problems, get_benchmark
from zero2hero.cli import app

# They load SmolLM2 and run several engines, or train.
HEAVY = {"generate", "quant", "finetune", "lora", "llama", "prompt", "align"}
BENCHES = [pytest.param(n, marks=pytest.mark.heavy) if n in HEAVY else n for n in available_benchmarks()]
_results: dict[str, BenchResult] = {}


def quick(name: str) -> BenchResult:
    if name not in _results:
        _results[name] = get_benchmark(name).run(quick=True)
    return _results[name]


def test_the_contract_catches_bad_names() -> None:
    assert contract_problems({"ours_s": 1.0, "ids_identical": True, "rows": [{"level": "a", "size_mb": 1.0}]}) == []
    bad = contract_problems({"seconds": 1.0, "speedup_ratio": 2.0, "Ours_s": 1, "rows": [{"size": 3}], "x": None})
    assert len(bad) == 5 and any("which over which" in p for p in bad)
    with pytest.raises(ValueError, match="breaks the figure contract"):
        BenchResult("demo", {"time": 1.0}, [])


@pytest.mark.parametrize("name", BENCHES)
def test_quick_run_follows_the_contract(name: str) -> None:
    result = quick(name)
    assert result.name == name and result.tables and result.notes
    assert contract_problems(result.figures) == []
    ratios = [k for k in result.figures if k.endswith("_ratio") and "speed" in k and "_over_" in k]
    assert ratios and all(result.figures[k] > 0 for k in ratios), "each bench reports a ratio against its peer"
    json.dumps(result.figures)  # plain JSON, as `z2h bench --json` prints it


def test_bench_list_and_json() -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["bench", "--json"]).output)
    assert set(listed) == set(available_benchmarks()) and all(listed.values())
    result = runner.invoke(app, ["bench", "words", "--json", "--quick"])
    assert result.exit_code == 0 and json.loads(result.output)["tokens_identical"] is True


def test_words_and_encode_agree_with_rust() -> None:
    assert quick("words").figures["tokens_identical"] is True
    encode = quick("encode").figures
    assert encode["ids_identical"] is True and encode["tokens_count"] > 10_000


def test_bpe_trainers_learn_nearly_the_same_merges() -> None:
    f = quick("bpe").figures
    trainers = {row["trainer"]: row for row in f["trainers"]}
    assert set(trainers) == {"ours", "rust_string", "rust_lines"}
    assert f["merges_shared_with_rust_string_ratio"] >= 0.95 and f["merges_shared_with_rust_lines_ratio"] >= 0.95
    ours, rust = trainers["ours"]["heldout_bytes_per_token"], trainers["rust_lines"]["heldout_bytes_per_token"]
    assert abs(ours / rust - 1) <= 0.01
    assert all(row["train_s"] > 0 and row["peak_added_mb"] >= 0 for row in trainers.values())


@pytest.mark.heavy
def test_generate_reproduces_model_generate() -> None:
    f = quick("generate").figures
    assert f["greedy_identical_prefix_count"] == f["new_tokens_count"] == 32
    assert {row["engine"] for row in f["engines"]} == {"ours_cache", "ours_no_cache", "generate"}
    assert 0 < f["bandwidth_used_ratio"] < 1.5 and f["copy_bandwidth_gb_per_s"] > 0


@pytest.mark.heavy
def test_quant_levels_are_rows_against_fp32() -> None:
    f = quick("quant").figures
    assert (f["q8_0_bits_per_weight"], f["q4_1_bits_per_weight"], f["q4_0_bits_per_weight"]) == (8.5, 5.0, 4.5)
    levels = {row["level"]: row for row in f["levels"]}
    assert levels["fp32"]["speedup_level_over_fp32_ratio"] == 1.0 and levels["fp32"]["ppl_change_ratio"] == 0.0
    assert levels["ours_q8_0"]["size_mb"] < levels["fp32"]["size_mb"]
    assert abs(levels["ours_q8_0"]["ppl_change_ratio"]) < 0.05


@pytest.mark.heavy
def test_finetune_trains_both_loops_on_the_same_examples() -> None:
    import math

    f = quick("finetune").figures
    trained = f["steps_per_round_count"] * f["batch_examples_count"]
    assert f["ours_train_examples_count"] == f["trainer_train_examples_count"] == trained
    for loop in ("ours", "trainer"):  # a fresh two-class head starts near ln 2, and training moves it
        assert abs(f[f"{loop}_first_step_loss"] - math.log(2)) < 0.35
        assert math.isfinite(f[f"{loop}_last_step_loss"]) and f[f"{loop}_peak_added_mb"] > 0
    ratio = f["ours_train_examples_per_s"] / f["trainer_train_examples_per_s"]
    assert f["speedup_ours_over_trainer_ratio"] == pytest.approx(ratio) and f["inference_examples_per_s"] > 0


@pytest.mark.heavy
def test_lora_compares_three_trainings_of_the_same_model() -> None:
    f = quick("lora").figures
    for method in ("full", "peft", "ours"):
        assert f[f"minilm_{method}_step_s"] > 0 and f[f"minilm_{method}_peak_added_mb"] > 0
        assert f[f"minilm_{method}_predicted_added_mb"] > 0
    ratio = f["minilm_ours_step_s"] / f["minilm_peft_step_s"]
    assert f["minilm_ours_step_time_over_peft_ratio"] == pytest.approx(ratio)
    assert f["speedup_ours_over_peft_minilm_ratio"] == pytest.approx(1 / f["minilm_ours_step_time_over_peft_ratio"])
    # LoRA trains 0.3 % of MiniLM's weights: its step adds far less memory than full fine-tuning's AdamW state
    assert f["minilm_lora_over_full_peak_memory_ratio"] < 0.5


@pytest.mark.heavy
def test_llama_runs_every_path_on_the_same_gguf() -> None:
    from zero2hero.assets import asset_path
    from zero2hero.bench.llama import LLAMACPP_PATHS, TORCH_PATHS
    from zero2hero.llama.llamacpp import llamacpp_available
    from zero2hero.llama.plan_sources import resolve

    result = quick("llama")
    f = result.figures
    rows = {row["path"]: row for row in f["paths"]}
    shown = {row[0]: row for row in result.tables[0].rows}
    assert set(shown) == {*LLAMACPP_PATHS, *TORCH_PATHS}  # every path has a row, measured or not
    if llamacpp_available():
        assert f["llamacpp"] == "installed" and set(rows) == set(shown)
        assert f["speedup_ours_fastest_over_llamacpp_q4_1_ratio"] > 0
        shipped = asset_path("smollm2").stat().st_size  # the weights are the file less its header and tokenizer
        assert 0.9 * shipped < rows["llamacpp_q4_1"]["weight_read_bytes_per_token"] < shipped
        q4_0, q4_1, q8_0 = (rows[f"llamacpp_{q}"]["weight_read_bytes_per_token"] for q in ("q4_0", "q4_1", "q8_0"))
        assert q4_0 < q4_1 < q8_0
        # our fp32 weights are the shipped Q4_1 dequantised: llama.cpp on that file scores the text nearly as they do
        assert rows["llamacpp_q4_1"]["heldout_ppl"] == pytest.approx(rows["ours_fp32"]["heldout_ppl"], rel=0.05)
        assert rows["llamacpp_q8_0"]["heldout_ppl"] == pytest.approx(rows["ours_fp32"]["heldout_ppl"], rel=0.05)
    else:
        assert f["llamacpp"] == "not_installed" and set(rows) == set(TORCH_PATHS)
        assert all(shown[path][1].startswith("not installed — ") for path in LLAMACPP_PATHS)
    for row in rows.values():
        assert row["load_s"] > 0 and row["prefill_tokens_per_s"] > 0 and row["decode_tokens_per_s"] > 0
        assert row["peak_added_mb"] > 10 and row["resident_added_mb"] > 10 and 1 < row["heldout_ppl"] < 1000
        assert 0 < row["bandwidth_used_ratio"] < 1.5
    # the same float32 weights: the same greedy tokens and perplexity, and 4 bytes per parameter read per token
    assert rows["ours_fp32"]["greedy_prefix_shared_with_transformers_fp32_count"] == f["new_tokens_count"]
    assert rows["ours_fp32"]["heldout_ppl"] == pytest.approx(rows["transformers_fp32"]["heldout_ppl"], rel=1e-3)
    fp32_bytes = 4 * resolve("smollm2")[0].parameters()
    assert rows["ours_fp32"]["weight_read_bytes_per_token"] == rows["transformers_fp32"][
        "weight_read_bytes_per_token"] == fp32_bytes
    assert (rows["ours_int4_g32_fused"]["weight_read_bytes_per_token"]
            < rows["ours_int8_fused"]["weight_read_bytes_per_token"] < fp32_bytes)
    ratio = rows["ours_fp32"]["decode_tokens_per_s"] / rows["transformers_fp32"]["decode_tokens_per_s"]
    assert f["speedup_ours_fp32_over_transformers_fp32_ratio"] == pytest.approx(ratio)


@pytest.mark.heavy
def test_align_times_our_sft_and_dpo_steps_against_trl() -> None:
    import math

    f = quick("align").figures
    for kind in ("sft", "dpo"):
        for trainer in ("ours", "trl"):
            assert f[f"{kind}_{trainer}_step_s"] > 0
        ratio = f[f"{kind}_speed_ours_over_trl_ratio"]
        assert math.isfinite(ratio) and ratio == pytest.approx(f[f"{kind}_trl_step_s"] / f[f"{kind}_ours_step_s"])


@pytest.mark.heavy
def test_prompt_cache_keeps_every_decision() -> None:
    f = quick("prompt").figures
    assert f["decisions_identical"] is True and f["shots_count"] == 8
    rows = {row["engine"]: row for row in f["engines"]}
    assert "transformers" in rows
    for row in rows.values():
        assert 0 < row["prefix_tokens_count"] < row["prompt_tokens_mean_count"]
        assert row["cached_examples_per_s"] > 0 and row["uncached_examples_per_s"] > 0

