"""Chapter 1: cleaning, normalisation, word tokenisation, stopwords, n-grams and corpus statistics."""

from zero2hero.text.io import decode_text, read_text_file
from zero2hero.text.ngram import count_ngrams, ngrams, top_ngrams
from zero2hero.text.normalize import (
    lowercase,
    normalize_unicode,
    normalize_whitespace,
    remove_punctuation,
    replace_emails,
    replace_emoji,
    replace_numbers,
    replace_urls,
    strip_accents,
    strip_html,
)
from zero2hero.text.pipeline import CleaningPipeline, StepChange, default_pipeline
from zero2hero.text.stats import CorpusStats, corpus_stats, zipf_fit
from zero2hero.text.stoplists import remove_stopwords, stopwords
from zero2hero.text.tokenize import TOKEN_PATTERN, regex_tokenize, whitespace_tokenize

__all__ = [
    "CleaningPipeline", "CorpusStats", "StepChange", "TOKEN_PATTERN", "corpus_stats", "count_ngrams",
    "decode_text", "default_pipeline", "lowercase", "ngrams", "normalize_unicode", "normalize_whitespace",
    "read_text_file", "regex_tokenize", "remove_punctuation", "remove_stopwords", "replace_emails",
    "replace_emoji", "replace_numbers", "replace_urls", "stopwords", "strip_accents", "strip_html",
    "top_ngrams", "whitespace_tokenize", "zipf_fit",
]
