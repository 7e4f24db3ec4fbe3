"""The course models' tokenizers, ours and Hugging Face's, loaded once per process."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache

from zero2hero.assets import asset_path, cache_dir, resolve_model_path
from zero2hero.tokenization.bpe import BPETokenizer
from zero2hero.tokenization.wordpiece import WordPieceTokenizer

WORD_VOCAB_SIZE = 50_000


@lru_cache(maxsize=1)
def smollm2_bpe() -> BPETokenizer:
    """Our BPE with SmolLM2's vocabulary and merges, read from the GGUF file."""
    return BPETokenizer.from_gguf(asset_path("smollm2"))


@lru_cache(maxsize=1)
def minilm_wordpiece() -> WordPieceTokenizer:
    """Our WordPiece with all-MiniLM-L6-v2's vocab.txt."""
    return WordPieceTokenizer.from_vocab_file(asset_path("minilm") / "vocab.txt")


@lru_cache(maxsize=2)
def hf_tokenizer(name: str):  # noqa: ANN201
    """Hugging Face's tokenizer of a default model ("smollm2" or "minilm")."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(name))


@lru_cache(maxsize=1)
def corpus_word_vocab() -> dict[str, int]:
    """A word-level vocabulary: the 50,000 most frequent regex words of the course corpus (id 0 = <unk>).
    Built once and cached, like a classic word-level model's vocabulary."""
    path = cache_dir() / f"word-vocab-{WORD_VOCAB_SIZE}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from zero2hero.corpus import training_text
    from zero2hero.text import regex_tokenize

    counts = Counter(regex_tokenize(training_text()))
    vocab = {"<unk>": 0} | {w: i + 1 for i, (w, _) in enumerate(counts.most_common(WORD_VOCAB_SIZE - 1))}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return vocab
