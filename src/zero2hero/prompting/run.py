"""``z2h prompt run``: a prompt set asked under one or more conditions (each template × each number of shots), on
one engine, into a run folder (:mod:`zero2hero.prompting.report`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.prompting.engines import check_engine_name, load_engine
from zero2hero.prompting.fewshot import ShotSelector
from zero2hero.prompting.harness import Condition, ConditionResult, Record, run_condition
from zero2hero.prompting.promptset import PromptSet, load_prompt_set
from zero2hero.prompting.report import run_info, write_run


@dataclass
class PromptRunConfig:
    prompt_set: str  # a built-in set's name or a YAML / JSONL file
    model: str = "smollm2"
    engine: str = "hf"
    templates: list[str] = field(default_factory=list)  # empty: the set's first
    shots: list[int] = field(default_factory=list)  # empty: the set's default
    strategy: str = "random"
    cot: bool = False
    samples: int = 1
    scoring: str = "generate"
    calibration: bool = False
    temperature: float = 0.0
    seed: int = 0
    limit: int | None = None  # the first N items only
    split: str | None = None  # a generated set's split (e.g. sentiment: dev or test)
    threads: int | None = None


def conditions(config: PromptRunConfig, ps: PromptSet) -> list[Condition]:
    """Every template × every number of shots, in the order given (the first is the baseline of the report)."""
    templates = config.templates or [next(iter(ps.templates))]
    return [Condition(template, shots, config.strategy, config.cot, config.samples, config.scoring,
                      config.calibration, config.temperature, config.seed)
            for template in templates for shots in (config.shots or [ps.shots])]


def load_for_run(config: PromptRunConfig) -> PromptSet:
    if config.limit is not None and config.limit < 1:
        raise InputError(f"--limit {config.limit} leaves no items", "pass --limit 1 or more, or leave it out")
    check_engine_name(config.engine)  # before the prompt set and the model load
    ps = load_prompt_set(config.prompt_set, {"split": config.split} if config.split else None)
    if config.limit is not None:
        ps.items = ps.items[:config.limit]
    return ps


def run_prompt_set(config: PromptRunConfig, out: Path,
                   on_condition: Callable[[int, Condition, int], Callable[[Record], None] | None] | None = None,
                   ) -> tuple[Path, list[ConditionResult]]:
    """Run every condition and write the run folder. ``on_condition(index, condition, n_items)`` may return a
    callback that gets each finished record (the CLI's progress bar)."""
    ps = load_for_run(config)
    plan = conditions(config, ps)  # checks the options before the model loads
    engine = load_engine(config.engine, config.model, config.threads)
    selector = ShotSelector(ps, config.strategy, seed=config.seed) if any(c.shots for c in plan) else None
    results = []
    for i, condition in enumerate(plan):
        progress = on_condition(i, condition, len(ps.items)) if on_condition else None
        results.append(run_condition(engine, ps, ps.items, condition, selector, progress))
    options = {k: v for k, v in asdict(config).items() if k not in ("prompt_set", "model", "engine")}
    return write_run(out, run_info(ps, config.model, config.engine, options), results), results
