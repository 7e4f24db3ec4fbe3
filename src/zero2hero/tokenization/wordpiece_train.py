"""Training a WordPiece vocabulary the BERT way: start from characters, and repeatedly merge the pair
with the highest score freq(ab) / (freq(a) · freq(b)) — how much more often a and b occur together
than their own frequencies predict. (BPE would merge the most *frequent* pair instead.)

This trainer recounts pairs after every merge: clear, and fast enough for the lab's corpora of a few
hundred kilobytes; the BPE trainer shows the incremental technique for large corpora.
"""

from __future__ import annotations

from collections import Counter

from zero2hero.errors import InputError
from zero2hero.tokenization.bert_pretokenize import basic_tokenize
from zero2hero.tokenization.bpe import apply_merge
from zero2hero.tokenization.validate import check_corpus
from zero2hero.tokenization.wordpiece import WordPieceTokenizer

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _merge_symbol(a: str, b: str) -> str:
    return a + b.removeprefix("##")


def train_wordpiece(text: str, vocab_size: int, lowercase: bool = True) -> WordPieceTokenizer:
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens (specials + characters + merges) from ``text``.
    Ties in score go to the more frequent pair, then to the lexicographically smaller one."""
    check_corpus(text)
    word_counts = Counter(basic_tokenize(text, lowercase))
    splits = {w: [w[0]] + [f"##{c}" for c in w[1:]] for w in word_counts}
    alphabet = sorted({s for pieces in splits.values() for s in pieces})
    if vocab_size < len(SPECIALS) + len(alphabet):
        raise InputError(f"vocab_size {vocab_size} is smaller than the {len(SPECIALS)} specials + "
                         f"{len(alphabet)} characters of this corpus", f"use at least {len(SPECIALS) + len(alphabet)}")
    vocab = list(SPECIALS) + alphabet
    while len(vocab) < vocab_size:
        unit, pair_freq = Counter(), Counter()
        for word, freq in word_counts.items():
            pieces = splits[word]
            for piece in pieces:
                unit[piece] += freq
            for pair in zip(pieces, pieces[1:], strict=False):
                pair_freq[pair] += freq
        if not pair_freq:
            break  # every word is a single token already
        best = min(pair_freq, key=lambda p: (-pair_freq[p] / (unit[p[0]] * unit[p[1]]), -pair_freq[p], p))
        merged = _merge_symbol(*best)
        for word, pieces in splits.items():
            if len(pieces) > 1:
                splits[word] = apply_merge(pieces, best, merged)
        if merged not in vocab:
            vocab.append(merged)
    return WordPieceTokenizer({t: i for i, t in enumerate(vocab)}, lowercase)

