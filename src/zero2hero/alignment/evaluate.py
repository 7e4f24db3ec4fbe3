"""Instruction-following accuracy: greedy answers to chat prompts, checked by :func:`~.instructions.is_correct`.

:func:`generate_responses` batches prompts with *left* padding: a decoder appends each new token after the last
position of every row, so the rows must end together (right padding would put pad tokens between a prompt and its
answer). Greedy decoding makes the accuracy a property of the model, not of a sampling seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from zero2hero.alignment.instructions import Instruction, is_correct, tasks_of
from zero2hero.errors import InputError
from zero2hero.progress import bar

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def generate_responses(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                       max_new_tokens: int = 24, batch_size: int = 8) -> list[str]:
    """The model's greedy reply to each prompt (sent as one user message through the chat template), stripped.

    Each reply stops at the end-of-turn token or after ``max_new_tokens`` tokens; special tokens are not shown.
    """
    if max_new_tokens < 1 or batch_size < 1:
        raise InputError(f"max_new_tokens ({max_new_tokens}) and batch_size ({batch_size}) must be ≥ 1",
                         "pass e.g. max_new_tokens=24, batch_size=8")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    responses: list[str] = []
    for start in bar(range(0, len(prompts), batch_size), "generating responses"):
        # 1. each prompt through the chat template, the assistant's turn opened
        encoded = [list(tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=True,
                                                      add_generation_prompt=True, return_dict=True)["input_ids"])
                   for prompt in prompts[start:start + batch_size]]
        # 2. left padding: every row ends at the last column, where generation continues
        longest = max(len(ids) for ids in encoded)
        input_ids = torch.tensor([[pad_id] * (longest - len(ids)) + ids for ids in encoded])
        attention_mask = torch.tensor([[0] * (longest - len(ids)) + [1] * len(ids) for ids in encoded])
        # 3. greedy decoding, then only the new tokens decoded
        with torch.no_grad():
            output = model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=False,
                                    max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                    eos_token_id=tokenizer.eos_token_id)
        responses += [text.strip() for text in tokenizer.batch_decode(output[:, longest:], skip_special_tokens=True)]
    return responses


def instruction_accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[Instruction],
                         max_new_tokens: int = 24) -> dict[str, float]:
    """``{"all": ..., "<task>": ...}``: the share of ``items`` whose greedy response :func:`is_correct` accepts,
    over all items and per task present (in the order of ``TASKS``)."""
    if not items:
        raise InputError("no instructions to evaluate", "pass at least one Instruction")
    responses = generate_responses(model, tokenizer, [item.prompt for item in items], max_new_tokens)
    correct = [is_correct(item, response) for item, response in zip(items, responses, strict=True)]
    accuracy = {"all": sum(correct) / len(correct)}
    for task in tasks_of(items):
        marks = [ok for item, ok in zip(items, correct, strict=True) if item.task == task]
        accuracy[task] = sum(marks) / len(marks)
    return accuracy
