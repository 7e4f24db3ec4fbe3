"""Supervised fine-tuning (SFT) on chat examples, from scratch: encode, pad, mask the prompt, and the loss.

An instruction-tuning example is a conversation: the user's prompt, then the assistant's response. The model reads
all of it, but learns only to write the response: the prompt is given at inference time, so its tokens get the
label ``IGNORE_INDEX`` and cross-entropy skips them. The four steps:

1. :func:`encode_example` lays the conversation out with the tokenizer's chat template and counts the prompt's
   tokens;
2. :func:`collate` right-pads a batch of them and builds the labels with :func:`sft_labels`;
3. the model's logits at position ``i`` predict the token at ``i + 1``, so :func:`sft_loss` shifts the labels by one
   and takes the mean cross-entropy over the response tokens.

TRL's ``SFTTrainer`` with a prompt-completion data set and ``completion_only_loss=True`` does the same;
:func:`zero2hero.alignment.sft_train.trl_sft_loss` and its test show the two losses are equal on the same batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from zero2hero.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # the label cross-entropy skips (PyTorch's and transformers' ignore_index)


def sft_labels(input_ids: torch.Tensor, prompt_lengths: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The labels for response-only supervised fine-tuning of a batch of chat examples.

    ``input_ids`` (batch, t) holds each example's prompt (chat template included) followed by its response, then
    right padding; ``prompt_lengths`` (batch,) counts each example's prompt tokens; ``attention_mask`` (batch, t) is
    1 on real tokens and 0 on padding. Return a new (batch, t) tensor equal to ``input_ids`` except that every
    prompt position and every padding position holds ``IGNORE_INDEX`` (-100), so the loss is computed only on the
    response tokens. Do not modify ``input_ids``.
    """
    # 1. a copy: the labels start as the tokens themselves (input_ids stays untouched)
    labels = input_ids.clone()
    # 2. the position of every column, (1, t), compared with each row's prompt length, (batch, 1): True on the prompt
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    in_prompt = positions < prompt_lengths.to(input_ids.device).unsqueeze(1)
    # 3. prompt positions and padding positions are not predicted
    labels[in_prompt] = IGNORE_INDEX
    labels[attention_mask == 0] = IGNORE_INDEX
    return labels


def encode_example(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str,
                   max_length: int = 256) -> dict[str, list[int]]:
    """``{"input_ids", "prompt_length"}`` of one chat example, cut to ``max_length`` tokens.

    The prompt is the chat template applied to ``[user prompt]`` with ``add_generation_prompt=True``: exactly what
    the model sees when asked to answer (SmolLM2's template also puts its default system message first). The input
    is the template applied to the whole conversation ``[user prompt, assistant response]``, which starts with the
    prompt's tokens and continues with the response and the template's end of turn — for SmolLM2 ``<|im_end|>``
    (its eos token) and a newline. That is what TRL's ``SFTTrainer`` tokenises for a conversational prompt-completion
    example, and it trains on the end of turn too: the model learns to stop. Raises :class:`InputError` for an
    empty response, or when ``max_length`` leaves no response token.
    """
    if not response.strip():
        raise InputError("an SFT example has an empty response", "give every example a non-empty answer")
    user = [{"role": "user", "content": prompt}]
    # 1. the prompt as the model sees it at inference: the template, then the opened assistant turn
    prompt_ids = _template_ids(tokenizer, user, add_generation_prompt=True)
    # 2. the whole conversation, laid out by the same template
    full_ids = _template_ids(tokenizer, [*user, {"role": "assistant", "content": response}],
                             add_generation_prompt=False)
    # 3. the prompt must be a prefix of the conversation, or the masked positions would not be the prompt's
    if full_ids[:len(prompt_ids)] != prompt_ids:
        raise InputError("this tokenizer's chat template lays out a prompt differently alone and in a conversation",
                         "use a chat model whose template renders the user turn the same way (e.g. smollm2)")
    # 4. cut to max_length; at least one response token must survive
    if len(prompt_ids) >= max_length:
        raise InputError(f"the prompt is {len(prompt_ids)} tokens, so max_length={max_length} leaves no room for the "
                         "response", "raise max_length or shorten the prompt")
    return {"input_ids": full_ids[:max_length], "prompt_length": len(prompt_ids)}


def _template_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]],
                  add_generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True,
                                            return_dict=True)
    return list(encoded["input_ids"])


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad encoded examples into ``{"input_ids", "attention_mask", "labels"}``, each (batch, longest).

    Padding holds ``pad_id`` (attention mask 0); the labels come from :func:`sft_labels`.
    """
    if not examples:
        raise InputError("cannot collate an empty batch", "pass at least one encoded example")
    longest = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        input_ids[row, :length] = torch.tensor(example["input_ids"], dtype=torch.long)
        attention_mask[row, :length] = 1
    prompt_lengths = torch.tensor([example["prompt_length"] for example in examples], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "labels": sft_labels(input_ids, prompt_lengths, attention_mask)}


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy over the response tokens of a batch, a scalar tensor.

    ``logits`` (batch, t, vocab) are the model's outputs; ``labels`` (batch, t) from :func:`collate`. The logits at
    position ``i`` predict the token at ``i + 1``, so positions ``0 .. t-2`` are scored against labels ``1 .. t-1``;
    ``IGNORE_INDEX`` labels (prompt, padding) count for nothing, and the mean is over the batch's response tokens
    (all examples together, so a long response weighs more than a short one — as in TRL).
    """
    # 1. shift: the prediction made at position i is checked against the token at i + 1
    predictions = logits[:, :-1, :]  # (batch, t - 1, vocab)
    targets = labels[:, 1:]  # (batch, t - 1)
    if not bool((targets != IGNORE_INDEX).any()):
        raise InputError("this batch has no response token to learn from", "check the prompt lengths and max_length")
    # 2. one cross-entropy over every position of every example; ignored labels drop out of the sum and the count
    return F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX)
