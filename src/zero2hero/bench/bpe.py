"""`z2h bench bpe`: our pure-Python incremental BPE trainer against the Rust trainer of `tokenizers`,
same corpus, same vocabulary size, each run in a fresh process so that its peak memory is its own.

The Rust trainer is fed the two ways its users feed it: the corpus as one string, and as an iterator of
lines — the usual way, which lets it count and merge on every core. Our trainer takes the one string.
"""

from __future__ import annotations

import json
import multiprocessing
import os

from zero2hero.bench import BenchResult
from zero2hero.measure import PeakMemory, Stopwatch, interleaved
from zero2hero.reporting import Table

DESCRIPTION = ("BPE training: ours (Python, heap + incremental counts) vs tokenizers' Rust BpeTrainer fed one string "
               "or an iterator of lines")
SPECIAL = "<|endoftext|>"
TRAINERS = {"ours": "ours (pure Python)", "rust_string": "tokenizers (Rust), one string",
            "rust_lines": "tokenizers (Rust), iterator of lines"}


def _train(which: str, n_chars: int | None, vocab_size: int) -> dict:
    """Runs in a child process: train one tokenizer, return its merges, seconds, peak memory and state."""
    from zero2hero.corpus import training_text

    text = training_text()[:n_chars]
    if which == "ours":
        from zero2hero.tokenization import train_bpe

        with PeakMemory() as memory:
            watch = Stopwatch()
            tokenizer = train_bpe(text, vocab_size, [SPECIAL])
            seconds = watch.seconds
        merges = [list(m) for m in tokenizer.merges]
        state = {"vocab": tokenizer.vocab, "special_tokens": tokenizer.special_tokens}
    else:
        os.environ["TOKENIZERS_PARALLELISM"] = "true"  # the Rust trainer may use every core, as its users let it
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, special_tokens=[SPECIAL],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        with PeakMemory() as memory:
            feed = [text] if which == "rust_string" else text.splitlines(keepends=True)
            watch = Stopwatch()
            tokenizer.train_from_iterator(feed, trainer, length=len(feed))
            seconds = watch.seconds
        merges = [list(m) for m in json.loads(tokenizer.to_str())["model"]["merges"]]
        state = {"json": tokenizer.to_str()}
    return {"seconds": seconds, "peak_mb": memory.added_mb, "merges": merges,
            "text_bytes": len(text.encode()), "state": state}


def _in_fresh_process(which: str, n_chars: int | None, vocab_size: int) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # one at a time: none competes for the cores
        return pool.apply(_train, (which, n_chars, vocab_size))


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


def _first_difference(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), -1)


def run(quick: bool = False) -> BenchResult:
    from zero2hero.corpus import heldout_text

    n_chars, vocab_size = (1_000_000, 2_000) if quick else (None, 8_000)
    # Each round trains every trainer once, each in a fresh process; the seconds are the child's own training
    # time (process start-up and corpus loading do not count); each trainer keeps its fastest round.
    timed = interleaved({w: (lambda w=w: _in_fresh_process(w, n_chars, vocab_size)) for w in TRAINERS}, rounds=2,
                        own_time=lambda result: result["seconds"])
    results = {w: t.result for w, t in timed.items()}
    heldout = heldout_text(300_000)
    ours = results["ours"]
    rows, figures = [], {"corpus_mb": ours["text_bytes"] / 1e6, "vocab_size_count": vocab_size}
    ours_merges = {tuple(m) for m in ours["merges"]}
    figures["trainers"] = []
    for which, r in results.items():
        bpt = _bytes_per_token(r, heldout)
        figures["trainers"].append({"trainer": which, "train_s": r["seconds"], "peak_added_mb": r["peak_mb"],
                                    "heldout_bytes_per_token": bpt})
        rows.append([TRAINERS[which], round(r["seconds"], 2), round(r["peak_mb"]), round(bpt, 4)])
    for which in ("rust_string", "rust_lines"):
        figures[f"speedup_ours_over_{which}_ratio"] = results[which]["seconds"] / ours["seconds"]
        figures[f"merges_shared_with_{which}_ratio"] = (
            len(ours_merges & {tuple(m) for m in results[which]["merges"]}) / len(ours_merges))
        figures[f"first_merge_difference_with_{which}_count"] = _first_difference(ours["merges"],
                                                                                  results[which]["merges"])
    table = Table(f"BPE training, {figures['corpus_mb']:.1f} MB, vocabulary {vocab_size} (each trainer in a fresh "
                  "process, best of 2 alternating rounds)",
                  ["trainer", "train seconds", "peak RSS added (MB)", "held-out bytes/token"], rows)
    notes = [f"ours takes {1 / figures['speedup_ours_over_rust_string_ratio']:.2f}× the time of the Rust trainer fed "
             f"one string and {1 / figures['speedup_ours_over_rust_lines_ratio']:.2f}× the time of the Rust trainer "
             f"fed lines (on {os.cpu_count()} cores); merges shared with the latter: "
             f"{figures['merges_shared_with_rust_lines_ratio']:.1%} (first difference at rank "
             f"{figures['first_merge_difference_with_rust_lines_count']}, a tie broken differently)."]
    return BenchResult("bpe", figures, [table], notes)
