"""Byte-level BPE the textbook way: count pairs, merge the most frequent, repeat — merge for merge equal to
Hugging Face ``tokenizers``' ``BpeTrainer`` (with the ``ByteLevel`` pre-tokenizer, ``add_prefix_space=False``).

This is the version chapter 2's exercises ask a learner to write. It recounts every pair after each merge, so it
is slow on a large corpus; :mod:`zero2hero.tokenization.bpe_train` is the incremental trainer for real sizes.

**Tie-breaking rule** (the one ``tokenizers`` uses): among pairs of equal count, the pair with the smallest
``(first id, second id)`` wins, where the 256 byte symbols get ids in code-point order of their symbol character
and every merged symbol gets the next id when it is first created. (The incremental trainer keeps GPT-2's rule,
the greatest pair of byte strings, so the two differ where counts tie.)
"""

from __future__ import annotations

from collections import Counter

from zero2hero.tokenization.bpe import apply_merge, merge_symbols
from zero2hero.tokenization.byte_level import bytes_to_unicode, from_symbols, pretokenize, to_symbols


def train_bpe_merges(text: str, n_merges: int) -> list[tuple[str, str]]:
    """Learn up to ``n_merges`` byte-level BPE merges from ``text``, exactly as ``tokenizers``' BpeTrainer does.

    1. Cut ``text`` into pre-tokens with :func:`pretokenize`, write each one's UTF-8 bytes as symbols with
       :func:`bytes_to_unicode` (one character per byte) and count how often each distinct pre-token occurs.
    2. Repeat: count every adjacent pair of symbols over the pre-tokens (each weighted by its count); take the
       most frequent pair, replace it everywhere with the joined symbol (:func:`apply_merge`) and record it.
       Stop after ``n_merges`` merges or when no pair is left.

    Ties go to the pair whose (first, second) ids are smallest: the 256 byte symbols have ids in the order of
    their characters' code points (``sorted(bytes_to_unicode().values())``), and each new symbol takes the
    next id when it first appears (a merge that rebuilds an existing symbol keeps that symbol's id).

    >>> train_bpe_merges("low lower lowest", 2)
    [('l', 'o'), ('lo', 'w')]
    """
    word_counts = Counter(to_symbols(piece) for piece in pretokenize(text))
    words = {symbols: list(symbols) for symbols in word_counts}  # pre-token -> its current parts
    ids = {symbol: i for i, symbol in enumerate(sorted(bytes_to_unicode().values()))}
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pair_counts: Counter[tuple[str, str]] = Counter()
        for word, parts in words.items():
            for pair in zip(parts, parts[1:], strict=False):
                pair_counts[pair] += word_counts[word]
        if not pair_counts:
            break
        best = max(pair_counts, key=lambda p: (pair_counts[p], -ids[p[0]], -ids[p[1]]))
        ids.setdefault(best[0] + best[1], len(ids))
        words = {word: apply_merge(parts, best) for word, parts in words.items()}
        merges.append(best)
    return merges


def bpe_encode(text: str, merges: list[tuple[str, str]]) -> list[str]:
    """The BPE tokens of ``text`` as symbol strings (e.g. ``["Hello", "Ġworld"]``), given merges in learned order.

    Cut ``text`` with :func:`pretokenize`, write each pre-token's bytes as symbols (:func:`bytes_to_unicode`),
    then inside each pre-token repeatedly apply the merge of lowest rank (its index in ``merges``) that occurs
    there, every occurrence left to right (:func:`apply_merge`), until no adjacent pair is a merge.

    >>> bpe_encode("low lowest", [("l", "o"), ("lo", "w"), ("Ġ", "low")])
    ['low', 'Ġlow', 'e', 's', 't']
    """
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    return [token for piece in pretokenize(text) for token in merge_symbols(to_symbols(piece), ranks)]


def bpe_decode(tokens: list[str]) -> str:
    """Text from BPE tokens: map every symbol character back to its byte (the inverse of
    :func:`bytes_to_unicode`), join the bytes and decode them as UTF-8 (invalid sequences become U+FFFD).

    >>> bpe_decode(["Hello", "Ġw", "orld", "Ċ"])
    'Hello world\\n'
    """
    return from_symbols("".join(tokens)).decode("utf-8", errors="replace")
