"""`z2h bench prompt`: the evaluation harness with and without prefix caching, and llama.cpp against transformers.

The sentiment set asked with the same 8 random shots for every item (so every prompt starts with the same system
prompt and shots) and label log-prob scoring: per item, one forward pass and no generation. With the prefix cached,
the shared beginning is run once and each item runs only its own tokens; without, every item runs its whole prompt.
Both ways give the same decisions (checked here). The two ways alternate over rounds on each engine, each keeping its
best (:func:`zero2hero.measure.interleaved`); examples/s counts the whole run, the prefix's own pass included.
"""

from __future__ import annotations

from dataclasses import dataclass

from zero2hero.bench import BenchResult
from zero2hero.reporting import Table

DESCRIPTION = ("prompt evaluation at 8 shots (sentiment, label log-probs): prefix cache vs none, llama.cpp vs "
               "transformers, examples/s")
SHOTS = 8
GOAL_CACHE_OVER_NO_CACHE = 2.0


@dataclass(frozen=True)
class Sizing:
    items: int
    rounds: int  # alternating rounds per engine


FULL = Sizing(items=40, rounds=3)
QUICK = Sizing(items=4, rounds=1)


def _engines() -> tuple[list[tuple[str, object]], list[str]]:
    """(label, engine) pairs: transformers, and llama.cpp when it is installed; notes on what was left out."""
    from zero2hero.llama.llamacpp import llamacpp_available
    from zero2hero.prompting.engines import load_engine

    engines: list[tuple[str, object]] = [("transformers", load_engine("hf"))]
    if llamacpp_available():
        return [*engines, ("llamacpp", load_engine("llamacpp"))], []
    return engines, ["llama.cpp rows left out: llama-cpp-python is not installed (pip install 'zero2hero[llamacpp]')."]


def run(quick: bool = False) -> BenchResult:
    from zero2hero.measure import interleaved
    from zero2hero.prompting.fewshot import ShotSelector
    from zero2hero.prompting.harness import Condition, run_condition
    from zero2hero.prompting.promptset import load_prompt_set

    sizing = QUICK if quick else FULL
    ps = load_prompt_set("sentiment")
    items = ps.items[:sizing.items]
    condition = Condition(shots=SHOTS, scoring="logprob")
    selector = ShotSelector(ps, "random", seed=0)  # the same shots for every item: one shared prefix
    engines, notes = _engines()
    rows, identical = [], True
    for label, engine in engines:
        timings = interleaved({mode: (lambda cached=cached, engine=engine: run_condition(
            engine, ps, items, condition, selector, cache_prefix=cached)) for mode, cached in
            (("cached", True), ("uncached", False))}, rounds=sizing.rounds)
        cached, uncached = timings["cached"].result, timings["uncached"].result
        identical &= [r.scored.answer for r in cached.records] == [r.scored.answer for r in uncached.records]
        rows.append({"engine": label, "cached_examples_per_s": len(items) / timings["cached"].best_s,
                     "uncached_examples_per_s": len(items) / timings["uncached"].best_s,
                     "speedup_cache_over_no_cache_ratio": timings["uncached"].best_s / timings["cached"].best_s,
                     "prefix_tokens_count": cached.prefix_tokens,
                     "prompt_tokens_mean_count": sum(r.prompt_tokens for r in cached.records) / len(items),
                     "label_accuracy": cached.accuracy().mean})
    by_engine = {row["engine"]: row for row in rows}
    figures = {"items_count": len(items), "shots_count": SHOTS, "rounds_count": sizing.rounds, "engines": rows,
               "speedup_cache_over_no_cache_ratio": by_engine["transformers"]["speedup_cache_over_no_cache_ratio"],
               "goal_speedup_cache_over_no_cache_ratio": GOAL_CACHE_OVER_NO_CACHE,
               "decisions_identical": identical}
    if "llamacpp" in by_engine:
        figures["speedup_llamacpp_over_transformers_ratio"] = (by_engine["llamacpp"]["cached_examples_per_s"]
                                                                / by_engine["transformers"]["cached_examples_per_s"])
    table = Table(f"sentiment, {len(items)} items, {SHOTS} fixed shots, label log-probs; best of {sizing.rounds} "
                  "alternating rounds",
                  ["engine", "examples/s cached", "examples/s uncached", "cache speed-up", "prefix tokens",
                   "mean prompt tokens", "accuracy"],
                  [[r["engine"], round(r["cached_examples_per_s"], 2), round(r["uncached_examples_per_s"], 2),
                    round(r["speedup_cache_over_no_cache_ratio"], 2), r["prefix_tokens_count"],
                    round(r["prompt_tokens_mean_count"], 1), round(r["label_accuracy"], 3)] for r in rows])
    for row in rows:
        met = "met" if row["speedup_cache_over_no_cache_ratio"] >= GOAL_CACHE_OVER_NO_CACHE else "NOT met"
        notes.append(f"{row['engine']}: the prefix cache makes the harness "
                     f"{row['speedup_cache_over_no_cache_ratio']:.2f}× faster (goal ≥ {GOAL_CACHE_OVER_NO_CACHE:g}×: "
                     f"{met}); {row['prefix_tokens_count']} of {row['prompt_tokens_mean_count']:.0f} prompt tokens "
                     "on average are shared.")
    notes.append(f"cached and uncached runs chose {'the same' if identical else 'DIFFERENT'} labels for every item.")
    if "speedup_llamacpp_over_transformers_ratio" in figures:
        notes.append(f"llama.cpp (Q4_1) {figures['speedup_llamacpp_over_transformers_ratio']:.2f}× transformers "
                     "(fp32, the same weights dequantised), both with the prefix cached.")
    return BenchResult("prompt", figures, [table], notes)
