"""`z2h bench words`: our regex word tokeniser (Python `re`) against Hugging Face's Rust pre-tokenizer
running the same pattern, on the same text — identical tokens, and the speed ratio."""

from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

from zero2hero.bench import BenchResult
from zero2hero.measure import interleaved
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
    t = interleaved({"ours": lambda: regex_tokenize(text),
                     "rust": lambda: [p for p, _ in rust.pre_tokenize_str(text) if p.strip()]}, rounds=3)
    ours, theirs = t["ours"], t["rust"]
    figures = {
        "text_chars_count": len(text),
        "tokens_count": len(ours.result),
        "tokens_identical": ours.result == theirs.result,
        "ours_s": ours.best_s,
        "rust_s": theirs.best_s,
        "ours_chars_per_s": len(text) / ours.best_s,
        "rust_chars_per_s": len(text) / theirs.best_s,
        "speedup_ours_over_rust_ratio": theirs.best_s / ours.best_s,
    }
    table = Table("regex word tokenisation (best of 3 alternating rounds)",
                  ["tokeniser", "seconds", "chars/s", "tokens"], [
        ["ours (Python re)", round(ours.best_s, 4), f"{len(text) / ours.best_s:,.0f}", len(ours.result)],
        ["tokenizers Split (Rust)", round(theirs.best_s, 4), f"{len(text) / theirs.best_s:,.0f}", len(theirs.result)],
    ])
    notes = [f"tokens identical: {figures['tokens_identical']}; ours runs at "
             f"{figures['speedup_ours_over_rust_ratio']:.2f}× the Rust speed (Python's re engine is C; the Rust call "
             "also turns every token into a Python (piece, offsets) pair)."]
    return BenchResult("words", figures, [table], notes)
