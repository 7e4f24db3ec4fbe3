"""Our GGUF writer: the reference reader agrees with ours on what it wrote, the weights come back exact (F32) or equal
to the reference quantiser's bytes (Q8_0/Q4_0), and transformers loads the file into the same LLaMA."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from tests.llama.conftest import converter_permute, tiny_llama, write_llama_gguf
from tests.llama.test_gguf_reader import _assert_same_as_reference
from zero2hero.errors import InputError
from zero2hero.llama.gguf_model import gguf_names, llama_from_gguf, unpermute_rotary
from zero2hero.llama.gguf_reader import read_gguf
from zero2hero.llama.gguf_writer import permute_rotary, tokenizer_entries, write_gguf
from zero2hero.llama.model import Llama, LlamaConfig, from_transformers

Q = gguf.GGMLQuantizationType
V = gguf.GGUFValueType
QTYPES = {"f32": Q.F32, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}
TOKENIZER = {
    "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": [f"t{i}" for i in range(96)],
    "tokenizer.ggml.token_type": [1] * 95 + [3], "tokenizer.ggml.scores": [0.5, -1.25],
    "tokenizer.ggml.merges": ["t 1", "t1 2"], "tokenizer.ggml.bos_token_id": 95,
    "tokenizer.ggml.add_bos_token": False, "tokenizer.chat_template": "{{ messages }} — naïve 🦙",
}


def _ids(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 96, (2, 30), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fmt", list(QTYPES))
def test_the_reference_reader_reads_what_our_reader_reads(tmp_path: Path, fmt: str) -> None:
    hf = tiny_llama(tie=fmt == "q4_0")
    path = write_gguf(from_transformers(hf), tmp_path / "tiny.gguf", fmt, tokenizer_metadata=TOKENIZER)
    names = list(gguf_names(from_transformers(hf).config).values())
    _assert_same_as_reference(path, names)  # same metadata, tensor infos, offsets, bytes and values
    ours, reader = read_gguf(path), gguf.GGUFReader(path)
    cfg = hf.config
    assert ours.version == 3 and ours.alignment == 32 and ours.data_offset % 32 == 0
    assert ours.metadata["general.architecture"] == "llama" and ours.metadata["llama.block_count"] == 2
    assert ours.metadata["general.file_type"] == {"f32": 0, "q8_0": 7, "q4_0": 2}[fmt]
    assert (ours.metadata["llama.attention.head_count"], ours.metadata["llama.attention.head_count_kv"]) == (4, 2)
    assert (ours.metadata["llama.embedding_length"], ours.metadata["llama.feed_forward_length"]) == (64, 96)
    assert ours.metadata["llama.rope.freq_base"] == 500.0 and ours.metadata["llama.context_length"] == 128
    assert ours.metadata["llama.attention.layer_norm_rms_epsilon"] == float(np.float32(cfg.rms_norm_eps))
    assert {k: v for k, v in ours.metadata.items() if k.startswith("tokenizer.")} == TOKENIZER
    # the value types llama.cpp checks: token ids uint32, float hyperparameters float32, token types int32
    assert reader.fields["tokenizer.ggml.bos_token_id"].types == [V.UINT32]
    assert reader.fields["llama.block_count"].types == [V.UINT32]
    assert reader.fields["llama.rope.freq_base"].types == [V.FLOAT32]
    assert reader.fields["tokenizer.ggml.token_type"].types == [V.ARRAY, V.INT32]
    assert reader.fields["tokenizer.ggml.add_bos_token"].types == [V.BOOL]
    assert ("output.weight" in ours.tensors) == (fmt != "q4_0") and len(ours.tensors) == len(names)
    stored = {info.name: info.type_name for info in ours.tensors.values()}
    assert {stored[n] for n in names if n.endswith("norm.weight")} == {"F32"}
    assert {stored[n] for n in names if not n.endswith("norm.weight")} == {QTYPES[fmt].name}


@pytest.mark.parametrize("tie", [False, True])
def test_an_f32_file_loads_back_into_identical_logits(tmp_path: Path, tie: bool) -> None:
    model = from_transformers(tiny_llama(tie=tie, seed=3))
    back = llama_from_gguf(write_gguf(model, tmp_path / "tiny.gguf"))
    assert back.config.tie_word_embeddings == tie
    with torch.inference_mode():
        expected, got = model(_ids())[0], back(_ids())[0]
    assert expected.abs().max() > 1 and torch.equal(got, expected)


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
def test_quantised_tensors_are_the_reference_quantiser_s_bytes(tmp_path: Path, fmt: str) -> None:
    hf = tiny_llama(seed=4)
    ours = read_gguf(write_gguf(from_transformers(hf), tmp_path / "tiny.gguf", fmt))
    cfg = hf.config
    for i in range(cfg.num_hidden_layers):  # the rotary permutation is llama.cpp converter's, done independently
        q = converter_permute(hf.state_dict()[f"model.layers.{i}.self_attn.q_proj.weight"].numpy(), 4)
        k = converter_permute(hf.state_dict()[f"model.layers.{i}.self_attn.k_proj.weight"].numpy(), 2)
        down = hf.state_dict()[f"model.layers.{i}.mlp.down_proj.weight"].numpy()
        for name, w in {"attn_q": q, "attn_k": k, "ffn_down": down}.items():
            reference = gguf.quants.quantize(w, QTYPES[fmt]).reshape(-1)
            assert torch.equal(ours.read_raw(f"blk.{i}.{name}.weight"), torch.from_numpy(reference)), name
    embeddings = gguf.quants.quantize(hf.state_dict()["model.embed_tokens.weight"].numpy(), QTYPES[fmt])
    assert torch.equal(ours.read_raw("token_embd.weight"), torch.from_numpy(embeddings.reshape(-1)))
    norm = hf.state_dict()["model.norm.weight"]
    assert torch.equal(ours.read_tensor("output_norm.weight"), norm)


@pytest.mark.parametrize("tie", [False, True])
def test_transformers_loads_our_f32_file_into_our_logits(tmp_path: Path, tie: bool) -> None:
    model = from_transformers(tiny_llama(tie=tie, seed=5))
    path = write_gguf(model, tmp_path / "tiny.gguf")
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype="float32").eval()
    assert hf.config.tie_word_embeddings == tie and hf.config.num_key_value_heads == 2
    with torch.inference_mode():
        expected, got = model(_ids())[0], hf(_ids()).logits
    assert expected.abs().max() > 1 and (got - expected).abs().max().item() < 1e-4


def test_tokenizer_keys_are_copied_from_a_source_file(tmp_path: Path) -> None:
    hf = tiny_llama()
    source = read_gguf(write_llama_gguf(tmp_path / "source.gguf", hf, Q.F32))
    copied = tokenizer_entries(source)
    assert set(copied) == {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges"}
    target = read_gguf(write_gguf(from_transformers(hf), tmp_path / "target.gguf", tokenizer_metadata=copied))
    assert tokenizer_entries(target) == copied


def test_permute_rotary_is_the_converter_s_and_undone_by_the_loader() -> None:
    w = torch.randn(4 * 16, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(permute_rotary(w, 4), torch.from_numpy(converter_permute(w.numpy(), 4)))
    assert torch.equal(unpermute_rotary(permute_rotary(w, 4), 4), w)


def test_bad_input_is_refused(tmp_path: Path) -> None:
    model = from_transformers(tiny_llama())
    with pytest.raises(InputError, match="unknown GGUF format 'q5_k'"):
        write_gguf(model, tmp_path / "x.gguf", fmt="q5_k")
    with pytest.raises(InputError, match="not a LlamaForCausalLM"):
        write_gguf(tiny_llama(), tmp_path / "x.gguf")
    with pytest.raises(InputError, match="every element of a GGUF array has the same type"):
        write_gguf(model, tmp_path / "x.gguf", tokenizer_metadata={"tokenizer.ggml.mixed": ["a", 1]})
    odd = Llama(LlamaConfig(vocab_size=10, hidden_size=40, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=20))
    with pytest.raises(InputError, match="rows of 40 values, not a multiple of 32"):
        write_gguf(odd, tmp_path / "x.gguf", fmt="q8_0")
    model.extra = nn.Parameter(torch.zeros(3))
    with pytest.raises(InputError, match=r"parameters a plain LLaMA has not \(\['extra'\]\)"):
        write_gguf(model, tmp_path / "x.gguf")
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.heavy
def test_smollm2_rewritten_keeps_llama_cpp_s_tensors_and_tokenizer_value_types(tmp_path: Path,
                                                                              smollm2_path: Path) -> None:
    source = read_gguf(smollm2_path)
    path = write_gguf(llama_from_gguf(smollm2_path), tmp_path / "smollm2.q8_0.gguf", "q8_0",
                      tokenizer_metadata=tokenizer_entries(source))
    ours, reference, written = read_gguf(path), gguf.GGUFReader(smollm2_path), gguf.GGUFReader(path)
    assert {n: t.shape for n, t in ours.tensors.items()} == {n: t.shape for n, t in source.tensors.items()}
    assert tokenizer_entries(ours) == tokenizer_entries(source)
    for key in tokenizer_entries(source):
        assert written.fields[key].types == reference.fields[key].types, key
    for key in ("llama.block_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
                "llama.attention.layer_norm_rms_epsilon", "llama.context_length"):
        assert ours.metadata[key] == source.metadata[key] and written.fields[key].types == reference.fields[key].types
