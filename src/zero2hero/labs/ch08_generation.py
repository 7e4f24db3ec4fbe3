"""Lab 8, answers the model writes: a format-following prompt refined on dev items and judged once on held-out ones;
chain-of-thought against direct answers, and self-consistency, on generated arithmetic problems; 22 free-text prompts
in two styles, side by side, with a rubric sheet a reader fills in. Steps of :func:`zero2hero.labs.ch08_prompting.run`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from zero2hero.labs.ch08_sentiment import cell, correct_of
from zero2hero.prompting.harness import Condition, ConditionResult, run_condition
from zero2hero.prompting.promptset import Item, PromptSet, load_prompt_set
from zero2hero.prompting.scoring import first_json_object, same_value
from zero2hero.prompting.stats import compare_paired, interval
from zero2hero.reporting import RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.labs.ch08_prompting import Config
    from zero2hero.prompting.engines import Engine

# The refinement of the json-orders prompt: each revision answers what the previous one's errors on dev showed.
REVISIONS = (
    ("baseline: the keys described in words", Condition(template="keys")),
    ("revised: the exact form to fill in", Condition(template="example")),
    ("revised: the form and 2 worked examples", Condition(template="example", shots=2)),
)


def error_kinds(ps: PromptSet, result: ConditionResult) -> Counter[str]:
    """Why each wrong answer is wrong: no JSON object, one that breaks the schema, or which fields differ."""
    kinds: Counter[str] = Counter()
    for record in result.records:
        if record.scored.correct:
            continue
        found = first_json_object(record.output)
        if found is None:
            kinds["no JSON object"] += 1
        elif not record.scored.parsed:
            kinds["breaks the schema"] += 1
        else:
            reference = json.loads(record.reference)
            kinds.update(f"wrong {key}" for key, value in reference.items() if not same_value(found.get(key), value))
    return kinds


class GenerationSteps:
    def __init__(self, config: Config, ctx: RunContext, engine: Engine) -> None:
        self.config, self.ctx, self.engine = config, ctx, engine

    def run(self, ps: PromptSet, condition: Condition, items: Sequence[Item]) -> ConditionResult:
        return run_condition(self.engine, ps, list(items), condition)

    def refinement(self) -> Section:
        c = self.config
        section = Section()
        ps = load_prompt_set("json-orders", {"items": c.json_items, "seed": c.seed})
        half = len(ps.items) // 2
        dev, held_out = ps.items[:half], ps.items[half:]
        rows, dev_results = [], []
        for name, condition in REVISIONS:
            result = self.run(ps, condition, dev)
            dev_results.append(result)
            kinds = error_kinds(ps, result)
            rows.append([name, cell(result.accuracy()), cell(result.parse_rate()),
                         ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()) or "none"])
        best = int(np.argmax([r.accuracy().mean for r in dev_results]))  # the first of the best on ties
        section.tables.append(Table(
            f"Refining a format-following prompt on {plural(len(dev), 'dev sentence')} (json-orders)",
            ["revision", "dev accuracy [95% CI]", "valid JSON", "errors on dev"], rows,
            "Accuracy: the JSON object meets the schema and every field equals the reference. Each revision was "
            "written after reading the previous one's errors; the lab replays that sequence."))
        baseline = self.run(ps, REVISIONS[0][1], held_out)
        chosen = baseline if best == 0 else self.run(ps, REVISIONS[best][1], held_out)
        comparison = compare_paired(correct_of(baseline), correct_of(chosen), names=("baseline", "revised"))
        section.metric("refine_baseline_test_accuracy", baseline.accuracy().mean, "held-out sentences")
        section.metric("refine_chosen_test_accuracy", chosen.accuracy().mean, REVISIONS[best][0])
        section.tables.append(Table(
            f"The revision chosen on dev, judged once on {plural(len(held_out), 'held-out sentence')}",
            ["prompt", "held-out accuracy [95% CI]", "valid JSON"],
            [[REVISIONS[0][0], cell(baseline.accuracy()), cell(baseline.parse_rate())]]
            + ([[REVISIONS[best][0], cell(chosen.accuracy()), cell(chosen.parse_rate())]] if best else []),
            f"Paired over the same sentences: {comparison.verdict}."))
        failures = [r for r in dev_results[0].records if not r.scored.correct][:2]
        for record in failures:
            section.notes.append(f"A baseline error on dev — reference `{record.reference}`, the model wrote "
                                 f"`{one_line(record.output)[:200]}`.")
        return section

    def reasoning(self) -> Section:
        c = self.config
        section = Section()
        ps = load_prompt_set("arithmetic", {"items": c.arithmetic_items, "pool": max(c.arithmetic_shots, 1),
                                            "seed": c.seed})
        k = c.arithmetic_shots
        cot = Condition(shots=k, cot=True, max_new_tokens=c.cot_new_tokens)
        conditions = {"direct": Condition(shots=k), "chain-of-thought": cot,
                      f"self-consistency ({c.sc_samples} chains)": replace(cot, samples=c.sc_samples,
                                                                           temperature=c.sc_temperature)}
        results = {name: self.run(ps, condition, ps.items) for name, condition in conditions.items()}
        levels = sorted({item.id.split("-")[0] for item in ps.items})
        rows = []
        for name, result in results.items():
            by_level = level_intervals(result, levels)
            rows.append([name, *[cell(v) for v in by_level], cell(result.accuracy()), round(result.seconds, 1)])
            key = name.split(" ")[0].replace("-", "_")
            section.metric(f"arithmetic_{key}_accuracy", result.accuracy().mean, f"{len(ps.items)} problems")
        names = list(results)
        verdicts = [compare_paired(correct_of(results[a]), correct_of(results[b]), names=(a, b)).verdict
                    for a, b in ((names[0], names[1]), (names[1], names[2]))]
        section.tables.append(Table(
            f"Arithmetic word problems, {c.arithmetic_items} per level, {plural(k, 'worked example')} each",
            ["prompt", *[f"level {level[1:]}" for level in levels], "all [95% CI]", "seconds"], rows,
            f"Chain-of-thought against direct: {verdicts[0]}. Self-consistency against one greedy chain: "
            f"{verdicts[1]}. Level 1 is one step of + or −, level 3 three steps with × or ÷. Answers written by "
            f"the {self.engine.name} engine, chains of up to {c.cot_new_tokens} tokens, self-consistency sampled at "
            f"temperature {c.sc_temperature:g}."))
        section.figures.append(self._reasoning_figure(results, levels))
        example = results[names[1]].records[0]
        section.notes.append(f"One chain of thought (problem {example.id}, reference {example.reference}): "
                             f"“{one_line(example.output)[:400]}”")
        return section

    def qualitative(self) -> Section:
        from zero2hero.prompting.report import run_info, write_run

        c = self.config
        section = Section()
        ps = load_prompt_set("qualitative")
        items = ps.items[:c.qualitative_prompts] if c.qualitative_prompts else ps.items
        results = [self.run(ps, Condition(template=name, max_new_tokens=c.qualitative_new_tokens), items)
                   for name in ps.templates]
        info = run_info(ps, "smollm2", self.engine.name, {"templates": list(ps.templates)})
        folder = write_run(self.ctx.out_dir, info, results)
        words = {r.condition.template: float(np.mean([len(x.output.split()) for x in r.records])) for r in results}
        for name, value in words.items():
            section.metric(f"qualitative_{name}_words_count", value, "mean words per answer")
        rows = [[a.id, clip(a.output), clip(b.output)] for a, b in zip(results[0].records, results[1].records,
                                                                       strict=True)]
        section.tables.append(Table(
            f"{len(items)} prompts in two styles, side by side (greedy, up to {c.qualitative_new_tokens} tokens, "
            f"{self.engine.name} engine)",
            ["prompt", *[f"{name} style" for name in ps.templates]], rows,
            f"Every answer in full, with each prompt as the model read it: [{folder.name}/report.html]"
            f"({folder.name}/report.html). Score them in [{folder.name}/rubric.csv]({folder.name}/rubric.csv) "
            f"(1–5 for {', '.join(ps.rubric)}), then, in this run's folder, `z2h prompt score {folder.name} --rubric "
            f"{folder.name}/rubric.csv` gives each style's means with intervals."))
        return section

    def _reasoning_figure(self, results: dict[str, ConditionResult], levels: list[str]) -> Any:
        fig, ax = new_figure((7, 4))
        width = 0.8 / len(results)
        for i, (name, result) in enumerate(results.items()):
            values = level_intervals(result, levels)
            xs = np.arange(len(levels)) + (i - (len(results) - 1) / 2) * width
            ax.bar(xs, [v.mean for v in values], width, label=name,
                   yerr=[[v.mean - v.low for v in values], [v.high - v.mean for v in values]], capsize=3)
        ax.set_xticks(range(len(levels)), [f"level {level[1:]}" for level in levels])
        ax.set(ylabel="accuracy", ylim=(0, 1), title="SmolLM2-135M on arithmetic word problems")
        ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "cot_by_level.png", "Direct answers, chain-of-thought, self-consistency",
                                    "Bars: 95 % bootstrap intervals over the problems of each level.")


def level_intervals(result: ConditionResult, levels: Sequence[str]) -> list:
    """Accuracy with its interval per difficulty level (item ids start with the level, e.g. ``L2-``)."""
    return [interval([float(r.scored.correct) for r in result.records if r.id.startswith(level)]) for level in levels]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("s" if n != 1 else "")


def one_line(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, limit: int = 240) -> str:
    line = one_line(text).replace("|", "\\|")
    return line if len(line) <= limit else line[:limit - 1] + "…"
