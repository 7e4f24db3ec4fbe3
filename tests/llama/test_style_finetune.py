"""The style fine-tune: ours and PEFT's LoRA on a tiny LLaMA lower the held-out loss alike, every resource is
recorded with a plausible value, and the Austen split keeps her held-out text out of training. Heavy: SmolLM2's
quick configuration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.llama.tiny_text_model import author_text, write_tiny_llama
from zero2hero.errors import InputError
from zero2hero.llama.style_finetune import (
    ORIGINAL_WORDS,
    PROMPT_WORDS,
    QUICK,
    StyleConfig,
    StyleText,
    austen_text,
    heldout_opening,
    style_finetune,
)

# 2 layers × (q_proj 32 -> 32: 4 × (32 + 32), v_proj 32 -> 2 kv heads × 8: 4 × (32 + 16)) at rank 4
TINY_TRAINABLE = 2 * (4 * (32 + 32) + 4 * (32 + 16))


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = write_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")
    text = StyleText(author="a made-up author", train=author_text(200, seed=1), heldout=author_text(20, seed=2),
                     prompts=["The letter of Emma was", "The ball of Anne"], originals=["", ""])
    config = StyleConfig(model=str(folder), rank=4, alpha=8.0, windows=32, length=32, batch_size=4, steps=80,
                         learning_rate=3e-2, eval_tokens=256, new_tokens=6)
    return style_finetune(config, text, tmp_path_factory.mktemp("adapters"))


def test_both_libraries_lower_the_heldout_perplexity_alike(tiny_run) -> None:
    ours, peft = tiny_run.runs["zero2hero"], tiny_run.runs["peft"]
    assert ours.heldout_ppl < 0.9 * tiny_run.before_ppl
    assert ours.losses[-1] < ours.losses[0]
    # the same A matrices (same seed, same draw), B = 0, the same batches: the same training, step by step
    assert ours.losses == pytest.approx(peft.losses, rel=1e-4)
    assert ours.heldout_ppl == pytest.approx(peft.heldout_ppl, rel=1e-4)
    assert ours.generations == peft.generations


def test_ours_and_peft_train_the_same_number_of_parameters(tiny_run) -> None:
    assert tiny_run.runs["zero2hero"].trainable_parameters == TINY_TRAINABLE
    assert tiny_run.runs["peft"].trainable_parameters == TINY_TRAINABLE


def test_the_resource_record_has_every_field_with_plausible_values(tiny_run) -> None:
    config = tiny_run.config
    for record in tiny_run.runs.values():
        assert record.total_parameters > record.trainable_parameters > 0
        assert 0 < record.train_s < 120
        assert record.tokens_per_s == pytest.approx(config.steps * config.batch_size * config.length / record.train_s)
        assert record.peak_mb > 50 and 0 <= record.added_mb <= record.peak_mb
        weights = record.adapter_dir / "adapter_model.safetensors"
        assert record.adapter_mb == pytest.approx(weights.stat().st_size / 1e6)
        assert TINY_TRAINABLE * 4 / 1e6 < record.adapter_mb < TINY_TRAINABLE * 4 / 1e6 + 0.01  # float32 + header
        assert (record.adapter_dir / "adapter_config.json").is_file()
        assert len(record.losses) == config.steps
        assert len(record.generations) == 2 and all(isinstance(g, str) and g for g in record.generations)
    assert len(tiny_run.before_generations) == 2


def test_our_adapter_loads_into_peft_with_the_same_outputs(tiny_run) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from zero2hero.lora.adapter_files import load_adapted_model

    ours, _ = load_adapted_model(tiny_run.runs["zero2hero"].adapter_dir, kind="causal_lm")
    base = AutoModelForCausalLM.from_pretrained(tiny_run.config.model)
    theirs = PeftModel.from_pretrained(base, tiny_run.runs["zero2hero"].adapter_dir).eval()
    ids = torch.arange(3, 40)[None]
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-5, rtol=1e-5)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="steps must be at least 1"):
        replace(QUICK, steps=0)
    with pytest.raises(InputError, match="learning_rate must be positive"):
        replace(QUICK, learning_rate=0.0)
    text = StyleText("x", "a", "b", [], [])
    with pytest.raises(InputError, match="unknown LoRA implementation"):
        style_finetune(QUICK, text, tmp_path, libraries=("loralib",))
    with pytest.raises(InputError, match="no paragraph long enough"):
        heldout_opening("Too short.\n\nAlso short.")


def test_austen_s_heldout_text_and_prompts_never_appear_in_training() -> None:
    text = austen_text(eval_tokens=512)
    assert text.author == "Jane Austen" and len(text.prompts) == 3
    assert 512 * 4 < len(text.heldout) < 512 * 8
    for piece in text.heldout.split("\n\n"):
        if len(piece) > 200:  # chapter headings and short lines recur in any novel: long paragraphs must not
            assert piece not in text.train
    for prompt, original in zip(text.prompts, text.originals, strict=True):
        assert len(prompt.split()) == PROMPT_WORDS and len(original.split()) == ORIGINAL_WORDS
        assert f"{prompt} {original}" not in " ".join(text.train.split())


@pytest.mark.heavy
def test_smollm2_quick_configuration(tmp_path: Path) -> None:
    result = style_finetune(QUICK, austen_text(QUICK.eval_tokens), tmp_path)
    ours, peft = result.runs["zero2hero"], result.runs["peft"]
    assert ours.trainable_parameters == peft.trainable_parameters == 460_800  # r=8 on q_proj, v_proj: lab 6's count
    assert ours.heldout_ppl < result.before_ppl and peft.heldout_ppl < result.before_ppl
    assert ours.heldout_ppl == pytest.approx(peft.heldout_ppl, rel=1e-3)
    assert 1.5 < ours.adapter_mb < 2.5
