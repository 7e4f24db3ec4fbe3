"""`z2h bench words`: our regex word tokeniser (Python `re`) against Hugging Face's Rust pre-tokenizer
running the same pattern, on the same text — identical tokens, and the speed ratio."""

from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

from zero2hero.bench import BenchResult
from zero2hero.bench.measure import best_time
from zero2hero.reporting import Table
from zero2hero.text import TOKEN_PATTERN, default_pipeline, regex_tokenize
from zero2hero.text.samples import raw_article

DESCRIPTION = "regex word tokeniser: Python re vs the Rust pre-tokenizer (tokenizers) with the same pattern"


def _text(quick: bool) -> str:
    # The visible text of the article, repeated to a size where timings are stable.
    article = default_pipeline(placeholders=False).steps[0][1](raw_article())
    return article * (50 if quick else 2000)


def run(quick: bool = False) -> BenchResult:
    text = _text(quick)
    rust = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated")
    ours_s, ours = best_time(lambda: regex_tokenize(text))
    rust_s, theirs = best_time(lambda: [p for p, _ in rust.pre_tokenize_str(text) if p.strip()])
    figures = {
        "text_chars": len(text),
        "tokens": len(ours),
        "tokens_identical": ours == theirs,
        "ours_s": ours_s,
        "rust_s": rust_s,
        "ours_chars_per_s": len(text) / ours_s,
        "rust_chars_per_s": len(text) / rust_s,
        "speed_ratio": rust_s / ours_s,  # > 1 means ours is faster
    }
    table = Table("regex word tokenisation", ["tokeniser", "seconds", "chars/s", "tokens"], [
        ["ours (Python re)", round(ours_s, 4), f"{len(text) / ours_s:,.0f}", len(ours)],
        ["tokenizers Split (Rust)", round(rust_s, 4), f"{len(text) / rust_s:,.0f}", len(theirs)],
    ])
    notes = [f"tokens identical: {ours == theirs}; ours runs at {figures['speed_ratio']:.2f}× the Rust speed "
             "(Python's re engine is C; the Rust call also turns every token into a Python (piece, offsets) pair)."]
    return BenchResult("words", figures, table, notes)
