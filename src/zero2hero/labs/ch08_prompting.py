"""Lab 8 — prompting measured: the same questions asked many ways, scored against references with confidence
intervals, on SmolLM2-135M-Instruct. Several prompts and their paraphrases compared; an iterative refinement of a
format-following prompt on a dev split, judged once on held-out items; few-shot curves per selection strategy, the
spread over shot orderings and label calibration; chain-of-thought and self-consistency on arithmetic; a soft prompt
trained in front of the frozen model against few-shot prompting; 22 free-text prompts in two styles side by side for a
reader to judge; and what caching the shared prompt prefix saves.

The steps are the methods of :class:`~zero2hero.labs.ch08_sentiment.SentimentSteps` (classification by label
log-probabilities) and :class:`~zero2hero.labs.ch08_generation.GenerationSteps` (answers the model writes), on
:mod:`zero2hero.prompting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zero2hero.errors import InputError
from zero2hero.reporting import LabResult, RunContext

if TYPE_CHECKING:
    from zero2hero.prompting.engines import Engine

CHAPTER = 8
TITLE = "Lab 8 — Prompting measured: templates, few-shot, chain-of-thought, soft prompts"


@dataclass
class Config:
    quick: bool = True
    engine: str = "hf"  # hf | ours | llamacpp: the engine that scores the sentiment steps
    generation_engine: str = "llamacpp"  # the engine that writes answers (the same as ``engine`` when not installed)
    test_items: int = 300  # held-out sentiment items (chapter 5's official test reviews), scored once per condition
    dev_items: int = 100  # sentiment items from the training reviews, to choose settings on
    review_chars: int = 400  # reviews cut at a word boundary to at most this many characters
    shots: list[int] = field(default_factory=lambda: [0, 1, 2, 4, 8])
    strategies: list[str] = field(default_factory=lambda: ["random", "balanced", "nearest"])
    orderings: int = 6  # permutations of the same 4 balanced shots
    ordering_shots: int = 4
    cache_items: int = 40  # items timed with and without the cached 8-shot prefix
    soft_prompt: str = "full"  # quick | full: soft prompt tuning's size (zero2hero.prompting.soft_prompt)
    soft_prompt_pool: int = 256  # training reviews the soft prompt learns from
    soft_prompt_lrs: list[float] = field(default_factory=lambda: [1e-2])
    json_items: int = 80  # half dev (to refine the prompt on), half held out
    arithmetic_items: int = 8  # per level (1-3)
    arithmetic_shots: int = 2
    sc_samples: int = 5  # chains sampled for self-consistency
    sc_temperature: float = 0.7
    cot_new_tokens: int = 160  # room for a chain of thought
    qualitative_prompts: int = 0  # 0: all 22
    qualitative_new_tokens: int = 160
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.test_items, self.dev_items, self.json_items, self.cache_items) < 2 or self.arithmetic_items < 1:
            raise InputError("every lab size must be at least 2 items (arithmetic: 1 per level)",
                             "e.g. test_items 300 dev_items 100")
        if not self.shots or min(self.shots) < 0:
            raise InputError(f"shots must be whole numbers ≥ 0, got {self.shots}", "e.g. shots 0 1 2 4 8")
        if self.cot_new_tokens < 8:
            raise InputError(f"cot_new_tokens {self.cot_new_tokens} leaves no room to reason", "e.g. 160")
        if self.sc_samples < 2:
            raise InputError(f"self-consistency needs at least 2 samples, got {self.sc_samples}", "e.g. sc_samples 5")


QUICK = {"test_items": 8, "dev_items": 6, "review_chars": 200, "shots": [0, 1], "strategies": ["random", "nearest"],
         "orderings": 2, "ordering_shots": 2, "cache_items": 4, "soft_prompt": "quick", "soft_prompt_pool": 4,
         "json_items": 2, "arithmetic_items": 1, "arithmetic_shots": 1, "sc_samples": 2,
         "cot_new_tokens": 32, "qualitative_prompts": 2, "qualitative_new_tokens": 16}


def run(config: Config, ctx: RunContext) -> LabResult:
    from zero2hero.labs.ch08_generation import GenerationSteps
    from zero2hero.labs.ch08_sentiment import SentimentSteps
    from zero2hero.prompting.engines import load_engine

    result = LabResult(title=TITLE)
    ctx.step(f"loading SmolLM2-135M-Instruct ({config.engine})")
    engine = load_engine(config.engine)
    sentiment = SentimentSteps(config, ctx, engine)
    ctx.step("several prompts for the same reviews: paraphrases of the instruction")
    result.add(sentiment.paraphrases())
    ctx.step("few-shot curves: k shots chosen at random, balanced, or nearest by MiniLM")
    result.add(sentiment.few_shot_curves())
    ctx.step("the best setting chosen on dev, scored once on held-out reviews; calibration")
    result.add(sentiment.best_on_held_out())
    ctx.step("the same shots in different orders")
    result.add(sentiment.ordering_spread())
    ctx.step("a soft prompt trained in front of the frozen model")
    result.add(sentiment.soft_prompt())
    ctx.step("caching the shared few-shot prefix")
    result.add(sentiment.prefix_cache())
    generation = GenerationSteps(config, ctx, generation_engine(config, engine))
    ctx.step("refining a format-following prompt on dev, judged on held-out items")
    result.add(generation.refinement())
    ctx.step("chain-of-thought and self-consistency on arithmetic word problems")
    result.add(generation.reasoning())
    ctx.step("a small prompt set in two styles, side by side")
    result.add(generation.qualitative())
    return result


def generation_engine(config: Config, engine: Engine) -> Engine:
    """The engine that writes answers: ``config.generation_engine`` (llama.cpp decodes SmolLM2 several times faster
    than transformers on a CPU, chapter 7), or the scoring engine when that one is not installed."""
    from zero2hero.llama.llamacpp import llamacpp_available
    from zero2hero.prompting.engines import load_engine

    if config.generation_engine == engine.name or (config.generation_engine == "llamacpp"
                                                   and not llamacpp_available()):
        return engine
    return load_engine(config.generation_engine)
