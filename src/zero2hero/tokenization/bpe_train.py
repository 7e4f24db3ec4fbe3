"""Training a byte-level BPE tokenizer, incrementally.

The naive trainer recounts every pair in the corpus after each merge: O(merges × corpus). This one
counts pairs once, over *distinct* pre-tokens weighted by their frequency, keeps an index of which
words contain each pair, and after a merge updates only the words that contained it. The next pair
to merge comes from a max-heap whose stale entries are fixed when they surface.

**Tie-breaking rule**: the most frequent pair wins; among equally frequent pairs, the pair whose two
byte strings are lexicographically greatest, compared as (first, second) — the rule of GPT-2-style
reference trainers. The Rust trainer of ``tokenizers`` breaks ties differently (the smallest pair of token
ids; :mod:`zero2hero.tokenization.bpe_textbook` follows that rule), which is why its merges differ from ours
in a few places (see the lesson).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zero2hero.errors import InputError
from zero2hero.tokenization.bpe import BPETokenizer
from zero2hero.tokenization.byte_level import bytes_to_unicode, pretokenize
from zero2hero.tokenization.validate import check_corpus

Pair = tuple[int, int]


@dataclass(frozen=True)
class _Priority:
    """Heap key: a higher count first, then the lexicographically greater (bytes, bytes) pair."""

    count: int
    pair_bytes: tuple[bytes, bytes]

    def __lt__(self, other: _Priority) -> bool:  # heapq is a min-heap: "less" means "merge first"
        return (self.count, self.pair_bytes) > (other.count, other.pair_bytes)


def count_pretokens(texts: Iterable[str], special_tokens: Iterable[str] = ()) -> Counter[bytes]:
    """Frequencies of the UTF-8 pre-tokens of ``texts``; special tokens are cut out first (never merged)."""
    import regex

    specials = sorted(special_tokens, key=len, reverse=True)
    splitter = regex.compile("|".join(map(regex.escape, specials))) if specials else None
    counts: Counter[bytes] = Counter()
    for text in texts:
        for segment in splitter.split(text) if splitter else [text]:
            counts.update(piece.encode("utf-8") for piece in pretokenize(segment))
    return counts


def train_bpe(text: str, vocab_size: int, special_tokens: Iterable[str] = (),
              progress: Callable[[int, int], None] | None = None) -> BPETokenizer:
    """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (ids: specials first, then the
    256 bytes, then merges in order)."""
    check_corpus(text)
    specials = list(dict.fromkeys(special_tokens))
    if vocab_size < 256 + len(specials):
        raise InputError(f"vocab_size {vocab_size} is smaller than the 256 byte tokens + {len(specials)} specials",
                         f"use at least {256 + len(specials)}")
    word_counts = count_pretokens([text], specials)
    merges = _learn_merges(word_counts, vocab_size - 256 - len(specials), progress)
    return _tokenizer_from(merges, specials)


def _learn_merges(word_counts: Counter[bytes], n_merges: int,
                  progress: Callable[[int, int], None] | None) -> list[tuple[bytes, bytes]]:
    token_bytes: list[bytes] = [bytes([b]) for b in range(256)]  # id -> bytes; merges append
    words = [list(word) for word in word_counts]  # each word as a list of token ids
    freqs = list(word_counts.values())
    pair_counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> indices of words that (may) contain it
    for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in zip(word, word[1:], strict=False):
            pair_counts[pair] += freq
            where[pair].add(index)

    def priority(pair: Pair) -> _Priority:
        return _Priority(pair_counts[pair], (token_bytes[pair[0]], token_bytes[pair[1]]))

    heap = [(priority(p), p) for p in pair_counts]
    heapq.heapify(heap)
    merges: list[tuple[bytes, bytes]] = []
    while len(merges) < n_merges and heap:
        key, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current <= 0:
            continue
        if current != key.count:  # stale: the count fell since this entry was pushed
            heapq.heappush(heap, (priority(pair), pair))
            continue
        new_id = len(token_bytes)
        token_bytes.append(token_bytes[pair[0]] + token_bytes[pair[1]])
        merges.append((token_bytes[pair[0]], token_bytes[pair[1]]))
        for pushed in _apply_merge(pair, new_id, words, freqs, pair_counts, where):
            heapq.heappush(heap, (priority(pushed), pushed))
        if progress and len(merges) % 100 == 0:
            progress(len(merges), n_merges)
    return merges


def _apply_merge(pair: Pair, new_id: int, words: list[list[int]], freqs: list[int],
                 pair_counts: dict[Pair, int], where: dict[Pair, set[int]]) -> set[Pair]:
    """Rewrite the words that contain ``pair``; update counts and the index. Returns pairs whose count grew."""
    grown: set[Pair] = set()
    first, second = pair
    for index in where.pop(pair, ()):
        word = words[index]
        if len(word) < 2:
            continue
        freq = freqs[index]
        merged, i, changed = [], 0, False
        while i < len(word):
            if i + 1 < len(word) and word[i] == first and word[i + 1] == second:
                merged.append(new_id)
                i += 2
                changed = True
            else:
                merged.append(word[i])
                i += 1
        if not changed:  # the index can hold words that no longer contain the pair
            continue
        for old in zip(word, word[1:], strict=False):
            pair_counts[old] -= freq
        for new in zip(merged, merged[1:], strict=False):
            pair_counts[new] += freq
            where[new].add(index)
            if new_id in new:
                grown.add(new)
        words[index] = merged
    pair_counts.pop(pair, None)
    return grown


def _tokenizer_from(merges: list[tuple[bytes, bytes]], specials: list[str]) -> BPETokenizer:
    table = bytes_to_unicode()

    def sym(b: bytes) -> str:
        return "".join(table[x] for x in b)

    special_ids = {s: i for i, s in enumerate(specials)}
    vocab = {sym(bytes([b])): len(specials) + b for b in range(256)}
    for a, b in merges:
        vocab[sym(a + b)] = len(vocab) + len(specials)
    return BPETokenizer(vocab, [(sym(a), sym(b)) for a, b in merges], special_ids)
