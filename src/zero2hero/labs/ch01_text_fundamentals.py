"""Lab 1 — cleaning, tokenising, stopwords, n-grams and Zipf's law on a messy article, and the same
pipeline on one sentence in seven languages to see where it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zero2hero import text as t
from zero2hero.errors import InputError
from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure
from zero2hero.text.samples import PARALLEL_SENTENCES, raw_article

CHAPTER = 1
TITLE = "Lab 1 — Fundamentals of NLP: cleaning, tokenisation, stopwords, n-grams"


@dataclass
class Config:
    quick: bool = True
    text_file: Path | None = None  # any UTF-8 text or HTML file; default: the chapter's raw article
    language: str = "en"  # for lower-casing rules and the stopword list
    top_k: int = 10  # how many n-grams to list
    corpus_chars: int = 4_000_000  # how much of the course corpus to run through the pipeline (0: skip it)


QUICK = {"corpus_chars": 0}


def run(config: Config, ctx: RunContext) -> LabResult:
    result = LabResult(title=TITLE)
    ctx.step("reading the text")
    raw, source = _read(config.text_file)
    ctx.step("cleaning step by step")
    cleaned, changes = t.default_pipeline(config.language).trace(raw)
    result.add(_cleaning(raw, cleaned, changes, source))
    ctx.step("tokenising two ways")
    tokens = t.regex_tokenize(cleaned)
    result.add(_tokenisers(raw, cleaned, tokens, source))
    ctx.step("removing stopwords")
    content = t.remove_stopwords(tokens, config.language)
    result.add(_stopwords(tokens, content, config.language))
    ctx.step("counting n-grams")
    result.add(_ngrams(ctx, tokens, content, config.top_k))
    ctx.step("Zipf's law on the text" + (f" and on {config.corpus_chars:,} characters of the course corpus"
                                          if config.corpus_chars else ""))
    result.add(_zipf(ctx, tokens, config))
    ctx.step("one sentence, seven languages")
    result.add(Section(tables=[_multilingual_table()]))
    result.notes += _observations(changes, t.corpus_stats(tokens))
    return result


def _read(text_file: Path | None) -> tuple[str, str]:
    """(the raw text, where it comes from)."""
    if text_file:
        return t.read_text_file(text_file), str(text_file)
    return raw_article(), "the chapter's raw article (raw_article.html)"


def _cleaning(raw: str, cleaned: str, changes: list[t.StepChange], source: str) -> Section:
    section = Section(tables=[_cleaning_table(changes, source)])
    section.metric("raw_chars_count", len(raw), "size of the input")
    section.metric("clean_chars_count", len(cleaned), "after the whole pipeline")
    return section


def _tokenisers(raw: str, cleaned: str, tokens: list[str], source: str) -> Section:
    if not tokens:
        raise InputError(f"{source} has no words left after cleaning", "pass a file with some prose in it")
    light = t.normalize_whitespace(t.normalize_unicode(t.strip_html(raw)))  # visible text, tidy, no other change
    glued = sorted({w for w in t.whitespace_tokenize(light) if len(t.regex_tokenize(w)) > 1}, key=len)[:8]
    section = Section(tables=[_tokeniser_table(light, cleaned)],
                      notes=["Tokens the whitespace tokeniser keeps whole but the regex tokeniser splits: "
                             + ", ".join(f"`{w}`" for w in glued) + "."])
    section.metric("tokens_count", len(tokens), "regex tokens of the cleaned text")
    return section


def _stopwords(tokens: list[str], content: list[str], language: str) -> Section:
    section = Section()
    section.metric("stopword_share_ratio", 1 - len(content) / len(tokens),
                   f"share of tokens that are stopwords ({language})")
    section.metric("stopword_list_words_count", len(t.stopwords(language)), "stopwords-iso list")
    return section


def _ngrams(ctx: RunContext, tokens: list[str], content: list[str], top_k: int) -> Section:
    return Section(tables=[_ngram_table(tokens, content, top_k)], figures=[_unigram_figure(ctx, tokens, content)])


def _zipf(ctx: RunContext, tokens: list[str], config: Config) -> Section:
    section = Section()
    stats = t.corpus_stats(tokens)
    section.metric("types_count", stats.types, "vocabulary size (distinct tokens)")
    section.metric("type_token_ratio", stats.type_token_ratio, "types / tokens")
    section.metric("hapax_share_ratio", stats.hapax_legomena / stats.types, "share of types seen once")
    fits = {"text": t.zipf_fit(tokens)}
    if config.corpus_chars:
        fits["course corpus"] = _corpus_zipf(config, section)
    for name, fit in fits.items():
        section.metric(f"{name.replace(' ', '_')}_zipf_slope", fit.slope, "Zipf predicts about -1")
        section.notes.append(f"Zipf slope on the {name} (top {fit.fitted_ranks:,} ranks): {fit.slope:.2f} (Zipf's "
                             "law predicts about -1; a short text has too few repeats, so its slope is flatter).")
    section.figures.append(_zipf_figure(ctx, fits))
    return section


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


def _unigram_figure(ctx: RunContext, tokens: list[str], content: list[str]) -> Figure:
    fig, axes = new_figure((10, 4), ncols=2)
    for ax, seq, label in ((axes[0], tokens, "all tokens"), (axes[1], content, "stopwords removed")):
        top = t.top_ngrams(seq, 1, 15)
        ax.barh([g for g, _ in top][::-1], [c for _, c in top][::-1], color="#4477aa")
        ax.set_title(f"Top 15 words — {label}")
        ax.set_xlabel("count")
    fig.tight_layout()
    return ctx.save_figure(fig, "top_words.png", "Most frequent words, before and after stopword removal",
                           "Stopwords dominate raw counts; removing them surfaces what the text is about.")


def _corpus_zipf(config: Config, section: Section) -> t.stats.ZipfFit:
    from zero2hero.corpus import load_corpus

    watch = Stopwatch()
    text = load_corpus()[: config.corpus_chars]
    tokens = t.regex_tokenize(t.default_pipeline(config.language).clean(text))
    section.metric("corpus_pipeline_chars_per_s", len(text) / watch.seconds,
                   "cleaning + tokenising throughput on the course corpus")
    stats = t.corpus_stats(tokens)
    section.metric("corpus_tokens_count", stats.tokens, "course corpus sample")
    section.metric("corpus_type_token_ratio", stats.type_token_ratio, "course corpus sample")
    return t.zipf_fit(tokens)


def _zipf_figure(ctx: RunContext, fits: dict[str, t.stats.ZipfFit]) -> Figure:
    fig, ax = new_figure((6, 4.5))
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


def _observations(changes: list[t.StepChange], stats: t.CorpusStats) -> list[str]:
    biggest = max(changes, key=lambda c: c.chars_before - c.chars_after)
    return [f"The step that removed most characters was **{biggest.step}** "
            f"({biggest.chars_before - biggest.chars_after:,} of {changes[0].chars_before:,}).",
            f"The cleaned text has {stats.tokens:,} tokens and {stats.types:,} types; "
            f"{stats.hapax_legomena:,} types ({stats.hapax_legomena / stats.types:.0%}) occur exactly once."]
