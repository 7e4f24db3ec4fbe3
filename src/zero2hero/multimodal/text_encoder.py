"""CLIP's text side: chapter 3's GPT-2 run as a bidirectional encoder (``causal=False``) over a word vocabulary built
from the captions; the caption's embedding is the mean of its words' final hidden states, projected."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.transformer.gpt2 import GPT2, GPT2Config

PAD, UNKNOWN = "[PAD]", "[UNK]"


class WordVocabulary:
    """Lower-cased words split on spaces; id 0 is padding, 1 an unknown word, then the words in sorted order."""

    def __init__(self, captions: Iterable[str]) -> None:
        words = sorted({w for caption in captions for w in caption.lower().split()})
        self.words = [PAD, UNKNOWN, *words]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, captions: list[str], length: int) -> torch.Tensor:
        """Token ids (len(captions), length), each caption right-padded with id 0 to ``length`` words."""
        rows = []
        for caption in captions:
            ids = [self.ids.get(w, self.ids[UNKNOWN]) for w in caption.lower().split()]
            if not 0 < len(ids) <= length:
                raise InputError(f"caption {caption!r} has {len(ids)} words, expected 1 to {length}",
                                 "shorten the caption or build the text encoder with a larger max_words")
            rows.append(ids + [self.ids[PAD]] * (length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)


class TextEncoder(nn.Module):
    """captions -> embeddings (b, dim) through a small bidirectional GPT-2 and a mean over the real words.

    Every caption is padded to ``max_words`` with ``[PAD]``. Chapter 3's attention has no padding mask, so the words
    also attend to the pads; that is harmless here because a caption is always padded the same way, so its embedding
    never depends on the other captions of a batch. The pads are left out of the mean.
    """

    def __init__(self, vocabulary: WordVocabulary, dim: int = 64, width: int = 64, layers: int = 2, heads: int = 4,
                 max_words: int = 8) -> None:
        super().__init__()
        self.vocabulary, self.max_words = vocabulary, max_words
        self.gpt2 = GPT2(GPT2Config(vocab_size=len(vocabulary), n_positions=max_words, n_embd=width, n_layer=layers,
                                    n_head=heads, causal=False))
        self.projection = nn.Linear(width, dim)

    def hidden_states(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (b, t) -> GPT-2's final hidden states (b, t, width): its modules without the tied language-model head."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.gpt2.wte(ids) + self.gpt2.wpe(positions)
        for block in self.gpt2.blocks:
            x, _ = block(x, None)
        return self.gpt2.ln_f(x)

    def forward(self, captions: list[str]) -> torch.Tensor:
        """captions (b strings) -> embeddings (b, dim), not normalised."""
        ids = self.vocabulary.encode(captions, self.max_words).to(self.projection.weight.device)
        real = (ids != 0).unsqueeze(-1).float()  # (b, t, 1): 1 on words, 0 on padding
        mean = (self.hidden_states(ids) * real).sum(1) / real.sum(1)  # (b, width)
        return self.projection(mean)
