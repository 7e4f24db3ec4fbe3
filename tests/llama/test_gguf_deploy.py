"""An adapter deployed to llama.cpp: merged, converted, written as GGUF at each format; the F32 file read back by our
reader gives the merged model's logits, llama.cpp's perplexity on it is ours within 1 %, and without llama.cpp our
figures are still computed. Heavy: SmolLM2 after the quick style fine-tune keeps its gain at Q8_0 and Q4_K."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.llama.tiny_text_model import author_text, write_tiny_llama
from zero2hero.errors import InputError
from zero2hero.llama import llamacpp
from zero2hero.llama.gguf_deploy import DeployConfig, deploy_adapter
from zero2hero.llama.gguf_model import llama_from_gguf

needs_llamacpp = pytest.mark.skipif(not llamacpp.llamacpp_available(), reason=llamacpp.INSTALL_HINT)
CONFIG = DeployConfig(eval_tokens=200, window=64, new_tokens=6)
PROMPT = "The letter of Emma"


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A LoRA adapter of the tiny LLaMA on q_proj, v_proj whose B matrices are random, so it changes the model."""
    from transformers import AutoModelForCausalLM

    from zero2hero.lora.adapter_files import save_adapter
    from zero2hero.lora.inject import add_lora, lora_layers
    from zero2hero.lora.layer import LoRASettings

    folder = tmp_path_factory.mktemp("tiny")
    base = write_tiny_llama(folder / "base")
    model = AutoModelForCausalLM.from_pretrained(base)
    add_lora(model, "q_proj,v_proj", LoRASettings(rank=4, alpha=8.0))
    with torch.no_grad():
        for layer in lora_layers(model).values():
            torch.nn.init.normal_(layer.lora_B["default"].weight, std=0.5)
    return save_adapter(model, folder / "adapter", str(base), task_type="CAUSAL_LM")


def toy_tokenizer_metadata(vocab_size: int) -> dict:
    """llama.cpp needs a vocabulary in the file to load it; the ids are passed directly, so any one will do."""
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": [f"t{i}" for i in range(vocab_size)],
            "tokenizer.ggml.merges": ["t 1"]}


def deploy(adapter: Path, out: Path, config: DeployConfig = CONFIG):
    from transformers import AutoConfig

    from zero2hero.lora.adapter_files import read_adapter_config

    vocab = AutoConfig.from_pretrained(read_adapter_config(adapter).base_model).vocab_size
    return deploy_adapter(adapter, out, author_text(30, seed=3), PROMPT, config, toy_tokenizer_metadata(vocab))


@pytest.fixture(scope="module")
def deployed(adapter, tmp_path_factory):
    return deploy(adapter, tmp_path_factory.mktemp("deploy"))


def test_the_f32_file_gives_the_merged_model_s_logits(adapter, deployed) -> None:
    from transformers import AutoModelForCausalLM

    from zero2hero.lora.adapter_files import load_adapted_model

    unmerged, _ = load_adapted_model(adapter, kind="causal_lm")
    merged = AutoModelForCausalLM.from_pretrained(deployed.merged_dir).eval()
    f32 = next(record for record in deployed.formats if record.fmt == "f32")
    ours = llama_from_gguf(f32.path)
    ids = torch.arange(5, 60)[None]
    with torch.no_grad():
        reference = merged(ids).logits
        torch.testing.assert_close(unmerged(ids).logits, reference, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours(ids)[0], reference, atol=1e-4, rtol=1e-4)
    assert f32.tuned.ours_ppl == pytest.approx(deployed.merged_ppl, rel=1e-4)


def test_every_format_is_written_scored_and_set_beside_the_base(deployed) -> None:
    assert [record.fmt for record in deployed.formats] == ["f32", "q8_0", "q4_0", "q4_k"]
    sizes = {record.fmt: record.file_mb for record in deployed.formats}
    assert sizes["f32"] > 3 * sizes["q8_0"] and sizes["q8_0"] > 1.5 * sizes["q4_0"]  # 4, 1.06, 0.56 bytes a weight
    for record in deployed.formats:
        assert record.path.is_file() and record.write_s > 0
        assert record.base is not None and record.base.ours_ppl != pytest.approx(record.tuned.ours_ppl, rel=1e-3)
        assert isinstance(record.tuned.ours_generation, str)
    by_format = {record.fmt: record.tuned.ours_ppl for record in deployed.formats}
    assert by_format["q8_0"] == pytest.approx(by_format["f32"], rel=0.02)
    assert deployed.eval_tokens == CONFIG.eval_tokens


@needs_llamacpp
def test_llamacpp_s_perplexity_on_the_merged_f32_file_is_ours_within_one_percent(deployed) -> None:
    f32 = next(record for record in deployed.formats if record.fmt == "f32")
    assert deployed.llamacpp_missing is None
    assert f32.tuned.llamacpp_ppl == pytest.approx(f32.tuned.ours_ppl, rel=0.01)
    assert f32.tuned.llamacpp_generation == f32.tuned.ours_generation  # greedy on the same float32 weights


def test_without_llamacpp_our_figures_are_still_computed(adapter, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now raises ImportError
    result = deploy(adapter, tmp_path, DeployConfig(formats=("q8_0",), eval_tokens=100, window=50, new_tokens=4,
                                                    compare_base=False))
    assert result.llamacpp_missing == llamacpp.INSTALL_HINT
    (record,) = result.formats
    assert record.tuned.llamacpp_ppl is None and record.tuned.llamacpp_generation is None
    assert record.tuned.ours_ppl > 1 and record.base is None


def test_bad_settings_are_refused(adapter, tmp_path) -> None:
    with pytest.raises(InputError, match="unknown GGUF format"):
        DeployConfig(formats=("q3_k",))
    with pytest.raises(InputError, match="at least 2"):
        DeployConfig(window=1)
    with pytest.raises(InputError, match="not a LoRA adapter folder"):
        deploy_adapter(tmp_path, tmp_path / "out", "text", PROMPT, CONFIG, {})
    with pytest.raises(InputError, match="the tokenizer metadata holds 7 tokens"):
        deploy_adapter(adapter, tmp_path / "out", "text", PROMPT, CONFIG, toy_tokenizer_metadata(7))


@pytest.mark.heavy
def test_smollm2_keeps_its_fine_tuned_gain_when_quantised(tmp_path: Path) -> None:
    from zero2hero.llama.style_finetune import QUICK, austen_text, style_finetune

    text = austen_text(QUICK.eval_tokens)
    tuned = style_finetune(QUICK, text, tmp_path / "style", libraries=("zero2hero",))
    result = deploy_adapter(tuned.runs["zero2hero"].adapter_dir, tmp_path / "deploy", text.heldout, text.prompts[0],
                            DeployConfig(formats=("q8_0", "q4_k"), eval_tokens=QUICK.eval_tokens,
                                         window=QUICK.length, new_tokens=8))
    for record in result.formats:
        assert record.tuned.ours_ppl < record.base.ours_ppl
        if result.llamacpp_missing is None:
            assert record.tuned.llamacpp_ppl < record.base.llamacpp_ppl
