"""Lab 8, classification: chapter 5's fine-food reviews labelled by SmolLM2's log-probabilities of the label words.

Instruction paraphrases; few-shot curves per selection strategy; the best setting chosen on dev and scored once on
held-out reviews, with and without calibration; the spread over shot orderings; a soft prompt trained in front of the
frozen model; and the prefix cache's speed-up. Steps of :func:`zero2hero.labs.ch08_prompting.run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from zero2hero.prompting.fewshot import FixedShots
from zero2hero.prompting.harness import Condition, ConditionResult, run_condition
from zero2hero.prompting.label_scoring import decide, threshold_on_dev
from zero2hero.prompting.promptset import Item, PromptSet, load_prompt_set
from zero2hero.prompting.stats import Interval, compare_paired, interval
from zero2hero.reporting import RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.labs.ch08_prompting import Config
    from zero2hero.prompting.engines import Engine
    from zero2hero.prompting.fewshot import ShotSelector

RULES = ("raw", "contextual", "dev threshold")  # how label log-probs become a decision


def cell(value: Interval) -> str:
    return f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]"


@dataclass
class Scores:
    """One condition's label log-probs on dev and test items, and the calibration each decision rule uses."""

    condition: Condition
    dev: ConditionResult
    test: ConditionResult
    contextual: list[float]  # from content-free inputs (Zhao et al. 2021)
    threshold: list[float]  # the dev-tuned threshold, as a calibration vector
    label_names: Sequence[str]

    def correct(self, split: str, rule: str) -> list[float]:
        """1.0 / 0.0 per item of ``split`` (dev or test) under a decision ``rule``."""
        result = self.dev if split == "dev" else self.test
        shift = {"raw": None, "contextual": self.contextual, "dev threshold": self.threshold}[rule]
        chosen = decide([r.label_log_probs for r in result.records], shift)
        return [float(self.label_names[i] == r.reference) for i, r in zip(chosen, result.records, strict=True)]


class SentimentSteps:
    """What the sentiment steps share: the engine, the dev and test sets, the shot selectors, the scores so far."""

    def __init__(self, config: Config, ctx: RunContext, engine: Engine) -> None:
        self.config, self.ctx, self.engine = config, ctx, engine
        sizes = {"max_chars": config.review_chars, "seed": config.seed}
        self.test = load_prompt_set("sentiment", {"split": "test", "items": config.test_items, **sizes})
        self.dev = load_prompt_set("sentiment", {"split": "dev", "items": config.dev_items, **sizes})
        self._selectors: dict[str, ShotSelector] = {}
        self.scores: dict[tuple[str, int], Scores] = {}  # (strategy, k) -> its scores

    # ---- helpers -------------------------------------------------------------------------------------------------

    def selector(self, strategy: str) -> ShotSelector:
        from zero2hero.prompting.fewshot import ShotSelector

        if strategy not in self._selectors:  # the dev and test sets share one pool
            self._selectors[strategy] = ShotSelector(self.test, strategy, seed=self.config.seed)
        return self._selectors[strategy]

    def run(self, ps: PromptSet, condition: Condition, selector: Any = None, items: Sequence[Item] | None = None,
            cache_prefix: bool = True) -> ConditionResult:
        if selector is None and condition.shots:
            selector = self.selector(condition.strategy)
        return run_condition(self.engine, ps, list(items if items is not None else ps.items), condition, selector,
                             cache_prefix=cache_prefix)

    def shot_counts(self, strategy: str) -> list[int]:
        """The configured numbers of shots this strategy can use: balanced needs a multiple of the label count."""
        step = len(self.test.labels) if strategy == "balanced" else 1
        return [k for k in self.config.shots if k % step == 0]

    def score(self, strategy: str, k: int) -> Scores:
        """The condition's dev and test log-probs, computed once."""
        key = (strategy if k else "none", k)
        if key not in self.scores:
            condition = Condition(shots=k, strategy=strategy, scoring="logprob", seed=self.config.seed)
            dev, test = self.run(self.dev, condition), self.run(self.test, condition)
            contextual = self.run(self.test, replace(condition, calibration=True), items=self.test.items[:1])
            gold = [self.dev.labels.index(r.reference) for r in dev.records]
            threshold = threshold_on_dev([r.label_log_probs for r in dev.records], gold)
            self.scores[key] = Scores(condition, dev, test, contextual.calibration, threshold, self.test.labels)
        return self.scores[key]

    # ---- steps ---------------------------------------------------------------------------------------------------

    def paraphrases(self) -> Section:
        section = Section()
        results = [self.run(self.test, Condition(template=name, scoring="logprob")) for name in self.test.templates]
        results.append(self.run(self.test, Condition(template=next(iter(self.test.templates)), scoring="generate")))
        base = correct_of(results[0])
        rows = []
        for i, result in enumerate(results):
            name = result.condition.template
            accuracy, parsed = result.accuracy(), result.parse_rate()
            against = "—" if i == 0 else compare_paired(base, correct_of(result), names=("plain", "this")).verdict
            scoring = "label log-probs" if result.condition.scoring == "logprob" else "generated, then parsed"
            rows.append([name, scoring, first_line(self.test.templates[name]), cell(accuracy), cell(parsed), against])
            key = f"{name}_{'logprob' if result.condition.scoring == 'logprob' else 'generate'}"
            section.metric(f"paraphrase_{key}_accuracy", accuracy.mean, f"0-shot, {len(result.records)} test reviews")
        majority = share_of_majority(self.test)
        section.metric("sentiment_majority_accuracy", majority, "always answering the most frequent label")
        section.tables.append(Table(
            f"The same {len(self.test.items)} held-out reviews asked with three instructions (0-shot)",
            ["template", "answer read from", "instruction (first line)", "accuracy [95% CI]", "parse rate",
             "against the first template (paired)"], rows,
            f"Always answering the majority label scores {majority:.3f}. Label log-probs: the answer is the label "
            "word the model finds more probable as its reply; generated: the model writes up to "
            f"{self.test.max_new_tokens} tokens and the first label word found is its answer."))
        return section

    def few_shot_curves(self) -> Section:
        section = Section()
        c = self.config
        rows = []
        for strategy in c.strategies:
            for k in self.shot_counts(strategy):
                if k == 0 and strategy != c.strategies[0]:
                    continue  # 0 shots: no strategy, one row
                s = self.score(strategy, k)
                for rule in ("raw", "contextual"):
                    acc = interval(s.correct("test", rule))
                    rows.append([strategy if k else "—", k, rule, cell(acc), round(s.test.examples_per_s, 2)])
                    name = f"{strategy}_{k}" if k else "0"
                    section.metric(f"fewshot_{name}_{rule}_accuracy", acc.mean, "held-out reviews")
        section.tables.append(Table(
            f"Few-shot accuracy on {len(self.test.items)} held-out reviews, k shots from a pool of "
            f"{len(self.test.pool)} training reviews", ["strategy", "k", "decision", "accuracy [95% CI]",
                                                         "examples/s"], rows,
            "random: one fixed random draw for every review; balanced: equal numbers of each label, interleaved; "
            "nearest: the k pool reviews closest to the question by all-MiniLM-L6-v2 embeddings, the closest last. "
            "contextual: label log-probs corrected by those of content-free inputs (Zhao et al. 2021). Balanced "
            "uses only numbers of shots that split equally between the labels."))
        section.figures.append(self._curves_figure())
        return section

    def best_on_held_out(self) -> Section:
        section = Section()
        candidates = [(key, rule) for key in self.scores for rule in RULES]
        dev_accuracy = {(key, rule): np.mean(self.scores[key].correct("dev", rule)) for key, rule in candidates}
        best = max(candidates, key=lambda kr: dev_accuracy[kr])  # the first of the best on ties
        zero = self.score("random", 0).correct("test", "raw")
        chosen = self.scores[best[0]].correct("test", best[1])
        self.best_correct = chosen
        comparison = compare_paired(zero, chosen, names=("0-shot", "best on dev"))
        test_accuracy = interval(chosen)
        section.metric("sentiment_best_dev_accuracy", dev_accuracy[best], f"{setting_name(best[0])}, {best[1]}")
        section.metric("sentiment_best_test_accuracy", test_accuracy.mean, "scored once on held-out reviews")
        rows = [[setting_name(key), rule, f"{dev_accuracy[(key, rule)]:.3f}",
                 cell(interval(self.scores[key].correct("test", rule))) if (key, rule) == best else "not scored"]
                for key, rule in sorted(candidates, key=lambda kr: -dev_accuracy[kr])[:8]]
        section.tables.append(Table(
            f"Settings ranked on {len(self.dev.items)} dev reviews (the best eight), the winner scored once on "
            f"{len(self.test.items)} held-out reviews", ["setting", "decision", "dev accuracy", "held-out accuracy"],
            rows, f"Against 0-shot with raw label scores on the same held-out reviews: {comparison.verdict}."))
        section.notes.append(
            f"The setting was chosen by its accuracy on dev reviews only; its held-out accuracy, "
            f"{cell(test_accuracy)}, is the lab's one honest estimate. The few-shot table above shows every "
            "setting's held-out accuracy for reading, not for choosing.")
        return section

    def ordering_spread(self) -> Section:
        from zero2hero.prompting.fewshot import orderings

        c = self.config
        section = Section()
        shots = self.selector("balanced").select(self.test.items[0], c.ordering_shots)
        orders = orderings(shots, c.orderings, seed=c.seed)
        results = [self.run(self.test, Condition(shots=c.ordering_shots, scoring="logprob"), FixedShots(order))
                   for order in orders]
        accuracies = [r.accuracy() for r in results]
        means = [a.mean for a in accuracies]
        rows = [[i + 1, " ".join(self.test.label_words[s.answer][0] for s in order), cell(a)]
                for i, (order, a) in enumerate(zip(orders, accuracies, strict=True))]
        section.metric("ordering_spread_accuracy", max(means) - min(means), "best order minus worst")
        worst, best = int(np.argmin(means)), int(np.argmax(means))
        comparison = compare_paired(correct_of(results[worst]), correct_of(results[best]), names=("worst", "best"))
        section.tables.append(Table(
            f"The same {c.ordering_shots} balanced shots in {len(results)} orders, {len(self.test.items)} held-out "
            "reviews", ["order", "labels of the shots, first to last (p = positive, n = negative)",
                        "accuracy [95% CI]"], rows,
            f"Best order against worst, paired: {comparison.verdict}. Choosing the best order on the test reviews "
            "would be fitting the test set: the spread is the noise an unlucky order adds."))
        return section

    def soft_prompt(self) -> Section:
        from zero2hero.prompting import soft_prompt as sp

        c = self.config
        section = Section()
        model = getattr(self.engine, "model", None)
        if self.engine.name != "hf":
            from zero2hero.assets import load_causal_lm

            model = load_causal_lm("smollm2")[0]
        train = load_prompt_set("sentiment", {"split": "dev", "items": c.dev_items, "pool": c.soft_prompt_pool,
                                              "max_chars": c.review_chars, "seed": c.seed})
        config = sp.QUICK if c.soft_prompt == "quick" else sp.FULL
        result = sp.soft_prompt_experiment(model, self.engine.tokenizer, train, train.items, self.test.items, config,
                                           c.soft_prompt_lrs, c.review_chars, progress=False)
        history = result.histories[result.chosen_lr]
        tuned = interval(result.soft_prompt_correct)
        versus_few_shot = compare_paired(self.best_correct, result.soft_prompt_correct,
                                         names=("best few-shot", "soft prompt"))
        section.metric("soft_prompt_test_accuracy", tuned.mean, f"{config.num_virtual_tokens} virtual tokens")
        section.metric("soft_prompt_train_s", history.total_s, f"{config.steps} steps at lr {result.chosen_lr:g}")
        section.metric("soft_prompt_trainable_count", config.num_virtual_tokens * model.config.hidden_size,
                       "virtual-token embeddings; the model's 134.5 M weights stay frozen")
        section.tables.append(Table(
            f"A soft prompt of {config.num_virtual_tokens} virtual tokens trained on {len(train.pool)} training "
            f"reviews ({config.steps} steps of {config.batch_size}), against prompting, on the same "
            f"{len(self.test.items)} held-out reviews", ["method", "trainable parameters", "accuracy [95% CI]"],
            [["0-shot label scoring", 0, cell(interval(result.zero_shot))],
             ["best few-shot setting (chosen on dev)", 0, cell(interval(self.best_correct))],
             [f"soft prompt (lr {result.chosen_lr:g}, step {history.best_step} kept on dev)",
              config.num_virtual_tokens * model.config.hidden_size, cell(tuned)]],
            f"Soft prompt against 0-shot: {result.comparison.verdict}. Against the best few-shot setting: "
            f"{versus_few_shot.verdict}. Training took {history.total_s:.0f} s "
            f"({history.seconds_per_step:.2f} s a step)."))
        section.figures.append(self._soft_prompt_figure(result.histories, config.eval_every))
        return section

    def prefix_cache(self) -> Section:
        c = self.config
        section = Section()
        k = max(c.shots)
        items = self.test.items[:c.cache_items]
        condition = Condition(shots=k, strategy="random", scoring="logprob")
        selector = self.selector("random")
        runs = {cached: self.run(self.test, condition, selector, items, cache_prefix=cached)
                for cached in (False, True)}
        same = all(a.scored.answer == b.scored.answer for a, b in zip(runs[False].records, runs[True].records,
                                                                      strict=True))
        gap = max(abs(x - y) for a, b in zip(runs[False].records, runs[True].records, strict=True)
                  for x, y in zip(a.label_log_probs, b.label_log_probs, strict=True))
        speedup = runs[True].examples_per_s / runs[False].examples_per_s
        section.metric("prefix_speedup_cached_over_recomputed_ratio", speedup,
                       f"{k}-shot prompts, {len(items)} reviews")
        section.metric("prefix_cache_answers_identical", float(same), "the same label chosen for every review")
        section.tables.append(Table(
            f"Caching the shared {k}-shot prefix ({runs[True].prefix_tokens} tokens) over {len(items)} reviews",
            ["prefix", "examples/s", "mean prompt tokens", "seconds"],
            [[("cached once" if cached else "recomputed for every review"), round(r.examples_per_s, 2),
              round(float(np.mean([x.prompt_tokens for x in r.records])), 1), round(r.seconds, 2)]
             for cached, r in runs.items()],
            f"Speed-up {speedup:.2f}×; the same answers: {same}; largest difference of a label log-prob "
            f"{gap:.1e}. `z2h bench prompt` measures it on both engines."))
        return section

    # ---- figures -------------------------------------------------------------------------------------------------

    def _curves_figure(self) -> Any:
        c = self.config
        fig, axes = new_figure((11, 4), ncols=2)
        for ax, rule in zip(axes, ("raw", "contextual"), strict=True):
            for offset, strategy in enumerate(c.strategies):
                counts = self.shot_counts(strategy)
                values = [interval(self.score(strategy, k).correct("test", rule)) for k in counts]
                xs = np.array([c.shots.index(k) for k in counts]) + (offset - 1) * 0.08
                ax.errorbar(xs, [v.mean for v in values],
                            yerr=[[v.mean - v.low for v in values], [v.high - v.mean for v in values]],
                            marker="o", capsize=3, label=strategy)
            ax.axhline(share_of_majority(self.test), color="grey", linestyle=":", label="majority label")
            ax.set_xticks(range(len(c.shots)), [str(k) for k in c.shots])
            ax.set(xlabel="shots k", ylabel="held-out accuracy", title=f"{rule} label scores")
            ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "fewshot_curves.png", "Few-shot accuracy by selection strategy",
                                    "SmolLM2-135M-Instruct on held-out fine-food reviews; bars: 95 % bootstrap "
                                    "intervals.")

    def _soft_prompt_figure(self, histories: dict, eval_every: int) -> Any:
        fig, axes = new_figure((11, 4), ncols=2)
        for lr, history in histories.items():
            axes[0].plot(range(1, len(history.losses) + 1), history.losses, label=f"lr {lr:g}")
            axes[1].plot(history.dev_steps, history.dev_accuracy, marker="o", label=f"lr {lr:g}")
        axes[0].set(xlabel="step", ylabel="training loss (nats)", title="soft prompt: training loss")
        axes[1].set(xlabel="step", ylabel="dev accuracy", title=f"dev accuracy every {eval_every} steps")
        for ax in axes:
            ax.legend(fontsize=8)
        return self.ctx.save_figure(fig, "soft_prompt_training.png", "Soft prompt tuning in front of frozen SmolLM2",
                                    "Only the virtual-token embeddings learn; the kept step is the best on dev.")


def setting_name(key: tuple[str, int]) -> str:
    strategy, k = key
    return f"{k}-shot {strategy}" if k else "0-shot"


def correct_of(result: ConditionResult) -> list[float]:
    return [float(r.scored.correct) for r in result.records]


def share_of_majority(ps: PromptSet) -> float:
    references = [item.reference for item in ps.items]
    return max(references.count(label) for label in ps.labels) / len(references)


def first_line(template: str) -> str:
    line = template.strip().splitlines()[0]
    return line if len(line) <= 70 else line[:67] + "…"
