"""A byte-level BPE tokenizer (GPT-2 style): encode, decode, save and load.

Encoding a text: split off special tokens, cut the rest into pre-tokens with GPT-2's regex, write
each pre-token's UTF-8 bytes as printable symbols, then apply the learned merges in rank order
(lowest rank first) inside each pre-token. Pre-tokens repeat a lot in real text, so each one's result is
cached — that cache is what makes a pure-Python encoder fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import regex

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text
from zero2hero.tokenization.byte_level import from_symbols, pretokenize, to_symbols
from zero2hero.tokenization.validate import check_text


def apply_merge(parts: list[str], pair: tuple[str, str], merged: str | None = None) -> list[str]:
    """One BPE merge step: replace every adjacent occurrence of ``pair`` in ``parts``, scanning left to
    right without overlaps, by the merged symbol (``pair[0] + pair[1]`` unless ``merged`` is given).

    >>> apply_merge(["l", "o", "w", "e", "r"], ("l", "o"))
    ['lo', 'w', 'e', 'r']
    >>> apply_merge(["a", "a", "a"], ("a", "a"))
    ['aa', 'a']
    """
    symbol = pair[0] + pair[1] if merged is None else merged
    out, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] == pair[0] and parts[i + 1] == pair[1]:
            out.append(symbol)
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def merge_symbols(symbols: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Apply learned merges to one pre-token's symbols: repeatedly merge the adjacent pair with the lowest
    rank (its index in the merge list), every occurrence of it left to right, until no adjacent pair is a merge."""
    parts = list(symbols)
    while len(parts) > 1:
        best_rank, best = None, None
        for pair in zip(parts, parts[1:], strict=False):
            rank = ranks.get(pair)
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best = rank, pair
        if best is None:
            break
        parts = apply_merge(parts, best)
    return parts


@dataclass
class BPETokenizer:
    """``vocab`` maps symbol strings (bytes written with :func:`bytes_to_unicode`) to ids; ``merges`` are
    pairs in the order they were learned (their index is their rank); ``special_tokens`` map text such
    as ``"<|endoftext|>"`` to ids and are never split."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    special_tokens: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_vocab(self.vocab, self.merges, self.special_tokens)
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.id_to_symbols = {i: s for s, i in self.vocab.items()}
        self.id_to_special = {i: s for s, i in self.special_tokens.items()}
        self._cache: dict[str, list[int]] = {}
        # Longest first, so that "<|im_start|>" wins over a shorter token that is its prefix.
        names = sorted(self.special_tokens, key=len, reverse=True)
        self._special_split = regex.compile("(" + "|".join(map(regex.escape, names)) + ")") if names else None

    # ---- encoding ---------------------------------------------------------------------------------

    def merge_word(self, symbols: str) -> list[str]:
        """Apply the merges to one pre-token's symbols (see :func:`merge_symbols`)."""
        return merge_symbols(symbols, self.ranks)

    def clear_cache(self) -> None:
        """Forget the ids remembered per pre-token (to measure encoding from scratch)."""
        self._cache.clear()

    def _encode_piece(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is None:
            ids = [self.vocab[s] for s in self.merge_word(to_symbols(piece))]
            self._cache[piece] = ids
        return ids

    def encode(self, text: str, allowed_special: Iterable[str] | str = "all") -> list[int]:
        """Token ids of ``text``. Special tokens in the text are recognised when allowed (default: all);
        ``allowed_special=()`` encodes them as ordinary text."""
        check_text(text)
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise InputError(f"unknown special tokens {sorted(unknown)}",
                             f"this tokenizer's special tokens are {sorted(self.special_tokens)}")
        segments = self._special_split.split(text) if self._special_split and allowed else [text]
        ids: list[int] = []
        for segment in segments:
            if segment in allowed:
                ids.append(self.special_tokens[segment])
            elif segment:
                for piece in pretokenize(segment):
                    ids.extend(self._encode_piece(piece))
        return ids

    def pieces(self, text: str) -> list[str]:
        """The tokens of ``text`` as readable strings (bytes that are not valid UTF-8 alone shown as \\xNN)."""
        return [self.token_text(i) for i in self.encode(text)]

    # ---- decoding ---------------------------------------------------------------------------------

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self.id_to_special:
            return self.id_to_special[token_id].encode("utf-8")
        if token_id not in self.id_to_symbols:
            raise InputError(f"token id {token_id} is not in the vocabulary", f"ids go from 0 to {len(self) - 1}")
        return from_symbols(self.id_to_symbols[token_id])

    def token_text(self, token_id: int) -> str:
        return self.token_bytes(token_id).decode("utf-8", errors="backslashreplace")

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens' bytes and decode them as UTF-8 (invalid sequences become U+FFFD)."""
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return len(self.vocab) + len(set(self.special_tokens.values()) - set(self.vocab.values()))

    # ---- persistence ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write vocabulary, merges and special tokens as one JSON file (atomically)."""
        path = Path(path)
        data = {"type": "zero2hero-byte-bpe", "vocab": self.vocab, "merges": [" ".join(m) for m in self.merges],
                "special_tokens": self.special_tokens}
        atomic_write_text(path, json.dumps(data, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            merges = [tuple(m.split(" ")) for m in data["merges"]]
            return cls(dict(data["vocab"]), merges, dict(data.get("special_tokens", {})))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path} is not a zero2hero BPE file ({err})", "save one with BPETokenizer.save") from None

    @classmethod
    def from_gguf(cls, path: str | Path) -> BPETokenizer:
        """The vocabulary and merges stored in a GGUF model file (``tokenizer.ggml.*`` fields)."""
        from gguf import GGUFReader

        reader = GGUFReader(str(path))

        def strings(name: str) -> list[str]:
            f = reader.fields[name]
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

        tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
        kinds = reader.fields["tokenizer.ggml.token_type"]
        types = [int(kinds.parts[i][0]) for i in kinds.data]
        control = 3  # llama.cpp's token type for control (special) tokens
        specials = {t: i for i, (t, k) in enumerate(zip(tokens, types, strict=True)) if k == control}
        vocab = {t: i for i, t in enumerate(tokens) if t not in specials}
        return cls(vocab, [tuple(m.split(" ", 1)) for m in merges], specials)


def _check_vocab(vocab: dict[str, int], merges: list[tuple[str, str]], specials: dict[str, int]) -> None:
    if len(set(vocab.values())) != len(vocab):
        raise InputError("the vocabulary maps two tokens to the same id", "each token needs its own id")
    for rank, pair in enumerate(merges):
        if len(pair) != 2 or not all(pair):
            raise InputError(f"merge {rank} is malformed: {pair!r}", "each merge is two non-empty symbols")
        if pair[0] + pair[1] not in vocab:
            raise InputError(f"merge {rank} {pair!r} produces {pair[0] + pair[1]!r}, which is not in the vocabulary",
                             "the vocabulary and merges files do not belong together")
    clash = {s for s, i in specials.items() if i in vocab.values() and vocab.get(s) != i}
    if clash:
        raise InputError(f"special tokens {sorted(clash)} reuse ids of ordinary tokens", "give them their own ids")
