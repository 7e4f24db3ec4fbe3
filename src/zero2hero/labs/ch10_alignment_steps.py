"""Lab 10's alignment steps: each trains or scores one stage of the InstructGPT-style pipeline on SmolLM2 (and
MiniLM for the reward model) and returns the report section that shows it."""

from __future__ import annotations

import copy
from statistics import fmean
from typing import TYPE_CHECKING, Any

from zero2hero.progress import step_bar
from zero2hero.reporting import Figure, RunContext, Section, Table, new_figure

if TYPE_CHECKING:
    from zero2hero.alignment.instructions import Instruction
    from zero2hero.labs.ch10_cutting_edge import Config

SAMPLE_CHARS = 90  # responses are cut to this many characters in the report's tables


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS - 1] + "…"


def rule_score(item: Instruction, response: str) -> float:
    """The rule judge: a correct answer (in the asked format) wins; between two equally correct responses, the one
    with fewer words wins (so padding loses)."""
    from zero2hero.alignment.instructions import is_correct

    return float(is_correct(item, response)) - 0.001 * len(response.split())


class AlignmentSteps:
    """What the steps share: the data, SmolLM2 and the models each step leaves for the next."""

    def __init__(self, config: Config, ctx: RunContext) -> None:
        self.config, self.ctx = config, ctx
        self.train: list[Instruction] = []
        self.test: list[Instruction] = []
        self.pairs: dict[str, list[Any]] = {}
        self.base: Any = None
        self.tokenizer: Any = None
        self.tuned: Any = None  # the SFT (LoRA) model: the starting point and reference of DPO
        self.reward: tuple[Any, Any] | None = None  # the reward model and its tokenizer

    def _evaluated(self) -> list[Instruction]:
        n = self.config.eval_items
        return self.test if n == 0 else self.test[:n]

    def data(self) -> Section:
        from zero2hero.alignment.instructions import TASKS, build_instructions, split_by_template
        from zero2hero.alignment.preferences import RULES, build_pairs

        c = self.config
        items = build_instructions(per_template=c.per_template, seed=c.seed)
        self.train, test = split_by_template(items, seed=c.seed)
        self.test = _interleaved_by_task(test)  # so that a prefix (eval_items) holds every task
        self.pairs = {"train": build_pairs(self.train, seed=c.seed), "test": build_pairs(self.test, seed=c.seed)}
        section = Section()
        rows = []
        for task in TASKS:
            train = [i for i in self.train if i.task == task]
            test = [i for i in self.test if i.task == task]
            rows.append([task, len({i.template for i in train}), len(train), len({i.template for i in test}),
                         len(test), _short(test[0].prompt), test[0].answer])
        section.tables.append(Table("Instructions: the test split holds out whole phrasings (templates)",
                                    ["task", "train templates", "train items", "test templates", "test items",
                                     "a held-out prompt", "its answer"], rows))
        pair_rows = [[rule, sum(p.rule == rule for p in self.pairs["train"]),
                      sum(p.rule == rule for p in self.pairs["test"])] for rule in RULES]
        example = next(p for p in self.pairs["train"] if p.rule == "concise")
        pair_rows = [row for row in pair_rows if row[1] or row[2]]
        section.tables.append(Table("Preference pairs by rule", ["rule", "train pairs", "test pairs"], pair_rows,
                                    caption=f"A `concise` pair: {_short(example.prompt)!r} — chosen "
                                            f"{_short(example.chosen)!r}, rejected {_short(example.rejected)!r}."))
        section.metric("train_instructions_count", len(self.train))
        section.metric("test_instructions_count", len(self.test))
        section.metric("train_pairs_count", len(self.pairs["train"]))
        return section

    def instruction_tuning(self) -> Section:
        from zero2hero.alignment.evaluate import instruction_accuracy
        from zero2hero.alignment.sft_train import SFTConfig, train_sft
        from zero2hero.assets import load_causal_lm

        c = self.config
        self.base, self.tokenizer = load_causal_lm("smollm2")
        evaluated = self._evaluated()
        scores = {"before": instruction_accuracy(self.base, self.tokenizer, evaluated, c.new_tokens)}
        histories = {}
        for method, steps, rate in (("lora", c.sft_steps, c.sft_lora_learning_rate),
                                    ("full", c.sft_full_steps, c.sft_full_learning_rate)):
            settings = SFTConfig(method=method, steps=steps, batch_size=c.sft_batch_size, learning_rate=rate,
                                 seed=c.seed)
            model, histories[method] = train_sft(copy.deepcopy(self.base), self.tokenizer, self.train, settings,
                                                 progress=step_bar(f"{method} SFT"))
            scores[method] = instruction_accuracy(model, self.tokenizer, evaluated, c.new_tokens)
            if method == "lora":
                self.tuned = model.eval()
        section = Section()
        tasks = [key for key in scores["before"] if key != "all"] + ["all"]
        section.tables.append(Table(f"Instruction following on {len(evaluated)} held-out instructions (unseen "
                                    "phrasings): share answered correctly",
                                    ["task", "SmolLM2 as shipped", f"after LoRA SFT ({c.sft_steps} steps)",
                                     f"after full SFT ({c.sft_full_steps} steps)"],
                                    [[task, scores["before"][task], scores["lora"][task], scores["full"][task]]
                                     for task in tasks]))
        for name in ("before", "lora", "full"):
            section.metric(f"sft_{name}_accuracy", scores[name]["all"], f"held-out instructions correct ({name})")
        for method, history in histories.items():
            section.metric(f"sft_{method}_train_s", history.seconds, f"{method} SFT training time")
            section.metric(f"sft_{method}_tokens_per_s", history.tokens_per_s, f"{method} SFT training speed")
        section.figures.append(_loss_figure(self.ctx, {f"{m} SFT": h.losses for m, h in histories.items()},
                                            "sft_loss.png", "SFT training loss (response tokens only)"))
        self._loss_against_trl(section)
        return section

    def _loss_against_trl(self, section: Section) -> None:
        """Our SFT loss and TRL's SFTTrainer loss on the same batch of the base model, recorded in ``section``."""
        import torch

        from zero2hero.alignment.sft import collate, encode_example, sft_loss
        from zero2hero.alignment.sft_train import trl_sft_loss

        batch_items = self.train[:4]
        batch = collate([encode_example(self.tokenizer, i.prompt, i.answer) for i in batch_items],
                        self.tokenizer.pad_token_id)
        with torch.inference_mode():
            logits = self.base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ours = float(sft_loss(logits, batch["labels"]))
        theirs = trl_sft_loss(self.base, self.tokenizer, batch_items)
        section.metric("sft_ours_loss", ours, "our response-only SFT loss on 4 training examples")
        section.metric("sft_trl_loss", theirs, "TRL SFTTrainer's loss on the same 4 examples")

    def reward_model(self) -> Section:
        from zero2hero.alignment.reward import (
            RewardConfig,
            load_reward_model,
            pair_accuracy,
            train_reward_model,
            trl_reward_loss,
        )

        c = self.config
        model, tokenizer = load_reward_model("minilm")
        test = self.pairs["test"]
        before = pair_accuracy(model, tokenizer, test)
        settings = RewardConfig(steps=c.reward_steps, batch_size=c.reward_batch_size, seed=c.seed)
        model, losses = train_reward_model(model, tokenizer, self.pairs["train"], settings,
                                          progress=step_bar("reward model"))
        self.reward = (model.eval(), tokenizer)
        section = Section()
        rows = [["all", len(test), before, pair_accuracy(model, tokenizer, test)]]
        for rule in sorted({p.rule for p in test}):
            subset = [p for p in test if p.rule == rule]
            rows.append([rule, len(subset), "", pair_accuracy(model, tokenizer, subset)])
        section.tables.append(Table("Reward model (MiniLM + a scalar head): held-out pairs ranked right",
                                    ["pairs", "count", "untrained head", f"after {c.reward_steps} steps"], rows))
        section.metric("reward_untrained_pair_accuracy", before, "held-out pairs ranked right by the untrained head")
        section.metric("reward_pair_accuracy", rows[0][3], "held-out pairs ranked right after training")
        section.metric("reward_trl_loss", trl_reward_loss(model, tokenizer, self.pairs["train"][:4]),
                       "TRL RewardTrainer's loss on 4 training pairs")
        section.figures.append(_loss_figure(self.ctx, {"Bradley–Terry loss": losses}, "reward_loss.png",
                                            "Reward model training loss"))
        return section

    def dpo(self) -> Section:
        from zero2hero.alignment.dpo import DPOConfig, kl_to_reference, train_dpo, win_rate
        from zero2hero.alignment.evaluate import generate_responses
        from zero2hero.alignment.reward import reward_scores

        c = self.config
        prompts = self._evaluated()[:c.dpo_prompts]
        texts = [i.prompt for i in prompts]
        before = generate_responses(self.tuned, self.tokenizer, texts, c.new_tokens)
        settings = DPOConfig(steps=c.dpo_steps, batch_size=c.dpo_batch_size, beta=c.dpo_beta,
                             learning_rate=c.dpo_learning_rate, seed=c.seed)
        # the reference is the policy with its LoRA adapters switched off: the SFT model, without a second copy
        policy, losses = train_dpo(copy.deepcopy(self.tuned), None, self.tokenizer, self.pairs["train"], settings,
                                   progress=step_bar("DPO"))
        after = generate_responses(policy, self.tokenizer, texts, c.new_tokens)
        reward_model, reward_tokenizer = self.reward

        def by_reward(i: int, response: str) -> float:
            return float(reward_scores(reward_model, reward_tokenizer, [texts[i]], [response])[0])

        section = Section()
        rules = win_rate(before, after, lambda i, response: rule_score(prompts[i], response))
        rewarded = win_rate(before, after, by_reward)
        kl = kl_to_reference(policy, self.tuned, self.tokenizer, texts, c.new_tokens)
        section.metric("dpo_rules_win_ratio", rules, "share of prompts where DPO's response beats the SFT model's "
                                                       "by the rules (ties count half)")
        section.metric("dpo_reward_win_ratio", rewarded, "the same, judged by the reward model")
        section.metric("dpo_kl_to_reference_nats", kl, "KL(policy ‖ reference) per response, on the policy's samples")
        section.tables.append(Table(f"DPO: {len(texts)} held-out prompts, the SFT model (before) and the DPO policy",
                                    ["prompt", "answer", "before", "after"],
                                    [[_short(p.prompt), p.answer, _short(b), _short(a)]
                                     for p, b, a in list(zip(prompts, before, after, strict=True))[:c.captions_shown]]))
        section.figures.append(_loss_figure(self.ctx, {"DPO loss": losses}, "dpo_loss.png", "DPO training loss"))
        return section

    def grpo(self) -> Section:
        from zero2hero.alignment.evaluate import instruction_accuracy
        from zero2hero.alignment.grpo import GRPORunConfig, run_grpo

        c = self.config
        arithmetic = [i for i in self.train if i.task == "arithmetic"]
        settings = GRPORunConfig(steps=c.grpo_steps, prompts_per_step=c.grpo_prompts_per_step,
                                 generations=c.grpo_generations, max_new_tokens=c.new_tokens,
                                 learning_rate=c.grpo_learning_rate, seed=c.seed)
        # From the SFT model: SmolLM2 as shipped restates the sum before answering ("12 - 3 = 9"), so the
        # first-integer rule gives nearly every sample 0, every group the same reward, and GRPO no signal.
        policy = copy.deepcopy(self.tuned)
        history = run_grpo(policy, self.tokenizer, arithmetic, settings,
                           progress=step_bar("GRPO", value_name="mean reward"))
        held_out = [i for i in self._evaluated() if i.task == "arithmetic"]
        before, after = (instruction_accuracy(model, self.tokenizer, held_out, c.new_tokens)["all"]
                         for model in (self.tuned, policy))
        window = max(1, len(history.rewards) // 6)
        section = Section()
        section.metric("grpo_first_reward_ratio", fmean(history.rewards[:window]),
                       f"mean reward of the samples of the first {window} step(s)")
        section.metric("grpo_last_reward_ratio", fmean(history.rewards[-window:]),
                       f"mean reward of the samples of the last {window} step(s)")
        section.metric("grpo_held_out_before_accuracy", before,
                       f"{len(held_out)} held-out arithmetic instructions, greedy: the SFT model")
        section.metric("grpo_held_out_after_accuracy", after, "the same after GRPO")
        section.metric("grpo_train_s", history.seconds, "GRPO training time")
        fig, ax = new_figure((6.0, 3.2))
        steps = range(1, len(history.rewards) + 1)
        ax.plot(steps, history.rewards, marker="o", markersize=3, alpha=0.4, label="each step")
        ax.plot(steps, _trailing_mean(history.rewards, window), label=f"mean of the last {window} steps")
        ax.set(xlabel="step", ylabel="mean reward (share correct)", ylim=(-0.05, 1.05),
               title="GRPO on arithmetic: reward per step")
        ax.legend()
        ax.grid(alpha=0.3)
        section.figures.append(self.ctx.save_figure(fig, "grpo_reward.png", "GRPO's reward curve",
                                                    "Mean verifiable reward of each step's sampled completions."))
        section.tables.append(Table("GRPO samples: one prompt's group at the first and at the last step",
                                    ["step", "prompt", "answer", "completion", "reward"],
                                    [[s["step"], _short(s["prompt"]), s["answer"], _short(s["completion"]),
                                      s["reward"]] for s in history.samples]))
        return section


def _interleaved_by_task(items: list[Instruction]) -> list[Instruction]:
    """``items`` reordered round-robin over tasks, so that any prefix is balanced."""
    by_task: dict[str, list[Instruction]] = {}
    for item in items:
        by_task.setdefault(item.task, []).append(item)
    queues = list(by_task.values())
    return [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]


def _loss_figure(ctx: RunContext, curves: dict[str, list[float]], filename: str, title: str) -> Figure:
    """Each curve's loss per step, faint, with its trailing mean over a tenth of the steps drawn over it."""
    fig, ax = new_figure((6.0, 3.2))
    for label, losses in curves.items():
        steps = range(1, len(losses) + 1)
        window = max(1, len(losses) // 10)
        (raw,) = ax.plot(steps, losses, alpha=0.35)
        ax.plot(steps, _trailing_mean(losses, window), color=raw.get_color(),
                label=f"{label} (mean of the last {window} steps)" if window > 1 else label)
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ctx.save_figure(fig, filename, title)


def _trailing_mean(values: list[float], window: int) -> list[float]:
    """At each step, the mean of the values of the last ``window`` steps (fewer at the start)."""
    return [fmean(values[max(0, i + 1 - window):i + 1]) for i in range(len(values))]
