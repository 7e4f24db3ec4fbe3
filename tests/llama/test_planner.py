"""The hardware planner: parameter counts against published ones and against real models, memory and KV arithmetic
by hand, the fits-in-RAM verdict, bad input, `z2h plan`, and (heavy) SmolLM2 predicted vs measured."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
import torch
from transformers import BloomConfig, BloomForCausalLM, FalconConfig, FalconForCausalLM, GPT2Config
from transformers import LlamaConfig as HFLlamaConfig
from typer.testing import CliRunner

from tests.llama.conftest import tiny_llama, write_llama_gguf
from zero2hero.cli import app
from zero2hero.errors import InputError, UnknownNameError
from zero2hero.llama import plan_sources, planner
from zero2hero.llama.planner import Architecture, Ram
from zero2hero.lora.memory import ModelShape, predict

MODELS = plan_sources.named_models()
SIZE_NAMES = {name for name, arch in MODELS.items() if "size name" in arch.published_as}


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied head counted once


@pytest.mark.parametrize("name", sorted(set(MODELS) - SIZE_NAMES))
def test_counts_are_within_two_percent_of_the_published_figures(name: str) -> None:
    arch = MODELS[name]
    assert arch.parameters() == pytest.approx(arch.published_parameters, rel=0.02)


def test_bloom_is_counted_to_the_parameter() -> None:
    assert MODELS["bloom-176b"].parameters() == 176_247_271_424  # its model card's figure


@pytest.mark.parametrize("name", sorted(SIZE_NAMES))
def test_counts_are_near_the_size_in_the_models_name(name: str) -> None:
    """Llama 2 and Falcon publish a size name, not a count: 7B is 6.74B, 40B is 41.3B (5 %, not 2 %)."""
    arch = MODELS[name]
    assert arch.parameters() == pytest.approx(arch.published_parameters, rel=0.05)


def test_llama_2_reuses_the_llama_architecture_whose_counts_are_published() -> None:
    for size in ("7b", "13b"):
        assert MODELS[f"llama-2-{size}"].parameters() == MODELS[f"llama-{size}"].parameters()


@pytest.mark.parametrize("config, model_class", [
    (HFLlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, tie_word_embeddings=False, attention_bias=True), None),
    (HFLlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                   num_key_value_heads=1, tie_word_embeddings=True, mlp_bias=True), None),
    (FalconConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4), FalconForCausalLM),
    (FalconConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_kv_heads=2,
                  new_decoder_architecture=True), FalconForCausalLM),
    (FalconConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, parallel_attn=False,
                  multi_query=False, bias=True), FalconForCausalLM),
    (BloomConfig(vocab_size=40, hidden_size=32, n_layer=2, n_head=4), BloomForCausalLM),
], ids=["llama-gqa-bias", "llama-mqa-tied", "falcon-7b-like", "falcon-40b-like", "falcon-sequential", "bloom"])
def test_the_formula_counts_what_transformers_builds(config, model_class) -> None:
    from transformers import LlamaForCausalLM

    model = (model_class or LlamaForCausalLM)(config)
    assert plan_sources.from_transformers_config(config, "tiny").parameters() == numel(model)


def test_llama_shapes_agree_with_chapter_6s_memory_model() -> None:
    arch = MODELS["llama-2-70b"]
    config = HFLlamaConfig(vocab_size=32000, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                           num_attention_heads=64, num_key_value_heads=8, tie_word_embeddings=False)
    assert arch.memory_shape() == ModelShape.from_config(config)
    assert arch.parameters() == ModelShape.from_config(config).parameters()
    assert planner.finetune_bytes(arch) == {
        method: predict(config, method, 1, 512, ("q_proj", "v_proj"), 8).total_bytes
        for method in ("full", "lora", "qlora")}
    assert planner.finetune_bytes(MODELS["falcon-7b"]) is None  # chapter 6 writes out LLaMA blocks only


TINY = Architecture(name="tiny", vocab=10, hidden=8, intermediate=12, layers=2, heads=2, kv_heads=1, head_dim=4,
                    context=16, tied_embeddings=False)


def test_tiny_architecture_by_hand() -> None:
    # block: q 8·8 + k, v 2·8·4 + o 8·8 = 192, MLP 3·8·12 = 288; two blocks 960; embedding and head 2·10·8 = 160
    assert TINY.matrices() == 1120
    assert TINY.vectors() == 2 * 2 * 8 + 8  # two RMSNorms per block, one final
    assert TINY.parameters() == 1160
    assert planner.weights_bytes(TINY, "fp32") == 4640
    assert planner.weights_bytes(TINY, "fp16") == 2320
    assert planner.weights_bytes(TINY, "q8_0") == 1120 * 34 / 32 + 40 * 4  # 1350
    assert planner.weights_bytes(TINY, "q4_0") == 1120 * 18 / 32 + 40 * 4  # 790
    assert planner.weights_bytes(TINY, "q4_k") == 1120 * 144 / 256 + 40 * 4  # 790
    assert planner.weights_bytes(TINY, "q4_0", embeddings_fp32=True) == 960 * 18 / 32 + 160 * 4 + 40 * 4


def test_kv_cache_and_speed_by_hand() -> None:
    # batch 3 × 16 tokens × 2 layers × (key + value) × 1 head × 4 values × 2 bytes (fp16)
    assert planner.kv_bytes(TINY, 16, 3, "q4_0") == 3 * 16 * 2 * 2 * 1 * 4 * 2 == 1536
    assert planner.kv_bytes(TINY, 16, 3, "fp32") == 3072
    plan = planner.make_plan(TINY, "q4_0", context=16, batch=3, bandwidth_gb_per_s=1.0, ram=Ram(10**6, 10**6))
    assert plan.needed_bytes == 790 + 1536
    assert plan.tokens_per_s == pytest.approx(3 * 1e9 / 2326)


def test_q4_k_bits_per_weight_is_llama_cpps_super_block() -> None:
    assert planner.bits_per_weight("q4_k") == 4.5  # 144 bytes per 256 weights
    assert planner.bits_per_weight("q8_0") == 8.5 and planner.bits_per_weight("q4_0") == 4.5


def test_fit_verdict() -> None:
    ram = Ram(total_bytes=100, available_bytes=50)
    assert [planner.fit_verdict(n, ram) for n in (40, 50, 80, 100, 120)] == ["yes", "yes", "tight", "tight", "no"]
    laptop = Ram(16 * 10**9, 12 * 10**9)
    assert planner.make_plan(MODELS["llama-7b"], "q4_0", 2048, 1, 30.0, laptop).fits == "yes"  # 3.8 + 1.1 GB
    assert planner.make_plan(MODELS["llama-7b"], "fp16", 2048, 1, 30.0, laptop).fits == "tight"  # 13.5 + 1.1 GB
    assert planner.make_plan(MODELS["llama-7b"], "fp32", 2048, 1, 30.0, laptop).fits == "no"  # 27 GB + 2.1 GB
    assert planner.make_plan(MODELS["llama-65b"], "q4_0", 2048, 1, 30.0, laptop).fits == "no"


def test_the_offline_gguf_is_counted_tensor_by_tensor() -> None:
    arch, file_bytes = plan_sources.resolve("smollm2")
    from zero2hero.assets import asset_path

    reader = gguf.GGUFReader(asset_path("smollm2"))  # the reference reader, not ours
    assert arch.parameters() == sum(int(t.n_elements) for t in reader.tensors) == 134_515_008
    assert arch.tied_embeddings and (arch.layers, arch.heads, arch.kv_heads) == (30, 9, 3)
    assert file_bytes == pytest.approx(sum(int(t.n_bytes) for t in reader.tensors), rel=0.001)


def test_a_written_gguf_and_a_config_folder_count_like_the_model(tmp_path: Path) -> None:
    model = tiny_llama(tie=False)
    path = write_llama_gguf(tmp_path / "tiny.gguf", model, gguf.GGMLQuantizationType.Q8_0)
    arch, _ = plan_sources.resolve(str(path))
    assert arch.parameters() == numel(model) and not arch.tied_embeddings
    model.config.save_pretrained(tmp_path / "folder")
    assert plan_sources.resolve(str(tmp_path / "folder"))[0].parameters() == numel(model)


def test_bad_input_is_refused_with_a_hint(tmp_path: Path, smollm2_path: Path) -> None:
    with pytest.raises(UnknownNameError) as error:
        plan_sources.resolve("llama-8b")
    assert "llama-2-70b" in error.value.hint and "smollm2" in error.value.hint
    with pytest.raises(InputError, match="no config.json"):
        plan_sources.resolve(str(tmp_path))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(InputError):
        plan_sources.resolve(str(junk))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(smollm2_path.read_bytes()[:4096])
    with pytest.raises(InputError):
        plan_sources.resolve(str(truncated))
    GPT2Config(n_layer=1).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(InputError, match="gpt2"):
        plan_sources.resolve(str(tmp_path / "gpt2"))
    with pytest.raises(InputError, match="q3_k"):
        planner.make_plan(TINY, "q3_k", bandwidth_gb_per_s=1.0)
    with pytest.raises(InputError, match="at least 1"):
        planner.make_plan(TINY, "q4_0", context=0, bandwidth_gb_per_s=1.0)


def test_the_cli_prints_a_table_and_refuses_bad_input_on_one_line() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["plan", "llama-2-70b", "--context", "2048", "--format", "q4_k"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Llama 2 70B" in result.output and "68.98" in result.output and "q4_k" in result.output
    unknown = runner.invoke(app, ["plan", "gpt-5"])
    assert unknown.exit_code == 1 and "falcon-40b" in unknown.output and "Traceback" not in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    bad_batch = runner.invoke(app, ["plan", "llama-7b", "--batch", "0"])
    assert bad_batch.exit_code == 1 and "at least 1" in bad_batch.output


@pytest.mark.heavy
def test_smollm2_predictions_hold_on_this_machine() -> None:
    from zero2hero.llama.plan_check import CHECK_FORMATS, check_smollm2

    rows = check_smollm2()
    assert [row.fmt for row in rows] == list(CHECK_FORMATS)
    for row in rows:
        assert abs(row.memory_error) <= 0.15, row
        # Speed on a shared machine varies run to run, so only the physical bound is asserted here:
        # decoding cannot beat the bandwidth ceiling. `z2h plan --check` reports how far apart they are.
        assert 0 < row.measured_tokens_per_s < row.ceiling_tokens_per_s, row
