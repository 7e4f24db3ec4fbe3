"""The tokens every point trains and is evaluated on: our chapter-2 BPE, trained on the course corpus.

The tokenizer is trained on :attr:`~zero2hero.llama.scaling.plan.ScalingPlan.tokenizer_chars` characters taken in
64 equal pieces spread over the whole training text (Austen, the Bible and the Jargon File alike, not just the
first novel); then the whole training text and the whole held-out text are encoded. The result is cached (the
tokenizer as JSON, the ids as ``.npy``), so a second run starts training at once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zero2hero.corpus import heldout_text, training_text
from zero2hero.errors import InputError
from zero2hero.files import atomic_write_bytes
from zero2hero.tokenization.bpe import BPETokenizer
from zero2hero.tokenization.bpe_train import train_bpe

SAMPLE_PIECES = 64
TOKENIZER_FILE = "tokenizer.json"
TRAIN_FILE = "train.npy"
VALIDATION_FILE = "validation.npy"


@dataclass
class TokenData:
    """Token ids of the training text, (n_train,), and of the held-out text, (n_validation,), as int64."""

    train: torch.Tensor
    validation: torch.Tensor
    vocab_size: int


def spread_sample(text: str, n_chars: int, pieces: int = SAMPLE_PIECES) -> str:
    """``n_chars`` characters of ``text`` in ``pieces`` equal parts taken at evenly spaced places, joined by lines."""
    if n_chars >= len(text):
        return text
    step, length = len(text) // pieces, n_chars // pieces
    return "\n".join(text[i * step: i * step + length] for i in range(pieces))


def build_data(train_text: str, validation_text: str, vocab_size: int,
               tokenizer_chars: int) -> tuple[BPETokenizer, TokenData]:
    """Train the BPE on a spread sample of ``train_text``, then encode both texts."""
    tokenizer = train_bpe(spread_sample(train_text, tokenizer_chars), vocab_size)
    train, validation = (torch.tensor(tokenizer.encode(text), dtype=torch.int64)
                         for text in (train_text, validation_text))
    return tokenizer, TokenData(train, validation, len(tokenizer))


def _write_ids(path: Path, ids: torch.Tensor) -> None:
    buffer = io.BytesIO()
    np.save(buffer, ids.numpy().astype(np.uint16))  # vocabularies here are far below 65,536
    atomic_write_bytes(path, buffer.getvalue())


def _read_ids(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.load(path).astype(np.int64))


def course_data(vocab_size: int, tokenizer_chars: int, folder: Path) -> TokenData:
    """The course corpus's tokens, cached in ``folder`` (built on the first call, read afterwards)."""
    if vocab_size > 65_536:
        raise InputError(f"vocab_size {vocab_size} does not fit the cache's 16-bit ids", "use at most 65,536")
    folder = Path(folder)
    if not (folder / TOKENIZER_FILE).is_file():
        tokenizer, data = build_data(training_text(), heldout_text(), vocab_size, tokenizer_chars)
        save_data(folder, tokenizer, data)
        return data
    vocab = len(BPETokenizer.load(folder / TOKENIZER_FILE))
    return TokenData(_read_ids(folder / TRAIN_FILE), _read_ids(folder / VALIDATION_FILE), vocab)


def save_data(folder: Path, tokenizer: BPETokenizer, data: TokenData) -> None:
    """Cache a tokenizer and its ids in ``folder`` as :func:`course_data` reads them."""
    _write_ids(Path(folder) / TRAIN_FILE, data.train)
    _write_ids(Path(folder) / VALIDATION_FILE, data.validation)
    tokenizer.save(Path(folder) / TOKENIZER_FILE)  # last: its presence says the ids are complete
