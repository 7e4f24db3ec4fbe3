"""Lab 1 — cleaning, tokenising, stopwords, n-grams and Zipf's law on a messy article, and the same
pipeline on one sentence in seven languages to see where it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from zero2hero import text as t  # noqa: E402
from zero2hero.reporting import LabResult, RunContext, Stopwatch, Table  # noqa: E402
from zero2hero.text.samples import PARALLEL_SENTENCES, raw_article  # noqa: E402

CHAPTER = 1
TITLE = "Lab 1 — Fundamentals of NLP: cleaning, tokenisation, stopwords, n-grams"


@dataclass
class Config:
    quick: bool = True
    text_file: Path | None = None  # any UTF-8 text or HTML file; default: the chapter's raw article
    language: str = "en"  # for lower-casing rules and the stopword list
    top_k: int = 10  # how many n-grams to list
    corpus_chars: int = 4_000_000  # full mode: how much of the course corpus to run through the pipeline


def run(config: Config, ctx: RunContext) -> LabResult:
    result = LabResult("ch01_text", TITLE)
    ctx.step("reading the text")
    raw = t.read_text_file(config.text_file) if config.text_file else raw_article()
    source = str(config.text_file) if config.text_file else "the chapter's raw article (raw_article.html)"

    ctx.step("cleaning step by step")
    cleaned, changes = t.default_pipeline(config.language).trace(raw)
    result.tables.append(_cleaning_table(changes, source))
    result.add_metric("raw_chars", len(raw), "characters", "size of the input")
    result.add_metric("clean_chars", len(cleaned), "characters", "after the whole pipeline")

    ctx.step("tokenising two ways")
    light = t.normalize_whitespace(t.normalize_unicode(t.strip_html(raw)))  # visible text, tidy, no other change
    result.tables.append(_tokeniser_table(light, cleaned))
    tokens = t.regex_tokenize(cleaned)
    if not tokens:
        from zero2hero.errors import InputError

        raise InputError(f"{source} has no words left after cleaning", "pass a file with some prose in it")
    glued = sorted({w for w in t.whitespace_tokenize(light) if len(t.regex_tokenize(w)) > 1}, key=len)[:8]
    result.notes.append("Tokens the whitespace tokeniser keeps whole but the regex tokeniser splits: "
                        + ", ".join(f"`{w}`" for w in glued) + ".")

    ctx.step("removing stopwords")
    content = t.remove_stopwords(tokens, config.language)
    removed = 1 - len(content) / len(tokens)
    result.add_metric("tokens", len(tokens), "tokens", "regex tokens of the cleaned text")
    result.add_metric("stopword_share", removed, "ratio", f"share of tokens that are stopwords ({config.language})")
    result.add_metric("stopword_list_size", len(t.stopwords(config.language)), "words", "stopwords-iso list")

    ctx.step("counting n-grams")
    result.tables.append(_ngram_table(tokens, content, config.top_k))
    result.figures.append(_unigram_figure(ctx, tokens, content))

    ctx.step("Zipf's law")
    stats = t.corpus_stats(tokens)
    result.add_metric("types", stats.types, "types", "vocabulary size (distinct tokens)")
    result.add_metric("type_token_ratio", stats.type_token_ratio, "ratio", "types / tokens")
    result.add_metric("hapax_share", stats.hapax_legomena / stats.types, "ratio", "share of types seen once")
    fits = {"article": t.zipf_fit(tokens)}
    if not config.quick:
        fits["course corpus"] = _corpus_zipf(config, ctx, result)
    for name, fit in fits.items():
        result.add_metric(f"zipf_slope_{name.replace(' ', '_')}", fit.slope, "log-log slope", "Zipf predicts about -1")
    result.figures.append(_zipf_figure(ctx, fits))

    ctx.step("one sentence, seven languages")
    result.tables.append(_multilingual_table())
    result.notes += _observations(changes, stats, fits)
    return result


def _cleaning_table(changes: list[t.StepChange], source: str) -> Table:
    rows = []
    for c in changes:
        example = " ⟶ ".join(repr(s) for s in c.examples[0]) if c.examples else "(no change)"
        rows.append([c.step, c.chars_before, c.chars_after, c.edits if c.edits >= 0 else "n/a", example])
    return Table("What each cleaning step changed", ["step", "chars before", "chars after", "edits", "first example"],
                 rows, f"Input: {source}. An edit is one changed region of the text.")


def _tokeniser_table(light: str, cleaned: str) -> Table:
    rows = []
    for text_name, text in (("visible text (HTML stripped only)", light), ("fully cleaned", cleaned)):
        for tok_name, tokenize in (("whitespace", t.whitespace_tokenize), ("regex", t.regex_tokenize)):
            tokens = tokenize(text)
            s = t.corpus_stats(tokens)
            rows.append([text_name, tok_name, s.tokens, s.types, round(s.type_token_ratio, 3)])
    return Table("Whitespace vs regex tokenisation", ["text", "tokeniser", "tokens", "types", "type/token"], rows,
                 "On the lightly cleaned text, whitespace tokens keep punctuation glued on, inflating the vocabulary.")


def _ngram_table(tokens: list[str], content: list[str], k: int) -> Table:
    columns, per_column = [], []
    for n in (1, 2, 3):
        for label, seq in (("all", tokens), ("no stopwords", content)):
            columns.append(f"{n}-gram, {label}")
            per_column.append([f"{g} ({c})" for g, c in t.top_ngrams(seq, n, k)])
    rows = [[i + 1] + [col[i] if i < len(col) else "" for col in per_column] for i in range(k)]
    return Table("Top n-grams before and after stopword removal", ["rank", *columns], rows,
                 "Counts in brackets. Placeholders such as <num> are tokens too.")


def _unigram_figure(ctx: RunContext, tokens: list[str], content: list[str]):  # noqa: ANN202
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, seq, label in ((axes[0], tokens, "all tokens"), (axes[1], content, "stopwords removed")):
        top = t.top_ngrams(seq, 1, 15)
        ax.barh([g for g, _ in top][::-1], [c for _, c in top][::-1], color="#4477aa")
        ax.set_title(f"Top 15 words — {label}")
        ax.set_xlabel("count")
    fig.tight_layout()
    return ctx.save_figure(fig, "top_words.png", "Most frequent words, before and after stopword removal",
                           "Stopwords dominate raw counts; removing them surfaces what the text is about.")


def _corpus_zipf(config: Config, ctx: RunContext, result: LabResult) -> t.stats.ZipfFit:
    from zero2hero.corpus import load_corpus

    ctx.step(f"cleaning {config.corpus_chars:,} characters of the course corpus")
    watch = Stopwatch()
    text = load_corpus()[: config.corpus_chars]
    tokens = t.regex_tokenize(t.default_pipeline(config.language).clean(text))
    result.add_metric("corpus_pipeline_chars_per_s", len(text) / watch.seconds, "characters/s",
                      "cleaning + tokenising throughput on the course corpus")
    stats = t.corpus_stats(tokens)
    result.add_metric("corpus_tokens", stats.tokens, "tokens", "course corpus sample")
    result.add_metric("corpus_type_token_ratio", stats.type_token_ratio, "ratio", "course corpus sample")
    return t.zipf_fit(tokens)


def _zipf_figure(ctx: RunContext, fits: dict):  # noqa: ANN202
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (name, fit), colour in zip(fits.items(), ("#4477aa", "#ee6677"), strict=False):
        ax.loglog(fit.ranks, fit.frequencies, ".", ms=3, color=colour, label=f"{name} ({len(fit.ranks):,} types)")
        fitted = fit.ranks[: fit.fitted_ranks]
        ax.loglog(fitted, fitted ** fit.slope * 2.718281828 ** fit.intercept, "-", color=colour, lw=1,
                  label=f"fit over the top {fit.fitted_ranks:,} ranks: slope {fit.slope:.2f}")
    ax.set_xlabel("rank")
    ax.set_ylabel("frequency")
    ax.set_title("Zipf's law: frequency against rank (log-log)")
    ax.legend(fontsize=8)
    return ctx.save_figure(fig, "zipf.png", "Zipf plot",
                           "A straight line of slope near -1 in log-log space is Zipf's law.")


def _multilingual_table() -> Table:
    rows = []
    for lang, sentence in PARALLEL_SENTENCES.items():
        ws, rx = t.whitespace_tokenize(sentence), t.regex_tokenize(sentence)
        stripped = t.strip_accents(sentence)
        changed = [(a, b) for a, b in zip(ws, t.whitespace_tokenize(stripped), strict=False) if a != b]
        stripped_tokens = t.regex_tokenize(stripped)
        stop_before = len(rx) - len(t.remove_stopwords(rx, lang))
        stop_after = len(stripped_tokens) - len(t.remove_stopwords(stripped_tokens, lang))
        problems = _what_breaks(lang, sentence, ws, rx, changed, len(sentence) - len(stripped), stop_before, stop_after)
        rows.append([lang, sentence, len(ws), len(rx), max(map(len, rx)), stop_before, stop_after, len(changed),
                     problems])
    return Table("One sentence through the same pipeline in seven languages",
                 ["lang", "sentence", "whitespace tokens", "regex tokens", "longest token (chars)",
                  "stopwords removed", "… after accent stripping", "words changed by accent stripping",
                  "what breaks (detected)"], rows)


def _what_breaks(lang: str, sentence: str, ws: list[str], rx: list[str], changed: list[tuple[str, str]],
                 marks_removed: int, stop_before: int, stop_after: int) -> str:
    """The problems this sentence shows, each detected from the numbers (not written per language)."""
    problems = []
    longest = max(rx, key=len)
    if len(ws) <= 2:
        problems.append(f"no spaces between words: '{longest}' ({len(longest)} chars) is one token")
        if stop_before == 0:
            problems.append("so no stopword can match")
    elif len(longest) >= 16:
        problems.append(f"the compound '{longest}' ({len(longest)} chars) is one token")
    if len(rx) > 2 * len(ws) + 2:
        problems.append(f"regex \\w does not match combining vowel marks, so {len(ws)} words shatter "
                        f"into {len(rx)} tokens")
    generic, local = t.lowercase(sentence).split(), t.lowercase(sentence, lang).split()
    if generic != local:
        wrong = sum(a != b for a, b in zip(generic, local, strict=True))
        problems.append(f"generic lower-casing gets the dotted/dotless i wrong in {wrong} words")
    if marks_removed > 0:
        problems.append(f"accent stripping deletes {marks_removed} combining marks (here, vowels that carry meaning)")
    elif changed:
        before, after = changed[0]
        problems.append(f"accent stripping rewrites {len(changed)} words, e.g. '{before}' → '{after}'")
    if stop_after != stop_before:
        problems.append(f"accent stripping changes how many stopwords match ({stop_before} → {stop_after})")
    glued = [w for w in rx if "'" in w or "’" in w]
    if glued:
        problems.append(f"the apostrophe keeps '{glued[0]}' (a suffix or an article) glued to its word")
    return "; ".join(problems) or "works as designed"


def _observations(changes: list[t.StepChange], stats: t.CorpusStats, fits: dict) -> list[str]:
    biggest = max(changes, key=lambda c: c.chars_before - c.chars_after)
    notes = [f"The step that removed most characters was **{biggest.step}** "
             f"({biggest.chars_before - biggest.chars_after:,} of {changes[0].chars_before:,}).",
             f"The cleaned article has {stats.tokens:,} tokens and {stats.types:,} types; "
             f"{stats.hapax_legomena:,} types ({stats.hapax_legomena / stats.types:.0%}) occur exactly once."]
    for name, fit in fits.items():
        notes.append(f"Zipf slope on the {name} (top {fit.fitted_ranks:,} ranks): {fit.slope:.2f} (Zipf's law "
                     "predicts about -1; a short text has too few repeats, so its slope is flatter).")
    return notes
