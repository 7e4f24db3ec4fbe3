"""From labelled texts to padded tensor batches, in a shuffled order that can be rebuilt at any time.

Three steps, each a small function:

1. :func:`encode_examples` tokenizes every text once (truncated to ``max_length``, *not* padded);
2. :func:`epoch_order` shuffles the example indices for one epoch. The order is a pure function of
   ``(seed, epoch)``: resuming a run only needs the epoch and how many batches were done, not a saved
   sampler, and two processes that share the seed agree on it without talking to each other;
3. :func:`pad_batch` pads the examples of one batch to the *longest sequence in that batch* ("dynamic
   padding", what transformers' ``DataCollatorWithPadding`` does). Padding every batch to ``max_length``
   would waste compute on pad tokens that attention then masks out anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Sampler

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class EncodedExample:
    """One tokenized example: its token ids (with [CLS] ... [SEP]), segment ids and label."""

    input_ids: list[int]
    token_type_ids: list[int] | None  # None for models without segments (DistilBERT, RoBERTa)
    label: int


def encode_examples(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example],
                    max_length: int) -> list[EncodedExample]:
    """Tokenize each text once, cut to ``max_length`` tokens; padding waits until the batch is known."""
    if not examples:
        raise InputError("there are no examples to encode", "pass at least one labelled example")
    encoded = tokenizer([example.text for example in examples], truncation=True, max_length=max_length)
    token_types = encoded.get("token_type_ids") or [None] * len(examples)
    return [EncodedExample(list(ids), None if types is None else list(types), example.label)
            for ids, types, example in zip(encoded["input_ids"], token_types, examples, strict=True)]


def pad_batch(examples: Sequence[EncodedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Stack examples into tensors padded on the right to the longest one.

    Returns input_ids, attention_mask, token_type_ids (when the model has segments), each (batch, longest),
    and labels (batch,). The attention mask is 1 on real tokens and 0 on padding, so the model ignores the
    pad positions.
    """
    longest = max(len(example.input_ids) for example in examples)

    def padded(values: list[int], filler: int) -> list[int]:
        return values + [filler] * (longest - len(values))

    batch = {
        "input_ids": torch.tensor([padded(e.input_ids, pad_token_id) for e in examples], dtype=torch.long),
        "attention_mask": torch.tensor([padded([1] * len(e.input_ids), 0) for e in examples], dtype=torch.long),
        "labels": torch.tensor([example.label for example in examples], dtype=torch.long),
    }
    if examples[0].token_type_ids is not None:
        batch["token_type_ids"] = torch.tensor([padded(e.token_type_ids, 0) for e in examples], dtype=torch.long)
    return batch


def epoch_order(n_examples: int, seed: int, epoch: int) -> list[int]:
    """A shuffled list of the indices 0..n_examples-1 for one epoch, the same every time for (seed, epoch).

    A private generator is used, so the global torch random state (dropout, the new head's initial
    weights) neither changes this order nor is changed by it.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)  # a different shuffle per epoch
    return torch.randperm(n_examples, generator=generator).tolist()


def rank_share(order: list[int], rank: int, world_size: int) -> list[int]:
    """The part of an epoch's order that process ``rank`` of ``world_size`` trains on: every world_size-th index.

    This is what torch's ``DistributedSampler`` does (with ``drop_last=True``): the tail that does not divide
    evenly is dropped so every process runs the same number of steps. Batch b of every process together
    holds exactly the examples of batch b of one process with a world_size times larger batch.
    """
    usable = len(order) - len(order) % world_size
    return order[rank:usable:world_size]


def batch_indices(order: list[int], batch_size: int) -> list[list[int]]:
    """Cut an order into consecutive batches of ``batch_size`` (the last one may be smaller)."""
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


class EpochOrderSampler(Sampler[int]):
    """A torch ``Sampler`` yielding :func:`epoch_order`, so a ``DataLoader`` (or the Trainer) sees our order.

    The Trainer (through accelerate) calls ``set_epoch(epoch)`` at the start of every epoch.
    """

    def __init__(self, n_examples: int, seed: int) -> None:
        self.n_examples, self.seed, self.epoch = n_examples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(self.n_examples, self.seed, self.epoch))

    def __len__(self) -> int:
        return self.n_examples
