"""`z2h bench bpe`: our pure-Python incremental BPE trainer against the Rust trainer of `tokenizers`,
same corpus, same vocabulary size, each in a fresh process so that peak memory is its own."""

from __future__ import annotations

import json
import multiprocessing
import resource
import time

from zero2hero.bench import BenchResult
from zero2hero.reporting import Table

DESCRIPTION = "BPE training: ours (Python, heap + incremental counts) vs tokenizers' Rust BpeTrainer"
SPECIAL = "<|endoftext|>"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _train(which: str, n_chars: int | None, vocab_size: int) -> dict:
    """Runs in a child process: train one tokenizer, return its merges, time and memory."""
    from zero2hero.corpus import training_text

    text = training_text()[:n_chars]
    if which == "ours":
        from zero2hero.tokenization import train_bpe

        baseline = _peak_mb()
        start = time.perf_counter()
        tokenizer = train_bpe(text, vocab_size, [SPECIAL])
        seconds = time.perf_counter() - start
        merges = [list(m) for m in tokenizer.merges]
        state = {"vocab": tokenizer.vocab, "special_tokens": tokenizer.special_tokens}
    else:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, special_tokens=[SPECIAL],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        baseline = _peak_mb()
        start = time.perf_counter()
        tokenizer.train_from_iterator([text], trainer)
        seconds = time.perf_counter() - start
        merges = [list(m) for m in json.loads(tokenizer.to_str())["model"]["merges"]]
        state = {"json": tokenizer.to_str()}
    return {"seconds": seconds, "peak_mb": _peak_mb() - baseline, "merges": merges, "text_bytes": len(text.encode()),
            "state": state}


def _bytes_per_token(result: dict, heldout: str) -> float:
    """Held-out UTF-8 bytes per token of the tokenizer a child process trained."""
    state = result["state"]
    if "json" in state:
        from tokenizers import Tokenizer

        n_tokens = len(Tokenizer.from_str(state["json"]).encode(heldout).ids)
    else:
        from zero2hero.tokenization import BPETokenizer

        tokenizer = BPETokenizer(state["vocab"], [tuple(m) for m in result["merges"]], state["special_tokens"])
        n_tokens = len(tokenizer.encode(heldout))
    return len(heldout.encode()) / n_tokens


def run(quick: bool = False) -> BenchResult:
    from zero2hero.corpus import heldout_text

    n_chars, vocab_size = (1_000_000, 2_000) if quick else (None, 8_000)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:  # one at a time: the two must not compete for the cores
        ours = pool.apply(_train, ("ours", n_chars, vocab_size))
    with context.Pool(1) as pool:
        rust = pool.apply(_train, ("rust", n_chars, vocab_size))
    heldout = heldout_text(300_000)
    ours_set, rust_set = {tuple(m) for m in ours["merges"]}, {tuple(m) for m in rust["merges"]}
    figures = {
        "corpus_mb": ours["text_bytes"] / 1e6,
        "vocab_size": vocab_size,
        "ours_s": ours["seconds"],
        "rust_s": rust["seconds"],
        "time_ratio_ours_over_rust": ours["seconds"] / rust["seconds"],
        "ours_peak_rss_mb": ours["peak_mb"],
        "rust_peak_rss_mb": rust["peak_mb"],
        "merge_overlap_ratio": len(ours_set & rust_set) / len(ours_set),
        "first_merge_difference_rank": next(
            (i for i, (a, b) in enumerate(zip(ours["merges"], rust["merges"], strict=False)) if a != b), -1),
        "ours_heldout_bytes_per_token": _bytes_per_token(ours, heldout),
        "rust_heldout_bytes_per_token": _bytes_per_token(rust, heldout),
    }
    table = Table("BPE training", ["trainer", "seconds", "peak RSS added (MB)", "held-out bytes/token"], [
        ["ours (pure Python)", round(ours["seconds"], 2), round(ours["peak_mb"]),
         round(figures["ours_heldout_bytes_per_token"], 4)],
        ["tokenizers (Rust)", round(rust["seconds"], 2), round(rust["peak_mb"]),
         round(figures["rust_heldout_bytes_per_token"], 4)],
    ])
    notes = [f"{figures['corpus_mb']:.1f} MB corpus, vocabulary {vocab_size}: ours takes "
             f"{figures['time_ratio_ours_over_rust']:.2f}× the Rust trainer's time; merges overlap "
             f"{figures['merge_overlap_ratio']:.1%} (first difference at rank "
             f"{figures['first_merge_difference_rank']}, a tie broken differently)."]
    return BenchResult("bpe", figures, table, notes)
