"""RL with a verifiable reward: TRL's GRPO on the arithmetic instructions, rewarded by checking the answer.

GRPO (Shao et al., 2024) samples ``generations`` responses to each prompt, scores each with a reward function and
pushes up the log-probability of the responses that beat their group's mean reward (the advantage is the reward
minus the group's mean, divided by its standard deviation) — no value network, no learned reward model. Here the
reward is *verifiable*: 1.0 when the response's first integer is the right result, else 0.0 (:func:`arithmetic_reward`).

``beta`` weighs a KL penalty to the starting model. It defaults to 0.0, TRL's own default: TRL then
loads no reference model (less memory, faster steps) and logs no KL, so :class:`GRPOHistory` ``kl`` stays empty.
With ``beta > 0``, ``kl`` holds each step's mean per-token KL to the reference: for LoRA the model with its adapter
switched off; for full fine-tuning a copy TRL reloads from the model's folder, into which the model's own starting
weights are then copied (so a model already changed in memory, e.g. by SFT, is its own reference).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zero2hero.errors import InputError
from zero2hero.progress import StepProgress

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.alignment.instructions import Instruction

METHODS = ("lora", "full")
ARITHMETIC_ANSWER = re.compile(r"-?\d+")


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """A completion as TRL hands it to a reward function: a string, or (conversational data) a list of messages
    whose ``content`` fields are joined."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion)


def arithmetic_reward(completions: list, answer: list[str], **kwargs: Any) -> list[float]:
    """TRL's reward-function shape: one reward per completion, 1.0 when it answers right by
    :func:`zero2hero.alignment.instructions.is_correct`'s arithmetic rule (its first integer equals ``answer``:
    "42", "It is 42." and "42.0" score for 42; "4 + 38 = 42" does not, its first integer is 4), else 0.0.

    ``completions`` are strings or lists of chat messages; ``answer`` is the dataset column of the same name, one
    per completion. TRL passes more keyword arguments (prompts, trainer state); they are ignored.
    """
    from zero2hero.alignment.instructions import Instruction, is_correct

    if len(completions) != len(answer):
        raise InputError(f"{len(completions)} completions but {len(answer)} answers",
                         "pass one answer per completion")
    rewards = []
    for completion, expected in zip(completions, answer, strict=True):
        if not ARITHMETIC_ANSWER.fullmatch(expected):
            raise InputError(f"the answer {expected!r} is not an integer", "use arithmetic instructions only")
        item = Instruction(task="arithmetic", template="", prompt="", answer=expected)
        rewards.append(1.0 if is_correct(item, completion_text(completion)) else 0.0)
    return rewards


@dataclass
class GRPORunConfig:
    """A short GRPO run: ``steps`` optimizer steps, each on ``prompts_per_step`` prompts × ``generations`` sampled
    responses of at most ``max_new_tokens`` tokens. ``method`` "lora" trains a PEFT LoRA (r=8, alpha 16 on
    q, k, v, o) that is merged into the model at the end; "full" trains every weight. ``beta`` weighs the KL
    penalty to the starting model (0.0: none, no reference model kept); ``temperature`` is the sampling's."""

    steps: int = 40
    prompts_per_step: int = 4
    generations: int = 4
    max_new_tokens: int = 16
    learning_rate: float = 1e-5
    beta: float = 0.0
    method: str = "lora"
    seed: int = 0
    temperature: float = 1.0  # TRL's default

    def __post_init__(self) -> None:
        for name in ("steps", "prompts_per_step", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"GRPO {name} must be at least 1, got {getattr(self, name)}", f"raise {name}")
        if self.generations < 2:
            raise InputError(f"GRPO needs at least 2 generations per prompt, got {self.generations}",
                             "its advantage compares each response with the others sampled for the same prompt")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate}", "use e.g. 1e-5")
        if not self.temperature > 0:
            raise InputError(f"temperature must be positive, got {self.temperature}", "use e.g. 1.0 or 0.7")
        if self.beta < 0:
            raise InputError(f"beta must be 0 or more, got {self.beta}", "0.0 turns the KL penalty off")
        if self.method not in METHODS:
            raise InputError(f"unknown GRPO method {self.method!r}", f"use one of {', '.join(METHODS)}")


@dataclass
class GRPOHistory:
    """``rewards``: the mean reward of each step's responses; ``kl``: each step's mean per-token KL to the starting
    model (empty when beta is 0); ``seconds``: the training's wall time; ``samples``: the responses sampled for one
    prompt at the first and the last step, each ``{"step", "prompt", "completion", "answer", "reward"}``."""

    rewards: list[float]
    kl: list[float]
    seconds: float
    samples: list[dict] = field(default_factory=list)


def run_grpo(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: list[Instruction],
             config: GRPORunConfig, progress: StepProgress | None = None) -> GRPOHistory:
    """Train ``model`` in place with TRL's ``GRPOTrainer`` on the arithmetic ``items`` (the others are left out),
    rewarded by :func:`arithmetic_reward`; return the reward curve read from the trainer's logs. The model ends
    in eval mode, a plain transformers model (LoRA merged).

    The prompts go in as chat messages, so TRL applies the tokenizer's chat template. ``progress(step, steps, mean
    reward)`` is called after each step. Runs on the CPU, in float32, without vLLM; the learning rate stays constant.
    """
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from zero2hero.measure import Stopwatch

    arithmetic = [item for item in items if item.task == "arithmetic"]
    if not arithmetic:
        raise InputError("GRPO got no arithmetic instructions", "pass items of task 'arithmetic'")
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": item.prompt}], "answer": item.answer}
                                 for item in arithmetic])
    groups: list[list[dict]] = []
    with tempfile.TemporaryDirectory() as output_dir:
        args = GRPOConfig(output_dir=output_dir, max_steps=config.steps, num_generations=config.generations,
                          per_device_train_batch_size=config.prompts_per_step * config.generations,
                          max_completion_length=config.max_new_tokens, beta=config.beta,
                          learning_rate=config.learning_rate, lr_scheduler_type="constant", seed=config.seed,
                          temperature=config.temperature,
                          logging_steps=1, save_strategy="no", bf16=False, gradient_checkpointing=False,
                          use_cpu=True, use_vllm=False, report_to=[], disable_tqdm=True)
        trainer = GRPOTrainer(model=model, reward_funcs=_recording_reward(groups, config.generations), args=args,
                              train_dataset=dataset, processing_class=tokenizer, peft_config=_peft_config(config))
        if trainer.ref_model is not None:  # full fine-tuning with beta > 0: TRL reloaded the model from its path
            trainer.ref_model.load_state_dict(model.state_dict())  # the reference is the policy as it starts
        trainer.remove_callback(PrinterCallback)  # it prints every log dict; progress hears of every step
        if progress:
            trainer.add_callback(_progress_callback(progress, config.steps))
        watch = Stopwatch()
        trainer.train()
        seconds = watch.seconds
    if config.method == "lora":
        trainer.model.merge_and_unload()  # folds the adapter into ``model``'s own weights
    model.eval()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    samples = groups[0] + groups[-1] if len(groups) > 1 else groups[0]
    return GRPOHistory(rewards=[entry["reward"] for entry in logs], kl=[entry["kl"] for entry in logs if "kl" in entry],
                       seconds=seconds, samples=samples)


def _peft_config(config: GRPORunConfig) -> Any:
    if config.method == "full":
        return None
    from peft import LoraConfig

    from zero2hero.alignment.sft_train import LORA_ALPHA, LORA_RANK, LORA_TARGETS

    return LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                      task_type="CAUSAL_LM")


def _recording_reward(groups: list[list[dict]], generations: int) -> Callable[..., list[float]]:
    """:func:`arithmetic_reward` that also appends, at each call (one per step), the first prompt's responses."""

    def arithmetic_reward_recorded(completions: list, answer: list[str], prompts: list, trainer_state: Any,
                                   **kwargs: Any) -> list[float]:
        rewards = arithmetic_reward(completions, answer)
        groups.append([{"step": trainer_state.global_step + 1, "prompt": completion_text(prompts[i]),
                        "completion": completion_text(completions[i]), "answer": answer[i], "reward": rewards[i]}
                       for i in range(generations)])
        return rewards

    return arithmetic_reward_recorded


def _progress_callback(progress: StepProgress, steps: int) -> Any:
    """A trainer callback calling ``progress(step, steps, mean reward)`` at each logged step."""
    from transformers import TrainerCallback

    class StepReward(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if logs and "reward" in logs:
                progress(state.global_step, steps, float(logs["reward"]))

    return StepReward()
