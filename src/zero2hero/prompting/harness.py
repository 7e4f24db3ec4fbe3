"""Running one prompting condition over a prompt set's items: the prompt of every item, the model's answer, its score.

A :class:`Condition` is one way of asking: a template, k shots chosen by a strategy, chain-of-thought or not,
self-consistency over several sampled chains, and how the answer is read:

* ``generate``: the model writes an answer (greedy at temperature 0) and :func:`~zero2hero.prompting.scoring.
  score_output` reads it;
* ``logprob`` (label sets only): nothing is generated; each label word gets its log-probability as the assistant's
  reply (:meth:`Engine.continuation_log_probs`) and the most likely label is the answer
  (:func:`~zero2hero.prompting.label_scoring.decide`), optionally after contextual calibration. The label word is
  scored *without* a leading space: after the chat template's assistant header (``<|im_start|>assistant\\n``) a reply
  starts a new line, and the tokenizer encodes "positive" there as one token, not " positive"
  (:func:`label_token_ids` and its test check this on the real conversation).

When every prompt starts with the same tokens (the system prompt and a fixed set of shots), that shared prefix is
cached once (:mod:`zero2hero.prompting.prefix_cache`) and each item runs only its own tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from zero2hero.errors import InputError
from zero2hero.prompting.chain_of_thought import self_consistency
from zero2hero.prompting.engines import Engine
from zero2hero.prompting.fewshot import STRATEGIES, ShotSelector, Strategy
from zero2hero.prompting.label_scoring import content_free_inputs, contextual_calibration, decide
from zero2hero.prompting.promptset import Item, PromptSet, Shot, template_variables
from zero2hero.prompting.render import prompt_ids, prompt_messages
from zero2hero.prompting.scoring import Scored, score_output
from zero2hero.prompting.stats import Interval, interval

ScoringMode = Literal["generate", "logprob"]
SCORING_MODES: tuple[str, ...] = get_args(ScoringMode)
COT_MAX_NEW_TOKENS = 160  # room for a few lines of reasoning, whatever the set's own max_new_tokens
MIN_PREFIX_TOKENS = 8  # a shorter shared beginning is not worth a cache


@dataclass(frozen=True)
class Condition:
    """One way of prompting. ``template`` None: the set's first; ``samples`` > 1: self-consistency over that many
    chains sampled at ``temperature``; ``max_new_tokens`` None: the set's (at least :data:`COT_MAX_NEW_TOKENS` with
    ``cot``)."""

    template: str | None = None
    shots: int = 0
    strategy: Strategy = "random"
    cot: bool = False
    samples: int = 1
    scoring: ScoringMode = "generate"
    calibration: bool = False
    temperature: float = 0.0
    seed: int = 0
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.scoring not in SCORING_MODES:
            raise InputError(f"unknown scoring {self.scoring!r}", f"choose one of {', '.join(SCORING_MODES)}")
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown shot strategy {self.strategy!r}", f"choose one of {', '.join(STRATEGIES)}")
        if self.shots < 0 or self.samples < 1 or self.temperature < 0:
            raise InputError(f"shots={self.shots}, samples={self.samples}, temperature={self.temperature}",
                             "shots >= 0, samples >= 1 and temperature >= 0")
        if self.samples > 1 and self.temperature == 0:
            raise InputError(f"{self.samples} samples at temperature 0 would all be the same greedy answer",
                             "self-consistency samples chains: add a temperature, e.g. --temperature 0.7")
        if self.scoring == "logprob" and (self.cot or self.samples > 1):
            raise InputError("logprob scoring reads the label words' probabilities: nothing is generated",
                             "use --scoring generate with --cot or --samples")
        if self.calibration and self.scoring != "logprob":
            raise InputError("calibration corrects label log-probs", "use it with --scoring logprob")

    @property
    def name(self) -> str:
        """A short readable label, e.g. ``plain 4-shot random logprob calibrated``."""
        parts = [self.template or "default", f"{self.shots}-shot" + (f" {self.strategy}" if self.shots else "")]
        parts += ["cot"] * self.cot + [f"sc{self.samples}@T{self.temperature:g}"] * (self.samples > 1)
        parts += [self.scoring] + ["calibrated"] * self.calibration
        parts += [f"T{self.temperature:g}"] * (self.samples == 1 and self.temperature > 0)
        return " ".join(parts)


@dataclass
class Record:
    """One item asked under one condition."""

    id: str
    prompt: str  # the prompt as the model reads it: the chat template's text, special tokens included
    prompt_tokens: int
    output: str  # the generated text (logprob scoring: the chosen label's word)
    scored: Scored
    reference: str | None
    label_log_probs: list[float] | None = None  # logprob scoring: one per label, in the set's label order
    chains: list[str] = field(default_factory=list)  # self-consistency: every sampled chain
    seconds: float = 0.0


@dataclass
class ConditionResult:
    condition: Condition
    records: list[Record]
    seconds: float  # the whole run, the prefix's forward pass included
    prefix_tokens: int  # tokens cached once and shared by every item (0: no cache)
    calibration: list[float] | None = None  # logprob scoring, calibrated: the vector subtracted from each row

    @property
    def examples_per_s(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0

    def accuracy(self) -> Interval | None:
        """Share of correct answers with its bootstrap interval; None for a free-text set (nothing to check)."""
        checked = [float(r.scored.correct) for r in self.records if r.scored.correct is not None]
        return interval(checked) if checked else None

    def parse_rate(self) -> Interval:
        """Share of outputs in which an answer could be found."""
        return interval([float(r.scored.parsed) for r in self.records])


def label_token_ids(tokenizer, ps: PromptSet) -> list[list[int]]:
    """The token ids of each label's word as the assistant's reply (no leading space), in the set's label order."""
    if ps.kind != "label":
        raise InputError(f"logprob scoring needs a label set; {ps.name!r} is of kind {ps.kind}",
                         "use --scoring generate")
    return [list(tokenizer.encode(ps.label_words[label], add_special_tokens=False)) for label in ps.labels]


def shared_prefix(prompts: Sequence[Sequence[int]]) -> list[int]:
    """The longest beginning every prompt has, kept strictly shorter than the shortest prompt."""
    first = list(prompts[0])
    n = min(len(p) for p in prompts) - 1
    for ids in prompts[1:]:
        n = next((i for i in range(n) if ids[i] != first[i]), n)
    return first[:n]


class _Prompts:
    """The shots, messages and token ids of each item under a condition."""

    def __init__(self, engine: Engine, ps: PromptSet, condition: Condition, selector: ShotSelector | None,
                 reserve: int) -> None:
        self.engine, self.ps, self.condition, self.reserve = engine, ps, condition, reserve
        if condition.shots and selector is None:
            selector = ShotSelector(ps, condition.strategy, seed=condition.seed)
        self.selector = selector

    def shots(self, item: Item) -> list[Shot]:
        return self.selector.select(item, self.condition.shots) if self.condition.shots else []

    def ids(self, item: Item, shots: Sequence[Shot] | None = None) -> list[int]:
        messages = prompt_messages(self.ps, item, self.shots(item) if shots is None else shots,
                                   self.condition.template, self.condition.cot)
        try:
            return prompt_ids(self.engine.tokenizer, messages, self.engine.context_length, self.reserve)
        except InputError as error:
            raise InputError(f"item {item.id!r}: {error.message}", error.hint) from None


def _calibration(engine: Engine, ps: PromptSet, prompts: _Prompts, items: Sequence[Item],
                 labels: list[list[int]]) -> list[float]:
    """Contextual calibration: the label log-probs of the first item's prompt with its text made content-free."""
    template = prompts.condition.template or next(iter(ps.templates))
    text_variable = template_variables(template, ps.templates[template])[0]
    shots = prompts.shots(items[0])
    rows = [engine.continuation_log_probs(prompts.ids(Item(f"{items[0].id}-content-free", variables), shots), labels)
            for variables in content_free_inputs(items[0].variables, text_variable)]
    return contextual_calibration(rows)


def _generate_one(engine: Engine, ps: PromptSet, item: Item, ids: list[int], condition: Condition,
                  max_new_tokens: int) -> tuple[str, Scored, list[str]]:
    def text(seed: int) -> str:
        new = engine.generate(ids, max_new_tokens, condition.temperature, seed)
        return engine.tokenizer.decode(new, skip_special_tokens=True)

    if condition.samples == 1:
        output = text(condition.seed)
        return output, score_output(ps, item, output), []
    majority, chains = self_consistency(lambda i: text(condition.seed + i), condition.samples,
                                        lambda chain: score_output(ps, item, chain).answer)
    chosen = next((c for c in chains if score_output(ps, item, c).answer == majority), chains[0])
    return chosen, score_output(ps, item, chosen), chains


def run_condition(engine: Engine, ps: PromptSet, items: Sequence[Item], condition: Condition,
                  selector: ShotSelector | None = None, progress: Callable[[Record], None] | None = None,
                  cache_prefix: bool = True) -> ConditionResult:
    """Ask every item under ``condition``; ``progress`` is called with each finished record.

    ``cache_prefix``: cache the beginning all prompts share (the default; off only to measure what it saves).
    """
    if not items:
        raise InputError(f"no items to run from {ps.name!r}", "check --limit and the prompt set's items")
    labels = label_token_ids(engine.tokenizer, ps) if condition.scoring == "logprob" else None
    max_new_tokens = condition.max_new_tokens or max(ps.max_new_tokens, COT_MAX_NEW_TOKENS * condition.cot)
    prompts = _Prompts(engine, ps, condition, selector, max(map(len, labels)) if labels else max_new_tokens)
    all_ids = [prompts.ids(item) for item in items]
    prefix = shared_prefix(all_ids) if cache_prefix and len(items) > 1 else []
    start = time.perf_counter()
    records = []
    try:
        if len(prefix) >= MIN_PREFIX_TOKENS:
            engine.cache_prefix(prefix)
        calibration = _calibration(engine, ps, prompts, items, labels) if condition.calibration else None
        for item, ids in zip(items, all_ids, strict=True):
            item_start = time.perf_counter()
            if labels is not None:
                scores = engine.continuation_log_probs(ids, labels)
                label = ps.labels[decide([scores], calibration)[0]]
                output, scored, chains = ps.label_words[label], Scored(label, label == item.reference, True), []
            else:
                scores = None
                output, scored, chains = _generate_one(engine, ps, item, ids, condition, max_new_tokens)
            record = Record(item.id, engine.tokenizer.decode(ids), len(ids), output, scored, item.reference, scores,
                            chains, time.perf_counter() - item_start)
            records.append(record)
            if progress is not None:
                progress(record)
    finally:
        engine.clear_prefix()
    return ConditionResult(condition, records, time.perf_counter() - start,
                           len(prefix) if len(prefix) >= MIN_PREFIX_TOKENS else 0, calibration)
