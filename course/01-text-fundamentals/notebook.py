# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 1 — Fundamentals of NLP, step by step
#
# This notebook walks through the same steps as Lab 1 (`z2h lab 1`), one cell at a time, so you can
# change a step and see what happens. Open it as a notebook with `jupytext --to notebook notebook.py`,
# or run it as a script: `python course/01-text-fundamentals/notebook.py`.

# %%
from zero2hero import text as t
from zero2hero.text.samples import PARALLEL_SENTENCES, raw_article

raw = raw_article()
print(f"{len(raw):,} characters of raw HTML; the first lines:\n")
print(raw[:400])

# %% [markdown]
# ## 1. Cleaning, one step at a time
# Each step is a plain `str -> str` function. The pipeline records what each step changed, so you can
# judge whether the change helps the task you have in mind.

# %%
pipeline = t.default_pipeline("en")
cleaned, changes = pipeline.trace(raw)
for change in changes:
    example = change.examples[0] if change.examples else ("", "")
    print(f"{change.step:<22} {change.chars_before:>5} -> {change.chars_after:>5} chars, "
          f"{change.edits:>3} edits   e.g. {example[0][:30]!r} -> {example[1][:30]!r}")

# %% [markdown]
# Try it: drop a step (say, "strip accents") and compare the vocabulary size below.

# %%
steps_without_accents = [(name, step) for name, step in pipeline.steps if name != "strip accents"]
kept_accents = t.CleaningPipeline(steps_without_accents).clean(raw)
print("types with accent stripping:   ", t.corpus_stats(t.regex_tokenize(cleaned)).types)
print("types without accent stripping:", t.corpus_stats(t.regex_tokenize(kept_accents)).types)

# %% [markdown]
# ## 2. Two tokenisers
# Splitting on white space keeps punctuation glued to words; a regular expression separates them.

# %%
visible = t.normalize_whitespace(t.normalize_unicode(t.strip_html(raw)))
sentence = next(line for line in visible.split("\n") if "“We" in line)
print(sentence)
print(t.whitespace_tokenize(sentence)[:12])
print(t.regex_tokenize(sentence)[:16])

# %% [markdown]
# ## 3. Stopwords and n-grams
# Stopword lists come from stopwords-iso (50+ languages). Compare the top bigrams before and after.

# %%
tokens = t.regex_tokenize(cleaned)
content = t.remove_stopwords(tokens, "en")
print(f"{len(tokens)} tokens, {len(content)} after removing stopwords ({1 - len(content) / len(tokens):.0%} removed)")
print("bigrams, all tokens:   ", t.top_ngrams(tokens, 2, 5))
print("bigrams, no stopwords: ", t.top_ngrams(content, 2, 5))

# %% [markdown]
# ## 4. Zipf's law
# Frequency falls roughly as 1/rank. On a short article the fitted slope is flatter than -1: most words
# appear once, so the tail is a long flat line of hapaxes.

# %%
fit = t.zipf_fit(tokens)
print(f"slope {fit.slope:.2f}; the 5 most frequent counts: {fit.frequencies[:5].astype(int).tolist()}")

# %% [markdown]
# ## 5. The same pipeline in other languages
# Look at the token counts and at what the English-shaped steps do to each sentence.

# %%
for lang, sentence in PARALLEL_SENTENCES.items():
    tokens = t.regex_tokenize(sentence)
    print(f"{lang}: {len(sentence.split()):>2} whitespace / {len(tokens):>2} regex tokens | "
          f"generic lowercase: {t.lowercase(sentence)[:30]!r} | accents stripped: {t.strip_accents(sentence)[:30]!r}")
