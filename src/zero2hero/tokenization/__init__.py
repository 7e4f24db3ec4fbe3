"""Chapter 2: sub-word tokenisation from scratch — byte-level BPE and WordPiece, proven equal to the
Hugging Face tokenizers that ship with the course's models."""

from zero2hero.tokenization.bpe import BPETokenizer
from zero2hero.tokenization.bpe_train import train_bpe
from zero2hero.tokenization.wordpiece import WordPieceTokenizer
from zero2hero.tokenization.wordpiece_train import train_wordpiece

__all__ = ["BPETokenizer", "WordPieceTokenizer", "train_bpe", "train_wordpiece"]
