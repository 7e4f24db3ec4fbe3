"""A tiny BERT classifier, its WordPiece tokenizer and a small two-class data set, built locally in a few ms."""

from __future__ import annotations

import random
from pathlib import Path

from zero2hero.finetuning.data import Example, LabelledSplits

POSITIVE = ["great", "tasty", "lovely", "fresh", "good", "perfect", "delicious", "sweet"]
NEGATIVE = ["bad", "stale", "awful", "bland", "broken", "bitter", "soggy", "poor"]
FILLER = ["the", "coffee", "tea", "snack", "was", "and", "very", "box", "a", "it", "really", "this"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_splits(n_train: int = 64, n_validation: int = 24, seed: int = 0) -> LabelledSplits:
    """Reviews of 3 to 14 words; label 0 ("great") when a positive word is there, 1 ("other") otherwise."""
    rng = random.Random(seed)

    def review(label: int) -> Example:
        words = rng.choices(FILLER, k=rng.randint(2, 12)) + [rng.choice(POSITIVE if label == 0 else NEGATIVE)]
        rng.shuffle(words)
        return Example(" ".join(words), label)

    def split(n: int) -> list[Example]:
        return [review(rng.randint(0, 1)) for _ in range(n)]

    return LabelledSplits(split(n_train), split(n_validation), split(8), ["great", "other"])


def write_tiny_bert(folder: Path, dropout: float = 0.1, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide BertForSequenceClassification and its tokenizer into ``folder``; return it."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = SPECIAL + POSITIVE + NEGATIVE + FILLER
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(words)})  # transformers 5: `vocab=`
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
