from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from zero2hero.bench import BenchResult
from zero2hero.errors import InputError
from zero2hero.labs.ch07_austen import deploy_rows, generation_table, record_rows
from zero2hero.labs.ch07_llama_models import Config, bench_section, tensor_kind
from zero2hero.labs.ch07_scaling import (
    FitRow,
    four_bit_verdict,
    frontier_summary,
    optimum_rows,
    optimum_where,
    point_rows,
)
from zero2hero.llama.gguf_deploy import DeployResult, FormatRecord, Scores
from zero2hero.llama.llamacpp import llamacpp_available
from zero2hero.llama.scaling.fit import Frontier, Interval, IsoFlopProfile, LawFit, PowerLaw
from zero2hero.llama.scaling.points import Point
from zero2hero.llama.scaling.quantize_sizes import QuantRow
from zero2hero.llama.style_finetune import QUICK as STYLE_QUICK
from zero2hero.llama.style_finetune import StyleResult, StyleText, TrainingRecord
from zero2hero.reporting import RunContext, Table


def test_config_refuses_empty_prompts_and_zero_tokens() -> None:
    with pytest.raises(InputError, match="prompts are empty"):
        Config(prompts=["  "])
    with pytest.raises(InputError, match="at least 1"):
        Config(compare_tokens=0)
    with pytest.raises(InputError, match="does not measure q4_k"):
        Config(check_formats=["fp32", "q4_k"])
    with pytest.raises(InputError, match="no scaling plan named 'tiny'"):
        Config(scaling_plan="tiny")
    with pytest.raises(InputError, match="no style fine-tune size named 'huge'"):
        Config(style_size="huge")


def _profile(params: tuple[float, ...], losses: tuple[float, ...], optimum: float, inside: bool) -> IsoFlopProfile:
    return IsoFlopProfile(1e12, params, losses, tuple(6 * n for n in params), optimum, inside)


def test_the_optimum_says_whether_it_lies_among_the_sizes_or_at_which_edge() -> None:
    sizes = (1e4, 1e5, 1e6)
    assert optimum_where(_profile(sizes, (5.0, 4.0, 4.5), 2e5, True)).startswith("among the sizes")
    assert "smallest size is best" in optimum_where(_profile(sizes, (4.0, 4.5, 5.0), 1e4, False))
    assert "largest size is best" in optimum_where(_profile(sizes, (5.0, 4.5, 4.0), 1e6, False))
    assert "opens downwards" in optimum_where(_profile(sizes, (5.0, 4.0, 4.1), 1e5, False))


def test_optimum_rows_give_the_ratio_and_say_when_there_is_no_profile() -> None:
    row = optimum_rows([_profile((1e4, 1e5, 1e6), (4.0, 4.5, 5.0), 1e4, False)], None)[0]
    # D* = C / (6 N*) = 1e12 / 6e4 tokens; D*/N* = 1e12 / (6e4 · 1e4)
    assert row[2:5] == ["10,000", f"{1e12 / 6e4:,.0f}", f"{1e12 / 6e8:.3g}"] and row[5] == "—"
    assert optimum_rows([], None) == [["—", 0, "—", "—", "—", "—", "no compute is reached by three sizes' budgets"]]


def test_the_frontier_summary_warns_when_three_sizes_make_the_interval_meaningless() -> None:
    assert "only bounds" in frontier_summary(None)
    three = _profile((1e4, 1e5, 1e6), (5.0, 4.0, 4.5), 2e5, True)
    four = _profile((1e4, 1e5, 1e6, 1e7), (5.0, 4.0, 4.5, 5.5), 2e5, True)
    summary = frontier_summary(Frontier((three,), 0.42, Interval(0.42, 0.42), (Interval(0.42, 0.42),), 200))
    assert "D*/N* = 0.42, 90 % [0.42, 0.42]" in summary and "says nothing" in summary
    assert "says nothing" not in frontier_summary(Frontier((four,), 18.0, Interval(9.0, 30.0),
                                                           (Interval(9.0, 30.0),), 200))


def test_point_rows_show_compute_and_the_seed_of_a_replica() -> None:
    config = {"hidden_size": 32, "num_hidden_layers": 2}
    point = Point(size="s1", non_embedding_params=23_200, total_params=88_736, flops_per_token=600_000, tokens=65_536,
                  steps=256, loss=6.2275, train_seconds=2.84, learning_rate=4e-3, warmup_steps=26, world_size=1,
                  config=config, replica=1)
    assert point_rows([point], seed=0) == [["s1", "32 × 2", "23,200", "88,736", "65,536", f"{600_000 * 65_536:.3g}",
                                            "6.228", "2.8", 1]]


def test_a_fit_row_shows_e_only_when_e_was_fitted() -> None:
    fit = LawFit(PowerLaw(1.5, 20.0, 0.25), Interval(0.2, 0.3), Interval(1.0, 2.0), ())
    fixed = FitRow("L(N), E = 0", 3, "α_N", fit, False, "0.076 (Kaplan et al. 2020)").rows()
    assert fixed == [["L(N), E = 0", 3, "α_N", "0.250", "[0.200, 0.300]", "0.076 (Kaplan et al. 2020)"]]
    fitted = FitRow("L(N), E fitted", 7, "α_N", fit, True).rows()
    assert [row[2:5] for row in fitted] == [["α_N", "0.250", "[0.200, 0.300]"], ["E (nats)", "1.500", "[1.000, 2.000]"]]


def test_the_four_bit_verdict_takes_the_best_four_bit_format_against_the_goal() -> None:
    rows = [QuantRow("s3", 1000, "fp32", 5.0, 148.4, 0.0), QuantRow("s3", 1000, "q8_0", 5.0, 148.5, 0.07),
            QuantRow("s3", 1000, "q4_0", 5.2, 181.3, 22.1), QuantRow("s3", 1000, "q4_k", 5.05, 156.0, 5.1)]
    note, best = four_bit_verdict(rows, "s3")
    assert best.format == "q4_k" and "+5.10 %" in note and "within the 10 % goal" in note
    note, best = four_bit_verdict(rows[:3], "s3")
    assert best.format == "q4_0" and "beyond the 10 % goal" in note


def _record(library: str, ppl: float, generations: list[str]) -> TrainingRecord:
    return TrainingRecord(library, 460_800, 134_975_808, 5.0, 102.4, 1400.0, 150.0, 1.86, [3.2, 3.0], ppl,
                          generations, Path(library))


def test_the_style_tables_set_each_library_beside_the_base_and_austen() -> None:
    text = StyleText("Jane Austen", "train", "held out", ["It was a", "She said"], ["truth", "nothing"])
    style = StyleResult(STYLE_QUICK, text, 82.7, ["base one", "base\ntwo"],
                        {"zero2hero": _record("zero2hero", 77.5, ["ours one", "ours two"]),
                         "peft": _record("peft", 77.6, ["peft one", "peft two"])})
    rows = record_rows(style)
    assert [row[0] for row in rows] == ["zero2hero (ours)", "PEFT"] and rows[0][1] == "460,800"
    assert rows[0][2] == "0.341%" and rows[0][-1] == "82.70 → 77.50" and rows[1][-1] == "82.70 → 77.60"
    table = generation_table(style)
    assert table.columns[-2:] == ["fine-tuned, zero2hero (ours)", "fine-tuned, PEFT"]
    assert table.rows == [["It was a", "truth", "base one", "ours one", "peft one"],
                          ["She said", "nothing", "base two", "ours two", "peft two"]]


def test_deploy_rows_say_whether_the_fine_tune_beats_the_base_in_each_format() -> None:
    def record(fmt: str, tuned: float, base: float | None, llamacpp: float | None) -> FormatRecord:
        scores = Scores(tuned, "text", llamacpp, "text" if llamacpp else None)
        return FormatRecord(fmt, Path(f"{fmt}.gguf"), 77.57, 2.7, scores,
                            None if base is None else Scores(base, "text", None, None))

    deployed = DeployResult(Path("merged"), 77.5, 256, "It was",
                            [record("q4_0", 109.9, 114.6, 111.0), record("q4_k", 95.0, 90.0, None),
                             record("f32", 77.5, None, None)], None)
    rows = deploy_rows(deployed)
    assert rows[0] == ["Q4_0", "77.6", "2.7", "109.90", "111.00", "114.60", "—", "yes"]
    assert rows[1][4] == "—" and rows[1][-1] == "no"
    assert rows[2][5:] == ["—", "—", "—"]


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


@pytest.mark.heavy
def test_quick_lab_7_second_half(quick_run) -> None:
    run = quick_run(7)
    metrics = {k: v["value"] for k, v in json.loads((run.folder / "metrics.json").read_text()).items()}

    # 5. scaling: the quick plan's 3 sizes × 2 budgets, every model better than the uniform guess over its vocabulary
    points = _table(run, "The trained points").rows
    assert len(points) >= 6 and {row[0] for row in points} == {"s1", "s2", "s3"}
    assert all(0 < float(row[6]) < math.log(2048) for row in points)
    alpha_n = metrics["scaling_alpha_n_slope"]
    assert math.isfinite(alpha_n) and alpha_n > 0
    assert metrics["scaling_alpha_n_low_slope"] <= alpha_n <= metrics["scaling_alpha_n_high_slope"]
    fits = _table(run, "Fitted scaling laws").rows
    assert fits[0][2] == "α_N" and "0.076 (Kaplan et al. 2020)" in fits[0][5]
    assert _table(run, "Compute-optimal size").rows

    # 6. quantisation across sizes: 8 bits cost less than 4 on every size
    quantized = _table(run, "Perplexity of each size").rows
    increase = {(row[0], row[2]): float(row[5].split()[0]) for row in quantized}
    for size in ("s1", "s2", "s3"):
        assert increase[(size, "fp32")] == 0 and increase[(size, "q8_0")] < increase[(size, "q4_0")]
    assert any(note.startswith("Quantisation across sizes: on the largest size, s3") for note in run.result.notes)

    # 7. the Austen fine-tune: perplexity falls, ours and PEFT train the same number of parameters
    records = {row[0]: row for row in _table(run, "LoRA fine-tune of SmolLM2 on Jane Austen").rows}
    assert set(records) == {"zero2hero (ours)", "PEFT"}
    assert records["zero2hero (ours)"][1] == records["PEFT"][1] == "460,800"
    for row in records.values():
        before, after = map(float, row[-1].split(" → "))
        assert after < before
    assert metrics["style_ours_trainable_count"] == metrics["style_peft_trainable_count"] == 460_800
    assert metrics["style_ours_heldout_ppl"] < metrics["style_base_heldout_ppl"]
    assert len(_table(run, "Greedy continuations of held-out openings").rows) == 3

    # 8. deployed: the four formats, F32's perplexity that of the merged model, 4 bits the smallest files
    deployed = {row[0]: row for row in _table(run, "The fine-tuned model deployed").rows}
    assert list(deployed) == ["F32", "Q8_0", "Q4_0", "Q4_K"]
    assert float(deployed["F32"][3]) == pytest.approx(metrics["deploy_merged_ppl"], rel=1e-3)
    assert float(deployed["Q4_0"][1]) < float(deployed["Q8_0"][1]) < float(deployed["F32"][1])
    if llamacpp_available():
        assert float(deployed["Q8_0"][4]) == pytest.approx(float(deployed["Q8_0"][3]), rel=0.02)
    else:
        assert any("llama.cpp is not installed" in note for note in run.result.notes)
    report = (run.folder / "report.md").read_text()
    for figure in ("scaling_loss_vs_params.png", "scaling_loss_vs_tokens.png", "quantization_by_size.png",
                   "style_loss_curves.png"):
        assert f"]({figure})" in report
