# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Chapter 2 — Sub-word tokenisation and embeddings, step by step
#
# Run as a script (`python course/02-tokenization-embeddings/notebook.py`) or open it as a notebook with
# `jupytext --to notebook notebook.py`. Lab 2 (`z2h lab 2`) runs the measured version of these steps.

# %%
from zero2hero.corpus import heldout_text, training_text
from zero2hero.tokenization import train_bpe
from zero2hero.tokenization.bpe import apply_merge
from zero2hero.tokenization.byte_level import pretokenize, to_symbols

text = training_text()[:200_000]
print(f"{len(text):,} characters of the course corpus, e.g. {text[1000:1100]!r}")

# %% [markdown]
# ## 1. Pre-tokenisation and bytes
# BPE never merges across pre-token boundaries. Each pre-token is written as bytes, shown with GPT-2's
# printable alphabet: a space becomes "Ġ", so " the" is "Ġthe".

# %%
pieces = pretokenize("It's 2024 — naïve café!")
print(pieces)
print([to_symbols(p) for p in pieces])

# %% [markdown]
# ## 2. One merge step by hand, then a trained tokenizer
# A merge replaces every adjacent occurrence of a pair, left to right.

# %%
print(apply_merge(list("Ġlower"), ("l", "o")))
tokenizer = train_bpe(text, 1_000, ["<|endoftext|>"])
print("first ten merges:", tokenizer.merges[:10])
sample = heldout_text(300)
ids = tokenizer.encode(sample)
print(f"{len(sample.encode())} bytes -> {len(ids)} tokens; round trip ok: {tokenizer.decode(ids) == sample}")
print(tokenizer.pieces(" tokenization is antidisestablishmentarianism"))

# %% [markdown]
# ## The lesson's hand-worked example
# Six merges on a tiny corpus (compare with the table in the lesson), then new words encoded with them.

# %%
tiny = " ".join(["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5)
hand = train_bpe(tiny, 256 + 6)
print("hand-worked merges:", hand.merges)
for word in [" hugs", " bug", " pugs", " mug"]:
    print(f"{word!r:>8} -> {'|'.join(hand.id_to_symbols[i] for i in hand.encode(word))}")

# %% [markdown]
# ## 3. The pretrained tokenizers, ours and Hugging Face's
# Our encoders, given the models' own vocabularies, give exactly the same ids.

# %%
from zero2hero.tokenization.compare import tokenize_all  # noqa: E402

for t in tokenize_all("Naïve tokenizers split 東京 and emoji 👍 differently."):
    print(f"{t.name:<30} {len(t.ids):>3} tokens  {t.pieces[:10]}")

# %% [markdown]
# The byte map in a real vocabulary: SmolLM2's tokens show a leading space as "Ġ", a newline as "Ċ", and
# each byte of a two-byte character such as "é" as its own symbol ("Ã©").

# %%
from transformers import AutoTokenizer  # noqa: E402

from zero2hero.assets import resolve_model_path  # noqa: E402

print(AutoTokenizer.from_pretrained(resolve_model_path("smollm2")).tokenize("Hello world, naïve café!\n"))

# %% [markdown]
# ## 4. One-hot vs dense embeddings
# Two different one-hot vectors always have cosine similarity 0; dense sentence embeddings put
# paraphrases close together.

# %%
from zero2hero.assets import load_encoder  # noqa: E402
from zero2hero.embeddings import cosine_similarity, embed_sentences, one_hot  # noqa: E402

onehots = one_hot([5, 9, 5], 30_522)
print("one-hot cosines:\n", cosine_similarity(onehots, onehots))
model, hf_tokenizer = load_encoder("minilm")
sentences = ["The library scans old newspapers.", "Old papers are being digitised by the archive.",
             "The striker scored twice."]
print("dense cosines:\n", cosine_similarity(*(2 * [embed_sentences(sentences, model, hf_tokenizer)])).round(decimals=2))
