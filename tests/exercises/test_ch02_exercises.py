"""Chapter 2 exercise checks: `z2h check 2` runs them on course/02-tokenization-embeddings/exercises.py.

The answer keys are independent: Hugging Face ``tokenizers`` (ByteLevel pre-tokenizer + BpeTrainer, trained here
on the course corpus) for byte-level BPE, transformers' GPT-2 byte map, the MiniLM tokenizer for WordPiece,
torch.nn.functional for one-hot and cosine similarity, explicit loops for mean pooling.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import torch

from zero2hero.checks.feedback import (
    expect_close,
    expect_equal,
    expect_raises,
    fail,
    first_difference,
    prerequisite,
)

CHAPTER = 2
REFERENCE = {
    "bytes_to_unicode": "zero2hero.tokenization.byte_level",
    "pretokenize": "zero2hero.tokenization.byte_level",
    "apply_merge": "zero2hero.tokenization.bpe",
    "train_bpe_merges": "zero2hero.tokenization.bpe_textbook",
    "bpe_encode": "zero2hero.tokenization.bpe_textbook",
    "bpe_decode": "zero2hero.tokenization.bpe_textbook",
    "wordpiece_word": "zero2hero.tokenization.wordpiece",
    "wordpiece_encode": "zero2hero.tokenization.wordpiece",
    "one_hot": "zero2hero.embeddings.onehot",
    "cosine_similarity": "zero2hero.embeddings.similarity",
    "mean_pooling": "zero2hero.embeddings.sentence",
}

TRAIN_CHARS, N_MERGES = 20_000, 300  # about a second for a straightforward trainer
OTHER_SCRIPTS = [
    "Καλημέρα κόσμε, η βιβλιοθήκη είναι ανοιχτή.",
    "Привет, мир! Библиотека открыта до восьми.",
    "東京は日本の首都です。北京欢迎你！",
    "مرحبا بالعالم، المكتبة مفتوحة اليوم.",
    "नमस्ते दुनिया, पुस्तकालय खुला है।",
    "Emoji: 👍🏽 ❤️ 👨‍👩‍👧 ✨📚 — naïve café, Ångström",
    "Tabs\tand  double  spaces,\n\nnew lines and numbers 12345 (3.14%) don't break it.",
]
MANY_SCRIPTS_CORPUS = "\n".join(OTHER_SCRIPTS * 3)


# ---- the answer keys --------------------------------------------------------------------------------------------

def _gpt2_byte_map() -> dict[int, str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def _hf_pieces(text: str) -> list[str]:
    from tokenizers import pre_tokenizers

    return [piece for piece, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]


def _hf_bpe(text: str, n_merges: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=256 + n_merges, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator([text], trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return tokenizer, [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges][:n_merges]


def build_corpus_bpe():  # returns (training text, tokenizers.Tokenizer, merges)
    from zero2hero.corpus import training_text

    text = training_text()[:TRAIN_CHARS]
    tokenizer, merges = _hf_bpe(text, N_MERGES)
    return text, tokenizer, merges


def build_heldout_texts() -> list[str]:
    from zero2hero.corpus import heldout_text

    return [heldout_text(3000), *OTHER_SCRIPTS]


@pytest.fixture(scope="module")
def corpus_bpe():
    return build_corpus_bpe()


@pytest.fixture(scope="module")
def heldout_texts() -> list[str]:
    return build_heldout_texts()


# ---- byte map and pre-tokenisation ------------------------------------------------------------------------------

def _check_byte_map(ex) -> None:
    got, expected = ex.bytes_to_unicode(), _gpt2_byte_map()
    expect_equal(got, expected, "bytes_to_unicode()", hints=[
        (lambda g: len(g) != 256, "there is one entry per byte value 0..255"),
        (lambda g: g[32] == " ", "space (byte 32) is not printable: it maps to a code point from 256 up ('Ġ')"),
        (lambda g: g[33] != "!", "printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves"),
        (lambda g: sorted(g.values()) != sorted(expected.values()),
         "the other bytes take chr(256), chr(257), ... in increasing byte order"),
    ])


def test_bytes_to_unicode_equals_gpt2s_map(ex) -> None:
    _check_byte_map(ex)


def _check_pretokenize(ex) -> None:
    table = _gpt2_byte_map()
    text = "Hello, world! It's   9:30 — don't  panic.\n\n  Ça va? 東京 👍🏽 we'll see 12345abc\t end "
    pieces = ex.pretokenize(text)
    symbols = ["".join(table[b] for b in piece.encode("utf-8")) for piece in pieces]
    expect_equal(symbols, _hf_pieces(text), f"pretokenize({text!r}), as byte symbols", hints=[
        (lambda _: "".join(pieces) != text, "the pieces glued together must give back the text, white space included"),
        (lambda _: any(p.isspace() and len(p) > 1 for p in pieces) and " world" not in pieces,
         "a space before a word belongs to the word (' ?\\p{L}+'); of a run of spaces, all but the last form a piece "
         "('\\s+(?!\\S)')"),
        (lambda _: "'s" not in pieces and "'t" not in pieces and "'ll" not in pieces,
         "contractions come first in the pattern: 's|'t|'re|'ve|'m|'ll|'d"),
        (lambda _: " Ça" not in pieces, "use the `regex` module: Python's `re` has no \\p{L} (any letter)"),
    ])


def test_pretokenize_equals_tokenizers_byte_level(ex) -> None:
    _check_pretokenize(ex)


# ---- BPE merges --------------------------------------------------------------------------------------------------

def test_apply_merge_worked_examples(ex) -> None:
    expect_equal(ex.apply_merge(["l", "o", "w", "e", "r"], ("l", "o")), ["lo", "w", "e", "r"],
                 "apply_merge(['l', 'o', 'w', 'e', 'r'], ('l', 'o'))", hints=[
                     (lambda g: len(g) > 4, "after merging parts[i] and parts[i + 1], go on at i + 2: both symbols "
                                            "are used up")])
    expect_equal(ex.apply_merge(["a", "a", "a"], ("a", "a")), ["aa", "a"], "apply_merge(['a', 'a', 'a'], ('a', 'a'))",
                 hints=[(lambda g: g == ["aa", "aa"] or g == ["a", "aa"] or g == ["aaa"],
                         "scan left to right and jump past a merged pair: occurrences never overlap")])
    expect_equal(ex.apply_merge(["a", "b", "a", "b"], ("a", "b")), ["ab", "ab"], "apply_merge(list('abab'), ('a','b'))",
                 hints=[(lambda g: g == ["ab", "a", "b"], "replace every occurrence, not only the first")])
    expect_equal(ex.apply_merge(["x", "y"], ("y", "x")), ["x", "y"], "apply_merge(['x', 'y'], ('y', 'x'))",
                 hints=[(None, "a pair is ordered: ('y', 'x') does not match 'x' then 'y'")])
    expect_equal(ex.apply_merge(["un", "##aff", "##able"], ("##aff", "##able"), "##affable"), ["un", "##affable"],
                 "apply_merge with merged='##affable'",
                 hints=[(None, "use `merged` as the new symbol when it is given")])


def _pair_counts_after(text: str, merges: list[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """The weighted pair counts a correct trainer sees after ``merges`` (the answer key's state)."""
    from zero2hero.tokenization.bpe import apply_merge
    from zero2hero.tokenization.byte_level import pretokenize, to_symbols

    words = Counter(to_symbols(p) for p in pretokenize(text))
    counts: Counter[tuple[str, str]] = Counter()
    for word, n in words.items():
        parts = list(word)
        for pair in merges:
            parts = apply_merge(parts, pair)
        for pair in zip(parts, parts[1:], strict=False):
            counts[pair] += n
    return counts


def _merge_hints(text: str, got: list, expected: list[tuple[str, str]]) -> list:
    alphabet = set(_gpt2_byte_map().values())
    first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if tuple(a) != b), None)
    hints = [
        (lambda g: any(not set(a + b) <= alphabet for a, b in g),
         "forgot the byte-to-unicode map: write each UTF-8 byte as its bytes_to_unicode symbol (a space is 'Ġ', "
         "'é' is the two symbols 'Ã©') before counting pairs"),
        (lambda g: any(re.search("[^Ġ]Ġ", a + b) for a, b in g),
         "a merge crosses a pre-token boundary: count pairs inside each pre-token only"),
        (lambda g: first is None and len(g) != len(expected),
         f"off by one: return exactly n_merges = {len(expected)} merges (you returned {len(got)})"),
    ]
    if first is not None and isinstance(got[first], tuple | list) and len(got[first]) == 2 \
            and set(got[first][0] + got[first][1]) <= alphabet:
        counts = _pair_counts_after(text, expected[:first])
        mine, theirs = counts[tuple(got[first])], counts[expected[first]]
        hints.append((lambda _: mine == theirs,
                      f"a tie: {tuple(got[first])} and {expected[first]} both occur {theirs} times at merge {first}; "
                      "ties go to the smallest (first id, second id), byte symbols numbered in code-point order, "
                      "new symbols numbered as they are created"))
        hints.append((lambda _: mine < theirs,
                      f"at merge {first} the most frequent pair is {expected[first]} ({theirs} times, counting each "
                      f"pre-token as often as it occurs); yours, {tuple(got[first])}, occurs {mine} times"))
    return hints


def _check_merges(ex, text: str, n_merges: int) -> None:
    got = ex.train_bpe_merges(text, n_merges)
    _, expected = _hf_bpe(text, n_merges)
    got_pairs = [tuple(m) for m in got] if isinstance(got, list) else got
    if got_pairs == expected:
        return
    prerequisite("test_bytes_to_unicode_equals_gpt2s_map", "train_bpe_merges", lambda: _check_byte_map(ex))
    prerequisite("test_pretokenize_equals_tokenizers_byte_level", "train_bpe_merges", lambda: _check_pretokenize(ex))
    prerequisite("test_apply_merge_worked_examples", "train_bpe_merges", lambda: test_apply_merge_worked_examples(ex))
    fail(f"train_bpe_merges(corpus, {n_merges}) against tokenizers' BpeTrainer",
         first_difference(got_pairs, expected), got_pairs, _merge_hints(text, got_pairs, expected))


def test_train_bpe_merges_equal_tokenizers_on_the_corpus(ex, corpus_bpe) -> None:
    text, _, _ = corpus_bpe
    _check_merges(ex, text, N_MERGES)


def test_train_bpe_merges_equal_tokenizers_on_many_scripts(ex) -> None:
    _check_merges(ex, MANY_SCRIPTS_CORPUS, 120)


def test_bpe_decode_inverts_tokenizers_tokens(ex, corpus_bpe, heldout_texts) -> None:
    _, tokenizer, _ = corpus_bpe
    for text in heldout_texts:
        tokens = tokenizer.encode(text).tokens
        expect_equal(ex.bpe_decode(tokens), text, f"bpe_decode of tokenizers' tokens for {text[:30]!r}...", hints=[
            (lambda g: "Ġ" in g or "Ċ" in g, "map each symbol back to its byte with the inverse of bytes_to_unicode"),
            (lambda g: "\ufffd" in g, "join all the bytes first and decode once: one character's bytes can be split "
                                       "over two tokens"),
        ])


def test_bpe_encode_equals_tokenizers_on_heldout_text(ex, corpus_bpe, heldout_texts) -> None:
    _, tokenizer, merges = corpus_bpe
    for text in heldout_texts:
        expected = tokenizer.encode(text).tokens
        got = ex.bpe_encode(text, merges)
        if got != expected:
            prerequisite("test_pretokenize_equals_tokenizers_byte_level", "bpe_encode",
                         lambda: _check_pretokenize(ex))
        expect_equal(got, expected, f"bpe_encode({text[:30]!r}..., merges) against tokenizers", hints=[
            (lambda g: any(" " in t for t in g), "write the bytes as bytes_to_unicode symbols ('Ġ' for a space)"),
            (lambda g: any(re.search("[^Ġ]Ġ", t) for t in g), "merges apply inside each pre-token, never across"),
            (lambda g, e=expected: len(g) > len(e),
             "apply merges until none is left: the lowest-rank pair present first, again and again"),
            (lambda g, e=expected: len(g) < len(e),
             "apply only the given merges, lowest rank (earliest learned) first"),
        ])


def test_bpe_round_trips_heldout_text_and_other_scripts(ex, corpus_bpe, heldout_texts) -> None:
    _, _, merges = corpus_bpe
    for text in heldout_texts:
        expect_equal(ex.bpe_decode(ex.bpe_encode(text, merges)), text, f"bpe_decode(bpe_encode({text[:30]!r}...))",
                     hints=[(lambda g: "\ufffd" in g, "decode the joined bytes once, not token by token")])


# ---- WordPiece ---------------------------------------------------------------------------------------------------

def build_minilm_vocab_and_hf():  # returns (vocab, the transformers tokenizer)
    from transformers import AutoTokenizer

    from zero2hero.assets import asset_path

    folder = asset_path("minilm")
    vocab = {t: i for i, t in enumerate((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())}
    return vocab, AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def minilm_vocab_and_hf():
    return build_minilm_vocab_and_hf()


def _check_wordpiece_words(ex, vocab: dict[str, int], hf) -> None:
    for word in ["unaffable", "tokenization", "embeddings", "antidisestablishmentarianism", "pemberley",
                 "definately", "the", "zzzqqqxxx", "東"]:
        expect_equal(ex.wordpiece_word(word, vocab), hf.tokenize(word), f"wordpiece_word({word!r}, MiniLM vocab)",
                     hints=[(lambda g: any(p.startswith("##") for p in g[:1]), "the first piece has no '##'"),
                            (lambda g: len(g) > 1 and not g[1].startswith("##"),
                             "pieces after the first are looked up with the '##' prefix"),
                            (lambda g: "[UNK]" in g and len(g) > 1, "when one position has no match the whole word is "
                                                                    "a single [UNK]")])


def test_wordpiece_word_matches_the_minilm_tokenizer(ex, minilm_vocab_and_hf) -> None:
    _check_wordpiece_words(ex, *minilm_vocab_and_hf)


def test_wordpiece_word_unknown_and_too_long(ex) -> None:
    vocab = {"a", "##b"}
    expect_equal(ex.wordpiece_word("ab", vocab), ["a", "##b"], "wordpiece_word('ab', {'a', '##b'})")
    expect_equal(ex.wordpiece_word("ba", vocab), ["[UNK]"], "wordpiece_word('ba', {'a', '##b'})")
    expect_equal(ex.wordpiece_word("a" + "b" * 120, vocab | {"##bb"}), ["[UNK]"], "a 121-character word",
                 hints=[(None, "a word longer than max_chars is [UNK] as a whole")])
    expect_equal(ex.wordpiece_word("ba", vocab, unk_token="<unk>"), ["<unk>"], "wordpiece_word with unk_token='<unk>'")


WORDPIECE_TEXTS = [
    "Hello, World! It's 9:30 — don't panic.",
    "Naïve CAFÉ résumé Ångström Fernández-Müller",
    "東京は日本の首都です。北京欢迎你！",
    "Emoji 👍🏽 and $48,500 (31%) or 3.14159...",
    "The antidisestablishmentarianism debate\twas\nunprecedented\u00a0indeed",
]


def test_wordpiece_encode_equals_the_minilm_ids(ex, minilm_vocab_and_hf) -> None:
    vocab, hf = minilm_vocab_and_hf
    for text in WORDPIECE_TEXTS:
        expected = hf(text)["input_ids"]
        got = ex.wordpiece_encode(text, vocab)
        if got != expected:
            prerequisite("test_wordpiece_word_matches_the_minilm_tokenizer", "wordpiece_encode",
                         lambda: _check_wordpiece_words(ex, vocab, hf))
        expect_equal(got, expected, f"wordpiece_encode({text!r}) against the MiniLM tokenizer's ids", hints=[
            (lambda g, e=expected: g == e[1:-1], "add [CLS] at the start and [SEP] at the end"),
            (lambda g, e=expected, unk=vocab["[UNK]"]: g.count(unk) > e.count(unk),
             "MiniLM is uncased: strip accents (NFD, drop 'Mn') and lower-case before splitting"),
            (lambda g, e=expected: len(g) < len(e), "every punctuation character is a word of its own, and every "
                                                    "CJK ideograph too"),
        ])


# ---- embeddings --------------------------------------------------------------------------------------------------

def test_one_hot_matches_torch(ex) -> None:
    ids = [4, 0, 2, 4]
    expected = torch.nn.functional.one_hot(torch.tensor(ids), 6).float()
    expect_equal(ex.one_hot(ids, 6), expected, "one_hot([4, 0, 2, 4], 6)", hints=[
        (lambda g: g.dtype != torch.float32, "return float32 (e.g. torch.zeros(n, vocab_size))"),
        (lambda g: torch.equal(g, expected.T), "rows are positions, columns are vocabulary ids")])
    expect_raises(ValueError, lambda: ex.one_hot([6], 6), "one_hot([6], 6)", "ids must lie in [0, vocab_size)")


def test_cosine_similarity_matches_torch(ex) -> None:
    torch.manual_seed(1)
    a, b = torch.randn(3, 8), torch.randn(4, 8)
    expected = torch.nn.functional.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    expect_close(ex.cosine_similarity(a, b), expected, "cosine_similarity(a (3, 8), b (4, 8))", atol=1e-6, hints=[
        (lambda g: torch.allclose(g, a @ b.T), "divide each dot product by both rows' norms"),
        (lambda g: g.shape == (4, 3), "the result is (n, m): rows of a, columns of b")])
    expect_close(ex.cosine_similarity(torch.eye(5), torch.eye(5)), torch.eye(5), "cosine similarity of one-hots")
    zero = ex.cosine_similarity(torch.zeros(1, 4), torch.ones(1, 4))
    expect_close(zero, torch.zeros(1, 1), "cosine_similarity of a zero row", hints=[
        (lambda g: torch.isnan(g).any(), "a zero row has norm 0: guard the division (e.g. clamp the norm)")])
    expect_raises(ValueError, lambda: ex.cosine_similarity(torch.randn(2, 3), torch.randn(2, 4)),
                  "cosine_similarity of (2, 3) and (2, 4)", "check that the last dimensions match")


def test_mean_pooling_ignores_padding(ex) -> None:
    torch.manual_seed(2)
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = torch.stack([hidden[0, :3].mean(0), hidden[1].mean(0)])
    expect_close(ex.mean_pooling(hidden, mask), expected, "mean_pooling", atol=1e-6, hints=[
        (lambda g: torch.allclose(g, hidden.mean(1), atol=1e-6), "padding counted: multiply by the mask first"),
        (lambda g: torch.allclose(g[1], expected[1], atol=1e-6),
         "divide by the number of real tokens (mask.sum), not by the sequence length")])
