"""GRPO with a verifiable reward: the reward function in both of TRL's shapes, the config's checks, and short runs
of TRL's GRPOTrainer on a tiny Llama."""

from __future__ import annotations

import pytest
import torch

from zero2hero.alignment.grpo import GRPORunConfig, arithmetic_reward, run_grpo
from zero2hero.alignment.instructions import Instruction
from zero2hero.errors import InputError

SUMS = [Instruction("arithmetic", "arithmetic/0", f"What is {a} + {b}?", str(a + b)) for a, b in
        [(1, 2), (3, 4), (5, 6), (7, 8)]]


def test_reward_is_one_when_the_first_integer_is_the_answer() -> None:
    completions = ["42", "The answer is 42.", "42.0", "4 + 38 = 42", "forty-two", "", "-3 apples", "3"]
    answers = ["42", "42", "42", "42", "42", "42", "-3", "-3"]
    assert arithmetic_reward(completions, answers) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_reward_reads_conversational_completions() -> None:
    completions = [[{"role": "assistant", "content": "It is 7."}], [{"role": "assistant", "content": "8"}]]
    assert arithmetic_reward(completions, ["7", "7"], prompts=[[], []], trainer_state=None) == [1.0, 0.0]


def test_reward_refuses_answers_it_cannot_check() -> None:
    with pytest.raises(InputError, match="not an integer"):
        arithmetic_reward(["olleh"], ["olleh"])
    with pytest.raises(InputError, match="2 completions but 1 answers"):
        arithmetic_reward(["1", "2"], ["1"])


@pytest.mark.parametrize("field, value", [("steps", 0), ("prompts_per_step", 0), ("generations", 1),
                                          ("max_new_tokens", 0), ("learning_rate", 0.0), ("beta", -0.1),
                                          ("method", "qlora"), ("temperature", 0.0)])
def test_config_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(InputError, match=field if field != "generations" else "2 generations"):
        GRPORunConfig(**{field: value})


def _tiny(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.pipeline.tiny_models import write_tiny_generator_base

    folder = write_tiny_generator_base(tmp_path / "tiny")
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def test_lora_run_logs_a_reward_per_step_and_merges_the_adapter(tmp_path) -> None:
    model, tokenizer = _tiny(tmp_path)
    steps: list[tuple[int, int, float]] = []
    words = Instruction("words", "words/0", "Spell 'cat' backwards.", "tac")
    config = GRPORunConfig(steps=2, prompts_per_step=2, generations=2, max_new_tokens=4)
    history = run_grpo(model, tokenizer, [*SUMS, words], config, progress=lambda *step: steps.append(step))
    assert len(history.rewards) == 2 and all(0.0 <= r <= 1.0 for r in history.rewards)
    assert history.kl == [] and history.seconds > 0  # beta 0: no reference model, no KL
    assert [s["step"] for s in history.samples] == [1, 1, 2, 2]
    prompts = {item.prompt: item.answer for item in SUMS}
    for sample in history.samples:  # only arithmetic prompts, each sample scored by the reward function
        assert prompts[sample["prompt"]] == sample["answer"]
        assert sample["reward"] == arithmetic_reward([sample["completion"]], [sample["answer"]])[0]
    assert steps == [(i, 2, pytest.approx(r)) for i, r in enumerate(history.rewards, 1)]
    assert not any("lora" in name for name, _ in model.named_parameters()) and not model.training


def test_full_run_measures_kl_to_the_model_as_it_started(tmp_path) -> None:
    model, tokenizer = _tiny(tmp_path)
    with torch.no_grad():  # changed in memory only (as SFT would): the reference must be this model, not the file
        model.model.layers[0].mlp.down_proj.weight.mul_(3.0)
    config = GRPORunConfig(steps=2, prompts_per_step=2, generations=2, max_new_tokens=4, method="full", beta=0.1,
                           learning_rate=1e-3)
    history = run_grpo(model, tokenizer, SUMS, config)
    assert len(history.kl) == 2
    assert history.kl[0] == pytest.approx(0.0, abs=1e-6)  # the first step samples from the reference itself


def test_run_refuses_items_without_arithmetic(tmp_path) -> None:
    with pytest.raises(InputError, match="no arithmetic"):
        run_grpo(None, None, [Instruction("words", "words/0", "Spell 'cat' backwards.", "tac")], GRPORunConfig())
