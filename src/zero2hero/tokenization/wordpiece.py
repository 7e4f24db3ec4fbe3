"""WordPiece encoding as in BERT: basic tokenisation, then greedy longest-match-first sub-words.

Inside a word, pieces after the first carry the ``##`` prefix ("unaffable" -> "un", "##aff", "##able").
A word that cannot be covered by vocabulary pieces becomes ``[UNK]`` as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import regex

from zero2hero.errors import InputError
from zero2hero.tokenization.bert_pretokenize import basic_tokenize
from zero2hero.tokenization.validate import check_text


def wordpiece_word(word: str, vocab: dict[str, int] | set[str], unk_token: str = "[UNK]",
                   max_chars: int = 100) -> list[str]:
    """Split one word into the longest vocabulary pieces, left to right ("##" marks a continuation).

    At each position take the longest substring in ``vocab`` (prefixed with "##" unless it starts the
    word). If some position has no match, or the word is longer than ``max_chars``, the whole word is
    ``[unk_token]``.

    >>> wordpiece_word("unaffable", {"un", "##aff", "##able", "##a"})
    ['un', '##aff', '##able']
    """
    if len(word) > max_chars:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            candidate = ("##" if start > 0 else "") + word[start:end]
            if candidate in vocab:
                found = candidate
                break
            end -= 1
        if found is None:
            return [unk_token]
        pieces.append(found)
        start = end
    return pieces


def wordpiece_encode(text: str, vocab: dict[str, int], lowercase: bool = True) -> list[int]:
    """The ids a BERT tokenizer gives ``text``: ``[CLS]``, the ids of every word's WordPiece pieces, ``[SEP]``.

    Basic tokenisation first, in this order: drop NUL, U+FFFD and control characters (Unicode category "C*"
    except tab, newline and carriage return); turn white space (those three, space, category "Zs") into " ";
    put spaces around every CJK ideograph (U+4E00–U+9FFF and the other CJK ideograph blocks); for an uncased
    model (``lowercase``) strip accents (NFD, drop category "Mn") and lower-case. Then split on white space and
    make every punctuation character (ASCII non-alphanumerics and Unicode category "P*") a word of its own.
    Each word goes through :func:`wordpiece_word`; a word with no covering pieces is ``[UNK]``.

    >>> vocab = {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "hello": 3, ",": 4, "world": 5, "##s": 6}
    >>> wordpiece_encode("Hello, worlds", vocab)
    [0, 3, 4, 5, 6, 1]
    """
    return WordPieceTokenizer(vocab, lowercase).encode(text)


@dataclass
class WordPieceTokenizer:
    vocab: dict[str, int]
    lowercase: bool = True
    unk_token: str = "[UNK]"
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    special_tokens: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # never split or lowered

    def __post_init__(self) -> None:
        for token in (self.unk_token, self.cls_token, self.sep_token):
            if token not in self.vocab:
                raise InputError(f"the vocabulary has no {token} token", "use a BERT-style vocab.txt")
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        specials = [t for t in self.special_tokens if t in self.vocab]
        self._special_split = regex.compile("(" + "|".join(map(regex.escape, specials)) + ")")

    @classmethod
    def from_vocab_file(cls, path: str | Path, lowercase: bool = True) -> WordPieceTokenizer:
        """Read a BERT ``vocab.txt`` (one token per line; the line number is the id)."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read vocabulary {path}: {err}", "pass a BERT vocab.txt") from None
        if not lines or len(set(lines)) != len(lines):
            raise InputError(f"{path} is empty or lists a token twice", "pass a BERT vocab.txt (one token per line)")
        return cls({token: i for i, token in enumerate(lines)}, lowercase)

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (without [CLS]/[SEP])."""
        check_text(text)
        tokens = []
        for segment in self._special_split.split(text):
            if segment in self.special_tokens:
                tokens.append(segment)  # "[CLS]" written in the text is the special token, as in BERT
            else:
                tokens += [piece for word in basic_tokenize(segment, self.lowercase)
                           for piece in wordpiece_word(word, self.vocab, self.unk_token)]
        return tokens

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [self.vocab[t] for t in self.tokenize(text)]
        return [self.vocab[self.cls_token], *ids, self.vocab[self.sep_token]] if add_special_tokens else ids

    def decode(self, ids: list[int]) -> str:
        """Tokens joined back, "##" continuations glued to the previous piece (lower-cased, accents gone)."""
        text = " ".join(self.id_to_token[i] for i in ids if self.id_to_token[i] not in (self.cls_token, self.sep_token))
        return text.replace(" ##", "")
