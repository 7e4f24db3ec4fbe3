"""One text through every tokenizer of the chapter, side by side (used by `z2h tokenize` and lab 2)."""

from __future__ import annotations

from dataclasses import dataclass

from zero2hero.tokenization import pretrained as p


@dataclass
class Tokenization:
    name: str
    pieces: list[str]
    ids: list[int]


def word_level(text: str) -> Tokenization:
    from zero2hero.text import regex_tokenize

    vocab = p.corpus_word_vocab()
    words = regex_tokenize(text)
    return Tokenization("words (corpus top 50k)", words, [vocab.get(w, 0) for w in words])


def char_level(text: str) -> Tokenization:
    return Tokenization("characters (code points)", list(text), [ord(c) for c in text])


def tokenize_all(text: str) -> list[Tokenization]:
    """Word level, character level, our BPE and WordPiece with the models' vocabularies, and Hugging Face's."""
    from zero2hero.tokenization.validate import check_text

    check_text(text)
    words = word_level(text)  # first: it needs the course corpus, and says so before any model file is read
    bpe, wordpiece = p.smollm2_bpe(), p.minilm_wordpiece()
    hf_bpe, hf_wp = p.rust_tokenizer("smollm2"), p.rust_tokenizer("minilm")
    bpe_ids, wp_ids = bpe.encode(text), wordpiece.encode(text)
    hf_bpe_ids, hf_wp_ids = hf_bpe.encode(text).ids, hf_wp.encode(text).ids
    return [
        words,
        char_level(text),
        Tokenization("ours: BPE, SmolLM2 vocab", [bpe.token_text(i) for i in bpe_ids], bpe_ids),
        Tokenization("HF: SmolLM2 tokenizer", [hf_bpe.decode([i], skip_special_tokens=False) for i in hf_bpe_ids],
                     hf_bpe_ids),
        Tokenization("ours: WordPiece, MiniLM vocab", [wordpiece.id_to_token[i] for i in wp_ids], wp_ids),
        Tokenization("HF: MiniLM tokenizer", [hf_wp.id_to_token(i) for i in hf_wp_ids], hf_wp_ids),
    ]
