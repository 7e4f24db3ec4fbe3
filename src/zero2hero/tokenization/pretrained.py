"""The course models' tokenizers, ours and Hugging Face's, loaded once per process."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from zero2hero.assets import asset_path, cache_dir, config_and_tokenizer_source, file_fingerprint, load_tokenizer
from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.tokenization.bpe import BPETokenizer
from zero2hero.tokenization.wordpiece import WordPieceTokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerBase

WORD_VOCAB_SIZE = 50_000


@lru_cache(maxsize=1)
def smollm2_bpe() -> BPETokenizer:
    """Our BPE with SmolLM2's vocabulary and merges, read from the GGUF file.

    Reading the 98 MB GGUF takes seconds, so the result is cached as a BPE file (0.1 s to load) named after
    the GGUF's size and modification time: a new GGUF rebuilds it, and so does a corrupt cache file.
    """
    gguf = asset_path("smollm2")
    cached = cache_dir() / f"smollm2-bpe-{file_fingerprint(gguf)}.json"
    if cached.exists():
        try:
            return BPETokenizer.load(cached)
        except InputError:
            pass  # a damaged cache file: rebuilt below
    bpe = BPETokenizer.from_gguf(gguf)
    bpe.save(cached)
    return bpe


@lru_cache(maxsize=1)
def minilm_wordpiece() -> WordPieceTokenizer:
    """Our WordPiece with all-MiniLM-L6-v2's vocab.txt."""
    return WordPieceTokenizer.from_vocab_file(asset_path("minilm") / "vocab.txt")


@lru_cache(maxsize=2)
def hf_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """Hugging Face's tokenizer of a default model ("smollm2" or "minilm"), without loading the model."""
    return load_tokenizer(name)


@lru_cache(maxsize=2)
def rust_tokenizer(name: str) -> Tokenizer:
    """The Rust ``tokenizers.Tokenizer`` inside :func:`hf_tokenizer`, set up as transformers sets it up (no padding,
    no truncation), loaded without importing transformers or torch: what `z2h tokenize` uses to start fast."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(config_and_tokenizer_source(name)) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@lru_cache(maxsize=1)
def corpus_word_vocab() -> dict[str, int]:
    """A word-level vocabulary: the 50,000 most frequent regex words of the course corpus (id 0 = <unk>).
    Built once and cached, like a classic word-level model's vocabulary; a cache file that cannot be read
    back as such a vocabulary (cut short, edited by hand) is built again."""
    path = cache_dir() / f"word-vocab-{WORD_VOCAB_SIZE}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and cached.get("<unk>") == 0:
            return cached
    except (OSError, ValueError):  # missing, not UTF-8 or not JSON
        pass
    from zero2hero.corpus import training_text
    from zero2hero.text import regex_tokenize

    counts = Counter(regex_tokenize(training_text()))
    vocab = {"<unk>": 0} | {w: i + 1 for i, (w, _) in enumerate(counts.most_common(WORD_VOCAB_SIZE - 1))}
    atomic_write_text(path, json.dumps(vocab, ensure_ascii=False))
    return vocab
