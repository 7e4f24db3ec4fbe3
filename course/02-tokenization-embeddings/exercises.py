"""Chapter 2 exercises — fill in each function, then run `z2h check 2`.

You write a byte-level BPE tokenizer from scratch — the byte-to-unicode map, GPT-2's pre-tokenisation regex,
one merge step, the trainer (checked merge for merge against Hugging Face `tokenizers`), the encoder and the
decoder — then BERT's WordPiece encoder (checked id for id against the MiniLM tokenizer), and three embedding
operations. Work top to bottom: later functions may call earlier ones.

Each function below has the signature and docstring of zero2hero's reference implementation; replace
the `raise NotImplementedError` with your code. Useful modules: `regex` (like `re`, with `\\p{L}`),
`collections.Counter`, `unicodedata`. You may use `torch` (but not `torch.nn.functional`'s
`one_hot`/`cosine_similarity`, which the checks use as the answer key).
"""

from __future__ import annotations

import torch


def bytes_to_unicode() -> dict[int, str]:
    """Map each byte 0–255 to a printable character (GPT-2's table).

    The printable bytes ``!``..``~`` (33–126), ``¡``..``¬`` (161–172) and ``®``..``ÿ`` (174–255) map to the
    character with the same code point; every other byte (controls, space, ...), in increasing order, takes the
    next code point from 256 up: ``chr(256)``, ``chr(257)``, ... So " " (byte 32) becomes "Ġ" and "\\n" becomes "Ċ".
    """
    raise NotImplementedError


def pretokenize(text: str) -> list[str]:
    """Cut text into the pieces BPE merges within (merges never cross a piece boundary).

    The pieces are the matches, left to right, of GPT-2's pattern
    ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``: contractions, letters
    or digits or other symbols with an optional leading space, and white space (a run of spaces before a word
    leaves its last space to the word). ``\\p{L}`` is any letter and ``\\p{N}`` any digit: Python's ``re`` lacks
    them, the ``regex`` module has them.

    >>> pretokenize("Hello, it's  9 o'clock!")
    ['Hello', ',', ' it', "'s", ' ', ' 9', ' o', "'", 'clock', '!']
    """
    raise NotImplementedError


def apply_merge(parts: list[str], pair: tuple[str, str], merged: str | None = None) -> list[str]:
    """One BPE merge step: replace every adjacent occurrence of ``pair`` in ``parts``, scanning left to
    right without overlaps, by the merged symbol (``pair[0] + pair[1]`` unless ``merged`` is given).

    >>> apply_merge(["l", "o", "w", "e", "r"], ("l", "o"))
    ['lo', 'w', 'e', 'r']
    >>> apply_merge(["a", "a", "a"], ("a", "a"))
    ['aa', 'a']
    """
    raise NotImplementedError


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
    raise NotImplementedError


def bpe_encode(text: str, merges: list[tuple[str, str]]) -> list[str]:
    """The BPE tokens of ``text`` as symbol strings (e.g. ``["Hello", "Ġworld"]``), given merges in learned order.

    Cut ``text`` with :func:`pretokenize`, write each pre-token's bytes as symbols (:func:`bytes_to_unicode`),
    then inside each pre-token repeatedly apply the merge of lowest rank (its index in ``merges``) that occurs
    there, every occurrence left to right (:func:`apply_merge`), until no adjacent pair is a merge.

    >>> bpe_encode("low lowest", [("l", "o"), ("lo", "w"), ("Ġ", "low")])
    ['low', 'Ġlow', 'e', 's', 't']
    """
    raise NotImplementedError


def bpe_decode(tokens: list[str]) -> str:
    """Text from BPE tokens: map every symbol character back to its byte (the inverse of
    :func:`bytes_to_unicode`), join the bytes and decode them as UTF-8 (invalid sequences become U+FFFD).

    >>> bpe_decode(["Hello", "Ġw", "orld", "Ċ"])
    'Hello world\\n'
    """
    raise NotImplementedError


def wordpiece_word(word: str, vocab: dict[str, int] | set[str], unk_token: str = "[UNK]",
                   max_chars: int = 100) -> list[str]:
    """Split one word into the longest vocabulary pieces, left to right ("##" marks a continuation).

    At each position take the longest substring in ``vocab`` (prefixed with "##" unless it starts the
    word). If some position has no match, or the word is longer than ``max_chars``, the whole word is
    ``[unk_token]``.

    >>> wordpiece_word("unaffable", {"un", "##aff", "##able", "##a"})
    ['un', '##aff', '##able']
    """
    raise NotImplementedError


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
    raise NotImplementedError


def one_hot(ids: list[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """One-hot rows for a sequence of token ids.

    Returns a float32 tensor of shape ``(len(ids), vocab_size)`` with a single 1.0 per row, at the
    column given by the id; every other entry is 0.0. Ids must lie in ``[0, vocab_size)`` (raise
    ``ValueError`` otherwise).

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    raise NotImplementedError


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every row of ``a`` and every row of ``b``.

    ``a`` has shape ``(n, d)`` and ``b`` shape ``(m, d)``; the result has shape ``(n, m)`` with
    ``result[i, j] = a[i]·b[j] / (|a[i]| |b[j]|)``, a number in [-1, 1]. A zero row gives 0 similarity
    (not NaN). Shapes that do not match raise ``ValueError``.
    """
    raise NotImplementedError


def mean_pooling(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average each sequence's token vectors over its real tokens, ignoring padding.

    ``hidden`` has shape (batch, seq, d) and ``attention_mask`` shape (batch, seq), 1 for a real token and
    0 for padding. Returns (batch, d): for each sequence, the mean of the rows of ``hidden`` whose mask is 1.
    """
    raise NotImplementedError
