"""Lab 2 — word, character and sub-word tokenisation compared on several kinds of text; how BPE
granularity changes with vocabulary size; and what dense embeddings capture that one-hot vectors cannot."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from zero2hero.measure import Stopwatch
from zero2hero.reporting import Figure, LabResult, RunContext, Section, Table, new_figure

CHAPTER = 2
TITLE = "Lab 2 — Modern tokenization and embeddings"


@dataclass
class Config:
    quick: bool = True
    bpe_vocab_sizes: list[int] = field(default_factory=lambda: [300, 1_000, 4_000, 16_000])
    bpe_train_chars: int = 0  # 0: the whole training corpus
    heldout_chars: int = 200_000
    rare_words: list[str] = field(default_factory=lambda: ["antidisestablishmentarianism", "tokenization",
                                                           "Pemberley", "definately"])


QUICK = {"bpe_vocab_sizes": [300, 1_000, 4_000], "bpe_train_chars": 400_000, "heldout_chars": 50_000}


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.corpus import heldout_text

    result = LabResult(title=TITLE)
    ctx.step("loading the tokenizers (ours and Hugging Face's)")
    heldout = heldout_text(config.heldout_chars)
    result.add(_granularity(heldout))
    ctx.step(f"training BPE at vocabulary sizes {config.bpe_vocab_sizes}")
    result.add(_vocab_sweep(config, heldout, ctx))
    ctx.step("embeddings: one-hot vs dense, similarity, neighbours, PCA")
    result.add(_embeddings(ctx))
    return result


def _granularity(heldout: str) -> Section:
    from zero2hero.text import regex_tokenize
    from zero2hero.tokenization import pretrained as p
    from zero2hero.tokenization.compare import char_level, word_level
    from zero2hero.tokenization.samples import TEXT_KINDS, source_code_sample

    kinds = {"English prose (held out)": heldout[:2_000], "Python source": source_code_sample(), **TEXT_KINDS}
    bpe, wordpiece = p.smollm2_bpe(), p.minilm_wordpiece()
    rows, splits, section = [], [], Section()
    for kind, text in kinds.items():
        words = regex_tokenize(text)
        word_ids, chars = word_level(text).ids, char_level(text).ids
        wp = wordpiece.tokenize(text)
        bpe_ids = bpe.encode(text)
        for name, n_tokens, oov in (
            ("words (corpus top 50k)", len(word_ids), sum(i == 0 for i in word_ids) / len(word_ids)),
            ("characters", len(chars), 0.0),
            ("BPE (SmolLM2, 49,152)", len(bpe_ids), 0.0),
            ("WordPiece (MiniLM, 30,522)", len(wp), wp.count("[UNK]") / len(wp)),
        ):
            rows.append([kind, name, n_tokens, round(n_tokens / len(words), 2), f"{oov:.1%}"])
        first = " ".join(words[:6])
        splits.append([kind, first, " | ".join(bpe.pieces(first)), " | ".join(wordpiece.tokenize(first))])
        if kind == "rare words & typos":
            section.metric("rare_words_bpe_tokens_per_word", len(bpe_ids) / len(words),
                           "SmolLM2 BPE on rare words and typos")
    section.metric("prose_bpe_tokens_per_word", rows[2][3], "SmolLM2 BPE on held-out English prose")
    prose_word_ids = word_level(kinds["English prose (held out)"]).ids
    section.metric("prose_word_level_oov_ratio", sum(i == 0 for i in prose_word_ids) / len(prose_word_ids),
                   "share of held-out prose words outside the 50k word vocabulary")
    section.tables += [Table("Granularity: the same texts through four tokenizers",
                  ["text", "tokenizer", "tokens", "tokens per word", "out-of-vocabulary"], rows,
                  "Words are counted with chapter 1's regex tokeniser. Byte-level BPE never has unknown tokens."),
            Table("How the pretrained tokenizers split the first words of each text",
                  ["text", "words", "SmolLM2 BPE", "MiniLM WordPiece"], splits)]
    return section


def _vocab_sweep(config: Config, heldout: str, ctx: RunContext) -> Section:
    from zero2hero.corpus import training_text
    from zero2hero.text import regex_tokenize
    from zero2hero.tokenization import train_bpe

    text = training_text()[: config.bpe_train_chars or None]
    n_bytes, n_words = len(heldout.encode()), len(regex_tokenize(heldout))
    rows, bpt, section = [], [], Section()
    for size in config.bpe_vocab_sizes:
        watch = Stopwatch()
        tokenizer = train_bpe(text, size, ["<|endoftext|>"])
        seconds = watch.seconds
        n_tokens = len(tokenizer.encode(heldout))
        bpt.append(n_bytes / n_tokens)
        rows.append([size, round(seconds, 2), round(n_bytes / n_tokens, 3), round(n_tokens / n_words, 3),
                     *(" | ".join(tokenizer.pieces(" " + w)) for w in config.rare_words)])
        section.metric(f"bpe_{size}_heldout_bytes_per_token", n_bytes / n_tokens,
                       f"our BPE, vocabulary {size}, trained on {len(text):,} characters")
    fig, ax = new_figure((6, 4))
    ax.semilogx(config.bpe_vocab_sizes, bpt, "o-", color="#4477aa")
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel("held-out bytes per token")
    ax.set_title("Bigger vocabulary, longer tokens")
    section.figures.append(ctx.save_figure(fig, "bpe_vocab_sweep.png", "BPE granularity vs vocabulary size",
                                           "Each BPE was trained by zero2hero's trainer on the same corpus text."))
    section.tables.append(Table(
        f"Our BPE trained on {len(text):,} characters of the course corpus, at several vocabulary sizes",
        ["vocab size", "train s", "held-out bytes/token", "tokens per word", *(f"'{w}'" for w in config.rare_words)],
        rows))
    return section


def _embeddings(ctx: RunContext) -> Section:
    from zero2hero.assets import load_encoder
    from zero2hero.embeddings import cosine_similarity, embed_sentences, nearest_neighbours, one_hot_vs_dense, pca_2d
    from zero2hero.tokenization.samples import SENTENCE_GROUPS

    model, tokenizer = load_encoder("minilm")
    sentences = [s for group in SENTENCE_GROUPS.values() for s in group]
    groups = [g for g, items in SENTENCE_GROUPS.items() for _ in items]
    emb = embed_sentences(sentences, model, tokenizer)
    sims = cosine_similarity(emb, emb)
    same = torch.tensor([[a == b and i != j for j, b in enumerate(groups)] for i, a in enumerate(groups)])
    other = torch.tensor([[a != b for b in groups] for a in groups])
    section = Section()
    section.metric("same_topic_mean_cosine", sims[same].mean(), "MiniLM, sentences on the same topic")
    section.metric("other_topic_mean_cosine", sims[other].mean(), "MiniLM, sentences on different topics")
    points, ratio = pca_2d(emb)
    section.figures += [_heatmap(ctx, sims, sentences), _pca_plot(ctx, points, ratio, groups)]

    # Word-piece embeddings: neighbours in the input embedding matrix of the encoder.
    table = model.get_input_embeddings().weight.detach()  # (vocab, 384)
    words = ["king", "paris", "happy", "library", "football"]
    ids = tokenizer.convert_tokens_to_ids(words)
    _, idx = nearest_neighbours(table[ids], table, k=6)
    neighbour_rows = [[w, ", ".join(t for t in tokenizer.convert_ids_to_tokens(row.tolist()) if t != w)[:80]]
                      for w, row in zip(words, idx, strict=True)]
    costs = [one_hot_vs_dense(v, 384) for v in (30_522, 49_152)]
    one_hot_rows = [[f"{c.vocab_size:,}", f"{c.one_hot_bytes_per_token:,}", f"{c.dense_bytes_per_token:,}",
                     f"{c.one_hot_bytes_per_token / c.dense_bytes_per_token:.0f}×", f"{c.one_hot_sparsity:.5%}",
                     c.distinct_pair_cosine] for c in costs]
    section.tables += [
        Table("Nearest word pieces in MiniLM's input embedding matrix (cosine)", ["word", "neighbours"],
              neighbour_rows),
        Table("One-hot vs dense (float32, per token)",
              ["vocabulary", "one-hot bytes", "dense bytes (d=384)", "ratio", "one-hot zeros",
               "cosine of two different words"], one_hot_rows,
              "Any two different one-hot vectors are orthogonal: one-hot encodes identity, not similarity."),
    ]
    return section


def _heatmap(ctx: RunContext, sims: torch.Tensor, sentences: list[str]) -> Figure:
    fig, ax = new_figure((8, 6.5))
    image = ax.imshow(sims.numpy(), cmap="viridis", vmin=-0.1, vmax=1)
    labels = [s if len(s) < 38 else s[:36] + "…" for s in sentences]
    ax.set_xticks(range(len(labels)), labels, rotation=75, fontsize=7, ha="right")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(image, ax=ax, label="cosine similarity")
    ax.set_title("MiniLM sentence embeddings: cosine similarity")
    return ctx.save_figure(fig, "similarity_heatmap.png", "Sentence similarity heatmap",
                           "Blocks along the diagonal: sentences on the same topic are closer.")


def _pca_plot(ctx: RunContext, points: torch.Tensor, ratio: torch.Tensor, groups: list[str]) -> Figure:
    fig, ax = new_figure((6, 4.5))
    for group, colour in zip(dict.fromkeys(groups), ("#4477aa", "#ee6677", "#228833"), strict=False):
        mask = [g == group for g in groups]
        ax.scatter(points[mask, 0], points[mask, 1], color=colour, label=group)
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
    ax.legend()
    ax.set_title("Sentence embeddings projected to 2-D (PCA)")
    return ctx.save_figure(fig, "embeddings_pca.png", "PCA of sentence embeddings",
                           "384 dimensions projected onto the two of largest variance.")
