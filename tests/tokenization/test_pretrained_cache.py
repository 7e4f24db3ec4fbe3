"""The course tokenizers load fast: our BPE from a cache keyed by the GGUF file, Hugging Face's without a model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tokenization.conftest import VARIED_TEXTS
from zero2hero import assets
from zero2hero.tokenization import pretrained
from zero2hero.tokenization.bpe import BPETokenizer


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[Path]]]:
    """A stand-in GGUF file and a record of every time our BPE is read from it (a small BPE each time)."""
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF version one")
    monkeypatch.setattr(pretrained, "asset_path", lambda name: gguf)
    reads: list[Path] = []

    def from_gguf(path: Path) -> BPETokenizer:
        reads.append(path)
        return BPETokenizer({"a": 0, "b": 1, "ab": 2}, [("a", "b")], {"<|end|>": 3})

    monkeypatch.setattr(BPETokenizer, "from_gguf", staticmethod(from_gguf))
    pretrained.smollm2_bpe.cache_clear()
    yield gguf, reads
    pretrained.smollm2_bpe.cache_clear()


def _fresh_bpe() -> BPETokenizer:
    pretrained.smollm2_bpe.cache_clear()  # a new process, as far as the cache is concerned
    return pretrained.smollm2_bpe()


def test_bpe_is_read_from_the_gguf_once(fake_gguf: tuple[Path, list[Path]]) -> None:
    gguf, reads = fake_gguf
    first = _fresh_bpe()
    again = _fresh_bpe()
    assert len(reads) == 1
    assert (again.vocab, again.merges, again.special_tokens) == (first.vocab, first.merges, first.special_tokens)
    assert again.encode("ab<|end|>") == [2, 3]


def test_a_new_gguf_or_a_corrupt_cache_rebuilds_it(fake_gguf: tuple[Path, list[Path]]) -> None:
    gguf, reads = fake_gguf
    _fresh_bpe()
    (cached,) = Path(os.environ["Z2H_CACHE"]).glob("smollm2-bpe-*.json")
    cached.write_text('{"vocab": {"a": 0}, "merges": ["a b"]')  # cut short
    assert _fresh_bpe().encode("ab") == [2] and len(reads) == 2
    gguf.write_bytes(b"GGUF version two, longer")
    _fresh_bpe()
    assert len(reads) == 3 and len(list(Path(os.environ["Z2H_CACHE"]).glob("smollm2-bpe-*.json"))) == 2


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_rust_tokenizer_equals_the_transformers_tokenizer(name: str) -> None:
    rust, hf = pretrained.rust_tokenizer(name), pretrained.hf_tokenizer(name)
    for text in [*VARIED_TEXTS, "word " * 300]:  # longer than MiniLM's 128-token truncation setting
        assert rust.encode(text).ids == hf(text)["input_ids"], text


@pytest.mark.heavy
def test_smollm2_tokenizer_loads_without_converting_the_model(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path))

    def no_conversion() -> Path:
        raise AssertionError("the whole model was converted to get its tokenizer")

    monkeypatch.setattr(assets, "_convert_smollm2_once", no_conversion)
    tokenizer = assets.load_tokenizer("smollm2")
    assert tokenizer("Hello world")["input_ids"] == [19556, 905]
    assert assets.load_config("smollm2").max_position_embeddings == 8192
    assert not (tmp_path / "smollm2-135m-instruct-fp32").exists()
